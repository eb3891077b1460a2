/*-------------------------------------------------------------------------
 *
 * apply_session.h
 *	  The session a migration runs in: reset, pinned, committed, and what a
 *	  lost COMMIT left behind.
 *
 * A migration may change anything about its session (RESET ALL, SET ROLE,
 * search_path, temporary tables, through EXECUTE or a function), and the
 * toolkit's own SQL (the history row, the verify file, the run lock check)
 * must still run with the run's role, bounds and an empty search_path.  So
 * every migration starts from a session taken back to what the connection
 * started with (apply_session_reestablish), and inside its transaction the
 * run's settings are pinned again, SET LOCAL, before the toolkit's own SQL
 * (apply_session_pin_local).
 *
 * Right before COMMIT the run lock is confirmed from inside the migration's
 * transaction (apply_session_confirm_run_lock); COMMIT itself is checked
 * against the command tag the server answers (apply_session_commit).  When
 * the connection breaks while COMMIT is in flight, only the server knows
 * whether it committed: apply_session_commit_outcome asks it on a new
 * connection and words the run's last line.
 *
 * None of these functions exits or decides an exit code; each reports
 * through its db_error (or the line it returns) and leaves the policy to
 * apply.c.
 *
 * migrator/apply_session.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef APPLY_SESSION_H
#define APPLY_SESSION_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "apply.h"
#include "migration_files.h"
#include "pgerr.h"
#include "pipeline.h"

/*
 * Set lock_timeout and, unless s leaves it to the session (-1), also
 * statement_timeout, through set_config() with the values as parameters;
 * is_local: SET LOCAL (only inside a transaction).  Returns false with err
 * filled when the server refuses.
 */
bool apply_session_set_timeouts(PGconn *conn, const apply_settings *s, bool is_local, db_error *err);

/*
 * DISCARD ALL, then the toolkit's settings again (empty search_path,
 * lock_timeout, --role if given), reading back the session's own
 * statement_timeout and role into ctx->session_statement_timeout and
 * ctx->session_role (replacing what they held), and setting
 * ctx->event_triggers when an enabled event trigger exists (a migration's
 * code may have made one; apply_residue.h).  Must run outside a
 * transaction; uninterruptible, so that it also cleans up after a cancel.
 * Returns false with err filled on failure.
 */
bool apply_session_reestablish(apply_ctx *ctx, db_error *err);

/*
 * Inside a transaction: SET LOCAL the run's role (--role, else the
 * session's own), lock_timeout, statement_timeout (--statement-timeout,
 * else the session's own) and search_path (schema, or the empty one when
 * NULL or "").  One round trip.  Returns false with err filled on failure.
 */
bool apply_session_pin_local(apply_ctx *ctx, const char *schema, db_error *err);

/*
 * apply_session_pin_local's statement appended to p (the values copied),
 * as the execution of the prepared statement of that name when prepared
 * is not NULL (apply_session_pin_sql prepared).  False when the schema
 * cannot be quoted (nothing appended).
 */
bool        apply_session_pin_add(apply_ctx *ctx, pipeline *p, const char *schema, const char *prepared);
const char *apply_session_pin_sql(void);

/*
 * Is the run lock still held by ctx->lock_conn?  Asked on ctx->conn, inside
 * the migration's transaction.  Returns true when held (or when there is no
 * lock connection); false with err filled when the query failed, or when
 * the lock is gone (err->cls PGERR_OTHER, a sentence naming the lock).
 */
bool apply_session_confirm_run_lock(apply_ctx *ctx, db_error *err);

/* The sentence of a lost run lock (ctx_arg: the apply_ctx); caller frees. */
char *apply_session_lock_lost(void *ctx_arg);

/*
 * COMMIT.  Returns true only when the server answered "COMMIT"; a COMMIT of
 * a failed transaction answers ROLLBACK with success, which is returned as
 * false with err->cls PGERR_OTHER.  On a server or connection error, false
 * with err filled.
 */
bool apply_session_commit(apply_ctx *ctx, db_error *err);

/*
 * A pipeline_judge_fn (arg unused) for a COMMIT: holds when the server
 * answered "COMMIT"; otherwise the problem (a COMMIT of a failed
 * transaction answers ROLLBACK, with success).
 */
char *apply_session_judge_commit(void *arg, const PGresult *res);

/*
 * apply_session_commit, and in the same round trip (behind a Sync, so that
 * it cannot change what COMMIT does) apply_session_reestablish's reset.
 * Returns what apply_session_commit would; ctx->session_clean is true when
 * the reset succeeded too (a failed reset is not the migration's failure:
 * the next one resets on its own).  reset false: COMMIT alone, for a
 * migration that cannot have changed the session (apply_residue.h), which
 * the caller vouches was clean before it; ctx->session_clean is then true
 * when COMMIT succeeded.
 */
bool apply_session_commit_reset(apply_ctx *ctx, bool reset, db_error *err);

/*
 * The connection broke while COMMIT was in flight (for a no-transaction
 * file: while its history row was written): open a new connection
 * (waiting up to --wait) and read m's history row.  No row is "not
 * committed" only once the session that sent COMMIT (ctx->conn_pid) has
 * left the server: until then its COMMIT may still be running (a deferred
 * trigger, a synchronous standby), so it is awaited, up to --wait but at
 * least 10s, and then called unknown.  rider: the migration whose batch
 * went behind m's held COMMIT (never committed: its own COMMIT is sent
 * only after its answers), named in the line; or NULL.  Returns the line
 * that ends the run (caller frees): committed, not committed, or unknown
 * when the server or the history cannot be read.  Never touches ctx->conn.
 * After a signal it does not reconnect: the outcome is unknown, and the
 * line says so ("interrupted by SIGTERM: ... cancel not confirmed").
 */
char *apply_session_commit_outcome(apply_ctx *ctx, const migration *m, const migration *rider);

#endif /* APPLY_SESSION_H */
