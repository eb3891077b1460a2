/*-------------------------------------------------------------------------
 *
 * cli_test.c
 *	  Unit tests for common/cli.c: the command-line parser both programs
 *	  share, driven by a program's tables.
 *
 * A small program of two commands and a few options of every kind stands
 * in for the migrator and the indexer.
 *
 * tests/unit/cli_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "exitcodes.h"

typedef struct test_options
{
	const char *dir;
	const char *name;
	bool        force;
	int64_t     count;
	int64_t     delay_ms;
	int64_t     number; /* "run --version N" */
	int         customs;
	const char *last_custom;
} test_options;

enum
{
	OPT_DIR,
	OPT_NAME,
	OPT_FORCE,
	OPT_COUNT,
	OPT_DELAY,
	OPT_NUMBER,
	OPT_CUSTOM
};

static int
run_nothing(struct cli_run *rs)
{
	(void) rs;
	return EXIT_OK;
}

static const cli_command commands[] = {
	{"run", run_nothing, CLI_CMD_WRITES, CLI_BIT(OPT_FORCE) | CLI_BIT(OPT_NUMBER), "the default"},
	{"make", run_nothing, CLI_CMD_ARG, CLI_BIT(OPT_DIR), "make NAME"},
};

static const cli_option options[] = {
	{"dir", 'd', CLI_STRING, offsetof(test_options, dir), 0, 0, OPT_DIR, NULL, NULL},
	{"name", 0, CLI_NAME, offsetof(test_options, name), 0, 0, OPT_NAME, NULL, NULL},
	{"force", 0, CLI_FLAG, offsetof(test_options, force), 0, 0, OPT_FORCE, NULL,
	 "option --force is for run, not %s"},
	{"count", 'n', CLI_INT, offsetof(test_options, count), 1, 10, OPT_COUNT, NULL, NULL},
	{"delay", 0, CLI_DURATION, offsetof(test_options, delay_ms), 0, 0, OPT_DELAY, NULL, NULL},
	{"version", 0, CLI_INT, offsetof(test_options, number), 1, 99, OPT_NUMBER, "run", NULL},
	{"custom", 0, CLI_CUSTOM, 0, 0, 0, OPT_CUSTOM, NULL, NULL},
};

static void
usage(FILE *out)
{
	fputs("usage\n", out);
}

static bool
custom(void *opts_arg, const cli_option *o, const char *value)
{
	test_options *opts = opts_arg;

	(void) o;
	opts->customs++;
	opts->last_custom = value;
	return strcmp(value, "bad") != 0;
}

static int           common_calls;
static cli_common_id last_common;

static bool
on_common(void *opts, cli_common_id id, const char *value)
{
	(void) opts;
	(void) value;
	common_calls++;
	last_common = id;
	return true;
}

static const cli_program program = {
	.progname = "tester",
	.commands = commands,
	.n_commands = 2,
	.options = options,
	.n_options = (int) (sizeof(options) / sizeof(options[0])),
	.usage = usage,
	.custom = custom,
	.on_common = on_common,
};

/* Parse a NULL-terminated list of words after the program name. */
static int
parse(test_options *o, cli_common *c, const char *const *words)
{
	char       *argv[32];
	int         argc = 0;
	static char storage[32][128];

	memset(o, 0, sizeof(*o));
	memset(c, 0, sizeof(*c));
	c->retries = 3; /* a program's default, kept when not given */
	common_calls = 0;
	argv[argc++] = (char *) "tester";
	for (int i = 0; words[i]; i++, argc++)
	{
		/* writable copies: --dsn masks its password in place */
		snprintf(storage[argc], sizeof(storage[argc]), "%s", words[i]);
		argv[argc] = storage[argc];
	}
	argv[argc] = NULL;
	return cli_parse(&program, argc, argv, o, c);
}

#define PARSE(o, c, ...) parse(o, c, (const char *const[]){__VA_ARGS__, NULL})

static void
test_defaults_and_default_command(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(PARSE(&o, &c, "-q"), EXIT_OK);
	assert_string_equal(c.command->name, "run");
	assert_true(c.command->flags & CLI_CMD_WRITES);
	assert_int_equal(c.verbosity, -1);
	assert_int_equal(c.retries, 3);
	assert_null(c.given[CLI_RETRIES]);
	assert_null(c.dsn);
	assert_int_equal(common_calls, 0);
}

static void
test_program_kinds(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(
		PARSE(&o, &c, "-d", "x", "--name=n", "--force", "-n", "7", "--delay", "1.5s", "--custom", "v", "run"),
		EXIT_OK);
	assert_string_equal(o.dir, "x");
	assert_string_equal(o.name, "n");
	assert_true(o.force);
	assert_int_equal(o.count, 7);
	assert_int_equal(o.delay_ms, 1500);
	assert_int_equal(o.customs, 1);
	assert_string_equal(o.last_custom, "v");
}

static void
test_bad_values(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(PARSE(&o, &c, "--name", ""), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--count", "11"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--count", "x"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--delay", "5"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--custom", "bad"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--bogus"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "-x"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--dir"), EXIT_USAGE); /* missing value */
}

static void
test_common_options(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(PARSE(&o, &c, "--schema", "s", "--wait=2s", "--lock-timeout", "100ms",
						   "--statement-timeout", "1min", "--retries", "0", "--lock-wait", "0",
						   "--log-format", "json", "-v", "--dsn", "host=h password=secret"),
					 EXIT_OK);
	assert_string_equal(c.schema, "s");
	assert_int_equal(c.wait_ms, 2000);
	assert_int_equal(c.lock_timeout_ms, 100);
	assert_int_equal(c.statement_timeout_ms, 60000);
	assert_int_equal(c.retries, 0);
	assert_non_null(c.given[CLI_LOCK_WAIT]);
	assert_int_equal(c.lock_wait_ms, 0);
	assert_int_equal(c.format, LOG_FORMAT_JSON);
	assert_int_equal(c.verbosity, 1);
	assert_non_null(c.dsn);
	assert_non_null(strstr(c.dsn, "secret")); /* the program's copy keeps it */
	/* every common option with a value was handed to on_common, in order */
	assert_int_equal(common_calls, 8);
	assert_int_equal(last_common, CLI_DSN);

	assert_int_equal(PARSE(&o, &c, "--schema", ""), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--retries", "101"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--log-format", "xml"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--wait", "soon"), EXIT_USAGE);
}

static void
test_help_and_version(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(PARSE(&o, &c, "-V"), CLI_DONE);
	assert_int_equal(PARSE(&o, &c, "--version"), CLI_DONE);
	assert_int_equal(PARSE(&o, &c, "--help"), CLI_DONE);
	assert_int_equal(PARSE(&o, &c, "make", "-h"), CLI_DONE);
	assert_non_null(cli_version());
	assert_true(strlen(cli_version()) > 0);
}

/* A row with only_with replaces the common --version when its word is there; -V stays ours. */
static void
test_only_with_override(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(PARSE(&o, &c, "run", "--version", "42"), EXIT_OK);
	assert_int_equal(o.number, 42);
	assert_int_equal(PARSE(&o, &c, "run", "--version", "100"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "run", "-V"), CLI_DONE);
	/* elsewhere --version takes no value: "make --version 42" is not "print ours, exit 0" */
	assert_int_equal(PARSE(&o, &c, "make", "--version", "42", "x"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "make", "x", "--version=42"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--version", "make"), CLI_DONE);
	assert_int_equal(PARSE(&o, &c, "--version", "--help"), CLI_DONE);
}

/* git's weighting: a swap is free, an insertion cheap, a deletion dear; 7 and above is no suggestion. */
static void
test_similarity(void **state)
{
	(void) state;
	assert_int_equal(cli_similarity("status", "status"), 1);
	assert_int_equal(cli_similarity("stauts", "status"), 1);
	assert_int_equal(cli_similarity("stat", "status"), 3);
	assert_int_equal(cli_similarity("colour", "color"), 4);
	assert_true(cli_similarity("frobnicate", "run") >= 7);
	assert_true(cli_similarity("foo", "make") >= 7);
	assert_int_equal(cli_similarity("", "up"), 3);
}

static void
test_color(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(PARSE(&o, &c, "--color=never"), EXIT_OK);
	assert_int_equal(PARSE(&o, &c, "--color", "always", "run"), EXIT_OK);
	assert_int_equal(PARSE(&o, &c, "--color=sometimes"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "--colour=never"), EXIT_USAGE);
	log_set_color(LOG_COLOR_NEVER);
	assert_string_equal(log_paint(stderr, LOG_TONE_ERROR), "");
	log_set_color(LOG_COLOR_ALWAYS);
	assert_string_equal(log_paint(stderr, LOG_TONE_ERROR), "\033[1;31m");
	assert_string_equal(log_paint_end(stdout), "\033[0m");
	log_set_color(LOG_COLOR_AUTO);
}

static void
test_commands_and_arguments(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(PARSE(&o, &c, "make", "thing"), EXIT_OK);
	assert_string_equal(c.command->name, "make");
	assert_string_equal(c.arg, "thing");
	assert_int_equal(PARSE(&o, &c, "make"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "make", "a", "b"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "run", "extra"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "frobnicate"), EXIT_USAGE);
	assert_ptr_equal(cli_find_command(&program, "make"), &commands[1]);
	assert_null(cli_find_command(&program, "nope"));
}

/* An option with a refusal is refused by commands it does not apply to; others are ignored there. */
static void
test_refusals(void **state)
{
	test_options o;
	cli_common   c;

	(void) state;
	assert_int_equal(PARSE(&o, &c, "make", "x", "--force"), EXIT_USAGE);
	assert_int_equal(PARSE(&o, &c, "run", "--force"), EXIT_OK);
	assert_int_equal(PARSE(&o, &c, "make", "x", "--count", "2"), EXIT_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_default_command),
		cmocka_unit_test(test_program_kinds),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_common_options),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_only_with_override),
		cmocka_unit_test(test_commands_and_arguments),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_similarity),
		cmocka_unit_test(test_color),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
