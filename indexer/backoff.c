/*-------------------------------------------------------------------------
 *
 * backoff.c
 *	  Failure backoff from the indexer's history rows.
 *
 * indexer/backoff.c
 *
 *-------------------------------------------------------------------------
 */
#include "backoff.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "memory.h"
#include "options.h"
#include "window.h"

#define HOUR_MS (3600 * (int64_t) 1000)
#define DAY_MS  (24 * HOUR_MS)
/* how far ahead of ours another host's clock may be before its rows are not believed */
#define CLOCK_SLACK_MS (5 * 60 * (int64_t) 1000)

/* How long a definition that failed k runs in a row waits: 1h after the N-th, doubling, at most a day. */
static int64_t
backoff_ms(int64_t k, int64_t n)
{
	int64_t wait = HOUR_MS;

	for (int64_t i = n; i < k && wait < DAY_MS; i++)
		wait *= 2;
	return wait < DAY_MS ? wait : DAY_MS;
}

/* A row of the history that counts for the backoff; its strings stay in the copied rows. */
typedef struct backoff_row
{
	const char *definition;
	bool        failed;
	double      started; /* for the order */
	double      last;    /* when it ended (or started, unfinished) */
	int64_t     id;
} backoff_row;

static int
by_definition_newest(const void *a, const void *b)
{
	const backoff_row *x = a, *y = b;
	int                c = strcmp(x->definition, y->definition);

	if (c != 0)
		return c;
	if (x->started != y->started)
		return x->started > y->started ? -1 : 1;
	return (x->id < y->id) - (x->id > y->id);
}

/*
 * The copied rows (id, definition, action, started_at, finished_at) that
 * count, by definition, newest first: a refused build says nothing about
 * the definition, an unfinished one has no outcome.
 */
static backoff_row *
backoff_rows(const copy_rows *rows, int *n)
{
	backoff_row *out = xcalloc((size_t) rows->n_rows + 1, sizeof(backoff_row));

	*n = 0;
	for (int i = 0; i < rows->n_rows; i++)
	{
		const char  *def = copy_rows_cell(rows, i, 1), *action = copy_rows_cell(rows, i, 2);
		const char  *finished = copy_rows_cell(rows, i, 4);
		backoff_row *b = &out[*n];

		if (def == NULL || action == NULL || strcmp(action, "started") == 0 ||
			strcmp(action, "interrupted") == 0 || strcmp(action, "refused") == 0)
			continue;
		b->definition = def;
		b->failed = strcmp(action, "failed") == 0;
		b->started = copy_rows_epoch_or_end(copy_rows_cell(rows, i, 3));
		b->last = finished ? copy_rows_epoch_or_end(finished) : b->started;
		b->id = strtoll(copy_rows_cell(rows, i, 0) ? copy_rows_cell(rows, i, 0) : "0", NULL, 10);
		(*n)++;
	}
	qsort(out, (size_t) *n, sizeof(backoff_row), by_definition_newest);
	return out;
}

/* The first row of name in rows (sorted by definition), or n. */
static int
first_row_of(const backoff_row *rows, int n, const char *name)
{
	int lo = 0, hi = n;

	while (lo < hi)
	{
		int mid = lo + (hi - lo) / 2;

		if (strcmp(rows[mid].definition, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(rows[lo].definition, name) == 0 ? lo : n;
}

/* Defer it when its definition's last k rows (newest first, from row) failed and the wait is not over. */
static bool
defer_for_backoff(const backoff_policy *p, plan_item *it, const backoff_row *rows, int n_rows, int row,
				  double now)
{
	const char *name = it->def->name;
	int64_t     k = 0;
	double      last = rows[row].last;
	int64_t     wait;
	char        until[64];
	char        waittext[32];

	for (int i = row; i < n_rows && strcmp(rows[i].definition, name) == 0; i++)
	{
		if (!rows[i].failed)
			break;
		k++;
	}
	if (k < p->after)
		return false;
	if (last > now + (double) CLOCK_SLACK_MS / 1000.0)
	{
		/* written by a clock ahead of ours: waiting for it could hold a critical index back for ever */
		format_duration((int64_t) ((last - now) * 1000.0), waittext, sizeof(waittext));
		log_warning("the last failure of \"%s\" is dated %s ahead of this host's clock (a clock ahead?): not "
					"backing off",
					name, waittext);
		return false;
	}
	wait = backoff_ms(k, p->after);
	if (now >= last + (double) wait / 1000.0)
		return false;
	it->backoff_until = (int64_t) (last + (double) wait / 1000.0);
	it->failed_runs = (int) k;
	window_format_time((time_t) it->backoff_until, p->time_zone ? p->time_zone : "UTC", until, sizeof(until));
	plan_defer(it, DEFER_BACKOFF,
			   "is backing off until %s (failed %lld runs in a row; --retry-failed forces it)", until,
			   (long long) k);
	return true;
}

static bool
item_may_back_off(const plan_item *it)
{
	return plan_action_is_work(it->action) && it->outcome == OUTCOME_NONE && it->deferred[0] == '\0' &&
		   it->action != ACT_DROP && it->action != ACT_CLEANUP;
}

bool
backoff_wanted(const plan_item *plan, int n)
{
	for (int i = 0; i < n; i++)
		if (item_may_back_off(&plan[i]))
			return true;
	return false;
}

int
backoff_apply(const copy_rows *copied, plan_item *plan, int n, const backoff_policy *p, double now)
{
	int          n_rows = 0, critical = 0;
	backoff_row *rows = backoff_rows(copied, &n_rows);

	for (int i = 0; i < n; i++)
	{
		int row;

		if (!item_may_back_off(&plan[i]))
			continue;
		row = first_row_of(rows, n_rows, plan[i].def->name);
		if (row < n_rows && defer_for_backoff(p, &plan[i], rows, n_rows, row, now))
		{
			critical += plan[i].def->critical ? 1 : 0;
			if (!p->say)
				continue;
			log_event(plan[i].def->critical ? LOG_LEVEL_ERROR : LOG_LEVEL_WARNING, "backoff", NULL,
					  "%s\"%s\" on \"%s.%s\" not tried: it %s",
					  plan[i].def->critical ? "critical index " : "", plan[i].def->name, plan[i].def->schema,
					  plan[i].def->table, plan[i].deferred);
		}
	}
	free(rows);
	return critical;
}
