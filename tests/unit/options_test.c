/*-------------------------------------------------------------------------
 *
 * options_test.c
 *	  Unit tests for common/options.c: durations, bounded numbers, sizes.
 *
 * tests/unit/options_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"

/* stored into outputs first, to show that a refusal stores nothing */
#define UNTOUCHED ((int64_t) -7)

static void
duration_ok(const char *s, int64_t expected_ms)
{
	char    errbuf[256] = "";
	int64_t ms = UNTOUCHED;

	if (!parse_duration(s, &ms, errbuf, sizeof(errbuf)))
		fail_msg("\"%s\" refused: %s", s, errbuf);
	assert_int_equal(ms, expected_ms);
}

/* The duration is refused, nothing stored, and the reason contains want. */
static void
duration_refused(const char *s, const char *want)
{
	char    errbuf[256] = "";
	int64_t ms = UNTOUCHED;

	assert_false(parse_duration(s, &ms, errbuf, sizeof(errbuf)));
	assert_int_equal(ms, UNTOUCHED);
	if (strstr(errbuf, want) == NULL)
		fail_msg("reason for \"%s\" is \"%s\", expected it to contain \"%s\"", s ? s : "(null)", errbuf,
				 want);
	/* one line, no trailing period */
	assert_null(strchr(errbuf, '\n'));
	assert_true(errbuf[0] != '\0' && errbuf[strlen(errbuf) - 1] != '.');
}

static void
test_durations(void **state)
{
	duration_ok("500ms", 500);
	duration_ok("5s", 5000);
	duration_ok("2min", 120000);
	duration_ok("1.5s", 1500);
	duration_ok("0", 0);
	duration_ok("0s", 0);
	duration_ok("1h", 3600 * 1000);
	duration_ok("1d", 24 * 3600 * 1000);
	duration_ok(".5s", 500);
	duration_ok("0.25min", 15000);
	/* fractions of a millisecond round to the nearest one */
	duration_ok("1.0006s", 1001);
}

static void
test_duration_refusals(void **state)
{
	/* a bare number names the units instead of guessing one */
	duration_refused("5", "unit");
	duration_refused("5", "\"5ms\"");
	duration_refused("250", "unit");
	duration_refused("", "empty");
	duration_refused(NULL, "empty");
	duration_refused("abc", "invalid duration \"abc\"");
	duration_refused("5x", "unknown unit \"x\"");
	duration_refused("5S", "unknown unit \"S\"");
	duration_refused("5 s", "unknown unit");
	duration_refused("-1s", "invalid duration \"-1s\"");
	duration_refused(" 5s", "invalid duration");
	duration_refused("s", "invalid duration");
	duration_refused(".s", "invalid duration");
	duration_refused("0.0001s", "shorter than 1ms");
	/* strtod would read these; a duration is digits and one '.' only */
	duration_refused("0x10s", "invalid duration \"0x10s\"");
	duration_refused("1e3s", "invalid duration \"1e3s\"");
	duration_refused("1.2.3s", "invalid duration \"1.2.3s\"");
	duration_refused("infs", "invalid duration");
}

static void
test_duration_overflow(void **state)
{
	duration_refused("31d", "out of range");
	/* lock_timeout is int32 milliseconds: 25d would be refused by the server */
	duration_refused("25d", "out of range (at most 24d)");
	duration_refused("100000h", "out of range");
	duration_refused("99999999999999999999s", "out of range");
	duration_refused("1e400s", "invalid duration");
}

/* A short errbuf is truncated, never overrun. */
static void
test_duration_short_errbuf(void **state)
{
	char    errbuf[12];
	int64_t ms = UNTOUCHED;

	memset(errbuf, 'X', sizeof(errbuf));
	assert_false(parse_duration("5", &ms, errbuf, 8));
	assert_int_equal(strlen(errbuf), 7);
	assert_int_equal(errbuf[8], 'X');
	assert_int_equal(ms, UNTOUCHED);
}

static void
test_format_duration(void **state)
{
	static const struct
	{
		int64_t     ms;
		const char *text;
	} cases[] = {
		{0, "0"},
		{1, "1ms"},
		{500, "500ms"},
		{1000, "1s"},
		{1500, "1.5s"},
		{5000, "5s"},
		{61000, "61s"},
		{120000, "2min"},
		{3600 * 1000, "1h"},
		{90 * 60 * 1000, "90min"},
		{12345, "12.345s"},
		{3600500, "3600.5s"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char    buf[32];
		char    errbuf[256];
		int64_t back = UNTOUCHED;

		format_duration(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
		/* what is printed parses back to the same value */
		assert_true(parse_duration(buf, &back, errbuf, sizeof(errbuf)));
		assert_int_equal(back, cases[i].ms);
	}
}

static void
test_int_range(void **state)
{
	char    errbuf[256];
	int64_t v = UNTOUCHED;

	assert_true(parse_int_range("5", 1, 10, &v, errbuf, sizeof(errbuf)));
	assert_int_equal(v, 5);
	assert_true(parse_int_range("1", 1, 10, &v, errbuf, sizeof(errbuf)));
	assert_int_equal(v, 1);
	assert_true(parse_int_range("10", 1, 10, &v, errbuf, sizeof(errbuf)));
	assert_int_equal(v, 10);
	assert_true(parse_int_range("-3", -5, 5, &v, errbuf, sizeof(errbuf)));
	assert_int_equal(v, -3);
	assert_true(parse_int_range("9223372036854775807", 0, INT64_MAX, &v, errbuf, sizeof(errbuf)));
	assert_int_equal(v, INT64_MAX);
	assert_true(parse_int_range("-9223372036854775808", INT64_MIN, 0, &v, errbuf, sizeof(errbuf)));
	assert_int_equal(v, INT64_MIN);
}

static void
int_refused(const char *s, int64_t min, int64_t max, const char *want)
{
	char    errbuf[256] = "";
	int64_t v = UNTOUCHED;

	assert_false(parse_int_range(s, min, max, &v, errbuf, sizeof(errbuf)));
	assert_int_equal(v, UNTOUCHED);
	if (strstr(errbuf, want) == NULL)
		fail_msg("reason for \"%s\" is \"%s\", expected it to contain \"%s\"", s ? s : "(null)", errbuf,
				 want);
}

static void
test_int_range_refusals(void **state)
{
	int_refused("0", 1, 10, "out of range (1 to 10)");
	int_refused("11", 1, 10, "out of range (1 to 10)");
	int_refused("-1", 0, 10, "out of range");
	int_refused("99999999999999999999", 1, 10, "out of range");
	int_refused("99999999999999999999", 0, INT64_MAX, "out of range");
	int_refused("-99999999999999999999", INT64_MIN, 0, "out of range");
	int_refused("", 1, 10, "invalid number");
	int_refused(NULL, 1, 10, "invalid number");
	int_refused("abc", 1, 10, "invalid number \"abc\"");
	int_refused(" 5", 1, 10, "invalid number");
	int_refused("5 ", 1, 10, "whole number");
	int_refused("5.0", 1, 10, "whole number");
	int_refused("4k", 1, 10, "whole number");
	int_refused("-", 1, 10, "invalid number");
}

static void
test_memory_size(void **state)
{
	char    errbuf[256];
	int64_t kb = UNTOUCHED;

	assert_true(parse_memory_size("256MB", &kb, errbuf, sizeof(errbuf)));
	assert_int_equal(kb, 256 * 1024);
	assert_true(parse_memory_size("1kB", &kb, errbuf, sizeof(errbuf)));
	assert_int_equal(kb, 1);
	assert_true(parse_memory_size("1GB", &kb, errbuf, sizeof(errbuf)));
	assert_int_equal(kb, 1024 * 1024);
	/* the upper bound itself */
	assert_true(parse_memory_size("2TB", &kb, errbuf, sizeof(errbuf)));
	assert_int_equal(kb, (int64_t) 2 * 1024 * 1024 * 1024);
	assert_true(parse_memory_size("2048GB", &kb, errbuf, sizeof(errbuf)));
	assert_int_equal(kb, (int64_t) 2 * 1024 * 1024 * 1024);
}

static void
size_refused(const char *s, const char *want)
{
	char    errbuf[256] = "";
	int64_t kb = UNTOUCHED;

	assert_false(parse_memory_size(s, &kb, errbuf, sizeof(errbuf)));
	assert_int_equal(kb, UNTOUCHED);
	if (strstr(errbuf, want) == NULL)
		fail_msg("reason for \"%s\" is \"%s\", expected it to contain \"%s\"", s ? s : "(null)", errbuf,
				 want);
}

static void
test_memory_size_refusals(void **state)
{
	size_refused("256", "unit is required");
	size_refused("256mb", "unknown unit \"mb\"");
	size_refused("256 MB", "unknown unit");
	size_refused("1.5GB", "unknown unit");
	size_refused("0MB", "positive");
	size_refused("-1MB", "invalid size");
	size_refused("", "invalid size");
	size_refused(NULL, "invalid size");
	size_refused("MB", "invalid size");
	size_refused("3TB", "out of range");
	size_refused("2049GB", "out of range");
	size_refused("2147483649kB", "out of range");
	size_refused("99999999999999999999MB", "out of range (at most 2TB)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_duration_refusals),
		cmocka_unit_test(test_duration_overflow),
		cmocka_unit_test(test_duration_short_errbuf),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_int_range),
		cmocka_unit_test(test_int_range_refusals),
		cmocka_unit_test(test_memory_size),
		cmocka_unit_test(test_memory_size_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
