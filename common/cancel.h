/*-------------------------------------------------------------------------
 *
 * cancel.h
 *	  SIGINT/SIGTERM: cancel the statement in flight, then stop cleanly,
 *	  within a bound whatever the network does.
 *
 * The handler only records the signal: a volatile sig_atomic_t flag, one
 * byte into a self-pipe (so that loops sleeping in poll()/select() wake up
 * at once, whichever thread the kernel delivered the signal to), and an
 * alarm() backstop.  It calls nothing that can block.
 *
 * The cancel request itself is sent by the loops, from a helper thread
 * (cancel_request): PQcancel() ignores every timeout of libpq 15 and blocks
 * for good when the network is silent, and libpq 15 has no non-blocking
 * cancel (PQcancelStart arrived in 17).  A loop that sent a cancel because
 * of a signal waits at most CANCEL_CONFIRM_MS for the server's answer; past
 * that it abandons the helper thread and the connection
 * (cancel_abandon_connection): the cancel is then "not confirmed".
 *
 * Bounds, from the first signal:
 *  - CANCEL_CONFIRM_MS for the statement in flight to end;
 *  - CANCEL_BACKSTOP_S: whatever still blocks then (a clean-up statement on
 *	  a network that went silent, a DNS lookup), the process exits with
 *	  130/143 (_exit, after one error line);
 *  - a second signal exits at once with the same code (_exit).
 *
 * The only mutable globals of the toolkit live here: the number of the
 * signal received, the self-pipe (created once) and whether a cancel went
 * unconfirmed.
 *
 * common/cancel.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_CANCEL_H
#define TOOLKIT_CANCEL_H

#include <stdbool.h>

#include <libpq-fe.h>

/* how long a signal's cancel may take before the connection is abandoned */
#define CANCEL_CONFIRM_MS 3000

/*
 * Whatever still blocks this long after the first signal, the process exits.
 * Above the indexer's clean-up bound plus its hard stop (5s + 5s), so that
 * its own orderly stop comes first.
 */
#define CANCEL_BACKSTOP_S 12

/*
 * Install the SIGINT/SIGTERM handlers and the self-pipe.  Call once from
 * main(), before anything else.  Ignores SIGPIPE (a closed stdout is an
 * error we report, not a kill).
 */
void cancel_install_handlers(void);

/* The signal received (SIGINT or SIGTERM), or 0. */
int cancel_pending(void);

/* "SIGINT", "SIGTERM", or "no signal". */
const char *cancel_signal_name(void);

/* 130 for SIGINT, 143 for SIGTERM, 0 when no signal came. */
int cancel_exit_code(void);

/*
 * The read end of the self-pipe, to poll for POLLIN next to a socket, while
 * no signal has come; -1 once one has (the loop already knows, and the pipe
 * stays readable: polling it would spin) or when the handlers are not
 * installed.  Never read it.
 */
int cancel_wakeup_fd(void);

/*
 * Ask the server to cancel conn's statement in flight, from a detached
 * helper thread: returns at once, never blocks on the network.  Returns
 * false when no request could be started (no connection, no cancel handle,
 * too many requests still outstanding on a silent network).  Whether the
 * statement really ended, only its result tells.
 */
bool cancel_request(PGconn *conn);

/*
 * Give up on conn after a cancel that was not confirmed: shut its socket
 * down, so that libpq reports the connection lost at once and every later
 * statement on it fails without waiting; the server ends the session (and
 * rolls back its open transaction) when it notices.  Marks the run as
 * having an unconfirmed cancel.  The caller still PQfinish()es conn.
 */
void cancel_abandon_connection(PGconn *conn);

/*
 * True once a cancel sent because of a signal was not confirmed in time: the
 * statement's outcome on the server is not known.  Callers word their last
 * message with it ("cancel not confirmed; nothing was committed" rather
 * than "rolled back").
 */
bool cancel_unconfirmed(void);

/* Kept for callers of the old API: cancel_request(conn). */
bool cancel_send(PGconn *conn);

#endif /* TOOLKIT_CANCEL_H */
