/*-------------------------------------------------------------------------
 *
 * blockers.h
 *	  Who is in the way: the sessions that block a backend, sampled live.
 *
 * After a lock timeout the blocking list is empty: the waiter is gone.  So
 * the list must be sampled from a second connection while the wait is still
 * going on (pg_blocking_pids), and the last sample reported when the
 * timeout arrives.
 *
 * common/blockers.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_BLOCKERS_H
#define TOOLKIT_BLOCKERS_H

#include <stdbool.h>

#include <stdint.h>

#include <libpq-fe.h>

#include "conn.h"

typedef struct blocker
{
	char *pid;
	char *application; /* application_name, "" if unset */
	char *state;       /* "active", "idle in transaction", ... */
	char *xact_age;    /* seconds since the transaction began, "" if
								 * none */
	char *query;       /* last query, cut to 200 characters, one line */
	char *wait_event;  /* what the blocker itself waits on, or "" */
} blocker;

typedef struct blocker_list
{
	blocker *items;
	int      n;
	char    *waiting_on; /* the waiter's wait_event_type/wait_event */
} blocker_list;

/*
 * The side connection the samples are taken over: opened on first need and
 * then reused for the whole run.  When it cannot be opened (too many
 * connections, for example) sampling is off for a while: the next attempt
 * waits BLOCKERS_SIDE_BACKOFF_MS, doubling up to BLOCKERS_SIDE_BACKOFF_MAX_MS,
 * and the program says so once per run, never at every tick.
 */
#define BLOCKERS_SIDE_BACKOFF_MS     30000
#define BLOCKERS_SIDE_BACKOFF_MAX_MS 300000

typedef struct blocker_side
{
	const conn_options *opts;     /* where to connect (set by the caller) */
	PGconn             *conn;     /* NULL until opened */
	int64_t             retry_at; /* monotonic ms: no attempt before */
	int64_t             backoff_ms;
	bool                reported; /* the failure was said */
} blocker_side;

/*
 * The side connection, opened if needed (a lost one is opened again, once,
 * subject to the same back-off).  NULL while it cannot be had.
 */
PGconn *blockers_side_get(blocker_side *side);

/* Close it; accepts a side that was never opened. */
void blockers_side_close(blocker_side *side);

/*
 * Sample the sessions blocking backend pid, over side (another connection).
 * Returns true and replaces *out (freeing what it held) when the query ran;
 * an empty list means nothing blocks pid right now.  false: the query
 * failed (logged at debug level; sampling is best effort) and *out is kept.
 */
bool blockers_sample(PGconn *side, int pid, blocker_list *out);

/*
 * Log one line per blocker at level, each prefixed with prefix, for example
 * "blocked by pid=123 application=\"psql\" state=idle in transaction
 * xact_age=12.0s query=\"LOCK TABLE call_log\"".
 */
void blockers_log(const blocker_list *list, int level, const char *prefix);

/* Copy src into *dst (freeing what dst held). */
void blockers_copy(blocker_list *dst, const blocker_list *src);

void blockers_free(blocker_list *list);

#endif /* TOOLKIT_BLOCKERS_H */
