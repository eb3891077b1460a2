/*-------------------------------------------------------------------------
 *
 * advlock.h
 *	  One run at a time: a session advisory lock with a bounded wait.
 *
 * The lock key is derived from a text name on the client, by
 * advlock_key() alone: the first 8 bytes of the MD5 of the name, read as a
 * big-endian two's-complement bigint, exactly the value older versions had
 * the server compute with ('x' || substr(md5(name), 1, 16))::bit(64)::bigint,
 * so old and new versions exclude each other during a rolling deploy.  No
 * server md5() (FIPS-mode servers refuse it) and no crypto library's MD5
 * (FIPS-mode clients refuse that): common/md5.c.  The names of both
 * programs come from advlock_name() alone, used by every program that
 * takes or looks for these locks (the migrator's requires-index takes the
 * indexer's).  The server hashed the bytes of the name in the database's
 * encoding; the client hashes the bytes it has, the same for ASCII names
 * and for UTF-8 databases and clients.  The lock is a session lock: it
 * lives as long as the connection, so a crashed run releases it by dying.  A pooler
 * in transaction mode (PgBouncer pool_mode=transaction) hands the session to
 * others between transactions and cannot carry it: connect directly.
 *
 * common/advlock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_ADVLOCK_H
#define TOOLKIT_ADVLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

/* The key of the lock named name: see above.  Never fails. */
int64_t advlock_key(const char *name);

/* Whose run a lock guards. */
typedef enum advlock_program
{
	ADVLOCK_MIGRATOR, /* scope: the history table, quoted "schema"."table" as
					   * history.c quotes it */
	ADVLOCK_INDEXER   /* scope: the database, PQdb() */
} advlock_program;

/*
 * The run-lock name of program on scope: "migrator:<scope>" or
 * "indexer:<scope>", the one place both programs' names come from (a
 * changed name would let an old and a new version run at once during a
 * rolling deploy).  Caller frees.
 */
char *advlock_name(advlock_program program, const char *scope);

#include "pgerr.h"

/*
 * Take the lock named name, polling pg_try_advisory_lock for up to wait_ms
 * (0: one try) and logging every few seconds who holds it.  what describes
 * the run for messages ("migrator", "indexer").  Returns EXIT_OK, EXIT_LOCKED
 * when the time ran out, EXIT_UNREACHABLE when the connection failed, or the
 * cancel exit code on a signal.  Never blocks inside the server.
 */
int advlock_acquire(PGconn *conn, const char *name, int64_t wait_ms, const char *what);

/*
 * Does backend pid hold the lock named name?  Asked over conn (any
 * connection to the same database), so that the run can confirm, inside a
 * migration's transaction, that the lock connection still holds it.
 * Returns 1 (held), 0 (not held) or -1 with err filled.
 */
int advlock_held(PGconn *conn, const char *name, int pid, db_error *err);

/*
 * advlock_held's query, to send in a pipeline: returns the SQL (static) and
 * fills a (its two parameters, in a->values); the result is one row, one
 * count, "0" when the lock is not held.
 */
typedef struct advlock_held_args
{
	char        keybuf[24], pidbuf[16];
	const char *values[2];
} advlock_held_args;
const char *advlock_held_query(const char *name, int pid, advlock_held_args *a);

/* Release it; false (and a warning) if it was not held. */
bool advlock_release(PGconn *conn, const char *name);

#endif /* TOOLKIT_ADVLOCK_H */
