/*-------------------------------------------------------------------------
 *
 * lint_test_helpers.c
 *	  Helpers shared by the lint's unit tests; see lint_test_helpers.h.
 *
 * tests/unit/lint_test_helpers.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lint_test_helpers.h"
#include "sqlparse.h"

const lint_file_options no_opts = {.schema = NULL};
const lint_file_options dml_opts = {.allow_dml = true};
const lint_file_options nt_opts = {.no_transaction = true};
const lint_file_options strict_opts = {.strict = true};

/* Parse src (which must parse) and lint it with opts into *r (zeroed first). */
void
lint_src(const char *src, const lint_file_options *opts, lint_result *r)
{
	sql_script      script;
	sql_parse_error err;

	memset(r, 0, sizeof(*r));
	if (!sql_parse_script(src, &script, &err))
		fail_msg("unexpected parse error at %d:%d: %s", err.line, err.column, err.message);
	lint_script(src, &script, opts, r);
	sql_script_free(&script);
}

int
count_rule(const lint_result *r, const char *rule)
{
	int n = 0;

	for (int i = 0; i < r->n; i++)
		if (strcmp(r->items[i].rule, rule) == 0)
			n++;
	return n;
}

void
print_findings(const lint_result *r)
{
	for (int i = 0; i < r->n; i++)
		print_message("  %d:%d: %s %s: %s\n", r->items[i].line, r->items[i].column,
					  r->items[i].severity == LINT_ERROR ? "error" : "warning", r->items[i].rule,
					  r->items[i].message);
}

/* The only finding of src is rule, with this severity, at this line. */
void
expect_only(const char *src, const lint_file_options *opts, const char *rule, lint_severity severity,
			int line)
{
	lint_result r;

	lint_src(src, opts, &r);
	if (r.n != 1)
		print_findings(&r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, rule);
	assert_int_equal(r.items[0].severity, severity);
	assert_int_equal(r.items[0].line, line);
	assert_int_equal(r.n_errors, severity == LINT_ERROR ? 1 : 0);
	assert_int_equal(r.n_warnings, severity == LINT_WARNING ? 1 : 0);
	lint_result_free(&r);
}

/* src has no findings at all. */
void
expect_clean(const char *src, const lint_file_options *opts)
{
	lint_result r;

	lint_src(src, opts, &r);
	if (r.n != 0)
		print_findings(&r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.n_errors, 0);
	assert_int_equal(r.n_warnings, 0);
	lint_result_free(&r);
}

/* src has exactly n findings of rule, all of severity. */
void
expect_n(const char *src, const lint_file_options *opts, const char *rule, lint_severity severity, int n)
{
	lint_result r;

	lint_src(src, opts, &r);
	if (count_rule(&r, rule) != n || r.n != n)
		print_findings(&r);
	assert_int_equal(count_rule(&r, rule), n);
	assert_int_equal(r.n, n);
	for (int i = 0; i < r.n; i++)
		assert_int_equal(r.items[i].severity, severity);
	lint_result_free(&r);
}
