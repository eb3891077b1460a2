/*-------------------------------------------------------------------------
 *
 * cancel.c
 *	  SIGINT/SIGTERM: cancel the statement in flight, then stop cleanly.
 *
 * common/cancel.c
 *
 *-------------------------------------------------------------------------
 */
#include "cancel.h"

#include <signal.h>
#include <string.h>

#include "exitcodes.h"

/* The two globals the style allows: written by the handler, read by loops. */
static volatile sig_atomic_t cancel_signal_received = 0;
static PGcancel *volatile cancel_handle = NULL;

static void
cancel_signal_handler(int signo)
{
	char      errbuf[256];
	PGcancel *handle = cancel_handle;

	if (cancel_signal_received != 0)
	{
		/* second signal: the operator insists; take the default action */
		signal(signo, SIG_DFL);
		raise(signo);
		return;
	}
	cancel_signal_received = signo;
	if (handle != NULL)
		(void) PQcancel(handle, errbuf, sizeof(errbuf));
}

void
cancel_install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cancel_signal_handler;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: let select() and sleeps wake up to see the flag */
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* a closed pipe on stdout must be an error we report, not a kill */
	signal(SIGPIPE, SIG_IGN);
}

void
cancel_arm(PGconn *conn)
{
	PGcancel *fresh = conn ? PQgetCancel(conn) : NULL;
	PGcancel *old;
	sigset_t  block, saved;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &saved);
	old = cancel_handle;
	cancel_handle = fresh;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	if (old)
		PQfreeCancel(old);
}

int
cancel_pending(void)
{
	return cancel_signal_received;
}

const char *
cancel_signal_name(void)
{
	switch (cancel_signal_received)
	{
		case SIGINT:
			return "SIGINT";
		case SIGTERM:
			return "SIGTERM";
		default:
			return "no signal";
	}
}

int
cancel_exit_code(void)
{
	switch (cancel_signal_received)
	{
		case SIGINT:
			return EXIT_SIGINT;
		case SIGTERM:
			return EXIT_SIGTERM;
		default:
			return 0;
	}
}

bool
cancel_send(PGconn *conn)
{
	PGcancel *c = PQgetCancel(conn);
	char      errbuf[256];
	bool      ok;

	if (c == NULL)
		return false;
	ok = PQcancel(c, errbuf, sizeof(errbuf)) == 1;
	PQfreeCancel(c);
	return ok;
}
