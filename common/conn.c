/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  Opening connections.
 *
 * common/conn.c
 *
 *-------------------------------------------------------------------------
 */
#include "conn.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "conninfo.h"
#include "log.h"
#include "memory.h"
#include "pipeline.h"
#include "query.h"
#include "retry.h"

/* how often a waiting run says that it is still waiting */
#define WAIT_LOG_INTERVAL_MS 5000

const char *
conn_resolve_dsn(const conn_options *opts, const char **source)
{
	const char *url;

	if (opts->dsn != NULL)
	{
		if (source)
			*source = "--dsn";
		return opts->dsn;
	}
	url = getenv("DATABASE_URL");
	if (url != NULL && url[0] != '\0')
	{
		if (source)
			*source = "DATABASE_URL";
		return url;
	}
	if (source)
		*source = "PG* environment";
	return "";
}

char *
conn_describe_dsn(const char *dsn)
{
	return conninfo_describe(dsn);
}

const char *
conn_take_dsn_arg(char *arg)
{
	/* configuration, written while parsing options only: kept for the run */
	static char *copy = NULL;

	free(copy);
	copy = xstrdup(arg);
	conninfo_scrub_in_place(arg);
	return copy;
}

void
conn_log_notice(const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	log_level   level = LOG_LEVEL_INFO;
	log_field   fields[] = {{"sqlstate", sqlstate}, {"severity", severity}, {NULL, NULL}};

	if (sqlstate && strncmp(sqlstate, "57", 2) == 0)
		level = LOG_LEVEL_DEBUG; /* a shutdown's farewell: the failure it causes says it, last */
	else if (severity && strcmp(severity, "WARNING") == 0)
		level = LOG_LEVEL_WARNING;
	else if (severity && (strcmp(severity, "DEBUG") == 0 || strcmp(severity, "LOG") == 0))
		level = LOG_LEVEL_DEBUG;
	/* a warning's level word says "warning" already: not "warning: server warning: ..." */
	log_event(level, "server_notice", fields, "server%s: %s", level == LOG_LEVEL_WARNING ? "" : " notice",
			  primary ? primary : PQresultErrorMessage(res));
}

static void
notice_receiver(void *arg, const PGresult *res)
{
	(void) arg;
	conn_log_notice(res);
}

/*
 * The toolkit's own SQL resolves only in pg_catalog: an empty search_path,
 * as PostgreSQL's client programs set it (CVE-2018-1058).  A role that can
 * create objects in the target schema could otherwise plant an overload
 * (a function taking "name" beats pg_catalog's "text" one) that runs with
 * our privileges.  User SQL gets the schema back only around its own
 * statements (conn_set_search_path).
 */
/* The statement of conn_setup_session into sql, its parameters into values[*n]. */
static void
setup_statement(const PGconn *conn, int64_t lock_timeout_ms, const char *role, textbuf *sql, char lt[32],
				const char *values[2], int *n)
{
	*n = 0;
	textbuf_init(sql);
	textbuf_append(sql, "SELECT pg_catalog.set_config('search_path', '', false)");
	/*
	 * Files and definitions are read with PostgreSQL's parser at its
	 * default, standard_conforming_strings on: a database or role that sets
	 * it off would read a backslash in a string otherwise, and what the lint
	 * checked would not be what runs.
	 */
	textbuf_append(sql, ", pg_catalog.set_config('standard_conforming_strings', 'on', false)");
	/*
	 * "already exists, skipping" is how a skipped IF NOT EXISTS is known
	 * (the indexer's build, the migrator's check of whose object it is): a
	 * database or role that sets client_min_messages above NOTICE must not
	 * hide it.
	 */
	textbuf_append(sql, ", pg_catalog.set_config('client_min_messages', 'notice', false)");
	/*
	 * A run's connections sit idle for long stretches (the run lock's, the
	 * monitor during a build): a role's idle_session_timeout must not end
	 * them (PostgreSQL 14 on).
	 */
	if (PQserverVersion(conn) >= 140000)
		textbuf_append(sql, ", pg_catalog.set_config('idle_session_timeout', '0', false)");
	if (lock_timeout_ms > 0)
	{
		snprintf(lt, 32, "%lldms", (long long) lock_timeout_ms);
		values[(*n)++] = lt;
		textbuf_appendf(sql, ", pg_catalog.set_config('lock_timeout', $%d, false)", *n);
	}
	if (role != NULL)
	{
		values[(*n)++] = role;
		textbuf_appendf(sql, ", pg_catalog.set_config('role', $%d, false)", *n);
	}
}

bool
conn_setup_session(PGconn *conn, int64_t lock_timeout_ms, const char *role, db_error *err)
{
	char        lt[32];
	const char *values[2];
	int         n;
	textbuf     sql;
	bool        ok;

	setup_statement(conn, lock_timeout_ms, role, &sql, lt, values, &n);
	ok = db_run(conn, sql.data, n, values, PGRES_TUPLES_OK, NULL, err, NULL);
	textbuf_free(&sql);
	return ok;
}

/* conn_setup_session's statement as the next entry of batch. */
static void
setup_session_add(PGconn *conn, int64_t lock_timeout_ms, const char *role, pipeline *batch)
{
	char        lt[32];
	const char *values[2];
	int         n;
	textbuf     sql;

	setup_statement(conn, lock_timeout_ms, role, &sql, lt, values, &n);
	(void) pipeline_add(batch, sql.data, n, values, PGRES_TUPLES_OK, NULL, NULL);
	textbuf_free(&sql);
}

bool
conn_set_search_path(PGconn *conn, const char *schema, bool is_local, db_error *err)
{
	char *quoted = NULL;
	bool  ok;

	if (schema != NULL && schema[0] != '\0')
	{
		quoted = PQescapeIdentifier(conn, schema, strlen(schema));
		if (quoted == NULL)
		{
			db_error_clear(err);
			err->cls = PGERR_OTHER;
			err->message = xasprintf("could not quote schema name \"%s\": %s", schema, PQerrorMessage(conn));
			return false;
		}
	}
	/* only the schema: pg_catalog, not listed, is still searched first */
	ok = conn_set_config(conn, "search_path", quoted ? quoted : "", is_local, err);
	PQfreemem(quoted);
	return ok;
}

bool
conn_set_config(PGconn *conn, const char *name, const char *value, bool is_local, db_error *err)
{
	const char *values[3] = {name, value, is_local ? "true" : "false"};

	return db_run_ex(conn, "SELECT pg_catalog.set_config($1, $2, $3::pg_catalog.bool)", 3, values,
					 PGRES_TUPLES_OK, NULL, err, NULL, false);
}

/* ---- connecting -------------------------------------------------------------- */

typedef enum attempt_outcome
{
	ATTEMPT_OK,
	ATTEMPT_DOWN,        /* no answer, timed out, lost while setting up: wait */
	ATTEMPT_STARTING,    /* 57P03, starting up or shutting down: wait */
	ATTEMPT_READ_ONLY,   /* a writable server was asked for: next host */
	ATTEMPT_REFUSED,     /* the server answered no: waiting would not help */
	ATTEMPT_INTERRUPTED, /* a signal */
	ATTEMPT_WORK_FAILED, /* the caller's conn_work failed: drop it all */
} attempt_outcome;

bool
conn_work_finish(conn_work *work)
{
	while (work != NULL && work->state == CONN_WORK_MORE && !cancel_pending())
		work->state = work->step(work->arg);
	return work == NULL || work->state == CONN_WORK_DONE;
}

/*
 * poll() on fds, or, while work is left, a look without waiting and one
 * slice of the work when nothing was ready (then 0, as a timeout).
 */
static int
poll_or_work(struct pollfd *fds, nfds_t n, int timeout_ms, conn_work *work)
{
	int ready;

	if (work == NULL || work->state != CONN_WORK_MORE)
		return poll(fds, n, timeout_ms);
	ready = poll(fds, n, 0);
	if (ready == 0)
		work->state = work->step(work->arg);
	return ready;
}

/*
 * The SQLSTATE of a server error in a verbose libpq message
 * ("... failed: FATAL:  57P03: the database system is starting up"), or "".
 * The position of the code is fixed by libpq's format, whatever the
 * language of the message around it.
 */
static void
message_sqlstate(const char *msg, char out[6])
{
	out[0] = '\0';
	for (const char *p = msg; (p = strstr(p, ":  ")) != NULL; p += 3)
	{
		const char *c = p + 3;
		int         i = 0;

		while (i < 5 && (isdigit((unsigned char) c[i]) || isupper((unsigned char) c[i])))
			i++;
		if (i == 5 && c[5] == ':')
		{
			memcpy(out, c, 5);
			out[5] = '\0';
			return;
		}
	}
}

/*
 * Why a read-only server refused a session that asked for a writable one
 * (target_session_attrs read-write or primary), from what the server
 * reported at startup (PostgreSQL 14 on), which libpq keeps after it gives
 * up; NULL when it reported neither.  Never from the message text.
 */
static const char *
read_only_reason(const PGconn *conn)
{
	const char *standby = PQparameterStatus(conn, "in_hot_standby");
	const char *ro = PQparameterStatus(conn, "default_transaction_read_only");

	if (standby && strcmp(standby, "on") == 0)
		return CONN_READ_ONLY ": in_hot_standby is on";
	if (ro && strcmp(ro, "on") == 0)
		return CONN_READ_ONLY ": default_transaction_read_only is on";
	return NULL;
}

/* What a failed attempt means: did the server answer, and what? */
static attempt_outcome
classify_failure(PGconn *conn, bool want_writable)
{
	char sqlstate[6];

	if (want_writable && read_only_reason(conn) != NULL)
		return ATTEMPT_READ_ONLY;
	message_sqlstate(PQerrorMessage(conn), sqlstate);
	if (sqlstate[0] != '\0')
		return strcmp(sqlstate, ERRCODE_CANNOT_CONNECT_NOW) == 0 ? ATTEMPT_STARTING : ATTEMPT_REFUSED;
	/* it asked for a password we do not have: it answered */
	if (PQconnectionNeedsPassword(conn))
		return ATTEMPT_REFUSED;
	return ATTEMPT_DOWN;
}

/*
 * One host: PQconnectPoll, sleeping in poll() on its socket and the
 * signal's self-pipe, for at most timeout_ms (0: no bound).  The messages of
 * the attempt carry the SQLSTATE (verbose), so that it can be classified
 * without reading any text.  *why (caller frees) says why it failed.
 */
static attempt_outcome
connect_host(const conninfo_attempt *at, int64_t timeout_ms, bool want_writable, conn_work *work,
			 PGconn **out, char **why)
{
	PGconn                   *conn = PQconnectStartParams(at->keywords, at->values, 0);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	int64_t                   deadline = timeout_ms > 0 ? monotonic_ms() + timeout_ms : INT64_MAX;
	attempt_outcome           outcome;

	*out = NULL;
	*why = NULL;
	if (conn == NULL)
	{
		*why = xstrdup("out of memory");
		return ATTEMPT_REFUSED;
	}
	PQsetErrorVerbosity(conn, PQERRORS_VERBOSE);
	if (PQstatus(conn) == CONNECTION_BAD)
		st = PGRES_POLLING_FAILED;
	while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
	{
		struct pollfd fds[2];
		nfds_t        n = 0;
		int64_t       now = monotonic_ms();
		int64_t       slice = deadline - now;
		int           ready;

		if (cancel_pending())
		{
			PQfinish(conn);
			return ATTEMPT_INTERRUPTED;
		}
		if (now >= deadline)
		{
			*why = xasprintf("no answer within connect_timeout (%llds)", (long long) (timeout_ms / 1000));
			PQfinish(conn);
			return ATTEMPT_DOWN;
		}
		fds[n].fd = PQsocket(conn);
		fds[n++].events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		fds[n].fd = cancel_wakeup_fd();
		fds[n].events = POLLIN;
		if (fds[n].fd >= 0)
			n++;
		if (slice > 1000)
			slice = 1000;
		ready = fds[0].fd < 0 ? 1 : poll_or_work(fds, n, (int) slice, work);
		if (work != NULL && work->state == CONN_WORK_FAILED)
		{
			PQfinish(conn);
			return ATTEMPT_WORK_FAILED;
		}
		if (ready < 0 && errno != EINTR)
		{
			*why = xasprintf("poll() failed: %s", strerror(errno));
			PQfinish(conn);
			return ATTEMPT_DOWN;
		}
		if (ready > 0 && (fds[0].fd < 0 || fds[0].revents != 0))
			st = PQconnectPoll(conn);
	}
	if (st == PGRES_POLLING_OK)
	{
		PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
		*out = conn;
		return ATTEMPT_OK;
	}
	outcome = classify_failure(conn, want_writable);
	/* libpq's "session is read-only" names neither the host nor the cause */
	*why = xstrdup(outcome == ATTEMPT_READ_ONLY ? read_only_reason(conn) : PQerrorMessage(conn));
	PQfinish(conn);
	return outcome;
}

/*
 * Every host in turn, as libpq would: on to the next one after no answer,
 * a timeout, "not accepting connections yet" or a read-only server when a
 * writable one is wanted; stop at a refusal (libpq does not try further
 * hosts after, say, an authentication failure).  Read-only only when every
 * host was: a host that did not answer may be the primary, worth waiting
 * for.  *why (caller frees) has the reason of each host that failed.
 */
static attempt_outcome
connect_any(const conninfo_attempts *attempts, bool secret, conn_work *work, PGconn **out, char **why)
{
	attempt_outcome worst = ATTEMPT_READ_ONLY;
	textbuf         reasons;

	textbuf_init(&reasons);
	*out = NULL;
	for (int i = 0; i < attempts->n; i++)
	{
		char           *raw = NULL;
		char           *line;
		attempt_outcome got = connect_host(&attempts->items[i], attempts->connect_timeout_ms,
										   attempts->want_writable, work, out, &raw);

		if (got == ATTEMPT_OK || got == ATTEMPT_INTERRUPTED || got == ATTEMPT_WORK_FAILED)
		{
			free(raw);
			textbuf_free(&reasons);
			*why = NULL;
			return got;
		}
		line = conninfo_reason(raw, secret);
		if (reasons.len > 0)
			textbuf_append(&reasons, "; ");
		if (attempts->n > 1)
			textbuf_appendf(&reasons, "%s: ", attempts->items[i].label);
		textbuf_append(&reasons, line);
		free(line);
		free(raw);
		if (got == ATTEMPT_REFUSED)
		{
			worst = got;
			break;
		}
		if (got == ATTEMPT_STARTING || (got == ATTEMPT_DOWN && worst == ATTEMPT_READ_ONLY))
			worst = got;
	}
	*why = textbuf_detach(&reasons);
	return worst;
}

/*
 * The major version the last connection of this run reached: 0 before the
 * first.  Written once per connection (the run is one thread here).
 */
static int run_server_version = 0;

static char *
own_string(conninfo_attempts *a, char *s)
{
	ARRAY_GROW(a->owned, a->n_owned + 1, a->cap_owned);
	a->owned[a->n_owned++] = s;
	return s;
}

/*
 * Can conn_setup_session's settings ride in the start-up packet instead
 * of a round trip?  Only for a connection after the first, when that one
 * reached PostgreSQL 14 or later (idle_session_timeout is unknown before,
 * and an unknown setting in the start-up packet refuses the connection),
 * and without --role (a bad role stays the usage error set_config reports).
 * A setting from the start-up packet is also what RESET returns to: user
 * SQL resetting search_path gets '' back, not the database's default.
 */
static bool
can_fold_setup(const conn_options *opts)
{
	return run_server_version >= 140000 && opts->role == NULL;
}

/* A service file may set "options" itself, which an explicit one would hide. */
static bool
uses_service(const conninfo_attempts *a)
{
	const char *env = getenv("PGSERVICE");

	if (env != NULL && env[0] != '\0')
		return true;
	for (int i = 0; i < a->n; i++)
		for (int k = 0; a->items[i].keywords[k] != NULL; k++)
			if (strcmp(a->items[i].keywords[k], "service") == 0)
				return true;
	return false;
}

/*
 * Append the session settings to every attempt's "options" (after the
 * DSN's or PGOPTIONS's own, so that ours win as the set_config did).
 */
static void
fold_setup_into_options(conninfo_attempts *a, int64_t lock_timeout_ms)
{
	char lt[48] = "";

	if (lock_timeout_ms > 0)
		snprintf(lt, sizeof(lt), " -c lock_timeout=%lldms", (long long) lock_timeout_ms);
	for (int i = 0; i < a->n; i++)
	{
		conninfo_attempt *at = &a->items[i];
		const char       *base = getenv("PGOPTIONS");
		int               n = 0, at_options = -1;
		const char      **kw, **val;

		while (at->keywords[n] != NULL)
		{
			if (strcmp(at->keywords[n], "options") == 0)
				at_options = n;
			n++;
		}
		if (at_options >= 0)
			base = at->values[at_options];
		kw = (const char **) (void *) own_string(a, xcalloc((size_t) n + 2, sizeof(char *)));
		val = (const char **) (void *) own_string(a, xcalloc((size_t) n + 2, sizeof(char *)));
		memcpy(kw, at->keywords, sizeof(char *) * (size_t) n);
		memcpy(val, at->values, sizeof(char *) * (size_t) n);
		if (at_options < 0)
			kw[at_options = n++] = "options";
		val[at_options] =
			own_string(a, xasprintf("%s%s-c search_path= -c idle_session_timeout=0 "
									"-c standard_conforming_strings=on -c client_min_messages=notice%s",
									base ? base : "", base && base[0] ? " " : "", lt));
		at->keywords = kw;
		at->values = val;
	}
}

/* Connect and set the session up; a loss while setting up counts as down. */
static attempt_outcome
connect_session(const conn_options *opts, const conninfo_attempts *attempts, bool folded, pipeline *batch,
				bool secret, PGconn **out, char **why)
{
	attempt_outcome got = connect_any(attempts, secret, opts->work, out, why);
	db_error        err = {0};

	if (got != ATTEMPT_OK)
		return got;
	PQsetNoticeReceiver(*out, notice_receiver, NULL);
	if (!folded && batch != NULL)
		setup_session_add(*out, opts->lock_timeout_ms, opts->role, batch);
	if (folded || batch != NULL || conn_setup_session(*out, opts->lock_timeout_ms, opts->role, &err))
	{
		run_server_version = PQserverVersion(*out);
		return ATTEMPT_OK;
	}
	PQfinish(*out);
	*out = NULL;
	if (cancel_pending())
		got = ATTEMPT_INTERRUPTED;
	else if (pgerr_action_for(err.cls) == PGERR_ACTION_RECONNECT)
		got = ATTEMPT_DOWN; /* a restart between connecting and setting up */
	else
		got = ATTEMPT_REFUSED;
	*why = db_error_format(&err);
	db_error_clear(&err);
	return got;
}

/*
 * The hosts to try for dsn (from source, for the message), into *attempts
 * (free with conninfo_attempts_free).  False, logged, when dsn is invalid.
 */
static bool
attempts_from_dsn(const conn_options *opts, const char *dsn, const char *source, conninfo_attempts *attempts)
{
	char *why = NULL;

	if (conninfo_uri_needs_encoding(dsn))
	{
		/* libpq would take part of the password for the host: never parse it */
		log_event(LOG_LEVEL_ERROR, "invalid_dsn", NULL, "invalid connection URI from %s (not shown): %s",
				  source, CONNINFO_ENCODE_ADVICE);
		return false;
	}
	if (!conninfo_attempts_build(dsn, opts->progname, opts->read_write, attempts, &why))
	{
		log_event(LOG_LEVEL_ERROR, "invalid_dsn", NULL, "invalid connection string from %s: %s", source, why);
		free(why);
		return false;
	}
	return true;
}

/*
 * Sleep delay ms before the next attempt, saying at most every
 * WAIT_LOG_INTERVAL_MS (since *last_log) that the server is awaited and why
 * the last attempt failed.  False, logged, when a signal cut the sleep short.
 */
static bool
wait_to_retry(const char *target, attempt_outcome got, const char *why, int64_t delay, int64_t *last_log)
{
	if (monotonic_ms() - *last_log >= WAIT_LOG_INTERVAL_MS)
	{
		log_event(LOG_LEVEL_INFO, "waiting_for_server", NULL, "waiting for the server at %s (%s): %s", target,
				  got == ATTEMPT_STARTING ? "not accepting connections yet" : "no response", why);
		*last_log = monotonic_ms();
	}
	if (!sleep_ms_interruptible(delay))
	{
		log_event(LOG_LEVEL_ERROR, "interrupted", NULL,
				  "interrupted by %s while waiting for the server at %s", cancel_signal_name(), target);
		return false;
	}
	return true;
}

/* The one error line of a connection that failed for good. */
static void
log_gave_up(attempt_outcome got, const char *target, bool waited, const char *why)
{
	log_event(LOG_LEVEL_ERROR, got == ATTEMPT_READ_ONLY ? "read_only" : "unreachable", NULL,
			  "could not connect to %s%s: %s", target,
			  got == ATTEMPT_REFUSED     ? " (the server refused the connection)"
			  : got == ATTEMPT_READ_ONLY ? " for writing"
			  : waited                   ? " (gave up waiting)"
										 : "",
			  why);
}

/* conn_open, or conn_open_batch when batch is not NULL. */
static int
open_session(const conn_options *opts, PGconn **out, pipeline *batch)
{
	const char       *source;
	const char       *dsn = conn_resolve_dsn(opts, &source);
	char             *target = NULL;
	char             *why = NULL;
	int64_t           deadline = monotonic_ms() + opts->wait_ms;
	int64_t           last_log = 0;
	int               attempts_made = 0;
	int64_t           delay = 250;
	bool              secret;
	bool              folded = can_fold_setup(opts);
	conninfo_attempts attempts;
	int               rc = EXIT_UNREACHABLE;

	*out = NULL;
	if (!attempts_from_dsn(opts, dsn, source, &attempts))
		return EXIT_USAGE;
	folded = folded && !uses_service(&attempts);
	if (folded)
		fold_setup_into_options(&attempts, opts->lock_timeout_ms);
	secret = conninfo_has_password(dsn);
	target = conninfo_describe(dsn);

	for (;;)
	{
		attempt_outcome got;

		attempts_made++;
		got = connect_session(opts, &attempts, folded, batch, secret, out, &why);
		if (got == ATTEMPT_OK)
			break;
		/* the work's verdict before any word of ours (conn_work) */
		if (got != ATTEMPT_INTERRUPTED && !conn_work_finish(opts->work))
			got = cancel_pending() ? ATTEMPT_INTERRUPTED : ATTEMPT_WORK_FAILED;
		if (got == ATTEMPT_WORK_FAILED)
		{
			rc = EXIT_USAGE;
			goto done;
		}
		if (got == ATTEMPT_INTERRUPTED)
		{
			log_event(opts->side ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR, "interrupted", NULL,
					  "interrupted by %s while connecting to %s", cancel_signal_name(), target);
			rc = cancel_exit_code();
			goto done;
		}
		/* a standby may stay one for ever: no waiting when every host is read-only */
		if (got != ATTEMPT_REFUSED && got != ATTEMPT_READ_ONLY && monotonic_ms() + delay <= deadline)
		{
			bool slept = wait_to_retry(target, got, why, delay, &last_log);

			free(why);
			why = NULL;
			if (!slept)
			{
				rc = cancel_exit_code();
				goto done;
			}
			if (delay < 2000)
				delay *= 2;
			continue;
		}
		log_gave_up(got, target, opts->wait_ms > 0, why);
		goto done;
	}

	log_event(LOG_LEVEL_DEBUG, "connected", NULL, "connected to %s (server %d, %d attempt%s)", target,
			  PQserverVersion(*out), attempts_made, attempts_made == 1 ? "" : "s");
	rc = EXIT_OK;

done:
	free(why);
	free(target);
	conninfo_attempts_free(&attempts);
	return rc;
}

int
conn_open(const conn_options *opts, PGconn **out)
{
	return open_session(opts, out, NULL);
}

int
conn_open_batch(const conn_options *opts, PGconn **out, pipeline *batch)
{
	return open_session(opts, out, batch);
}

void
conn_retry_start(conn_retry *r, const conn_options *opts)
{
	r->deadline = monotonic_ms() + opts->wait_ms;
	r->delay = 250;
	r->last_log = 0;
	r->waits = opts->wait_ms > 0;
}

bool
conn_retry_lost_batch(conn_retry *r, conn_options *opts, PGconn **conn, const db_error *err)
{
	char *target;
	char *why;
	bool  slept;

	if (cancel_pending() || pgerr_action_for(err->cls) != PGERR_ACTION_RECONNECT ||
		monotonic_ms() + r->delay > r->deadline)
		return false;
	PQfinish(*conn);
	*conn = NULL;
	target = conninfo_describe(conn_resolve_dsn(opts, NULL));
	why = db_error_format(err);
	slept = wait_to_retry(target ? target : "the server", ATTEMPT_DOWN, why, r->delay, &r->last_log);
	free(why);
	free(target);
	if (!slept)
		return false;
	if (r->delay < 2000)
		r->delay *= 2;
	opts->wait_ms = r->deadline > monotonic_ms() ? r->deadline - monotonic_ms() : 0;
	return true;
}

const char *
conn_lost_prefix(const conn_retry *r, const db_error *err)
{
	if (err->cls != PGERR_CONNECTION_LOST && err->cls != PGERR_ADMIN_SHUTDOWN)
		return "";
	return r->waits ? "connection to the server lost (gave up waiting): "
					: "connection to the server lost (--wait DURATION reconnects and retries): ";
}

PGconn *
conn_open_like(const conn_options *opts)
{
	conn_options once = *opts;
	PGconn      *conn;

	once.wait_ms = 0;
	if (conn_open(&once, &conn) != EXIT_OK)
		return NULL;
	return conn;
}

PGconn *
conn_open_for_build(const conn_options *opts)
{
	conn_options build = *opts;

	build.lock_timeout_ms = 0;
	return conn_open_like(&build);
}

void
conn_close(PGconn *conn)
{
	if (conn)
		PQfinish(conn);
}
