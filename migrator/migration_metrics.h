/*-------------------------------------------------------------------------
 *
 * migration_metrics.h
 *	  The migrator's run as Prometheus metrics (--metrics-file,
 *	  --metrics-push; common/metrics.h writes and delivers them).
 *
 * up and check note how the versions stand when they end (a tally); main
 * reports it with the run series of metrics.h.  Every series carries
 * command="up" or "check".  Families, with the prefix pg_schema_migrator_:
 *
 *	  pending_migrations     versions not applied: pending, and failed ones
 *	  failed_migrations      versions whose last run failed: recorded as
 *	                         failed (a no-transaction file), or failed in
 *	                         this run (rolled back, so recorded nowhere else)
 *	  mismatched_migrations  applied files changed or missing
 *	  current_version        the highest applied version (0: none)
 *	  applied_migrations     applied by this run (up)
 *	  and the run series of metrics.h (last_run_exit_code, ...).
 *
 * A run that ended before it could compare the files with the history
 * (unreachable, a bad directory) reports only the run series; one that
 * found the lock held (exit 4) reports nothing (metrics.h).
 *
 * migrator/migration_metrics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATOR_MIGRATION_METRICS_H
#define MIGRATOR_MIGRATION_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "reconcile.h"

/* How the versions stood at the end of up or check. */
typedef struct migration_tally
{
	bool    known; /* false: the run never compared files and history */
	int     pending;
	int     failed;
	int     mismatched;
	int     applied;
	int64_t current;
} migration_tally;

/*
 * The tally after rec, of which applied versions (up to last_applied) were
 * applied by this run and failed_version (0: none) failed in it.  check
 * passes 0, 0, 0.  Pure: never fails.
 */
void migration_tally_note(migration_tally *t, const reconciliation *rec, int applied, int64_t last_applied,
						  int64_t failed_version);

/*
 * When file or push is set (either may be NULL): the tally and the run
 * series of command, which ended with rc after duration_s, written and
 * pushed (metrics.h).  Returns rc, or EXIT_CHANGE_FAILED when rc was 0 and
 * the delivery failed (logged).
 */
int migration_metrics_report(const migration_tally *t, const char *file, const char *push,
							 const char *command, int rc, double duration_s);

#endif /* MIGRATOR_MIGRATION_METRICS_H */
