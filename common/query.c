/*-------------------------------------------------------------------------
 *
 * query.c
 *	  Running one statement: asynchronously, cancellably, watched.
 *
 * common/query.c
 *
 *-------------------------------------------------------------------------
 */
#include "query.h"

#include <errno.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>

#include "cancel.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "retry.h"

/* how long one select() may sleep when no watch asks for less */
#define POLL_SLICE_MS 100

static bool
status_matches(ExecStatusType got, ExecStatusType expect)
{
	if (expect == DB_EXPECT_ANY_OK)
		return got == PGRES_COMMAND_OK || got == PGRES_TUPLES_OK;
	return got == expect;
}

/*
 * Wait until the socket is readable, a signal came (the self-pipe) or
 * slice_ms passed; false on error.
 */
static bool
wait_socket(PGconn *conn, int64_t slice_ms)
{
	struct pollfd fds[2];
	int           n = 0;

	fds[n].fd = PQsocket(conn);
	fds[n++].events = POLLIN;
	if (fds[0].fd < 0)
		return false;
	fds[n].fd = cancel_wakeup_fd();
	fds[n].events = POLLIN;
	if (fds[n].fd >= 0)
		n++;
	if (poll(fds, (nfds_t) n, (int) slice_ms) < 0 && errno != EINTR)
		return false;
	return true;
}

/*
 * The server did not answer a signal's cancel in time: give the connection
 * up and say what that means for the statement.  Inside a transaction block
 * nothing can commit any more (COMMIT is never sent); a statement outside
 * one may still finish on the server.
 */
static void
abandon_after_signal(PGconn *conn, bool canceled, bool in_block, db_error *err)
{
	cancel_abandon_connection(conn);
	db_error_clear(err);
	err->cls = PGERR_CANCELED_BY_US;
	if (!canceled)
		err->message = xasprintf("the server did not answer within %ds of the signal (the network may be "
								 "down); the connection was closed: the statement's outcome is not known",
								 CANCEL_CONFIRM_MS / 1000);
	else
		err->message =
			xasprintf("the server did not answer the cancel within %ds (the network may be down); "
					  "the connection was closed: %s",
					  CANCEL_CONFIRM_MS / 1000,
					  in_block ? "cancel not confirmed; nothing was committed"
							   : "cancel not confirmed; the statement may still complete on the server");
	log_event(LOG_LEVEL_WARNING, "cancel_not_confirmed", NULL, "%s: %s", cancel_signal_name(), err->message);
}

bool
db_run(PGconn *conn, const char *sql, int nparams, const char *const *values, ExecStatusType expect,
	   PGresult **res_out, db_error *err, const db_watch *watch)
{
	return db_run_ex(conn, sql, nparams, values, expect, res_out, err, watch, true);
}

answer_wait
db_answer_wait_start(const db_watch *watch)
{
	int64_t     now = monotonic_ms();
	answer_wait w = {now, watch ? now + watch->tick_ms : INT64_MAX, INT64_MAX, false};

	return w;
}

/* How long the next wait for the socket may sleep. */
static int64_t
poll_slice(const answer_wait *w, const db_watch *watch, int64_t now)
{
	int64_t slice = POLL_SLICE_MS;

	if (watch && w->next_tick - now < slice)
		slice = w->next_tick - now > 0 ? w->next_tick - now : 1;
	if (w->confirm_by != INT64_MAX && w->confirm_by - now < slice)
		slice = w->confirm_by - now;
	return slice;
}

/*
 * One turn of a wait for the server: a signal's cancel and its bound, the
 * watch, then the socket (or a signal) for a slice.  WAIT_ABANDONED when a
 * signal's cancel was not confirmed in time (err says so), WAIT_TROUBLE
 * when the socket cannot be waited on (libpq tells what next).
 */
typedef enum wait_turn_result
{
	WAIT_AGAIN,
	WAIT_ABANDONED,
	WAIT_TROUBLE
} wait_turn_result;

static wait_turn_result
wait_turn(PGconn *conn, const db_watch *watch, bool interruptible, bool in_block, answer_wait *w,
		  db_error *err)
{
	int64_t now = monotonic_ms();

	if (cancel_pending() && w->confirm_by == INT64_MAX)
	{
		/* sent from a helper thread: PQcancel can block for good */
		if (interruptible)
			cancel_request(conn);
		w->canceled = w->canceled || interruptible;
		/*
		 * After a signal nothing waits longer for a server that does not
		 * answer, clean-up statements (a ROLLBACK, a history row) included:
		 * the run ends within the cancel's bounds, not at the backstop's.
		 */
		w->confirm_by = now + CANCEL_CONFIRM_MS;
	}
	if (now >= w->confirm_by)
	{
		PGresult *res;

		abandon_after_signal(conn, interruptible, in_block, err);
		/* libpq now sees the connection closed: collect its error */
		while ((res = PQgetResult(conn)) != NULL)
			PQclear(res);
		return WAIT_ABANDONED;
	}
	if (watch && now >= w->next_tick)
	{
		if (!w->canceled && watch->tick(watch->arg, now - w->start))
		{
			cancel_request(conn);
			w->canceled = true;
		}
		w->next_tick = now + watch->tick_ms;
	}
	return wait_socket(conn, poll_slice(w, watch, now)) ? WAIT_AGAIN : WAIT_TROUBLE;
}

/* query.h has the contract. */
bool
db_await_answer(PGconn *conn, const db_watch *watch, bool interruptible, bool in_block, answer_wait *w,
				db_error *err)
{
	for (;;)
	{
		if (!PQconsumeInput(conn))
			return true; /* connection trouble: PQgetResult tells */
		if (!PQisBusy(conn))
			return true;
		switch (wait_turn(conn, watch, interruptible, in_block, w, err))
		{
			case WAIT_AGAIN:
				break;
			case WAIT_ABANDONED:
				return false;
			case WAIT_TROUBLE:
				return true;
		}
	}
}

/*
 * COPY to or from the client: no data travels through the toolkit.  End the
 * copy so that the server fails the statement and the connection comes back;
 * left alone, libpq would return the COPY state forever.  False for COPY
 * BOTH (replication), which cannot be ended so: stop reading results.
 */
static bool
end_client_copy(PGconn *conn, ExecStatusType status)
{
	if (status == PGRES_COPY_IN)
		(void) PQputCopyEnd(conn, "COPY FROM STDIN is not supported by this client");
	else if (status == PGRES_COPY_OUT)
	{
		char *buf;

		while (PQgetCopyData(conn, &buf, 0) > 0)
			PQfreemem(buf);
	}
	else
		return false; /* COPY BOTH (replication): nothing sensible to do */
	return true;
}

static void
set_copy_error(db_error *err, ExecStatusType status)
{
	db_error_clear(err);
	err->cls = PGERR_OTHER;
	err->message =
		xstrdup(status == PGRES_COPY_IN ? "COPY FROM STDIN is not supported: no data is sent from the client"
										: "COPY TO STDOUT is not supported: no data is read by the client");
}

static bool
is_copy_status(ExecStatusType status)
{
	return status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH;
}

/*
 * Read every result of the statement; the first failure wins and fills err.
 * With keep_last, *keep is the last result of a successful statement (NULL
 * after a failure); otherwise every result is cleared.  True on success.
 */
static bool
drain_results(PGconn *conn, ExecStatusType expect, bool canceled, bool keep_last, PGresult **keep,
			  db_error *err)
{
	PGresult *res;
	bool      ok = true;
	bool      got_result = false;

	*keep = NULL;
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType status = PQresultStatus(res);

		got_result = true;
		if (is_copy_status(status))
		{
			PQclear(res);
			if (ok)
			{
				ok = false;
				set_copy_error(err, status);
			}
			if (!end_client_copy(conn, status))
				break;
			continue;
		}
		if (ok && !status_matches(status, expect))
		{
			ok = false;
			db_error_from_result(err, conn, res, canceled);
		}
		if (ok && keep_last)
		{
			PQclear(*keep);
			*keep = res;
		}
		else
			PQclear(res);
		/* a broken connection may keep returning error results */
		if (PQstatus(conn) == CONNECTION_BAD)
			break;
	}
	if (ok && (!got_result || PQstatus(conn) == CONNECTION_BAD))
	{
		ok = false;
		db_error_from_conn(err, conn, canceled);
	}
	if (!ok)
	{
		PQclear(*keep);
		*keep = NULL;
	}
	return ok;
}

/*
 * Whether sql is the toolkit's own COMMIT: a cancel not confirmed while it
 * is in flight cannot say that nothing was committed.
 */
static bool
is_commit(const char *sql)
{
	return strncmp(sql, "COMMIT", 6) == 0 && (sql[6] == '\0' || sql[6] == ';' || sql[6] == ' ');
}

bool
db_run_ex(PGconn *conn, const char *sql, int nparams, const char *const *values, ExecStatusType expect,
		  PGresult **res_out, db_error *err, const db_watch *watch, bool interruptible)
{
	answer_wait             w = db_answer_wait_start(watch);
	PGTransactionStatusType before = PQtransactionStatus(conn);
	bool      in_block = (before == PQTRANS_INTRANS || before == PQTRANS_INERROR) && !is_commit(sql);
	PGresult *keep;

	if (res_out)
		*res_out = NULL;
	db_error_clear(err);

	if (interruptible && cancel_pending())
	{
		err->cls = PGERR_CANCELED_BY_US;
		err->message = xstrdup("canceled before the statement was sent");
		return false;
	}

	if (!PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0))
	{
		db_error_from_conn(err, conn, false);
		return false;
	}

	if (!db_await_answer(conn, watch, interruptible, in_block, &w, err))
		return false;
	if (interruptible && cancel_pending())
		w.canceled = true;

	if (!drain_results(conn, expect, w.canceled, res_out != NULL, &keep, err))
		return false;
	if (res_out)
		*res_out = keep;
	return true;
}

/* The data rows of the COPY whose COPY_OUT result was just read, into rows. */
static bool
read_copy_data(PGconn *conn, copy_rows *rows, bool in_block, answer_wait *w, db_error *err)
{
	for (;;)
	{
		char *buf;
		int   len = PQgetCopyData(conn, &buf, 1);

		if (len > 0)
		{
			copy_rows_add(rows, buf, len);
			PQfreemem(buf);
			continue;
		}
		if (len < 0)
			return true; /* its end, or an error: the next result says */
		/* no whole row buffered: wait for the socket, then read what came (never the other way round) */
		if (wait_turn(conn, NULL, true, in_block, w, err) == WAIT_ABANDONED)
			return false;
		if (!PQconsumeInput(conn))
			return true;
	}
}

bool
db_copy_out(PGconn *conn, const char *sql, copy_rows *rows, db_error *err)
{
	answer_wait w = db_answer_wait_start(NULL);
	bool        in_block = PQtransactionStatus(conn) == PQTRANS_INTRANS;
	PGresult   *res, *keep;

	db_error_clear(err);
	if (cancel_pending())
	{
		err->cls = PGERR_CANCELED_BY_US;
		err->message = xstrdup("canceled before the statement was sent");
		return false;
	}
	if (!PQsendQuery(conn, sql))
	{
		db_error_from_conn(err, conn, false);
		return false;
	}
	if (!db_await_answer(conn, NULL, true, in_block, &w, err))
		return false;
	res = PQgetResult(conn);
	if (res != NULL && PQresultStatus(res) == PGRES_COPY_OUT)
	{
		PQclear(res);
		if (!read_copy_data(conn, rows, in_block, &w, err))
			return false;
		if (!db_await_answer(conn, NULL, true, in_block, &w, err))
			return false;
		/* the COPY's own end, then what followed it (a SELECT, a COMMIT) */
		return drain_results(conn, DB_EXPECT_ANY_OK, w.canceled || cancel_pending(), false, &keep, err);
	}
	if (res == NULL)
		db_error_from_conn(err, conn, w.canceled || cancel_pending());
	else
		db_error_from_result(err, conn, res, w.canceled || cancel_pending());
	PQclear(res);
	while ((res = PQgetResult(conn)) != NULL)
		PQclear(res);
	return false;
}

PGresult *
db_query(PGconn *conn, const char *what, const char *sql, int nparams, const char *const *values,
		 ExecStatusType expect)
{
	db_error  err = {0};
	PGresult *res;

	if (!db_run(conn, sql, nparams, values, expect, &res, &err, NULL))
	{
		char *msg = db_error_format(&err);

		log_event(LOG_LEVEL_ERROR, "query_failed", NULL, "%s: %s", what, msg);
		free(msg);
		db_error_clear(&err);
		return NULL;
	}
	return res;
}

int
db_create_schema(PGconn *conn, const char *schema)
{
	char    *quoted = PQescapeIdentifier(conn, schema, strlen(schema));
	char    *sql = quoted ? xasprintf("CREATE SCHEMA %s", quoted) : NULL;
	db_error err = {0};
	int      rc = EXIT_OK;

	if (sql == NULL || !db_run(conn, sql, 0, NULL, PGRES_COMMAND_OK, NULL, &err, NULL))
	{
		char *msg = sql ? db_error_format(&err) : xstrdup(PQerrorMessage(conn));

		/* 42P06: duplicate_schema */
		rc = strcmp(err.sqlstate, "42P06") == 0 ? EXIT_USAGE : EXIT_CHANGE_FAILED;
		log_event(LOG_LEVEL_ERROR, "schema_create_failed", NULL, "creating the schema \"%s\": %s%s", schema,
				  msg,
				  rc == EXIT_USAGE ? " (another session created it since it was found missing: see who owns "
									 "it, then run again)"
								   : "");
		free(msg);
	}
	db_error_clear(&err);
	PQfreemem(quoted);
	free(sql);
	return rc;
}

bool
db_command(PGconn *conn, const char *what, const char *sql)
{
	PGresult *res = db_query(conn, what, sql, 0, NULL, PGRES_COMMAND_OK);
	bool      ok = res != NULL;

	PQclear(res);
	return ok;
}

bool
db_command_uninterruptible(PGconn *conn, const char *what, const char *sql)
{
	db_error err = {0};

	if (!db_run_ex(conn, sql, 0, NULL, PGRES_COMMAND_OK, NULL, &err, NULL, false))
	{
		char *msg = db_error_format(&err);

		log_event(LOG_LEVEL_WARNING, "query_failed", NULL, "%s: %s", what, msg);
		free(msg);
		db_error_clear(&err);
		return false;
	}
	return true;
}

char *
db_text_array_literal(const char *const *items, int n)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append_char(&sb, '{');
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			textbuf_append_char(&sb, ',');
		if (items[i] == NULL)
		{
			textbuf_append(&sb, "NULL");
			continue;
		}
		textbuf_append_char(&sb, '"');
		for (const char *p = items[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				textbuf_append_char(&sb, '\\');
			textbuf_append_char(&sb, *p);
		}
		textbuf_append_char(&sb, '"');
	}
	textbuf_append_char(&sb, '}');
	return textbuf_detach(&sb);
}

/* See query.h. */
int
db_exists(PGconn *conn, const char *what, const char *sql, int nparams, const char *const *values)
{
	PGresult *res = db_query(conn, what, sql, nparams, values, PGRES_TUPLES_OK);
	int       found;

	if (res == NULL)
		return -1;
	found = PQntuples(res) > 0;
	PQclear(res);
	return found;
}
