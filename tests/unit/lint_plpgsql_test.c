/*-------------------------------------------------------------------------
 *
 * lint_plpgsql_test.c
 *	  Unit tests for the lint's rules that read PL/pgSQL and settings
 *	  (migrator/lint_handlers.c, lint_session.c, lint_verify.c):
 *	  swallowed-error, the tricky spellings of session-set and set-role,
 *	  timeout-override, verify-read-only.
 *
 * tests/unit/lint_plpgsql_test.c
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

/* ---- swallowed-error ---- */

/* A DO block whose body is "BEGIN\n  <stmt>\nEXCEPTION\n  WHEN <handler>\nEND" */
static char *
do_handler(const char *handler)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf),
			 "DO $$\n"                             /* 1 */
			 "BEGIN\n"                             /* 2 */
			 "  ALTER TABLE t ADD COLUMN a int;\n" /* 3 */
			 "EXCEPTION\n"                         /* 4 */
			 "  WHEN %s\n"                         /* 5 */
			 "END $$;\n",
			 handler);
	return buf;
}

static void
test_swallowed_error(void **state)
{
	lint_result r;

	/* every spelling of a handler that can catch the lock timeout, a class 40 or a class 57 error */
	static const char *const caught[] = {
		"others THEN NULL;",
		"OTHERS THEN RAISE NOTICE 'skipped: %', SQLERRM;",
		"lock_not_available THEN NULL;",
		"SQLSTATE '55P03' THEN NULL;",
		"object_not_in_prerequisite_state THEN NULL;",
		"SQLSTATE '55000' THEN NULL;",
		"deadlock_detected THEN NULL;",
		"serialization_failure THEN NULL;",
		"transaction_rollback THEN NULL;",
		"SQLSTATE '40001' THEN NULL;",
		"SQLSTATE '40P01' THEN NULL;",
		"SQLSTATE '40000' THEN NULL;",
		"query_canceled THEN NULL;",
		"admin_shutdown THEN NULL;",
		"SQLSTATE '57014' THEN NULL;",
		"SQLSTATE '57000' THEN NULL;",
		"duplicate_column OR lock_not_available THEN NULL;",
		/* a RAISE that is not last, or not an error, does not re-raise */
		"others THEN RAISE; RAISE NOTICE 'x';",
		"others THEN RAISE WARNING 'lock timeout: %', SQLERRM;",
		"others THEN RETURN;",
		/* a closing RAISE that a RETURN may skip (EXIT and CONTINUE, which need a
		 * loop: tests/integration/test_a9_capture.py) */
		"others THEN RETURN; RAISE;",
		"lock_not_available THEN IF SQLERRM <> '' THEN RETURN; END IF; RAISE;",
	};
	/* the near misses: re-raised, or a condition that is not the run's */
	static const char *const fine[] = {
		"duplicate_column THEN NULL;",
		"duplicate_object OR duplicate_table THEN RAISE NOTICE 'exists';",
		"SQLSTATE '42701' THEN NULL;",
		"SQLSTATE '55006' THEN NULL;", /* object_in_use: class 55, not lock_not_available */
		"others THEN RAISE NOTICE 'failed: %', SQLERRM; RAISE;",
		"lock_not_available THEN RAISE;",
		"SQLSTATE '40001' THEN RAISE EXCEPTION 'retry later: %', SQLERRM;",
	};

	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
	{
		print_message("caught: %s\n", caught[i]);
		expect_only(do_handler(caught[i]), &no_opts, "swallowed-error", LINT_ERROR, 5);
	}
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
	{
		print_message("fine: %s\n", fine[i]);
		expect_clean(do_handler(fine[i]), &no_opts);
	}

	/* the message names the condition and shows the safe shapes */
	lint_src(do_handler("SQLSTATE '40001' THEN NULL;"), &no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.items[0].message, "SQLSTATE '40001'"));
	assert_non_null(strstr(r.items[0].message, "IF NOT EXISTS"));
	assert_non_null(strstr(r.items[0].message, "RAISE;"));
	lint_result_free(&r);
	lint_src(do_handler("others THEN NULL;"), &no_opts, &r);
	assert_non_null(strstr(r.items[0].message, "WHEN OTHERS catches lock_not_available"));
	lint_result_free(&r);
}

/* swallowed-error where handlers nest, are excused, EXECUTEd or stored */
static void
test_swallowed_error_nested(void **state)
{
	lint_result r;

	/* nested blocks: each handler at its own WHEN line; an empty handler too */
	lint_src("DO $$\n"                                   /* 1 */
			 "BEGIN\n"                                   /* 2 */
			 "  BEGIN\n"                                 /* 3 */
			 "    ALTER TABLE t ADD COLUMN a int;\n"     /* 4 */
			 "  EXCEPTION WHEN others THEN NULL;\n"      /* 5 */
			 "  END;\n"                                  /* 6 */
			 "  -- others: a comment is not a handler\n" /* 7 */
			 "EXCEPTION\n"                               /* 8 */
			 "  WHEN duplicate_column THEN NULL;\n"      /* 9 */
			 "  WHEN others THEN\n"                      /* 10 */
			 "    RAISE NOTICE 'x';\n"                   /* 11 */
			 "END $$;\n",
			 &no_opts, &r);
	print_findings(&r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.items[0].line, 5);
	assert_int_equal(r.items[1].line, 10);
	lint_result_free(&r);

	/* excused above the WHEN line, as any nested statement */
	expect_clean("DO $$\nBEGIN\n  ALTER TABLE t ADD COLUMN a int;\nEXCEPTION\n"
				 "  -- migrator:allow swallowed-error\n"
				 "  WHEN lock_not_available THEN NULL;\nEND $$;\n",
				 &no_opts);
	/* an EXECUTEd DO block is read too */
	expect_n(
		"DO $$ BEGIN EXECUTE 'DO $x$ BEGIN PERFORM 1; EXCEPTION WHEN others THEN NULL; END $x$'; END $$;",
		&no_opts, "swallowed-error", LINT_ERROR, 1);
	/* a function body is stored code (a retry loop there is right): not read */
	expect_clean("CREATE OR REPLACE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\n"
				 "BEGIN PERFORM 1; EXCEPTION WHEN serialization_failure THEN NULL; END $$;",
				 &no_opts);
}

/* ---- session-set and set-role: the tricky spellings ---- */

static void
test_session_set_spellings(void **state)
{
	/* NULL is false for set_config, and a computed flag cannot be known to be true */
	expect_only("SELECT set_config('search_path', 'app', NULL)", &no_opts, "session-set", LINT_ERROR, 1);
	expect_only("SELECT set_config('search_path', 'app', NULL::boolean)", &no_opts, "session-set", LINT_ERROR,
				1);
	expect_only("SELECT set_config('search_path', 'app', 'off')", &no_opts, "session-set", LINT_ERROR, 1);
	expect_only("SELECT pg_catalog.set_config('search_path', 'app', random() > 2)", &no_opts, "session-set",
				LINT_ERROR, 1);
	expect_only("SELECT set_config(setting_name => 'search_path', new_value => 'app', is_local => false)",
				&no_opts, "session-set", LINT_ERROR, 1);
	expect_clean("SELECT set_config(is_local => true, setting_name => 'search_path', new_value => 'app')",
				 &no_opts);
	/* the role, however spelt, local or not */
	expect_only("SELECT set_config('ROLE', 'x', true)", &no_opts, "set-role", LINT_ERROR, 1);
	expect_only("SELECT set_config('Session_Authorization', 'x', true)", &no_opts, "set-role", LINT_ERROR, 1);
	expect_only("SET LOCAL \"Role\" = 'x'", &no_opts, "set-role", LINT_ERROR, 1);

	/* what every later migration would inherit cannot be excused */
	expect_only("-- migrator:allow session-set\nRESET ALL", &no_opts, "session-set", LINT_ERROR, 2);
	expect_only("-- migrator:allow session-set\nSET search_path TO app", &no_opts, "session-set", LINT_ERROR,
				2);
	expect_only("-- migrator:allow session-set\nSET \"Search_Path\" TO app", &no_opts, "session-set",
				LINT_ERROR, 2);
	expect_only("-- migrator:allow session-set\nRESET search_path", &no_opts, "session-set", LINT_ERROR, 2);
	expect_only("-- migrator:allow session-set\nSELECT set_config('search_path', 'app', false)", &no_opts,
				"session-set", LINT_ERROR, 2);
	expect_only("-- migrator:allow session-set\nSELECT set_config(current_user::text, 'app', false)",
				&no_opts, "session-set", LINT_ERROR, 2);
	expect_only("-- migrator:allow set-role\nSET ROLE app_owner", &no_opts, "set-role", LINT_ERROR, 2);
	expect_only("-- migrator:allow set-role\nSELECT set_config('role', 'x', true)", &no_opts, "set-role",
				LINT_ERROR, 2);
	expect_only("DO $$\nBEGIN\n  -- migrator:allow session-set\n  EXECUTE 'RESET ALL';\nEND $$;", &no_opts,
				"session-set", LINT_ERROR, 4);
	/* near miss: another setting for the session is an error that can be excused */
	expect_clean("-- migrator:allow session-set\nSET work_mem = '64MB'", &no_opts);
	expect_clean("-- migrator:allow session-set\nSELECT set_config('work_mem', '64MB', false)", &no_opts);

	/* through EXECUTE: a constant string, and strings built at run time */
	expect_only("DO $$ BEGIN EXECUTE 'RESET ALL'; END $$;", &no_opts, "session-set", LINT_ERROR, 1);
	expect_only("DO $$ BEGIN EXECUTE 'SET search_path TO public'; END $$;", &no_opts, "session-set",
				LINT_ERROR, 1);
	expect_only("DO $$ BEGIN PERFORM set_config('search_path', 'public', false); END $$;", &no_opts,
				"session-set", LINT_ERROR, 1);
	{
		static const char *const built[] = {
			"DO $$ DECLARE s text := 'x'; BEGIN EXECUTE format('SET search_path TO %I', s); END $$;",
			"DO $$ DECLARE s text := 'x'; BEGIN EXECUTE 'SET search_path = ' || quote_ident(s); END $$;",
			"DO $$ DECLARE s text := 'x'; BEGIN EXECUTE concat('SET ', s, ' = 1'); END $$;",
			"DO $$ DECLARE s text := 'x'; BEGIN EXECUTE format('%s ALL', 'RESET'); END $$;",
			"DO $$ DECLARE s text := 'x'; BEGIN EXECUTE format('RESET %2$s', 1, s); END $$;",
		};

		for (size_t i = 0; i < sizeof(built) / sizeof(built[0]); i++)
		{
			lint_result r;

			print_message("built: %s\n", built[i]);
			lint_src(built[i], &no_opts, &r);
			if (r.n != 2)
				print_findings(&r);
			assert_int_equal(count_rule(&r, "session-set"), 1);
			assert_int_equal(count_rule(&r, "unchecked-sql"), 1);
			assert_int_equal(r.n, 2);
			lint_result_free(&r);
		}
	}
	/* near misses: SET LOCAL built at run time, and a string that is all computed */
	expect_only(
		"DO $$ DECLARE s text := 'x'; BEGIN EXECUTE format('SET LOCAL search_path TO %I', s); END $$;",
		&no_opts, "unchecked-sql", LINT_WARNING, 1);
	expect_only("DO $$ DECLARE s text := 'x'; BEGIN EXECUTE s; END $$;", &no_opts, "unchecked-sql",
				LINT_WARNING, 1);
}

/* ---- timeout-override ---- */

static void
test_timeout_override(void **state)
{
	lint_file_options bounded = {.lock_timeout_known = true,
								 .lock_timeout_ms = 5000,
								 .statement_timeout_known = true,
								 .statement_timeout_ms = 60000};
	lint_file_options lock_only = {.lock_timeout_known = true, .lock_timeout_ms = 5000};
	lint_result       r;

	/* 0 however spelt removes the bound: an error, known bound or not */
	static const char *const zero[] = {
		"SET LOCAL lock_timeout = 0",
		"SET LOCAL lock_timeout = '0'",
		"SET LOCAL lock_timeout TO '0s'",
		"SET LOCAL lock_timeout = '0 ms'",
		"SET LOCAL lock_timeout = 0.4",
		"SET LOCAL lock_timeout = '100us'",
		"SET LOCAL \"Lock_Timeout\" = 0",
		"SET LOCAL statement_timeout = '0min'",
		"SELECT set_config('lock_timeout', '0', true)",
		"SELECT set_config('statement_timeout', '0s', 'on')",
		"DO $$ BEGIN SET LOCAL lock_timeout = 0; END $$;",
		"DO $$ BEGIN EXECUTE 'SET LOCAL statement_timeout = 0'; END $$;",
		"DO $$ BEGIN PERFORM set_config('lock_timeout', '0', true); END $$;",
	};

	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
	{
		print_message("zero: %s\n", zero[i]);
		expect_only(zero[i], &no_opts, "timeout-override", LINT_ERROR, 1);
		expect_only(zero[i], &bounded, "timeout-override", LINT_ERROR, 1);
	}

	/* unknown bound: any explicit value overrides the operator's */
	expect_only("SET LOCAL lock_timeout = '1s'", &no_opts, "timeout-override", LINT_WARNING, 1);
	expect_only("SET LOCAL statement_timeout = '1s'", &lock_only, "timeout-override", LINT_WARNING, 1);
	lint_src("SET LOCAL statement_timeout = '1s'", &lock_only, &r);
	assert_non_null(strstr(r.items[0].message, "overrides the operator's bound"));
	lint_result_free(&r);

	/* known bound: raising is a warning, at or below it is fine */
	expect_only("SET LOCAL lock_timeout = '10s'", &bounded, "timeout-override", LINT_WARNING, 1);
	expect_only("SET LOCAL lock_timeout = 5001", &bounded, "timeout-override", LINT_WARNING, 1);
	expect_only("SET LOCAL lock_timeout = '1min'", &bounded, "timeout-override", LINT_WARNING, 1);
	expect_only("SELECT set_config('statement_timeout', '2h', true)", &bounded, "timeout-override",
				LINT_WARNING, 1);
	lint_src("SET LOCAL lock_timeout = '10s'", &bounded, &r);
	assert_non_null(strstr(r.items[0].message, "raises the run's --lock-timeout (5s)"));
	lint_result_free(&r);
	lint_src("SET LOCAL statement_timeout = '90min'", &bounded, &r);
	assert_non_null(strstr(r.items[0].message, "to 90min raises the run's --statement-timeout (1min)"));
	lint_result_free(&r);
	expect_clean("SET LOCAL lock_timeout = '5s'", &bounded);
	expect_clean("SET LOCAL lock_timeout = 1000", &bounded);
	expect_clean("SET LOCAL statement_timeout = '30s'", &bounded);
	expect_clean("SELECT set_config('lock_timeout', '2s', true)", &bounded);
	/* a run with no bound (0) cannot be raised */
	{
		lint_file_options none = {.lock_timeout_known = true, .lock_timeout_ms = 0};

		expect_clean("SET LOCAL lock_timeout = '1h'", &none);
	}
}

/* timeout-override: DEFAULT, unreadable values, session forms, excuses */
static void
test_timeout_override_other_forms(void **state)
{
	lint_file_options bounded = {.lock_timeout_known = true,
								 .lock_timeout_ms = 5000,
								 .statement_timeout_known = true,
								 .statement_timeout_ms = 60000};

	/* DEFAULT, and values that cannot be read, may remove the bound */
	expect_only("SET LOCAL lock_timeout TO DEFAULT", &bounded, "timeout-override", LINT_WARNING, 1);
	expect_only("SET LOCAL lock_timeout = 'nan'", &bounded, "timeout-override", LINT_WARNING, 1);
	expect_only("SET LOCAL lock_timeout = '1e300d'", &bounded, "timeout-override", LINT_WARNING, 1);
	expect_only("SET LOCAL lock_timeout = '5 weeks'", &bounded, "timeout-override", LINT_WARNING, 1);
	expect_only("DO $$ DECLARE v text := '0'; BEGIN PERFORM set_config('lock_timeout', v, true); END $$;",
				&bounded, "timeout-override", LINT_WARNING, 1);

	/* session-level forms are session-set errors, not reported twice */
	expect_only("SET lock_timeout = 0", &bounded, "session-set", LINT_ERROR, 1);
	expect_only("SELECT set_config('lock_timeout', '0', false)", &bounded, "session-set", LINT_ERROR, 1);
	/* near misses: other settings */
	expect_clean("SET LOCAL idle_in_transaction_session_timeout = 0", &bounded);
	expect_clean("SET LOCAL work_mem = 0", &bounded);
	/* excusable, and --strict makes the warning an error */
	expect_clean("-- migrator:allow timeout-override\nSET LOCAL lock_timeout = 0", &no_opts);
	{
		lint_file_options strict = bounded;

		strict.strict = true;
		expect_only("SET LOCAL lock_timeout = '10s'", &strict, "timeout-override", LINT_ERROR, 1);
	}
}

/* ---- verify-read-only ---- */

static void
lint_verify_src(const char *src, lint_result *r)
{
	sql_script      script;
	sql_parse_error err;

	memset(r, 0, sizeof(*r));
	if (!sql_parse_script(src, &script, &err))
		fail_msg("unexpected parse error at %d:%d: %s", err.line, err.column, err.message);
	lint_verify_script(src, &script, NULL, r);
	sql_script_free(&script);
}

static void
expect_verify(const char *src, const char *rule, lint_severity severity, int line, int column)
{
	lint_result r;

	print_message("verify: %s\n", src);
	lint_verify_src(src, &r);
	if (r.n != 1)
		print_findings(&r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, rule);
	assert_int_equal(r.items[0].severity, severity);
	assert_int_equal(r.items[0].line, line);
	if (column > 0)
		assert_int_equal(r.items[0].column, column);
	lint_result_free(&r);
}

static void
expect_verify_clean(const char *src)
{
	lint_result r;

	print_message("verify clean: %s\n", src);
	lint_verify_src(src, &r);
	if (r.n != 0)
		print_findings(&r);
	assert_int_equal(r.n, 0);
	lint_result_free(&r);
}

static void
test_verify_read_only(void **state)
{
	/* the incident: a data-modifying CTE */
	expect_verify("SELECT 1;\nWITH d AS (DELETE FROM t RETURNING *) SELECT count(*) = 0 FROM d;",
				  "verify-read-only", LINT_ERROR, 2, 6);
	expect_verify("WITH u AS (UPDATE t SET a = 1 RETURNING 1) SELECT true", "verify-read-only", LINT_ERROR, 1,
				  6);
	expect_verify("WITH x AS (SELECT 1), i AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT true",
				  "verify-read-only", LINT_ERROR, 1, 0);
	/* nested in a subquery (the server rejects it, lint says why anyway) */
	expect_verify(
		"SELECT (SELECT count(*) FROM (WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d) s) = 0",
		"verify-read-only", LINT_ERROR, 1, 0);
	expect_verify("SELECT * INTO copy_of_t FROM t", "verify-read-only", LINT_ERROR, 1, 0);
	expect_verify("SELECT a FROM t FOR UPDATE", "verify-read-only", LINT_ERROR, 1, 1);
	expect_verify("SELECT a FROM t WHERE a IN (SELECT a FROM u FOR KEY SHARE)", "verify-read-only",
				  LINT_ERROR, 1, 0);
	/* volatile functions: settings, locks, sequences, other sessions */
	expect_verify("SELECT\n  set_config('search_path', '', false) IS NOT NULL", "verify-read-only",
				  LINT_ERROR, 2, 3);
	expect_verify("SELECT pg_advisory_unlock_all() IS NULL", "verify-read-only", LINT_ERROR, 1, 8);
	expect_verify("SELECT count(pg_terminate_backend(pid)) >= 0 FROM pg_stat_activity", "verify-read-only",
				  LINT_ERROR, 1, 0);
	expect_verify("SELECT nextval('s') > 0", "verify-read-only", LINT_ERROR, 1, 0);
	expect_verify("SELECT true FROM pg_catalog.pg_advisory_lock(1)", "verify-read-only", LINT_ERROR, 1, 0);
	/* statements that are not SELECT */
	expect_verify("SELECT 1;\nDELETE FROM t", "verify-read-only", LINT_ERROR, 2, 1);
	expect_verify("CREATE TEMP TABLE x (a int)", "verify-read-only", LINT_ERROR, 1, 1);
	expect_verify("SET search_path TO public", "verify-read-only", LINT_ERROR, 1, 1);
	/* a function lint does not know: a warning, excusable after review */
	expect_verify("SELECT app.check_schema()", "unchecked-sql", LINT_WARNING, 1, 8);
	expect_verify_clean("-- migrator:allow unchecked-sql\nSELECT app.check_schema()");
	/* verify-read-only cannot be excused */
	expect_verify("-- migrator:allow verify-read-only\nSELECT nextval('s')", "verify-read-only", LINT_ERROR,
				  2, 0);

	/* near misses: plain SELECTs with stable and immutable functions */
	expect_verify_clean("-- Every column the application reads must exist.\n"
						"SELECT count(*) = 3\nFROM information_schema.columns\n"
						"WHERE table_schema = current_schema()\n  AND table_name = 'call_log'\n"
						"  AND column_name IN ('started_at', 'ended_at', 'duration_sec');\n");
	expect_verify_clean(
		"WITH c AS (SELECT * FROM t) SELECT coalesce(max(a), 0) >= 0, now() > '2000-01-01' FROM c");
	expect_verify_clean("SELECT to_regclass('public.t') IS NOT NULL AND has_table_privilege('t', 'SELECT')");
	expect_verify_clean("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_indexes WHERE indexname = 'i')");
	expect_verify_clean("VALUES (true)");
	/* the migration rules do not apply to a verify file */
	expect_verify_clean("SELECT 1 FROM t WHERE lower(a) = 'x'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_swallowed_error),
		cmocka_unit_test(test_swallowed_error_nested),
		cmocka_unit_test(test_session_set_spellings),
		cmocka_unit_test(test_timeout_override),
		cmocka_unit_test(test_timeout_override_other_forms),
		cmocka_unit_test(test_verify_read_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
