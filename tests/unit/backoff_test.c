/*-------------------------------------------------------------------------
 *
 * backoff_test.c
 *	  Unit tests for indexer/backoff.c: which definitions wait after
 *	  failed runs in a row, for how long, and which rows say nothing.
 *
 * tests/unit/backoff_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backoff.h"

/* 2026-12-01 12:00:00 UTC */
#define NOW 1796126400.0

/* One copied row: id, definition, action, started_at, finished_at (\N: NULL). */
static void
row(copy_rows *rows, int id, const char *def, const char *action, const char *started, const char *finished)
{
	char line[256];

	snprintf(line, sizeof(line), "%d\t%s\t%s\t%s\t%s\n", id, def, action, started, finished);
	copy_rows_add(rows, line, (int) strlen(line));
	assert_false(rows->malformed);
}

static void
item(plan_item *it, index_def *def, const char *name, bool critical)
{
	memset(def, 0, sizeof(*def));
	memset(it, 0, sizeof(*it));
	def->name = (char *) name;
	def->schema = (char *) "public";
	def->table = (char *) "t";
	def->critical = critical;
	it->def = def;
	it->action = ACT_BUILD;
}

static const backoff_policy two = {2, NULL, false};

static void
test_waits_after_the_nth_failure_in_a_row(void **state)
{
	copy_rows rows;
	index_def d[3];
	plan_item p[3];

	(void) state;
	copy_rows_init(&rows, BACKOFF_COLUMNS_N);
	/* a: two failures in a row, the last at 11:30: waits 1 h, to 12:30 */
	row(&rows, 1, "a", "failed", "2026-12-01 10:00:00+00", "2026-12-01 10:05:00+00");
	row(&rows, 2, "a", "failed", "2026-12-01 11:00:00+00", "2026-12-01 11:30:00+00");
	/* b: one failure after a success: not yet */
	row(&rows, 3, "b", "failed", "2026-12-01 09:00:00+00", "2026-12-01 09:01:00+00");
	row(&rows, 4, "b", "built", "2026-12-01 10:00:00+00", "2026-12-01 10:01:00+00");
	row(&rows, 5, "b", "failed", "2026-12-01 11:00:00+00", "2026-12-01 11:01:00+00");
	/* c: refused, started and interrupted rows say nothing about the definition */
	row(&rows, 6, "c", "failed", "2026-12-01 11:00:00+00", "2026-12-01 11:01:00+00");
	row(&rows, 7, "c", "refused", "2026-12-01 11:10:00+00", "2026-12-01 11:10:00+00");
	row(&rows, 8, "c", "interrupted", "2026-12-01 11:20:00+00", "\\N");
	row(&rows, 9, "c", "failed", "2026-12-01 11:30:00+00", "2026-12-01 11:31:00+00");
	item(&p[0], &d[0], "a", true);
	item(&p[1], &d[1], "b", false);
	item(&p[2], &d[2], "c", false);
	assert_true(backoff_wanted(p, 3));
	assert_int_equal(backoff_apply(&rows, p, 3, &two, NOW), 1);
	assert_int_equal(p[0].deferral, DEFER_BACKOFF);
	assert_int_equal(p[0].failed_runs, 2);
	assert_int_equal(p[0].backoff_until, (int64_t) NOW + 30 * 60);
	if (strstr(p[0].deferred, "backing off until Tue 2026-12-01 12:30 UTC (failed 2 runs") == NULL)
		fail_msg("deferred: \"%s\"", p[0].deferred);
	assert_string_equal(p[1].deferred, "");
	assert_int_equal(p[2].deferral, DEFER_BACKOFF);
	assert_int_equal(p[2].backoff_until, (int64_t) NOW - 29 * 60 + 3600);
	copy_rows_free(&rows);
}

static void
test_the_wait_doubles_and_stops_at_a_day(void **state)
{
	copy_rows rows;
	index_def d[1];
	plan_item p[1];
	char      when[64];

	(void) state;
	copy_rows_init(&rows, BACKOFF_COLUMNS_N);
	for (int i = 0; i < 12; i++)
	{
		snprintf(when, sizeof(when), "2026-12-01 11:%02d:00+00", 10 + i);
		row(&rows, i + 1, "a", "failed", when, when);
	}
	item(&p[0], &d[0], "a", false);
	/* 12 failures, N = 2: 1 h doubled 10 times, capped at 24 h from 11:21 */
	assert_int_equal(backoff_apply(&rows, p, 1, &two, NOW), 0);
	assert_int_equal(p[0].failed_runs, 12);
	assert_int_equal(p[0].backoff_until, (int64_t) NOW - 39 * 60 + 24 * 3600);
	copy_rows_free(&rows);

	/* 3 failures, N = 2: 2 h from 11:12; once over, no wait */
	copy_rows_init(&rows, BACKOFF_COLUMNS_N);
	for (int i = 0; i < 3; i++)
	{
		snprintf(when, sizeof(when), "2026-12-01 11:%02d:00+00", 10 + i);
		row(&rows, i + 1, "a", "failed", when, when);
	}
	item(&p[0], &d[0], "a", false);
	assert_int_equal(backoff_apply(&rows, p, 1, &two, NOW), 0);
	assert_int_equal(p[0].backoff_until, (int64_t) NOW - 48 * 60 + 2 * 3600);
	item(&p[0], &d[0], "a", false);
	assert_int_equal(backoff_apply(&rows, p, 1, &two, NOW + 2 * 3600), 0);
	assert_string_equal(p[0].deferred, "");
	copy_rows_free(&rows);
}

static void
test_a_failure_dated_ahead_of_this_clock_is_not_believed(void **state)
{
	copy_rows rows;
	index_def d[1];
	plan_item p[1];

	(void) state;
	copy_rows_init(&rows, BACKOFF_COLUMNS_N);
	row(&rows, 1, "a", "failed", "2026-12-01 12:00:00+00", "2026-12-01 12:00:00+00");
	row(&rows, 2, "a", "failed", "2026-12-01 12:10:00+00", "2026-12-01 12:10:00+00");
	item(&p[0], &d[0], "a", true);
	assert_int_equal(backoff_apply(&rows, p, 1, &two, NOW), 0);
	assert_string_equal(p[0].deferred, "");
	/* within five minutes of it: believed */
	item(&p[0], &d[0], "a", true);
	assert_int_equal(backoff_apply(&rows, p, 1, &two, NOW + 6 * 60), 1);
	copy_rows_free(&rows);
}

static void
test_only_work_not_yet_decided_can_wait(void **state)
{
	index_def d[3];
	plan_item p[3];

	(void) state;
	item(&p[0], &d[0], "a", false);
	p[0].action = ACT_PRESENT;
	item(&p[1], &d[1], "b", false);
	p[1].action = ACT_DROP;
	item(&p[2], &d[2], "c", false);
	snprintf(p[2].deferred, sizeof(p[2].deferred), "is outside its window");
	assert_false(backoff_wanted(p, 3));
	p[2].deferred[0] = '\0';
	assert_true(backoff_wanted(p, 3));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waits_after_the_nth_failure_in_a_row),
		cmocka_unit_test(test_the_wait_doubles_and_stops_at_a_day),
		cmocka_unit_test(test_a_failure_dated_ahead_of_this_clock_is_not_believed),
		cmocka_unit_test(test_only_work_not_yet_decided_can_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
