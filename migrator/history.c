/*-------------------------------------------------------------------------
 *
 * history.c
 *	  The history table.
 *
 * migrator/history.c
 *
 *-------------------------------------------------------------------------
 */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "pgerr.h"
#include "pipeline.h"
#include "query.h"
#include "relation_trust.h"

/* Our shape, column by column, as format_type() spells the types. */
static const struct
{
	const char *name;
	const char *type;
} history_columns[] = {
	{"version", "bigint"},
	{"name", "text"},
	{"checksum", "text"},
	{"status", "text"},
	{"applied_at", "timestamp with time zone"},
	{"duration_ms", "bigint"},
	{"applied_by", "text"},
	{"failure", "text"},
	{"baseline", "text"}, /* added later: a table without it is ours too */
};
#define N_HISTORY_COLUMNS (sizeof(history_columns) / sizeof(history_columns[0]))
/* the shape before "baseline" was added; history_ensure upgrades it */
#define N_HISTORY_COLUMNS_V1 (N_HISTORY_COLUMNS - 1)

struct history_pin
{
	unsigned int oid;
	char        *sql;   /* relation_trust_pin_sql's; NULL: none yet */
	char        *guard; /* relation_trust_guard_sql's; NULL: none yet */
};

/* The session's temporary view every write goes through (by_view); a space: no unquoted name. */
#define HISTORY_VIEW "toolkit migrator history"

/* The guard of a write before any verdict: it fails when planned. */
static const char no_guard_sql[] = "SELECT " RELATION_TRUST_NO_PIN;

/* Pin the writes to oid (0: nothing trusted, no pin). */
static void
pin_to(PGconn *conn, const history_table *ht, unsigned int oid)
{
	free(ht->pin->sql);
	free(ht->pin->guard);
	ht->pin->oid = oid;
	ht->pin->guard = oid != 0 ? relation_trust_guard_sql(conn, ht->schema, ht->table, oid,
														 ht->by_view ? HISTORY_VIEW : NULL, ht->guard_message)
							  : NULL;
	ht->pin->sql = oid != 0 ? relation_trust_pin_sql(conn, ht->qualified, oid, ht->guard_message) : NULL;
}

const char *
history_pin_sql(const history_table *ht)
{
	return ht->pin->sql != NULL ? ht->pin->sql : RELATION_TRUST_NO_PIN;
}

const char *
history_guard_sql(const history_table *ht)
{
	return ht->pin->guard != NULL ? ht->pin->guard : no_guard_sql;
}

const char *
history_target(const history_table *ht)
{
	return ht->by_view ? ht->view_target : ht->qualified;
}

const char *
history_lock_sql(const history_table *ht)
{
	return ht->by_view ? ht->view_lock_sql : ht->lock_sql;
}

const char *
history_view_sql(const history_table *ht)
{
	return ht->by_view ? ht->view_sql : NULL;
}

void
history_explain_missing_view(const history_table *ht, db_error *err)
{
	char *message;

	if (!ht->by_view || strcmp(err->sqlstate, "42P01") != 0 || err->message == NULL ||
		strstr(err->message, HISTORY_VIEW) == NULL)
		return;
	message = xasprintf("%s: the view this run writes it through is gone, with the table it was bound to "
						"(DROP TABLE ... CASCADE during the run?)",
						ht->guard_message);
	free(err->message);
	err->message = message;
}

bool
history_table_init(history_table *ht, PGconn *conn, const char *schema, const char *table)
{
	char *qs = PQescapeIdentifier(conn, schema, strlen(schema));
	char *qt = PQescapeIdentifier(conn, table, strlen(table));

	memset(ht, 0, sizeof(*ht));
	if (qs == NULL || qt == NULL)
	{
		log_error("could not quote the history table name: %s", PQerrorMessage(conn));
		PQfreemem(qs);
		PQfreemem(qt);
		return false;
	}
	ht->schema = schema;
	ht->table = table;
	ht->qualified = xasprintf("%s.%s", qs, qt);
	ht->display = xasprintf("%s.%s", schema, table);
	ht->lock_sql = relation_trust_lock_sql(ht->qualified);
	ht->view_sql = relation_trust_view_sql(HISTORY_VIEW, ht->qualified);
	ht->view_target = relation_trust_view_target(HISTORY_VIEW);
	ht->view_lock_sql = relation_trust_lock_sql(ht->view_target);
	ht->guard_message =
		xasprintf("refusing to write the history table %s: it is not the table the run checked "
				  "at start-up (dropped and created again by the schema's owner?) or it has a "
				  "trigger, rule or policy now; nothing was recorded",
				  ht->display);
	ht->pin = xcalloc(1, sizeof(*ht->pin));
	PQfreemem(qs);
	PQfreemem(qt);
	return true;
}

void
history_table_free(history_table *ht)
{
	if (ht == NULL)
		return;
	free(ht->qualified);
	free(ht->display);
	free(ht->lock_sql);
	free(ht->view_sql);
	free(ht->view_target);
	free(ht->view_lock_sql);
	free(ht->guard_message);
	if (ht->pin != NULL)
	{
		free(ht->pin->sql);
		free(ht->pin->guard);
	}
	free(ht->pin);
	ht->pin = NULL;
	ht->qualified = ht->display = ht->lock_sql = ht->guard_message = NULL;
	ht->view_sql = ht->view_target = ht->view_lock_sql = NULL;
}

static const char inspect_sql[] =
	"SELECT c.relkind, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) "
	"FROM pg_catalog.pg_class c "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
	"WHERE n.nspname = $1 AND c.relname = $2 "
	"ORDER BY a.attnum";

const char *
history_inspect_query(const history_table *ht, const char *values[2])
{
	values[0] = ht->schema;
	values[1] = ht->table;
	return inspect_sql;
}

void
history_inspect_result(const PGresult *res, history_shape *shape, char **found_out)
{
	textbuf found;
	bool    same;
	char    relkind;

	if (found_out)
		*found_out = NULL;
	if (PQntuples(res) == 0)
	{
		*shape = HISTORY_ABSENT;
		return;
	}
	relkind = PQgetvalue(res, 0, 0)[0];
	same = (relkind == 'r' || relkind == 'p') &&
		   (PQntuples(res) == (int) N_HISTORY_COLUMNS || PQntuples(res) == (int) N_HISTORY_COLUMNS_V1);
	textbuf_init(&found);
	if (relkind != 'r' && relkind != 'p')
		textbuf_append(&found, relkind == 'v' ? "a view" : relkind == 'i' ? "an index" : "not a table");
	for (int i = 0; (relkind == 'r' || relkind == 'p') && i < PQntuples(res); i++)
	{
		const char *col = PQgetvalue(res, i, 1);
		const char *type = PQgetvalue(res, i, 2);

		textbuf_appendf(&found, "%s%s %s", i ? ", " : "columns: ", col, type);
		if (same && (strcmp(col, history_columns[i].name) != 0 || strcmp(type, history_columns[i].type) != 0))
			same = false;
	}
	*shape = same ? HISTORY_OURS : HISTORY_FOREIGN;
	if (found_out)
		*found_out = textbuf_detach(&found);
	else
		textbuf_free(&found);
}

int
history_inspect(PGconn *conn, const history_table *ht, history_shape *shape, char **found_out)
{
	const char *values[2];
	const char *sql = history_inspect_query(ht, values);
	PGresult   *res = db_query(conn, "inspecting the history table", sql, 2, values, PGRES_TUPLES_OK);

	if (found_out)
		*found_out = NULL;
	if (res == NULL)
		return EXIT_UNREACHABLE;
	history_inspect_result(res, shape, found_out);
	PQclear(res);
	return EXIT_OK;
}

/*
 * applied_at as the toolkit prints it, 2026-12-01T10:00:00Z, from COPY's ISO
 * form in UTC (2026-12-01 10:00:00.123456+00); anything else (infinity, a
 * year past 9999) as it came.
 */
static char *
iso_utc(const char *copied)
{
	size_t n = copied ? strlen(copied) : 0;

	if (n < 22 || copied[10] != ' ' || copied[4] != '-' || strcmp(copied + n - 3, "+00") != 0)
		return xstrdup(copied ? copied : "");
	return xasprintf("%.10sT%.8sZ", copied, copied + 11);
}

static int
by_version(const void *a, const void *b)
{
	const history_row *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

/* Fill out (exists, rows sorted by version) from the copied columns (history_columns_read). */
static void
history_from_rows(const copy_rows *rows, bool details, history *out)
{
	out->exists = true;
	out->n = rows->n_rows;
	out->rows = xcalloc((size_t) (out->n > 0 ? out->n : 1), sizeof(history_row));
	for (int i = 0; i < out->n; i++)
	{
		history_row *r = &out->rows[i];
		const char  *v;

		r->version = strtoll(copy_rows_cell(rows, i, 0), NULL, 10);
		r->name = xstrdup(copy_rows_cell(rows, i, 1));
		r->checksum = xstrdup(copy_rows_cell(rows, i, 2));
		r->status = xstrdup(copy_rows_cell(rows, i, 3));
		v = copy_rows_cell(rows, i, 4);
		r->failure = v ? xstrdup(v) : NULL;
		if (!details)
			continue;
		r->applied_at = iso_utc(copy_rows_cell(rows, i, 5));
		v = copy_rows_cell(rows, i, 6);
		r->duration_ms = v ? strtoll(v, NULL, 10) : 0;
		v = copy_rows_cell(rows, i, 7);
		r->applied_by = xstrdup(v ? v : "");
	}
	qsort(out->rows, (size_t) out->n, sizeof(history_row), by_version);
}

/* A foreign table is refused; true when it was. */
static bool
refuse_foreign(const history_table *ht, history_shape shape, const char *found)
{
	if (shape != HISTORY_FOREIGN)
		return false;
	log_event(
		LOG_LEVEL_ERROR, "foreign_history_table", NULL,
		"relation \"%s\" exists but is not a migrator history table (%s); it may belong to another tool: choose another --history-table, or import it with \"migrator baseline --from\"",
		ht->display, found);
	return true;
}

int
history_vet(PGconn *conn, const history_table *ht, bool *present)
{
	history_shape shape;
	char         *found;
	int           rc = history_inspect(conn, ht, &shape, &found);
	unsigned int  oid = 0;

	*present = false;
	if (rc != EXIT_OK || shape == HISTORY_ABSENT)
	{
		free(found);
		return rc;
	}
	rc = refuse_foreign(ht, shape, found) ? EXIT_USAGE : EXIT_OK;
	free(found);
	if (rc != EXIT_OK)
		return rc;
	/* an armed table runs its code as soon as we read or write it */
	rc = relation_trust_check(conn, ht->schema, ht->table, ht->display, ht->read_only, &oid);
	*present = rc == EXIT_OK;
	pin_to(conn, ht, oid);
	return rc;
}

int
history_vet_results(PGconn *conn, const history_table *ht, const PGresult *inspect, const PGresult *trust,
					bool *present)
{
	history_shape shape;
	char         *found;
	int           rc;
	unsigned int  oid = 0;

	*present = false;
	history_inspect_result(inspect, &shape, &found);
	rc = refuse_foreign(ht, shape, found) ? EXIT_USAGE : EXIT_OK;
	free(found);
	if (rc != EXIT_OK || shape == HISTORY_ABSENT)
		return rc;
	rc = relation_trust_judge(conn, trust, ht->schema, ht->table, ht->display, ht->read_only, &oid);
	*present = rc == EXIT_OK;
	pin_to(conn, ht, oid);
	return rc;
}

int
history_read_locked(PGconn *conn, const history_table *ht, history *out)
{
	relation_ref ref = {ht->qualified, ht->schema, ht->table, ht->display, ht->read_only};
	copy_rows    rows;
	int          rc;

	memset(out, 0, sizeof(*out));
	/*
	 * Copied, never planned: planning a read of a table of the schema's
	 * owner (a reader's) would run what it attached in the meantime.
	 */
	copy_rows_init(&rows, ht->read_details ? 8 : 5);
	rc = relation_trust_copy(
		conn, &ref,
		ht->read_details ? "version, name, checksum, status, failure, applied_at, duration_ms, applied_by"
						 : "version, name, checksum, status, failure",
		&rows);
	if (rc == EXIT_OK)
		history_from_rows(&rows, ht->read_details, out);
	copy_rows_free(&rows);
	return rc;
}

int
history_load(PGconn *conn, const history_table *ht, history *out)
{
	bool present;
	int  rc;

	memset(out, 0, sizeof(*out));
	rc = history_vet(conn, ht, &present);
	if (rc != EXIT_OK || !present)
		return rc;
	return history_read_locked(conn, ht, out);
}

/* Does the schema exist?  -1 when the query failed (logged). */
static int
schema_exists(PGconn *conn, const char *schema)
{
	const char *values[1] = {schema};

	return db_exists(conn, "looking up the schema",
					 "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, values);
}

/*
 * Is the history table there, and does it have the "baseline" column?
 * Returns false when the query failed (logged).
 */
static bool
table_state(PGconn *conn, const history_table *ht, bool *table, bool *baseline_column)
{
	const char *values[2] = {ht->schema, ht->table};
	PGresult   *res = db_query(conn, "looking up the history table",
							   "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a "
								 "WHERE a.attrelid = c.oid AND a.attname = 'baseline' AND NOT a.attisdropped) "
								 "FROM pg_catalog.pg_class c "
								 "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
								 "WHERE n.nspname = $1 AND c.relname = $2",
							   2, values, PGRES_TUPLES_OK);

	if (res == NULL)
		return false;
	*table = PQntuples(res) > 0;
	*baseline_column = *table && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return true;
}

int
history_ensure(PGconn *conn, const history_table *ht)
{
	int          have_schema = schema_exists(conn, ht->schema);
	bool         have_table, have_column;
	char        *sql;
	bool         ok;
	unsigned int oid = 0;

	if (have_schema < 0)
		return EXIT_CHANGE_FAILED;
	if (!have_schema && !ht->create_schema)
	{
		/* a typo in --schema must not grow a second, empty schema */
		log_event(LOG_LEVEL_ERROR, "schema_missing", NULL,
				  "schema \"%s\" does not exist; create it, or pass --create-schema", ht->schema);
		return EXIT_USAGE;
	}
	if (!have_schema)
	{
		int rc = db_create_schema(conn, ht->schema);

		if (rc != EXIT_OK)
			return rc;
		log_event(LOG_LEVEL_INFO, "schema_created", NULL, "created schema \"%s\" (--create-schema)",
				  ht->schema);
	}
	if (!table_state(conn, ht, &have_table, &have_column))
		return EXIT_CHANGE_FAILED;
	/* another role may have made it since the history was read */
	if (have_table && relation_trust_check(conn, ht->schema, ht->table, ht->display, false, &oid) != EXIT_OK)
		return EXIT_USAGE;
	if (have_table)
		pin_to(conn, ht, oid);
	if (have_table && have_column)
		return EXIT_OK;
	if (have_table)
	{
		/* the shape before "baseline": add the column (ACCESS EXCLUSIVE, brief) */
		sql = xasprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS baseline text", ht->qualified);
		ok = db_command(conn, "adding the baseline column to the history table", sql);
		free(sql);
		if (!ok)
			return EXIT_CHANGE_FAILED;
		log_event(LOG_LEVEL_INFO, "history_upgraded", NULL,
				  "added column \"baseline\" to history table \"%s\"", ht->display);
		return EXIT_OK;
	}
	sql = xasprintf("CREATE TABLE IF NOT EXISTS %s ("
					"version bigint PRIMARY KEY, "
					"name text NOT NULL, "
					"checksum text NOT NULL, "
					"status text NOT NULL CHECK (status IN ('applied', 'failed')), "
					"applied_at timestamp with time zone NOT NULL DEFAULT now(), "
					"duration_ms bigint, "
					"applied_by text, "
					"failure text, "
					"baseline text)",
					ht->qualified);
	ok = db_command(conn, "creating the history table", sql);
	free(sql);
	if (!ok)
		return EXIT_CHANGE_FAILED;
	/* IF NOT EXISTS: another role may have created it first */
	if (relation_trust_check(conn, ht->schema, ht->table, ht->display, false, &oid) != EXIT_OK)
		return EXIT_USAGE;
	pin_to(conn, ht, oid);
	log_event(LOG_LEVEL_INFO, "history_created", NULL, "created history table \"%s\"", ht->display);
	return EXIT_OK;
}

/*
 * A pending version gets a plain INSERT that must insert exactly one row:
 * a concurrent row, whatever its status, fails on the primary key, and
 * anything that suppresses the insert fails the count.  Only a version the
 * run found 'failed' (history_write_replaces_failed) is updated, and only
 * while its row is still 'failed': an applied row is never overwritten, and
 * a row that appeared behind the run's back is never taken for one it may
 * update.  One statement, one round trip: the UPDATE or the INSERT ($8
 * says which), and the two counts, which must add up to one.  The session
 * user is read with no operator of ours (CVE-2018-1058).
 */
void
history_write_prepare(history_write *r, const history_table *ht, int64_t version, const char *name,
					  const char *checksum, const char *status, int64_t duration_ms, const char *failure)
{
	snprintf(r->vbuf, sizeof(r->vbuf), "%lld", (long long) version);
	snprintf(r->dbuf, sizeof(r->dbuf), "%lld", (long long) duration_ms);
	if (gethostname(r->host, sizeof(r->host)) != 0)
		snprintf(r->host, sizeof(r->host), "unknown");
	r->host[sizeof(r->host) - 1] = '\0';
	r->values[0] = r->vbuf;
	r->values[1] = name;
	r->values[2] = checksum;
	r->values[3] = status;
	/* NULL: the server's time since the transaction began (a pipeline) */
	r->values[4] = duration_ms >= 0 ? r->dbuf : NULL;
	r->values[5] = r->host;
	r->values[6] = failure;
	r->values[7] = "false"; /* a new row */
	r->version = version;
	r->recorded_ms = -1;
#define HISTORY_DURATION                                                                                     \
	"COALESCE($5::pg_catalog.int8, (EXTRACT(epoch FROM pg_catalog.clock_timestamp() - "                      \
	"pg_catalog.transaction_timestamp()) * 1000)::pg_catalog.int8)"
	r->sql = xasprintf(
		"WITH u AS (UPDATE %s SET name = $2, checksum = $3, status = $4, "
		"  applied_at = pg_catalog.clock_timestamp(), duration_ms = " HISTORY_DURATION ", "
		"  applied_by = pg_catalog.concat(SESSION_USER, '@', $6::pg_catalog.text), failure = $7 "
		"  WHERE version = $1::pg_catalog.int8 AND status = 'failed' AND $8::pg_catalog.bool AND %s "
		"  RETURNING duration_ms), "
		"i AS (INSERT INTO %s (version, name, checksum, status, applied_at, duration_ms, applied_by, failure) "
		"  SELECT $1::pg_catalog.int8, $2, $3, $4, pg_catalog.clock_timestamp(), " HISTORY_DURATION ", "
		"  pg_catalog.concat(SESSION_USER, '@', $6::pg_catalog.text), $7 WHERE NOT $8::pg_catalog.bool AND %s "
		"  RETURNING duration_ms) "
		"SELECT (SELECT pg_catalog.count(*) FROM u), (SELECT pg_catalog.count(*) FROM i), "
		"  coalesce((SELECT duration_ms FROM u), (SELECT duration_ms FROM i), -1)",
		history_target(ht), history_pin_sql(ht), history_target(ht), history_pin_sql(ht));
#undef HISTORY_DURATION
}

void
history_write_replaces_failed(history_write *r, bool row_failed)
{
	r->values[7] = row_failed ? "true" : "false";
}

char *
history_write_judge(void *row, const PGresult *res)
{
	history_write *r = row;

	if (PQntuples(res) == 1 && PQnfields(res) == 3 &&
		strtoll(PQgetvalue(res, 0, 0), NULL, 10) + strtoll(PQgetvalue(res, 0, 1), NULL, 10) == 1)
	{
		r->recorded_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		return NULL;
	}
	return xasprintf("the history row of version %lld was not written (%s updated, %s inserted): "
					 "something else writes the history table",
					 (long long) r->version, PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?",
					 PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "?");
}

/*
 * A pipeline of [BEGIN,] the view the writes go through (made again: these
 * writes are few, and nothing then depends on whether a DISCARD ALL or a
 * rollback dropped it), the lock and the guard, for the writes added after
 * them: in one round trip, since a schema rename between the guard and the
 * write (their own round trips once) had the write planned over another
 * table, whose column default or rule action folded its IMMUTABLE function
 * as the migrator before the write's pin could fail it.  Without the view
 * (no TEMP privilege) what remains is the server's own gap between the
 * write's target and its pin (relation_trust.h).
 */
static void
guarded_pipeline(pipeline *p, const history_table *ht, bool begin)
{
	pipeline_init(p);
	p->in_block = true; /* its COMMIT comes after it */
	if (begin)
		(void) pipeline_add(p, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	if (history_view_sql(ht) != NULL)
		(void) pipeline_add(p, history_view_sql(ht), 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	(void) pipeline_add(p, history_lock_sql(ht), 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	(void) pipeline_add(p, history_guard_sql(ht), 0, NULL, PGRES_TUPLES_OK, NULL, NULL);
}

/* Run it; a judge's problem becomes err's (PGERR_OTHER).  Frees p. */
static bool
guarded_run(PGconn *conn, const history_table *ht, pipeline *p, db_error *err)
{
	bool ok = pipeline_run(conn, p, NULL, err);

	history_explain_missing_view(ht, err);
	if (!ok && p->problem != NULL)
	{
		db_error_clear(err);
		err->cls = PGERR_OTHER;
		err->message = p->problem;
		p->problem = NULL;
	}
	pipeline_free(p);
	return ok;
}

/*
 * One write, judged by judge, after the lock and the guard, uninterruptible.
 * False with err filled (a judge's problem as a PGERR_OTHER), the
 * transaction left to the caller.
 */
static bool
locked_guarded_write(PGconn *conn, const history_table *ht, bool begin, const char *sql, int n,
					 const char *const *values, ExecStatusType expect, pipeline_judge_fn judge,
					 void *judge_arg, db_error *err)
{
	pipeline p;

	guarded_pipeline(&p, ht, begin);
	p.uninterruptible = true;
	(void) pipeline_add(&p, sql, n, values, expect, judge, judge_arg);
	return guarded_run(conn, ht, &p, err);
}

bool
history_record(PGconn *conn, const history_table *ht, int64_t version, const char *name, const char *checksum,
			   const char *status, int64_t duration_ms, const char *failure, bool row_failed,
			   int64_t *recorded_ms, db_error *err)
{
	history_write r;
	bool          ok;
	bool own_tx = PQtransactionStatus(conn) == PQTRANS_IDLE; /* the guard's lock lasts to its COMMIT */

	history_write_prepare(&r, ht, version, name, checksum, status, duration_ms, failure);
	history_write_replaces_failed(&r, row_failed);
	ok = locked_guarded_write(conn, ht, own_tx, r.sql, HISTORY_WRITE_NPARAMS, r.values, PGRES_TUPLES_OK,
							  history_write_judge, &r, err);
	free(r.sql);
	if (ok && own_tx)
		ok = db_run_ex(conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, err, NULL, false);
	if (!ok && own_tx && PQtransactionStatus(conn) != PQTRANS_IDLE && PQstatus(conn) == CONNECTION_OK)
		db_command_uninterruptible(conn, "rolling back a history write", "ROLLBACK");
	if (ok && recorded_ms)
		*recorded_ms = r.recorded_ms;
	return ok;
}

/* The write of guarded_write changed the row the run read, and no other. */
static char *
judge_one_row(void *arg, const PGresult *res)
{
	const char *n = PQcmdTuples((PGresult *) res);

	(void) arg;
	/* a write that changed nothing (a rule of another table that took the name's place) is no success */
	return strcmp(n, "1") == 0
			   ? NULL
			   : xasprintf("it changed %s rows, not the 1 the run read; nothing was recorded", n);
}

/*
 * A write outside history_record (repair): in a transaction of its own
 * (or the caller's, when one is open), the lock and history_guard_sql
 * first, which check that the name stands for the table checked at
 * start-up and that it is still clean, so that an armed table put in its
 * place is refused before anything of it runs; the three in one round
 * trip, so that a schema rename cannot land between the guard and the
 * write but in the server's own gap between two statements.  It must
 * change exactly one row, the one the run read; false after logging
 * "<what>: <error>", rolled back.
 */
static bool
guarded_write(PGconn *conn, const history_table *ht, const char *what, const char *sql, int n,
			  const char *const *values)
{
	bool     own_tx = PQtransactionStatus(conn) == PQTRANS_IDLE;
	db_error err = {0};
	char    *msg;
	bool     ok =
		locked_guarded_write(conn, ht, own_tx, sql, n, values, PGRES_COMMAND_OK, judge_one_row, NULL, &err) &&
		(!own_tx || db_run_ex(conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, &err, NULL, false));

	if (!ok)
	{
		msg = db_error_format(&err);
		log_error("%s: %s", what, msg);
		free(msg);
	}
	db_error_clear(&err);
	if (!ok && own_tx && PQtransactionStatus(conn) != PQTRANS_IDLE && PQstatus(conn) == CONNECTION_OK)
		db_command_uninterruptible(conn, "rolling back a history write", "ROLLBACK");
	return ok;
}

bool
history_set_checksum(PGconn *conn, const history_table *ht, int64_t version, const char *checksum)
{
	char        vbuf[24];
	const char *values[2] = {vbuf, checksum};
	char       *sql = xasprintf("UPDATE %s SET checksum = $2 WHERE version = $1 AND %s", history_target(ht),
								history_pin_sql(ht));
	bool        ok;

	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) version);
	ok = guarded_write(conn, ht, "updating a checksum", sql, 2, values);
	free(sql);
	return ok;
}

bool
history_forget(PGconn *conn, const history_table *ht, int64_t version)
{
	char        vbuf[24];
	const char *values[1] = {vbuf};
	char       *sql =
		xasprintf("DELETE FROM %s WHERE version = $1 AND %s", history_target(ht), history_pin_sql(ht));
	bool ok;

	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) version);
	ok = guarded_write(conn, ht, "removing a history row", sql, 1, values);
	free(sql);
	return ok;
}

void
history_free(history *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < h->n; i++)
	{
		free(h->rows[i].name);
		free(h->rows[i].checksum);
		free(h->rows[i].status);
		free(h->rows[i].applied_at);
		free(h->rows[i].applied_by);
		free(h->rows[i].failure);
	}
	free(h->rows);
	memset(h, 0, sizeof(*h));
}

bool
history_record_baseline(PGconn *conn, const history_table *ht, int64_t version, const char *name,
						const char *checksum, const char *how, db_error *err)
{
	history_write r;
	char          vbuf[24];
	const char   *values[2] = {vbuf, how};
	char    *note = xasprintf("UPDATE %s SET baseline = $2 WHERE version = $1 AND %s", history_target(ht),
							  history_pin_sql(ht));
	pipeline p;
	bool     ok;

	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) version);
	history_write_prepare(&r, ht, version, name, checksum, "applied", 0, NULL);
	guarded_pipeline(&p, ht, false);
	(void) pipeline_add(&p, r.sql, HISTORY_WRITE_NPARAMS, r.values, PGRES_TUPLES_OK, history_write_judge, &r);
	/* the row was just inserted in this transaction: anything but one row updated is a lie */
	(void) pipeline_add(&p, note, 2, values, PGRES_COMMAND_OK, judge_one_row, NULL);
	ok = guarded_run(conn, ht, &p, err);
	free(r.sql);
	free(note);
	return ok;
}
