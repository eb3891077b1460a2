/*-------------------------------------------------------------------------
 *
 * parser_pool.h
 *	  Many scripts parsed on several threads, their results taken in order.
 *
 * A batch of n items, each parsed by parse(i) and then taken by done(i):
 * parse runs on the pool's threads, several at once for different items;
 * done runs on one thread only, strictly in the order 0, 1, ..., n - 1, each
 * after its parse(i) has returned, so whatever done prints comes out as a
 * loop over the items would print it.  The thread that runs done also
 * parses while the item it waits for is not ready.  Every thread has the
 * room of sql_call_with_parser_room() (sqlparse.h): each sql_parse_script()
 * inside runs in place, with no thread of its own, and every signal is
 * blocked on them (the caller's thread keeps its handlers and waits).  At
 * most `ahead` items are parsed and not yet done, so memory stays bounded
 * however long the batch.
 *
 * common/parser_pool.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_PARSER_POOL_H
#define TOOLKIT_PARSER_POOL_H

#include <stdbool.h>

typedef struct parser_pool_batch
{
	int n;       /* items 0 .. n - 1 */
	int threads; /* parsing threads besides the one that runs done; 0: none */
	int ahead;   /* most items parsed and not yet done (at least 1) */
	/* safe to run on several threads at once for different items */
	void (*parse)(int i, void *arg);
	void (*done)(int i, void *arg);
	void *arg;
} parser_pool_batch;

/*
 * The parsing threads worth starting besides the one that runs done for
 * n items: one less than the CPUs this process may run on, at most 3, and
 * never more than the items.
 */
int parser_pool_threads(int n);

/*
 * Run the batch and return when done(n - 1) has returned.  A parsing thread
 * that cannot start is done without (the others do its share).  Returns
 * false with errno set only when the thread that runs done could not start;
 * nothing has run then.
 */
bool parser_pool_run(const parser_pool_batch *batch);

#endif /* TOOLKIT_PARSER_POOL_H */
