/*-------------------------------------------------------------------------
 *
 * run_limits.h
 *	  When and how much a run builds: windows, --max-builds, and the size
 *	  guard, decided on the plan before anything starts.
 *
 * Only builds are limited (actions build, repair and rebuild): a drop of
 * an index defined absent, and the clean-up of our own leftovers, are not
 * builds and run at any time.  A repair waits as a whole: its invalid
 * leftover stays until the window opens (dropping it early would gain
 * nothing: an invalid index serves no query, and its rebuild must wait
 * anyway).  --max-runtime is the engine's (build.h): it stops new work of
 * every kind.  The migrator's requires-index builds (door/index_ensure.h)
 * never come here: windows and budgets do not apply to them.
 *
 * Deferrals are not failures: a run that defers exits 0, and says so,
 * loudest for a critical definition.  The size guard refuses: a build
 * whose estimate exceeds --max-index-size, or that has no estimate and
 * --allow-unknown-size is not given, becomes an item in error naming the
 * guard (exit 1 for a critical definition, a warning otherwise).
 *
 * indexer/run_limits.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_RUN_LIMITS_H
#define INDEXER_RUN_LIMITS_H

#include <stdbool.h>

#include "indexer.h"

/* True for the actions that build an index (build, repair, rebuild). */
bool limits_is_build(plan_action action);

/*
 * Estimate the sizes (size_estimate.h), apply the size guard, and mark
 * every build that waits for its window or is over --max-builds (its
 * deferred says why); each is logged (warning for a critical one), then
 * one line counts them and says when the window next opens.  Returns
 * EXIT_OK, or the estimate query's failure code.
 */
int limits_prepare(run_state *rs);

/*
 * What plan prints after an estimated item: " (estimated 2.1 MB)",
 * " (estimated size unknown: why)", then "; deferred: it waits for ...".
 */
void limits_describe(const plan_item *it, char *buf, size_t buflen);

/* How many items limits_prepare deferred. */
int limits_count_deferred(const run_state *rs);

#endif /* INDEXER_RUN_LIMITS_H */
