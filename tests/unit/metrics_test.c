/*-------------------------------------------------------------------------
 *
 * metrics_test.c
 *	  Unit tests for common/metrics.c: the text (sorted, escaped, stable),
 *	  the atomic file and reading a sample back.  The push and the programs'
 *	  metrics are tested against a real Pushgateway and cluster
 *	  (tests/integration/test_metrics.py).
 *
 * tests/unit/metrics_test.c
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

static void
test_text_is_sorted_escaped_and_stable(void **state)
{
	metrics          *m = metrics_new("p_", "build");
	const char *const b[] = {"name", "b\"q\\x\ny", NULL};
	const char *const a[] = {"name", "a", NULL};
	char             *text;

	(void) state;
	metrics_declare(m, "zeta", "last\\one\nhere");
	metrics_declare(m, "alpha", "first");
	metrics_declare(m, "empty", "no samples: left out");
	metrics_set(m, "zeta", NULL, 1.5);
	metrics_set(m, "alpha", b, 2);
	metrics_set(m, "alpha", a, 7);
	metrics_set(m, "alpha", a, 3); /* the same labels: replaced */
	metrics_set(m, "undeclared", NULL, 1);
	text = metrics_render(m);
	assert_string_equal(text, "# HELP p_alpha first\n"
							  "# TYPE p_alpha gauge\n"
							  "p_alpha{command=\"build\",name=\"a\"} 3\n"
							  "p_alpha{command=\"build\",name=\"b\\\"q\\\\x\\ny\"} 2\n"
							  "# HELP p_zeta last\\\\one\\nhere\n"
							  "# TYPE p_zeta gauge\n"
							  "p_zeta{command=\"build\"} 1.5\n");
	free(text);
	metrics_free(m);
	metrics_free(NULL);
}

static void
test_whole_numbers_have_no_exponent(void **state)
{
	metrics *m = metrics_new("p_", "up");
	char    *text;

	(void) state;
	metrics_declare(m, "t", "a timestamp");
	metrics_set(m, "t", NULL, 1796150685.0);
	text = metrics_render(m);
	assert_non_null(strstr(text, "p_t{command=\"up\"} 1796150685\n"));
	free(text);
	metrics_free(m);
}

static void
test_file_is_written_and_read_back(void **state)
{
	char        dir[] = "/tmp/metrics_test_XXXXXX";
	char        path[128];
	char        tmpl[160];
	char        why[256] = "";
	double      v = 0;
	struct stat st;

	(void) state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.prom", dir);
	assert_true(metrics_write_file(path, "a{command=\"up\"} 1\nb_last{command=\"up\"} 1796150685\n", why,
								   sizeof(why)));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_true(metrics_read_sample(path, "b_last{command=\"up\"}", &v));
	assert_true(v == 1796150685.0);
	/* a prefix of another series, or another label set, is not it */
	assert_false(metrics_read_sample(path, "b_las{command=\"up\"}", &v));
	assert_false(metrics_read_sample(path, "b_last{command=\"check\"}", &v));
	assert_false(metrics_read_sample("/nonexistent/x.prom", "a{command=\"up\"}", &v));

	/* a directory that is not there: the reason, and nothing left behind */
	snprintf(tmpl, sizeof(tmpl), "%s/missing/x.prom", dir);
	assert_false(metrics_write_file(tmpl, "a 1\n", why, sizeof(why)));
	assert_non_null(strstr(why, "could not create a temporary file in"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_wanted(void **state)
{
	metrics_target none = {NULL, NULL}, empty = {"", ""}, file = {"x.prom", NULL}, push = {NULL, "http://h"};

	(void) state;
	assert_false(metrics_wanted(NULL));
	assert_false(metrics_wanted(&none));
	assert_false(metrics_wanted(&empty));
	assert_true(metrics_wanted(&file));
	assert_true(metrics_wanted(&push));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_is_sorted_escaped_and_stable),
		cmocka_unit_test(test_whole_numbers_have_no_exponent),
		cmocka_unit_test(test_file_is_written_and_read_back),
		cmocka_unit_test(test_wanted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
