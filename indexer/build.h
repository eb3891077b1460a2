/*-------------------------------------------------------------------------
 *
 * build.h
 *	  Carrying out the plan: concurrent builds on up to N connections,
 *	  watched, retried, repaired, cancellable.
 *
 * Work is grouped by table (never two builds on one table at a time) and
 * handed out biggest table first, as reindexdb -j does.  Each connection
 * ("slot") runs in autocommit, one statement per query, with its own
 * statement_timeout, maintenance_work_mem, max_parallel_maintenance_workers
 * and client_connection_check_interval (so that the server stops a build
 * whose client died), and lock_timeout 0: a plain lock_timeout would also
 * bound the waits for older transactions, which are normal for a
 * concurrent build.  Instead, a watchdog polls pg_stat_activity over the
 * run's main connection: a slot waiting for a relation lock (wait_event
 * "relation") longer than --lock-timeout is cancelled, and that counts as
 * a lock timeout (retried).  Waits for older transactions (virtualxid) are
 * reported as progress with the blocking sessions named.
 *
 * The statements run asynchronously (PQsendQueryParams, select() over all
 * sockets), so one thread drives every slot, the watchdog and the progress
 * display.  After a failure, a leftover invalid index is looked for and
 * dropped (DROP INDEX CONCURRENTLY) before a retry or at once for a
 * definitive failure.  On SIGINT/SIGTERM every statement in flight is
 * cancelled, leftovers are dropped within a short bound, and what could
 * not be dropped is named.
 *
 * indexer/build.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_BUILD_H
#define INDEXER_BUILD_H

#include <stdint.h>

#include <libpq-fe.h>

#include "conn.h"
#include "plan.h"
#include "settings.h"

/* How long leftovers may take to drop after a signal. */
#define BUILD_CLEANUP_BOUND_MS 5000

typedef struct build_env
{
	const indexer_settings *settings;
	const conn_options     *conn_opts;   /* for the slots' connections */
	PGconn                 *monitor;     /* the run's main connection: watchdog and
								 * progress queries (idle otherwise) */
	int64_t                 deadline_ms; /* monotonic_ms() after which no new job starts
										  * (--max-runtime); 0 = none */
	struct record          *record;      /* history table (record.h): a row when a job starts
										  * and its outcome when it ends; NULL = none */
} build_env;

typedef struct build_summary
{
	int built;
	int repaired;
	int rebuilt;
	int dropped;
	int cleaned; /* definitions whose leftovers were dropped */
	int failed_critical;
	int failed_noncritical;
	int interrupted;
	int deferred; /* not started: the deadline had passed */
} build_summary;

/*
 * Carry out every item whose action is work (plan_action_is_work) and that
 * has no outcome yet (one deferred before the run is left alone), filling
 * each one's outcome, failure and duration.  Logs every outcome.  Returns
 * EXIT_OK (a non-critical failure is only a warning), EXIT_CHANGE_FAILED
 * when a critical definition failed (no new build is started after that;
 * those in flight finish), EXIT_UNREACHABLE when no connection could be
 * opened, or the cancel exit code after a signal.  Once env->deadline_ms
 * has passed, no new job starts (those in flight finish, every step of
 * them): the rest get OUTCOME_DEFERRED, are logged and counted in
 * sum->deferred; that alone does not change the exit code.
 */
int build_run(plan_item *items, int n, const build_env *env, build_summary *sum);

#endif /* INDEXER_BUILD_H */
