/*-------------------------------------------------------------------------
 *
 * run_limits.c
 *	  When and how much a run builds (see run_limits.h).
 *
 * indexer/run_limits.c
 *
 *-------------------------------------------------------------------------
 */
#include "run_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "retry.h"
#include "size_estimate.h"
#include "window.h"

bool
limits_is_build(plan_action action)
{
	return action == ACT_BUILD || action == ACT_REPAIR || action == ACT_REBUILD;
}

/* The size guard: refuse a build over --max-index-size, or unknown without --allow-unknown-size. */
static void
size_guard(plan_item *it, const indexer_settings *set)
{
	char est[32], bound[32];

	if (set->max_index_size_kb <= 0 || !limits_is_build(it->action))
		return;
	size_estimate_format(it->est_bytes, est, sizeof(est));
	size_estimate_format(set->max_index_size_kb * 1024, bound, sizeof(bound));
	if (it->est_bytes > set->max_index_size_kb * 1024)
	{
		free(it->reason);
		it->reason = xasprintf("size guard: estimated %s exceeds --max-index-size %s", est, bound);
		it->refused_by = "size guard";
		it->action = ACT_ERROR;
	}
	else if (it->est_bytes < 0 && !set->allow_unknown_size)
	{
		free(it->reason);
		it->reason = xasprintf("size guard: the size is unknown (%s) and --max-index-size %s is set; "
							   "pass --allow-unknown-size to build it anyway",
							   it->est_why, bound);
		it->refused_by = "size guard";
		it->action = ACT_ERROR;
	}
	else if (it->est_bytes < 0)
		log_event(LOG_LEVEL_WARNING, "size_unknown", NULL,
				  "\"%s\" on \"%s.%s\": size unknown (%s); built under --max-index-size %s "
				  "because of --allow-unknown-size",
				  it->def->name, it->def->schema, it->def->table, it->est_why, bound);
}

static void
log_deferred(const plan_item *it)
{
	const index_def *d = it->def;

	if (d->critical && d->state == INDEX_STATE_PRESENT)
		log_event(LOG_LEVEL_WARNING, "deferred_critical", NULL,
				  "critical index \"%s\" on \"%s.%s\" is not built on this run: it %s", d->name, d->schema,
				  d->table, it->deferred);
	else
		log_event(LOG_LEVEL_INFO, "deferred", NULL, "\"%s\" on \"%s.%s\" %s", d->name, d->schema, d->table,
				  it->deferred);
}

/*
 * The window that applies to it: its own, or the run's.  When it is open
 * and closes, the build must start before then (the engine checks).
 */
static bool
window_open_for(plan_item *it, const indexer_settings *set, time_t now, time_t *next)
{
	const window_list *w = it->def->has_window ? &it->def->window : &set->window;
	time_t             closes = (time_t) -1;

	if (!window_is_open(w, set->time_zone, now, next, &closes))
		return false;
	it->start_by_ms = closes == (time_t) -1 ? 0 : monotonic_ms() + (int64_t) (closes - now) * 1000;
	return true;
}

/* Mark what waits; the count, with the earliest next opening in *first. */
static int
defer_builds(run_state *rs, time_t now, time_t *first)
{
	const indexer_settings *set = &rs->opts->set;
	int                     started = 0, deferred = 0;

	*first = (time_t) -1;
	for (int i = 0; i < rs->n_defs; i++)
	{
		plan_item *it = &rs->plan[i];
		time_t     next = (time_t) -1;
		char       when[64];

		plan_defer(it, DEFER_NONE, "%s", "");
		if (!limits_is_build(it->action))
			continue;
		if (!window_open_for(it, set, now, &next))
		{
			window_format_time(next, set->time_zone, when, sizeof(when));
			plan_defer(it, DEFER_WINDOW, "waits for the window (it opens %s)",
					   next == (time_t) -1 ? "never" : when);
			if (next != (time_t) -1 && (*first == (time_t) -1 || next < *first))
				*first = next;
		}
		else if (set->max_builds > 0 && started >= set->max_builds)
			plan_defer(it, DEFER_MAX_BUILDS, "waits for the next run (--max-builds %d reached)",
					   set->max_builds);
		else
		{
			started++;
			continue;
		}
		deferred++;
		log_deferred(it);
	}
	return deferred;
}

int
limits_prepare(run_state *rs)
{
	const indexer_settings *set = &rs->opts->set;
	bool                    any_build = false;
	int                     rc, deferred;
	time_t                  first;

	for (int i = 0; i < rs->n_defs; i++)
		any_build = any_build || limits_is_build(rs->plan[i].action);
	if (!any_build)
		return EXIT_OK;
	rc = size_estimate_plan(rs->conn, rs->plan, rs->n_defs, &rs->round_trips);
	if (rc != EXIT_OK)
		return rc;
	for (int i = 0; i < rs->n_defs; i++)
		size_guard(&rs->plan[i], set);
	deferred = defer_builds(rs, time(NULL), &first);
	if (deferred > 0)
	{
		char when[64] = "";

		if (first != (time_t) -1)
			window_format_time(first, set->time_zone, when, sizeof(when));
		log_event(LOG_LEVEL_INFO, "deferred_count", NULL, "%d build%s deferred to a later run%s%s", deferred,
				  deferred == 1 ? "" : "s", when[0] ? "; the window next opens " : "", when);
	}
	return EXIT_OK;
}

void
limits_describe(const plan_item *it, char *buf, size_t buflen)
{
	char est[32];

	size_estimate_format(it->est_bytes, est, sizeof(est));
	snprintf(buf, buflen, " (estimated %s%s%s)%s%s", est, it->est_why[0] ? ": " : "", it->est_why,
			 it->deferred[0] ? "; deferred: it " : "", it->deferred);
}

int
limits_count_deferred(const run_state *rs)
{
	int n = 0;

	for (int i = 0; i < rs->n_defs; i++)
		n += rs->plan[i].deferred[0] != '\0';
	return n;
}
