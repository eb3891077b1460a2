/*-------------------------------------------------------------------------
 *
 * index_metrics.h
 *	  The indexer's run as Prometheus metrics (--metrics-file,
 *	  --metrics-push; common/metrics.h writes and delivers them).
 *
 * Every series carries command="build" (or plan, check, status), so that
 * two commands writing two files give node_exporter distinct series.
 * Families, with the prefix pg_schema_indexer_:
 *
 *	  index_state{name,schema,table,critical,state}  1 for the definition's
 *	      state, 0 for each other one; states: present, missing, invalid,
 *	      drifted, building, unknown, absent, unwanted.  After build, the
 *	      catalog is read again, so the states are those the run left.
 *	  index_build_duration_seconds{name,schema,table,action,outcome}  each
 *	      build, repair, rebuild, drop or clean-up this run started.
 *	  index_size_bytes{name,schema,table}  pg_relation_size of each index
 *	      this run built (its partitions' sum for a partitioned one).
 *	  builds{outcome}  this run's work items: done, failed, interrupted,
 *	      deferred (build only).
 *	  deferred_builds{reason}  builds not started on this run: window,
 *	      budget (--max-runtime), max_builds, backoff, lag, size (refused by
 *	      --max-index-size), other (build and plan).
 *	  and the run series of metrics.h (last_run_exit_code, ...).
 *
 * indexer/index_metrics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_INDEX_METRICS_H
#define INDEXER_INDEX_METRICS_H

#include "indexer.h"

/*
 * When --metrics-file or --metrics-push is set, fill the metrics of the run
 * that command (its name) ended with rc, and deliver them.  Returns rc, or
 * EXIT_CHANGE_FAILED when rc was 0 and the delivery failed (logged;
 * metrics.h).  Reads the catalog once more after a build that did work
 * (not after a signal).
 */
int index_metrics_report(run_state *rs, const char *command, int rc);

/*
 * Once the settings are known (command line, environment, definitions
 * file), before anything is built: EXIT_USAGE (logged) when the metrics
 * file can never be written (metrics_check_file); the run then stops and
 * the file is not written at the end either (the push still is).
 */
int index_metrics_check(run_state *rs);

#endif /* INDEXER_INDEX_METRICS_H */
