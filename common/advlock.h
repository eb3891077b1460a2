/*-------------------------------------------------------------------------
 *
 * advlock.h
 *	  One run at a time: a session advisory lock with a bounded wait.
 *
 * The lock key is derived on the server from a text name (the first 64 bits
 * of its MD5), so every replica and every version of the toolkit computes
 * the same key for the same name.  The lock is a session lock: it lives as
 * long as the connection, so a crashed run releases it by dying.  A pooler
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

/* Release it; false (and a warning) if it was not held. */
bool advlock_release(PGconn *conn, const char *name);

#endif /* TOOLKIT_ADVLOCK_H */
