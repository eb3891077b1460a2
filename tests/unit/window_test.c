/*-------------------------------------------------------------------------
 *
 * window_test.c
 *	  Unit tests for indexer/window.c: parsing, days, crossing midnight,
 *	  time zones and both daylight-saving changes, with the time given.
 *
 * tests/unit/window_test.c
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
#include <time.h>

#include <cmocka.h>

#include "window.h"

/* "YYYY-MM-DD HH:MM" UTC as an instant */
static time_t
utc(const char *s)
{
	struct tm tm = {0};

	assert_int_equal(
		sscanf(s, "%d-%d-%d %d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min), 5);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

static bool
open_at(const char *spec, const char *zone, const char *when_utc, time_t *next)
{
	window_list w = {0};
	char        why[256];
	bool        open;

	assert_true(window_parse(spec, &w, why, sizeof(why)));
	open = window_is_open(&w, zone, utc(when_utc), next, NULL);
	window_list_free(&w);
	return open;
}

static void
bad(const char *spec, const char *expect)
{
	window_list w = {0};
	char        why[256];

	assert_false(window_parse(spec, &w, why, sizeof(why)));
	if (strstr(why, expect) == NULL)
		fail_msg("\"%s\": got \"%s\", expected \"%s\"", spec, why, expect);
	window_list_free(&w);
}

static void
test_parse_errors(void **state)
{
	(void) state;
	bad("25:00-03:00", "invalid window \"25:00-03:00\"");
	bad("1:00-03:00", "invalid window");
	bad("Sat-Sun", "invalid window");
	bad("Xyz 01:00-02:00", "unknown day \"Xyz\"");
	bad("Mon,Frx 01:00-02:00", "unknown day \"Frx\"");
	bad("01:00-01:00", "is empty");
	bad("", "empty window");
	bad("Mon 01:00-02:00;", "empty window");
	bad("00:00-24:01", "invalid window");
}

static void
test_plain_and_days(void **state)
{
	time_t next;

	(void) state;
	/* 2026-12-05 is a Saturday */
	assert_true(open_at("01:00-05:00", "UTC", "2026-12-01 01:00", NULL));
	assert_true(open_at("01:00-05:00", "UTC", "2026-12-01 04:59", NULL));
	assert_false(open_at("01:00-05:00", "UTC", "2026-12-01 05:00", &next));
	assert_int_equal(next, utc("2026-12-02 01:00"));
	assert_false(open_at("Sat-Sun 01:00-05:00", "UTC", "2026-12-01 02:00", &next));
	assert_int_equal(next, utc("2026-12-05 01:00"));
	assert_true(open_at("Sat-Sun 01:00-05:00", "UTC", "2026-12-06 02:00", NULL));
	assert_true(open_at("sat,SUN 01:00-05:00", "UTC", "2026-12-05 03:00", NULL));
	/* a range that wraps the week */
	assert_true(open_at("Fri-Mon 01:00-05:00", "UTC", "2026-12-07 03:00", NULL));
	assert_false(open_at("Fri-Mon 01:00-05:00", "UTC", "2026-12-08 03:00", NULL));
	assert_true(open_at("00:00-24:00", "UTC", "2026-12-08 23:59", NULL));
	assert_true(open_at("any", "UTC", "2026-12-08 23:59", NULL));
}

static void
test_midnight_and_union(void **state)
{
	time_t next;

	(void) state;
	/* Mon,Wed 22:00-02:00: Monday 22:00 to Tuesday 02:00 (2026-11-30 is a Monday) */
	assert_true(open_at("Mon,Wed 22:00-02:00", "UTC", "2026-11-30 23:00", NULL));
	assert_true(open_at("Mon,Wed 22:00-02:00", "UTC", "2026-12-01 01:30", NULL));
	assert_false(open_at("Mon,Wed 22:00-02:00", "UTC", "2026-12-01 22:30", &next));
	assert_int_equal(next, utc("2026-12-02 22:00"));
	/* Monday 01:00 is the tail of Sunday's occurrence, which is not listed */
	assert_false(open_at("Mon,Wed 22:00-02:00", "UTC", "2026-11-30 01:00", NULL));
	/* union */
	assert_true(open_at("Sat-Sun 01:00-05:00; Tue 12:00-13:00", "UTC", "2026-12-01 12:30", NULL));
	assert_false(open_at("Sat-Sun 01:00-05:00; Tue 12:00-13:00", "UTC", "2026-12-01 13:30", &next));
	assert_int_equal(next, utc("2026-12-05 01:00"));
}

static void
test_time_zone(void **state)
{
	time_t next;

	(void) state;
	/* Berlin is UTC+1 in December: 01:00-05:00 local is 00:00-04:00 UTC */
	assert_true(open_at("01:00-05:00", "Europe/Berlin", "2026-12-01 00:30", NULL));
	assert_false(open_at("01:00-05:00", "Europe/Berlin", "2026-12-01 04:30", &next));
	assert_int_equal(next, utc("2026-12-02 00:00"));
	/* the day is the local one: Saturday 00:30 in Tokyo is Friday 15:30 UTC */
	assert_true(open_at("Sat 00:00-01:00", "Asia/Tokyo", "2026-12-04 15:30", NULL));
}

static void
test_spring_forward(void **state)
{
	time_t next;

	(void) state;
	/* 2026-03-29 Europe/Berlin: 02:00 CET jumps to 03:00 CEST (01:00 UTC) */
	/* the window 02:00-03:00 does not vanish: it opens when the jump lands, for an hour */
	assert_false(open_at("02:00-03:00", "Europe/Berlin", "2026-03-29 00:59", &next));
	assert_int_equal(next, utc("2026-03-29 01:00"));
	assert_true(open_at("02:00-03:00", "Europe/Berlin", "2026-03-29 01:00", NULL));
	assert_true(open_at("02:00-03:00", "Europe/Berlin", "2026-03-29 01:59", NULL));
	assert_false(open_at("02:00-03:00", "Europe/Berlin", "2026-03-29 02:00", NULL));
	/* a window across the gap keeps its nominal length: 01:00 CET + 3h */
	assert_true(open_at("01:00-04:00", "Europe/Berlin", "2026-03-29 02:30", NULL));
	assert_false(open_at("01:00-04:00", "Europe/Berlin", "2026-03-29 03:00", NULL));
	/* the day after, normal again: 02:00 CEST is 00:00 UTC */
	assert_true(open_at("02:00-03:00", "Europe/Berlin", "2026-03-30 00:30", NULL));
}

static void
test_fall_back(void **state)
{
	time_t next;

	(void) state;
	/* 2026-11-01 America/New_York: 02:00 EDT falls back to 01:00 EST (06:00 UTC) */
	/* 01:00-02:00 is open through both passes: 05:00 to 07:00 UTC */
	assert_false(open_at("01:00-02:00", "America/New_York", "2026-11-01 04:59", &next));
	assert_int_equal(next, utc("2026-11-01 05:00"));
	assert_true(open_at("01:00-02:00", "America/New_York", "2026-11-01 05:30", NULL));
	assert_true(open_at("01:00-02:00", "America/New_York", "2026-11-01 06:30", NULL));
	assert_false(open_at("01:00-02:00", "America/New_York", "2026-11-01 07:00", NULL));
	/* a window ending inside the repeated hour ends at its first pass */
	assert_true(open_at("00:00-01:30", "America/New_York", "2026-11-01 05:15", NULL));
	assert_false(open_at("00:00-01:30", "America/New_York", "2026-11-01 05:30", NULL));
	assert_false(open_at("00:00-01:30", "America/New_York", "2026-11-01 06:15", NULL));
}

static time_t
closes_at(const char *spec, const char *zone, const char *when_utc)
{
	window_list w = {0};
	char        why[256];
	time_t      closes = 0;

	assert_true(window_parse(spec, &w, why, sizeof(why)));
	assert_true(window_is_open(&w, zone, utc(when_utc), NULL, &closes));
	window_list_free(&w);
	return closes;
}

static void
test_closes(void **state)
{
	(void) state;
	assert_int_equal(closes_at("01:00-05:00", "UTC", "2026-12-01 02:00"), utc("2026-12-01 05:00"));
	assert_int_equal(closes_at("Mon 22:00-02:00", "UTC", "2026-11-30 23:00"), utc("2026-12-01 02:00"));
	/* adjoining and overlapping windows close together */
	assert_int_equal(closes_at("01:00-03:00; 03:00-04:00; 03:30-06:00", "UTC", "2026-12-01 02:00"),
					 utc("2026-12-01 06:00"));
	assert_int_equal(closes_at("any", "UTC", "2026-12-01 02:00"), (time_t) -1);
	/* spring forward: the 02:00-03:00 window of Berlin closes at 04:00 CEST */
	assert_int_equal(closes_at("02:00-03:00", "Europe/Berlin", "2026-03-29 01:30"), utc("2026-03-29 02:00"));
}

static void
test_zone_valid(void **state)
{
	char why[256];

	(void) state;
	assert_true(window_zone_valid("UTC", why, sizeof(why)));
	assert_true(window_zone_valid("Europe/Berlin", why, sizeof(why)));
	assert_false(window_zone_valid("Mars/Olympus", why, sizeof(why)));
	assert_non_null(strstr(why, "unknown time zone \"Mars/Olympus\""));
	assert_false(window_zone_valid("../etc/passwd", why, sizeof(why)));
	assert_false(window_zone_valid("/etc/localtime", why, sizeof(why)));
}

static void
test_tz_restored(void **state)
{
	char buf[64];

	(void) state;
	setenv("TZ", "Asia/Tokyo", 1);
	window_format_time(utc("2026-12-01 00:00"), "Europe/Berlin", buf, sizeof(buf));
	assert_string_equal(buf, "Tue 2026-12-01 01:00 CET");
	assert_string_equal(getenv("TZ"), "Asia/Tokyo");
	unsetenv("TZ");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors),       cmocka_unit_test(test_plain_and_days),
		cmocka_unit_test(test_midnight_and_union), cmocka_unit_test(test_time_zone),
		cmocka_unit_test(test_spring_forward),     cmocka_unit_test(test_fall_back),
		cmocka_unit_test(test_zone_valid),         cmocka_unit_test(test_closes),
		cmocka_unit_test(test_tz_restored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
