/*-------------------------------------------------------------------------
 *
 * apply.h
 *	  Applying one migration, fail-hard, with bounded lock waits.
 *
 * A transactional migration runs in one transaction with the insert of its
 * history row and its verify queries: all of it or nothing.  Its lock waits
 * are bounded by SET LOCAL lock_timeout; a lock timeout or deadlock rolls it
 * back and, after a backoff, runs it again, up to the retry limit.
 *
 * A no-transaction migration runs statement by statement in autocommit with
 * session-level timeouts (reset afterwards); a failure is recorded with
 * status 'failed', so that status and check show it and the next run starts
 * it again from its first statement.
 *
 * While a statement runs, a second connection samples the sessions that
 * block it, so that a lock timeout can name them (after the timeout the
 * blocking list is empty).
 *
 * migrator/apply.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef APPLY_H
#define APPLY_H

#include <stdint.h>

#include <libpq-fe.h>

#include "blockers.h"
#include "conn.h"
#include "history.h"
#include "migration_files.h"

typedef struct apply_settings
{
	int64_t lock_timeout_ms;      /* 0: none */
	int64_t statement_timeout_ms; /* 0: none; -1: leave the session's own
								   * (DSN options, role or database setting) */
	int     retries;              /* extra attempts after the first */
} apply_settings;

typedef struct apply_ctx
{
	PGconn              *conn;      /* holds the run lock */
	int                  conn_pid;  /* its backend's pid (PQbackendPID() says 0
								 * once the connection is lost) */
	const conn_options  *conn_opts; /* to open the side connection */
	blocker_side         side;      /* the blocker sampler's connection: opened
								 * on first need, closed by apply_ctx_close() */
	const history_table *ht;
	apply_settings       settings;
	const char          *role;                      /* --role, or NULL */
	PGconn              *lock_conn;                 /* holds the run lock and runs nothing
								 * else (NULL: no lock to confirm) */
	const char          *lock_name;                 /* the run lock's name */
	int64_t              lock_wait_ms;              /* --lock-wait, for the indexer's lock */
	char                *session_role;              /* the role the session starts with,
										* read after each DISCARD ALL */
	char                *session_statement_timeout; /* the session's own, read
													 * after each DISCARD ALL */
	bool                 session_clean;             /* reset just now, nothing
								 * ran since (apply_session.h) */
	char                *final_detail;              /* the server's DETAIL and HINT of the error
								 * that ended the run (or NULL): printed after
								 * *final_error, as "detail:" and "hint:" lines */
	char                *final_hint;
	int64_t              recorded_ms;      /* the duration_ms the last history row got:
								 * the "applied ... in" line prints it */
	bool                 prepared;         /* the toolkit's statements are
								 * prepared on conn (apply_pipeline.c);
								 * a reset deallocates them */
	int                  prepared_gen;     /* their names' generation: a new
								 * one after a batch that failed */
	bool                 event_triggers;   /* the database has enabled event
								 * triggers: every migration resets
								 * (apply_residue.h) */
	const migration     *held;             /* a quiet migration whose batch held:
								 * its transaction is open, its COMMIT
								 * not sent yet (see below) */
	int64_t              held_recorded_ms; /* its history row's duration */
	int                  held_line;        /* its last statement's line */
	bool                 row_failed;       /* the migration being applied has a
								 * 'failed' history row (reconcile.h): its
								 * row is updated from 'failed', else a new
								 * one is inserted (history.h) */
	int                  n_applied;        /* migrations committed this run */
	int64_t              max_applied;      /* the highest of them (0: none) */
} apply_ctx;

/*
 * Apply m (already parsed).  Returns EXIT_OK when it is applied and recorded;
 * EXIT_CHANGE_FAILED when it failed (rolled back, or for no-transaction
 * files recorded as failed); EXIT_UNREACHABLE when the connection was lost;
 * the cancel exit code on SIGINT/SIGTERM.  On any failure *final_error gets
 * the one line that must end the run's output (caller frees and prints it
 * last, then ctx->final_detail and ctx->final_hint); the rest was logged
 * already.
 */
int apply_migration(apply_ctx *ctx, migration *m, char **final_error);

/*
 * One round trip per migration: a migration that cannot change its
 * session (apply_residue.h) and whose whole batch held is not committed by
 * apply_migration: it returns EXIT_OK with the migration in ctx->held, its
 * transaction open.  Its COMMIT rides in front of the next migration's
 * batch, in the same write (apply_pipeline.h), when that one can run in a
 * pipeline at once; otherwise apply_migration first sends it alone.  So a
 * migration is applied when ctx->n_applied counts it (the "applied" line is
 * logged then), not when apply_migration returns.
 *
 * apply_settle ends the hold before anything else uses the connection (a
 * required index build, the end of the run): COMMIT alone, or on a pending
 * SIGINT/SIGTERM ROLLBACK (the signal came before its COMMIT was sent).
 * Returns EXIT_OK when nothing was held or it committed; otherwise the
 * code, with *final_error as apply_migration's.
 */
int apply_settle(apply_ctx *ctx, char **final_error);

/* Count m as committed (ctx->n_applied) and log its "applied" line. */
void apply_note_applied(apply_ctx *ctx, const migration *m, int64_t recorded_ms);

void apply_ctx_close(apply_ctx *ctx);

#endif /* APPLY_H */
