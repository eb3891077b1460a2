/*-------------------------------------------------------------------------
 *
 * apply.c
 *	  Applying one migration, fail-hard, with bounded lock waits.
 *
 * migrator/apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockers.h"
#include "cancel.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "options.h"
#include "pgerr.h"
#include "query.h"
#include "retry.h"

/* sample blockers from this age of a statement on, this often */
#define SAMPLE_AFTER_MS 150
#define SAMPLE_EVERY_MS 200
/* how often a long lock wait is reported while it lasts */
#define WAIT_REPORT_MS 5000

/* What is known about the statement in flight, for the watch. */
typedef struct statement_watch
{
	apply_ctx   *ctx;
	int          backend_pid;
	const char  *where; /* "path:line" */
	blocker_list last;  /* last non-empty sample */
	int64_t      last_report_ms;
} statement_watch;

/* Where a failure happened, for the final line. */
typedef struct failure
{
	const char *path;
	int         line;
	db_error    err;
	char       *verify_problem; /* set for a verify that returned no truth */
} failure;

/* once per run, backing off when it cannot connect (see blockers.h) */
static PGconn *
side_connection(apply_ctx *ctx)
{
	ctx->side.opts = ctx->conn_opts;
	return blockers_side_get(&ctx->side);
}

static bool
watch_tick(void *arg, int64_t elapsed_ms)
{
	statement_watch *w = arg;
	blocker_list     sample = {0};
	PGconn          *side;

	if (elapsed_ms < SAMPLE_AFTER_MS)
		return false;
	side = side_connection(w->ctx);
	if (side == NULL)
		return false;
	if (blockers_sample(side, w->backend_pid, &sample) && sample.n > 0)
	{
		blockers_copy(&w->last, &sample);
		if (elapsed_ms - w->last_report_ms >= WAIT_REPORT_MS)
		{
			log_event(LOG_LEVEL_INFO, "lock_wait", NULL, "statement at %s has waited %llds for a lock",
					  w->where, (long long) elapsed_ms / 1000);
			blockers_log(&sample, LOG_LEVEL_INFO, "  ");
			w->last_report_ms = elapsed_ms;
		}
	}
	blockers_free(&sample);
	return false; /* lock_timeout bounds the wait, not us */
}

/* set_config() with the value as a parameter; is_local: SET LOCAL */
static bool
set_timeouts(PGconn *conn, const apply_settings *s, bool is_local, db_error *err)
{
	char        lt[32], st[32];
	const char *values[3] = {lt, st, is_local ? "true" : "false"};

	snprintf(lt, sizeof(lt), "%lldms", (long long) s->lock_timeout_ms);
	snprintf(st, sizeof(st), "%lldms", (long long) s->statement_timeout_ms);
	return db_run(conn,
				  "SELECT pg_catalog.set_config('lock_timeout', $1, $3::boolean), "
				  "pg_catalog.set_config('statement_timeout', $2, $3::boolean)",
				  3, values, PGRES_TUPLES_OK, NULL, err, NULL);
}

static bool
run_statement(apply_ctx *ctx, const char *path, const sql_statement *st, db_error *err,
			  blocker_list *blockers_seen)
{
	char           *where = xasprintf("%s:%d", path, st->line);
	statement_watch w = {.ctx = ctx, .backend_pid = PQbackendPID(ctx->conn), .where = where};
	db_watch        watch = {.tick = watch_tick, .arg = &w, .tick_ms = SAMPLE_EVERY_MS};
	bool            ok;

	log_event(LOG_LEVEL_DEBUG, "statement", NULL, "running %s (%s)", where, st->kind);
	ok = db_run(ctx->conn, st->text, 0, NULL, DB_EXPECT_ANY_OK, NULL, err, &watch);
	blockers_copy(blockers_seen, &w.last);
	blockers_free(&w.last);
	free(where);
	return ok;
}

/*
 * Run the verify statements.  Each must return at least one row and every
 * first-column value must be boolean true.  Returns true when they all hold;
 * otherwise fills f (a server error in f->err, anything else in
 * f->verify_problem).
 */
static bool
run_verify(apply_ctx *ctx, migration *m, failure *f)
{
	for (int i = 0; i < m->verify_script.n_stmts; i++)
	{
		const sql_statement *st = &m->verify_script.stmts[i];
		PGresult            *res;
		char                *problem = NULL;

		f->path = m->verify_path;
		f->line = st->line;
		if (!db_run(ctx->conn, st->text, 0, NULL, PGRES_TUPLES_OK, &res, &f->err, NULL))
			return false;
		if (PQntuples(res) == 0)
			problem = xstrdup("verify query returned no rows");
		else if (PQftype(res, 0) != 16 /* BOOLOID */)
			problem = xstrdup("verify query must return a boolean first column");
		else
		{
			for (int r = 0; r < PQntuples(res) && problem == NULL; r++)
			{
				if (PQgetisnull(res, r, 0))
					problem = xasprintf("verify query returned null in row %d", r + 1);
				else if (strcmp(PQgetvalue(res, r, 0), "t") != 0)
					problem = xasprintf("verify query returned false in row %d", r + 1);
			}
		}
		PQclear(res);
		if (problem)
		{
			f->verify_problem = problem;
			return false;
		}
	}
	return true;
}

static void
log_error_details(const db_error *err)
{
	if (err->detail)
		log_event(LOG_LEVEL_ERROR, "error_detail", NULL, "detail: %s", err->detail);
	if (err->hint)
		log_event(LOG_LEVEL_ERROR, "error_hint", NULL, "hint: %s", err->hint);
}

/* The line that ends a failed run. */
static char *
format_final(const migration *m, const failure *f, int attempts)
{
	strbuf sb;

	strbuf_init(&sb);
	strbuf_appendf(&sb, "migration %lld failed at %s:%d: ", (long long) m->version, f->path, f->line);
	if (f->verify_problem)
		strbuf_append(&sb, f->verify_problem);
	else
	{
		char *e = db_error_format(&f->err);

		strbuf_append(&sb, e);
		free(e);
	}
	if (attempts > 1)
		strbuf_appendf(&sb, " (after %d attempts)", attempts);
	return strbuf_detach(&sb);
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
			? "the statement ended the migration's transaction (COMMIT or ROLLBACK inside a migration): what ran before it may be committed; nothing is recorded, fix the file and check the schema"
			: "the statement left a transaction open (BEGIN inside a no-transaction migration); it is rolled back and nothing is recorded");
	return false;
}

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
		bool    ok = true;
		bool    in_tx;

		failure_clear(&f);
		blockers_free(&seen);
		f.path = m->path;
		f.line = m->script.stmts[0].line;

		in_tx = db_run(ctx->conn, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, &f.err, NULL);
		ok = in_tx && set_timeouts(ctx->conn, &ctx->settings, true, &f.err) &&
			 conn_set_search_path(ctx->conn, ctx->conn_opts->schema, true, &f.err);
		for (int i = 0; ok && i < m->script.n_stmts; i++)
		{
			f.line = m->script.stmts[i].line;
			ok = run_statement(ctx, m->path, &m->script.stmts[i], &f.err, &seen) &&
				 transaction_state_ok(ctx, true, &f);
		}
		if (ok && m->verify_script.n_stmts > 0)
			ok = run_verify(ctx, m, &f);
		/* the history row is our SQL: back to pg_catalog only */
		if (ok)
			ok = conn_set_search_path(ctx->conn, NULL, true, &f.err);
		if (ok)
		{
			f.path = m->path;
			ok = history_record(ctx->conn, ctx->ht, m->version, m->name, m->checksum, "applied",
								monotonic_ms() - start, NULL, &f.err);
		}
		/* a signal that came during the last statements: do not commit */
		if (ok && cancel_pending())
		{
			ok = false;
			f.err.cls = PGERR_CANCELED_BY_US;
		}
		if (ok)
		{
			PGresult *commit_res = NULL;

			ok = db_run(ctx->conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, &commit_res, &f.err, NULL);

			/* COMMIT of a failed transaction answers ROLLBACK, with success */
			if (ok && strcmp(PQcmdStatus(commit_res), "COMMIT") != 0)
			{
				ok = false;
				f.err.cls = PGERR_OTHER;
				f.err.message = xasprintf("COMMIT answered \"%s\": the migration was not committed",
										  PQcmdStatus(commit_res));
			}
			PQclear(commit_res);
			if (ok)
			{
				log_event(LOG_LEVEL_INFO, "applied", NULL, "applied %s in %lldms", m->stem,
						  (long long) (monotonic_ms() - start));
				rc = EXIT_OK;
				goto done;
			}
			in_tx = false; /* a failed COMMIT ends the transaction */
			if (f.err.cls == PGERR_CONNECTION_LOST)
			{
				*final_error = xasprintf(
					"migration %lld: connection lost during COMMIT: the outcome is unknown; run \"migrator status\"",
					(long long) m->version);
				rc = EXIT_UNREACHABLE;
				goto done;
			}
		}

		if (in_tx && PQstatus(ctx->conn) == CONNECTION_OK)
			db_command_uninterruptible(ctx->conn, "rolling back", "ROLLBACK");

		if (cancel_pending())
		{
			*final_error =
				xasprintf("interrupted by %s during migration %lld at %s:%d: rolled back, nothing recorded",
						  cancel_signal_name(), (long long) m->version, f.path, f.line);
			rc = cancel_exit_code();
			goto done;
		}
		if (f.err.cls != PGERR_NONE && attempt < max_attempts &&
			pgerr_action_for(f.err.cls) == PGERR_ACTION_RETRY && f.verify_problem == NULL)
		{
			if (!announce_retry(m, &f, &seen, attempt, max_attempts))
			{
				*final_error =
					xasprintf("interrupted by %s while waiting to retry migration %lld: nothing recorded",
							  cancel_signal_name(), (long long) m->version);
				rc = cancel_exit_code();
				goto done;
			}
			continue;
		}
		if (f.err.cls != PGERR_NONE)
			log_error_details(&f.err);
		announce_blockers(&f, &seen);
		*final_error = format_final(m, &f, attempt);
		rc = EXIT_CHANGE_FAILED;
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
static void
record_failed(apply_ctx *ctx, migration *m, const char *what, int64_t duration_ms)
{
	db_error err = {0};

	if (PQstatus(ctx->conn) != CONNECTION_OK ||
		!history_record(ctx->conn, ctx->ht, m->version, m->name, m->checksum, "failed", duration_ms, what,
						&err))
	{
		log_event(LOG_LEVEL_ERROR, "record_failed", NULL, "could not record migration %lld as failed: %s",
				  (long long) m->version, err.message ? err.message : "connection lost");
	}
	db_error_clear(&err);
}

/*
 * After a no-transaction migration's statements: the session's own bounds
 * and the empty search_path of the toolkit's SQL again.
 */
static void
restore_session(apply_ctx *ctx)
{
	db_error err = {0};

	if (PQstatus(ctx->conn) != CONNECTION_OK)
		return;
	db_command_uninterruptible(ctx->conn, "resetting lock_timeout", "RESET lock_timeout");
	db_command_uninterruptible(ctx->conn, "resetting statement_timeout", "RESET statement_timeout");
	if (!conn_set_search_path(ctx->conn, NULL, false, &err))
		log_warning("resetting search_path: %s", err.message ? err.message : "failed");
	db_error_clear(&err);
}

static int
apply_no_transaction(apply_ctx *ctx, migration *m, char **final_error)
{
	int          max_attempts = ctx->settings.retries + 1;
	int          attempt = 1;
	int64_t      start = monotonic_ms();
	failure      f = {0};
	blocker_list seen = {0};
	int          rc = EXIT_CHANGE_FAILED;
	bool         ok;

	log_event(LOG_LEVEL_INFO, "no_transaction", NULL, "%s runs without a transaction: statement by statement",
			  m->stem);
	f.path = m->path;
	f.line = m->script.stmts[0].line;
	/* session level: SET LOCAL does nothing outside a transaction */
	ok = set_timeouts(ctx->conn, &ctx->settings, false, &f.err) &&
		 conn_set_search_path(ctx->conn, ctx->conn_opts->schema, false, &f.err);
	for (int i = 0; ok && i < m->script.n_stmts; i++)
	{
		f.line = m->script.stmts[i].line;
		ok = run_statement(ctx, m->path, &m->script.stmts[i], &f.err, &seen);
		if (ok && !transaction_state_ok(ctx, false, &f))
		{
			db_command_uninterruptible(ctx->conn, "rolling back the open transaction", "ROLLBACK");
			ok = false;
			break;
		}
		if (!ok && !cancel_pending() && attempt < max_attempts &&
			pgerr_action_for(f.err.cls) == PGERR_ACTION_RETRY)
		{
			/* only this statement rolled back: the earlier ones stay */
			if (!announce_retry(m, &f, &seen, attempt, max_attempts))
				break;
			attempt++;
			db_error_clear(&f.err);
			ok = true;
			i--;
		}
	}
	if (ok && m->verify_script.n_stmts > 0)
		ok = run_verify(ctx, m, &f);
	/* the history row is our SQL: back to pg_catalog only */
	restore_session(ctx);
	if (ok && !cancel_pending())
	{
		f.path = m->path;
		ok = history_record(ctx->conn, ctx->ht, m->version, m->name, m->checksum, "applied",
							monotonic_ms() - start, NULL, &f.err);
		if (ok)
		{
			log_event(LOG_LEVEL_INFO, "applied", NULL, "applied %s in %lldms", m->stem,
					  (long long) (monotonic_ms() - start));
			rc = EXIT_OK;
			goto done;
		}
	}

	if (cancel_pending())
	{
		char *what = xasprintf("%s:%d: interrupted by %s", f.path, f.line, cancel_signal_name());

		record_failed(ctx, m, what, monotonic_ms() - start);
		free(what);
		*final_error = xasprintf(
			"interrupted by %s during no-transaction migration %lld at %s:%d: statements before it stay applied; recorded as failed, the next run starts it again",
			cancel_signal_name(), (long long) m->version, f.path, f.line);
		rc = cancel_exit_code();
		goto done;
	}
	if (f.err.cls != PGERR_NONE)
		log_error_details(&f.err);
	announce_blockers(&f, &seen);
	*final_error = format_final(m, &f, attempt);
	{
		/* the history keeps "path:line: SQLSTATE: message" */
		const char *at = strstr(*final_error, " failed at ");

		record_failed(ctx, m, at ? at + strlen(" failed at ") : *final_error, monotonic_ms() - start);
	}
	log_event(
		LOG_LEVEL_ERROR, "partial", NULL,
		"no-transaction migration %lld stopped at %s:%d: the statements before it stay applied; it is recorded as failed and the next run starts it again from its first statement",
		(long long) m->version, f.path, f.line);

done:
	failure_clear(&f);
	blockers_free(&seen);
	return rc;
}

int
apply_migration(apply_ctx *ctx, migration *m, char **final_error)
{
	*final_error = NULL;
	log_event(LOG_LEVEL_INFO, "applying", NULL, "applying %s", m->stem);
	if (m->no_transaction)
		return apply_no_transaction(ctx, m, final_error);
	return apply_transactional(ctx, m, final_error);
}

void
apply_ctx_close(apply_ctx *ctx)
{
	blockers_side_close(&ctx->side);
}
