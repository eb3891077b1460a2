/*-------------------------------------------------------------------------
 *
 * retry_test.c
 *	  Unit tests for common/retry.c: the backoff schedule and its jitter.
 *
 * Built twice (tests/CMakeLists.txt): once as the library is, once with
 * retry.c compiled for a C library without arc4random_uniform(), so that
 * the getrandom() fallback is proved on this machine too.
 *
 * tests/unit/retry_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "retry.h"

static void
test_upper_bound_doubles_then_caps(void **state)
{
	assert_int_equal(retry_backoff_max_ms(1, 1000, 30000), 1000);
	assert_int_equal(retry_backoff_max_ms(2, 1000, 30000), 2000);
	assert_int_equal(retry_backoff_max_ms(5, 1000, 30000), 16000);
	assert_int_equal(retry_backoff_max_ms(6, 1000, 30000), 30000);
	assert_int_equal(retry_backoff_max_ms(1000, 1000, 30000), 30000);
}

/* Every jittered delay lies in [d/2, d], and the draws spread over it. */
static void
test_jitter_stays_in_the_upper_half_and_spreads(void **state)
{
	int64_t lo = INT64_MAX, hi = 0;
	int     buckets[4] = {0};

	for (int i = 0; i < 4000; i++)
	{
		int64_t v = retry_backoff_ms(3, 1000, 30000); /* d = 4000 */

		assert_in_range(v, 2000, 4000);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		buckets[(v - 2000) * 4 / 2001]++;
	}
	assert_true(lo < 2100 && hi > 3900);
	/* 1000 expected per quarter: a broken generator misses by far more */
	for (int b = 0; b < 4; b++)
		assert_in_range(buckets[b], 800, 1200);
}

static void
test_tiny_delays_are_not_jittered_below_zero(void **state)
{
	assert_int_equal(retry_backoff_ms(1, 1, 30000), 1);
	assert_int_equal(retry_backoff_ms(1, 0, 30000), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upper_bound_doubles_then_caps),
		cmocka_unit_test(test_jitter_stays_in_the_upper_half_and_spreads),
		cmocka_unit_test(test_tiny_delays_are_not_jittered_below_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
