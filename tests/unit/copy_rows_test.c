/*-------------------------------------------------------------------------
 *
 * copy_rows_test.c
 *	  Unit tests for common/copy_rows.c: COPY's text format decoded (NULL,
 *	  escapes, tabs and newlines in data, a row with another column count)
 *	  and its ISO UTC timestamps read as seconds.
 *
 * The lines are what PostgreSQL 15 writes for COPY ... TO STDOUT in text
 * format; the integration tests read real ones.
 *
 * tests/unit/copy_rows_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "copy_rows.h"

static void
add(copy_rows *r, const char *line)
{
	copy_rows_add(r, line, (int) strlen(line));
}

static void
test_cells_nulls_and_empty_strings(void **state)
{
	copy_rows r;

	(void) state;
	copy_rows_init(&r, 3);
	add(&r, "1\tabc\t\\N\n");
	add(&r, "2\t\tx\n");
	assert_int_equal(r.n_rows, 2);
	assert_false(r.malformed);
	assert_string_equal(copy_rows_cell(&r, 0, 0), "1");
	assert_string_equal(copy_rows_cell(&r, 0, 1), "abc");
	assert_null(copy_rows_cell(&r, 0, 2));
	assert_string_equal(copy_rows_cell(&r, 1, 1), ""); /* empty, not NULL */
	assert_string_equal(copy_rows_cell(&r, 1, 2), "x");
	copy_rows_free(&r);
}

static void
test_escapes(void **state)
{
	copy_rows r;

	(void) state;
	copy_rows_init(&r, 2);
	/* a tab, a newline and a backslash in data; octal and hex escapes; \N inside text is not NULL */
	add(&r, "a\\tb\\nc\\\\d\t\\101\\x42\\x4a\\q\\\\N\n");
	assert_int_equal(r.n_rows, 1);
	assert_string_equal(copy_rows_cell(&r, 0, 0), "a\tb\nc\\d");
	assert_string_equal(copy_rows_cell(&r, 0, 1), "ABJq\\N");
	copy_rows_free(&r);
}

static void
test_another_column_count_is_malformed(void **state)
{
	copy_rows r;

	(void) state;
	copy_rows_init(&r, 2);
	add(&r, "1\t2\n");
	add(&r, "1\t2\t3\n");
	add(&r, "4\t5\n"); /* rows stop at the first malformed one */
	assert_true(r.malformed);
	assert_int_equal(r.n_rows, 1);
	copy_rows_free(&r);
	copy_rows_init(&r, 2);
	add(&r, "only one\n");
	assert_true(r.malformed);
	assert_int_equal(r.n_rows, 0);
	copy_rows_free(&r);
}

static void
test_epoch(void **state)
{
	double e;

	(void) state;
	assert_true(copy_rows_epoch("1970-01-01 00:00:00+00", &e));
	assert_true(e == 0.0);
	assert_true(copy_rows_epoch("2026-12-01 10:00:00.5+00", &e));
	assert_true(e == 1796119200.5);
	assert_false(copy_rows_epoch("infinity", &e));
	assert_false(copy_rows_epoch("2026-12-01 10:00:00+01", &e)); /* only UTC */
	assert_false(copy_rows_epoch(NULL, &e));
	assert_true(e == 0.0);
	/* for ordering: what is no plain date goes to the end its sign says */
	assert_true(copy_rows_epoch_or_end("1970-01-01 00:00:01+00") == 1.0);
	assert_true(copy_rows_epoch_or_end("infinity") > 1e299);
	assert_true(copy_rows_epoch_or_end("-infinity") < -1e299);
	assert_true(copy_rows_epoch_or_end(NULL) < -1e299);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cells_nulls_and_empty_strings),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_another_column_count_is_malformed),
		cmocka_unit_test(test_epoch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
