/*-------------------------------------------------------------------------
 *
 * cancel.c
 *	  SIGINT/SIGTERM: cancel the statement in flight, then stop cleanly,
 *	  within a bound whatever the network does.
 *
 * common/cancel.c
 *
 *-------------------------------------------------------------------------
 */
#include "cancel.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exitcodes.h"
#include "log.h"

/*
 * At most this many cancel requests may be outstanding at once; past it a
 * silent network has swallowed them all and one more thread would not help.
 */
#define CANCEL_MAX_OUTSTANDING 32

/* Written by the handler, read by the loops. */
static volatile sig_atomic_t cancel_signal_received = 0;
/* Written by the main thread only, once a cancel went unconfirmed. */
static volatile sig_atomic_t cancel_lost = 0;
/* The self-pipe, created once by cancel_install_handlers(). */
static int wakeup_pipe[2] = {-1, -1};
/* Helper threads still inside PQcancel(). */
static atomic_int outstanding = 0;

static int
exit_code_for(int signo)
{
	return signo == SIGINT ? EXIT_SIGINT : EXIT_SIGTERM;
}

static const char *
name_for(int signo)
{
	return signo == SIGINT ? "SIGINT" : "SIGTERM";
}

/* Append src to buf (async-signal-safe: no locale, no allocation). */
static size_t
append_raw(char *buf, size_t len, size_t cap, const char *src)
{
	while (*src && len + 1 < cap)
		buf[len++] = *src++;
	buf[len] = '\0';
	return len;
}

/*
 * One error line, in the log's format, with only async-signal-safe calls:
 * for the second signal and the backstop, where nothing may block.
 */
static void
write_last_words(const char *msg)
{
	char   buf[512];
	size_t n = 0;

	if (log_get_format() == LOG_FORMAT_JSON)
	{
		n = append_raw(buf, n, sizeof(buf), "{\"level\":\"error\",\"program\":\"");
		n = append_raw(buf, n, sizeof(buf), log_progname());
		n = append_raw(buf, n, sizeof(buf), "\",\"event\":\"interrupted\",\"msg\":\"");
		n = append_raw(buf, n, sizeof(buf), msg);
		n = append_raw(buf, n, sizeof(buf), "\"}\n");
	}
	else
	{
		n = append_raw(buf, n, sizeof(buf), log_progname());
		n = append_raw(buf, n, sizeof(buf), ": error: ");
		n = append_raw(buf, n, sizeof(buf), msg);
		n = append_raw(buf, n, sizeof(buf), "\n");
	}
	(void) !write(STDERR_FILENO, buf, n);
}

static void
cancel_signal_handler(int signo)
{
	int saved_errno = errno;
	int first = cancel_signal_received;

	if (first != 0)
	{
		/* the operator insists: no clean-up, no waiting */
		char msg[128];

		msg[0] = '\0';
		(void) append_raw(msg, append_raw(msg, 0, sizeof(msg), name_for(signo)), sizeof(msg),
						  " again: exiting at once, without waiting for the server");
		write_last_words(msg);
		_exit(exit_code_for(first));
	}
	cancel_signal_received = signo;
	if (wakeup_pipe[1] >= 0)
		(void) !write(wakeup_pipe[1], "x", 1);
	alarm(CANCEL_BACKSTOP_S);
	errno = saved_errno;
}

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)
#define BACKSTOP_WORDS                                                                                       \
	"still running " STRINGIFY(CANCEL_BACKSTOP_S) "s after the signal (the server does not answer); "        \
												  "exiting without waiting for it: cancel not confirmed"

/* The backstop: CANCEL_BACKSTOP_S after the first signal, whatever blocks. */
static void
backstop_handler(int signo)
{
	int first = cancel_signal_received;

	(void) signo;
	if (first == 0)
		return; /* not ours: nobody else uses alarm() */
	write_last_words(first == SIGINT ? "interrupted by SIGINT: " BACKSTOP_WORDS
									 : "interrupted by SIGTERM: " BACKSTOP_WORDS);
	_exit(exit_code_for(first));
}

void
cancel_install_handlers(void)
{
	struct sigaction sa;

	if (wakeup_pipe[0] < 0 && pipe(wakeup_pipe) == 0)
	{
		/* a full pipe must never block the handler; neither end is inherited */
		for (int i = 0; i < 2; i++)
		{
			(void) fcntl(wakeup_pipe[i], F_SETFL, fcntl(wakeup_pipe[i], F_GETFL) | O_NONBLOCK);
			(void) fcntl(wakeup_pipe[i], F_SETFD, FD_CLOEXEC);
		}
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cancel_signal_handler;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: let poll(), select() and sleeps wake up to see the flag */
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = backstop_handler;
	sigaction(SIGALRM, &sa, NULL);
	/* a closed pipe on stdout must be an error we report, not a kill */
	signal(SIGPIPE, SIG_IGN);
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

int
cancel_wakeup_fd(void)
{
	return cancel_signal_received == 0 ? wakeup_pipe[0] : -1;
}

static void *
cancel_thread_main(void *arg)
{
	PGcancel *handle = arg;
	char      errbuf[256];

	/* may block for good on a silent network: then nobody waits for us */
	(void) PQcancel(handle, errbuf, sizeof(errbuf));
	PQfreeCancel(handle);
	atomic_fetch_sub(&outstanding, 1);
	return NULL;
}

bool
cancel_request(PGconn *conn)
{
	PGcancel      *handle;
	pthread_t      tid;
	pthread_attr_t attr;
	sigset_t       all, saved;
	int            rc;

	if (conn == NULL || PQstatus(conn) == CONNECTION_BAD)
		return false;
	if (atomic_fetch_add(&outstanding, 1) >= CANCEL_MAX_OUTSTANDING)
	{
		atomic_fetch_sub(&outstanding, 1);
		return false;
	}
	handle = PQgetCancel(conn);
	if (handle == NULL)
	{
		atomic_fetch_sub(&outstanding, 1);
		return false;
	}

	/* signals belong to the main thread: the helper starts with them blocked */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, cancel_thread_main, handle);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc != 0)
	{
		PQfreeCancel(handle);
		atomic_fetch_sub(&outstanding, 1);
		return false;
	}
	return true;
}

bool
cancel_send(PGconn *conn)
{
	return cancel_request(conn);
}

void
cancel_abandon_connection(PGconn *conn)
{
	int sock = conn ? PQsocket(conn) : -1;

	cancel_lost = 1;
	/* libpq still owns (and later closes) the descriptor: shut it down only */
	if (sock >= 0)
		(void) shutdown(sock, SHUT_RDWR);
}

bool
cancel_unconfirmed(void)
{
	return cancel_lost != 0;
}
