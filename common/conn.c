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

#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "log.h"
#include "memory.h"
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

static const char *
option_value(PQconninfoOption *opts, const char *keyword)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val && o->val[0])
			return o->val;
	return NULL;
}

static char *
describe_parts(const char *user, const char *host, const char *port, const char *dbname)
{
	strbuf sb;

	strbuf_init(&sb);
	strbuf_appendf(&sb, "%s@", user ? user : "?");
	if (host && strchr(host, ':') && host[0] != '/')
		strbuf_appendf(&sb, "[%s]", host); /* IPv6 literal */
	else
		strbuf_append(&sb, host ? host : "localhost");
	strbuf_appendf(&sb, ":%s/%s", port ? port : "5432", dbname ? dbname : "?");
	return strbuf_detach(&sb);
}

char *
conn_describe_dsn(const char *dsn)
{
	PQconninfoOption *given;
	PQconninfoOption *defaults;
	char             *errmsg = NULL;
	const char       *user, *host, *port, *dbname;
	char             *result;

	given = PQconninfoParse(dsn, &errmsg);
	if (given == NULL)
	{
		/* the message may quote the string, password included: drop it */
		PQfreemem(errmsg);
		return NULL;
	}
	defaults = PQconndefaults();
	user = option_value(given, "user");
	if (!user)
		user = option_value(defaults, "user");
	host = option_value(given, "host");
	if (!host)
		host = option_value(given, "hostaddr");
	if (!host)
		host = option_value(defaults, "host");
	port = option_value(given, "port");
	if (!port)
		port = option_value(defaults, "port");
	dbname = option_value(given, "dbname");
	if (!dbname)
		dbname = option_value(defaults, "dbname");
	if (!dbname)
		dbname = user;
	result = describe_parts(user, host, port, dbname);
	PQconninfoFree(given);
	PQconninfoFree(defaults);
	return result;
}

static void
notice_receiver(void *arg, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	log_level   level = LOG_LEVEL_INFO;
	log_field   fields[] = {{"sqlstate", sqlstate}, {"severity", severity}, {NULL, NULL}};

	if (severity && strcmp(severity, "WARNING") == 0)
		level = LOG_LEVEL_WARNING;
	else if (severity && (strcmp(severity, "DEBUG") == 0 || strcmp(severity, "LOG") == 0))
		level = LOG_LEVEL_DEBUG;
	log_event(level, "server_notice", fields, "server %s: %s",
			  severity ? (strcmp(severity, "WARNING") == 0 ? "warning" : "notice") : "notice",
			  primary ? primary : PQresultErrorMessage(res));
}

/*
 * The toolkit's own SQL resolves only in pg_catalog: an empty search_path,
 * as PostgreSQL's client programs set it (CVE-2018-1058).  A role that can
 * create objects in the target schema could otherwise plant an overload
 * (a function taking "name" beats pg_catalog's "text" one) that runs with
 * our privileges.  User SQL gets the schema back only around its own
 * statements (conn_set_search_path).
 */
static bool
setup_session(PGconn *conn)
{
	PGresult *res = PQexec(conn, "SELECT pg_catalog.set_config('search_path', '', false)");
	bool      ok = PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		log_error("could not set search_path: %s", PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

bool
conn_set_search_path(PGconn *conn, const char *schema, bool is_local, db_error *err)
{
	char       *quoted = NULL;
	const char *values[2];
	bool        ok;

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
	values[0] = quoted ? quoted : "";
	values[1] = is_local ? "true" : "false";
	ok = db_run_ex(conn, "SELECT pg_catalog.set_config('search_path', $1, $2::pg_catalog.bool)", 2, values,
				   PGRES_TUPLES_OK, NULL, err, NULL, false);
	PQfreemem(quoted);
	return ok;
}

/*
 * The keywords of every connection attempt.  A bound on connecting
 * (connect_timeout, unless the DSN or PGCONNECT_TIMEOUT says otherwise:
 * keywords before dbname are overridden by the expanded string) keeps an
 * unreachable host from holding a signal off for the kernel's TCP timeout.
 */
#define DEFAULT_CONNECT_TIMEOUT "10"

static void
connect_keywords(const char *dsn, const char *progname, const char **keywords, const char **values)
{
	int n = 0;

	if (getenv("PGCONNECT_TIMEOUT") == NULL)
	{
		keywords[n] = "connect_timeout";
		values[n++] = DEFAULT_CONNECT_TIMEOUT;
	}
	keywords[n] = "dbname";
	values[n++] = dsn;
	keywords[n] = "fallback_application_name";
	values[n++] = progname;
	keywords[n] = NULL;
	values[n] = NULL;
}

static PGconn *
connect_once(const char *dsn, const char *progname)
{
	const char *keywords[4];
	const char *values[4];

	connect_keywords(dsn, progname, keywords, values);
	return PQconnectdbParams(keywords, values, 1);
}

static PGPing
ping_once(const char *dsn, const char *progname)
{
	const char *keywords[4];
	const char *values[4];

	connect_keywords(dsn, progname, keywords, values);
	return PQpingParams(keywords, values, 1);
}

/* the first line of libpq's message, which may run over several lines */
static char *
first_line(const char *msg)
{
	size_t n = strcspn(msg, "\n");

	return xstrndup(msg, n);
}

int
conn_open(const conn_options *opts, PGconn **out)
{
	const char *source;
	const char *dsn = conn_resolve_dsn(opts, &source);
	char       *target = conn_describe_dsn(dsn);
	int64_t     deadline = monotonic_ms() + opts->wait_ms;
	int64_t     last_log = 0;
	int         attempts = 0;
	int64_t     delay = 250;
	PGconn     *conn = NULL;
	int         rc = EXIT_UNREACHABLE;

	*out = NULL;
	if (target == NULL)
	{
		log_event(
			LOG_LEVEL_ERROR, "invalid_dsn", NULL,
			"invalid connection string from %s: not a valid keyword=value list or postgresql:// URI (not shown, it may hold a password)",
			source);
		return EXIT_USAGE;
	}

	for (;;)
	{
		PGPing ping;
		char  *why;

		attempts++;
		conn = connect_once(dsn, opts->progname);
		if (PQstatus(conn) == CONNECTION_OK)
			break;

		/*
		 * Did the server answer at all?  PQping says "OK" whenever the server
		 * replied, even with an authentication error; only "no response" and
		 * "rejecting connections" (starting up, shutting down) are worth
		 * waiting for.  This reads no message text.
		 */
		ping = ping_once(dsn, opts->progname);
		why = first_line(PQerrorMessage(conn));
		PQfinish(conn);
		conn = NULL;
		if ((ping == PQPING_NO_RESPONSE || ping == PQPING_REJECT) && monotonic_ms() + delay <= deadline)
		{
			if (monotonic_ms() - last_log >= WAIT_LOG_INTERVAL_MS)
			{
				log_event(LOG_LEVEL_INFO, "waiting_for_server", NULL, "waiting for the server at %s (%s): %s",
						  target, ping == PQPING_REJECT ? "not accepting connections yet" : "no response",
						  why);
				last_log = monotonic_ms();
			}
			free(why);
			if (!sleep_ms_interruptible(delay))
			{
				log_event(LOG_LEVEL_ERROR, "interrupted", NULL,
						  "interrupted by %s while waiting for the server at %s", cancel_signal_name(),
						  target);
				rc = cancel_exit_code();
				goto done;
			}
			if (delay < 2000)
				delay *= 2;
			continue;
		}
		log_event(LOG_LEVEL_ERROR, "unreachable", NULL, "could not connect to %s%s: %s", target,
				  ping == PQPING_OK ? " (the server refused the connection)"
									: (opts->wait_ms > 0 ? " (gave up waiting)" : ""),
				  why);
		free(why);
		goto done;
	}

	PQsetNoticeReceiver(conn, notice_receiver, NULL);
	if (!setup_session(conn))
	{
		PQfinish(conn);
		conn = NULL;
		goto done;
	}
	log_event(LOG_LEVEL_DEBUG, "connected", NULL, "connected to %s (server %d, %d attempt%s)", target,
			  PQserverVersion(conn), attempts, attempts == 1 ? "" : "s");
	*out = conn;
	rc = EXIT_OK;

done:
	free(target);
	return rc;
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

void
conn_close(PGconn *conn)
{
	if (conn)
		PQfinish(conn);
}
