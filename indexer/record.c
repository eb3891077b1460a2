/*-------------------------------------------------------------------------
 *
 * record.c
 *	  The history table: created on first use under the run lock, a row a
 *	  build (started, then its outcome), a row a run for deferrals, the
 *	  retention, and the failure backoff read from it.
 *
 * Written on the run's main connection between the engine's statements
 * (its watchdog queries are synchronous too), each write in a short
 * transaction of its own that locks the table and checks it again before
 * writing (write_checked): a row that says "started" survives a crash,
 * which is how an interrupted build shows.  The end of a build is written even after a
 * signal (db_run_ex, not interruptible), so that the row says interrupted
 * when the connection still works.
 *
 * indexer/record.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "cancel.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "options.h"
#include "pgerr.h"
#include "pipeline.h"
#include "query.h"
#include "record.h"
#include "relation_trust.h"
#include "sqlquote.h"

struct record
{
	PGconn        *conn;
	record_options o;
	char          *qualified; /* "schema"."indexer_history" */
	char          *display;   /* schema.indexer_history */
	char           run_id[64];
	char           host[256];
	bool           failed;
	int            fail_exit; /* the policy's exit code for the write's error */
	bool           retained;  /* --keep applied (with the run's first write) */
	int            started;   /* rows of this run written as "started" */
	bool           read_only; /* record_open_read: plan shows the backoff, logs nothing */
	/*
	 * Every write pinned to the relation the start's check trusted
	 * (relation_trust_pin_sql): the schema's owner can point the name at a
	 * table of its own by renaming schemas.  NULL before: writes fail.
	 */
	char *pin;
	char *guard; /* relation_trust_guard_sql of that relation; NULL before */
	/*
	 * Writes by OID through a temporary view (relation_trust.h) when the
	 * role may create one (by_view), made before the first write
	 * (bind_view) unless that failed (fell_back: the writes name the
	 * table).  The relation the check trusted is oid.
	 */
	unsigned int  oid;
	bool          by_view;
	bool          fell_back;
	bool          view_bound;
	relation_view view;
	char         *view_target;
};

/* The session's temporary view the writes go through; a space: no unquoted name. */
#define RECORD_VIEW "toolkit indexer history"

static const char refusal[] = "refusing to write the history table: it is not the table this run checked "
							  "at its start (schemas renamed?), or it no longer passes those checks; "
							  "nothing written";

static bool
uses_view(const record *r)
{
	return r->by_view && !r->fell_back;
}

/* What a write names: the view, or the table. */
static const char *
target_of(const record *r)
{
	return uses_view(r) ? r->view_target : r->qualified;
}

/* The pin for a write's WHERE; before the check, one that fails the write (relation_trust.h). */
static const char *
pin_of(const record *r)
{
	return r->pin != NULL ? r->pin : RELATION_TRUST_NO_PIN;
}

/* Pin the writes to the relation the check trusted (0: none). */
static void
pin_to(record *r, unsigned int oid)
{
	free(r->pin);
	free(r->guard);
	r->oid = oid;
	r->pin = oid != 0 ? relation_trust_pin_sql(r->conn, r->qualified, oid, refusal) : NULL;
	r->guard = oid != 0 ? relation_trust_guard_sql(r->conn, r->o.schema, RECORD_TABLE, oid,
												   uses_view(r) ? &r->view : NULL, refusal)
						: NULL;
}

/*
 * The view the writes go through, made once, before the first write,
 * outside any transaction (relation_trust_view_make).  One that cannot be
 * made the first time because views are refused (relation_trust_view_refused:
 * no privilege, an event trigger) is warned of, and the writes name the
 * table; one bound to another table (22P02, *untrusted), or any other
 * failure (a name renamed away at that moment), fails the write.
 */
static bool
bind_view(record *r, db_error *err, bool *untrusted)
{
	char *msg;

	if (!uses_view(r) || r->view_bound || r->oid == 0)
		return true;
	if (relation_trust_view_make(r->conn, RECORD_VIEW, r->qualified, r->oid, refusal, &r->view, err))
	{
		r->view_bound = true;
		pin_to(r, r->oid);
		return true;
	}
	*untrusted = strcmp(err->sqlstate, "22P02") == 0;
	if (!relation_trust_view_refused(err))
		return false;
	msg = db_error_format(err);
	log_event(LOG_LEVEL_WARNING, "history_view_refused", NULL,
			  "could not make the temporary view %s that the history writes go through (%s): they name the "
			  "table %s instead",
			  r->view_target, msg, r->display);
	free(msg);
	db_error_clear(err);
	r->fell_back = true;
	pin_to(r, r->oid);
	relation_trust_warn_if_renamable(r->conn, r->o.schema, r->display);
	return true;
}

/* The client's clock in seconds, as text for to_timestamp() (libfaketime moves it). */
static void
now_text(char *buf, size_t len)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	snprintf(buf, len, "%lld.%06ld", (long long) tv.tv_sec, (long) tv.tv_usec);
}

/*
 * Rows older than --keep go, in the transaction of the run's first write
 * (under the run lock): a run that writes nothing (a no-op) opens no
 * transaction, and adds no row either.  The DELETE and its two values
 * (values[0] and [1] point into now and keep), or NULL when nothing goes.
 */
static char *
retention_sql(const record *r, char now[64], char keep[32], const char *values[2])
{
	if (r->o.keep_ms <= 0 || r->retained)
		return NULL;
	now_text(now, 64);
	snprintf(keep, 32, "%lld.%03lld", (long long) (r->o.keep_ms / 1000), (long long) (r->o.keep_ms % 1000));
	values[0] = now;
	values[1] = keep;
	return xasprintf("DELETE FROM %s WHERE started_at < pg_catalog.to_timestamp($1::pg_catalog.float8) - "
					 "pg_catalog.make_interval(secs => $2::pg_catalog.float8) AND %s",
					 target_of(r), pin_of(r));
}

/*
 * One write in a transaction of its own that first locks the table and
 * checks it again (relation_trust.h), then writes and commits.  The check
 * at record_open is not enough for a run that lasts hours: the owner of the
 * schema may drop any table in it and put an armed one of its own (a
 * trigger that would run with our privileges) under the same name, or
 * rename schemas to the same end.  ROW EXCLUSIVE keeps the checked table in
 * place until COMMIT; the guard fails on the server unless the name still
 * stands for the table the run trusted, still clean; lock, guard, retention
 * and write go in one round trip (a write planned over the owner's table
 * folds its IMMUTABLE column defaults first), through the view bound to
 * that table by OID when the role may make one (made by the session's
 * first write).  Uninterruptible.  False with
 * err filled (*untrusted when the guard refused), rolled back.
 */
static bool
write_checked(record *r, const char *sql, int n, const char *const *values, PGresult **res, db_error *err,
			  bool *untrusted)
{
	char        now[64], keep[32];
	const char *kept[2];
	char       *lock;
	char       *retention = retention_sql(r, now, keep, kept);
	pipeline    p;
	int         guard;
	bool        ok, gone;

	*untrusted = false;
	if (!bind_view(r, err, untrusted))
	{
		free(retention);
		return false;
	}
	lock = relation_trust_lock_sql(target_of(r)); /* after bind_view: it may fall back to the table */
	pipeline_init(&p);
	p.in_block = true;
	p.uninterruptible = true;
	(void) pipeline_add(&p, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	(void) pipeline_add(&p, lock, 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
	guard = pipeline_add(&p, r->guard ? r->guard : "SELECT " RELATION_TRUST_NO_PIN, 0, NULL, PGRES_TUPLES_OK,
						 NULL, NULL);
	if (retention != NULL)
		(void) pipeline_add(&p, retention, 2, kept, PGRES_COMMAND_OK, NULL, NULL);
	(void) pipeline_add(&p, sql, n, values, res ? PGRES_TUPLES_OK : PGRES_COMMAND_OK,
						res ? pipeline_keep_result : NULL, res);
	ok = pipeline_run(r->conn, &p, NULL, err);
	/* the guard's refusal (22P02, from its cast), not a connection lost while it ran */
	*untrusted = !ok && p.failed == guard && strcmp(err->sqlstate, "22P02") == 0;
	/* or the view gone: only DROP TABLE ... CASCADE of the table takes it */
	gone = !ok && uses_view(r) && strcmp(err->sqlstate, "42P01") == 0 && err->message != NULL &&
		   strstr(err->message, RECORD_VIEW) != NULL;
	*untrusted = *untrusted || gone;
	ok = ok && db_run_ex(r->conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, err, NULL, false);
	r->retained = r->retained || ok;
	if (!ok && PQtransactionStatus(r->conn) != PQTRANS_IDLE && PQstatus(r->conn) == CONNECTION_OK)
		db_command_uninterruptible(r->conn, "rolling back a history write", "ROLLBACK");
	if (!ok && res != NULL)
	{
		PQclear(*res);
		*res = NULL;
	}
	/* why, as the start of a run says it: the catalogs' verdict of the table the name stands for now */
	if (*untrusted)
	{
		if (PQstatus(r->conn) == CONNECTION_OK)
			(void) relation_trust_check(r->conn, r->o.schema, RECORD_TABLE, r->display, false, NULL);
		db_error_set(
			err, PGERR_OTHER, NULL,
			xstrdup(
				gone ? "the table this run checked at its start was dropped during the run (DROP TABLE ... "
					   "CASCADE, which took the view its writes go through): refusing to write the history "
					   "table, nothing written"
					 : "it no longer passes the checks made at the start of the run (see above), or its "
					   "name stands for another table now: refusing to write the history table, nothing "
					   "written"));
	}
	pipeline_free(&p);
	free(retention);
	free(lock);
	return ok;
}

/* Run a write; on failure say so once a run and remember it. */
static bool
record_write(record *r, const char *what, const char *sql, int n, const char *const *values, PGresult **res)
{
	db_error err = {0};
	char    *msg;
	bool     untrusted;

	if (r->failed || r->read_only)
		return false;
	if (write_checked(r, sql, n, values, res, &err, &untrusted))
		return true;
	msg = db_error_format(&err);
	log_event(LOG_LEVEL_ERROR, "record_failed", NULL,
			  "could not write the history table \"%s\" (%s): %s; the builds go on, nothing more is recorded "
			  "on this run",
			  r->display, what, msg);
	free(msg);
	/* an armed table is refused as at the start of a run: a usage error */
	r->fail_exit = untrusted ? EXIT_USAGE : pgerr_exit_code(err.cls, cancel_exit_code());
	if (r->fail_exit == EXIT_OK)
		r->fail_exit = EXIT_CHANGE_FAILED;
	db_error_clear(&err);
	r->failed = true;
	return false;
}

/* Does the schema exist?  -1 when it could not be read (logged). */
static int
schema_exists(PGconn *conn, const char *schema)
{
	const char *values[] = {schema};

	return db_exists(conn, "looking for the history schema",
					 "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, values);
}

static int
ensure_schema(record *r)
{
	int found = schema_exists(r->conn, r->o.schema);

	if (found < 0)
		return EXIT_UNREACHABLE;
	if (found)
		return EXIT_OK;
	if (!r->o.create_schema)
	{
		log_event(
			LOG_LEVEL_ERROR, "record_schema_missing", NULL,
			"schema \"%s\" of the history table does not exist: create it, pass --create-schema, choose "
			"another with --record-schema, or pass --no-record",
			r->o.schema);
		return EXIT_USAGE;
	}
	return db_create_schema(r->conn, r->o.schema);
}

static const char table_columns[] = "(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
									" run_id text NOT NULL,"
									" definition text,"
									" table_name text,"
									" action text NOT NULL,"
									" planned text,"
									" started_at timestamptz NOT NULL,"
									" finished_at timestamptz,"
									" duration_ms bigint,"
									" sqlstate text,"
									" message text,"
									" index_bytes bigint,"
									" deferred integer NOT NULL DEFAULT 0,"
									" runs integer NOT NULL DEFAULT 1,"
									" host text,"
									" application_name text)";

/*
 * Is the table there?  -1 when that could not be read (logged).  And may
 * the writes go through a view bound by OID (r->by_view, relation_trust.h)?
 * When they may not, a schema that another role could rename is warned of.
 */
static const char table_exists_sql[] =
	"SELECT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid AND c.relname = $2), " RELATION_TRUST_TEMP_SQL
	" FROM pg_catalog.pg_namespace n WHERE n.nspname = $1";

static int
table_exists(record *r)
{
	const char *values[] = {r->o.schema, RECORD_TABLE};
	PGresult   *res =
		db_query(r->conn, "looking for the history table", table_exists_sql, 2, values, PGRES_TUPLES_OK);
	int found;

	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		return 0; /* no schema: the CREATE TABLE says so */
	}
	found = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	r->by_view = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	if (!r->by_view)
		relation_trust_warn_if_renamable(r->conn, r->o.schema, r->display);
	return found;
}

/* The table: trusted when it exists, created (and trusted again) when not. */
static int
ensure_table(record *r)
{
	char        *sql, *msg;
	bool         ok;
	int          rc, found;
	db_error     err = {0};
	unsigned int oid = 0;

	rc = relation_trust_check(r->conn, r->o.schema, RECORD_TABLE, r->display, false, &oid);
	if (rc != EXIT_OK)
		return rc;
	found = table_exists(r);
	pin_to(r, oid); /* after table_exists: the guard checks the view when there is one */
	/* there already (every run but the first): no CREATE, whose IF NOT EXISTS NOTICE every run would log */
	if (found != 0)
		return found < 0 ? EXIT_UNREACHABLE : EXIT_OK;
	sql = xasprintf("CREATE TABLE IF NOT EXISTS %s %s", r->qualified, table_columns);
	ok = db_run(r->conn, sql, 0, NULL, PGRES_COMMAND_OK, NULL, &err, NULL);
	free(sql);
	if (!ok)
	{
		/* a role that owns its tables but may not create in the schema (PostgreSQL 15's public) */
		msg = db_error_format(&err);
		log_event(
			LOG_LEVEL_ERROR, "record_create_failed", NULL,
			"could not create the history table \"%s\": %s; nothing built%s", r->display, msg,
			strcmp(err.sqlstate, "42501") == 0
				? " (grant CREATE on the schema, choose another with --record-schema, or pass --no-record)"
				: "");
		free(msg);
		rc = pgerr_exit_code(err.cls, cancel_exit_code());
		db_error_clear(&err);
		return rc;
	}
	/* IF NOT EXISTS: another role may have created it in between */
	rc = relation_trust_check(r->conn, r->o.schema, RECORD_TABLE, r->display, false, &oid);
	pin_to(r, oid);
	return rc;
}

static record *
record_new(PGconn *conn, const record_options *o)
{
	record *r = xcalloc(1, sizeof(*r));
	textbuf sb;

	r->conn = conn;
	r->o = *o;
	textbuf_init(&sb);
	sql_append_ident(&sb, o->schema);
	textbuf_append_char(&sb, '.');
	sql_append_ident(&sb, RECORD_TABLE);
	r->qualified = textbuf_detach(&sb);
	r->view_target = relation_trust_view_target(RECORD_VIEW);
	r->display = xasprintf("%s.%s", o->schema, RECORD_TABLE);
	snprintf(r->run_id, sizeof(r->run_id), "%lld-%d", (long long) time(NULL), (int) getpid());
	if (gethostname(r->host, sizeof(r->host)) != 0)
		r->host[0] = '\0';
	r->host[sizeof(r->host) - 1] = '\0';
	return r;
}

int
record_open(PGconn *conn, const record_options *o, record **out)
{
	record *r = record_new(conn, o);
	int     rc;

	*out = NULL;
	rc = ensure_schema(r);
	if (rc == EXIT_OK)
		rc = ensure_table(r);
	if (rc != EXIT_OK)
	{
		record_free(r);
		return rc;
	}
	*out = r;
	return EXIT_OK;
}

int
record_open_read(PGconn *conn, const record_options *o, record **out)
{
	record     *r = record_new(conn, o);
	const char *values[] = {o->schema, RECORD_TABLE};
	PGresult   *res;
	int         rc = EXIT_OK;
	bool        readable;

	*out = NULL;
	res = db_query(
		conn, "looking for the history table",
		"SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND "
		"pg_catalog.has_table_privilege(c.oid, 'SELECT') FROM pg_catalog.pg_class c JOIN "
		"pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
		2, values, PGRES_TUPLES_OK);
	if (res == NULL)
		rc = EXIT_UNREACHABLE;
	readable = res != NULL && PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	/* a role that may not read it (a monitoring role's plan): the plan without the backoff */
	if (res != NULL && PQntuples(res) > 0 && !readable)
		log_event(LOG_LEVEL_WARNING, "record_unreadable", NULL,
				  "the history table \"%s\" is not readable by this role: the failure backoff is not shown",
				  r->display);
	if (readable)
		rc = relation_trust_check(conn, o->schema, RECORD_TABLE, r->display, true, NULL);
	PQclear(res);
	if (!readable || rc != EXIT_OK)
	{
		record_free(r);
		return rc;
	}
	r->read_only = true;
	*out = r;
	return EXIT_OK;
}

static const char *
planned_word(plan_action a)
{
	switch (a)
	{
		case ACT_REPAIR:
			return "repair";
		case ACT_REBUILD:
			return "rebuild";
		case ACT_DROP:
			return "drop";
		case ACT_CLEANUP:
			return "cleanup";
		default:
			return "build";
	}
}

/*
 * The first five values of a row about it ($1..$5 of record_start and
 * record_refused): the run, the definition, its table (returned: caller
 * frees), the planned action and now (written into now).
 */
static char *
item_values(const record *r, const plan_item *it, char now[64], const char **values)
{
	char *table = xasprintf("%s.%s", it->def->schema, it->def->table);

	now_text(now, 64);
	values[0] = r->run_id;
	values[1] = it->def->name;
	values[2] = table;
	values[3] = planned_word(it->action);
	values[4] = now;
	return table;
}

int64_t
record_start(record *r, const plan_item *it)
{
	char        now[64];
	char       *table;
	const char *values[6];
	PGresult   *res = NULL;
	char       *sql;
	int64_t     id = 0;

	if (r == NULL || r->failed)
		return 0;
	table = item_values(r, it, now, values);
	values[5] = r->host;
	sql = xasprintf("INSERT INTO %s (run_id, definition, table_name, action, planned, started_at, host, "
					"application_name) SELECT $1, $2, $3, 'started', $4, "
					"pg_catalog.to_timestamp($5::pg_catalog.float8), $6, "
					"pg_catalog.current_setting('application_name') WHERE %s RETURNING id",
					target_of(r), pin_of(r));
	if (record_write(r, "recording a build's start", sql, 6, values, &res))
	{
		r->started++;
		id = PQntuples(res) == 1 ? atoll(PQgetvalue(res, 0, 0)) : 0;
		PQclear(res);
	}
	free(sql);
	free(table);
	return id;
}

/* The action word of an outcome. */
static const char *
outcome_word(const plan_item *it)
{
	if (it->outcome == OUTCOME_INTERRUPTED)
		return "interrupted";
	if (it->outcome != OUTCOME_DONE)
		return "failed";
	switch (it->action)
	{
		case ACT_REPAIR:
			return "repaired";
		case ACT_REBUILD:
			return "rebuilt";
		case ACT_DROP:
			return "dropped";
		case ACT_CLEANUP:
			return "cleaned";
		default:
			return "built";
	}
}

void
record_end(record *r, int64_t id, const plan_item *it, const char *sqlstate, const char *index_schema)
{
	char        now[64], idtext[32], dur[32];
	const char *values[8];
	char       *sql;
	bool        ok = it->outcome == OUTCOME_DONE;

	if (r == NULL || id == 0 || r->failed)
		return;
	now_text(now, sizeof(now));
	snprintf(idtext, sizeof(idtext), "%lld", (long long) id);
	snprintf(dur, sizeof(dur), "%lld", (long long) it->duration_ms);
	values[0] = idtext;
	values[1] = outcome_word(it);
	values[2] = now;
	values[3] = dur;
	values[4] = !ok && sqlstate && sqlstate[0] ? sqlstate : NULL;
	values[5] = ok ? NULL : it->failure;
	values[6] = index_schema;
	values[7] = it->def->name;
	/* the size of what now holds the name; none after a drop or a failure */
	sql =
		xasprintf("UPDATE %s SET action = $2, finished_at = pg_catalog.to_timestamp($3::pg_catalog.float8), "
				  "duration_ms = $4::pg_catalog.int8, sqlstate = $5, message = $6, index_bytes = "
				  "(SELECT pg_catalog.pg_relation_size(c.oid) FROM pg_catalog.pg_class c JOIN "
				  "pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $7 AND "
				  "c.relname = $8 AND c.relkind = 'i' AND $2 IN ('built', 'repaired', 'rebuilt')) "
				  "WHERE id = $1::pg_catalog.int8 AND %s",
				  target_of(r), pin_of(r));
	(void) record_write(r, "recording a build's outcome", sql, 8, values, NULL);
	free(sql);
}

void
record_refused(record *r, const plan_item *it, const char *message)
{
	char        now[64];
	char       *table;
	const char *values[7];
	char       *sql;

	if (r == NULL || r->failed)
		return;
	table = item_values(r, it, now, values);
	values[5] = message;
	values[6] = r->host;
	sql =
		xasprintf("INSERT INTO %s (run_id, definition, table_name, action, planned, started_at, finished_at, "
				  "duration_ms, message, host, application_name) SELECT $1, $2, $3, 'refused', $4, "
				  "pg_catalog.to_timestamp($5::pg_catalog.float8), "
				  "pg_catalog.to_timestamp($5::pg_catalog.float8), 0, $6, $7, "
				  "pg_catalog.current_setting('application_name') WHERE %s",
				  target_of(r), pin_of(r));
	(void) record_write(r, "recording a guard's refusal", sql, 7, values, NULL);
	free(sql);
	free(table);
}

int
record_apply_backoff(record *r, plan_item *plan, int n, int *critical)
{
	copy_rows      copied;
	char           now[64];
	backoff_policy policy;
	int            rc;

	*critical = 0;
	if (r == NULL || r->o.backoff_after <= 0 || r->o.retry_failed || !backoff_wanted(plan, n))
		return EXIT_OK;
	copy_rows_init(&copied, BACKOFF_COLUMNS_N);
	{
		/*
		 * In the transaction that locks and judges the table, copied and
		 * never planned (relation_trust.h): plan reads a table of the
		 * schema's owner.
		 */
		relation_ref ref = {r->qualified, r->o.schema, RECORD_TABLE, r->display, r->read_only};

		rc = relation_trust_copy(r->conn, &ref, BACKOFF_COLUMNS, &copied);
	}
	if (rc == EXIT_OK)
	{
		now_text(now, sizeof(now));
		policy = (backoff_policy){r->o.backoff_after, r->o.time_zone, !r->read_only};
		*critical = backoff_apply(&copied, plan, n, &policy, atof(now));
	}
	copy_rows_free(&copied);
	return rc;
}

/* Rows of this run never finished: the signal stopped them. */
static void
close_started(record *r)
{
	const char *values[] = {r->run_id};
	char       *sql =
		xasprintf("UPDATE %s SET action = 'interrupted' WHERE run_id = $1 AND action = 'started' AND %s",
				  target_of(r), pin_of(r));

	(void) record_write(r, "marking unfinished builds interrupted", sql, 1, values, NULL);
	free(sql);
}

static void
record_deferrals(record *r, int deferred)
{
	char        now[64], count[16];
	const char *values[4];
	char       *sql;

	now_text(now, sizeof(now));
	snprintf(count, sizeof(count), "%d", deferred);
	values[0] = r->run_id;
	values[1] = now;
	values[2] = count;
	values[3] = r->host;
	/* a run that only deferred counts one more run on the last row when that one only deferred too */
	sql = xasprintf(
		"WITH last AS (SELECT id, action FROM %1$s WHERE %2$s ORDER BY id DESC LIMIT 1), "
		"bumped AS (UPDATE %1$s h SET runs = h.runs + 1, deferred = $3::pg_catalog.int4, finished_at = "
		"pg_catalog.to_timestamp($2::pg_catalog.float8) FROM last WHERE h.id = last.id AND last.action = "
		"'deferred' AND %2$s RETURNING h.id) "
		"INSERT INTO %1$s (run_id, action, started_at, finished_at, deferred, host, application_name) "
		"SELECT $1, 'deferred', pg_catalog.to_timestamp($2::pg_catalog.float8), "
		"pg_catalog.to_timestamp($2::pg_catalog.float8), $3::pg_catalog.int4, $4, "
		"pg_catalog.current_setting('application_name') WHERE NOT EXISTS (SELECT FROM bumped) AND %2$s",
		target_of(r), pin_of(r));
	(void) record_write(r, "recording the run's deferrals", sql, 4, values, NULL);
	free(sql);
}

/* The run's last write is done: its view goes (relation_trust_view_drop). */
static void
release_view(record *r)
{
	if (r->view_bound && !r->fell_back && !cancel_pending())
		relation_trust_view_drop(r->conn, r->view_target);
	r->view_bound = false;
}

void
record_close(record *r, int deferred)
{
	if (r == NULL)
		return;
	if (r->started > 0) /* a no-op run writes nothing */
		close_started(r);
	if (deferred > 0)
		record_deferrals(r, deferred);
	release_view(r);
}

int
record_failed(const record *r)
{
	return r != NULL && r->failed ? r->fail_exit : EXIT_OK;
}

void
record_free(record *r)
{
	if (r == NULL)
		return;
	free(r->qualified);
	free(r->view_target);
	free(r->display);
	free(r->pin);
	free(r->guard);
	free(r);
}
