/*-------------------------------------------------------------------------
 *
 * parallel_slot.h
 *	  Several statements in flight at once, one per connection, driven
 *	  from one thread (PostgreSQL's fe_utils/parallel_slot.c, our way).
 *
 * A slot is a connection with at most one statement in flight.  The
 * statement is sent with PQsendQueryParams (the extended protocol: one
 * statement per query, always); parallel_slots_wait() sleeps in poll()
 * until a busy slot's socket is readable, a timeout passes or a signal
 * arrives; parallel_slot_collect() reads what arrived and, once the
 * statement is complete, reports its outcome with the same rule as
 * db_run(): success only when every result had the expected status.
 *
 * Like PostgreSQL's ParallelSlotSetHandler, each slot may carry a result
 * handler: parallel_slots_dispatch() collects every busy slot and hands
 * each completed statement to its slot's handler, so the caller's loop
 * never dispatches by hand.
 *
 * Nothing here cancels on a signal by itself: the signal handler only
 * records the signal (and wakes parallel_slots_wait through the self-pipe),
 * so the caller, which knows every slot, polls cancel_pending() and cancels
 * each busy slot (parallel_slot_cancel, sent from a helper thread: it never
 * blocks, and whether the statement ended only its result tells).
 *
 * common/parallel_slot.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_PARALLEL_SLOT_H
#define TOOLKIT_PARALLEL_SLOT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "pgerr.h"

typedef struct parallel_slot parallel_slot;

/*
 * Called by parallel_slots_dispatch() when slot's statement is complete:
 * ok, with res (the last result, or NULL; PQclear()ed after the call, so
 * the handler must not keep it), or failed with err (the handler may take
 * it over and zero it; whatever is left is cleared after the call).
 */
typedef void (*parallel_slot_handler)(parallel_slot *slot, bool ok, PGresult *res, db_error *err, void *arg);

struct parallel_slot
{
	PGconn        *conn;        /* owned by the caller */
	bool           busy;        /* a statement is in flight */
	bool           cancel_sent; /* parallel_slot_cancel() was called for it */
	ExecStatusType expect;      /* PGRES_COMMAND_OK, PGRES_TUPLES_OK or
								 * DB_EXPECT_ANY_OK */
	int64_t        sent_ms;     /* monotonic_ms() when it was sent */
	/* what has arrived so far */
	bool      failed;
	PGresult *keep; /* the last good result, for the caller */
	db_error  err;  /* the first failure */
	/* parallel_slot_set_handler() */
	parallel_slot_handler handler;
	void                 *handler_arg;
};

/* Make slot an idle slot of conn (which may be NULL for now), without a handler. */
void parallel_slot_init(parallel_slot *slot, PGconn *conn);

/* The handler parallel_slots_dispatch() calls for slot, with arg. */
void parallel_slot_set_handler(parallel_slot *slot, parallel_slot_handler handler, void *arg);

/*
 * Send sql with nparams text parameters on an idle slot.  Returns true (the
 * slot is busy until parallel_slot_collect() says it is done), or false
 * with err filled (the caller clears it) when it could not be sent.
 */
bool parallel_slot_send(parallel_slot *slot, const char *sql, int nparams, const char *const *values,
						ExecStatusType expect, db_error *err);

/*
 * Wait until one of the busy slots among slots[0..n-1] has input, or
 * timeout_ms passed, or a signal arrived.  Returns false only when poll()
 * itself failed.
 */
bool parallel_slots_wait(parallel_slot *const *slots, int n, int64_t timeout_ms);

/*
 * Read what has arrived for a busy slot without blocking.  Returns false
 * while the statement is still running.  Once it is complete returns true,
 * marks the slot idle and sets *ok: on success, *res_out (if not NULL)
 * receives the last result (the caller PQclear()s it); on failure err is
 * filled, classified with canceled_by_us (see pgerr_classify), and no
 * result is handed out.
 */
bool parallel_slot_collect(parallel_slot *slot, bool canceled_by_us, bool *ok, PGresult **res_out,
						   db_error *err);

/*
 * parallel_slot_collect() every busy slot among slots[0..n-1] (classified
 * as canceled by us when canceled_by_us or when parallel_slot_cancel() was
 * called for it) and call the handler of each whose statement is complete;
 * a slot without a handler has its outcome dropped.  Returns how many
 * completed.
 */
int parallel_slots_dispatch(parallel_slot *const *slots, int n, bool canceled_by_us);

/*
 * Ask the server to cancel the statement in flight, without blocking
 * (cancel_request); false if no request could be started.
 */
bool parallel_slot_cancel(parallel_slot *slot);

/*
 * Drop whatever is in flight (after a lost connection or before closing):
 * frees what was collected and marks the slot idle.  Does not cancel.
 */
void parallel_slot_abandon(parallel_slot *slot);

#endif /* TOOLKIT_PARALLEL_SLOT_H */
