/*-------------------------------------------------------------------------
 *
 * build_internal.h
 *	  The build engine's own types, shared by its modules; not an API.
 *
 * build_run() (build.h) is the one entry point.  Behind it:
 *
 *	  build.c           the engine: slots (connections), the loop over them,
 *						handing out work, interrupts, the exit code
 *	  build_job.c       the recipe of units for each plan action, a job's
 *						outcome, and the end-of-run invariant (every work
 *						item has an outcome before the exit code is computed)
 *	  build_unit.c      the unit state machine: one table of steps, each
 *						row the statement, the next step on success and the
 *						action on failure
 *	  build_partition.c the partition recipe (units added at run time)
 *	  build_monitor.c   the watchdog: lock waits bounded by --lock-timeout,
 *						blockers named, the run lock checked
 *	  build_progress.c  log lines around the progress bar, the bar itself,
 *						progress from pg_stat_progress_create_index
 *	  build_guard.c     the replica guard before each build: wait, defer,
 *						refuse (replica_guard.h)
 *
 * A plan item that needs work becomes a job: a list of units, each a small
 * state machine that sends one statement at a time on its slot's
 * connection.  Every module works on the one engine struct of the run;
 * nothing here is global.
 *
 * indexer/build_internal.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_BUILD_INTERNAL_H
#define INDEXER_BUILD_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "blockers.h"
#include "build.h"
#include "log.h"
#include "parallel_slot.h"
#include "pgerr.h"
#include "plan.h"

/* watchdog and progress poll interval */
#define MONITOR_MS 250
/* after the cleanup bound, how long to wait for cancelled statements */
#define HARD_STOP_MS 5000

typedef enum unit_kind
{
	UNIT_BUILD,  /* [drop an invalid index of the name] CREATE INDEX
				  * CONCURRENTLY, verify valid and ready; after a failure
				  * look for the leftover, drop it, then retry or give up */
	UNIT_STMT,   /* one statement (ON ONLY parent, ATTACH PARTITION), retried */
	UNIT_DROP,   /* DROP INDEX CONCURRENTLY IF EXISTS, retried */
	UNIT_SWAP,   /* BEGIN; rename old away; mark it; rename new in; COMMIT */
	UNIT_VERIFY, /* the index must be valid (a partitioned parent, at the end) */
	UNIT_EXPAND  /* list the partitions and add their units (synchronous) */
} unit_kind;

/* The statement a unit sends next: a row of the table in build_unit.c. */
typedef enum unit_step
{
	STEP_DROP_FIRST,    /* BUILD: DROP the invalid index of the name */
	STEP_CREATE,        /* BUILD: CREATE INDEX CONCURRENTLY */
	STEP_VERIFY,        /* BUILD, VERIFY: state of the index */
	STEP_CHECK,         /* BUILD: after a failure, is there a leftover? */
	STEP_DROP_LEFTOVER, /* BUILD: DROP it */
	STEP_SEND,          /* STMT, DROP: the statement */
	STEP_EXPAND,        /* EXPAND: the partition recipe */
	STEP_BEGIN,         /* SWAP */
	STEP_RENAME_OLD,
	STEP_MARK_OLD, /* SWAP: COMMENT ON the old index, in the same transaction */
	STEP_RENAME_NEW,
	STEP_COMMIT,
	STEP_ROLLBACK,
	STEP_DONE,
	STEP_FAILED
} unit_step;

typedef struct unit
{
	unit_kind kind;
	char     *label;         /* "\"idx\" on \"s.t\"" */
	char     *sql;           /* CREATE, the statement, or the DROP */
	char     *schema;        /* schema of the index */
	char     *name;          /* the index */
	char     *table_oid;     /* its table (BUILD, VERIFY) */
	char     *table_label;   /* "s.t" */
	char     *swap_old_sql;  /* SWAP: rename the old index away */
	char     *swap_new_sql;  /* SWAP: rename the new one in */
	char     *mark_old;      /* SWAP: the COMMENT that marks the old index ours */
	char     *swap_old_name; /* SWAP: the old index after the rename, quoted */
	bool      user_sql;      /* sql is the user's CREATE INDEX: runs with search_path =
								 * the definition's schema */
	bool      drop_first;
	bool      created; /* BUILD: a CREATE ran in this attempt (so a leftover
						* found after a failure is ours to drop) */
	unit_step step;
	int       attempt; /* 1-based */
	db_error  err;     /* the failure being handled */
} unit;

typedef struct job
{
	plan_item *item;
	unit      *units;
	int        n_units;
	int        cap_units; /* allocated length (memory.h) */
	int        cur;
	int64_t    started_ms;
	int64_t    record_id; /* its history row (record.h), 0 = none */
	bool       failed;
	char      *left_behind; /* an invalid index we could not drop */
} job;

typedef struct work_table
{
	const char *schema;
	const char *table;
	int64_t     bytes;
	int        *items; /* plan item indexes */
	int         n_items;
	int         cap_items; /* allocated length (memory.h) */
	int         next;      /* next item to start */
} work_table;

typedef struct engine engine;

typedef struct slot
{
	parallel_slot ps;
	engine       *run;         /* the run it belongs to (for its result handler) */
	int           pid;         /* backend pid */
	char         *search_path; /* schema the session resolves names in */
	int           table;       /* work_table in hand, -1 when idle */
	job          *job;
	int64_t       not_before;     /* backoff until then */
	bool          watchdog_fired; /* cancelled for a lock wait */
	bool          create_skipped; /* the last CREATE INDEX ... IF NOT EXISTS
								   * skipped: an index of that name was
								   * there, made by another session */
	bool          deadline_fired; /* cancelled at the cleanup bound */
	/* what the monitor last saw */
	int64_t      relation_wait_since;
	int64_t      lock_wait_since;
	int64_t      last_wait_report;
	int64_t      last_progress_log;
	blocker_list blockers;
	char         phase[64];
	int          pct; /* -1 when unknown */
	char         progress_detail[96];
} slot;

struct engine
{
	const build_env        *env;
	const indexer_settings *set;
	plan_item              *items;
	int                     n_items;
	job                    *jobs; /* one per item, by item index */
	work_table             *tables;
	int                     n_tables;
	int                     cap_tables; /* allocated length (memory.h) */
	int                     next_table;
	slot                   *slots;
	int                     n_slots;
	build_summary          *sum;
	bool                    stop_new;     /* a critical failure: start nothing new */
	bool                    interrupting; /* a signal: cancel, clean up, stop */
	int64_t                 interrupt_at; /* when the signal's cancels went out */
	int64_t                 cleanup_deadline;
	int64_t                 next_monitor;
	bool                    monitor_broken;
	char                   *stopped;     /* why no new build starts (lost run lock,
										  * a failed poll()) */
	bool                    loop_failed; /* the run fails: poll() failed, work
										  * was left unstarted, or an item has
										  * no outcome (internal error) */
	/* the replica guard (replica_guard.h): a build waiting on it */
	int64_t          guard_since;  /* monotonic_ms() when the current wait began; 0 = none */
	const plan_item *guard_item;   /* the item that waits (when guard_since > 0) */
	int64_t          guard_waited; /* ms waited in earlier waits of this run */
	int64_t          guard_next;   /* when to ask again */
	bool             bar;          /* draw a progress bar on the terminal */
	bool             bar_drawn;
	int64_t          last_bar;
};

/* ---- build.c: slots ------------------------------------------------------ */

/*
 * Set the session's search_path to schema ("" for the empty path) unless it
 * is already that.  Synchronous, takes no lock.  false with err filled.
 */
bool slot_search_path(slot *s, const char *schema, db_error *err);

/* Open a new connection for s and set up its session; false after logging. */
bool slot_connect(engine *e, slot *s);

/* Send on s; false with err filled when it could not be sent at all. */
bool slot_send(engine *e, slot *s, const char *sql, int nparams, const char *const *values,
			   ExecStatusType expect, db_error *err);

/* ---- build_unit.c: units and their state machine -------------------------- */

/* "schema"."name", quoted (caller frees). */
char *build_qualified(const char *schema, const char *name);

/* Append a unit to j (which moves the units: no unit pointer survives). */
unit *unit_add(job *j, unit_kind kind, const char *schema, const char *name, const char *table_label);
void  unit_add_drop(job *j, const char *schema, const char *name, const char *table_label);
void  unit_add_build(job *j, const index_def *def, const char *name, const char *schema, const char *table,
					 const char *table_oid, bool drop_first);
/* sql is taken over; user_sql: it is rendered from the definition (ON ONLY) */
void unit_add_stmt(job *j, const char *schema, const char *name, const char *table_label, char *sql,
				   bool user_sql);
void unit_free(unit *u);

/* Does u's next step start new work (so that it does not start after a signal)? */
bool unit_step_starts_work(const unit *u);

/* Send what u needs next; or settle it (DONE/FAILED) without a round trip. */
void unit_advance(engine *e, slot *s, job *j, unit *u);

/* The statement of u completed: ok (res), or failed with err (taken over). */
void unit_result(engine *e, slot *s, job *j, unit *u, bool ok, PGresult *res, db_error *err);

/* ---- build_partition.c ----------------------------------------------------- */

/*
 * The partition recipe, once the parent's index exists (see the file).
 * Adds units to j, which moves them: no unit pointer survives the call.
 * Returns false with error filled on failure.
 */
bool partition_expand(PGconn *conn, job *j, db_error *error);

/* ---- build_job.c: jobs and outcomes ---------------------------------------- */

/* The units of an item, as far as they are known before it starts. */
void job_prepare(job *j, plan_item *it);

/* Fill the item's outcome from its units, count and log it. */
void job_finish(engine *e, job *j);

void job_free(job *j);

/* After e->stopped: the work that never started is failed, and says why; the count. */
int jobs_fail_unstarted(engine *e);

/*
 * The end-of-run invariant, checked before the exit code is computed: every
 * work item among items[0..n-1] has an outcome, unless held_back names why
 * the engine deliberately started no more work (a signal, a critical
 * failure, no connection: each makes the exit code non-zero by itself).
 * An item without either is an internal error: logged, failed (counted in
 * sum), and the count returned, which the caller turns into a non-zero
 * exit code.
 */
int build_check_outcomes(plan_item *items, int n, const char *held_back, build_summary *sum);

/* ---- build_monitor.c: the watchdog ------------------------------------------ */

/* One look at every busy slot: lock waits, blockers, progress; draws the bar. */
void monitor_tick(engine *e);

/*
 * Does the run's main connection still hold its advisory lock?  Asked
 * before each new job.  Sets e->stopped (and logs) when not.
 */
bool monitor_run_lock_held(engine *e);

/* ---- build_guard.c: the replica guard before each build ------------------- */

typedef enum guard_step
{
	GUARD_GO,     /* start it */
	GUARD_HOLD,   /* wait: ask again later */
	GUARD_SETTLED /* deferred, or refused (critical) */
} guard_step;

/*
 * Ask the replica guard (replica_guard.h) before it starts, unless it is
 * no build or no bound is set (GUARD_GO).  GUARD_HOLD: the slot keeps its
 * table and asks again, at most every REPLICA_GUARD_POLL_MS.
 * GUARD_SETTLED: the wait is spent, it is deferred (or, critical, failed
 * and no new work starts), logged and counted in e->sum.  A failed guard
 * query counts as over the bound (fail closed), unless the run lock is
 * lost with it (the main connection gone): GUARD_GO, and the caller's
 * monitor_run_lock_held() stops the run.
 */
guard_step guard_before_build(engine *e, plan_item *it);

/*
 * The run stops (a signal) while it waits for the guard: it is not started,
 * counted as interrupted (never "skipped"), with a warning that says so.
 */
void guard_interrupted(engine *e, plan_item *it);

/* ---- build_progress.c: what the user sees ----------------------------------- */

/* log_event, after taking the progress bar off the line */
void build_log(engine *e, log_level level, const char *event, const log_field *fields, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Take the progress bar off the line, if it is drawn. */
void progress_bar_clear(engine *e);

/* One line for every busy slot, on the terminal (e->bar only). */
void progress_bar_draw(engine *e);

/* "250ms", "1.5s" */
void progress_format_ms(int64_t ms, char *buf, size_t len);

/* Read the phase and counters of one monitor row (columns 3..11) into s. */
void progress_read_row(slot *s, const PGresult *res, int row);

/* Every PROGRESS_LOG_MS, a progress line for s when no bar is drawn. */
void progress_log_line(engine *e, slot *s, int64_t now);

#endif /* INDEXER_BUILD_INTERNAL_H */
