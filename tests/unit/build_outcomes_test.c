/*-------------------------------------------------------------------------
 *
 * build_outcomes_test.c
 *	  Unit tests for the build engine's end-of-run invariant
 *	  (indexer/build_job.c, build_check_outcomes): every work item has an
 *	  outcome before the exit code is computed.
 *
 * A work item the engine left without an outcome, for no reason that makes
 * the exit code non-zero by itself, is an internal error: it is failed,
 * counted, and reported to the caller, which fails the run (build.c,
 * engine_exit_code).  No server needed.
 *
 * tests/unit/build_outcomes_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build_internal.h"

enum
{
	N_ITEMS = 4
};

typedef struct fixture
{
	index_def defs[N_ITEMS];
	plan_item items[N_ITEMS];
} fixture;

/* a present critical build, a non-critical repair, a drop, and a present index (no work) */
static void
fixture_init(fixture *f)
{
	static const plan_action actions[N_ITEMS] = {ACT_BUILD, ACT_REPAIR, ACT_DROP, ACT_PRESENT};

	memset(f, 0, sizeof(*f));
	for (int i = 0; i < N_ITEMS; i++)
	{
		f->defs[i].name = (char *) (i == 0 ? "idx_a" : i == 1 ? "idx_b" : i == 2 ? "idx_c" : "idx_d");
		f->defs[i].table = (char *) "t";
		f->defs[i].schema = (char *) "public";
		f->defs[i].critical = i == 0;
		f->defs[i].state = i == 2 ? INDEX_STATE_ABSENT : INDEX_STATE_PRESENT;
		f->items[i].def = &f->defs[i];
		f->items[i].action = actions[i];
	}
}

static void
fixture_free(fixture *f)
{
	for (int i = 0; i < N_ITEMS; i++)
		free(f->items[i].failure);
}

static void
every_item_has_an_outcome(void **state)
{
	fixture       f;
	build_summary sum = {0};

	(void) state;
	fixture_init(&f);
	f.items[0].outcome = OUTCOME_DONE;
	f.items[1].outcome = OUTCOME_FAILED;
	f.items[2].outcome = OUTCOME_INTERRUPTED;
	assert_int_equal(build_check_outcomes(f.items, N_ITEMS, NULL, &sum), 0);
	assert_int_equal(sum.failed_critical + sum.failed_noncritical, 0);
	/* an item that is not work needs no outcome */
	assert_int_equal(f.items[3].outcome, OUTCOME_NONE);
	assert_null(f.items[3].failure);
	fixture_free(&f);
}

static void
an_item_without_outcome_is_an_internal_error(void **state)
{
	fixture       f;
	build_summary sum = {0};

	(void) state;
	fixture_init(&f);
	f.items[2].outcome = OUTCOME_DONE;
	/* items 0 (critical) and 1 (not critical) were silently skipped */
	assert_int_equal(build_check_outcomes(f.items, N_ITEMS, NULL, &sum), 2);
	assert_int_equal(f.items[0].outcome, OUTCOME_FAILED);
	assert_int_equal(f.items[1].outcome, OUTCOME_FAILED);
	assert_non_null(strstr(f.items[0].failure, "internal error"));
	assert_non_null(strstr(f.items[1].failure, "internal error"));
	assert_int_equal(sum.failed_critical, 1);
	assert_int_equal(sum.failed_noncritical, 1);
	/* untouched: had an outcome, or is no work */
	assert_int_equal(f.items[2].outcome, OUTCOME_DONE);
	assert_null(f.items[2].failure);
	assert_int_equal(f.items[3].outcome, OUTCOME_NONE);
	fixture_free(&f);
}

static void
work_held_back_for_a_reason_keeps_no_outcome(void **state)
{
	fixture       f;
	build_summary sum = {0};

	(void) state;
	fixture_init(&f);
	/* a signal or a critical failure: the exit code is non-zero anyway, and main counts them skipped */
	assert_int_equal(build_check_outcomes(f.items, N_ITEMS, "interrupted by a signal", &sum), 0);
	for (int i = 0; i < N_ITEMS; i++)
	{
		assert_int_equal(f.items[i].outcome, OUTCOME_NONE);
		assert_null(f.items[i].failure);
	}
	assert_int_equal(sum.failed_critical + sum.failed_noncritical, 0);
	fixture_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_item_has_an_outcome),
		cmocka_unit_test(an_item_without_outcome_is_an_internal_error),
		cmocka_unit_test(work_held_back_for_a_reason_keeps_no_outcome),
	};

	log_init("indexer", LOG_FORMAT_TEXT, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
