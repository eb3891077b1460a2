/*-------------------------------------------------------------------------
 *
 * conn.h
 *	  Opening connections: where the target comes from, waiting for the
 *	  server, bounded connecting, one set of session settings, and never a
 *	  password in any output.
 *
 * The target is --dsn, else DATABASE_URL, else libpq's own PG* variables
 * (PGHOST, PGDATABASE, PGSERVICE, ...).  A connection string may be in
 * keyword/value form or a postgresql:// URI; either way it is only ever
 * shown as "user@host:port/dbname", rebuilt from its parsed parts, so a
 * password (inline, in a URI's userinfo or in ?password=) never reaches a
 * log line (see conninfo.h).
 *
 * Connecting never blocks a signal: PQconnectStartParams + PQconnectPoll,
 * polling the socket together with the signal's self-pipe, one host at a
 * time, each bounded by connect_timeout (default 10s), so that a host that
 * accepts and never answers moves on to the next host of a multi-host
 * string as libpq itself would.
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

/* What --help says of connecting, signals and passwords (both programs). */
#define CONN_HELP                                                                                            \
	"Connecting: each host of the connection string is given connect_timeout (default 10s), then the\n"      \
	"next host is tried; TCP keepalives (idle 10s, every 5s) and tcp_user_timeout=60000 are on unless\n"     \
	"the string sets them, so a network that goes silent ends a statement after about a minute.\n"           \
	"Commands that write (migrator up/repair/baseline, indexer build) ask for target_session_attrs=\n"       \
	"read-write unless the string or PGTARGETSESSIONATTRS sets it: a standby or a read-only database\n"      \
	"is refused at once (exit 3, \"the server is read-only (a standby?)\"), the next host is tried.\n"       \
	"SIGINT/SIGTERM cancel the statement in flight; when the server does not confirm the cancel within\n"    \
	"3s the connection is dropped (\"cancel not confirmed\"); the program exits 130/143 at the latest\n"     \
	"12s after the signal, whatever the network does; a second signal exits at once. After a signal,\n"      \
	"clean-up statements (ROLLBACK, history rows) and the metrics push wait at most 3s for an answer.\n"     \
	"Passwords: a URI must percent-encode @ and / in the password (%40, %2F). The password of --dsn is\n"    \
	"overwritten in the process list once parsed, but visible there until then: prefer ~/.pgpass,\n"         \
	"PGPASSFILE or a service file (PGSERVICE). libpq's messages are shown, with every quoted value\n"        \
	"masked when the connection string holds a password.\n"

/*
 * Work of the caller's own, done while a connection is being made: the
 * server forks a backend and authenticates meanwhile, and on a machine with
 * a spare CPU the two overlap (issue 13: a no-op run reads its migration
 * files there).  step does a slice of it and returns its new state.
 * Connecting runs one slice whenever the socket has nothing to say, and
 * every remaining slice before it reports a failure or waits to retry, so
 * that the work's own verdict comes first: when the work FAILED (it has
 * logged why), the attempt is dropped without a word and conn_open returns
 * EXIT_USAGE.  A signal does not wait for the work.  On success what is
 * left of it is the caller's to finish (conn_work_finish), after sending
 * its first batch, say, so that it overlaps the server's answer too.
 */
typedef enum conn_work_state
{
	CONN_WORK_MORE,
	CONN_WORK_DONE,
	CONN_WORK_FAILED,
} conn_work_state;

typedef struct conn_work
{
	conn_work_state (*step)(void *arg);
	void           *arg;
	conn_work_state state; /* CONN_WORK_MORE until step says otherwise */
} conn_work;

/*
 * Run the work's remaining slices; false when it FAILED, or when a signal
 * stopped it first (cancel_pending() tells which).  NULL: true.
 */
bool conn_work_finish(conn_work *work);

typedef struct conn_options
{
	const char *dsn;             /* --dsn, or NULL */
	const char *schema;          /* the schema user SQL resolves in; never NULL */
	const char *progname;        /* fallback_application_name */
	int64_t     wait_ms;         /* --wait: retry the first connection this
								 * long while the server does not accept */
	int64_t     lock_timeout_ms; /* > 0: every session's lock_timeout,
									 * except build connections; 0: the
									 * server's */
	const char *role;            /* --role: SET ROLE on every connection (build
								 * ones too), or NULL */
	bool        read_write;      /* the command writes: every connection asks
								 * for a writable server (see conn_open) */
	bool        side;            /* the blocker sampler's side channel: a
								 * signal that interrupts its connecting is
								 * not the run's error (the run says it) */
	conn_work  *work;            /* done while connecting, or NULL */
} conn_options;

/* How a writing command's refusal by a read-only server begins. */
#define CONN_READ_ONLY "the server is read-only (a standby?)"

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
 * The --dsn argument: a private copy for the program (never freed, it lives
 * as long as the run), and the password in arg, which is argv memory that
 * the process list shows, overwritten with '*'.
 */
const char *conn_take_dsn_arg(char *arg);

/*
 * Connect, waiting up to opts->wait_ms while the server is down or starting
 * (no response, or "the database system is starting up").  A server that
 * answers and refuses us (authentication, missing database, no such role)
 * fails at once: waiting would not change the answer.
 *
 * A connection lost while the session is set up (the server restarting)
 * counts as "down" too.  Each host is bounded by connect_timeout; a signal
 * ends the attempt at once.
 *
 * With opts->read_write, the session is opened with
 * target_session_attrs=read-write unless the connection string (or
 * PGTARGETSESSIONATTRS) sets target_session_attrs: a hot standby, or a
 * database whose default_transaction_read_only is on, is refused before
 * anything is attempted, and a multi-host string moves on to the next
 * host; when every host is read-only, one error line with CONN_READ_ONLY
 * and EXIT_UNREACHABLE, without waiting (servers before 14 do not report
 * why: their refusal reads as "no response").  A service file's
 * target_session_attrs gives way to read-write: set it in the string.
 *
 * On success stores the connection in *out, with server NOTICEs and
 * WARNINGs routed to the log and the session settings of conn_setup_session,
 * and returns EXIT_OK.  Otherwise logs one error line and returns
 * EXIT_USAGE (the connection string does not parse, or a URI's password
 * needs percent-encoding), EXIT_UNREACHABLE, or the cancel exit code when a
 * signal interrupted it.
 */
int conn_open(const conn_options *opts, PGconn **out);

/*
 * conn_open without the round trip of the session settings: when they
 * cannot ride in the start-up packet, conn_setup_session's statement is
 * appended to batch (an empty pipeline_init'ed one) instead, as its first
 * entry, so that it goes to the server in the caller's first round trip.
 * The caller must run batch before any other statement on *out, add no
 * Sync between that entry and its own (so that a failed setup aborts them
 * all), and close *out unless every entry succeeded.  A connection lost
 * while the batch runs is waited for only by a caller that loops with
 * conn_retry_lost_batch.  Returns as conn_open.
 */
struct pipeline;
int conn_open_batch(const conn_options *opts, PGconn **out, struct pipeline *batch);

/*
 * --wait across a start-up batch: a connection lost after the server
 * accepted it and before the caller's first round trip answered (a
 * restart, a proxy that drops it) is awaited like a server that does not
 * answer yet, until the same deadline.  The caller loops:
 *
 *     conn_retry_start(&r, &opts);
 *     for (;;) { conn_open_batch(&opts, ...); add its entries; run;
 *                if it failed and conn_retry_lost_batch(&r, &opts, &conn, &err):
 *                    clear every answer, a fresh batch, continue; ... }
 *
 * and sends its whole batch again each time: the server rolled the lost
 * one back and a session-level lock (the run lock) went with the session,
 * so nothing of a half-run batch is ever counted as done.
 */
typedef struct conn_retry
{
	int64_t deadline; /* monotonic_ms() at which --wait ends */
	int64_t delay;    /* before the next attempt, doubling up to 2s */
	int64_t last_log; /* when the wait was last reported */
	bool    waits;    /* --wait was given (for the final message) */
} conn_retry;

/* Start the clock of opts->wait_ms (call once, before the first attempt). */
void conn_retry_start(conn_retry *r, const conn_options *opts);

/*
 * The batch on *conn failed with err.  When the connection was lost
 * (pgerr action RECONNECT, no signal) and the deadline leaves time for
 * another attempt: closes *conn (NULL), logs the wait as conn_open does
 * (at most every 5s), sleeps, sets opts->wait_ms to what is left, and
 * returns true.  Otherwise false with *conn untouched (cancel_pending()
 * says when a signal cut the sleep short: *conn is then closed, NULL).
 */
bool conn_retry_lost_batch(conn_retry *r, conn_options *opts, PGconn **conn, const db_error *err);

/*
 * What the error line of a start-up batch that failed with err adds for a
 * lost connection: "connection to the server lost (gave up waiting): " or
 * "... (--wait DURATION reconnects and retries): "; "" for any other error.
 * Static storage.
 */
const char *conn_lost_prefix(const conn_retry *r, const db_error *err);

/*
 * Open one more connection to the same target (for a side channel: the
 * watchdog, the monitor, the blocker sampler, catalog reads): no waiting,
 * the same session settings.  Returns NULL after logging when it fails.
 */
PGconn *conn_open_like(const conn_options *opts);

/*
 * conn_open_like for a connection that builds indexes: exempt from
 * opts->lock_timeout_ms (a lock_timeout would also cut a concurrent build's
 * waits for older transactions; the build's watchdog bounds its lock wait).
 */
PGconn *conn_open_for_build(const conn_options *opts);

/*
 * The session settings every connection gets, in one round trip: an empty
 * search_path (the toolkit's own SQL resolves only in pg_catalog; see
 * conn_set_search_path), idle_session_timeout 0 (a run's lock connection
 * idles for as long as the run lasts), when lock_timeout_ms > 0 that
 * lock_timeout, and when role is not NULL that role (SET ROLE).
 * application_name comes with the connection (fallback_application_name =
 * the program's name, so a DSN's own application_name wins), and the DSN's
 * own startup options are never touched: settings are applied with
 * set_config() after connecting, which neither replaces a service file's
 * options nor trips a pooler that refuses startup parameters.  Returns
 * true, or false with err filled.
 */
bool conn_setup_session(PGconn *conn, int64_t lock_timeout_ms, const char *role, db_error *err);

/*
 * Point search_path at schema (NULL or "": back to empty, the toolkit's own
 * setting), for the session or, with is_local, to the end of the current
 * transaction.  Only user SQL (a migration, a verify file, a definition's
 * CREATE INDEX) runs with the schema on the path.  Uninterruptible: it also
 * restores the session after a cancel.  Returns true, or false with err
 * filled.
 */
bool conn_set_search_path(PGconn *conn, const char *schema, bool is_local, db_error *err);

/*
 * set_config(name, value, is_local): for the transaction or the session.
 * Uninterruptible (it takes no lock).  A search_path read before with
 * current_setting() goes back as the text it was ("app, public").
 */
bool conn_set_config(PGconn *conn, const char *name, const char *value, bool is_local, db_error *err);

/*
 * Log a server notice or warning as every connection of the toolkit does
 * (a receiver of its own, such as the index build's, passes the rest on).
 */
void conn_log_notice(const PGresult *res);

/* PQfinish that accepts NULL. */
void conn_close(PGconn *conn);

#endif /* TOOLKIT_CONN_H */
