/*-------------------------------------------------------------------------
 *
 * backoff.h
 *	  Failure backoff: a definition whose builds failed in a row waits
 *	  before it is tried again, read from the indexer's history.
 *
 * After the N-th failed run in a row (--backoff-after N) a definition
 * waits an hour from its last failure, doubling with every further
 * failure, at most a day; a success ends it, and refused, started and
 * interrupted rows say nothing about the definition.  A last failure dated
 * more than five minutes ahead of this host's clock is not believed (a
 * clock ahead could hold a critical index back for ever): warned of, no
 * wait.  Pure: the history rows come in copied (record.c reads them),
 * nothing here touches the server.
 *
 * indexer/backoff.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_BACKOFF_H
#define INDEXER_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#include "copy_rows.h"
#include "plan.h"

/* The history's columns the backoff reads, in this order, for the copy. */
#define BACKOFF_COLUMNS   "id, definition, action, started_at, finished_at"
#define BACKOFF_COLUMNS_N 5

typedef struct backoff_policy
{
	int64_t     after;     /* failed runs in a row before the first wait (> 0) */
	const char *time_zone; /* of the "until" time in messages; NULL = UTC */
	bool        say;       /* log each deferral (plan shows them instead) */
} backoff_policy;

/* Does any item of plan want work the backoff could defer?  (No copy needed otherwise.) */
bool backoff_wanted(const plan_item *plan, int n);

/*
 * Defer (plan_defer, DEFER_BACKOFF) each item of plan whose definition is
 * waiting, per rows (BACKOFF_COLUMNS, as the copy gave them) at now (the
 * client's clock, epoch seconds).  Returns how many of them are critical.
 */
int backoff_apply(const copy_rows *rows, plan_item *plan, int n, const backoff_policy *p, double now);

#endif /* INDEXER_BACKOFF_H */
