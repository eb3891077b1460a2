/*-------------------------------------------------------------------------
 *
 * conninfo.h
 *	  Connection strings as text: what they say, what may be shown of them,
 *	  and the hosts of a multi-host string, without connecting.
 *
 * A password must never reach a log line or the process list for longer
 * than necessary: the target is shown as "user@host:port/dbname" rebuilt
 * from its parsed parts; when the string holds a password, every quoted
 * value in libpq's messages is masked (libpq quotes values back, e.g.
 * invalid integer value "S3cr" for connection option "port"); a URI whose
 * userinfo has an unencoded "@" or "/" is refused before it is parsed,
 * since libpq would read part of the password as the host (and look it up).
 *
 * common/conninfo.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_CONNINFO_H
#define TOOLKIT_CONNINFO_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

/* The exact advice for a URI refused by conninfo_uri_needs_encoding(). */
#define CONNINFO_ENCODE_ADVICE "percent-encode @ and / in the password: %40, %2F"

/*
 * True when dsn is a postgresql:// (or postgres://) URI whose authority has
 * more than one "@", or a "/" before its "@": a password (or user name)
 * with an unencoded "@" or "/".  Never looks past the query ("?").
 */
bool conninfo_uri_needs_encoding(const char *dsn);

/*
 * True when dsn holds a password (the password keyword, URI userinfo or
 * ?password=).  When dsn does not parse, true whenever it might: it
 * mentions "password" or is a URI with "@" in it.
 */
bool conninfo_has_password(const char *dsn);

/*
 * msg with the text between every pair of double quotes replaced by "***"
 * (an unpaired quote masks to the end).  Caller frees.
 */
char *conninfo_mask_quoted(const char *msg);

/*
 * The first line of a libpq message, masked with conninfo_mask_quoted()
 * when secret, without trailing spaces.  Caller frees.
 */
char *conninfo_reason(const char *msg, bool secret);

/*
 * "user@host:port/dbname" for a connection string (libpq defaults and PG*
 * variables fill what it leaves out).  Returns NULL when the string does not
 * parse.  Never contains a password.  Caller frees.
 */
char *conninfo_describe(const char *dsn);

/*
 * Why dsn does not parse: libpq's message, first line, masked when dsn may
 * hold a password; NULL when it parses.  Caller frees.
 */
char *conninfo_parse_error(const char *dsn);

/*
 * Overwrite the password inside a command-line connection string in place
 * (argv memory, which the process list shows) with '*': the value of a
 * password keyword, a URI's userinfo password and ?password=/&password=.
 * Until this runs the password is visible to every user of the machine.
 */
void conninfo_scrub_in_place(char *arg);

/*
 * The hosts of a connection string, one connection attempt each, so that a
 * per-host connect_timeout can move on to the next one.  keywords/values
 * are NULL-terminated arrays for PQconnectStartParams (expand_dbname 0);
 * every string belongs to the list.
 */
typedef struct conninfo_attempt
{
	const char **keywords;
	const char **values;
	const char  *label; /* "host:port" for messages (may hold a password
						 * only if the host does: mask when secret) */
} conninfo_attempt;

typedef struct conninfo_attempts
{
	conninfo_attempt *items;
	int               n;
	int64_t           connect_timeout_ms; /* per host; 0: none */
	bool              want_writable;      /* target_session_attrs is read-write
										   * or primary: libpq refuses a
										   * read-only server */
	char            **owned;              /* strings to free */
	int               n_owned;
	int               cap_owned; /* allocated length of owned */
} conninfo_attempts;

/*
 * Build the attempts for dsn: every option the string sets, then the
 * toolkit's defaults for what it leaves unset (fallback_application_name =
 * progname, TCP keepalives and tcp_user_timeout, see conninfo.c; with
 * read_write, target_session_attrs=read-write unless the string or
 * PGTARGETSESSIONATTRS sets it), then one host, hostaddr and port per
 * attempt.  Host lists come from the string, else from
 * PGHOST/PGHOSTADDR/PGPORT (not when a service is named: a service file's
 * hosts are then libpq's, in one attempt; its target_session_attrs gives
 * way to read_write's).  A list libpq would refuse (port count that does
 * not match) stays whole, for libpq to report.  Returns false with *why
 * (caller frees) when dsn does not parse.
 */
bool conninfo_attempts_build(const char *dsn, const char *progname, bool read_write, conninfo_attempts *out,
							 char **why);

void conninfo_attempts_free(conninfo_attempts *a);

#endif /* TOOLKIT_CONNINFO_H */
