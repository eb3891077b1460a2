/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  Time, interruptible sleeps and the backoff of retries.
 *
 * common/retry.c
 *
 *-------------------------------------------------------------------------
 */
#include "retry.h"

#include <stdlib.h>
#include <time.h>
#ifndef HAVE_ARC4RANDOM_UNIFORM
#include <sys/random.h>
#endif

#include "cancel.h"

int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
retry_backoff_max_ms(int attempt, int64_t base_ms, int64_t cap_ms)
{
	int64_t d = base_ms;

	for (int i = 1; i < attempt && d < cap_ms; i++)
		d *= 2;
	return d < cap_ms ? d : cap_ms;
}

/*
 * A uniform value in [0, bound).  arc4random_uniform() needs no seeding and
 * keeps no state of ours; before glibc 2.36 we draw from getrandom() and
 * reject the values above the largest multiple of bound, so that no value is
 * more likely than another.  Jitter needs no cryptographic quality, but
 * getrandom() never fails for 4 bytes once the pool is seeded, and if it
 * does the delay is simply not jittered (bound - 1: the upper end).
 */
static uint32_t
random_below(uint32_t bound)
{
#ifdef HAVE_ARC4RANDOM_UNIFORM
	return arc4random_uniform(bound);
#else
	uint32_t limit = UINT32_MAX - UINT32_MAX % bound;
	uint32_t r;

	do
	{
		if (getrandom(&r, sizeof(r), 0) != (ssize_t) sizeof(r))
			return bound - 1;
	} while (r >= limit);
	return r % bound;
#endif
}

int64_t
retry_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms)
{
	int64_t d = retry_backoff_max_ms(attempt, base_ms, cap_ms);
	int64_t half = d / 2;

	if (half <= 0)
		return d;
	return half + (int64_t) random_below((uint32_t) (d - half + 1));
}

bool
sleep_ms_interruptible(int64_t ms)
{
	int64_t deadline = monotonic_ms() + ms;

	while (!cancel_pending())
	{
		int64_t         left = deadline - monotonic_ms();
		struct timespec ts;

		if (left <= 0)
			return true;
		/* short slices: a signal also ends nanosleep early, but be sure */
		if (left > 100)
			left = 100;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		nanosleep(&ts, NULL);
	}
	return false;
}
