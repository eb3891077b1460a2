/*-------------------------------------------------------------------------
 *
 * startup.c
 *	  A run's first connection and everything read before its command
 *	  runs, in two round trips.
 *
 * migrator/startup.c
 *
 *-------------------------------------------------------------------------
 */
#include "startup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advlock.h"
#include "cancel.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "pipeline.h"
#include "relation_trust.h"

/* The kept answers of the first round trip (NULL: not asked, or failed). */
typedef struct answers
{
	PGresult *role, *schema, *temp, *inspect, *trust, *lock;
	int       role_entry; /* its index in the batch; -1 when not asked */
} answers;

static void
answers_clear(answers *a)
{
	PQclear(a->role);
	PQclear(a->schema);
	PQclear(a->temp);
	PQclear(a->inspect);
	PQclear(a->trust);
	PQclear(a->lock);
}

int
startup_schema_verdict(const run_state *rs, bool exists, bool may_create, bool explain_plan)
{
	char *target;

	if (exists)
		return EXIT_OK;
	if (rs->opts->create_schema && may_create)
	{
		if (explain_plan)
			log_info("schema \"%s\" does not exist: up --create-schema would create it",
					 rs->opts->conn.schema);
		return EXIT_OK;
	}
	target = run_target_name(rs);
	log_event(LOG_LEVEL_ERROR, "schema_missing", NULL, "schema \"%s\" does not exist in %s; %s",
			  rs->opts->conn.schema, target,
			  may_create ? "create it, or pass --create-schema"
						 : "check --schema and --dsn (this command creates nothing)");
	free(target);
	return EXIT_USAGE;
}

/* The batch after the session settings conn_open_batch put first; no Sync in it. */
static void
add_queries(run_state *rs, const startup_want *want, pipeline *p, answers *a, char key[24])
{
	const char *values[3];
	const char *sql;

	a->role_entry = -1;
	if (rs->opts->role != NULL)
	{
		values[0] = rs->opts->role;
		/* everything after it, the history table too, is owned by --role */
		a->role_entry = pipeline_add(p, "SELECT pg_catalog.set_config('role', $1, false)", 1, values,
									 PGRES_TUPLES_OK, pipeline_keep_result, &a->role);
	}
	values[0] = rs->opts->conn.schema;
	(void) pipeline_add(p, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, values,
						PGRES_TUPLES_OK, pipeline_keep_result, &a->schema);
	if (want->writes)
		(void) pipeline_add(p, "SELECT " RELATION_TRUST_TEMP_SQL, 0, NULL, PGRES_TUPLES_OK,
							pipeline_keep_result, &a->temp);
	sql = history_inspect_query(&rs->ht, values);
	(void) pipeline_add(p, sql, 2, values, PGRES_TUPLES_OK, pipeline_keep_result, &a->inspect);
	sql = relation_trust_query(rs->ht.schema, rs->ht.table, rs->ht.read_only, values);
	(void) pipeline_add(p, sql, 3, values, PGRES_TUPLES_OK, pipeline_keep_result, &a->trust);
	if (want->take_lock)
	{
		/* last: nothing after it can fail and roll the batch back */
		snprintf(key, 24, "%lld", (long long) advlock_key(rs->lock_name));
		values[0] = key;
		(void) pipeline_add(p, "SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int8)", 1, values,
							PGRES_TUPLES_OK, pipeline_keep_result, &a->lock);
	}
}

/* The batch failed for good: one error line, and the exit code. */
static int
batch_failed(const run_state *rs, const pipeline *p, const answers *a, const conn_retry *retry, db_error *err)
{
	char *msg;
	int   rc;

	if (cancel_pending())
		return cancel_exit_code();
	if (p->failed >= 0 && p->failed == a->role_entry && pgerr_action_for(err->cls) != PGERR_ACTION_RECONNECT)
	{
		log_event(LOG_LEVEL_ERROR, "invalid_role", NULL, "option --role: could not SET ROLE \"%s\": %s",
				  rs->opts->role, err->message);
		return EXIT_USAGE;
	}
	msg = db_error_format(err);
	log_event(LOG_LEVEL_ERROR, "query_failed", NULL,
			  "setting up the session and reading the start-up state: %s%s", conn_lost_prefix(retry, err),
			  msg);
	free(msg);
	rc = pgerr_exit_code(err->cls, cancel_exit_code());
	return rc == EXIT_OK ? EXIT_UNREACHABLE : rc;
}

/* The history, read only once it was vetted (and run-locked), under a lock of its own (history.h). */
static int
read_history(PGconn *conn, run_state *rs)
{
	int rc = history_read_locked(conn, &rs->ht, &rs->hist);

	return rc == EXIT_UNREACHABLE && cancel_pending() ? cancel_exit_code() : rc;
}

/* The answers judged in the order the old round trips had: role, schema, table, lock. */
static int
judge(run_state *rs, const startup_want *want, const answers *a, PGconn *conn)
{
	bool present;
	int  rc = startup_schema_verdict(rs, PQntuples(a->schema) > 0, want->may_create, want->explain_plan);

	/*
	 * Writes through a view bound by OID: a rename cannot move them
	 * (relation_trust.h).  A writer that may not make one names the table,
	 * and is told when another role could rename its schema.
	 */
	rs->ht.by_view = want->writes && PQntuples(a->temp) == 1 && strcmp(PQgetvalue(a->temp, 0, 0), "t") == 0;
	if (rc == EXIT_OK && want->writes && !rs->ht.by_view && PQntuples(a->schema) > 0)
		relation_trust_warn_if_renamable(conn, rs->opts->conn.schema, rs->ht.display);

	if (rc == EXIT_OK)
		rc = history_vet_results(conn, &rs->ht, a->inspect, a->trust, &present);
	if (rc == EXIT_UNREACHABLE && cancel_pending())
		return cancel_exit_code();
	if (rc != EXIT_OK)
		return rc;
	if (want->take_lock && strcmp(PQgetvalue(a->lock, 0, 0), "t") != 0)
	{
		/* another run holds it: wait, then vet and read again under it */
		rc = advlock_acquire(conn, rs->lock_name, rs->opts->lock_wait_ms, PROGNAME);
		if (rc != EXIT_OK)
			return rc;
		rs->locked = true;
		return want->read_history ? history_load(conn, &rs->ht, &rs->hist) : EXIT_OK;
	}
	if (want->take_lock)
	{
		rs->locked = true;
		log_event(LOG_LEVEL_DEBUG, "lock_acquired", NULL, "took the run lock \"%s\"", rs->lock_name);
	}
	if (!want->read_history)
		return EXIT_OK;
	if (!present && want->take_lock) /* looked at before the lock: look again under it */
		return history_load(conn, &rs->ht, &rs->hist);
	if (!present)
		return EXIT_OK; /* absent: an empty history (exists false) */
	return read_history(conn, rs);
}

/* Migration files read per slice: about a millisecond's work (conn_work). */
#define FILES_PER_SLICE 32

static conn_work_state
load_files_step(void *arg)
{
	migration_loader *files = arg;

	if (!migration_loader_step(files, FILES_PER_SLICE))
		return CONN_WORK_MORE;
	return files->ok ? CONN_WORK_DONE : CONN_WORK_FAILED;
}

/*
 * Connect and run the first round trip once.  EXIT_OK with *answered set
 * when every entry was answered and held, or unset (err filled, *conn
 * still open) when the batch failed; any other code: no connection.
 */
static int
open_once(run_state *rs, const startup_want *want, const conn_options *copts, PGconn **conn, pipeline *p,
		  answers *a, db_error *err, bool *answered)
{
	char key[24];
	int  rc = conn_open_batch(copts, conn, p);

	*answered = false;
	if (rc != EXIT_OK)
		return rc;
	/* names only: the same on every attempt */
	if (rs->ht.qualified == NULL &&
		!history_table_init(&rs->ht, *conn, rs->opts->conn.schema, rs->opts->history_table))
		return EXIT_USAGE;
	rs->ht.create_schema = rs->opts->create_schema;
	rs->ht.read_only = !want->writes; /* only commands that write may change it */
	rs->ht.read_details = want->history_details;
	if (want->take_lock && rs->lock_name == NULL)
		rs->lock_name = advlock_name(ADVLOCK_MIGRATOR, rs->ht.qualified); /* quoted: unambiguous */
	add_queries(rs, want, p, a, key);
	*answered = pipeline_send(*conn, p, err);
	/* the files' verdict first, read while the server answers */
	if (!conn_work_finish(copts->work))
		return cancel_pending() ? cancel_exit_code() : EXIT_USAGE;
	*answered = *answered && pipeline_read(*conn, p, NULL, err);
	return EXIT_OK;
}

int
startup_open(run_state *rs, const startup_want *want, PGconn **conn)
{
	conn_options copts = rs->opts->conn;
	conn_retry   retry;
	pipeline     p;
	answers      a = {0};
	db_error     err = {0};
	bool         answered;
	conn_work    files = {load_files_step, want->files, CONN_WORK_MORE};
	int          rc;

	/* --role is set in the batch, where a bad one is a usage error */
	copts.role = NULL;
	copts.work = want->files != NULL ? &files : NULL;
	/* a start-up gate that waits for the schema also waits for the server */
	if (rs->opts->wait_current_ms > copts.wait_ms)
		copts.wait_ms = rs->opts->wait_current_ms;
	conn_retry_start(&retry, &copts);
	for (;;)
	{
		pipeline_init(&p);
		rc = open_once(rs, want, &copts, conn, &p, &a, &err, &answered);
		/* lost before it answered: nothing of it counts, all of it again */
		if (rc != EXIT_OK || answered || !conn_retry_lost_batch(&retry, &copts, conn, &err))
			break;
		answers_clear(&a);
		memset(&a, 0, sizeof(a));
		db_error_clear(&err);
		pipeline_free(&p);
	}
	if (rc == EXIT_OK)
		rc = answered ? judge(rs, want, &a, *conn) : batch_failed(rs, &p, &a, &retry, &err);
	db_error_clear(&err);
	answers_clear(&a);
	pipeline_free(&p);
	return rc;
}
