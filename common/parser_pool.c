/*-------------------------------------------------------------------------
 *
 * parser_pool.c
 *	  Many scripts parsed on several threads, their results taken in order.
 *
 * One mutex guards the next item nobody parses yet, how many are done, and
 * (per item) whether its parse has returned.  A thread waits only for what
 * it needs, each on its own condition variable: a parsing thread for room
 * in the window of `ahead` items, the taking thread for the item it takes
 * next, when there is nothing within the window to parse meanwhile.  A
 * thread is woken only when it waits and what it waits for has come (idle
 * parsing threads when half the window is free), so a batch of short
 * parses does not turn into a ping-pong of wake-ups.
 *
 * common/parser_pool.c
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "parser_pool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "memory.h"
#include "parser_thread.h"
#include "sqlparse.h"

#define MAX_THREADS 3

typedef struct pool
{
	const parser_pool_batch *b;
	pthread_mutex_t          mu;
	pthread_cond_t           room;          /* the window has room again */
	pthread_cond_t           ready;         /* the item to take next is parsed */
	int                      next;          /* the first item nobody parses yet */
	int                      n_done;        /* items done() has taken */
	int                      parsers_idle;  /* parsing threads waiting on room */
	bool                     taker_waiting; /* the taking thread waits on ready */
	unsigned char           *parsed;        /* per item: its parse has returned */
} pool;

/* Is there an item to parse within the window (p->mu held)? */
static bool
can_claim(const pool *p)
{
	return p->next < p->b->n && p->next - p->n_done < p->b->ahead;
}

/* Parse item p->next (p->mu held, and released during the parse). */
static void
parse_next_locked(pool *p)
{
	int i = p->next++;

	pthread_mutex_unlock(&p->mu);
	p->b->parse(i, p->b->arg);
	pthread_mutex_lock(&p->mu);
	p->parsed[i] = 1;
	if (p->taker_waiting && i == p->n_done)
		pthread_cond_signal(&p->ready);
}

static void
parsing_thread(void *arg)
{
	pool *p = arg;

	pthread_mutex_lock(&p->mu);
	while (p->next < p->b->n)
	{
		if (can_claim(p))
			parse_next_locked(p);
		else
		{
			p->parsers_idle++;
			pthread_cond_wait(&p->room, &p->mu);
			p->parsers_idle--;
		}
	}
	pthread_mutex_unlock(&p->mu);
}

/*
 * Item i has been taken (p->mu held).  Idle parsing threads are woken only
 * when half the window is free again, or at the end: one wake-up per item
 * would cost more than a short parse.
 */
static void
item_done_locked(pool *p, int i)
{
	p->n_done = i + 1;
	if (p->parsers_idle > 0 && (p->next - p->n_done <= p->b->ahead / 2 || p->n_done == p->b->n))
		pthread_cond_broadcast(&p->room);
}

/* The taking thread: parses while it waits, takes each item in order. */
static void
taking_thread(void *arg)
{
	pool     *p = arg;
	pthread_t threads[MAX_THREADS];
	int       started = 0;

	for (int t = 0; t < p->b->threads && t < MAX_THREADS; t++)
		if (parser_thread_spawn(&threads[started], parsing_thread, p))
			started++;
	for (int i = 0; i < p->b->n; i++)
	{
		pthread_mutex_lock(&p->mu);
		while (!p->parsed[i])
		{
			if (can_claim(p))
				parse_next_locked(p);
			else
			{
				p->taker_waiting = true;
				pthread_cond_wait(&p->ready, &p->mu);
				p->taker_waiting = false;
			}
		}
		pthread_mutex_unlock(&p->mu);
		p->b->done(i, p->b->arg);
		pthread_mutex_lock(&p->mu);
		item_done_locked(p, i);
		pthread_mutex_unlock(&p->mu);
	}
	for (int t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
}

/* See parser_pool.h. */
int
parser_pool_threads(int n)
{
	cpu_set_t set;
	int       cpus = 1;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		cpus = CPU_COUNT(&set);
	else
	{
		long online = sysconf(_SC_NPROCESSORS_ONLN);

		cpus = online > 0 ? (int) online : 1;
	}
	cpus--;
	if (cpus > MAX_THREADS)
		cpus = MAX_THREADS;
	if (cpus > n)
		cpus = n;
	return cpus > 0 ? cpus : 0;
}

/* See parser_pool.h. */
bool
parser_pool_run(const parser_pool_batch *batch)
{
	pool p = {0};
	bool ok;
	int  saved;

	if (batch->n <= 0)
		return true;
	if (batch->ahead < 1)
	{
		errno = EINVAL;
		return false;
	}
	p.b = batch;
	p.parsed = xcalloc((size_t) batch->n, 1);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.room, NULL);
	pthread_cond_init(&p.ready, NULL);
	ok = sql_call_with_parser_room(taking_thread, &p);
	saved = errno;
	pthread_cond_destroy(&p.ready);
	pthread_cond_destroy(&p.room);
	pthread_mutex_destroy(&p.mu);
	free(p.parsed);
	errno = saved;
	return ok;
}
