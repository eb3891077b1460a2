/*-------------------------------------------------------------------------
 *
 * history.h
 *	  The history table: which migrations ran, when, by whom, with what.
 *
 *	  version bigint PRIMARY KEY, name text, checksum text (SHA-256 hex),
 *	  status text ('applied' | 'failed'), applied_at timestamptz,
 *	  duration_ms bigint, applied_by text, failure text (what failed, for
 *	  failed no-transaction migrations; NULL otherwise), baseline text
 *	  (NULL when up ran the migration; otherwise how "migrator baseline"
 *	  recorded it without running it: its verify passed, was skipped with
 *	  --skip-verify or --no-verify, or there is none).  A table without the
 *	  baseline column (the first shape) is ours too; history_ensure adds it.
 *
 * A table of that name with another shape (dbmate, golang-migrate and
 * others use "schema_migrations" too) is never touched: it is refused.
 *
 * migrator/history.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef HISTORY_H
#define HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "relation_trust.h"
struct db_error;

typedef struct history_row
{
	int64_t version;
	char   *name;
	char   *checksum;
	char   *status;      /* "applied" or "failed" */
	char   *applied_at;  /* ISO 8601, UTC; NULL unless read with details */
	int64_t duration_ms; /* 0 unless read with details */
	char   *applied_by;  /* NULL unless read with details */
	char   *failure;     /* NULL unless failed */
} history_row;

typedef struct history
{
	bool         exists; /* false: no table yet (nothing applied) */
	history_row *rows;   /* sorted by version */
	int          n;
} history;

typedef struct history_table
{
	const char *schema;
	const char *table;
	char       *qualified;     /* quoted "schema"."table", for SQL */
	char       *display;       /* schema.table, for messages */
	char       *lock_sql;      /* the LOCK TABLE the guard follows, by name */
	char       *guard_message; /* its error text */
	/*
	 * Writes by OID (relation_trust_view_sql), for a writer that may
	 * create temporary objects (by_view, set before the verdict): the
	 * view's CREATE, its name in SQL and its LOCK TABLE.
	 */
	bool  by_view;
	char *view_sql;
	char *view_target;
	char *view_lock_sql;
	/*
	 * The relation the run's verdict trusted, which every write is pinned
	 * to (relation_trust_pin_sql): set by history_vet, history_vet_results
	 * and history_ensure; behind a pointer, so that they record it on a
	 * const table.  Without it, writes fail.
	 */
	struct history_pin *pin;
	bool                read_only;     /* the run only reads it (check, status, plan):
								 * see relation_trust_check */
	bool                create_schema; /* --create-schema: history_ensure may
								 * create the schema */
	bool                read_details;  /* reads fill applied_at, duration_ms and
								 * applied_by (status shows them); without,
								 * the server formats no date (issue 13) */
} history_table;

/*
 * The pin of a statement that names the table after the verdict, for its
 * WHERE (relation_trust_pin_sql): every write.  Before a verdict, one that fails the statement when it is
 * planned: a write that changed nothing could pass for one that did
 * (repair's).
 */
const char *history_pin_sql(const history_table *ht);

/*
 * What a write names: the session's temporary view of the trusted table
 * when by_view, the table's name otherwise; and the LOCK TABLE before the
 * guard, of that same target.  history_view_sql: the statement that makes
 * the view (NULL without by_view), before the first write of a session, or
 * again after DISCARD ALL or a rollback of the transaction that made it:
 * the guard refuses a write through a view that is not there or not bound
 * to the table the verdict trusted.
 */
const char *history_target(const history_table *ht);
const char *history_lock_sql(const history_table *ht);
const char *history_view_sql(const history_table *ht);

/*
 * A write that found the view gone (42P01 naming it): the view depends on
 * the table, so only DROP TABLE ... CASCADE (the schema's owner, a
 * superuser) or the session's own code removed it.  Says so in err's
 * message, which named a relation the user never made; any other error is
 * left as it is.
 */
void history_explain_missing_view(const history_table *ht, struct db_error *err);

/* Fill the quoted names; false when quoting fails. */
bool history_table_init(history_table *ht, PGconn *conn, const char *schema, const char *table);
void history_table_free(history_table *ht);

typedef enum history_shape
{
	HISTORY_ABSENT, /* no relation of that name */
	HISTORY_OURS,   /* a table of our shape */
	HISTORY_FOREIGN /* something else has the name */
} history_shape;

/*
 * Look at the relation named like the history table, without judging.
 * Returns EXIT_OK and sets *shape, with *found_out (if not NULL; caller
 * frees; NULL when absent) describing what is there, or EXIT_UNREACHABLE
 * when the query failed.
 */
int history_inspect(PGconn *conn, const history_table *ht, history_shape *shape, char **found_out);

/*
 * Read the history.  A missing table (or schema) is an empty history with
 * exists == false.  A table of another shape is refused: returns EXIT_USAGE
 * after logging what it found.  Returns EXIT_OK, EXIT_USAGE or
 * EXIT_UNREACHABLE (query failed).  Creates nothing.
 */
int history_load(PGconn *conn, const history_table *ht, history *out);

/*
 * history_load's checks without the read: sets *present when a table of
 * our shape is there and may be read (relation_trust_check passed).  An
 * absent table is EXIT_OK with *present false; a foreign or armed one is
 * EXIT_USAGE after logging; EXIT_UNREACHABLE when a query failed.
 */
int history_vet(PGconn *conn, const history_table *ht, bool *present);

/*
 * history_vet in halves, for a batch (pipeline.h): the inspecting query
 * with its two parameters (filled into values), what its result says, and
 * history_vet's verdict from the results of that query and of
 * relation_trust_query (same return values and error lines; the caller
 * judged the statuses, so EXIT_UNREACHABLE only when the full trust check
 * the first look could not spare failed on conn: relation_trust_judge).
 */
const char *history_inspect_query(const history_table *ht, const char *values[2]);
void        history_inspect_result(const PGresult *res, history_shape *shape, char **found_out);
int history_vet_results(PGconn *conn, const history_table *ht, const PGresult *inspect, const PGresult *trust,
						bool *present);

/*
 * Read the rows of a table history_vet passed, under relation_trust_begin_read's
 * lock and second verdict, so that they are the rows of the table judged
 * (a view or an armed table swapped in by the schema's owner is refused,
 * never read), copied out and never planned (relation_trust_copy).  Fills
 * out; EXIT_USAGE after logging when the table no longer passes,
 * EXIT_UNREACHABLE when a query failed.
 */
int history_read_locked(PGconn *conn, const history_table *ht, history *out);

/*
 * Create the table if missing, or add the baseline column to a table of the
 * first shape.  A missing schema is created only with ht->create_schema;
 * otherwise EXIT_USAGE after logging that it does not exist.  Call only
 * with the run lock held.  Returns EXIT_OK, EXIT_USAGE or EXIT_CHANGE_FAILED
 * after logging.
 */
int history_ensure(PGconn *conn, const history_table *ht);

/*
 * The statement history_record runs, to send in a pipeline (migrator's
 * apply_pipeline.c): history_write_prepare fills r (the caller frees r->sql;
 * name, checksum, status and failure must outlive r; duration_ms < 0: the
 * server's time since the transaction began) for a plain INSERT of a new
 * row, history_write_replaces_failed for the UPDATE of the version's
 * 'failed' row instead (the r->values are HISTORY_WRITE_NPARAMS
 * parameters); history_write_judge (a
 * pipeline_judge_fn, row is the history_write) returns NULL when the result
 * says that exactly one row was written, else the problem (caller frees).
 */
#define HISTORY_WRITE_NPARAMS 8

typedef struct history_write
{
	char        vbuf[24], dbuf[24], host[256];
	const char *values[HISTORY_WRITE_NPARAMS];
	char       *sql;
	int64_t     version;
	int64_t     recorded_ms; /* the duration_ms the row got, once judged (-1 before) */
} history_write;
/*
 * The guard in front of every history write of a run: the owner of the
 * schema may drop the table the start-up check trusted and create an armed
 * one of its own under the name at any time, and its triggers would run
 * with this run's privileges (relation_trust.h).  history_lock_sql(ht),
 * sent first in the same transaction, locks the table the write will
 * reach (the trusted one, by OID, through the view; by name without it)
 * (LOCK TABLE ... ROW EXCLUSIVE: a DROP, a CREATE TRIGGER or a new rule
 * or policy must wait for the transaction, and nothing of a view is
 * planned or run); the guard then checks the table the run trusted again
 * (still a plain table of the current role with no trigger, rule,
 * row-level security, child or TRIGGER grant: relation_trust_guard_sql);
 * when it is not, it fails with an error whose text says so, so that a
 * pipeline stops there, before the write: nothing of the armed table runs.
 * It is history_guard_sql(ht), a statement without parameters, set with
 * the pin by the verdict (before it, one that fails).
 */
const char *history_guard_sql(const history_table *ht);

void history_write_prepare(history_write *r, const history_table *ht, int64_t version, const char *name,
						   const char *checksum, const char *status, int64_t duration_ms,
						   const char *failure);
/* row_failed: the run found the version's row 'failed': update it, only from 'failed'. */
void  history_write_replaces_failed(history_write *r, bool row_failed);
char *history_write_judge(void *row, const PGresult *res);

/*
 * Write the row of version (in the caller's transaction, if any): a plain
 * INSERT of a new row, or with row_failed (the run found the version's row
 * 'failed') the UPDATE of that row, only while it is 'failed'; exactly one
 * row, or it fails.  failure may be NULL.  duration_ms -1: the server's time since the
 * transaction began.  *recorded_ms (may be NULL) gets the duration_ms the
 * row got, the one value that status shows and the "applied" line prints.
 * Returns true, or false and fills err.
 */
bool history_record(PGconn *conn, const history_table *ht, int64_t version, const char *name,
					const char *checksum, const char *status, int64_t duration_ms, const char *failure,
					bool row_failed, int64_t *recorded_ms, struct db_error *err);

/* Set the checksum of an applied version (repair). */
bool history_set_checksum(PGconn *conn, const history_table *ht, int64_t version, const char *checksum);

/* Delete the row of a version (repair --forget-missing). */
bool history_forget(PGconn *conn, const history_table *ht, int64_t version);

/*
 * baseline's row of version, applied, with how it was adopted (in the
 * caller's transaction, the table made current by history_ensure): the
 * lock, the guard, the row and its note in one round trip, as every write
 * (history_record); cancellable, since nothing it describes is done yet.
 * Returns true, or false with err filled (also when a write changed
 * another number of rows than one).
 */
bool history_record_baseline(PGconn *conn, const history_table *ht, int64_t version, const char *name,
							 const char *checksum, const char *how, struct db_error *err);

void history_free(history *h);

#endif /* HISTORY_H */
