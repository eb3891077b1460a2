/*-------------------------------------------------------------------------
 *
 * indexer_config_test.c
 *	  Unit tests for indexer/definitions.c and indexer/settings.c: every kind of
 *	  bad definitions file with its exact message, the shipped file, and
 *	  the precedence of settings (file < environment < command line).
 *
 * Messages go to stderr through the logger; each test captures stderr in a
 * temporary file and compares the lines exactly.
 *
 * tests/unit/indexer_config_test.c
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
#include <unistd.h>

#include <cmocka.h>

#include "definitions.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "settings.h"

#ifndef TOOLKIT_SOURCE_DIR
#error "TOOLKIT_SOURCE_DIR must point at the source tree"
#endif

/* a scratch directory for the files of one test run */
static char scratch_dir[] = "/tmp/indexer_config_test.XXXXXX";

/* ---- stderr capture ------------------------------------------------------- */

typedef struct capture
{
	int   saved_fd;
	FILE *file;
} capture;

static void
capture_begin(capture *c)
{
	fflush(stderr);
	c->file = tmpfile();
	assert_non_null(c->file);
	c->saved_fd = dup(STDERR_FILENO);
	dup2(fileno(c->file), STDERR_FILENO);
}

/* Everything written to stderr since capture_begin; caller frees. */
static char *
capture_end(capture *c)
{
	long  len;
	char *text;

	fflush(stderr);
	dup2(c->saved_fd, STDERR_FILENO);
	close(c->saved_fd);
	len = ftell(c->file);
	text = xmalloc((size_t) len + 1);
	rewind(c->file);
	assert_int_equal(fread(text, 1, (size_t) len, c->file), (size_t) len);
	text[len] = '\0';
	fclose(c->file);
	return text;
}

/* ---- helpers ----------------------------------------------------------------- */

static char *
write_file(const char *name, const char *content)
{
	char *path = xasprintf("%s/%s", scratch_dir, name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

/*
 * Load (and, when loading succeeded, resolve with schema "public") content;
 * the exit code must be expected_rc and stderr exactly expected_stderr,
 * where "@" stands for the file's path.
 */
static void
expect_config(const char *content, int expected_rc, const char *expected_stderr)
{
	char        *path = write_file("t.cfg", content);
	index_config cfg;
	capture      c;
	char        *got;
	int          rc;
	textbuf      want;

	capture_begin(&c);
	rc = config_load(path, &cfg);
	if (cfg.defs != NULL && config_resolve(&cfg, "public") != EXIT_OK)
		rc = EXIT_USAGE;
	got = capture_end(&c);

	textbuf_init(&want);
	for (const char *p = expected_stderr; *p; p++)
	{
		if (*p == '@')
			textbuf_append(&want, path);
		else
			textbuf_append_char(&want, *p);
	}
	if (strcmp(got, want.data) != 0 || rc != expected_rc)
		fail_msg("for\n%s\nexpected rc %d and stderr\n%s\ngot rc %d and stderr\n%s", content, expected_rc,
				 want.data, rc, got);
	textbuf_free(&want);
	free(got);
	config_free(&cfg);
	unlink(path);
	free(path);
}

#define GOOD_SQL "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON t (a)"

/* ---- tests ------------------------------------------------------------------- */

static void
test_shipped_file(void **state)
{
	index_config             cfg;
	indexer_settings         s;
	static const char *const expected[][2] = {
		{"idx_business_calendars_business_active", "business_calendars"},
		{"idx_business_calendars_priority", "business_calendars"},
		{"idx_calendar_routing_business_active", "calendar_routing_rules"},
		{"idx_calendar_routing_calendar", "calendar_routing_rules"},
		{"idx_appointments_calendar_id", "appointments"},
	};

	assert_int_equal(config_load(TOOLKIT_SOURCE_DIR "/conf/indexes.cfg", &cfg), EXIT_OK);
	assert_int_equal(config_resolve(&cfg, "public"), EXIT_OK);
	assert_int_equal(cfg.n_defs, 5);
	for (int i = 0; i < 5; i++)
	{
		assert_string_equal(cfg.defs[i].name, expected[i][0]);
		assert_string_equal(cfg.defs[i].table, expected[i][1]);
		assert_string_equal(cfg.defs[i].schema, "public");
		assert_int_equal(cfg.defs[i].state, INDEX_STATE_PRESENT);
		assert_non_null(cfg.defs[i].parsed);
		assert_non_null(cfg.defs[i].description);
	}
	assert_true(cfg.defs[2].critical);
	assert_false(cfg.defs[0].critical);
	assert_ptr_equal(config_find(&cfg, "idx_appointments_calendar_id"), &cfg.defs[4]);
	assert_null(config_find(&cfg, "nope"));

	settings_init(&s);
	config_apply_settings(&cfg, &s);
	assert_int_equal(s.lock_timeout_ms, 5000);
	assert_int_equal(s.retries, 3);
	assert_int_equal(s.origin[SETTING_RETRIES], ORIGIN_FILE);
	settings_free(&s);
	config_free(&cfg);
}

static void
test_good_file_with_everything(void **state)
{
	const char *text =
		"indexes = (\n"
		"  { name = \"idx_a\"; table = \"t\"; sql = \"" GOOD_SQL "\"; critical = true;\n"
		"    description = \"\"; },\n"
		"  { name = \"idx_b\"; table = \"u\"; schema = \"app\"; state = \"absent\"; },\n"
		"  { name = \"idx_a\"; table = \"t\"; schema = \"app\";\n"
		"    sql = \"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON app.t (a)\"; }\n"
		");\n"
		"settings = { schema = \"public\"; jobs = 4; lock_timeout = \"1.5s\"; statement_timeout = \"2h\";\n"
		"  retries = 0; maintenance_work_mem = \"256MB\"; max_parallel_maintenance_workers = 2;\n"
		"  lock_wait = \"1min\"; wait = \"10s\"; log_format = \"json\"; progress = false; };\n";
	char            *path = write_file("good.cfg", text);
	index_config     cfg;
	indexer_settings s;

	assert_int_equal(config_load(path, &cfg), EXIT_OK);
	assert_int_equal(config_resolve(&cfg, "public"), EXIT_OK);
	assert_int_equal(cfg.n_defs, 3);
	assert_true(cfg.defs[0].critical);
	assert_string_equal(cfg.defs[0].description, "");
	assert_int_equal(cfg.defs[0].line, 2);
	assert_int_equal(cfg.defs[0].sql_line, 2);
	assert_int_equal(cfg.defs[1].state, INDEX_STATE_ABSENT);
	assert_null(cfg.defs[1].sql);
	assert_string_equal(cfg.defs[1].schema, "app");
	assert_string_equal(cfg.defs[2].schema, "app");
	assert_int_equal(cfg.defs[2].sql_line, 6);

	settings_init(&s);
	config_apply_settings(&cfg, &s);
	assert_int_equal(s.jobs, 4);
	assert_int_equal(s.lock_timeout_ms, 1500);
	assert_int_equal(s.statement_timeout_ms, 2 * 3600 * 1000);
	assert_int_equal(s.retries, 0);
	assert_int_equal(s.maintenance_work_mem_kb, 256 * 1024);
	assert_int_equal(s.max_parallel_maintenance_workers, 2);
	assert_int_equal(s.lock_wait_ms, 60000);
	assert_int_equal(s.wait_ms, 10000);
	assert_int_equal(s.format, LOG_FORMAT_JSON);
	assert_false(s.progress);
	settings_free(&s);
	config_free(&cfg);
	unlink(path);
	free(path);
}

static void
test_unreadable_and_syntax(void **state)
{
	index_config cfg;
	capture      c;
	char        *got;

	capture_begin(&c);
	assert_int_equal(config_load("/nonexistent/indexes.cfg", &cfg), EXIT_USAGE);
	got = capture_end(&c);
	assert_string_equal(
		got,
		"indexer: error: could not read config file \"/nonexistent/indexes.cfg\": No such file or directory\n");
	free(got);
	config_free(&cfg);

	expect_config("indexes = (\n  { name = \"idx_a\";\n", EXIT_USAGE, "indexer: error: @:3: syntax error\n");
	expect_config("indexes = ( { name = \"a\"; name = \"b\"; } );\n", EXIT_USAGE,
				  "indexer: error: @:1: duplicate setting name\n");
	expect_config(
		"", EXIT_USAGE,
		"indexer: error: @: no \"indexes\" list: indexes = ( { name = ...; table = ...; sql = ...; } );\n");
}

static void
test_structure(void **state)
{
	expect_config(
		"indexes = ();\nextra = 1;\n", EXIT_USAGE,
		"indexer: error: @:2: unknown top-level setting \"extra\" (expected \"indexes\" and \"settings\")\n");
	expect_config(
		"indexes = { name = \"a\"; };\n", EXIT_USAGE,
		"indexer: error: @:1: \"indexes\" must be a list of groups in parentheses: indexes = ( { name = ...; }, { ... } ); not a group\n");
	expect_config("indexes = (\n  \"idx_a\" );\n", EXIT_USAGE,
				  "indexer: error: @:2: index #1 must be a group { name = ...; ... }, not a string\n");
	expect_config("indexes = ();\nsettings = 5;\n", EXIT_USAGE,
				  "indexer: error: @:2: \"settings\" must be a group: settings = { jobs = 2; ... };\n");
	/* an empty list is valid: nothing is defined */
	expect_config("indexes = ();\n", EXIT_OK, "");
	expect_config("indexes = [];\n", EXIT_OK, "");
}

static void
test_fields(void **state)
{
	expect_config("indexes = (\n  { table = \"t\"; sql = \"" GOOD_SQL "\"; }\n);\n", EXIT_USAGE,
				  "indexer: error: @:2: index #1: missing field \"name\"\n");
	expect_config("indexes = (\n  { name = \"idx_a\";\n    sql = \"" GOOD_SQL "\"; }\n);\n", EXIT_USAGE,
				  "indexer: error: @:2: index \"idx_a\": missing field \"table\"\n");
	expect_config("indexes = (\n  { name = \"idx_a\"; table = \"t\"; }\n);\n", EXIT_USAGE,
				  "indexer: error: @:2: index \"idx_a\": missing field \"sql\"\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\"; sql = \"" GOOD_SQL "\";\n"
		"    critcal = true; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": unknown field \"critcal\" (known fields: name, table, sql, critical, description, schema, state, window)\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\"; sql = \"" GOOD_SQL "\";\n"
		"    critical = \"yes\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"critical\" must be a boolean (true or false), not a string\n");
	expect_config("indexes = (\n  { name = 5; table = \"t\"; sql = \"" GOOD_SQL "\"; }\n);\n", EXIT_USAGE,
				  "indexer: error: @:2: index #1: field \"name\" must be a string, not an integer\n");
	expect_config("indexes = (\n  { name = \"\"; table = \"t\"; sql = \"" GOOD_SQL "\"; }\n);\n", EXIT_USAGE,
				  "indexer: error: @:2: index #1: field \"name\" is empty\n");
	expect_config("indexes = (\n  { name = \"idx_a\"; table = \"t\";\n    sql = (\"x\"); }\n);\n", EXIT_USAGE,
				  "indexer: error: @:3: index \"idx_a\": field \"sql\" must be a string, not a list\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\"; sql = \"" GOOD_SQL "\";\n"
		"    state = \"gone\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"state\" must be \"present\" or \"absent\", not \"gone\"\n");
	expect_config(
		"indexes = (\n  { name = \"idx_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\";\n"
		"    table = \"t\"; sql = \"" GOOD_SQL "\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:2: index \"idx_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": field \"name\": \"idx_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is longer than 63 bytes (PostgreSQL would cut the name short)\n");
	/* every problem of the file is reported, not just the first */
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = 1; sql = \"" GOOD_SQL "\"; },\n"
		"  { name = \"idx_b\"; table = \"t\"; sql = \"" GOOD_SQL "\"; critical = 1; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:2: index \"idx_a\": field \"table\" must be a string, not an integer\n"
		"indexer: error: @:3: index \"idx_b\": field \"critical\" must be a boolean (true or false), not an integer\n"
		"indexer: error: @:3: index \"idx_b\": field \"sql\": the statement creates index \"idx_a\", not \"idx_b\"\n");
}

static void
test_duplicates(void **state)
{
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\"; sql = \"" GOOD_SQL "\"; },\n"
		"  { name = \"idx_a\"; table = \"t\";\n    sql = \"" GOOD_SQL "\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": duplicate name \"idx_a\" in schema \"public\" (first defined at line 2)\n");
	/* the default schema counts: public.idx_a twice */
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\"; sql = \"" GOOD_SQL "\"; },\n"
		"  { name = \"idx_a\"; table = \"t\"; schema = \"public\"; state = \"absent\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": duplicate name \"idx_a\" in schema \"public\" (first defined at line 2)\n");
	/* found by sorting, reported in the file's order, each naming the first of its name */
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\"; state = \"absent\"; },\n"
		"  { name = \"idx_b\"; table = \"t\"; state = \"absent\"; },\n"
		"  { name = \"idx_a\"; table = \"t\"; state = \"absent\"; },\n"
		"  { name = \"idx_a\"; table = \"t\"; schema = \"other\"; state = \"absent\"; },\n"
		"  { name = \"idx_a\"; table = \"t\"; state = \"absent\"; },\n"
		"  { name = \"idx_b\"; table = \"t\"; state = \"absent\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:4: index \"idx_a\": duplicate name \"idx_a\" in schema \"public\" (first defined at line 2)\n"
		"indexer: error: @:6: index \"idx_a\": duplicate name \"idx_a\" in schema \"public\" (first defined at line 2)\n"
		"indexer: error: @:7: index \"idx_b\": duplicate name \"idx_b\" in schema \"public\" (first defined at line 3)\n");
}

static void
test_sql(void **state)
{
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\";\n"
		"    sql = \"CREATE INDEX IF NOT EXISTS idx_a ON t (a)\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"sql\": CREATE INDEX without CONCURRENTLY blocks writes to the table for the whole build; write CREATE INDEX CONCURRENTLY IF NOT EXISTS\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\";\n"
		"    sql = \"CREATE INDEX CONCURRENTLY idx_a ON t (a)\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"sql\": CREATE INDEX CONCURRENTLY without IF NOT EXISTS; write CREATE INDEX CONCURRENTLY IF NOT EXISTS\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"u\";\n"
		"    sql = \"" GOOD_SQL "\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"sql\": the statement creates the index on \"t\", not on table \"u\"\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\"; schema = \"app\";\n"
		"    sql = \"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON public.t (a)\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"sql\": the statement creates the index on \"public.t\", but the schema is \"app\"\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\";\n"
		"    sql = \"" GOOD_SQL "; DROP TABLE t\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"sql\": 2 statements; exactly one CREATE INDEX statement is allowed\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\";\n"
		"    sql = \"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON t (a\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"sql\": syntax error at end of input (line 1, column 54)\n");
	expect_config(
		"indexes = (\n  { name = \"idx_a\"; table = \"t\";\n"
		"    sql = \"ALTER TABLE t ADD COLUMN b int\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_a\": field \"sql\": not a CREATE INDEX statement (AlterTableStmt)\n");
	expect_config("indexes = (\n  { name = \"idx_a\"; table = \"t\";\n"
				  "    sql = \"\"; }\n);\n",
				  EXIT_USAGE, "indexer: error: @:3: index \"idx_a\": field \"sql\" is empty\n");
	/* an index to drop may carry its statement; it is checked all the same */
	expect_config(
		"indexes = (\n  { name = \"idx_b\"; table = \"t\"; state = \"absent\";\n"
		"    sql = \"" GOOD_SQL "\"; }\n);\n",
		EXIT_USAGE,
		"indexer: error: @:3: index \"idx_b\": field \"sql\": the statement creates index \"idx_a\", not \"idx_b\"\n");
}

static void
test_settings_group(void **state)
{
	expect_config(
		"indexes = ();\nsettings = {\n  dsn = \"host=db password=x\";\n};\n", EXIT_USAGE,
		"indexer: error: @:3: settings: \"dsn\" is not allowed in the file: no connection strings or passwords here; use --dsn, DATABASE_URL or libpq's PG* variables\n");
	expect_config(
		"indexes = ();\nsettings = {\n  password = \"x\";\n};\n", EXIT_USAGE,
		"indexer: error: @:3: settings: \"password\" is not allowed in the file: no connection strings or passwords here; use --dsn, DATABASE_URL or libpq's PG* variables\n");
	expect_config(
		"indexes = ();\nsettings = {\n  color = true;\n};\n", EXIT_USAGE,
		"indexer: error: @:3: settings: unknown setting \"color\" (known: schema, jobs, lock_timeout, statement_timeout, retries, maintenance_work_mem, max_parallel_maintenance_workers, lock_wait, wait, log_format, progress, window, time_zone, max_runtime, max_builds, max_index_size, allow_unknown_size, record_schema, create_schema, no_record, keep, backoff_after, retry_failed, max_replica_lag, max_replica_lag_bytes, replica_lag_wait, max_slot_wal, metrics_file, metrics_push)\n");
	expect_config("indexes = ();\nsettings = {\n  jobs = 0;\n};\n", EXIT_USAGE,
				  "indexer: error: @:3: settings: field \"jobs\": 0 is out of range (1 to 64)\n");
	expect_config("indexes = ();\nsettings = {\n  jobs = \"2\";\n};\n", EXIT_USAGE,
				  "indexer: error: @:3: settings: field \"jobs\" must be an integer, not a string\n");
	expect_config(
		"indexes = ();\nsettings = {\n  lock_timeout = \"5\";\n};\n", EXIT_USAGE,
		"indexer: error: @:3: settings: field \"lock_timeout\": invalid duration \"5\": a unit is required, for example \"5ms\", \"5s\" or \"5min\"\n");
	expect_config("indexes = ();\nsettings = {\n  lock_timeout = 5;\n};\n", EXIT_USAGE,
				  "indexer: error: @:3: settings: field \"lock_timeout\" must be a string, not an integer\n");
	expect_config(
		"indexes = ();\nsettings = {\n  progress = \"yes\";\n};\n", EXIT_USAGE,
		"indexer: error: @:3: settings: field \"progress\" must be a boolean (true or false), not a string\n");
	expect_config(
		"indexes = ();\nsettings = {\n  maintenance_work_mem = \"512kB\";\n};\n", EXIT_USAGE,
		"indexer: error: @:3: settings: field \"maintenance_work_mem\": size \"512kB\" is below the server's minimum of 1MB\n");
	expect_config(
		"indexes = ();\nsettings = {\n  log_format = \"xml\";\n};\n", EXIT_USAGE,
		"indexer: error: @:3: settings: field \"log_format\": invalid value \"xml\" (use text or json)\n");
}

static void
test_precedence(void **state)
{
	indexer_settings s;
	char             why[256];
	capture          c;
	char            *got;

	settings_init(&s);
	assert_int_equal(s.jobs, 1);
	assert_int_equal(s.lock_timeout_ms, 5000);
	assert_int_equal(s.lock_wait_ms, 0);
	assert_int_equal(s.retries, 3);
	assert_true(s.progress);
	assert_string_equal(s.schema, "public");
	assert_int_equal(s.origin[SETTING_JOBS], ORIGIN_DEFAULT);

	/* the file, then the environment, then the command line */
	assert_true(settings_apply(&s, SETTING_JOBS, "2", ORIGIN_FILE, why, sizeof(why)));
	assert_true(settings_apply(&s, SETTING_LOCK_TIMEOUT, "2s", ORIGIN_FILE, why, sizeof(why)));
	assert_true(settings_apply(&s, SETTING_SCHEMA, "file_schema", ORIGIN_FILE, why, sizeof(why)));
	setenv("INDEXER_JOBS", "3", 1);
	setenv("INDEXER_SCHEMA", "env_schema", 1);
	setenv("INDEXER_PROGRESS", "off", 1);
	assert_true(settings_apply_environment(&s));
	assert_true(settings_apply(&s, SETTING_JOBS, "4", ORIGIN_COMMAND_LINE, why, sizeof(why)));
	assert_int_equal(s.jobs, 4);
	assert_int_equal(s.origin[SETTING_JOBS], ORIGIN_COMMAND_LINE);
	assert_string_equal(s.schema, "env_schema");
	assert_int_equal(s.origin[SETTING_SCHEMA], ORIGIN_ENV);
	assert_int_equal(s.lock_timeout_ms, 2000);
	assert_int_equal(s.origin[SETTING_LOCK_TIMEOUT], ORIGIN_FILE);
	assert_false(s.progress);

	/* a bad value changes nothing and says why */
	assert_false(settings_apply(&s, SETTING_JOBS, "65", ORIGIN_COMMAND_LINE, why, sizeof(why)));
	assert_string_equal(why, "65 is out of range (1 to 64)");
	assert_int_equal(s.jobs, 4);

	setenv("INDEXER_RETRIES", "many", 1);
	capture_begin(&c);
	assert_false(settings_apply_environment(&s));
	got = capture_end(&c);
	assert_string_equal(
		got,
		"indexer: error: environment INDEXER_RETRIES: invalid number \"many\": expected a whole number\n");
	free(got);
	unsetenv("INDEXER_JOBS");
	unsetenv("INDEXER_SCHEMA");
	unsetenv("INDEXER_PROGRESS");
	unsetenv("INDEXER_RETRIES");
	settings_free(&s);
}

static int
setup(void **state)
{
	log_init("indexer", LOG_FORMAT_TEXT, 0);
	return mkdtemp(scratch_dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	return rmdir(scratch_dir);
}

/* Windows: the command line replaces the file's, and several on it are their union. */
static void
test_window_settings(void **state)
{
	indexer_settings s;
	char             why[256];

	(void) state;
	settings_init(&s);
	assert_string_equal(s.time_zone, "UTC");
	assert_int_equal(s.window.n, 0);
	assert_true(settings_apply(&s, SETTING_WINDOW, "Sat-Sun 01:00-05:00; Tue 11:00-12:00", ORIGIN_FILE, why,
							   sizeof(why)));
	assert_int_equal(s.window.n, 2);
	assert_true(settings_apply(&s, SETTING_WINDOW, "Mon 01:00-02:00", ORIGIN_COMMAND_LINE, why, sizeof(why)));
	assert_int_equal(s.window.n, 1);
	assert_true(settings_apply(&s, SETTING_WINDOW, "Wed 01:00-02:00", ORIGIN_COMMAND_LINE, why, sizeof(why)));
	assert_int_equal(s.window.n, 2);
	assert_false(settings_apply(&s, SETTING_WINDOW, "Wed", ORIGIN_COMMAND_LINE, why, sizeof(why)));
	assert_int_equal(s.window.n, 2);
	assert_false(settings_apply(&s, SETTING_TIME_ZONE, "Nowhere/Atlantis", ORIGIN_FILE, why, sizeof(why)));
	assert_true(settings_apply(&s, SETTING_TIME_ZONE, "Europe/Berlin", ORIGIN_FILE, why, sizeof(why)));
	assert_string_equal(s.time_zone, "Europe/Berlin");
	assert_true(settings_apply(&s, SETTING_MAX_RUNTIME, "30min", ORIGIN_FILE, why, sizeof(why)));
	assert_int_equal(s.max_runtime_ms, 30 * 60 * 1000);
	assert_false(settings_apply(&s, SETTING_MAX_BUILDS, "0", ORIGIN_FILE, why, sizeof(why)));
	assert_true(settings_apply(&s, SETTING_MAX_INDEX_SIZE, "10GB", ORIGIN_FILE, why, sizeof(why)));
	assert_int_equal(s.max_index_size_kb, (int64_t) 10 * 1024 * 1024);
	settings_free(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_file),
		cmocka_unit_test(test_good_file_with_everything),
		cmocka_unit_test(test_unreadable_and_syntax),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_sql),
		cmocka_unit_test(test_settings_group),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_window_settings),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
