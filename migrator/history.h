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
	 * Writes by OID through a temporary view (relation_trust_view_make),
	 * for a writer that may create temporary objects (by_view, set before
	 * the verdict): the view's name in SQL and its LOCK TABLE.
	 */
	bool  by_view;
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
 * guard, of that same target.
 */
const char *history_target(const history_table *ht);
const char *history_lock_sql(const history_table *ht);

/*
 * Make the view the writes go through, when by_view and it is not made on
 * conn yet: one round trip, outside any transaction block (the view must
 * outlive the transactions that write through it), after the verdict
 * pinned the table.  The guard then checks that view before every write.
 * The first time, a view that cannot be made (no TEMPORARY privilege after
 * all, an event trigger that refuses views) is said in a warning and the
 * writes name the table from then on, as without TEMPORARY; a check that
 * finds the view reading another table (schemas renamed) is never taken
 * so: false with err, as is any failure that is not a refusal of views
 * (relation_trust_view_refused: a name renamed away at that moment must not
 * send the writes back to names) and any failure once a view was made
 * (after a DISCARD ALL: history_unbind).  True when the writes may go on.
 */
bool history_bind(PGconn *conn, const history_table *ht, struct db_error *err);
bool history_bound(const history_table *ht);
void history_unbind(const history_table *ht);
/* At the end of a run: drop the view when it was made (relation_trust_view_drop). */
void history_release(PGconn *conn, const history_table *ht);

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

void history_free(history *h);

#endif /* HISTORY_H */
