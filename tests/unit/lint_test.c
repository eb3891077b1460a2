/*-------------------------------------------------------------------------
 *
 * lint_test.c
 *	  Unit tests for the lint (migrator/lint*.c): every rule fires, and its near miss
 *	  does not; allow comments, --strict, DO blocks, positions.
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

#include "lint.h"
#include "pg_volatile_functions.h"

static const lint_file_options no_opts = {.schema = NULL};
static const lint_file_options dml_opts = {.allow_dml = true};
static const lint_file_options nt_opts = {.no_transaction = true};
static const lint_file_options strict_opts = {.strict = true};

/* Parse src (which must parse) and lint it with opts into *r (zeroed first). */
static void
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

static int
count_rule(const lint_result *r, const char *rule)
{
	int n = 0;

	for (int i = 0; i < r->n; i++)
		if (strcmp(r->items[i].rule, rule) == 0)
			n++;
	return n;
}

static void
print_findings(const lint_result *r)
{
	for (int i = 0; i < r->n; i++)
		print_message("  %d:%d: %s %s: %s\n", r->items[i].line, r->items[i].column,
					  r->items[i].severity == LINT_ERROR ? "error" : "warning", r->items[i].rule,
					  r->items[i].message);
}

/* The only finding of src is rule, with this severity, at this line. */
static void
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
static void
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
static void
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
	/* near miss: NOT VALID, then VALIDATE, then SET NOT NULL */
	expect_clean("ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
				 "ALTER TABLE t VALIDATE CONSTRAINT t_a_nn;\n"
				 "ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
				 &no_opts);
	/* an unnamed check gets PostgreSQL's name, which VALIDATE may use */
	expect_clean("ALTER TABLE t ADD CHECK (a IS NOT NULL AND b IS NOT NULL) NOT VALID;\n"
				 "ALTER TABLE t VALIDATE CONSTRAINT t_a_check;\n"
				 "ALTER TABLE t ALTER COLUMN b SET NOT NULL;\n",
				 &no_opts);
	/* a check added without NOT VALID is validated (and itself warned) */
	expect_only("ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL);\n"
				"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
				&no_opts, "constraint-not-valid", LINT_WARNING, 1);
	/* not validated yet */
	expect_only("ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
				"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
				&no_opts, "set-not-null", LINT_WARNING, 2);
	/* validated, but for another column or table */
	expect_only("ALTER TABLE t ADD CONSTRAINT c CHECK (b IS NOT NULL) NOT VALID;\n"
				"ALTER TABLE t VALIDATE CONSTRAINT c;\n"
				"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
				&no_opts, "set-not-null", LINT_WARNING, 3);
	expect_only("ALTER TABLE u ADD CONSTRAINT c CHECK (a IS NOT NULL) NOT VALID;\n"
				"ALTER TABLE u VALIDATE CONSTRAINT c;\n"
				"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
				&no_opts, "set-not-null", LINT_WARNING, 3);
	/* near miss: a new table */
	expect_clean("CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;", &no_opts);
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
	expect_clean("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (p_id) REFERENCES p (id) NOT VALID;\n"
				 "ALTER TABLE t VALIDATE CONSTRAINT fk;\n",
				 &no_opts);
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
		cmocka_unit_test(test_unique_without_index),
		cmocka_unit_test(test_drop_index),
		cmocka_unit_test(test_set_tablespace),
		cmocka_unit_test(test_drop_column_and_table),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_not_idempotent),
		cmocka_unit_test(test_strict),
		cmocka_unit_test(test_allow_comment),
		cmocka_unit_test(test_allow_comment_near_misses),
		cmocka_unit_test(test_unknown_rule),
		cmocka_unit_test(test_positions_bom_crlf),
		cmocka_unit_test(test_appends_and_sorts),
		cmocka_unit_test(test_message_shape),
		cmocka_unit_test(test_volatile_function_list),
		cmocka_unit_test(test_swallowed_error),
		cmocka_unit_test(test_session_set_spellings),
		cmocka_unit_test(test_timeout_override),
		cmocka_unit_test(test_verify_read_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
