/*-------------------------------------------------------------------------
 *
 * build_monitor.c
 *	  The watchdog: lock waits bounded by --lock-timeout, the sessions in
 *	  the way named, the run lock checked.
 *
 * The build connections run with lock_timeout 0 (see build.h): a plain
 * lock_timeout would also bound the waits for older transactions, which
 * are normal for a concurrent build.  Instead, every MONITOR_MS the run's
 * main connection (idle during the build) asks pg_stat_activity, joined
 * with pg_stat_progress_create_index, about every busy slot in one query:
 *
 *	- a wait for a relation lock (wait_event "relation") longer than
 *	  --lock-timeout: the slot's statement is cancelled, and the unit
 *	  counts it as a lock timeout (build_unit.c reads watchdog_fired);
 *	- any other lock wait (older transactions, virtualxid): reported after
 *	  a second, then every ten, with the blocking sessions named
 *	  (pg_blocking_pids(), blockers.h), our own builds among them;
 *	- the phase and counters go to the progress display.
 *
 * When the main connection is lost, lock waits are no longer bounded and
 * the run lock is gone: no new build starts (e->stopped).
 *
 * indexer/build_monitor.c
 *
 *-------------------------------------------------------------------------
 */
#include "build_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "memory.h"
#include "options.h"
#include "query.h"
#include "retry.h"

/* report a wait for older transactions once it lasted this long, then every WAIT_REPORT_MS */
#define WAIT_FIRST_REPORT_MS 1000
#define WAIT_REPORT_MS       10000
/* redraw the bar at most this often */
#define BAR_REDRAW_MS 500

static const char *const monitor_sql =
	"/* indexer: monitor */ "
	"SELECT w.pid, coalesce(a.wait_event_type, ''), coalesce(a.wait_event, ''), "
	"       coalesce(p.phase, ''), coalesce(p.blocks_total, 0), coalesce(p.blocks_done, 0), "
	"       coalesce(p.tuples_total, 0), coalesce(p.tuples_done, 0), "
	"       coalesce(p.lockers_total, 0), coalesce(p.lockers_done, 0), "
	"       coalesce(p.partitions_total, 0), coalesce(p.partitions_done, 0) "
	"FROM unnest($1::int[]) AS w(pid) "
	"LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = w.pid "
	"LEFT JOIN pg_catalog.pg_stat_progress_create_index p ON p.pid = w.pid";

static const char *const run_lock_sql =
	"/* indexer: run lock */ SELECT pg_catalog.count(*) > 0 FROM pg_catalog.pg_locks "
	"WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() AND granted";

#define RUN_LOCK_LOST "the run lock was lost (the run's main connection is gone)"

static slot *
slot_by_pid(engine *e, int pid)
{
	for (int i = 0; i < e->n_slots; i++)
		if (e->slots[i].ps.busy && e->slots[i].pid == pid)
			return &e->slots[i];
	return NULL;
}

/* name our own builds among the blockers: they wait for each other */
static void
report_wait(engine *e, slot *s, const char *wait_event, int64_t waited)
{
	unit   *u = &s->job->units[s->job->cur];
	char    dur[32];
	textbuf own;

	progress_format_ms(waited, dur, sizeof(dur));
	textbuf_init(&own);
	for (int i = 0; i < s->blockers.n; i++)
	{
		slot *other = slot_by_pid(e, atoi(s->blockers.items[i].pid));

		if (other && other != s && other->job)
			textbuf_appendf(&own, "%s\"%s\"", own.len ? ", " : "", other->job->units[other->job->cur].name);
	}
	build_log(e, LOG_LEVEL_INFO, "waiting", NULL, "%s: waiting %s so far for %s (%s, phase \"%s\")", u->label,
			  dur,
			  strcmp(wait_event, "relation") == 0 ? "a lock on the table" : "older transactions to finish",
			  wait_event, s->phase[0] ? s->phase : "-");
	if (s->blockers.n > 0)
	{
		char *prefix = xasprintf("%s: ", u->label);

		progress_bar_clear(e);
		blockers_log(&s->blockers, LOG_LEVEL_INFO, prefix);
		free(prefix);
	}
	if (own.len > 0)
		build_log(
			e, LOG_LEVEL_INFO, "waiting_for_own", NULL,
			"%s waits for our own build of %s: concurrent builds of expression and partial indexes wait for each other (a PostgreSQL rule); -j gains nothing for them",
			u->label, own.data);
	textbuf_free(&own);
	s->last_wait_report = monotonic_ms();
}

/* A wait for the table lock past --lock-timeout: cancel (the unit sees watchdog_fired). */
static void
watch_relation_wait(engine *e, slot *s, int64_t now)
{
	unit *u = &s->job->units[s->job->cur];
	char  buf[32];
	char *prefix;

	if (s->relation_wait_since == 0)
		s->relation_wait_since = now;
	if (e->set->lock_timeout_ms <= 0 || s->ps.cancel_sent ||
		now - s->relation_wait_since < e->set->lock_timeout_ms)
		return;
	prefix = xasprintf("%s: ", u->label);
	format_duration(e->set->lock_timeout_ms, buf, sizeof(buf));
	build_log(e, LOG_LEVEL_WARNING, "lock_timeout", NULL,
			  "%s: waited longer than --lock-timeout %s for a lock on the table; canceling", u->label, buf);
	blockers_log(&s->blockers, LOG_LEVEL_WARNING, prefix);
	free(prefix);
	s->watchdog_fired = true;
	parallel_slot_cancel(&s->ps);
}

/* What one row of monitor_sql says about its slot. */
static void
watch_slot(engine *e, slot *s, const PGresult *res, int row, int64_t now)
{
	const char *wtype = PQgetvalue(res, row, 1);
	const char *wevent = PQgetvalue(res, row, 2);
	bool        lock_wait = strcmp(wtype, "Lock") == 0;

	progress_read_row(s, res, row);
	if (lock_wait)
	{
		if (s->lock_wait_since == 0)
			s->lock_wait_since = now;
		blockers_sample(e->env->monitor, s->pid, &s->blockers);
	}
	else
	{
		s->lock_wait_since = 0;
		s->last_wait_report = 0;
	}

	if (lock_wait && strcmp(wevent, "relation") == 0)
		watch_relation_wait(e, s, now);
	else
		s->relation_wait_since = 0;

	/* waits for older transactions: progress, naming who is in the way */
	if (s->lock_wait_since != 0 && strcmp(wevent, "relation") != 0 &&
		now - s->lock_wait_since >= WAIT_FIRST_REPORT_MS &&
		(s->last_wait_report == 0 || now - s->last_wait_report >= WAIT_REPORT_MS))
		report_wait(e, s, wevent, now - s->lock_wait_since);

	progress_log_line(e, s, now);
}

/* The pids of the busy slots as an int[] literal in buf; their count. */
static int
busy_pids(engine *e, char *buf, size_t len)
{
	size_t off = 0;
	int    n = 0;

	off += (size_t) snprintf(buf + off, len - off, "{");
	for (int i = 0; i < e->n_slots; i++)
	{
		if (e->slots[i].ps.busy && e->slots[i].pid > 0)
			off += (size_t) snprintf(buf + off, len - off, "%s%d", n++ ? "," : "", e->slots[i].pid);
	}
	snprintf(buf + off, len - off, "}");
	return n;
}

void
monitor_tick(engine *e)
{
	char        pidbuf[INDEXER_MAX_JOBS * 12 + 3];
	const char *values[1] = {pidbuf};
	PGresult   *res = NULL;
	db_error    err = {0};
	int64_t     now = monotonic_ms();

	if (busy_pids(e, pidbuf, sizeof(pidbuf)) == 0 || e->monitor_broken)
		return;
	if (!db_run(e->env->monitor, monitor_sql, 1, values, PGRES_TUPLES_OK, &res, &err, NULL))
	{
		if (!cancel_pending() && PQstatus(e->env->monitor) != CONNECTION_OK)
		{
			build_log(
				e, LOG_LEVEL_WARNING, "monitor_lost", NULL,
				"lost the run's main connection: lock waits are no longer bounded by --lock-timeout, and the run lock is gone");
			e->monitor_broken = true;
			if (!e->stopped)
				e->stopped = xstrdup(RUN_LOCK_LOST);
		}
		db_error_clear(&err);
		return;
	}
	for (int row = 0; row < PQntuples(res); row++)
	{
		slot *s = slot_by_pid(e, atoi(PQgetvalue(res, row, 0)));

		if (s != NULL && s->job != NULL)
			watch_slot(e, s, res, row, now);
	}
	PQclear(res);
	if (e->bar && e->set->progress && now - e->last_bar >= BAR_REDRAW_MS)
	{
		progress_bar_draw(e);
		e->last_bar = now;
	}
}

bool
monitor_run_lock_held(engine *e)
{
	PGresult *res = NULL;
	db_error  err = {0};
	bool      held;

	if (e->stopped)
		return false;
	/* without the lock another run may start the same builds */
	held = !e->monitor_broken &&
		   db_run(e->env->monitor, run_lock_sql, 0, NULL, PGRES_TUPLES_OK, &res, &err, NULL) &&
		   strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	db_error_clear(&err);
	if (!held && !cancel_pending())
	{
		e->stopped = xstrdup(RUN_LOCK_LOST);
		build_log(e, LOG_LEVEL_ERROR, "run_lock_lost", NULL, "%s: starting no new build", e->stopped);
	}
	return held;
}
