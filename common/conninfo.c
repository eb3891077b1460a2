/*-------------------------------------------------------------------------
 *
 * conninfo.c
 *	  Connection strings as text.
 *
 * common/conninfo.c
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE /* strcasestr */
#include "conninfo.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"

/*
 * The toolkit's defaults for what the connection string leaves unset.
 *
 * connect_timeout bounds each host (applied by conn.c, which polls: libpq's
 * PQconnectPoll ignores it).  Keepalives and tcp_user_timeout bound a
 * network that goes silent while a statement runs and no signal comes: the
 * kernel probes an idle connection after 10s, every 5s, and drops a
 * connection whose data (or probes) stay unacknowledged for 60s.  On Linux
 * TCP_USER_TIMEOUT also decides when failed keepalive probes end the
 * connection, so either way a silent network ends a statement after about
 * a minute (at most 65s).  A long statement on a healthy network is never
 * affected: the server's kernel answers the probes.
 */
#define DEFAULT_CONNECT_TIMEOUT_S "10"
static const char *const default_keywords[][2] = {
	{"keepalives", "1"},       {"keepalives_idle", "10"},     {"keepalives_interval", "5"},
	{"keepalives_count", "3"}, {"tcp_user_timeout", "60000"},
};
#define N_DEFAULTS ((int) (sizeof(default_keywords) / sizeof(default_keywords[0])))

/* postgresql:// or postgres://: the length of the prefix, else 0 */
static size_t
uri_prefix_length(const char *dsn)
{
	if (strncmp(dsn, "postgresql://", 13) == 0)
		return 13;
	if (strncmp(dsn, "postgres://", 11) == 0)
		return 11;
	return 0;
}

bool
conninfo_uri_needs_encoding(const char *dsn)
{
	size_t      prefix = uri_prefix_length(dsn);
	const char *p = dsn + prefix;
	size_t      span;
	const char *at;

	if (prefix == 0)
		return false;
	span = strcspn(p, "?");
	at = memchr(p, '@', span);
	if (at == NULL)
		return false;
	/* a second "@", or a "/" before the "@": libpq would misread both */
	if (memchr(at + 1, '@', span - (size_t) (at + 1 - p)) != NULL)
		return true;
	return memchr(p, '/', (size_t) (at - p)) != NULL;
}

static const char *
option_value(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val && o->val[0])
			return o->val;
	return NULL;
}

bool
conninfo_has_password(const char *dsn)
{
	char             *errmsg = NULL;
	PQconninfoOption *given = PQconninfoParse(dsn, &errmsg);
	bool              has;

	if (given == NULL)
	{
		size_t prefix = uri_prefix_length(dsn);

		PQfreemem(errmsg);
		/* cannot tell: assume the worst */
		return strcasestr(dsn, "password") != NULL || (prefix > 0 && strchr(dsn + prefix, '@') != NULL);
	}
	has = option_value(given, "password") != NULL;
	PQconninfoFree(given);
	return has;
}

char *
conninfo_mask_quoted(const char *msg)
{
	textbuf     sb;
	const char *p = msg;

	textbuf_init(&sb);
	for (;;)
	{
		const char *open = strchr(p, '"');
		const char *close;

		if (open == NULL)
		{
			textbuf_append(&sb, p);
			break;
		}
		textbuf_append_len(&sb, p, (size_t) (open - p + 1));
		textbuf_append(&sb, "***");
		close = strchr(open + 1, '"');
		if (close == NULL)
		{
			textbuf_append_char(&sb, '"');
			break;
		}
		textbuf_append_char(&sb, '"');
		p = close + 1;
	}
	return textbuf_detach(&sb);
}

char *
conninfo_reason(const char *msg, bool secret)
{
	size_t n = strcspn(msg ? msg : "", "\n");
	char  *line = xstrndup(msg ? msg : "", n);
	char  *masked;

	while (n > 0 && isspace((unsigned char) line[n - 1]))
		line[--n] = '\0';
	if (!secret)
		return line;
	masked = conninfo_mask_quoted(line);
	free(line);
	return masked;
}

static char *
describe_parts(const char *user, const char *host, const char *port, const char *dbname)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_appendf(&sb, "%s@", user ? user : "?");
	if (host && strchr(host, ':') && host[0] != '/' && !strchr(host, ','))
		textbuf_appendf(&sb, "[%s]", host); /* IPv6 literal */
	else
		textbuf_append(&sb, host ? host : "localhost");
	/* a port that is not a number is a misread string: it may be a password */
	if (port && port[strspn(port, "0123456789,")] != '\0')
		port = "?";
	textbuf_appendf(&sb, ":%s/%s", port ? port : "5432", dbname ? dbname : "?");
	return textbuf_detach(&sb);
}

char *
conninfo_describe(const char *dsn)
{
	PQconninfoOption *given;
	PQconninfoOption *defaults;
	char             *errmsg = NULL;
	const char       *user, *host, *port, *dbname;
	char             *result;

	given = PQconninfoParse(dsn, &errmsg);
	if (given == NULL)
	{
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

char *
conninfo_parse_error(const char *dsn)
{
	char             *errmsg = NULL;
	PQconninfoOption *given = PQconninfoParse(dsn, &errmsg);
	char             *why;

	if (given != NULL)
	{
		PQconninfoFree(given);
		return NULL;
	}
	if (errmsg == NULL)
		return xstrdup("out of memory");
	why = conninfo_reason(errmsg, conninfo_has_password(dsn));
	PQfreemem(errmsg);
	return why;
}

/* ---- the process list ------------------------------------------------------ */

static void
mask_span(char *from, char *to)
{
	for (char *c = from; c < to; c++)
		*c = '*';
}

static void
scrub_uri(char *arg, size_t prefix)
{
	char *p = arg + prefix;
	char *q = p + strcspn(p, "?");
	char *at = NULL;

	for (char *c = p; c < q; c++)
		if (*c == '@')
			at = c; /* the last one: an unencoded "@" stays inside */
	if (at != NULL)
	{
		char *colon = memchr(p, ':', (size_t) (at - p));

		if (colon != NULL)
			mask_span(colon + 1, at);
	}
	if (*q != '?')
		return;
	for (char *param = q + 1; *param;)
	{
		size_t len = strcspn(param, "&");

		if (strncmp(param, "password=", 9) == 0)
			mask_span(param + 9, param + len);
		param += len;
		if (*param == '&')
			param++;
	}
}

static void
scrub_keywords(char *arg)
{
	for (char *p = arg; (p = strstr(p, "password")) != NULL;)
	{
		char *v = p + 8;

		/* a keyword starts the string or follows white space */
		if (p != arg && !isspace((unsigned char) p[-1]))
		{
			p = v;
			continue;
		}
		while (isspace((unsigned char) *v))
			v++;
		if (*v != '=')
		{
			p = v;
			continue;
		}
		v++;
		while (isspace((unsigned char) *v))
			v++;
		if (*v == '\'')
		{
			char *end = ++v;

			while (*end && *end != '\'')
				end += (*end == '\\' && end[1]) ? 2 : 1;
			mask_span(v, end);
			p = end;
		}
		else
		{
			char *end = v;

			while (*end && !isspace((unsigned char) *end))
				end++;
			mask_span(v, end);
			p = end;
		}
	}
}

void
conninfo_scrub_in_place(char *arg)
{
	size_t prefix;

	if (arg == NULL)
		return;
	prefix = uri_prefix_length(arg);
	if (prefix > 0)
		scrub_uri(arg, prefix);
	else
		scrub_keywords(arg);
}

/* ---- hosts ------------------------------------------------------------------- */

/* Remember p for conninfo_attempts_free(); returns p. */
static void *
own(conninfo_attempts *a, void *p)
{
	ARRAY_GROW(a->owned, a->n_owned + 1, a->cap_owned);
	a->owned[a->n_owned++] = p;
	return p;
}

/* The elements of a comma-separated list (empty ones kept); NULL: none. */
static int
split_list(conninfo_attempts *a, const char *list, char ***out)
{
	int         n = 1;
	const char *p;

	*out = NULL;
	if (list == NULL || list[0] == '\0')
		return 0;
	for (p = list; *p; p++)
		n += *p == ',';
	*out = xcalloc((size_t) n, sizeof(char *));
	own(a, (void *) *out);
	p = list;
	for (int i = 0; i < n; i++)
	{
		size_t len = strcspn(p, ",");

		(*out)[i] = own(a, xstrndup(p, len));
		p += len + (p[len] == ',');
	}
	return n;
}

static const char *
env_unless_service(const PQconninfoOption *given, const char *name)
{
	const char *v;

	/* a service file's settings come before the PG* variables in libpq */
	if (option_value(given, "service") != NULL || (getenv("PGSERVICE") && getenv("PGSERVICE")[0]))
		return NULL;
	v = getenv(name);
	return v && v[0] ? v : NULL;
}

static int64_t
connect_timeout_ms(const PQconninfoOption *given)
{
	const char *v = option_value(given, "connect_timeout");
	char       *end;
	long        s;

	if (v == NULL)
		v = getenv("PGCONNECT_TIMEOUT");
	if (v == NULL || v[0] == '\0')
		v = DEFAULT_CONNECT_TIMEOUT_S;
	s = strtol(v, &end, 10);
	if (end == v)
		s = atol(DEFAULT_CONNECT_TIMEOUT_S);
	if (s <= 0)
		return 0;                            /* libpq's meaning: wait for ever (signals still work) */
	return (int64_t) (s < 2 ? 2 : s) * 1000; /* libpq's minimum is 2s */
}

/*
 * The target_session_attrs of the attempts, and whether the toolkit adds
 * it (*add): the string's own, else PGTARGETSESSIONATTRS (libpq reads it),
 * else read-write for a command that writes, so that a standby or a
 * read-only default refuses the session before anything is attempted and
 * a multi-host string moves on to a writable host; NULL: libpq's "any".
 */
static const char *
session_attrs(const PQconninfoOption *given, bool read_write, bool *add)
{
	const char *v = option_value(given, "target_session_attrs");

	*add = false;
	if (v == NULL && getenv("PGTARGETSESSIONATTRS") && getenv("PGTARGETSESSIONATTRS")[0])
		v = getenv("PGTARGETSESSIONATTRS");
	if (v == NULL && read_write)
	{
		*add = true;
		v = "read-write";
	}
	return v;
}

/*
 * The options every attempt shares: what the string sets (less host,
 * hostaddr and port when they are split per attempt), then the toolkit's
 * defaults for what it leaves unset.  Sets out->want_writable.  Returns the
 * count; *kw and *val (room for 4 more and NULL) belong to out.
 */
static int
common_options(conninfo_attempts *out, const PQconninfoOption *given, bool per_host, bool read_write,
			   const char *progname, const char ***kw, const char ***val)
{
	int         n = 0, cap = N_DEFAULTS + 2 + 4 + 1;
	bool        add_attrs;
	const char *attrs = session_attrs(given, read_write, &add_attrs);

	out->want_writable = attrs && (strcmp(attrs, "read-write") == 0 || strcmp(attrs, "primary") == 0);
	for (const PQconninfoOption *o = given; o->keyword; o++)
		cap++;
	*kw = (const char **) (void *) own(out, xcalloc((size_t) cap, sizeof(char *)));
	*val = (const char **) (void *) own(out, xcalloc((size_t) cap, sizeof(char *)));
	for (const PQconninfoOption *o = given; o->keyword; o++)
	{
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (per_host && (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
						 strcmp(o->keyword, "port") == 0))
			continue;
		(*kw)[n] = own(out, xstrdup(o->keyword));
		(*val)[n++] = own(out, xstrdup(o->val));
	}
	for (int i = 0; i < N_DEFAULTS; i++)
	{
		if (option_value(given, default_keywords[i][0]) != NULL)
			continue;
		(*kw)[n] = default_keywords[i][0];
		(*val)[n++] = default_keywords[i][1];
	}
	if (add_attrs)
	{
		(*kw)[n] = "target_session_attrs";
		(*val)[n++] = attrs;
	}
	(*kw)[n] = "fallback_application_name";
	(*val)[n++] = progname;
	return n;
}

/* One attempt: the common options, then its host, hostaddr and port if any. */
static void
fill_attempt(conninfo_attempts *out, conninfo_attempt *at, const char **kw, const char **val, int n_common,
			 const char *h, const char *ad, const char *pt)
{
	int k = n_common;

	at->keywords = (const char **) (void *) own(out, xcalloc((size_t) (n_common + 4), sizeof(char *)));
	at->values = (const char **) (void *) own(out, xcalloc((size_t) (n_common + 4), sizeof(char *)));
	memcpy(at->keywords, kw, sizeof(char *) * (size_t) n_common);
	memcpy(at->values, val, sizeof(char *) * (size_t) n_common);
	if (h && h[0])
	{
		at->keywords[k] = "host";
		at->values[k++] = h;
	}
	if (ad && ad[0])
	{
		at->keywords[k] = "hostaddr";
		at->values[k++] = ad;
	}
	if (pt && pt[0])
	{
		at->keywords[k] = "port";
		at->values[k++] = pt;
	}
}

bool
conninfo_attempts_build(const char *dsn, const char *progname, bool read_write, conninfo_attempts *out,
						char **why)
{
	char             *errmsg = NULL;
	PQconninfoOption *given;
	char            **hosts, **addrs, **ports;
	int               nh, na, np, n, n_common;
	const char      **kw, **val;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	given = PQconninfoParse(dsn, &errmsg);
	if (given == NULL)
	{
		*why = errmsg ? conninfo_reason(errmsg, conninfo_has_password(dsn)) : xstrdup("out of memory");
		PQfreemem(errmsg);
		return false;
	}
	out->connect_timeout_ms = connect_timeout_ms(given);

	nh = split_list(
		out, option_value(given, "host") ? option_value(given, "host") : env_unless_service(given, "PGHOST"),
		&hosts);
	na = split_list(out,
					option_value(given, "hostaddr") ? option_value(given, "hostaddr")
													: env_unless_service(given, "PGHOSTADDR"),
					&addrs);
	np = split_list(
		out, option_value(given, "port") ? option_value(given, "port") : env_unless_service(given, "PGPORT"),
		&ports);
	n = nh > na ? nh : na;
	/* counts libpq would refuse: one attempt, libpq says what is wrong */
	if ((nh > 0 && na > 0 && nh != na) || (np > 1 && np != n))
		n = 0;

	n_common = common_options(out, given, n > 0, read_write, progname, &kw, &val);
	PQconninfoFree(given);

	out->n = n > 0 ? n : 1;
	out->items = (conninfo_attempt *) (void *) own(out, xcalloc((size_t) out->n, sizeof(conninfo_attempt)));
	for (int i = 0; i < out->n; i++)
	{
		const char *h = nh > 0 && n > 0 ? hosts[i] : NULL;
		const char *ad = na > 0 && n > 0 ? addrs[i] : NULL;
		const char *pt = np > 0 && n > 0 ? ports[np == 1 ? 0 : i] : NULL;

		fill_attempt(out, &out->items[i], kw, val, n_common, h, ad, pt);
		out->items[i].label =
			own(out, n > 0 ? xasprintf("%s:%s", h && h[0] ? h : (ad && ad[0] ? ad : "default host"),
									   pt && pt[0] ? pt : "default port")
						   : xstrdup("every host"));
	}
	return true;
}

void
conninfo_attempts_free(conninfo_attempts *a)
{
	for (int i = 0; i < a->n_owned; i++)
		free(a->owned[i]);
	free(a->owned);
	memset(a, 0, sizeof(*a));
}
