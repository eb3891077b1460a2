/*-------------------------------------------------------------------------
 *
 * build.c
 *	  The build engine: up to N connections ("slots"), one loop over them.
 *
 * Structure (see build_internal.h for the modules).  The work is grouped
 * by table; tables are handed to idle slots biggest first, and the jobs of
 * one table run one after the other on one slot.  The loop in
 * engine_loop() moves every slot's job on as far as it goes without
 * waiting (unit_advance sends the next statement), waits in poll() for any
 * answer, a backoff or the next watchdog tick, hands each completed
 * statement to its unit (each slot's result handler, slot_completed, calls
 * unit_result), and ticks the watchdog
 * (monitor_tick).  After a signal it cancels what is in flight, lets the
 * clean-up steps run until BUILD_CLEANUP_BOUND_MS, then cancels those too
 * and gives up HARD_STOP_MS later.
 *
 * The run ends with an invariant, checked before the exit code is
 * computed: every work item has an outcome, or the engine deliberately
 * started no more work for a reason that makes the exit code non-zero by
 * itself (build_check_outcomes).
 *
 * indexer/build.c
 *
 *-------------------------------------------------------------------------
 */
#include "build_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cancel.h"
#include "conn.h"
#include "exitcodes.h"
#include "index_sql.h"
#include "memory.h"
#include "options.h"
#include "query.h"
#include "record.h"
#include "retry.h"
#include "sqlquote.h"

/* warn when jobs x maintenance_work_mem exceeds this (kB) */
#define MWM_WARN_KB ((int64_t) 1024 * 1024)
/* the longest sleep of the loop when nothing else wakes it */
#define LOOP_WAIT_MS 100

/* ---- slots ------------------------------------------------------------------ */

/* The session of a build connection (see build.h).  false after logging. */
static bool
setup_session(engine *e, slot *s)
{
	const indexer_settings *set = e->set;
	const char             *keys[6];
	const char             *vals[6];
	char                    st[32], mwm[32], mpmw[16];
	int                     n = 0;
	char                   *values[2];
	db_error                err = {0};
	bool                    ok;

	/* negative: the migrator's run leaves the operator's own bound alone */
	if (set->statement_timeout_ms >= 0)
	{
		snprintf(st, sizeof(st), "%lldms", (long long) set->statement_timeout_ms);
		keys[n] = "statement_timeout", vals[n++] = st;
	}
	/* the watchdog bounds the wait for the table lock, see build.h */
	keys[n] = "lock_timeout", vals[n++] = "0";
	if (set->maintenance_work_mem_kb > 0)
	{
		snprintf(mwm, sizeof(mwm), "%lldkB", (long long) set->maintenance_work_mem_kb);
		keys[n] = "maintenance_work_mem", vals[n++] = mwm;
	}
	if (set->max_parallel_maintenance_workers >= 0)
	{
		snprintf(mpmw, sizeof(mpmw), "%d", set->max_parallel_maintenance_workers);
		keys[n] = "max_parallel_maintenance_workers", vals[n++] = mpmw;
	}
	/* a build whose client died stops within a second (PostgreSQL 14+) */
	if (PQserverVersion(s->ps.conn) >= 140000)
		keys[n] = "client_connection_check_interval", vals[n++] = "1s";
	values[0] = db_text_array_literal(keys, n);
	values[1] = db_text_array_literal(vals, n);
	ok = db_run(s->ps.conn,
				"SELECT pg_catalog.set_config(k, v, false) FROM unnest($1::text[], $2::text[]) AS s(k, v)", 2,
				(const char *const *) values, PGRES_TUPLES_OK, NULL, &err, NULL);
	if (!ok)
	{
		char *msg = db_error_format(&err);

		build_log(e, LOG_LEVEL_ERROR, "session_failed", NULL, "could not set up a build connection: %s", msg);
		free(msg);
	}
	db_error_clear(&err);
	free(values[0]);
	free(values[1]);
	s->pid = PQbackendPID(s->ps.conn);
	free(s->search_path);
	s->search_path = xstrdup(""); /* conn_open leaves it empty */
	return ok;
}

/* The slot's result handler (parallel_slots_dispatch): the statement goes to its unit. */
static void
slot_completed(parallel_slot *ps, bool ok, PGresult *res, db_error *err, void *arg)
{
	slot *s = arg;
	job  *j = s->job;

	(void) ps;
	if (j != NULL && j->cur < j->n_units)
		unit_result(s->run, s, j, &j->units[j->cur], ok, res, err);
}

/*
 * Every notice is logged as on any connection; the one that says CREATE
 * INDEX ... IF NOT EXISTS skipped (duplicate_table) is noted on the slot:
 * the index of that name is not this run's build.
 */
static void
slot_notice(void *arg, const PGresult *res)
{
	slot       *s = arg;
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (sqlstate != NULL && strcmp(sqlstate, "42P07") == 0)
		s->create_skipped = true;
	conn_log_notice(res);
}

bool
slot_connect(engine *e, slot *s)
{
	PGconn *conn = conn_open_for_build(e->env->conn_opts);

	if (conn == NULL)
		return false;
	parallel_slot_init(&s->ps, conn);
	(void) PQsetNoticeReceiver(conn, slot_notice, s);
	s->run = e;
	parallel_slot_set_handler(&s->ps, slot_completed, s);
	if (!setup_session(e, s))
	{
		conn_close(conn);
		s->ps.conn = NULL;
		return false;
	}
	return true;
}

/*
 * Only the user's own CREATE INDEX runs with the definition's schema, so
 * that an operator class or function installed there resolves as the
 * author meant; everything the indexer writes itself runs with the empty
 * path and resolves only in pg_catalog.
 */
bool
slot_search_path(slot *s, const char *schema, db_error *err)
{
	char       *q;
	const char *values[1];
	bool        ok;

	if (s->search_path && strcmp(s->search_path, schema) == 0)
		return true;
	q = schema[0] ? sql_quote_ident(schema) : xstrdup("");
	values[0] = q;
	/* uninterruptible: after a signal, the clean-up needs it (it takes no lock) */
	/* the user's CREATE INDEX: its skip is known by its notice (slot_notice), whatever ran before */
	ok = db_run_ex(s->ps.conn,
				   schema[0] ? "SELECT pg_catalog.set_config('search_path', $1, false), "
							   "pg_catalog.set_config('client_min_messages', 'notice', false)"
							 : "SELECT pg_catalog.set_config('search_path', $1, false)",
				   1, values, PGRES_TUPLES_OK, NULL, err, NULL, false);
	free(q);
	free(s->search_path);
	/* unknown after a failure: set it again before the next statement */
	s->search_path = ok ? xstrdup(schema) : NULL;
	return ok;
}

static void
slot_reset_watch(slot *s)
{
	s->watchdog_fired = false;
	s->deadline_fired = false;
	s->relation_wait_since = 0;
	s->lock_wait_since = 0;
	s->last_wait_report = 0;
	s->phase[0] = '\0';
	s->pct = -1;
	s->progress_detail[0] = '\0';
}

bool
slot_send(engine *e, slot *s, const char *sql, int nparams, const char *const *values, ExecStatusType expect,
		  db_error *err)
{
	slot_reset_watch(s);
	log_event(LOG_LEVEL_DEBUG, "statement", NULL, "slot %d: %s", (int) (s - e->slots) + 1, sql);
	if (parallel_slot_send(&s->ps, sql, nparams, values, expect, err))
		return true;
	if (PQstatus(s->ps.conn) == CONNECTION_BAD)
		err->cls = PGERR_CONNECTION_LOST;
	return false;
}

/* ---- handing out work ---------------------------------------------------------- */

static bool
starting_nothing_new(const engine *e)
{
	return e->stop_new || e->interrupting || e->stopped;
}

/*
 * Its window closed, or --max-runtime is spent: the item is not started,
 * and waits for the next run.
 */
static bool
defer_if_late(engine *e, plan_item *it)
{
	const index_def *d = it->def;
	int64_t          now = monotonic_ms();
	bool             critical = d->critical && d->state == INDEX_STATE_PRESENT;
	char             budget[32];

	if (it->start_by_ms > 0 && now >= it->start_by_ms)
		plan_defer(it, DEFER_WINDOW, "waits for the window (it closed during this run)");
	else if (e->env->deadline_ms > 0 && now >= e->env->deadline_ms)
	{
		format_duration(e->set->max_runtime_ms, budget, sizeof(budget));
		plan_defer(it, DEFER_BUDGET, "waits for the next run (--max-runtime %s spent)", budget);
	}
	else
		return false;
	it->outcome = OUTCOME_DEFERRED;
	e->sum->deferred++;
	build_log(e, critical ? LOG_LEVEL_WARNING : LOG_LEVEL_INFO, "deferred", NULL,
			  "%s\"%s\" on \"%s.%s\" not started: it %s", critical ? "critical index " : "", d->name,
			  d->schema, d->table, it->deferred);
	return true;
}

/* Hand the slot its next job: the next item of its table, or a new table. */
static void
slot_take_work(engine *e, slot *s)
{
	for (;;)
	{
		work_table *t;
		job        *j;

		if (s->table < 0)
		{
			if (starting_nothing_new(e) || e->next_table >= e->n_tables)
				return;
			s->table = e->next_table++;
		}
		t = &e->tables[s->table];
		if (t->next >= t->n_items || starting_nothing_new(e))
		{
			/* a table held without a job: its next item waited for the replica guard */
			if (e->interrupting && e->guard_since > 0 && t->next < t->n_items &&
				&e->items[t->items[t->next]] == e->guard_item)
				guard_interrupted(e, &e->items[t->items[t->next++]]);
			s->table = -1;
			if (starting_nothing_new(e))
				return;
			continue;
		}
		switch (guard_before_build(e, &e->items[t->items[t->next]]))
		{
			case GUARD_HOLD:
				return; /* the slot keeps its table (advance_slots) */
			case GUARD_SETTLED:
				t->next++;
				continue;
			case GUARD_GO:
				break;
		}
		if (!monitor_run_lock_held(e))
		{
			s->table = -1;
			return;
		}
		if (defer_if_late(e, &e->items[t->items[t->next]]))
		{
			t->next++;
			continue;
		}
		j = &e->jobs[t->items[t->next++]];
		j->started_ms = monotonic_ms();
		j->record_id = record_start(e->env->record, j->item);
		s->job = j;
		s->not_before = 0;
		return;
	}
}

static void
slot_finish_job(engine *e, slot *s)
{
	job_finish(e, s->job);
	s->job = NULL;
	slot_take_work(e, s);
}

/* Move s's job on as far as it can go without waiting. */
static void
slot_step(engine *e, slot *s)
{
	while (s->job != NULL && !s->ps.busy && monotonic_ms() >= s->not_before)
	{
		job  *j = s->job;
		unit *u;

		if (j->cur >= j->n_units)
		{
			slot_finish_job(e, s);
			continue;
		}
		u = &j->units[j->cur];
		if (u->step == STEP_DONE)
		{
			j->cur++;
			continue;
		}
		if (u->step == STEP_FAILED)
		{
			j->failed = true;
			slot_finish_job(e, s);
			continue;
		}
		/* after a signal, nothing new starts; clean-up steps go on */
		if (e->interrupting && unit_step_starts_work(u))
		{
			db_error_clear(&u->err);
			u->err.cls = PGERR_CANCELED_BY_US;
			u->err.message = xstrdup("interrupted by a signal before its next statement");
			u->step = STEP_FAILED;
			continue;
		}
		unit_advance(e, s, j, u);
	}
}

/* ---- interrupts ---------------------------------------------------------------- */

static void
begin_interrupt(engine *e)
{
	int busy = 0;

	e->interrupting = true;
	e->interrupt_at = monotonic_ms();
	e->cleanup_deadline = e->interrupt_at + BUILD_CLEANUP_BOUND_MS;
	for (int i = 0; i < e->n_slots; i++)
	{
		if (e->slots[i].ps.busy)
		{
			busy++;
			parallel_slot_cancel(&e->slots[i].ps);
		}
	}
	build_log(e, LOG_LEVEL_WARNING, "canceling", NULL,
			  "signal %d: canceling %d statement%s in flight; dropping what they leave behind (at most %ds)",
			  cancel_pending(), busy, busy == 1 ? "" : "s", BUILD_CLEANUP_BOUND_MS / 1000);
}

/*
 * CANCEL_CONFIRM_MS after the signal, every statement still running is
 * the one the signal canceled: the server answers none of the cancels (a
 * network gone silent).  Waiting for the clean-up bound would only leave
 * the run to the backstop: their connections are abandoned now (the
 * server rolls their sessions back when it notices) and the loop gives up.
 * A slot that answered and runs its clean-up keeps the clean-up bound.
 */
static bool
cancels_unanswered(engine *e, int64_t now)
{
	int busy = 0;

	if (now < e->interrupt_at + CANCEL_CONFIRM_MS)
		return false;
	for (int i = 0; i < e->n_slots; i++)
	{
		const slot *s = &e->slots[i];

		if (!s->ps.busy)
			continue;
		if (!s->ps.cancel_sent || s->ps.sent_ms > e->interrupt_at || s->deadline_fired)
			return false;
		busy++;
	}
	if (busy == 0)
		return false;
	for (int i = 0; i < e->n_slots; i++)
		if (e->slots[i].ps.busy)
			cancel_abandon_connection(e->slots[i].ps.conn);
	return true;
}

/*
 * A signal: cancel what runs, and past the clean-up bound the clean-up
 * too.  false when the server did not answer the cancels in time: the
 * loop gives up.
 */
static bool
watch_interrupt(engine *e, int64_t now)
{
	if (cancel_pending() && !e->interrupting)
		begin_interrupt(e);
	if (e->interrupting && cancels_unanswered(e, now))
		return false;
	if (!e->interrupting || now < e->cleanup_deadline)
		return true;
	for (int i = 0; i < e->n_slots; i++)
	{
		slot *s = &e->slots[i];

		if (s->ps.busy && !s->deadline_fired)
		{
			s->deadline_fired = true;
			parallel_slot_cancel(&s->ps);
		}
	}
	return now < e->cleanup_deadline + HARD_STOP_MS;
}

/* ---- the loop ------------------------------------------------------------------ */

/*
 * Move every slot on; collect the busy ones into busy[] and lower *timeout
 * to the nearest backoff.  false when no slot has anything left to do.
 */
static bool
advance_slots(engine *e, int64_t now, parallel_slot **busy, int *n_busy, int64_t *timeout)
{
	bool any = false;

	*n_busy = 0;
	for (int i = 0; i < e->n_slots; i++)
	{
		slot *s = &e->slots[i];

		if (s->job == NULL && !s->ps.busy)
			slot_take_work(e, s);
		slot_step(e, s);
		/* a slot that holds a table without a job waits for the replica guard */
		if (s->job != NULL || s->ps.busy || s->table >= 0)
			any = true;
		if (s->ps.busy)
			busy[(*n_busy)++] = &s->ps;
		else if (s->job != NULL && s->not_before > now && s->not_before - now < *timeout)
			*timeout = s->not_before - now;
	}
	return any;
}

static void
engine_loop(engine *e)
{
	for (;;)
	{
		int64_t        now = monotonic_ms();
		int64_t        timeout = LOOP_WAIT_MS;
		parallel_slot *busy[INDEXER_MAX_JOBS];
		int            n_busy;

		if (!watch_interrupt(e, now))
			break; /* the server does not answer: give up */
		if (!advance_slots(e, now, busy, &n_busy, &timeout))
			break;
		if (e->next_monitor - now < timeout)
			timeout = e->next_monitor > now ? e->next_monitor - now : 0;
		if (!parallel_slots_wait(busy, n_busy, timeout))
		{
			/* the loop cannot go on: what runs is abandoned, nothing new starts */
			free(e->stopped);
			e->stopped = xasprintf("poll() failed while waiting for the builds: %s", strerror(errno));
			e->loop_failed = true;
			build_log(e, LOG_LEVEL_ERROR, "loop_failed", NULL, "%s", e->stopped);
			break;
		}
		/* every completed statement goes to its unit (slot_completed) */
		parallel_slots_dispatch(busy, n_busy, e->interrupting);
		if (monotonic_ms() >= e->next_monitor)
		{
			monitor_tick(e);
			e->next_monitor = monotonic_ms() + MONITOR_MS;
		}
	}
	progress_bar_clear(e);
}

/* Whatever is still running after the loop (hard stop, failed poll()): fail it, naming its leftover. */
static void
fail_running(engine *e)
{
	for (int i = 0; i < e->n_slots; i++)
	{
		slot *s = &e->slots[i];
		unit *u;

		if (s->job == NULL)
			continue;
		u = &s->job->units[s->job->cur < s->job->n_units ? s->job->cur : 0];
		if (u->kind == UNIT_BUILD && u->created)
		{
			free(s->job->left_behind);
			s->job->left_behind = xstrdup(u->name);
		}
		if (u->err.message == NULL)
		{
			bool stopped = e->stopped && !e->interrupting;

			u->err.cls = stopped ? PGERR_OTHER : PGERR_CANCELED_BY_US;
			u->err.message = xstrdup(stopped ? e->stopped : "the server did not answer the cancel in time");
		}
		u->step = STEP_FAILED;
		job_finish(e, s->job);
		s->job = NULL;
	}
}

/* ---- setting up and finishing ----------------------------------------------------- */

static int
cmp_tables(const void *a, const void *b)
{
	const work_table *x = a;
	const work_table *y = b;
	int               c;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	c = strcmp(x->schema, y->schema);
	return c != 0 ? c : strcmp(x->table, y->table);
}

/* Group the work by table, biggest first, and prepare each item's job. */
static void
make_tables(engine *e)
{
	for (int i = 0; i < e->n_items; i++)
	{
		plan_item  *it = &e->items[i];
		work_table *t = NULL;

		if (!plan_action_is_work(it->action) || it->outcome != OUTCOME_NONE)
			continue;
		for (int k = 0; k < e->n_tables; k++)
			if (strcmp(e->tables[k].schema, it->def->schema) == 0 &&
				strcmp(e->tables[k].table, it->def->table) == 0)
				t = &e->tables[k];
		if (t == NULL)
		{
			ARRAY_GROW(e->tables, e->n_tables + 1, e->cap_tables);
			t = &e->tables[e->n_tables++];
			memset(t, 0, sizeof(*t));
			t->schema = it->def->schema;
			t->table = it->def->table;
			t->bytes = it->cat->table_bytes;
		}
		ARRAY_GROW(t->items, t->n_items + 1, t->cap_items);
		t->items[t->n_items++] = i;
		job_prepare(&e->jobs[i], it);
	}
	if (e->n_tables > 1)
		qsort(e->tables, (size_t) e->n_tables, sizeof(work_table), cmp_tables);
}

static void
warn_memory(engine *e)
{
	int64_t kb = e->set->maintenance_work_mem_kb;

	if (e->n_slots < 2)
		return;
	if (kb == 0)
	{
		PGresult *res = db_query(
			e->env->monitor, "reading maintenance_work_mem",
			"SELECT pg_catalog.pg_size_bytes(pg_catalog.current_setting('maintenance_work_mem')) / 1024", 0,
			NULL, PGRES_TUPLES_OK);

		if (res == NULL)
			return;
		kb = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (kb * e->n_slots > MWM_WARN_KB)
		build_log(
			e, LOG_LEVEL_WARNING, "memory", NULL,
			"%d builds at once with maintenance_work_mem %lldMB may use %lldMB of server memory (parallel workers share it); lower -j or --maintenance-work-mem if the server is short of memory",
			e->n_slots, (long long) kb / 1024, (long long) kb * e->n_slots / 1024);
}

/* One connection per table, at most -j.  false (nothing opened, logged) when none could be. */
static bool
open_slots(engine *e)
{
	int wanted = e->set->jobs < e->n_tables ? e->set->jobs : e->n_tables;

	e->slots = xcalloc((size_t) wanted, sizeof(slot));
	for (int i = 0; i < wanted; i++)
	{
		slot *s = &e->slots[e->n_slots];

		s->table = -1;
		s->pct = -1;
		if (cancel_pending())
			break;
		if (!slot_connect(e, s))
		{
			free(s->search_path);
			memset(s, 0, sizeof(*s));
			continue;
		}
		e->n_slots++;
	}
	if (e->n_slots == 0)
	{
		if (!cancel_pending())
			log_event(LOG_LEVEL_ERROR, "no_connection", NULL, "could not open a build connection");
		return false;
	}
	if (e->n_slots < wanted)
		build_log(e, LOG_LEVEL_WARNING, "fewer_slots", NULL,
				  "only %d of %d build connections could be opened", e->n_slots, wanted);
	return true;
}

/*
 * Why the engine deliberately started no more work, when it did; each
 * reason makes the exit code non-zero by itself.  NULL otherwise: then
 * every work item must have an outcome.
 */
static const char *
held_back(const engine *e)
{
	if (cancel_pending())
		return "interrupted by a signal";
	if (e->stop_new)
		return "a critical index failed";
	if (e->n_tables > 0 && e->n_slots == 0)
		return "no build connection could be opened";
	return NULL;
}

/* The invariant, then the exit code from what happened. */
static int
engine_exit_code(engine *e)
{
	if (e->n_tables == 0)
		return EXIT_OK; /* no work at all */
	/* what never started after e->stopped fails the run, and says why */
	if (e->stopped && !cancel_pending() && jobs_fail_unstarted(e) > 0)
		e->loop_failed = true;
	if (build_check_outcomes(e->items, e->n_items, held_back(e), e->sum) > 0)
		e->loop_failed = true;

	if (cancel_pending())
		return pgerr_exit_code(PGERR_CANCELED_BY_US, cancel_exit_code());
	if (e->n_tables > 0 && e->n_slots == 0)
		return pgerr_exit_code(PGERR_CONNECTION_LOST, cancel_exit_code());
	if (e->sum->failed_critical > 0 || e->loop_failed)
		return EXIT_CHANGE_FAILED;
	return EXIT_OK;
}

static void
engine_free(engine *e)
{
	for (int i = 0; i < e->n_slots; i++)
	{
		parallel_slot_abandon(&e->slots[i].ps);
		conn_close(e->slots[i].ps.conn);
		free(e->slots[i].search_path);
		blockers_free(&e->slots[i].blockers);
	}
	free(e->slots);
	for (int i = 0; i < e->n_items; i++)
		job_free(&e->jobs[i]);
	free(e->jobs);
	for (int i = 0; i < e->n_tables; i++)
		free(e->tables[i].items);
	free(e->tables);
	free(e->stopped);
}

int
build_run(plan_item *items, int n, const build_env *env, build_summary *sum)
{
	engine e;
	int    rc;

	memset(&e, 0, sizeof(e));
	e.env = env;
	e.set = env->settings;
	e.items = items;
	e.n_items = n;
	e.sum = sum;
	e.jobs = xcalloc((size_t) (n + 1), sizeof(job));
	e.bar = e.set->progress && log_get_format() == LOG_FORMAT_TEXT && isatty(STDERR_FILENO) &&
			log_enabled(LOG_LEVEL_INFO);
	make_tables(&e);
	if (e.n_tables > 0 && open_slots(&e))
	{
		warn_memory(&e);
		build_log(&e, LOG_LEVEL_DEBUG, NULL, NULL, "%d table%s to work on, %d connection%s", e.n_tables,
				  e.n_tables == 1 ? "" : "s", e.n_slots, e.n_slots == 1 ? "" : "s");
		engine_loop(&e);
		fail_running(&e);
	}
	rc = engine_exit_code(&e);
	engine_free(&e);
	return rc;
}
