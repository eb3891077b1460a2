/*-------------------------------------------------------------------------
 *
 * conn.h
 *	  Opening connections: where the target comes from, waiting for the
 *	  server, a fixed session, and never a password in any output.
 *
 * The target is --dsn, else DATABASE_URL, else libpq's own PG* variables
 * (PGHOST, PGDATABASE, PGSERVICE, ...).  A connection string may be in
 * keyword/value form or a postgresql:// URI; either way it is only ever
 * shown as "user@host:port/dbname", rebuilt from its parsed parts, so a
 * password (inline, in a URI's userinfo or in ?password=) never reaches a
 * log line.
 *
 * common/conn.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_CONN_H
#define TOOLKIT_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "exitcodes.h"
#include "pgerr.h"

typedef struct conn_options
{
	const char *dsn;      /* --dsn, or NULL */
	const char *schema;   /* the schema user SQL resolves in; never NULL */
	const char *progname; /* fallback_application_name */
	int64_t     wait_ms;  /* --wait: retry the first connection this
								 * long while the server does not accept */
} conn_options;

/*
 * The connection string to use: opts->dsn, else $DATABASE_URL, else "" (all
 * from libpq's PG* variables).  *source, if not NULL, names where it came
 * from ("--dsn", "DATABASE_URL", "PG* environment").  Not allocated.
 */
const char *conn_resolve_dsn(const conn_options *opts, const char **source);

/*
 * "user@host:port/dbname" for a connection string (libpq defaults and PG*
 * variables fill what it leaves out).  Returns NULL when the string does not
 * parse.  Never contains a password.  Caller frees.
 */
char *conn_describe_dsn(const char *dsn);

/*
 * Connect, waiting up to opts->wait_ms while the server is down or starting
 * (no response, or "the database system is starting up").  A server that
 * answers and refuses us (authentication, missing database, no such role)
 * fails at once: waiting would not change the answer.
 *
 * On success stores the connection in *out, with server NOTICEs and
 * WARNINGs routed to the log and an empty search_path (the toolkit's own
 * SQL resolves only in pg_catalog; see conn_set_search_path), and
 * returns EXIT_OK.  Otherwise logs one error line and returns EXIT_USAGE (the
 * connection string does not parse), EXIT_UNREACHABLE, or the cancel exit
 * code when a signal interrupted the wait.
 */
int conn_open(const conn_options *opts, PGconn **out);

/*
 * Open one more connection to the same target as conn (for a side channel
 * or a parallel worker): no waiting, same session settings.  Returns NULL
 * after logging when it fails.
 */
PGconn *conn_open_like(const conn_options *opts);

/*
 * Point search_path at schema (NULL or "": back to empty, the toolkit's own
 * setting), for the session or, with is_local, to the end of the current
 * transaction.  Only user SQL (a migration, a verify file, a definition's
 * CREATE INDEX) runs with the schema on the path.  Uninterruptible: it also
 * restores the session after a cancel.  Returns true, or false with err
 * filled.
 */
bool conn_set_search_path(PGconn *conn, const char *schema, bool is_local, db_error *err);

/* PQfinish that accepts NULL. */
void conn_close(PGconn *conn);

#endif /* TOOLKIT_CONN_H */
