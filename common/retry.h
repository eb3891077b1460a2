/*-------------------------------------------------------------------------
 *
 * retry.h
 *	  Time, interruptible sleeps and the backoff of retries.
 *
 * Backoff: attempt n (1-based) waits base * 2^(n-1), capped, then jittered
 * to a uniform value in [d/2, d] so that replicas that failed together do
 * not retry together.  With the defaults (base 1s, cap 30s): ~1s, 2s, 4s...
 *
 * common/retry.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_RETRY_H
#define TOOLKIT_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define RETRY_BASE_MS 1000
#define RETRY_CAP_MS  30000

/* Milliseconds on the monotonic clock. */
int64_t monotonic_ms(void);

/* The jittered delay before retry number attempt (1-based). */
int64_t retry_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms);

/* The same without jitter: the upper bound of retry_backoff_ms(). */
int64_t retry_backoff_max_ms(int attempt, int64_t base_ms, int64_t cap_ms);

/*
 * Sleep ms milliseconds, waking early when SIGINT/SIGTERM arrives.  Returns
 * false when interrupted by such a signal, true otherwise.
 */
bool sleep_ms_interruptible(int64_t ms);

#endif /* TOOLKIT_RETRY_H */
