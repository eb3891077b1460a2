/*-------------------------------------------------------------------------
 *
 * lint_report_test.c
 *	  Unit tests for how the lint reports (migrator/lint_report.c,
 *	  lint_rules.c): --strict, allow comments and their near misses,
 *	  unknown rules, positions past a BOM and CRLF, the order and shape of
 *	  findings, and the table of built-in functions' volatility.
 *
 * tests/unit/lint_report_test.c
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

#include <cmocka.h>

#include "lint_test_helpers.h"
#include "pg_volatile_functions.h"
#include "sqlparse.h"

/* ---- severity, allow comments, positions ---- */

static void
test_strict(void **state)
{
	lint_result r;

	expect_only("ALTER TABLE t DROP COLUMN a", &strict_opts, "drop-column", LINT_ERROR, 1);
	lint_src("ALTER TABLE t DROP COLUMN a;\nALTER TABLE t RENAME TO u;\nBEGIN;", &strict_opts, &r);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.n_errors, 3);
	assert_int_equal(r.n_warnings, 0);
	lint_result_free(&r);
	lint_src("ALTER TABLE t DROP COLUMN a;\nALTER TABLE t RENAME TO u;\nBEGIN;", &no_opts, &r);
	assert_int_equal(r.n_errors, 1);
	assert_int_equal(r.n_warnings, 2);
	lint_result_free(&r);
}

static void
test_allow_comment(void **state)
{
	lint_result r;
	const char *src = "ALTER TABLE t DROP COLUMN a;\n"                             /* 1 */
					  "-- migrator:allow drop-column\n"                            /* 2 */
					  "ALTER TABLE t DROP COLUMN b, ALTER COLUMN c TYPE bigint;\n" /* 3 */
					  "ALTER TABLE t DROP COLUMN d;\n";                            /* 4 */

	lint_src(src, &no_opts, &r);
	print_findings(&r);
	/* excused: only line 3, only drop-column */
	assert_int_equal(r.n, 3);
	assert_string_equal(r.items[0].rule, "drop-column");
	assert_int_equal(r.items[0].line, 1);
	assert_string_equal(r.items[1].rule, "alter-column-type");
	assert_int_equal(r.items[1].line, 3);
	assert_string_equal(r.items[2].rule, "drop-column");
	assert_int_equal(r.items[2].line, 4);
	lint_result_free(&r);

	/* errors are excused the same way */
	expect_clean("-- migrator:allow dml\nUPDATE t SET a = 1;", &no_opts);
	/* and under --strict */
	expect_clean("--migrator:allow   drop-table  \nDROP TABLE t;", &strict_opts);
	/* stacked lines excuse several rules */
	expect_clean("-- migrator:allow drop-column\n-- migrator:allow alter-column-type\n"
				 "ALTER TABLE t DROP COLUMN b, ALTER COLUMN c TYPE bigint;",
				 &no_opts);
	/* an allow comment in a DO body excuses the statement below it */
	expect_clean("DO $$\nBEGIN\n  -- migrator:allow dml\n  DELETE FROM t;\nEND $$;", &no_opts);
	/* above the DO, it excuses the whole block */
	expect_clean("-- migrator:allow dml\nDO $$\nBEGIN\n  DELETE FROM t;\n  UPDATE t SET a = 1;\nEND $$;",
				 &no_opts);
}

static void
test_allow_comment_near_misses(void **state)
{
	/* not directly above */
	expect_only("-- migrator:allow drop-table\n\nDROP TABLE t;", &no_opts, "drop-table", LINT_WARNING, 3);
	expect_only("-- migrator:allow drop-table\n-- old table\nDROP TABLE t;", &no_opts, "drop-table",
				LINT_WARNING, 3);
	/* another rule */
	expect_only("-- migrator:allow drop-column\nDROP TABLE t;", &no_opts, "drop-table", LINT_WARNING, 2);
	/* not alone on its line: a trailing comment of the statement before */
	expect_n("ALTER TABLE t DROP COLUMN a; -- migrator:allow drop-column\nALTER TABLE t DROP COLUMN b;",
			 &no_opts, "drop-column", LINT_WARNING, 2);
	/* in a string, it is not a comment */
	expect_n("SELECT '\n-- migrator:allow dml\n'; UPDATE t SET a = 1;", &no_opts, "dml", LINT_ERROR, 1);
	/* a file directive is not an allow comment */
	expect_only("-- migrator:allow-dml\nUPDATE t SET a = 1;", &no_opts, "dml", LINT_ERROR, 2);
}

static void
test_unknown_rule(void **state)
{
	lint_result r;

	lint_src("SELECT 1;\n  -- migrator:allow drop-colum\nALTER TABLE t DROP COLUMN a;\n", &no_opts, &r);
	print_findings(&r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.items[0].rule, "unknown-rule");
	assert_int_equal(r.items[0].severity, LINT_ERROR);
	assert_int_equal(r.items[0].line, 2);
	assert_int_equal(r.items[0].column, 3);
	assert_non_null(strstr(r.items[0].message, "\"drop-colum\""));
	/* and the misspelt rule excuses nothing */
	assert_string_equal(r.items[1].rule, "drop-column");
	lint_result_free(&r);

	expect_only("-- migrator:allow\nSELECT 1;", &no_opts, "unknown-rule", LINT_ERROR, 1);
	/* the rule of errors about allow comments cannot itself be allowed */
	expect_only("-- migrator:allow unknown-rule\nSELECT 1;", &no_opts, "unknown-rule", LINT_ERROR, 1);
	expect_only("DO $$\nBEGIN\n  -- migrator:allow nothing\n  NULL;\nEND $$;", &no_opts, "unknown-rule",
				LINT_ERROR, 3);

	assert_true(lint_rule_exists("drop-column"));
	assert_true(lint_rule_exists("create-index"));
	assert_false(lint_rule_exists("unknown-rule"));
	assert_false(lint_rule_exists("DROP-COLUMN"));
	assert_false(lint_rule_exists(""));
	assert_false(lint_rule_exists(NULL));
}

static void
test_positions_bom_crlf(void **state)
{
	lint_result r;
	const char *src = "\xEF\xBB\xBF-- migrator:allow drop-table\r\n"
					  "DROP TABLE x;\r\n"
					  "  DROP TABLE y;\r\n"
					  "DO $$\r\n"
					  "BEGIN\r\n"
					  "  -- migrator:allow dml\r\n"
					  "  DELETE FROM a;\r\n"
					  "  DELETE FROM b;\r\n"
					  "END $$;\r\n";

	lint_src(src, &no_opts, &r);
	print_findings(&r);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.items[0].rule, "drop-table");
	assert_int_equal(r.items[0].line, 3);
	assert_int_equal(r.items[0].column, 3);
	assert_string_equal(r.items[1].rule, "dml");
	assert_int_equal(r.items[1].line, 8);
	assert_int_equal(r.items[1].column, 3);
	lint_result_free(&r);
}

static void
test_appends_and_sorts(void **state)
{
	lint_result     r;
	sql_script      script;
	sql_parse_error err;
	const char     *second =
		"DO $$\nBEGIN\n  UPDATE t SET a = 1;\nEND $$;\n-- migrator:allow bogus\nDROP TABLE t;";

	lint_src("BEGIN;", &no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_true(sql_parse_script(second, &script, &err));
	lint_script(second, &script, NULL, &r);
	sql_script_free(&script);
	print_findings(&r);
	/* the earlier finding stays first; the new ones in source order */
	assert_int_equal(r.n, 4);
	assert_string_equal(r.items[0].rule, "transaction-control");
	assert_string_equal(r.items[1].rule, "dml");
	assert_int_equal(r.items[1].line, 3);
	assert_string_equal(r.items[2].rule, "unknown-rule");
	assert_int_equal(r.items[2].line, 5);
	assert_string_equal(r.items[3].rule, "drop-table");
	assert_int_equal(r.items[3].line, 6);
	assert_int_equal(r.n_errors, 3);
	assert_int_equal(r.n_warnings, 1);
	lint_result_free(&r);
	assert_null(r.items);
	assert_int_equal(r.n, 0);
	lint_result_free(NULL);
}

/* Every message is one line: "reason; alternative", no trailing period. */
static void
test_message_shape(void **state)
{
	lint_result r;

	lint_src("CREATE INDEX i ON t (a); REINDEX TABLE t; VACUUM FULL t; CLUSTER t;\n"
			 "UPDATE t SET a = 1; BEGIN; SET x = 1; RESET ALL; DISCARD ALL; SET ROLE r;\n"
			 "SELECT pg_advisory_unlock_all();\n"
			 "ALTER TABLE t ADD COLUMN x float8 DEFAULT random(), ALTER COLUMN y TYPE text,\n"
			 "  ALTER COLUMN z SET NOT NULL, ADD CHECK (a > 0), ADD PRIMARY KEY (id),\n"
			 "  SET TABLESPACE s, DROP COLUMN w;\n"
			 "DROP INDEX i; DROP TABLE t; ALTER TABLE t RENAME TO u;\n"
			 "DO $$ BEGIN EXECUTE format('x'); END $$;\n"
			 "SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = '1h';\n"
			 "DO $$ BEGIN PERFORM 1; EXCEPTION WHEN others THEN NULL; END $$;\n"
			 "-- migrator:allow nope\nSELECT 1;\n",
			 &nt_opts, &r);
	print_findings(&r);
	assert_true(r.n >= 22);
	for (int i = 0; i < r.n; i++)
	{
		const char *m = r.items[i].message;
		size_t      len = strlen(m);

		assert_true(len > 0);
		assert_null(strchr(m, '\n'));
		assert_non_null(strstr(m, "; "));
		assert_true(m[len - 1] != '.');
		assert_true(lint_rule_exists(r.items[i].rule) || strcmp(r.items[i].rule, "unknown-rule") == 0);
	}
	lint_result_free(&r);
}

static void
test_volatile_function_list(void **state)
{
	assert_true(pg_builtin_function_lists_valid());
	assert_int_equal(pg_builtin_function_volatility("random"), PG_FUNC_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("gen_random_uuid"), PG_FUNC_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("clock_timestamp"), PG_FUNC_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("nextval"), PG_FUNC_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("timeofday"), PG_FUNC_VOLATILE);
	/* has volatile and non-volatile overloads */
	assert_int_equal(pg_builtin_function_volatility("ts_rewrite"), PG_FUNC_VOLATILE);
	/* the first of the volatile list (bytewise: upper case first) */
	assert_int_equal(pg_builtin_function_volatility("RI_FKey_cascade_del"), PG_FUNC_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("now"), PG_FUNC_NON_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("statement_timestamp"), PG_FUNC_NON_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("lower"), PG_FUNC_NON_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("abbrev"), PG_FUNC_NON_VOLATILE);
	assert_int_equal(pg_builtin_function_volatility("my_func"), PG_FUNC_UNKNOWN);
	assert_int_equal(pg_builtin_function_volatility("RANDOM"), PG_FUNC_UNKNOWN);
	assert_int_equal(pg_builtin_function_volatility(""), PG_FUNC_UNKNOWN);
	assert_int_equal(pg_builtin_function_volatility(NULL), PG_FUNC_UNKNOWN);
}

/* The escaped form of s, as data or as a property value; caller frees. */
static char *
escaped(const char *s, bool property)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append(&sb, ""); /* an empty result is "", not NULL */
	if (property)
		lint_github_escape_property(&sb, s);
	else
		lint_github_escape_data(&sb, s);
	return textbuf_detach(&sb);
}

/*
 * GitHub Actions' runner unescapes a workflow command's data with %25, %0D,
 * %0A and its property values also with %3A and %2C (ActionCommand.cs):
 * every other byte, UTF-8 and "::" in the data too, passes as it is.
 */
static void
test_github_escape(void **state)
{
	static const struct
	{
		const char *in;
		const char *data;
		const char *property;
	} cases[] = {
		{"", "", ""},
		{"plain text", "plain text", "plain text"},
		{"100%", "100%25", "100%25"},
		{"%25", "%2525", "%2525"}, /* escaped once, never read back as an escape */
		{"a\nb", "a%0Ab", "a%0Ab"},
		{"a\r\nb", "a%0D%0Ab", "a%0D%0Ab"},
		{"file:1,2", "file:1,2", "file%3A1%2C2"},
		{"::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"},
		{"m/0001_a,b.sql", "m/0001_a,b.sql", "m/0001_a%2Cb.sql"},
		{"\"quoted\" \xc3\xa9", "\"quoted\" \xc3\xa9", "\"quoted\" \xc3\xa9"},
		{"%\r\n:,", "%25%0D%0A:,", "%25%0D%0A%3A%2C"},
	};

	(void) state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		char *d = escaped(cases[i].in, false);
		char *p = escaped(cases[i].in, true);

		assert_string_equal(d, cases[i].data);
		assert_string_equal(p, cases[i].property);
		free(d);
		free(p);
	}
	/* NULL appends nothing */
	{
		char *d = escaped(NULL, false);

		assert_string_equal(d, "");
		free(d);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_allow_comment),
		cmocka_unit_test(test_allow_comment_near_misses),
		cmocka_unit_test(test_unknown_rule),
		cmocka_unit_test(test_positions_bom_crlf),
		cmocka_unit_test(test_appends_and_sorts),
		cmocka_unit_test(test_message_shape),
		cmocka_unit_test(test_volatile_function_list),
		cmocka_unit_test(test_github_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
