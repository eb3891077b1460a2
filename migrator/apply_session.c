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
#include "conn.h"
#include "exitcodes.h"
#include "memory.h"
#include "query.h"

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
bool
apply_session_reestablish(apply_ctx *ctx, db_error *err)
{
	char        lt[32];
	const char *values[2] = {lt, ctx->role};
	PGresult   *res = NULL;

	/* the toolkit's own SQL between migrations (a failed row) waits boundedly */
	snprintf(lt, sizeof(lt), "%lldms", (long long) ctx->settings.lock_timeout_ms);
	/*
	 * Uninterruptible: it also cleans up after a cancel.  Without --role the
	 * role is the one the connection starts with (a DSN's "-c role=...", or
	 * the login role's setting), which DISCARD ALL restores: read it back.
	 */
	if (!db_run_ex(ctx->conn, "DISCARD ALL", 0, NULL, PGRES_COMMAND_OK, NULL, err, NULL, false) ||
		!db_run_ex(ctx->conn,
				   ctx->role ? "SELECT pg_catalog.set_config('search_path', '', false), "
							   "pg_catalog.current_setting('statement_timeout'), "
							   "pg_catalog.set_config('lock_timeout', $1, false), "
							   "pg_catalog.set_config('role', $2, false)"
							 : "SELECT pg_catalog.set_config('search_path', '', false), "
							   "pg_catalog.current_setting('statement_timeout'), "
							   "pg_catalog.set_config('lock_timeout', $1, false), "
							   "pg_catalog.current_setting('role')",
				   ctx->role ? 2 : 1, values, PGRES_TUPLES_OK, &res, err, NULL, false))
		return false;
	/* the session's own bound (DSN options, role, database), as DISCARD left it */
	free(ctx->session_statement_timeout);
	ctx->session_statement_timeout = xstrdup(PQgetvalue(res, 0, 1));
	free(ctx->session_role);
	ctx->session_role = xstrdup(PQgetvalue(res, 0, 3));
	PQclear(res);
	return true;
}

/*
 * Inside the migration's transaction, before the toolkit's own SQL (the
 * history row) or the verify file: the run's role, bounds and the given
 * search_path (NULL: the empty one of our SQL) again, whatever the
 * migration set.
 */
bool
apply_session_pin_local(apply_ctx *ctx, const char *schema, db_error *err)
{
	char        lt[32], st[32];
	char       *quoted = NULL;
	const char *values[4] = {ctx->role ? ctx->role : (ctx->session_role ? ctx->session_role : "none"), lt, st,
							 ""};
	bool        ok;

	snprintf(lt, sizeof(lt), "%lldms", (long long) ctx->settings.lock_timeout_ms);
	if (ctx->settings.statement_timeout_ms >= 0)
		snprintf(st, sizeof(st), "%lldms", (long long) ctx->settings.statement_timeout_ms);
	else
		snprintf(st, sizeof(st), "%s", ctx->session_statement_timeout ? ctx->session_statement_timeout : "0");
	if (schema != NULL && schema[0] != '\0')
	{
		quoted = PQescapeIdentifier(ctx->conn, schema, strlen(schema));
		if (quoted == NULL)
			return conn_set_search_path(ctx->conn, schema, true, err); /* reports why */
		values[3] = quoted;
	}
	/* one round trip: this runs twice in every migration */
	ok = db_run(
		ctx->conn,
		"SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('lock_timeout', $2, true), "
		"pg_catalog.set_config('statement_timeout', $3, true), "
		"pg_catalog.set_config('search_path', $4, true)",
		4, values, PGRES_TUPLES_OK, NULL, err, NULL);
	PQfreemem(quoted);
	return ok;
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
		err->message = xasprintf(
			"the run lock \"%s\" is no longer held by this run (its connection was ended or the lock released): "
			"another run may be applying migrations; rolled back",
			ctx->lock_name);
	}
	return held == 1;
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
 * The connection broke while COMMIT was in flight (for a no-transaction
 * file: while its history row was being written, after every statement
 * ran): the server may or may not have committed.  Ask it, on a new
 * connection (waiting up to --wait), whether the row is there as applied:
 * the row commits with the migration.
 */
char *
apply_session_commit_outcome(apply_ctx *ctx, const migration *m)
{
	const char *not_applied = m->no_transaction
								  ? "its statements all ran and stay committed, but it is not recorded as "
									"applied; run again (it starts again from its first statement)"
								  : "nothing of it is applied; run again";

	PGconn     *conn = NULL;
	char        vbuf[24];
	const char *values[1] = {vbuf};
	char       *sql;
	PGresult   *res;
	char       *line;

	snprintf(vbuf, sizeof(vbuf), "%lld", (long long) m->version);
	if (conn_open(ctx->conn_opts, &conn) != EXIT_OK)
		return xasprintf("migration %lld: connection lost during COMMIT, and the server could not be reached "
						 "again: the outcome is unknown; run \"migrator status\" when it is back",
						 (long long) m->version);
	sql = xasprintf("SELECT status FROM %s WHERE version = $1::pg_catalog.int8", ctx->ht->qualified);
	res = db_query(conn, "reading the history after a lost COMMIT", sql, 1, values, PGRES_TUPLES_OK);
	free(sql);
	if (res == NULL)
		line = xasprintf("migration %lld: connection lost during COMMIT; the history could not be read: the "
						 "outcome is unknown; run \"migrator status\"",
						 (long long) m->version);
	else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "applied") == 0)
		line =
			xasprintf("migration %lld: connection lost during COMMIT; reconnected: it WAS committed and is "
					  "recorded as applied; run again to continue",
					  (long long) m->version);
	else
		line = xasprintf("migration %lld: connection lost during COMMIT; reconnected: it was NOT committed "
						 "(no applied history row); %s",
						 (long long) m->version, not_applied);
	PQclear(res);
	conn_close(conn);
	return line;
}
