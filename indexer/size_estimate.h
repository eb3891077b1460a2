/*-------------------------------------------------------------------------
 *
 * size_estimate.h
 *	  How big an index will be, estimated before it is built.
 *
 * From the planner's statistics only (nothing is scanned, no lock is
 * taken): the table's row count (pg_class.reltuples, summed over the
 * leaf partitions of a partitioned table) and the average width of each
 * indexed column (pg_stats.avg_width).  For a B-tree:
 *
 *	  tuple    = MAXALIGN(8 + sum(avg_width)) + 4      (header, data, line pointer)
 *	  per_leaf = floor((BLCKSZ - 24 - 16) * 0.90 / tuple)   (page and B-tree
 *	                                                         headers, fillfactor 90)
 *	  leaves   = ceil(reltuples / per_leaf)
 *	  pages    = 1 (metapage) + leaves + the upper levels (leaves / per_leaf,
 *	             and so on up to the root)
 *	  bytes    = pages * BLCKSZ
 *
 * A partial index is estimated as if it covered every row (an upper
 * bound), and so is a column with many repeated values (B-tree
 * deduplication makes the real index smaller).  There is no estimate
 * ("unknown", never 0) for an expression column (it has no statistics), a
 * column without statistics or a table never analyzed (reltuples = -1),
 * and for access methods other than btree.
 *
 * indexer/size_estimate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_SIZE_ESTIMATE_H
#define INDEXER_SIZE_ESTIMATE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "plan.h"

/* The B-tree formula above; reltuples >= 0, width the sum of the columns' avg_width. */
int64_t size_estimate_btree(double reltuples, int64_t width, int block_size);

/*
 * Estimate every item whose action builds an index (build, repair,
 * rebuild): fills estimated, est_bytes (-1: unknown) and est_why.  One
 * query for all of them, sent only when there is such an item (a run with
 * nothing to build sends nothing); *round_trips counts it.  Returns
 * EXIT_OK, or EXIT_UNREACHABLE / the cancel exit code after logging.
 */
int size_estimate_plan(PGconn *conn, plan_item *items, int n, int *round_trips);

/* bytes as "2.1 MB", or "unknown" when negative, into buf. */
void size_estimate_format(int64_t bytes, char *buf, size_t buflen);

#endif /* INDEXER_SIZE_ESTIMATE_H */
