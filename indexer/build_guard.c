/*-------------------------------------------------------------------------
 *
 * build_guard.c
 *	  The replica guard before each build (replica_guard.h): wait while
 *	  a replica or an inactive slot is over a bound, then defer, or refuse
 *	  a critical definition.
 *
 * indexer/build_guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "build_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "cancel.h"
#include "memory.h"
#include "options.h"
#include "replica_guard.h"
#include "retry.h"

/* The wait is over: deferred (exit 0), or a critical item refused (exit 1, the guard named). */
static void
guard_give_up(engine *e, plan_item *it, const char *why)
{
	const index_def *d = it->def;
	char             waited[32];

	format_duration(e->guard_waited + monotonic_ms() - e->guard_since, waited, sizeof(waited));
	if (d->critical && d->state == INDEX_STATE_PRESENT)
	{
		it->outcome = OUTCOME_FAILED;
		free(it->failure);
		it->failure = xasprintf("refused by the replica guard after waiting %s: %s", waited, why);
		it->refused_by = "replica guard";
		e->sum->failed_critical++;
		e->stop_new = true;
		build_log(e, LOG_LEVEL_ERROR, "failed", NULL, "critical index \"%s\" on \"%s.%s\" not built: %s",
				  d->name, d->schema, d->table, it->failure);
		return;
	}
	plan_defer(it, DEFER_LAG, "waits for the replicas (replica guard)");
	it->outcome = OUTCOME_DEFERRED;
	e->sum->deferred++;
	build_log(e, LOG_LEVEL_INFO, "deferred", NULL,
			  "\"%s\" on \"%s.%s\" not started: it waits for the replicas (replica guard, waited %s): %s",
			  d->name, d->schema, d->table, waited, why);
}

/*
 * The replica guard before a build (replica_guard.h).  Over a bound the
 * slot holds its table and asks again every REPLICA_GUARD_POLL_MS; the
 * loop's poll() keeps watching signals and the other slots meanwhile.
 * The wait ends at --replica-lag-wait (in all, per run), --max-runtime
 * or the item's window end, whichever comes first.
 */
guard_step
guard_before_build(engine *e, plan_item *it)
{
	int64_t         now = monotonic_ms();
	int64_t         end;
	replica_verdict verdict;
	char            why[REPLICA_GUARD_WHY];

	if ((it->action != ACT_BUILD && it->action != ACT_REPAIR && it->action != ACT_REBUILD) ||
		!replica_guard_enabled(e->set))
		return GUARD_GO;
	if (e->guard_since > 0 && now < e->guard_next)
		return GUARD_HOLD;
	verdict = replica_guard_check(e->env->monitor, e->set, why, sizeof(why));
	/* a failed query may be the main connection gone: then the run stops (the caller's lock check) */
	if (verdict == GUARD_ERROR && !monitor_run_lock_held(e))
		return GUARD_GO;
	if (verdict == GUARD_CLEAR)
	{
		if (e->guard_since > 0)
			build_log(e, LOG_LEVEL_INFO, "replica_guard", NULL, "the replicas caught up: building \"%s\"",
					  it->def->name);
		e->guard_waited += e->guard_since > 0 ? now - e->guard_since : 0;
		e->guard_since = 0;
		return GUARD_GO;
	}
	if (e->guard_since == 0)
	{
		e->guard_since = now;
		e->guard_item = it;
		build_log(e, LOG_LEVEL_INFO, "replica_guard", NULL, "\"%s\" waits for the replicas: %s",
				  it->def->name, why);
	}
	end = e->guard_since + e->set->replica_lag_wait_ms - e->guard_waited;
	if (e->env->deadline_ms > 0 && e->env->deadline_ms < end)
		end = e->env->deadline_ms;
	if (it->start_by_ms > 0 && it->start_by_ms < end)
		end = it->start_by_ms;
	if (now < end)
	{
		e->guard_next = now + REPLICA_GUARD_POLL_MS;
		return GUARD_HOLD;
	}
	guard_give_up(e, it, why);
	return GUARD_SETTLED;
}

void
guard_interrupted(engine *e, plan_item *it)
{
	const index_def *d = it->def;
	char             waited[32];

	format_duration(monotonic_ms() - e->guard_since, waited, sizeof(waited));
	it->outcome = OUTCOME_INTERRUPTED;
	free(it->failure);
	it->failure = xasprintf("interrupted by %s while it waited for the replicas (replica guard, waited %s)",
							cancel_signal_name(), waited);
	e->sum->interrupted++;
	e->guard_waited += monotonic_ms() - e->guard_since;
	e->guard_since = 0;
	build_log(e, LOG_LEVEL_WARNING, "interrupted", NULL, "\"%s\" on \"%s.%s\" not started: %s", d->name,
			  d->schema, d->table, it->failure);
}
