/*-------------------------------------------------------------------------
 *
 * window.h
 *	  Build windows: "[DAYS ]HH:MM-HH:MM" in a time zone, and whether the
 *	  clock is inside one.
 *
 * A window is a span of local wall-clock time that starts on the days
 * given (every day when none are): "Sat-Sun 01:00-05:00",
 * "Mon,Wed 22:00-02:00" (it crosses midnight: the day names the day it
 * starts on, so this one is open Monday 22:00 to Tuesday 02:00).  A list
 * of windows (separated by ";") is their union; "any" means always open.
 *
 * Daylight-saving changes never shorten a window: its opening instant is
 * the first at which the local clock reads its start (a start the clock
 * jumps over opens the window when the jump lands), and it closes at the
 * later of the first instant the clock reads its end and its opening plus
 * its nominal length.  So a 02:00-03:00 window on the day Europe/Berlin
 * jumps from 02:00 to 03:00 is open 03:00-04:00 that day, and a 01:00-02:00
 * window on the day America/New_York repeats 01:00-02:00 is open through
 * both passes of that hour (two hours of real time).
 *
 * The module is pure: the time is a parameter.  The zone is looked up in
 * the system's tz database (TZ set around localtime_r, restored after).
 *
 * indexer/window.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_WINDOW_H
#define INDEXER_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Bit d (0 = Sunday, as tm_wday) of days: the window starts on that day. */
typedef struct window_span
{
	unsigned days;      /* 0x7f: every day */
	int      start_min; /* minutes after midnight, 0..1439 */
	int      end_min;   /* 1..1440; <= start_min: ends the next day */
} window_span;

typedef struct window_list
{
	window_span *spans;
	int          n;
	int          cap;
	bool         any; /* "any": always open */
} window_list;

/*
 * Parse text, one or more windows separated by ";", or "any", into *out
 * (initialised by the caller to zero; spans are added).  Returns true, or
 * false with a one-line reason in errbuf (nothing usable is in *out then).
 */
bool window_parse(const char *text, window_list *out, char *errbuf, size_t errlen);

/* Release what w holds; accepts NULL. */
void window_list_free(window_list *w);

/*
 * Whether zone names a zone of the system's tz database ("UTC",
 * "Europe/Berlin"); false with a reason in errbuf otherwise.  Names with
 * ".." or a leading "/" are refused.
 */
bool window_zone_valid(const char *zone, char *errbuf, size_t errlen);

/*
 * Whether the windows w are open at now in zone.  When they are not and
 * next_open is not NULL, *next_open is the instant they next open (within
 * eight days), or (time_t) -1 if never.  When they are and closes is not
 * NULL, *closes is the instant they close (the union of overlapping or
 * adjoining windows counts as one), or (time_t) -1 if never.  An empty
 * list or "any" is always open.  TZ is changed for the duration of the
 * call: call it while no other thread reads the environment.
 */
bool window_is_open(const window_list *w, const char *zone, time_t now, time_t *next_open, time_t *closes);

/* t as "YYYY-MM-DD HH:MM ZZZ" in zone, into buf. */
void window_format_time(time_t t, const char *zone, char *buf, size_t buflen);

#endif /* INDEXER_WINDOW_H */
