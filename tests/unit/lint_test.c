/*-------------------------------------------------------------------------
 *
 * lint_test.c
 *	  Unit tests for the lint (migrator/lint*.c): every statement rule fires,
 *	  and its near miss does not; allow comments, --strict, DO blocks,
 *	  positions.  The PL/pgSQL handler, session-setting, timeout and verify
 *	  rules are in lint_plpgsql_test.c.
 *
 * tests/unit/lint_test.c
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
#include "pg_volatile_functions.h"

/* ---- create-index ---- */
static void
test_create_index(void **state)
{
	lint_result r;

	lint_src("CREATE INDEX i ON t (a)", &no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, "create-index");
	assert_int_equal(r.items[0].severity, LINT_ERROR);
	assert_int_equal(r.items[0].line, 1);
	assert_int_equal(r.items[0].column, 1);
	assert_string_equal(r.items[0].message,
						"CREATE INDEX on \"t\" blocks writes to the table for the whole build; "
						"indexes belong in the indexer's config: add a definition to conf/indexes.cfg");
	lint_result_free(&r);

	/* the statement that lost its head is a syntax error, but with it: */
	expect_only("SELECT 1;\n\nCREATE INDEX idx ON business_calendars(business_id, is_active);\n", &no_opts,
				"create-index", LINT_ERROR, 3);
	expect_only("CREATE UNIQUE INDEX i ON t (a)", &no_opts, "create-index", LINT_ERROR, 1);
	expect_only("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)", &no_opts, "create-index", LINT_ERROR,
				1);
}

static void
test_create_index_on_new_table(void **state)
{
	/* near miss: the table is created earlier in the same file */
	expect_clean("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);", &no_opts);
	expect_clean("CREATE TABLE t (a int);\nCREATE UNIQUE INDEX ON t (a) WHERE a > 0;", &no_opts);
	/* unqualified names are in the search_path schema */
	expect_clean("CREATE TABLE public.t (a int);\nCREATE INDEX i ON t (a);", &no_opts);
	expect_clean("CREATE TABLE t (a int);\nCREATE INDEX i ON public.t (a);", &no_opts);
	{
		lint_file_options app = {.schema = "app"};

		expect_clean("CREATE TABLE app.t (a int);\nCREATE INDEX i ON t (a);", &app);
		expect_only("CREATE TABLE t (a int);\nCREATE INDEX i ON public.t (a);", &app, "create-index",
					LINT_ERROR, 2);
	}
	/* another schema's t is another table */
	expect_only("CREATE TABLE a.t (a int);\nCREATE INDEX i ON t (a);", &no_opts, "create-index", LINT_ERROR,
				2);
	/* created later does not count */
	expect_only("CREATE INDEX i ON t (a);\nCREATE TABLE t (a int);", &no_opts, "create-index", LINT_ERROR, 1);
	/* a renamed new table is still new */
	expect_clean("CREATE TABLE t_new (a int);\nALTER TABLE t_new RENAME TO t2;\nCREATE INDEX ON t2 (a);",
				 &no_opts);
	/* CREATE TABLE AS ... WITH NO DATA is empty too */
	expect_clean("CREATE TABLE c AS SELECT 1 AS a WITH NO DATA;\nCREATE INDEX ON c (a);", &no_opts);
}

static void
test_create_index_concurrently_on_new_table(void **state)
{
	lint_result r;

	lint_src("CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY i ON t (a);", &no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, "create-index");
	assert_int_equal(r.items[0].line, 2);
	assert_non_null(strstr(r.items[0].message, "drop CONCURRENTLY"));
	lint_result_free(&r);
}

/* ---- reindex, vacuum-full, cluster ---- */

static void
test_reindex(void **state)
{
	expect_only("REINDEX TABLE t", &no_opts, "reindex", LINT_ERROR, 1);
	expect_only("REINDEX INDEX CONCURRENTLY i", &no_opts, "reindex", LINT_ERROR, 1);
	/* near miss: index options are DDL */
	expect_clean("ALTER INDEX i SET (fillfactor = 90)", &no_opts);
}

static void
test_vacuum_full(void **state)
{
	expect_only("VACUUM FULL t", &no_opts, "vacuum-full", LINT_ERROR, 1);
	expect_only("VACUUM (FULL) t", &no_opts, "vacuum-full", LINT_ERROR, 1);
	expect_only("VACUUM (ANALYZE, FULL true) t", &no_opts, "vacuum-full", LINT_ERROR, 1);
	/* near misses: plain VACUUM, ANALYZE, FULL off */
	expect_clean("VACUUM t", &no_opts);
	expect_clean("VACUUM (FULL false) t", &no_opts);
	expect_clean("VACUUM (FULL off, ANALYZE) t", &no_opts);
	expect_clean("ANALYZE t", &no_opts);
}

static void
test_cluster(void **state)
{
	expect_only("CLUSTER t USING i", &no_opts, "cluster", LINT_ERROR, 1);
	/* near miss: only marks the index for a later CLUSTER */
	expect_clean("ALTER TABLE t CLUSTER ON i", &no_opts);
}

/* ---- dml ---- */

static void
test_dml(void **state)
{
	static const char *const fires[] = {
		"INSERT INTO t VALUES (1)",
		"UPDATE t SET a = 1",
		"DELETE FROM t",
		"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
		"COPY t FROM '/srv/data/t.csv'",
		"COPY t TO '/srv/data/t.csv'",
		"TRUNCATE t",
		"CREATE TABLE c AS SELECT * FROM t",
		"SELECT * INTO c FROM t",
		"CREATE MATERIALIZED VIEW m AS SELECT 1",
		"REFRESH MATERIALIZED VIEW m",
		"CALL backfill()",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d",
		"EXPLAIN ANALYZE UPDATE t SET a = 1",
		"PREPARE p AS DELETE FROM t WHERE id = $1",
	};

	for (size_t i = 0; i < sizeof(fires) / sizeof(fires[0]); i++)
	{
		print_message("%s\n", fires[i]);
		expect_only(fires[i], &no_opts, "dml", LINT_ERROR, 1);
		/* allow-dml suppresses every one */
		expect_clean(fires[i], &dml_opts);
	}
}

/* COPY to or from the client breaks the run itself: never excused */
static void
test_copy_stdio(void **state)
{
	expect_only("COPY t FROM STDIN", &no_opts, "copy-stdio", LINT_ERROR, 1);
	expect_only("COPY t TO STDOUT", &no_opts, "copy-stdio", LINT_ERROR, 1);
	expect_only("COPY t FROM STDIN", &dml_opts, "copy-stdio", LINT_ERROR, 1);
	expect_only("-- migrator:allow copy-stdio\nCOPY t FROM STDIN", &dml_opts, "copy-stdio", LINT_ERROR, 2);
	/* near miss: a server-side file is DML, which allow-dml excuses */
	expect_clean("COPY t FROM '/srv/data/t.csv'", &dml_opts);
}

/* COMMIT or ROLLBACK would end the migration's transaction: never excused */
static void
test_transaction_control_cannot_be_excused(void **state)
{
	expect_only("CREATE TABLE t (a int);\n-- migrator:allow transaction-control\nROLLBACK;", &no_opts,
				"transaction-control", LINT_ERROR, 3);
	/* near miss: another rule's allow comment still works */
	expect_clean("-- migrator:allow drop-column\nALTER TABLE t DROP COLUMN a;", &no_opts);
}

static void
test_dml_near_misses(void **state)
{
	/* reading, not running, and storing DML for later are not DML */
	expect_clean("SELECT count(*) FROM t", &no_opts);
	expect_clean("EXPLAIN UPDATE t SET a = 1", &no_opts);
	expect_clean("CREATE MATERIALIZED VIEW m AS SELECT 1 WITH NO DATA", &no_opts);
	expect_clean("CREATE RULE r AS ON INSERT TO v DO INSTEAD INSERT INTO t VALUES (NEW.a)", &no_opts);
	expect_clean("CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END",
				 &no_opts);
	expect_clean("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ UPDATE t SET a = 1 $$", &no_opts);
	expect_clean("CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t; END $$", &no_opts);
}

/* ---- DO blocks ---- */

static void
test_do_block_dml(void **state)
{
	const char *src =
		"ALTER TABLE t ADD COLUMN b int;\n"                                                   /* 1 */
		"DO $$\n"                                                                             /* 2 */
		"DECLARE n int := 0;\n"                                                               /* 3 */
		"BEGIN\n"                                                                             /* 4 */
		"  RAISE NOTICE 'a; b; c';\n"                                                         /* 5 */
		"  LOOP\n"                                                                            /* 6 */
		"    UPDATE t SET b = 1 WHERE id IN (SELECT id FROM t WHERE b IS NULL LIMIT 1000);\n" /* 7 */
		"    EXIT WHEN NOT FOUND;\n"                                                          /* 8 */
		"  END LOOP;\n"                                                                       /* 9 */
		"END\n"                                                                               /* 10 */
		"$$;\n";
	lint_result r;

	lint_src(src, &no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, "dml");
	assert_int_equal(r.items[0].severity, LINT_ERROR);
	/* the line inside the body, the column of UPDATE */
	assert_int_equal(r.items[0].line, 7);
	assert_int_equal(r.items[0].column, 5);
	assert_non_null(strstr(r.items[0].message, "in a DO block, UPDATE on \"t\""));
	lint_result_free(&r);

	expect_clean(src, &dml_opts);
}

static void
test_do_block_clean(void **state)
{
	/* near miss: semicolons in strings, only RAISE and control flow */
	expect_clean("DO $body$\n"
				 "DECLARE i int;\n"
				 "BEGIN\n"
				 "  FOR i IN 1..3 LOOP\n"
				 "    RAISE NOTICE 'step %; done', i;\n"
				 "  END LOOP;\n"
				 "  IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 't') THEN\n"
				 "    RAISE NOTICE $$no t; fine$$;\n"
				 "  END IF;\n"
				 "END\n"
				 "$body$;\n",
				 &no_opts);
}

static void
test_do_block_other_statements(void **state)
{
	lint_result r;
	const char *src = "DO $$\n"                                         /* 1 */
					  "BEGIN\n"                                         /* 2 */
					  "  CREATE INDEX i ON t (a);\n"                    /* 3 */
					  "  INSERT INTO t SELECT * FROM s RETURNING id;\n" /* 4 */
					  "  PERFORM pg_advisory_unlock_all();\n"           /* 5 */
					  "  COMMIT;\n"                                     /* 6 */
					  "  EXECUTE 'TRUNCATE t';\n"                       /* 7 */
					  "END $$;\n";

	lint_src(src, &no_opts, &r);
	print_findings(&r);
	assert_int_equal(r.n, 5);
	assert_string_equal(r.items[0].rule, "create-index");
	assert_int_equal(r.items[0].line, 3);
	assert_string_equal(r.items[1].rule, "dml");
	assert_int_equal(r.items[1].line, 4);
	assert_string_equal(r.items[2].rule, "advisory-unlock-all");
	assert_int_equal(r.items[2].line, 5);
	assert_string_equal(r.items[3].rule, "transaction-control");
	assert_int_equal(r.items[3].line, 6);
	/* a constant EXECUTE string is checked like a statement */
	assert_string_equal(r.items[4].rule, "dml");
	assert_int_equal(r.items[4].line, 7);
	assert_int_equal(r.n_errors, 5);
	lint_result_free(&r);
}

static void
test_do_block_expressions(void **state)
{
	lint_result r;
	const char *src = "DO $$\n"                                                      /* 1 */
					  "DECLARE n int := 0;\n"                                        /* 2 */
					  "BEGIN\n"                                                      /* 3 */
					  "  n := pg_advisory_unlock_all()::int;\n"                      /* 4 */
					  "  IF n = 0 AND pg_advisory_unlock_all() THEN NULL; END IF;\n" /* 5 */
					  "  PERFORM set_config('lock_timeout', '1s', false);\n"         /* 6 */
					  "END $$;\n";

	/* calls in assignments and conditions are seen too */
	lint_src(src, &no_opts, &r);
	print_findings(&r);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.items[0].rule, "advisory-unlock-all");
	assert_int_equal(r.items[0].line, 4);
	assert_int_equal(r.items[0].column, 3);
	assert_string_equal(r.items[1].rule, "advisory-unlock-all");
	assert_int_equal(r.items[1].line, 5);
	assert_string_equal(r.items[2].rule, "session-set");
	assert_int_equal(r.items[2].line, 6);
	lint_result_free(&r);
}

static void
test_do_block_single_quoted(void **state)
{
	/* a '...' body is not in the file verbatim: the DO's line */
	expect_only("SELECT 1;\nDO 'BEGIN\n  DELETE FROM t;\nEND';\n", &no_opts, "dml", LINT_ERROR, 2);
}

static void
test_unchecked_sql(void **state)
{
	expect_only("DO $$\nBEGIN\n  EXECUTE format('ALTER TABLE %I ADD COLUMN x int', 't');\nEND $$;", &no_opts,
				"unchecked-sql", LINT_WARNING, 3);
	expect_only("DO LANGUAGE plpython3u $$ plpy.execute('DELETE FROM t') $$;", &no_opts, "unchecked-sql",
				LINT_WARNING, 1);
	/* libpg_query's PL/pgSQL parser rejects some bodies the server takes */
	expect_only("DO $$\nDECLARE c CURSOR FOR SELECT 1;\nBEGIN\n  OPEN c;\nEND $$;", &no_opts, "unchecked-sql",
				LINT_WARNING, 1);
	/* near miss: a constant string is checked, and a harmless one is clean */
	expect_clean("DO $$\nBEGIN\n  EXECUTE 'ALTER TABLE t ADD COLUMN IF NOT EXISTS x int';\nEND $$;",
				 &no_opts);
}

/* ---- the migrator's session ---- */

static void
test_transaction_control(void **state)
{
	expect_only("BEGIN", &no_opts, "transaction-control", LINT_ERROR, 1);
	expect_only("CREATE TABLE t (a int);\nCOMMIT;", &no_opts, "transaction-control", LINT_ERROR, 2);
	expect_only("SAVEPOINT s", &no_opts, "transaction-control", LINT_ERROR, 1);
	expect_only("ROLLBACK TO SAVEPOINT s", &no_opts, "transaction-control", LINT_ERROR, 1);
	expect_only("PREPARE TRANSACTION 'x'", &no_opts, "transaction-control", LINT_ERROR, 1);
	/* near misses: settings of the current transaction */
	expect_clean("SET CONSTRAINTS ALL DEFERRED", &no_opts);
	expect_clean("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", &no_opts);
}

static void
test_session_set(void **state)
{
	lint_result r;

	expect_only("SET lock_timeout = '1s'", &no_opts, "session-set", LINT_ERROR, 1);
	expect_only("SET search_path TO app", &no_opts, "session-set", LINT_ERROR, 1);
	expect_only("RESET ALL", &no_opts, "session-set", LINT_ERROR, 1);
	expect_only("RESET statement_timeout", &no_opts, "session-set", LINT_ERROR, 1);
	expect_only("SELECT set_config('search_path', 'app', false)", &no_opts, "session-set", LINT_ERROR, 1);
	/* near misses: LOCAL lasts for the migration's transaction only (the
	 * timeouts have a rule of their own: timeout-override) */
	expect_clean("SET LOCAL work_mem = '64MB'", &no_opts);
	expect_clean("SET LOCAL search_path TO DEFAULT", &no_opts);
	expect_clean("SELECT set_config('search_path', 'app', true)", &no_opts);

	lint_src("SET lock_timeout = '1s'", &no_opts, &r);
	assert_string_equal(
		r.items[0].message,
		"SET of \"lock_timeout\" lasts for the migrator's whole session, beyond this migration; "
		"use SET LOCAL, which ends with the migration's transaction");
	lint_result_free(&r);
	/* SET LOCAL does nothing outside a transaction: name the options */
	lint_src("SET lock_timeout = '1s'", &nt_opts, &r);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.items[0].message, "--lock-timeout"));
	lint_result_free(&r);
}

static void
test_discard(void **state)
{
	expect_only("DISCARD ALL", &no_opts, "discard", LINT_ERROR, 1);
	expect_only("DISCARD TEMP", &no_opts, "discard", LINT_ERROR, 1);
	/* near miss: dropping one's own prepared statement */
	expect_clean("DEALLOCATE p", &no_opts);
}

static void
test_set_role(void **state)
{
	expect_only("SET ROLE app_owner", &no_opts, "set-role", LINT_ERROR, 1);
	expect_only("SET LOCAL ROLE app_owner", &no_opts, "set-role", LINT_ERROR, 1);
	expect_only("SET SESSION AUTHORIZATION app_owner", &no_opts, "set-role", LINT_ERROR, 1);
	expect_only("RESET ROLE", &no_opts, "set-role", LINT_ERROR, 1);
	expect_only("SELECT set_config('role', 'x', false)", &no_opts, "set-role", LINT_ERROR, 1);
	/* near misses: ownership and membership are DDL */
	expect_clean("ALTER TABLE t OWNER TO app_owner", &no_opts);
	expect_clean("GRANT app_reader TO app_user", &no_opts);
}

static void
test_advisory_unlock_all(void **state)
{
	expect_only("SELECT pg_advisory_unlock_all()", &no_opts, "advisory-unlock-all", LINT_ERROR, 1);
	expect_only("SELECT pg_catalog.pg_advisory_unlock_all()", &no_opts, "advisory-unlock-all", LINT_ERROR, 1);
	expect_only("SELECT 1 WHERE (SELECT pg_advisory_unlock_all()) IS NULL", &no_opts, "advisory-unlock-all",
				LINT_ERROR, 1);
	/* near misses: one's own lock, another schema's function, a stored body */
	expect_clean("SELECT pg_advisory_unlock(42)", &no_opts);
	expect_clean("SELECT app.pg_advisory_unlock_all()", &no_opts);
	expect_clean("CREATE VIEW v AS SELECT pg_advisory_unlock_all()", &no_opts);
	expect_clean("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'SELECT pg_advisory_unlock_all()'",
				 &no_opts);
}

/* ---- warnings ---- */

static void
test_volatile_default(void **state)
{
	lint_result r;

	expect_clean("ALTER TABLE t ADD COLUMN x int DEFAULT 0", &no_opts);
	expect_clean("ALTER TABLE t ADD COLUMN x timestamptz DEFAULT now()", &no_opts);
	expect_clean("ALTER TABLE t ADD COLUMN x timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP", &no_opts);
	expect_clean("ALTER TABLE t ADD COLUMN x jsonb DEFAULT '{}'::jsonb", &no_opts);
	expect_clean("ALTER TABLE t ADD COLUMN x text DEFAULT lower('A' || 'B')", &no_opts);
	expect_clean("ALTER TABLE t ADD COLUMN x int", &no_opts);

	expect_only("ALTER TABLE t ADD COLUMN x float8 DEFAULT random()", &no_opts, "volatile-default",
				LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN x uuid DEFAULT gen_random_uuid()", &no_opts, "volatile-default",
				LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN x timestamptz DEFAULT clock_timestamp()", &no_opts,
				"volatile-default", LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN x bigint DEFAULT nextval('s')", &no_opts, "volatile-default",
				LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN x int DEFAULT 1 + (random() * 10)::int", &no_opts,
				"volatile-default", LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN x bigserial", &no_opts, "volatile-default", LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN x int GENERATED ALWAYS AS IDENTITY", &no_opts, "volatile-default",
				LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN x int GENERATED ALWAYS AS (a * 2) STORED", &no_opts,
				"volatile-default", LINT_WARNING, 1);

	/* an unknown function counts as volatile */
	lint_src("ALTER TABLE t ADD COLUMN x int DEFAULT my_func()", &no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, "volatile-default");
	assert_int_equal(r.items[0].severity, LINT_WARNING);
	assert_non_null(strstr(r.items[0].message, "my_func(), not known to be immutable or stable"));
	lint_result_free(&r);
	expect_only("ALTER TABLE t ADD COLUMN x text DEFAULT app.lower('a')", &no_opts, "volatile-default",
				LINT_WARNING, 1);
	/* so does what the check does not understand */
	lint_src("ALTER TABLE t ADD COLUMN x int DEFAULT (SELECT 1)", &no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, "volatile-default");
	assert_non_null(strstr(r.items[0].message, "(SubLink)"));
	lint_result_free(&r);
	expect_clean(
		"ALTER TABLE t ADD COLUMN x int[] DEFAULT ARRAY[1, 2], ADD COLUMN y text DEFAULT 'a' COLLATE \"C\",\n"
		"  ADD COLUMN z int DEFAULT CASE WHEN true THEN 1 ELSE coalesce(NULL, 2) END,\n"
		"  ADD COLUMN w int DEFAULT extract(year FROM now())::int",
		&no_opts);

	/* near miss: the table is new, so empty */
	expect_clean("CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN x float8 DEFAULT random();", &no_opts);
	/* near miss: SET DEFAULT does not touch existing rows */
	expect_clean("ALTER TABLE t ALTER COLUMN x SET DEFAULT random()", &no_opts);
}

static void
test_alter_column_type(void **state)
{
	expect_only("ALTER TABLE t ALTER COLUMN a TYPE bigint", &no_opts, "alter-column-type", LINT_WARNING, 1);
	expect_only("ALTER TABLE t ALTER a SET DATA TYPE text USING a::text", &no_opts, "alter-column-type",
				LINT_WARNING, 1);
	/* near misses: a new table; a composite type's attribute */
	expect_clean("CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a TYPE bigint;", &no_opts);
	expect_clean("ALTER TYPE pair ALTER ATTRIBUTE a TYPE bigint", &no_opts);
}

static void
test_set_not_null(void **state)
{
	expect_only("ALTER TABLE t ALTER COLUMN a SET NOT NULL", &no_opts, "set-not-null", LINT_WARNING, 1);
	/*
	 * NOT VALID, then VALIDATE, then SET NOT NULL in one file: SET NOT NULL
	 * uses the check, but the VALIDATE scans under the ADD's ACCESS
	 * EXCLUSIVE lock (one transaction): that is the finding, not set-not-null
	 */
	expect_only("ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
				"ALTER TABLE t VALIDATE CONSTRAINT t_a_nn;\n"
				"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
				&no_opts, "validate-same-migration", LINT_WARNING, 2);
	/* an unnamed check gets PostgreSQL's name, which VALIDATE may use */
	expect_only("ALTER TABLE t ADD CHECK (a IS NOT NULL AND b IS NOT NULL) NOT VALID;\n"
				"ALTER TABLE t VALIDATE CONSTRAINT t_a_check;\n"
				"ALTER TABLE t ALTER COLUMN b SET NOT NULL;\n",
				&no_opts, "validate-same-migration", LINT_WARNING, 2);
	/* a check added without NOT VALID is validated (and itself warned) */
	expect_only("ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL);\n"
				"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
				&no_opts, "constraint-not-valid", LINT_WARNING, 1);
	/* not validated yet */
	expect_only("ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
				"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
				&no_opts, "set-not-null", LINT_WARNING, 2);
	/* validated (in the same file: validate-same-migration too), but for another column or table */
	{
		static const char *const other[] = {
			"ALTER TABLE t ADD CONSTRAINT c CHECK (b IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE t VALIDATE CONSTRAINT c;\n"
			"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
			"ALTER TABLE u ADD CONSTRAINT c CHECK (a IS NOT NULL) NOT VALID;\n"
			"ALTER TABLE u VALIDATE CONSTRAINT c;\n"
			"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n"};

		for (int i = 0; i < 2; i++)
		{
			lint_result r;

			lint_src(other[i], &no_opts, &r);
			assert_int_equal(r.n, 2);
			assert_string_equal(r.items[1].rule, "set-not-null");
			assert_int_equal(r.items[1].line, 3);
			lint_result_free(&r);
		}
	}
	/* near miss: a new table */
	expect_clean("CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;", &no_opts);
}

/* One carry over three files, as migrator lint and up read a directory. */
static void
lint_in_order(const char *const *srcs, int n, lint_result *last)
{
	lint_file_options opts = {0};

	opts.carry = lint_carry_new();
	for (int i = 0; i < n; i++)
	{
		lint_result r = {0};

		lint_src(srcs[i], &opts, &r);
		if (i == n - 1)
			*last = r;
		else
			lint_result_free(&r);
	}
	lint_carry_free(opts.carry);
}

/* set-not-null's own advice: the check validated in an earlier migration */
static void
test_set_not_null_after_earlier_files(void **state)
{
	const char *const files[] = {
		"ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;\n",
		"ALTER TABLE t VALIDATE CONSTRAINT t_a_nn;\n",
		"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\nALTER TABLE t ALTER COLUMN b SET NOT NULL;\n",
	};
	lint_result r = {0};

	(void) state;
	/* the VALIDATE in a later file than the ADD is the safe shape: nothing */
	lint_in_order(files, 2, &r);
	assert_int_equal(r.n, 0);
	lint_result_free(&r);
	/* column a is proven by the earlier files; b is not */
	lint_in_order(files, 3, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, "set-not-null");
	assert_int_equal(r.items[0].line, 2);
	lint_result_free(&r);
	/* added but never validated: still a scan */
	lint_in_order((const char *const[]){files[0], files[2]}, 2, &r);
	assert_int_equal(r.n, 2);
	lint_result_free(&r);
}

static void
test_validate_same_migration(void **state)
{
	lint_file_options notx = {.no_transaction = true};
	lint_result       r = {0};

	(void) state;
	expect_only("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;\n"
				"ALTER TABLE t VALIDATE CONSTRAINT fk;\n",
				&no_opts, "validate-same-migration", LINT_WARNING, 2);
	lint_src("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;\n"
			 "ALTER TABLE t VALIDATE CONSTRAINT fk;\n",
			 &no_opts, &r);
	assert_non_null(strstr(r.items[0].message, "SHARE ROW EXCLUSIVE"));
	assert_non_null(strstr(r.items[0].message, "\"p\""));
	assert_non_null(strstr(r.items[0].message, "validate in a later migration"));
	lint_result_free(&r);
	lint_src(
		"ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;\n",
		&no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_non_null(strstr(r.items[0].message, "ACCESS EXCLUSIVE"));
	lint_result_free(&r);
	/* near misses: each statement its own transaction; a new (empty) table; another constraint */
	expect_clean(
		"ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT c;\n",
		&notx);
	expect_clean("CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n"
				 "ALTER TABLE t VALIDATE CONSTRAINT c;\n",
				 &no_opts);
	expect_clean(
		"ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\nALTER TABLE t VALIDATE CONSTRAINT d;\n",
		&no_opts);
	/* excusable, like the other lock rules */
	expect_clean("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n"
				 "-- migrator:allow validate-same-migration\nALTER TABLE t VALIDATE CONSTRAINT c;\n",
				 &no_opts);
}

static void
test_constraint_not_valid(void **state)
{
	expect_only("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (p_id) REFERENCES p (id)", &no_opts,
				"constraint-not-valid", LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)", &no_opts, "constraint-not-valid",
				LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN p_id int REFERENCES p (id)", &no_opts, "constraint-not-valid",
				LINT_WARNING, 1);
	/* near misses: NOT VALID; inside CREATE TABLE; on a new table */
	expect_clean("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;\n",
				 &no_opts);
	expect_clean("ALTER TABLE t VALIDATE CONSTRAINT fk;\n", &no_opts);
	expect_clean("ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0) NOT VALID", &no_opts);
	expect_clean("CREATE TABLE t (a int CHECK (a > 0), p_id int REFERENCES p (id))", &no_opts);
	expect_clean("CREATE TABLE t (a int);\nALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0);", &no_opts);
}

static void
test_unique_without_index(void **state)
{
	expect_only("ALTER TABLE t ADD PRIMARY KEY (id)", &no_opts, "unique-without-index", LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a, b)", &no_opts, "unique-without-index",
				LINT_WARNING, 1);
	expect_only("ALTER TABLE t ADD COLUMN code text UNIQUE", &no_opts, "unique-without-index", LINT_WARNING,
				1);
	/* near misses: USING INDEX (the constraint named as the index, or not named); a new table */
	expect_clean("ALTER TABLE t ADD CONSTRAINT t_id_idx PRIMARY KEY USING INDEX t_id_idx", &no_opts);
	expect_clean("ALTER TABLE t ADD CONSTRAINT u_idx UNIQUE USING INDEX u_idx", &no_opts);
	expect_clean("ALTER TABLE t ADD UNIQUE USING INDEX u_idx", &no_opts);
	expect_clean("CREATE TABLE t (id int);\nALTER TABLE t ADD PRIMARY KEY (id);", &no_opts);
	/* another name: PostgreSQL renames the index, which the indexer then misses */
	expect_only("ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_id_idx", &no_opts,
				"constraint-index-name", LINT_ERROR, 1);
	expect_only("ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX u_idx", &no_opts, "constraint-index-name",
				LINT_ERROR, 1);
}

static void
test_drop_index(void **state)
{
	lint_result r;

	lint_src("DROP INDEX idx_old", &no_opts, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.items[0].rule, "drop-index");
	assert_int_equal(r.items[0].severity, LINT_WARNING);
	assert_non_null(strstr(r.items[0].message, "state = \"absent\""));
	lint_result_free(&r);
	/* near misses: CONCURRENTLY; an index this file created */
	expect_clean("DROP INDEX CONCURRENTLY idx_old", &no_opts);
	expect_clean("CREATE TABLE t (a int);\nCREATE INDEX i ON t (a);\nDROP INDEX i;", &no_opts);
}

static void
test_set_tablespace(void **state)
{
	expect_only("ALTER TABLE t SET TABLESPACE fast", &no_opts, "set-tablespace", LINT_WARNING, 1);
	expect_only("ALTER INDEX i SET TABLESPACE fast", &no_opts, "set-tablespace", LINT_WARNING, 1);
	expect_only("ALTER TABLE ALL IN TABLESPACE slow SET TABLESPACE fast", &no_opts, "set-tablespace",
				LINT_WARNING, 1);
	/* near miss: storage parameters */
	expect_clean("ALTER TABLE t SET (fillfactor = 70)", &no_opts);
}

static void
test_drop_column_and_table(void **state)
{
	expect_only("ALTER TABLE t DROP COLUMN a", &no_opts, "drop-column", LINT_WARNING, 1);
	expect_only("DROP TABLE t", &no_opts, "drop-table", LINT_WARNING, 1);
	expect_only("DROP TABLE IF EXISTS a, b CASCADE", &no_opts, "drop-table", LINT_WARNING, 1);
	/* near misses: other objects; objects this file created */
	expect_clean("ALTER TABLE t DROP CONSTRAINT c", &no_opts);
	expect_clean("DROP VIEW v", &no_opts);
	expect_clean("CREATE TABLE t (a int, b int);\nALTER TABLE t DROP COLUMN b;\nDROP TABLE t;", &no_opts);
}

static void
test_rename(void **state)
{
	expect_only("ALTER TABLE t RENAME TO u", &no_opts, "rename", LINT_WARNING, 1);
	expect_only("ALTER TABLE t RENAME COLUMN a TO b", &no_opts, "rename", LINT_WARNING, 1);
	expect_only("ALTER VIEW v RENAME TO w", &no_opts, "rename", LINT_WARNING, 1);
	/* near misses: constraints and indexes; a new table */
	expect_clean("ALTER TABLE t RENAME CONSTRAINT c TO d", &no_opts);
	expect_clean("ALTER INDEX i RENAME TO j", &no_opts);
	expect_clean("CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;\nALTER TABLE t RENAME TO u;",
				 &no_opts);
}

static void
test_not_idempotent(void **state)
{
	static const char *const fires[] = {
		"CREATE TABLE t (a int)",
		"CREATE SEQUENCE s",
		"CREATE SCHEMA app",
		"CREATE EXTENSION pgcrypto",
		"CREATE VIEW v AS SELECT 1",
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
		"CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
		"DROP TYPE mood",
		"DROP INDEX CONCURRENTLY i",
		"ALTER TABLE t ADD COLUMN a int",
		"ALTER TABLE t DROP CONSTRAINT c",
		"ALTER TYPE mood ADD VALUE 'meh'",
	};
	static const char *const near_misses[] = {
		"CREATE TABLE IF NOT EXISTS t (a int)",
		"CREATE SEQUENCE IF NOT EXISTS s",
		"CREATE SCHEMA IF NOT EXISTS app",
		"CREATE EXTENSION IF NOT EXISTS pgcrypto",
		"CREATE OR REPLACE VIEW v AS SELECT 1",
		"CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
		"CREATE OR REPLACE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
		"DROP TYPE IF EXISTS mood",
		"DROP INDEX CONCURRENTLY IF EXISTS i",
		"ALTER TABLE t ADD COLUMN IF NOT EXISTS a int",
		"ALTER TABLE t DROP CONSTRAINT IF EXISTS c",
		"ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh'",
		"ALTER TYPE mood RENAME VALUE 'meh' TO 'fine'",
	};

	for (size_t i = 0; i < sizeof(fires) / sizeof(fires[0]); i++)
	{
		print_message("%s\n", fires[i]);
		expect_only(fires[i], &nt_opts, "not-idempotent", LINT_WARNING, 1);
		/* only no-transaction files are run again from the top */
		expect_clean(fires[i], &no_opts);
	}
	for (size_t i = 0; i < sizeof(near_misses) / sizeof(near_misses[0]); i++)
	{
		print_message("%s\n", near_misses[i]);
		expect_clean(near_misses[i], &nt_opts);
	}
	/* a DO block is how a statement is guarded: not followed */
	expect_clean(
		"DO $$\nBEGIN\n  IF to_regclass('t') IS NULL THEN\n    CREATE TABLE t (a int);\n  END IF;\nEND $$;",
		&nt_opts);
	/* besides, not instead of, the statement's other rules */
	{
		lint_result r;

		lint_src("ALTER TABLE t DROP COLUMN a", &nt_opts, &r);
		assert_int_equal(r.n, 2);
		assert_int_equal(count_rule(&r, "drop-column"), 1);
		assert_int_equal(count_rule(&r, "not-idempotent"), 1);
		lint_result_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_index),
		cmocka_unit_test(test_create_index_on_new_table),
		cmocka_unit_test(test_create_index_concurrently_on_new_table),
		cmocka_unit_test(test_reindex),
		cmocka_unit_test(test_vacuum_full),
		cmocka_unit_test(test_cluster),
		cmocka_unit_test(test_dml),
		cmocka_unit_test(test_copy_stdio),
		cmocka_unit_test(test_transaction_control_cannot_be_excused),
		cmocka_unit_test(test_dml_near_misses),
		cmocka_unit_test(test_do_block_dml),
		cmocka_unit_test(test_do_block_clean),
		cmocka_unit_test(test_do_block_other_statements),
		cmocka_unit_test(test_do_block_expressions),
		cmocka_unit_test(test_do_block_single_quoted),
		cmocka_unit_test(test_unchecked_sql),
		cmocka_unit_test(test_transaction_control),
		cmocka_unit_test(test_session_set),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_set_role),
		cmocka_unit_test(test_advisory_unlock_all),
		cmocka_unit_test(test_volatile_default),
		cmocka_unit_test(test_alter_column_type),
		cmocka_unit_test(test_set_not_null),
		cmocka_unit_test(test_constraint_not_valid),
		cmocka_unit_test(test_set_not_null_after_earlier_files),
		cmocka_unit_test(test_validate_same_migration),
		cmocka_unit_test(test_unique_without_index),
		cmocka_unit_test(test_drop_index),
		cmocka_unit_test(test_set_tablespace),
		cmocka_unit_test(test_drop_column_and_table),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_not_idempotent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
