/*-------------------------------------------------------------------------
 *
 * parallel_slot.c
 *	  Several statements in flight at once, one per connection.
 *
 * common/parallel_slot.c
 *
 *-------------------------------------------------------------------------
 */
#include "parallel_slot.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "memory.h"
#include "query.h"
#include "retry.h"

void
parallel_slot_init(parallel_slot *slot, PGconn *conn)
{
	memset(slot, 0, sizeof(*slot));
	slot->conn = conn;
}

void
parallel_slot_set_handler(parallel_slot *slot, parallel_slot_handler handler, void *arg)
{
	slot->handler = handler;
	slot->handler_arg = arg;
}

bool
parallel_slot_send(parallel_slot *slot, const char *sql, int nparams, const char *const *values,
				   ExecStatusType expect, db_error *err)
{
	db_error_clear(err);
	if (slot->busy || slot->conn == NULL)
	{
		err->cls = PGERR_OTHER;
		err->message = xstrdup(slot->busy ? "the connection is busy" : "no connection");
		return false;
	}
	if (!PQsendQueryParams(slot->conn, sql, nparams, NULL, values, NULL, NULL, 0))
	{
		db_error_from_conn(err, slot->conn, false);
		return false;
	}
	slot->busy = true;
	slot->cancel_sent = false;
	slot->expect = expect;
	slot->sent_ms = monotonic_ms();
	slot->failed = false;
	slot->keep = NULL;
	db_error_clear(&slot->err);
	return true;
}

bool
parallel_slots_wait(parallel_slot *const *slots, int n, int64_t timeout_ms)
{
	/* poll(), not select(): a socket numbered past FD_SETSIZE stays safe */
	struct pollfd *fds = xcalloc((size_t) n + 1, sizeof(struct pollfd));
	nfds_t         nfds = 0;
	int            rc;
	int            saved_errno;

	for (int i = 0; i < n; i++)
	{
		int sock;

		if (!slots[i]->busy || slots[i]->conn == NULL)
			continue;
		sock = PQsocket(slots[i]->conn);
		if (sock < 0)
			continue;
		fds[nfds].fd = sock;
		fds[nfds++].events = POLLIN;
	}
	/* the self-pipe: a signal delivered to another thread still wakes us */
	if (cancel_wakeup_fd() >= 0)
	{
		fds[nfds].fd = cancel_wakeup_fd();
		fds[nfds++].events = POLLIN;
	}
	if (timeout_ms < 0)
		timeout_ms = 0;
	if (timeout_ms > INT_MAX)
		timeout_ms = INT_MAX;
	/* with no socket to watch this is a plain, interruptible sleep */
	rc = poll(fds, nfds, (int) timeout_ms);
	saved_errno = errno;
	free(fds);
	errno = saved_errno; /* the caller reports it */
	return rc >= 0 || errno == EINTR;
}

static bool
status_matches(ExecStatusType got, ExecStatusType expect)
{
	if (expect == DB_EXPECT_ANY_OK)
		return got == PGRES_COMMAND_OK || got == PGRES_TUPLES_OK;
	return got == expect;
}

bool
parallel_slot_collect(parallel_slot *slot, bool canceled_by_us, bool *ok, PGresult **res_out, db_error *err)
{
	PGresult *res;
	bool      broken = false;
	bool      got_any = slot->keep != NULL || slot->failed;

	if (res_out)
		*res_out = NULL;
	if (!slot->busy)
		return false;

	/* a failed PQconsumeInput means trouble: PQgetResult will tell */
	if (PQconsumeInput(slot->conn) && PQisBusy(slot->conn))
		return false;

	/* every result of the statement; the first failure wins */
	while (!PQisBusy(slot->conn) && (res = PQgetResult(slot->conn)) != NULL)
	{
		got_any = true;
		if (!slot->failed && !status_matches(PQresultStatus(res), slot->expect))
		{
			slot->failed = true;
			db_error_from_result(&slot->err, slot->conn, res, canceled_by_us);
		}
		if (!slot->failed)
		{
			PQclear(slot->keep);
			slot->keep = res;
		}
		else
			PQclear(res);
		/* a broken connection may keep returning error results */
		if (PQstatus(slot->conn) == CONNECTION_BAD)
		{
			broken = true;
			break;
		}
	}
	if (!broken && PQstatus(slot->conn) != CONNECTION_BAD && PQisBusy(slot->conn))
		return false; /* more results are on their way */

	slot->busy = false;
	db_error_clear(err);
	if (!slot->failed && (!got_any || PQstatus(slot->conn) == CONNECTION_BAD))
	{
		slot->failed = true;
		db_error_from_conn(&slot->err, slot->conn, canceled_by_us);
	}
	*ok = !slot->failed;
	if (slot->failed)
	{
		PQclear(slot->keep);
		*err = slot->err; /* hand the error over */
		memset(&slot->err, 0, sizeof(slot->err));
	}
	else if (res_out)
		*res_out = slot->keep;
	else
		PQclear(slot->keep);
	slot->keep = NULL;
	slot->failed = false;
	return true;
}

int
parallel_slots_dispatch(parallel_slot *const *slots, int n, bool canceled_by_us)
{
	int done = 0;

	for (int i = 0; i < n; i++)
	{
		parallel_slot *slot = slots[i];
		bool           ok;
		PGresult      *res = NULL;
		db_error       err = {0};

		if (!slot->busy || !parallel_slot_collect(slot, canceled_by_us || slot->cancel_sent, &ok, &res, &err))
			continue;
		done++;
		if (slot->handler != NULL)
			slot->handler(slot, ok, res, &err, slot->handler_arg);
		PQclear(res);
		db_error_clear(&err);
	}
	return done;
}

bool
parallel_slot_cancel(parallel_slot *slot)
{
	if (!slot->busy || slot->conn == NULL)
		return false;
	slot->cancel_sent = true;
	return cancel_request(slot->conn);
}

void
parallel_slot_abandon(parallel_slot *slot)
{
	PQclear(slot->keep);
	slot->keep = NULL;
	db_error_clear(&slot->err);
	slot->busy = false;
	slot->failed = false;
	slot->cancel_sent = false;
}
