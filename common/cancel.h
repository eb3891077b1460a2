/*-------------------------------------------------------------------------
 *
 * cancel.h
 *	  SIGINT/SIGTERM: cancel the statement in flight, then stop cleanly.
 *
 * The only mutable globals of the toolkit live here: the number of the
 * signal received and the PGcancel handle of the statement in flight.  The
 * handler records the signal and, if a handle is armed, calls PQcancel()
 * (async-signal-safe by libpq's contract).  Everything else polls
 * cancel_pending() and unwinds: the server rolls back what was in flight,
 * and the caller records nothing, then main() exits with cancel_exit_code().
 *
 * A second signal while unwinding falls through to the default action, so an
 * operator can always stop a stuck program.
 *
 * common/cancel.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_CANCEL_H
#define TOOLKIT_CANCEL_H

#include <stdbool.h>

#include <libpq-fe.h>

/* Install the SIGINT/SIGTERM handlers.  Call once from main(). */
void cancel_install_handlers(void);

/*
 * Make conn the connection whose statement a signal cancels (replacing any
 * earlier one); NULL disarms.  The PGcancel is created here, outside the
 * handler, and swapped in with signals blocked.
 */
void cancel_arm(PGconn *conn);

/* The signal received (SIGINT or SIGTERM), or 0. */
int cancel_pending(void);

/* "SIGINT", "SIGTERM", or "no signal". */
const char *cancel_signal_name(void);

/* 130 for SIGINT, 143 for SIGTERM, 0 when no signal came. */
int cancel_exit_code(void);

/* Send a cancel request for conn's statement now (not from a handler). */
bool cancel_send(PGconn *conn);

#endif /* TOOLKIT_CANCEL_H */
