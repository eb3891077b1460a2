/*-------------------------------------------------------------------------
 *
 * run_lock.c
 *	  The migrator's run lock, and the history read under it in the same
 *	  round trip.
 *
 * The pipeline here is the smallest one that does the job (two statements,
 * a sync after each, results read in order); it polls the socket with the
 * signal pipe as common/query.c does, so a signal still ends the wait.
 *
 * migrator/run_lock.c
 *
 *-------------------------------------------------------------------------
 */
#include "run_lock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advlock.h"
#include "cancel.h"
#include "conn.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"

int
run_lock_take(run_state *rs)
{
	int rc;

	rs->lock_name = advlock_name(ADVLOCK_MIGRATOR, rs->ht.qualified); /* quoted: unambiguous */
	rs->lock_conn = conn_open_like(&rs->opts->conn);
	if (rs->lock_conn == NULL)
		return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	rc = advlock_acquire(rs->lock_conn, rs->lock_name, rs->opts->lock_wait_ms, PROGNAME);
	if (rc == EXIT_OK)
		rs->locked = true;
	return rc;
}

/* The next result of a pipeline, waiting with the signal pipe; NULL on loss or signal. */
static PGresult *
next_result(PGconn *conn, bool *failed)
{
	while (PQisBusy(conn))
	{
		struct pollfd fds[2] = {{.fd = PQsocket(conn), .events = POLLIN},
								{.fd = cancel_wakeup_fd(), .events = POLLIN}};

		if (cancel_pending() || fds[0].fd < 0)
		{
			*failed = true;
			return NULL;
		}
		if (poll(fds, fds[1].fd >= 0 ? 2 : 1, 1000) < 0 && errno != EINTR)
		{
			*failed = true;
			return NULL;
		}
		if (!PQconsumeInput(conn))
		{
			*failed = true;
			return NULL;
		}
	}
	return PQgetResult(conn);
}

/*
 * The result of the statement before the next sync: its one result, then
 * the NULL that ends it, then the sync.  NULL (and *failed) on loss.
 */
static PGresult *
statement_result(PGconn *conn, bool *failed)
{
	PGresult *res = next_result(conn, failed);
	PGresult *end;

	if (res == NULL)
	{
		*failed = true;
		return NULL;
	}
	end = next_result(conn, failed);
	if (end != NULL)
	{
		PQclear(end);
		*failed = true;
	}
	end = *failed ? NULL : next_result(conn, failed);
	if (end == NULL || PQresultStatus(end) != PGRES_PIPELINE_SYNC)
		*failed = true;
	PQclear(end);
	return res;
}

/*
 * Send the try-lock and the history SELECT as two statements with a sync
 * after each (two implicit transactions, the second's snapshot taken after
 * the first ended), read both, and leave pipeline mode.  *lock_res and
 * *hist_res are the two results (caller clears).  False when the
 * connection failed or a signal came.
 */
static bool
pipeline_lock_and_select(PGconn *conn, const char *key, const char *select_sql, PGresult **lock_res,
						 PGresult **hist_res)
{
	const char *values[1] = {key};
	bool        failed = false;

	*lock_res = *hist_res = NULL;
	if (!PQenterPipelineMode(conn) ||
		!PQsendQueryParams(conn, "SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int8)", 1, NULL,
						   values, NULL, NULL, 0) ||
		!PQpipelineSync(conn) || !PQsendQueryParams(conn, select_sql, 0, NULL, NULL, NULL, NULL, 0) ||
		!PQpipelineSync(conn))
		return false;
	*lock_res = statement_result(conn, &failed);
	if (!failed)
		*hist_res = statement_result(conn, &failed);
	return !failed && PQexitPipelineMode(conn);
}

/* Was the lock granted?  -1 when its statement failed. */
static int
lock_granted(const PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return -1;
	return strcmp(PQgetvalue(res, 0, 0), "t") == 0;
}

/* The slow path: today's wait for the lock, then history_load under it. */
static int
take_then_read(run_state *rs)
{
	int rc = rs->lock_conn ? advlock_acquire(rs->lock_conn, rs->lock_name, rs->opts->lock_wait_ms, PROGNAME)
						   : run_lock_take(rs);

	if (rc != EXIT_OK)
		return rc;
	rs->locked = true;
	return history_load(rs->conn, &rs->ht, &rs->hist);
}

int
run_lock_take_and_read_history(run_state *rs)
{
	bool      present;
	int       rc = history_vet(rs->conn, &rs->ht, &present);
	char      key[24];
	char     *sql;
	PGresult *lock_res, *hist_res;
	bool      sent;
	int       granted;

	if (rc != EXIT_OK)
		return rc;
	if (!present) /* absent: history_load looks again, under the lock */
		return take_then_read(rs);
	rs->lock_name = advlock_name(ADVLOCK_MIGRATOR, rs->ht.qualified);
	rs->lock_conn = conn_open_like(&rs->opts->conn);
	if (rs->lock_conn == NULL)
		return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	snprintf(key, sizeof(key), "%lld", (long long) advlock_key(rs->lock_name));
	sql = history_select_sql(&rs->ht);
	sent = pipeline_lock_and_select(rs->lock_conn, key, sql, &lock_res, &hist_res);
	free(sql);
	granted = sent ? lock_granted(lock_res) : -1;
	if (granted == 1 && PQresultStatus(hist_res) == PGRES_TUPLES_OK)
	{
		rs->locked = true;
		log_event(LOG_LEVEL_DEBUG, "lock_acquired", NULL, "took the run lock \"%s\"", rs->lock_name);
		history_from_result(hist_res, &rs->hist);
	}
	PQclear(lock_res);
	PQclear(hist_res); /* copied above, or read without the lock: never used */
	if (rs->locked)
		return EXIT_OK;
	if (cancel_pending())
		return cancel_exit_code();
	if (!sent || granted < 0)
	{
		log_event(LOG_LEVEL_ERROR, "connection_lost", NULL, "taking the run lock \"%s\": %s", rs->lock_name,
				  PQerrorMessage(rs->lock_conn));
		return EXIT_UNREACHABLE;
	}
	if (granted == 1) /* the table changed since it was vetted: read it again, locked */
	{
		rs->locked = true;
		return history_load(rs->conn, &rs->ht, &rs->hist);
	}
	return take_then_read(rs);
}
