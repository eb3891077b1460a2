/*-------------------------------------------------------------------------
 *
 * apply_session.c
 *	  The session a migration runs in: reset, pinned, committed, and what a
 *	  lost COMMIT left behind.
 *
 * migrator/apply_session.c
 *
 *-------------------------------------------------------------------------
 */
#include "apply_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advlock.h"
#include "cancel.h"
#include "conn.h"
#include "exitcodes.h"
#include "memory.h"
#include "pipeline.h"
#include "query.h"
#include "relation_trust.h"
#include "retry.h"

/*
 * set_config() with the value as a parameter; is_local: SET LOCAL.  The
 * statement_timeout is the operator's: left as the session has it (from the
 * DSN's options, the role or the database) unless --statement-timeout says.
 */
bool
apply_session_set_timeouts(PGconn *conn, const apply_settings *s, bool is_local, db_error *err)
{
	char        lt[32], st[32];
	const char *values[3] = {lt, is_local ? "true" : "false", st};
	bool        with_st = s->statement_timeout_ms >= 0;

	snprintf(lt, sizeof(lt), "%lldms", (long long) s->lock_timeout_ms);
	snprintf(st, sizeof(st), "%lldms", (long long) s->statement_timeout_ms);
	return db_run(conn,
				  with_st ? "SELECT pg_catalog.set_config('lock_timeout', $1, $2::pg_catalog.bool), "
							"pg_catalog.set_config('statement_timeout', $3, $2::pg_catalog.bool)"
						  : "SELECT pg_catalog.set_config('lock_timeout', $1, $2::pg_catalog.bool)",
				  with_st ? 3 : 2, values, PGRES_TUPLES_OK, NULL, err, NULL);
}

/*
 * Every migration starts from the same session, whatever the one before it
 * did (RESET ALL, SET ROLE, session_replication_role, temporary tables,
 * through EXECUTE or a function): DISCARD ALL takes the session back to
 * what the connection started with, then the toolkit's own settings are
 * set again.  Not in a transaction (DISCARD ALL refuses one).
 */
/*
 * Does an enabled event trigger exist now?  A migration's own code may have
 * made one (EXECUTE in a DO block, an extension's script) where no CREATE
 * EVENT TRIGGER statement shows it: every reset asks again, for free.
 */
#define EVENT_TRIGGERS_SQL                                                                                   \
	"EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtenabled OPERATOR(pg_catalog.<>) 'D')"

/*
 * The statement that sets the toolkit's settings after DISCARD ALL and
 * reads back the session's own; lt (32 bytes) and values[2] are filled.
 * Without --role the role is the one the connection starts with (a DSN's
 * "-c role=...", or the login role's setting), which DISCARD ALL restores:
 * read it back.
 */
static const char *
settings_sql(const apply_ctx *ctx, char *lt, const char **values, int *nparams)
{
	/* the toolkit's own SQL between migrations (a failed row) waits boundedly */
	snprintf(lt, 32, "%lldms", (long long) ctx->settings.lock_timeout_ms);
	values[0] = lt;
	values[1] = ctx->role;
	*nparams = ctx->role ? 2 : 1;
	return ctx->role ? "SELECT pg_catalog.set_config('search_path', '', false), "
					   "pg_catalog.current_setting('statement_timeout'), "
					   "pg_catalog.set_config('lock_timeout', $1, false), "
					   "pg_catalog.set_config('role', $2, false), " EVENT_TRIGGERS_SQL
					 : "SELECT pg_catalog.set_config('search_path', '', false), "
					   "pg_catalog.current_setting('statement_timeout'), "
					   "pg_catalog.set_config('lock_timeout', $1, false), "
					   "pg_catalog.current_setting('role'), " EVENT_TRIGGERS_SQL;
}

/* The session's own bound (DSN options, role, database), as DISCARD left it. */
static char *
read_back_settings(void *arg, const PGresult *res)
{
	apply_ctx *ctx = arg;

	if (PQntuples(res) != 1 || PQnfields(res) != 5)
		return xstrdup("resetting the session returned no settings");
	/* once seen, every migration after it resets (apply_residue.h) */
	if (strcmp(PQgetvalue(res, 0, 4), "f") != 0)
		ctx->event_triggers = true;
	free(ctx->session_statement_timeout);
	ctx->session_statement_timeout = xstrdup(PQgetvalue(res, 0, 1));
	free(ctx->session_role);
	ctx->session_role = xstrdup(PQgetvalue(res, 0, 3));
	return NULL;
}

bool
apply_session_reestablish(apply_ctx *ctx, db_error *err)
{
	char        lt[32];
	const char *values[2];
	int         nparams;
	const char *sql = settings_sql(ctx, lt, values, &nparams);
	PGresult   *res = NULL;
	char       *problem;

	/* Uninterruptible: it also cleans up after a cancel. */
	ctx->session_clean = false;
	ctx->prepared = false;   /* DISCARD ALL deallocates them */
	history_unbind(ctx->ht); /* and drops the history's view: made again below */
	if (!db_run_ex(ctx->conn, "DISCARD ALL", 0, NULL, PGRES_COMMAND_OK, NULL, err, NULL, false) ||
		!db_run_ex(ctx->conn, sql, nparams, values, PGRES_TUPLES_OK, &res, err, NULL, false))
		return false;
	problem = read_back_settings(ctx, res);
	PQclear(res);
	if (problem != NULL)
	{
		db_error_clear(err);
		err->cls = PGERR_OTHER;
		err->message = problem;
		return false;
	}
	if (!history_bind(ctx->conn, ctx->ht, err))
		return false;
	ctx->session_clean = true;
	return true;
}

/*
 * Inside the migration's transaction, before the toolkit's own SQL (the
 * history row) or the verify file: the run's role, bounds and the given
 * search_path (NULL: the empty one of our SQL) again, whatever the
 * migration set.
 */
#define PIN_SQL                                                                                              \
	"SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('lock_timeout', $2, true), "      \
	"pg_catalog.set_config('statement_timeout', $3, true), "                                                 \
	"pg_catalog.set_config('search_path', $4, true)"

/* The four values of PIN_SQL; *quoted (PQfreemem) holds the schema's. */
static bool
pin_values(apply_ctx *ctx, const char *schema, char *lt, char *st, const char **values, char **quoted)
{
	values[0] = ctx->role ? ctx->role : (ctx->session_role ? ctx->session_role : "none");
	values[1] = lt;
	values[2] = st;
	values[3] = "";
	*quoted = NULL;
	snprintf(lt, 32, "%lldms", (long long) ctx->settings.lock_timeout_ms);
	if (ctx->settings.statement_timeout_ms >= 0)
		snprintf(st, 32, "%lldms", (long long) ctx->settings.statement_timeout_ms);
	else
		snprintf(st, 32, "%s", ctx->session_statement_timeout ? ctx->session_statement_timeout : "0");
	if (schema != NULL && schema[0] != '\0')
	{
		*quoted = PQescapeIdentifier(ctx->conn, schema, strlen(schema));
		if (*quoted == NULL)
			return false;
		values[3] = *quoted;
	}
	return true;
}

bool
apply_session_pin_local(apply_ctx *ctx, const char *schema, db_error *err)
{
	char        lt[32], st[32];
	char       *quoted;
	const char *values[4];
	bool        ok;

	if (!pin_values(ctx, schema, lt, st, values, &quoted))
		return conn_set_search_path(ctx->conn, schema, true, err); /* reports why */
	/* one round trip: this runs twice in every migration */
	ok = db_run(ctx->conn, PIN_SQL, 4, values, PGRES_TUPLES_OK, NULL, err, NULL);
	PQfreemem(quoted);
	return ok;
}

const char *
apply_session_pin_sql(void)
{
	return PIN_SQL;
}

bool
apply_session_pin_add(apply_ctx *ctx, pipeline *p, const char *schema, const char *prepared)
{
	char        lt[32], st[32];
	char       *quoted;
	const char *values[4];

	if (!pin_values(ctx, schema, lt, st, values, &quoted))
		return false;
	if (prepared != NULL)
		(void) pipeline_add_prepared(p, prepared, 4, values, PGRES_TUPLES_OK, NULL, NULL);
	else
		(void) pipeline_add(p, PIN_SQL, 4, values, PGRES_TUPLES_OK, NULL, NULL);
	PQfreemem(quoted);
	return true;
}

char *
apply_session_lock_lost(void *ctx_arg)
{
	const apply_ctx *ctx = ctx_arg;

	return xasprintf(
		"the run lock \"%s\" is no longer held by this run (its connection was ended or the lock released): "
		"another run may be applying migrations; rolled back",
		ctx->lock_name);
}

/*
 * The run lock lives on a connection of its own that runs no migration SQL,
 * so a migration cannot release it (pg_advisory_unlock_all() through
 * EXECUTE, say); a migration can still end that connection.  Confirmed from
 * inside each migration's transaction, right before it commits.
 */
bool
apply_session_confirm_run_lock(apply_ctx *ctx, db_error *err)
{
	int held;

	if (ctx->lock_conn == NULL)
		return true;
	held = PQstatus(ctx->lock_conn) == CONNECTION_OK
			   ? advlock_held(ctx->conn, ctx->lock_name, PQbackendPID(ctx->lock_conn), err)
			   : 0;
	if (held < 0)
		return false;
	if (held == 0)
	{
		db_error_clear(err);
		err->cls = PGERR_OTHER;
		err->message = apply_session_lock_lost(ctx);
	}
	return held == 1;
}

/* COMMIT of a failed transaction answers ROLLBACK, with success */
char *
apply_session_judge_commit(void *arg, const PGresult *res)
{
	(void) arg;
	if (strcmp(PQcmdStatus((PGresult *) res), "COMMIT") == 0)
		return NULL;
	return xasprintf("COMMIT answered \"%s\": the migration was not committed",
					 PQcmdStatus((PGresult *) res));
}

/*
 * COMMIT, then (after a Sync, so that a failed COMMIT cannot touch them,
 * and in segments of their own: DISCARD ALL refuses a transaction block)
 * the reset of apply_session_reestablish, in one round trip: the next
 * migration starts from a clean session without one of its own.
 */
bool
apply_session_commit_reset(apply_ctx *ctx, bool reset, db_error *err)
{
	pipeline    p;
	char        lt[32];
	const char *values[2];
	int         nparams;
	const char *sql = settings_sql(ctx, lt, values, &nparams);
	bool        ok;

	ctx->session_clean = false;
	pipeline_init(&p);
	/* the COMMIT is in it: a cancel not confirmed before its answer cannot
	 * say that nothing was committed */
	p.in_block = false;
	(void) pipeline_add(&p, "COMMIT", 0, NULL, PGRES_COMMAND_OK, apply_session_judge_commit, NULL);
	if (reset)
	{
		ctx->prepared = false;   /* DISCARD ALL deallocates them */
		history_unbind(ctx->ht); /* and drops the view: made again after it */
		(void) pipeline_add_sync(&p);
		(void) pipeline_add(&p, "DISCARD ALL", 0, NULL, PGRES_COMMAND_OK, NULL, NULL);
		(void) pipeline_add_sync(&p);
		(void) pipeline_add(&p, sql, nparams, values, PGRES_TUPLES_OK, read_back_settings, ctx);
	}
	ok = pipeline_run(ctx->conn, &p, NULL, err);
	if (!ok && p.failed > 0)
	{
		/* committed; the reset failed: the next migration resets on its own */
		db_error_clear(err);
		ok = true;
	}
	else if (ok && reset)
	{
		db_error bind_err = {0};

		/* a view that cannot be made again: the next migration resets, and says why */
		ctx->session_clean = history_bind(ctx->conn, ctx->ht, &bind_err);
		db_error_clear(&bind_err);
	}
	else if (ok)
		ctx->session_clean = true;
	pipeline_free(&p);
	return ok;
}

/* COMMIT, and say so when it did not commit. */
bool
apply_session_commit(apply_ctx *ctx, db_error *err)
{
	PGresult *res = NULL;
	bool      ok = db_run(ctx->conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, &res, err, NULL);

	/* COMMIT of a failed transaction answers ROLLBACK, with success */
	if (ok && strcmp(PQcmdStatus(res), "COMMIT") != 0)
	{
		ok = false;
		err->cls = PGERR_OTHER;
		err->message = xasprintf("COMMIT answered \"%s\": the migration was not committed", PQcmdStatus(res));
	}
	PQclear(res);
	return ok;
}

/*
 * How long the session that sent COMMIT may stay on the server, beyond
 * --wait, before "not committed" is called unknown: a COMMIT that reached
 * it may still be running (a deferred trigger, a synchronous standby).
 */
#define OLD_SESSION_GRACE_MS 10000
#define OLD_SESSION_POLL_MS  200

/*
 * Is the history row of version vbuf there as applied (1), not (0), or is
 * it still undecided (2: no row, but the session that sent COMMIT, old_pid,
 * is still on the server, so its COMMIT may yet complete)?  -1: unreadable.
 * The row is read as every read of the table is (relation_trust_copy):
 * under its lock and verdict, by a COPY, which is never planned, so that a
 * schema rename pointing the name at another table of the schema's owner
 * runs nothing of it (a planned SELECT evaluated its view's or rule's
 * IMMUTABLE functions as the migrator, before any pin in its WHERE); the
 * version is found here.
 */
static int
read_outcome(PGconn *conn, const apply_ctx *ctx, const char *vbuf, const char *pbuf)
{
	const char  *values[1] = {pbuf};
	relation_ref ref = {ctx->ht->qualified, ctx->ht->schema, ctx->ht->table, ctx->ht->display, false};
	/*
	 * the session first, the row after: a session gone before the read has
	 * committed or never will, so no row then is the answer
	 */
	PGresult *res = db_query(conn, "looking for the session that sent COMMIT",
							 "SELECT EXISTS (SELECT FROM pg_catalog.pg_stat_activity WHERE pid = "
							 "$1::pg_catalog.int4 AND pid <> pg_catalog.pg_backend_pid())",
							 1, values, PGRES_TUPLES_OK);
	bool      still_there = res != NULL && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	copy_rows rows;
	int       state = -1;

	copy_rows_init(&rows, 2);
	if (res != NULL && relation_trust_copy(conn, &ref, "version, status", &rows) == EXIT_OK)
	{
		state = still_there ? 2 : 0;
		for (int i = 0; i < rows.n_rows; i++)
		{
			const char *version = copy_rows_cell(&rows, i, 0);
			const char *status = copy_rows_cell(&rows, i, 1);

			if (version && status && strcmp(version, vbuf) == 0 && strcmp(status, "applied") == 0)
				state = 1;
		}
	}
	copy_rows_free(&rows);
	PQclear(res);
	return state;
}

/*
 * Read the outcome until it is decided: while the old session is still on
 * the server, no row is no answer (its COMMIT may be running); waits for it
 * to end, up to --wait (at least OLD_SESSION_GRACE_MS).
 */
static int
await_outcome(PGconn *conn, const apply_ctx *ctx, const migration *m)
{
	int64_t grace =
		ctx->conn_opts->wait_ms > OLD_SESSION_GRACE_MS ? ctx->conn_opts->wait_ms : OLD_SESSION_GRACE_MS;
	int64_t deadline = monotonic_ms() + grace;
	char    vbuf[24], pbuf[16];
	int     state;

	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) m->version);
	snprintf(pbuf, sizeof(pbuf), "%d", ctx->conn_pid);
	while ((state = read_outcome(conn, ctx, vbuf, pbuf)) == 2 && ctx->conn_pid > 0 &&
		   monotonic_ms() + OLD_SESSION_POLL_MS <= deadline && sleep_ms_interruptible(OLD_SESSION_POLL_MS))
		;
	/* without the old session's pid, no row is taken as the answer */
	return state == 2 && ctx->conn_pid <= 0 ? 0 : state;
}

/*
 * The connection broke while COMMIT was in flight (for a no-transaction
 * file: while its history row was being written, after every statement
 * ran): the server may or may not have committed.  Ask it, on a new
 * connection (waiting up to --wait), whether the row is there as applied:
 * the row commits with the migration.  Until the session that sent it has
 * ended, no row is no answer: its COMMIT may still be running.
 */
char *
apply_session_commit_outcome(apply_ctx *ctx, const migration *m, const migration *rider)
{
	const char *not_applied = m->no_transaction
								  ? "its statements all ran and stay committed, but it is not recorded as "
									"applied"
								  : "nothing of it is applied";
	PGconn     *conn = NULL;
	char       *behind = rider ? xasprintf("; migration %lld, queued behind that COMMIT, was not committed",
										   (long long) rider->version)
							   : xstrdup("");
	char       *line;
	int         state;

	/* after a signal nothing reconnects (connecting would stop at once): say what is known */
	if (cancel_pending())
	{
		line = xasprintf(
			"interrupted by %s: migration %lld: the server did not answer while its COMMIT was in "
			"flight (cancel not confirmed): the outcome is unknown%s; run \"migrator status\" to see "
			"whether it was committed",
			cancel_signal_name(), (long long) m->version, behind);
		free(behind);
		return line;
	}
	if (conn_open(ctx->conn_opts, &conn) != EXIT_OK)
	{
		line = xasprintf("migration %lld: connection lost during COMMIT, and the server could not be reached "
						 "again: the outcome is unknown%s; run \"migrator status\" when it is back",
						 (long long) m->version, behind);
		free(behind);
		return line;
	}
	state = await_outcome(conn, ctx, m);
	if (state == 1)
		line =
			xasprintf("migration %lld: connection lost during COMMIT; reconnected: it WAS committed and is "
					  "recorded as applied%s; run again to continue",
					  (long long) m->version, behind);
	else if (state == 0)
		line = xasprintf("migration %lld: connection lost during COMMIT; reconnected: it was NOT committed "
						 "(no applied history row, and the session that sent COMMIT has ended); %s%s; run "
						 "again%s",
						 (long long) m->version, not_applied, behind,
						 m->no_transaction ? " (it starts again from its first statement)" : "");
	else if (state == 2)
		line = xasprintf("migration %lld: connection lost during COMMIT; reconnected: no applied history row "
						 "yet, but the session that sent COMMIT (pid %d) is still on the server and its "
						 "COMMIT may still complete: the outcome is unknown%s; run \"migrator status\" when "
						 "that session has ended",
						 (long long) m->version, ctx->conn_pid, behind);
	else
		line = xasprintf("migration %lld: connection lost during COMMIT; the history could not be read: the "
						 "outcome is unknown%s; run \"migrator status\"",
						 (long long) m->version, behind);
	free(behind);
	conn_close(conn);
	return line;
}
