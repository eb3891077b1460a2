/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Applying one migration, fail-hard, with bounded lock waits.
 *
 * The attempts, the statements, the verify and what a failure's class
 * leads to are here; the session they run in (reset, pinned, committed,
 * and a lost COMMIT's outcome) is apply_session.c's.
 *
 * migrator/apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"
#include "apply_pipeline.h"
#include "apply_residue.h"
#include "apply_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockers.h"
#include "cancel.h"
#include "exitcodes.h"
#include "history_write.h"
#include "log.h"
#include "memory.h"
#include "options.h"
#include "pgerr.h"
#include "query.h"
#include "retry.h"
#include "relation_trust.h"
#include "skipped_object.h"
#include "statement_index.h"
#include "verify.h"

typedef apply_failure failure;

/* The server's DETAIL and HINT follow the error they belong to: kept for the caller. */
static void
keep_error_details(apply_ctx *ctx, const db_error *err)
{
	free(ctx->final_detail);
	free(ctx->final_hint);
	ctx->final_detail = err->detail ? xstrdup(err->detail) : NULL;
	ctx->final_hint = err->hint ? xstrdup(err->hint) : NULL;
}

/* The line that ends a failed run. */
static char *
format_final(const migration *m, const failure *f, int attempts)
{
	textbuf sb;

	textbuf_init(&sb);
	if (f->not_started)
		textbuf_appendf(&sb,
						"migration %lld (%s) was not started: the session could not be made ready for it: ",
						(long long) m->version, f->path);
	else
		textbuf_appendf(&sb, "migration %lld failed at %s:%d: ", (long long) m->version, f->path, f->line);
	if (f->verify_problem)
		textbuf_append(&sb, f->verify_problem);
	else
	{
		char *e = db_error_format(&f->err);

		textbuf_append(&sb, e);
		free(e);
	}
	if (f->at_commit)
		textbuf_append(&sb, " (at COMMIT)");
	if (f->not_started)
		textbuf_append(&sb, "; none of it ran and nothing is recorded: the file is not at fault");
	if (attempts > 1)
		textbuf_appendf(&sb, " (after %d attempts)", attempts);
	return textbuf_detach(&sb);
}

static void
failure_clear(failure *f)
{
	db_error_clear(&f->err);
	free(f->verify_problem);
	memset(f, 0, sizeof(*f));
}

/* Log a retryable failure and its blockers; sleep the backoff. */
static bool
announce_retry(const migration *m, const failure *f, const blocker_list *seen, int attempt, int max_attempts)
{
	int64_t delay = retry_backoff_ms(attempt, RETRY_BASE_MS, RETRY_CAP_MS);
	char    dbuf[32];
	char   *e = db_error_format(&f->err);

	format_duration(delay, dbuf, sizeof(dbuf));
	log_event(LOG_LEVEL_WARNING, "retry", NULL,
			  "migration %lld: %s at %s:%d (attempt %d of %d); rolled back, retrying in %s",
			  (long long) m->version, e, f->path, f->line, attempt, max_attempts, dbuf);
	free(e);
	if (f->err.cls == PGERR_LOCK_TIMEOUT)
	{
		if (seen->n > 0)
			blockers_log(seen, LOG_LEVEL_WARNING, "  ");
		else
			log_warning("  no blocking session was seen while it waited");
	}
	return sleep_ms_interruptible(delay);
}

/* On the final failure, name the blockers too. */
static void
announce_blockers(const failure *f, const blocker_list *seen)
{
	if (f->err.cls != PGERR_LOCK_TIMEOUT && f->err.cls != PGERR_DEADLOCK &&
		f->err.cls != PGERR_STATEMENT_TIMEOUT)
		return;
	if (seen->n > 0)
		blockers_log(seen, LOG_LEVEL_ERROR, "");
	else if (f->err.cls == PGERR_LOCK_TIMEOUT)
		log_error("no blocking session was seen while the statement waited");
}

/*
 * Did the statement leave the session's transaction as it must be?  A
 * COMMIT or ROLLBACK inside a transactional migration ends the migration's
 * transaction early (what ran before it is committed or gone, and the
 * history row would land outside it); a BEGIN left open in a no-transaction
 * one would swallow the history row into a transaction nobody commits.  The
 * linter refuses both; this is the check that cannot be argued with.
 */
static bool
transaction_state_ok(apply_ctx *ctx, bool want_open, failure *f)
{
	PGTransactionStatusType ts = PQtransactionStatus(ctx->conn);
	bool                    open = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;

	if (ts == PQTRANS_UNKNOWN || open == want_open)
		return true; /* a lost connection is reported by the next step */
	db_error_clear(&f->err);
	f->err.cls = PGERR_OTHER;
	f->err.message = xstrdup(
		want_open
			? APPLY_TX_ENDED
			: "the statement left a transaction open (BEGIN inside a no-transaction migration); it is rolled back and nothing is recorded");
	return false;
}

/* The history row, then the verify file read-only, then the lock check. */
static bool
record_and_verify(apply_ctx *ctx, migration *m, int64_t start, failure *f)
{
	/*
	 * A migration's duration is the server's time from its BEGIN to its
	 * history row, as the pipelined apply records it; a no-transaction one
	 * has no BEGIN of its own: the client's time from its first statement.
	 */
	f->path = m->path;
	if (!apply_session_pin_local(ctx, NULL, &f->err) ||
		!history_record(ctx->conn, ctx->ht, m->version, m->name, m->checksum, "applied",
						m->no_transaction ? monotonic_ms() - start : -1, NULL, ctx->row_failed,
						&ctx->recorded_ms, &f->err))
		return false;
	/* read-only, in a savepoint rolled back (verify.h): it changes nothing, leaves no setting */
	if (m->verify_script.n_stmts > 0 && !apply_run_verify(ctx, m, f))
		return false;
	f->path = m->path;
	return apply_session_confirm_run_lock(ctx, &f->err);
}

/* The migrator does not reconnect mid-run: the run ends, the file not at fault. */
static bool
connection_gone(const apply_ctx *ctx, const failure *f)
{
	return PQstatus(ctx->conn) == CONNECTION_BAD || pgerr_action_for(f->err.cls) == PGERR_ACTION_RECONNECT;
}

/* The run's exit code, from the error-policy table (pgerr.h). */
static int
exit_code_for(pgerr_class cls)
{
	return pgerr_exit_code(cls, cancel_exit_code());
}

/* A failure of the migration itself: its class's code, a verify problem's too. */
static int
failure_exit_code(const failure *f)
{
	return f->err.cls == PGERR_NONE ? EXIT_CHANGE_FAILED : exit_code_for(f->err.cls);
}

/* BEGIN .. the run lock's confirmation, one statement at a time. */
static bool
run_one_by_one(apply_ctx *ctx, migration *m, int64_t start, failure *f, blocker_list *seen, bool *in_tx)
{
	bool ok;

	*in_tx = db_run(ctx->conn, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, &f->err, NULL);
	ok = *in_tx && apply_session_pin_local(ctx, ctx->conn_opts->schema, &f->err);
	for (int i = 0; ok && i < m->script.n_stmts; i++)
	{
		f->line = m->script.stmts[i].line;
		ok = apply_run_statement(ctx, m, &m->script.stmts[i], &f->err, seen) &&
			 transaction_state_ok(ctx, true, f);
	}
	return ok && record_and_verify(ctx, m, start, f);
}

/*
 * One attempt of a transactional migration, up to COMMIT: a clean session,
 * BEGIN, the run's settings, the statements, the history row and the verify
 * file, in one pipeline when they can (apply_pipeline.h), else one by one.
 * Returns true when it may commit; otherwise f says where and why
 * (PGERR_CANCELED_BY_US for a signal that came during the last statements),
 * and *in_tx whether the transaction is open.  Starts f and seen afresh.
 */
static bool
run_until_commit(apply_ctx *ctx, migration *m, int64_t start, failure *f, blocker_list *seen, bool *in_tx)
{
	/* the last COMMIT reset the session and nothing ran since (a required
	 * index is built on this connection first: reset after it) */
	bool clean = ctx->session_clean && m->n_required_indexes == 0;
	bool ok;
	bool redo = false;
	bool piped = false;

	failure_clear(f);
	blockers_free(seen);
	f->path = m->path;
	f->line = m->script.stmts[0].line;
	*in_tx = false;
	ok = clean || apply_session_reestablish(ctx, &f->err);
	f->not_started = !ok;
	if (ok && apply_pipeline_eligible(ctx, m))
	{
		piped = true;
		ok = apply_pipeline_until_commit(ctx, m, f, seen, in_tx, &redo);
		if (redo)
		{
			/* a skipped CREATE ... IF NOT EXISTS is checked right after it */
			log_event(LOG_LEVEL_DEBUG, "pipeline_redo", NULL, "%s runs again statement by statement",
					  m->stem);
			if (*in_tx)
				db_command_uninterruptible(ctx->conn, "rolling back", "ROLLBACK");
			failure_clear(f);
			f->path = m->path;
			f->line = m->script.stmts[0].line;
			ok = apply_session_reestablish(ctx, &f->err);
			f->not_started = !ok;
		}
	}
	if (ok && (redo || !piped))
		ok = run_one_by_one(ctx, m, start, f, seen, in_tx);
	/* a signal that came during the last statements: do not commit */
	if (ok && cancel_pending())
	{
		ok = false;
		f->err.cls = PGERR_CANCELED_BY_US;
	}
	return ok;
}

/* The duration its history row recorded: status shows the same number. */
void
apply_note_applied(apply_ctx *ctx, const migration *m, int64_t recorded_ms)
{
	ctx->n_applied++;
	if (m->version > ctx->max_applied)
		ctx->max_applied = m->version;
	log_event(LOG_LEVEL_INFO, "applied", NULL, "applied %s in %lldms", m->stem, (long long) recorded_ms);
}

/*
 * A quiet migration's COMMIT waits for the next migration's batch (apply.h):
 * its transaction stays open, and the session is as clean after it as
 * before, since nothing in it can change the session (apply_residue.h).
 */
static bool
hold(apply_ctx *ctx, const migration *m)
{
	if (apply_residue_possible(m, ctx->event_triggers))
		return false;
	log_event(LOG_LEVEL_DEBUG, "session_reset", NULL,
			  "%s: cannot change the session: COMMIT alone, in front of the next batch", m->stem);
	ctx->held = m;
	ctx->held_recorded_ms = ctx->recorded_ms;
	ctx->held_line = m->script.stmts[m->script.n_stmts - 1].line;
	ctx->session_clean = true;
	return true;
}

/*
 * The line that ends a transactional migration stopped by SIGINT/SIGTERM at
 * f; rolls back what is open when the connection still answers.
 */
static char *
interrupted_transactional(apply_ctx *ctx, const migration *m, const failure *f, bool in_tx)
{
	/* the cancel helper may have cut a connection that did not answer */
	if (cancel_unconfirmed() || PQstatus(ctx->conn) != CONNECTION_OK)
		return xasprintf("interrupted by %s during migration %lld at %s:%d: cancel not confirmed; "
						 "nothing was committed, nothing recorded",
						 cancel_signal_name(), (long long) m->version, f->path, f->line);
	if (in_tx)
		db_command_uninterruptible(ctx->conn, "rolling back", "ROLLBACK");
	return xasprintf("interrupted by %s during migration %lld at %s:%d: rolled back, nothing recorded",
					 cancel_signal_name(), (long long) m->version, f->path, f->line);
}

/*
 * The held migration's COMMIT did not succeed (f->commit_of, at its last
 * statement's line), so nothing behind it ran: the line that ends the run
 * and the exit code.  A COMMIT whose answer never came (connection lost,
 * cancel not confirmed) is asked about on a new connection; rider (or
 * NULL), queued behind it, is named as not committed.
 */
static int
held_failed(apply_ctx *ctx, failure *f, const migration *rider, char **final_error)
{
	PGTransactionStatusType ts = PQtransactionStatus(ctx->conn);

	if (cancel_unconfirmed() || connection_gone(ctx, f))
	{
		*final_error = apply_session_commit_outcome(ctx, f->commit_of, rider);
		return exit_code_for(cancel_pending() ? PGERR_CANCELED_BY_US : PGERR_OUTCOME_UNKNOWN);
	}
	/* canceled, or never sent: rolled back (a failed COMMIT ended it already) */
	if (cancel_pending())
	{
		*final_error =
			interrupted_transactional(ctx, f->commit_of, f, ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR);
		return exit_code_for(PGERR_CANCELED_BY_US);
	}
	if (f->err.cls != PGERR_NONE)
		keep_error_details(ctx, &f->err);
	f->at_commit = true;
	*final_error = format_final(f->commit_of, f, 1);
	return failure_exit_code(f);
}

int
apply_settle(apply_ctx *ctx, char **final_error)
{
	failure f = {.commit_of = ctx->held};
	int     rc = EXIT_OK;

	if (ctx->held == NULL)
		return EXIT_OK;
	f.path = ctx->held->path;
	f.line = ctx->held_line;
	ctx->held = NULL;
	if (!cancel_pending() && apply_session_commit_reset(ctx, false, &f.err))
		apply_note_applied(ctx, f.commit_of, ctx->held_recorded_ms);
	else
		rc = held_failed(ctx, &f, NULL, final_error);
	failure_clear(&f);
	return rc;
}

/*
 * COMMIT, in its own round trip, after every result of the attempt was
 * read.  The attempt started from a clean session (run_until_commit), so a
 * migration that cannot change it needs no reset after it (apply_residue.h).
 */
static bool
commit_attempt(apply_ctx *ctx, const migration *m, failure *f)
{
	bool reset = apply_residue_possible(m, ctx->event_triggers);

	log_event(LOG_LEVEL_DEBUG, "session_reset", NULL, "%s: %s", m->stem,
			  reset ? "may have changed the session: reset after its COMMIT"
					: "cannot change the session: COMMIT alone");
	return apply_session_commit_reset(ctx, reset, &f->err);
}

#define COMMIT_FAILED (-1)

/*
 * After an attempt that may commit: hold it (apply.h), or COMMIT it.
 * EXIT_OK when held or committed; COMMIT_FAILED when the COMMIT failed (f
 * at the file's last line: a deferred check), a failed attempt to the
 * caller; the code of a COMMIT whose outcome is unknown.
 */
static int
hold_or_commit(apply_ctx *ctx, migration *m, failure *f, char **final_error)
{
	if (hold(ctx, m))
		return EXIT_OK;
	if (commit_attempt(ctx, m, f))
	{
		apply_note_applied(ctx, m, ctx->recorded_ms);
		return EXIT_OK;
	}
	f->path = m->path;
	f->line = m->script.stmts[m->script.n_stmts - 1].line;
	f->at_commit = true;
	if (!connection_gone(ctx, f))
		return COMMIT_FAILED;
	*final_error = apply_session_commit_outcome(ctx, m, NULL);
	return exit_code_for(PGERR_OUTCOME_UNKNOWN);
}

/*
 * Up to retries + 1 attempts of run_until_commit and COMMIT.  What follows a
 * failed attempt (roll back; retry, or report and stop with an exit code)
 * is decided here, by the error's class.
 */
static int
apply_transactional(apply_ctx *ctx, migration *m, char **final_error)
{
	int          max_attempts = ctx->settings.retries + 1;
	failure      f = {0};
	blocker_list seen = {0};
	int          rc = EXIT_CHANGE_FAILED;

	for (int attempt = 1; attempt <= max_attempts; attempt++)
	{
		int64_t start = monotonic_ms();
		bool    in_tx = false;
		bool    ok;

		ok = run_until_commit(ctx, m, start, &f, &seen, &in_tx);

		if (!ok && f.commit_of != NULL)
		{
			rc = held_failed(ctx, &f, m, final_error);
			goto done;
		}
		if (ok)
		{
			rc = hold_or_commit(ctx, m, &f, final_error);
			if (rc != COMMIT_FAILED)
				goto done;
			in_tx = false; /* a failed COMMIT ends the transaction */
		}

		if (cancel_pending())
		{
			*final_error = interrupted_transactional(ctx, m, &f, in_tx);
			rc = exit_code_for(PGERR_CANCELED_BY_US);
			goto done;
		}
		if (connection_gone(ctx, &f))
		{
			/* COMMIT was never sent: the server rolls the transaction back */
			char *e = db_error_format(&f.err);

			*final_error =
				xasprintf("migration %lld: connection to the server lost at %s:%d (%s): it was not "
						  "committed and nothing is recorded; the file is not at fault: run again "
						  "when the server is back",
						  (long long) m->version, f.path, f.line, e);
			free(e);
			rc = exit_code_for(PGERR_CONNECTION_LOST);
			goto done;
		}
		if (in_tx)
			db_command_uninterruptible(ctx->conn, "rolling back", "ROLLBACK");

		if (f.err.cls != PGERR_NONE && attempt < max_attempts &&
			pgerr_action_for(f.err.cls) == PGERR_ACTION_RETRY && f.verify_problem == NULL)
		{
			if (!announce_retry(m, &f, &seen, attempt, max_attempts))
			{
				*final_error =
					xasprintf("interrupted by %s while waiting to retry migration %lld: nothing recorded",
							  cancel_signal_name(), (long long) m->version);
				rc = exit_code_for(PGERR_CANCELED_BY_US);
				goto done;
			}
			continue;
		}
		if (f.err.cls != PGERR_NONE)
			keep_error_details(ctx, &f.err);
		announce_blockers(&f, &seen);
		*final_error = format_final(m, &f, attempt);
		rc = failure_exit_code(&f);
		goto done;
	}

done:
	failure_clear(&f);
	blockers_free(&seen);
	return rc;
}

/*
 * Record a no-transaction migration as failed, so that status and check show
 * it and the next run starts it again.  Uninterruptible: it runs after a
 * cancel too.
 */
static bool
record_failed(apply_ctx *ctx, migration *m, const char *what, int64_t duration_ms)
{
	db_error err = {0};
	bool     ok = PQstatus(ctx->conn) == CONNECTION_OK &&
			  history_record(ctx->conn, ctx->ht, m->version, m->name, m->checksum, "failed", duration_ms,
							 what, ctx->row_failed, NULL, &err);

	if (!ok)
		log_event(LOG_LEVEL_ERROR, "record_failed", NULL, "could not record migration %lld as failed: %s",
				  (long long) m->version, err.message ? err.message : "connection lost");
	db_error_clear(&err);
	return ok;
}

/*
 * The statements of a no-transaction migration, each in autocommit, with
 * session-level bounds (SET LOCAL does nothing outside a transaction).  A
 * retryable failure repeats only that statement: the earlier ones stay.
 */
static bool
run_no_transaction_statements(apply_ctx *ctx, migration *m, failure *f, blocker_list *seen, int *attempt)
{
	int  max_attempts = ctx->settings.retries + 1;
	bool ok = apply_session_set_timeouts(ctx->conn, &ctx->settings, false, &f->err) &&
			  conn_set_search_path(ctx->conn, ctx->conn_opts->schema, false, &f->err);

	for (int i = 0; ok && i < m->script.n_stmts; i++)
	{
		f->line = m->script.stmts[i].line;
		/* a concurrent index build: the indexer's engine, see statement_index.h */
		ok = statement_index_routed(m, &m->script.stmts[i])
				 ? statement_index_build(ctx, m, &m->script.stmts[i], &f->err)
				 : apply_run_statement(ctx, m, &m->script.stmts[i], &f->err, seen);
		if (ok && !transaction_state_ok(ctx, false, f))
		{
			db_command_uninterruptible(ctx->conn, "rolling back the open transaction", "ROLLBACK");
			return false;
		}
		if (!ok && !cancel_pending() && !connection_gone(ctx, f) && *attempt < max_attempts &&
			pgerr_action_for(f->err.cls) == PGERR_ACTION_RETRY)
		{
			if (!announce_retry(m, f, seen, *attempt, max_attempts))
				return false;
			(*attempt)++;
			db_error_clear(&f->err);
			ok = true;
			i--;
		}
	}
	return ok;
}

/*
 * The history row and the verify file of a no-transaction migration, in one
 * transaction of their own: recorded as applied only if the verify holds.
 */
static bool
record_no_transaction(apply_ctx *ctx, migration *m, int64_t start, failure *f)
{
	bool ok = db_run(ctx->conn, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, &f->err, NULL);

	/* the verify may run the user's code: a PREPARE or an advisory lock
	 * outlives its savepoint, so the next migration resets first */
	ctx->session_clean = false;
	if (ok && record_and_verify(ctx, m, start, f) && !cancel_pending() && apply_session_commit(ctx, &f->err))
		return true;
	if (ok && PQtransactionStatus(ctx->conn) != PQTRANS_IDLE && PQstatus(ctx->conn) == CONNECTION_OK)
		db_command_uninterruptible(ctx->conn, "rolling back", "ROLLBACK");
	return false;
}

/*
 * Whatever the statements did to the session, our SQL runs in ours: reset
 * it when the connection still answers.  Returns ok, or false (with the
 * reason in f) when the reset fails after statements that all succeeded; a
 * reset failure after a failed statement keeps the statement's error.
 */
static bool
reset_after_statements(apply_ctx *ctx, failure *f, bool ok)
{
	db_error err = {0};

	if (PQstatus(ctx->conn) != CONNECTION_OK)
		return ok;
	if (!apply_session_reestablish(ctx, &err) && ok)
	{
		f->err = err;
		return false;
	}
	db_error_clear(&err);
	return ok;
}

/*
 * The line that ends a no-transaction migration stopped by SIGINT/SIGTERM
 * at f.  When the connection still answers, it is recorded as failed first.
 */
static char *
interrupted_no_transaction(apply_ctx *ctx, migration *m, const failure *f, int64_t start)
{
	char *what;
	bool  recorded;

	if (cancel_unconfirmed() || PQstatus(ctx->conn) != CONNECTION_OK)
		return xasprintf(
			"interrupted by %s during no-transaction migration %lld at %s:%d: cancel not confirmed; the statement may still complete on the server; statements before it stay applied; not recorded as failed (the connection is closed): run \"migrator status\"",
			cancel_signal_name(), (long long) m->version, f->path, f->line);
	what = xasprintf("%s:%d: interrupted by %s", f->path, f->line, cancel_signal_name());
	recorded = record_failed(ctx, m, what, monotonic_ms() - start);
	free(what);
	return xasprintf(
		"interrupted by %s during no-transaction migration %lld at %s:%d: statements before it stay applied; %s, the next run starts it again",
		cancel_signal_name(), (long long) m->version, f->path, f->line,
		recorded ? "recorded as failed" : "not recorded as failed (see above)");
}

/*
 * The statements, then the history row; what follows a failure (record it
 * as failed or not; which exit code) is decided here, by the error's class.
 */
static int
apply_no_transaction(apply_ctx *ctx, migration *m, char **final_error)
{
	int          attempt = 1;
	int64_t      start = monotonic_ms();
	failure      f = {0};
	blocker_list seen = {0};
	int          rc = EXIT_CHANGE_FAILED;
	bool         recorded;
	bool         ok;
	bool         statements_ran;

	log_event(LOG_LEVEL_INFO, "no_transaction", NULL, "%s runs without a transaction: statement by statement",
			  m->stem);
	f.path = m->path;
	f.line = m->script.stmts[0].line;
	f.not_started = !apply_session_reestablish(ctx, &f.err);
	ok = !f.not_started && run_no_transaction_statements(ctx, m, &f, &seen, &attempt);
	statements_ran = ok;
	ok = reset_after_statements(ctx, &f, ok);
	if (ok && !cancel_pending() && record_no_transaction(ctx, m, start, &f))
	{
		apply_note_applied(ctx, m, ctx->recorded_ms);
		rc = EXIT_OK;
		goto done;
	}

	if (cancel_pending())
	{
		*final_error = interrupted_no_transaction(ctx, m, &f, start);
		rc = exit_code_for(PGERR_CANCELED_BY_US);
		goto done;
	}
	if (connection_gone(ctx, &f) && statements_ran)
	{
		/* lost while its row was written: read what the server kept */
		*final_error = apply_session_commit_outcome(ctx, m, NULL);
		rc = exit_code_for(PGERR_OUTCOME_UNKNOWN);
		goto done;
	}
	if (connection_gone(ctx, &f))
	{
		char *e = db_error_format(&f.err);

		*final_error = xasprintf(
			"no-transaction migration %lld: connection to the server lost at %s:%d (%s): the statements before it stay committed, the outcome of this one is unknown, and nothing is recorded; the file is not at fault: run again when the server is back (it starts again from its first statement)",
			(long long) m->version, f.path, f.line, e);
		free(e);
		rc = exit_code_for(PGERR_CONNECTION_LOST);
		goto done;
	}
	if (f.err.cls != PGERR_NONE)
		keep_error_details(ctx, &f.err);
	announce_blockers(&f, &seen);
	*final_error = format_final(m, &f, attempt);
	rc = failure_exit_code(&f);
	if (f.not_started)
		goto done; /* nothing of it ran: there is nothing to record */
	{
		/* the history keeps "path:line: SQLSTATE: message" */
		const char *at = strstr(*final_error, " failed at ");

		recorded =
			record_failed(ctx, m, at ? at + strlen(" failed at ") : *final_error, monotonic_ms() - start);
	}
	log_event(
		LOG_LEVEL_ERROR, "partial", NULL,
		"no-transaction migration %lld stopped at %s:%d: the statements before it stay applied; %s and the "
		"next run starts it again from its first statement",
		(long long) m->version, f.path, f.line,
		recorded ? "it is recorded as failed" : "it could not be recorded as failed (see above)");

done:
	failure_clear(&f);
	blockers_free(&seen);
	return rc;
}

int
apply_migration(apply_ctx *ctx, migration *m, char **final_error)
{
	int  rc;
	bool rides = ctx->held != NULL && !m->no_transaction && !m->allow_dml && m->n_required_indexes == 0 &&
				 apply_pipeline_eligible(ctx, m);

	*final_error = NULL;
	/* the held COMMIT goes alone when m cannot carry it (apply.h) */
	if (ctx->held != NULL && !rides && (rc = apply_settle(ctx, final_error)) != EXIT_OK)
		return rc;
	/* a rider is applying once the COMMIT in front of it answered */
	if (!rides)
		log_event(LOG_LEVEL_INFO, "applying", NULL, "applying %s", m->stem);
	if (m->allow_dml)
	{
		/*
		 * A data migration fires the triggers of the tables it writes, with
		 * the run's privileges: refuse code of a role that was only granted
		 * TRIGGER.  (A trigger added between this check and the write is not
		 * seen: never grant TRIGGER on tables that migrations write.)
		 */
		char    *found = NULL;
		db_error err = {0};

		/* first the session ours again: the last migration may have moved its path */
		if (!apply_session_reestablish(ctx, &err))
		{
			*final_error = xasprintf("migration %lld: %s", (long long) m->version,
									 err.message ? err.message : "could not reset the session");
			db_error_clear(&err);
			return exit_code_for(PQstatus(ctx->conn) == CONNECTION_OK ? PGERR_OTHER : PGERR_CONNECTION_LOST);
		}
		rc = relation_foreign_triggers(ctx->conn, &found);
		if (rc != EXIT_OK)
			return rc;
		if (found != NULL)
		{
			*final_error = xasprintf(
				"migration %lld (%s) writes data, and tables have triggers whose code belongs to another role: %s; refusing to run their code with this run's privileges: drop those triggers or revoke TRIGGER",
				(long long) m->version, m->path, found);
			free(found);
			return EXIT_USAGE;
		}
	}
	rc = m->no_transaction ? apply_no_transaction(ctx, m, final_error)
						   : apply_transactional(ctx, m, final_error);
	/* the migrations after it run under the event trigger it made */
	if (apply_residue_touches_event_triggers(m))
		ctx->event_triggers = true;
	return rc;
}

void
apply_ctx_close(apply_ctx *ctx)
{
	free(ctx->session_statement_timeout);
	ctx->session_statement_timeout = NULL;
	free(ctx->session_role);
	ctx->session_role = NULL;
	free(ctx->final_detail);
	ctx->final_detail = NULL;
	free(ctx->final_hint);
	ctx->final_hint = NULL;
	blockers_side_close(&ctx->side);
}
