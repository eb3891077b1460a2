/*-------------------------------------------------------------------------
 *
 * main.c
 *	  migrator: apply numbered DDL migrations, fail-hard.
 *
 * The command line is data: one table of commands (name, handler, the
 * options that apply, what the dispatcher sets up, help line) and one of
 * the migrator's own options; common/cli.c parses them together with the
 * options both programs share.  The dispatcher opens what the command's
 * flags ask for (a connection, the run lock, the history), then calls it.
 * Only main() exits; every command returns a code of the toolkit's
 * exit-code table.  The commands themselves are in cmd_*.c (migrator.h).
 *
 * migrator/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "advlock.h"
#include "cancel.h"
#include "cli.h"
#include "conn.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "metrics.h"
#include "migrator.h"
#include "options.h"
#include "query.h"
#include "relation_trust.h"
#include "retry.h"
#include "run_lock.h"
#include "sqlparse.h"
#include "startup.h"

/* The migrator's own options; each one's CLI_BIT in a command's options says it applies. */
enum migrator_option
{
	OPT_DIR,
	OPT_HISTORY_TABLE,
	OPT_OUT_OF_ORDER,
	OPT_FORGET_MISSING,
	OPT_FORGET_AHEAD,
	OPT_TARGET,
	OPT_ROLE,
	OPT_PREFLIGHT,
	OPT_WAIT_CURRENT,
	OPT_FROM,
	OPT_BASELINE_VERSION,
	OPT_BASELINE_VERSION_OLD,
	OPT_TIMESTAMP,
	OPT_STRICT,
	OPT_INDEX_CONFIG,
	OPT_SKIP_VERIFY,
	OPT_NO_VERIFY,
	OPT_CREATE_SCHEMA,
	OPT_NEW_VERIFY
};

#define O(id) CLI_BIT(OPT_##id)
/* every command that connects reads the history of --history-table as --role */
#define CONNECTED (O(DIR) | O(HISTORY_TABLE) | O(ROLE))

/* What the dispatcher sets up before calling (cli_command.flags). */
#define CMD_CONNECT     CLI_CMD_PROGRAM        /* a connection and the history */
#define CMD_LOCK        (CLI_CMD_PROGRAM << 1) /* the run lock, before reading the history */
#define CMD_OWN_HISTORY (CLI_CMD_PROGRAM << 2) /* reads the history itself (baseline) */
#define CMD_OWN_FILES                                                                                        \
	(CLI_CMD_PROGRAM << 3) /* reads its files itself: lint its arguments, new its directory */

/* --create-schema in a command's options: it may create --schema (plan says it would). */
static const cli_command commands[] = {
	{"up", cmd_up, CMD_CONNECT | CMD_LOCK | CLI_CMD_WRITES,
	 CONNECTED | O(OUT_OF_ORDER) | O(TARGET) | O(PREFLIGHT) | O(STRICT) | O(INDEX_CONFIG) | O(CREATE_SCHEMA),
	 "apply every pending migration, in order, fail-hard (default)"},
	{"status", cmd_status, CMD_CONNECT, CONNECTED,
	 "list every version: applied, pending, failed, changed, missing, ahead"},
	{"check", cmd_check, CMD_CONNECT, CONNECTED | O(WAIT_CURRENT),
	 "start-up gate: exit 0 if current, 5 if behind, 6 on a mismatch"},
	{"plan", cmd_plan, CMD_CONNECT,
	 CONNECTED | O(OUT_OF_ORDER) | O(TARGET) | O(STRICT) | O(INDEX_CONFIG) | O(CREATE_SCHEMA),
	 "show what up would run; touches and creates nothing"},
	{"repair", cmd_repair, CMD_CONNECT | CMD_LOCK | CLI_CMD_WRITES,
	 CONNECTED | O(FORGET_MISSING) | O(FORGET_AHEAD),
	 "record the current checksums of deliberately changed files"},
	{"baseline", cmd_baseline, CMD_CONNECT | CMD_LOCK | CMD_OWN_HISTORY | CLI_CMD_WRITES,
	 CONNECTED | O(FROM) | O(BASELINE_VERSION) | O(SKIP_VERIFY) | O(NO_VERIFY) | O(CREATE_SCHEMA),
	 "adopt a database: record files as applied without running them"},
	{"new", cmd_new, CLI_CMD_ARG | CMD_OWN_FILES, O(DIR) | O(TIMESTAMP) | O(NEW_VERIFY),
	 "write the next migration file (--verify: and its verify file): new NAME"},
	{"lint", cmd_lint, CLI_CMD_ARGS | CMD_OWN_FILES, O(DIR) | O(STRICT) | O(INDEX_CONFIG),
	 "check files with PostgreSQL's parser and the DDL-only rules, offline: lint [FILE|DIR]..."},
};

#define OFF(field) offsetof(migrator_options, field)
#define VERIFY_REFUSAL                                                                                       \
	"options --skip-verify and --no-verify belong to baseline (up always runs verify files)"

static const cli_option options[] = {
	{"dir", 'd', CLI_STRING, OFF(dir), 0, 0, OPT_DIR, NULL, NULL},
	{"history-table", 0, CLI_NAME, OFF(history_table), 0, 0, OPT_HISTORY_TABLE, NULL, NULL},
	{"out-of-order", 0, CLI_FLAG, OFF(out_of_order), 0, 0, OPT_OUT_OF_ORDER, NULL, NULL},
	{"forget-missing", 0, CLI_FLAG, OFF(forget_missing), 0, 0, OPT_FORGET_MISSING, NULL, NULL},
	{"forget-ahead", 0, CLI_FLAG, OFF(forget_ahead), 0, 0, OPT_FORGET_AHEAD, NULL, NULL},
	{"target", 0, CLI_INT, OFF(target), 1, INT64_MAX, OPT_TARGET, NULL, NULL},
	{"role", 0, CLI_NAME, OFF(role), 0, 0, OPT_ROLE, NULL, NULL},
	{"preflight", 0, CLI_CUSTOM, 0, 0, 0, OPT_PREFLIGHT, NULL, NULL},
	{"wait-current", 0, CLI_DURATION, OFF(wait_current_ms), 0, 0, OPT_WAIT_CURRENT, NULL, NULL},
	{"from", 0, CLI_CUSTOM, 0, 0, 0, OPT_FROM, NULL, NULL},
	{"baseline-version", 0, CLI_INT, OFF(baseline_version), 1, INT64_MAX, OPT_BASELINE_VERSION, NULL,
	 "option --baseline-version belongs to baseline (%s: use --target to stop at a version)"},
	/*
	 * The old spelling, "baseline --version N", still works there, with a
	 * deprecation note; everywhere else --version prints ours.
	 */
	{"version", 0, CLI_CUSTOM, 0, 0, 0, OPT_BASELINE_VERSION_OLD, "baseline", NULL},
	{"timestamp", 0, CLI_FLAG, OFF(timestamp), 0, 0, OPT_TIMESTAMP, NULL, NULL},
	{"strict", 0, CLI_FLAG, OFF(strict), 0, 0, OPT_STRICT, NULL, NULL},
	{"verify", 0, CLI_FLAG, OFF(new_verify), 0, 0, OPT_NEW_VERIFY, NULL,
	 "option --verify belongs to new (%s runs every verify file there is)"},
	{"index-config", 0, CLI_STRING, OFF(index_config), 0, 0, OPT_INDEX_CONFIG, NULL, NULL},
	/*
	 * Refused by the commands they do not apply to: a --no-verify given to
	 * up, or a --create-schema given to check, would be silently ignored
	 * otherwise.
	 */
	{"skip-verify", 0, CLI_CUSTOM, 0, 0, 0, OPT_SKIP_VERIFY, NULL, VERIFY_REFUSAL},
	{"no-verify", 0, CLI_FLAG, OFF(no_verify), 0, 0, OPT_NO_VERIFY, NULL, VERIFY_REFUSAL},
	{"create-schema", 0, CLI_FLAG, OFF(create_schema), 0, 0, OPT_CREATE_SCHEMA, NULL,
	 "option --create-schema belongs to up and baseline (and plan); %s creates nothing"},
};

static const cli_program program;

static const char options_help[] =
	"\n"
	"Options:\n"
	"  -d, --dir=DIR              migrations directory (default $MIGRATIONS_DIR, else \"migrations\")\n"
	"      --dsn=DSN              connection string or URI (default $DATABASE_URL, else libpq's PG* variables)\n"
	"      --schema=NAME          schema for search_path and the history table (default \"public\");\n"
	"                             it must exist (exit 2 naming it otherwise)\n"
	"      --create-schema        up, baseline: create --schema if it does not exist\n"
	"      --history-table=NAME   history table (default \"schema_migrations\")\n"
	"      --lock-timeout=DUR     bound on every lock wait of a migration (default 5s; 0 = none)\n"
	"      --statement-timeout=DUR  bound on every statement (default: the session's own\n"
	"                             statement_timeout, from the DSN, role or database; 0 = none)\n"
	"      --retries=N            retries after a lock timeout or deadlock (default 3 = up to 4 attempts;\n"
	"                             backoff 1s doubling, capped at 30s, with jitter)\n"
	"      --lock-wait=DUR        how long to wait for another migrator run (default 5min), then exit 4\n"
	"      --wait=DUR             keep retrying the first connection while the server is down or drops it (default 0)\n"
	"      --out-of-order         allow pending versions lower than the highest applied one\n"
	"      --target=VERSION       up, plan: stop after this version\n"
	"      --preflight=MODE       up: before applying, name sessions holding locks on the tables the\n"
	"                             pending migrations touch whose transactions are older than\n"
	"                             --lock-timeout, and concurrent index builds on them:\n"
	"                             warn (default), fail (exit 1, nothing applied) or off\n"
	"      --role=ROLE            SET ROLE on every connection of the run (index builds too):\n"
	"                             objects, the history table too, are owned by ROLE\n"
	"      --wait-current=DUR     check: poll until the schema is current, else exit 5 (also waits\n"
	"                             that long for the server)\n"
	"      --forget-missing       repair: also drop history rows whose file is gone (not those\n"
	"                             newer than every file: a newer release may have applied them)\n"
	"      --forget-ahead         repair: also drop the rows newer than every file (only when no\n"
	"                             newer release applied them)\n"
	"      --baseline-version=N   baseline: record every file up to version N (a file's version)\n"
	"                             as applied, after their verify files hold (read-only); the old\n"
	"                             spelling \"baseline --version N\" still works, with a note\n"
	"      --from=TOOL            baseline: import applied versions from dbmate, golang-migrate\n"
	"                             or flyway (their table is renamed if it has our table's name)\n"
	"      --skip-verify=VERSION  baseline: do not run that migration's verify file (repeatable;\n"
	"                             recorded in the history's baseline column)\n"
	"      --no-verify            baseline: run no verify file (a warning; recorded likewise)\n"
	"      --timestamp            new: use a UTC timestamp (YYYYMMDDHHMMSS) as the version\n"
	"      --verify               new: also write <version>_<name>.verify.sql with an example check\n"
	"      --strict               lint, up, plan: lint warnings are errors\n"
	"      --index-config=FILE    the indexer's definitions, for -- migrator:requires-index NAME\n"
	"                             (default $INDEXER_CONFIG, else conf/indexes.cfg)\n"
	"      --metrics-file=PATH    up, check: write the run's state (pending, failed, current version,\n"
	"                             last run and last success) as Prometheus text for node_exporter's\n"
	"                             textfile collector, replaced atomically (default $MIGRATOR_METRICS_FILE);\n"
	"                             a path that cannot be written is exit 2 before anything runs\n"
	"      --metrics-push=URL     up, check: push the same text to a Pushgateway, e.g.\n"
	"                             http://host:9091/metrics/job/migrator (loads libcurl; default\n"
	"                             $MIGRATOR_METRICS_PUSH). Metrics not delivered: an error, and exit 1\n"
	"                             if the run had succeeded (a failed run keeps its own code)\n"
	"      --log-format=FORMAT    text (default) or json: one JSON object a line on stderr;\n"
	"                             github: lint prints GitHub Actions annotations (::error file=...)\n"
	"      --color=WHEN           colour errors, warnings and states: auto (default: on a terminal,\n"
	"                             unless NO_COLOR is set), always or never; JSON is never coloured\n"
	"  -q, --quiet                only warnings and errors\n"
	"  -v, --verbose              also debug messages (each statement as it runs)\n"
	"  -V, --version              print the version and exit (it takes no value: --target stops\n"
	"                             up at a version)\n"
	"  -h, --help                 show this help and exit\n"
	"\n" CONN_HELP "\n"
	"Durations take a unit: 500ms, 5s, 2min, 1h; 0 means none.\n"
	"\n"
	"Files: <version>_<name>.sql (version a positive integer; 0109 and 109 are the same),\n"
	"optional <version>_<name>.verify.sql with SELECTs that must all return true.\n"
	"Directives (leading comment block): -- migrator:no-transaction, -- migrator:allow-dml,\n"
	"-- migrator:requires-index NAME; right above one statement: -- migrator:allow RULE\n"
	"\n"
	"up and plan lint the pending files first (see \"migrator lint\"): an error applies nothing.\n"
	"lint FILE... checks only those files (globs too), each against its own directory;\n"
	"no argument checks every file of --dir.\n"
	"Forward only: there are no down migrations; fix forward with a new version.\n"
	"\n"
	"A granted lock is held until the migration commits: --lock-timeout bounds the wait\n"
	"for a lock, not how long a table rewrite blocks traffic. Keep migrations short.\n"
	"The run lock is a session advisory lock: connect directly, not through a pooler in\n"
	"transaction mode.\n"
	"\n" EXIT_CODES_HELP;

static void
usage(FILE *out)
{
	fprintf(out,
			"%s applies numbered, DDL-only PostgreSQL migrations, fail-hard.\n"
			"\n"
			"Usage: %s [COMMAND] [OPTION]...\n"
			"\n"
			"Commands:\n",
			PROGNAME, PROGNAME);
	cli_print_commands(&program, out);
	fputs(options_help, out);
}

/* The options whose values are words of their own. */
static bool
read_custom(void *opts_arg, const cli_option *o, const char *value)
{
	migrator_options *opts = opts_arg;
	int64_t           n;
	char              why[256];

	switch (o->id)
	{
		case OPT_PREFLIGHT:
			if (preflight_parse_mode(value, &opts->preflight))
				return true;
			log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
					  "option --preflight: invalid value \"%s\" (use warn, fail or off)", value);
			return false;
		case OPT_FROM:
			if (baseline_parse_source(value, &opts->baseline_from))
				return true;
			log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
					  "option --from: invalid value \"%s\" (use dbmate, golang-migrate or flyway)", value);
			return false;
		case OPT_BASELINE_VERSION_OLD:
			if (!parse_int_range(value, 1, INT64_MAX, &opts->baseline_version, why, sizeof(why)))
			{
				log_event(LOG_LEVEL_ERROR, "invalid_option", NULL, "option --baseline-version: %s", why);
				return false;
			}
			log_event(LOG_LEVEL_WARNING, "deprecated_option", NULL,
					  "\"baseline --version %s\" is deprecated: use \"baseline --baseline-version %s\"",
					  value, value);
			return true;
		case OPT_SKIP_VERIFY:
			if (!parse_int_range(value, 1, INT64_MAX, &n, why, sizeof(why)))
			{
				log_event(LOG_LEVEL_ERROR, "invalid_option", NULL, "option --skip-verify: %s", why);
				return false;
			}
			ARRAY_GROW(opts->skip_verify, opts->n_skip_verify + 1, opts->cap_skip_verify);
			opts->skip_verify[opts->n_skip_verify++] = n;
			return true;
	}
	return false;
}

/* the options with a fixed set of values, for --list-options (the completion) */
static const cli_value_set value_sets[] = {
	{"preflight", "warn|fail|off"},
	{"from", "dbmate|golang-migrate|flyway"},
	{NULL, NULL},
};

static const cli_program program = {
	.progname = PROGNAME,
	.commands = commands,
	.n_commands = (int) (sizeof(commands) / sizeof(commands[0])),
	.options = options,
	.n_options = (int) (sizeof(options) / sizeof(options[0])),
	.usage = usage,
	.custom = read_custom,
	.value_sets = value_sets,
};

static void
set_defaults(migrator_options *opts, cli_common *c)
{
	const char *env_dir = getenv("MIGRATIONS_DIR");
	const char *env_config = getenv("INDEXER_CONFIG");

	opts->dir = env_dir && env_dir[0] ? env_dir : "migrations";
	opts->conn.progname = PROGNAME;
	opts->history_table = "schema_migrations";
	opts->preflight = PREFLIGHT_WARN;
	opts->index_config = env_config && env_config[0] ? env_config : "conf/indexes.cfg";
	opts->baseline_from = BASELINE_VERSION;
	c->schema = "public";
	c->lock_wait_ms = 5 * 60 * 1000;
	c->lock_timeout_ms = 5000;
	c->statement_timeout_ms = -1; /* the session's own */
	c->retries = 3;
	c->format = LOG_FORMAT_TEXT;
	c->metrics_file = getenv("MIGRATOR_METRICS_FILE");
	c->metrics_push = getenv("MIGRATOR_METRICS_PUSH");
}

/*
 * MIGRATOR_METRICS_PUSH is checked as --metrics-push is, before anything
 * runs: a typo must not fail a run after it applied (nor show a password).
 */
static int
check_env_push(const char *url)
{
	char why[512];

	if (url == NULL || url[0] == '\0' || metrics_push_url_check(url, why, sizeof(why)))
		return EXIT_OK;
	log_event(LOG_LEVEL_ERROR, "invalid_environment", NULL, "environment MIGRATOR_METRICS_PUSH: %s", why);
	return EXIT_USAGE;
}

/* Parse argv into opts and *cmd; returns EXIT_OK, EXIT_USAGE, or CLI_DONE (help/version). */
static int
parse_args(int argc, char **argv, migrator_options *opts, const cli_command **cmd)
{
	cli_common c = {0};
	int        rc;

	set_defaults(opts, &c);
	rc = cli_parse(&program, argc, argv, opts, &c);
	if (rc != EXIT_OK)
		return rc;
	log_init(PROGNAME, c.format, c.verbosity);
	*cmd = c.command;
	opts->arg = c.arg;
	opts->args = c.args;
	opts->n_args = c.n_args;
	opts->conn.dsn = c.dsn;
	opts->conn.schema = c.schema;
	opts->conn.wait_ms = c.wait_ms;
	opts->lock_wait_ms = c.lock_wait_ms;
	opts->apply.lock_timeout_ms = c.lock_timeout_ms;
	opts->apply.statement_timeout_ms = c.statement_timeout_ms;
	opts->apply.retries = (int) c.retries;
	opts->metrics_file = c.metrics_file;
	opts->metrics_push = c.metrics_push;
	/* the environment's values apply where they can; a command line's must not be ignored */
	if ((c.given[CLI_METRICS_FILE] || c.given[CLI_METRICS_PUSH]) && c.command->run != cmd_up &&
		c.command->run != cmd_check)
	{
		log_error("options --metrics-file and --metrics-push belong to up and check (%s writes no metrics)",
				  c.command->name);
		return EXIT_USAGE;
	}
	if (!c.given[CLI_METRICS_PUSH] && (c.command->run == cmd_up || c.command->run == cmd_check) &&
		check_env_push(c.metrics_push) != EXIT_OK)
		return EXIT_USAGE;
	if (opts->n_skip_verify > 0 && opts->no_verify)
	{
		log_error("baseline takes --skip-verify VERSION or --no-verify, not both");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

char *
run_target_name(const run_state *rs)
{
	char *d = conn_describe_dsn(conn_resolve_dsn(&rs->opts->conn, NULL));

	return d ? d : xstrdup("the database");
}

static bool
creates_schema(const cli_command *cmd)
{
	return (cmd->options & O(CREATE_SCHEMA)) != 0;
}

/*
 * --schema must exist.  Only up and baseline create it, and only with
 * --create-schema (plan then says that up would): a typo in --schema must
 * neither grow a second, empty schema nor make status and check read an
 * empty history there.  And, for baseline's writes, whether they may go
 * through a view bound by OID, or name the table in a schema another role
 * could rename (relation_trust.h), as startup.c judges it for the other
 * writers.  EXIT_OK, EXIT_USAGE after logging, or EXIT_UNREACHABLE.
 */
static int
check_schema(run_state *rs, const cli_command *cmd)
{
	const char *values[1] = {rs->opts->conn.schema};
	PGresult   *res = db_query(
		  rs->conn, "looking up the schema",
		  "SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1), " RELATION_TRUST_TEMP_SQL, 1,
		  values, PGRES_TUPLES_OK);
	bool exists;

	if (res == NULL)
		return EXIT_UNREACHABLE;
	exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	rs->ht.by_view = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	PQclear(res);
	if (exists && !rs->ht.by_view)
		relation_trust_warn_if_renamable(rs->conn, rs->opts->conn.schema, rs->ht.display);
	return startup_schema_verdict(rs, exists, creates_schema(cmd), cmd->run == cmd_plan);
}

/* Everything from here on, the history table too, is owned by --role. */
static int
set_role(run_state *rs)
{
	const char *values[1] = {rs->opts->role};
	db_error    err = {0};

	if (rs->opts->role == NULL || db_run(rs->conn, "SELECT pg_catalog.set_config('role', $1, false)", 1,
										 values, PGRES_TUPLES_OK, NULL, &err, NULL))
		return EXIT_OK;
	log_event(LOG_LEVEL_ERROR, "invalid_role", NULL, "option --role: could not SET ROLE \"%s\": %s",
			  rs->opts->role, err.message);
	db_error_clear(&err);
	return EXIT_USAGE;
}

/* The main connection, its history table's names and --role. */
static int
open_connection(run_state *rs)
{
	conn_options copts = rs->opts->conn;
	int          rc;

	/* the main connection sets --role below, where a bad one is a usage error */
	copts.role = NULL;
	/* a start-up gate that waits for the schema also waits for the server */
	if (rs->opts->wait_current_ms > copts.wait_ms)
		copts.wait_ms = rs->opts->wait_current_ms;
	rc = conn_open(&copts, &rs->conn);
	if (rc != EXIT_OK)
		return rc;
	if (!history_table_init(&rs->ht, rs->conn, rs->opts->conn.schema, rs->opts->history_table))
		return EXIT_USAGE;
	return set_role(rs);
}

/*
 * A directory that is not there is "not found", naming what sets its path:
 * the usual cause is a run from another working directory, or an unset
 * MIGRATIONS_DIR.  Other errors (permissions, not a directory) are
 * reported by the loader with errno's words.
 */
static bool
dir_found(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0 || errno != ENOENT)
		return true;
	log_event(LOG_LEVEL_ERROR, "dir_not_found", NULL,
			  "migrations directory \"%s\" not found (set it with --dir or MIGRATIONS_DIR; the default is "
			  "\"migrations\" in the working directory)",
			  dir);
	return false;
}

int
run_open_main(run_state *rs)
{
	conn_options copts = rs->opts->conn;
	int          rc;

	if (rs->conn != NULL)
		return EXIT_OK;
	/* the main connection sets --role below, where a bad one is a usage error */
	copts.role = NULL;
	copts.wait_ms = 0; /* the first connection just reached the server */
	rc = conn_open(&copts, &rs->conn);
	return rc == EXIT_OK ? set_role(rs) : rc;
}

/* baseline: the connection, the schema, the lock; it reads the history itself. */
static int
open_for_baseline(const cli_command *cmd, run_state *rs)
{
	int rc = open_connection(rs);

	if (rc != EXIT_OK)
		return rc;
	rs->ht.create_schema = rs->opts->create_schema;
	rs->ht.read_only = false;
	rc = check_schema(rs, cmd);
	/*
	 * One run per schema and history table, on a connection of its own: the
	 * migrations' SQL runs on rs->conn and could release a lock held there
	 * (pg_advisory_unlock_all).
	 */
	return rc == EXIT_OK ? run_lock_take(rs) : rc;
}

static int
run_command(const cli_command *cmd, run_state *rs)
{
	startup_want     want = {.writes = (cmd->flags & CLI_CMD_WRITES) != 0,
							 .take_lock = (cmd->flags & CMD_LOCK) != 0,
							 .read_history = true,
							 .may_create = creates_schema(cmd),
							 .explain_plan = cmd->run == cmd_plan,
							 .history_details = cmd->run == cmd_status || cmd->run == cmd_plan};
	migration_loader files;
	int              rc;

	/*
	 * The files first: a bad directory fails before any connection.  new
	 * creates a missing directory; lint given files reads each one's own.
	 */
	if (cmd->run != cmd_new && !(cmd->flags & CMD_OWN_FILES && rs->opts->n_args > 0) &&
		!dir_found(rs->opts->dir))
		return EXIT_USAGE;
	if (cmd->flags & CMD_OWN_FILES)
		return cmd->run(rs);
	if (!(cmd->flags & CMD_CONNECT) || (cmd->flags & CMD_OWN_HISTORY))
	{
		rc = migration_set_load(rs->opts->dir, &rs->files);
		if (rc != EXIT_OK)
			return rc;
	}
	else
	{
		/* read while the server starts the session (startup.h) */
		migration_loader_start(&files, rs->opts->dir, &rs->files);
		want.files = &files;
	}
	if (!(cmd->flags & CMD_CONNECT))
		return cmd->run(rs);
	if (cmd->flags & CMD_OWN_HISTORY)
		rc = open_for_baseline(cmd, rs);
	/*
	 * One run per schema and history table, on a connection of its own (the
	 * migrations' SQL runs on rs->conn and could release a lock held there:
	 * pg_advisory_unlock_all), opened first and read under the lock
	 * (startup.h); up opens rs->conn only when it has work (run_open_main).
	 */
	else if (want.take_lock)
	{
		rc = startup_open(rs, &want, &rs->lock_conn);
		if (rc == EXIT_OK && cmd->run != cmd_up)
			rc = run_open_main(rs);
	}
	else
		rc = startup_open(rs, &want, &rs->conn);
	if (rc != EXIT_OK)
		return rc;
	return cmd->run(rs);
}

/* up and check report how the versions stand (--metrics-file, --metrics-push) */
static bool
reports_metrics(const cli_command *cmd)
{
	return cmd->run == cmd_up || cmd->run == cmd_check;
}

/*
 * A metrics file the run could never write is a usage error before the run
 * starts (metrics.h); it is then not written at the end either.
 */
static int
check_metrics_file(migrator_options *opts)
{
	char why[512];

	if (opts->metrics_file == NULL || opts->metrics_file[0] == '\0' ||
		metrics_check_file(opts->metrics_file, why, sizeof(why)))
		return EXIT_OK;
	log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
			  "option --metrics-file (or MIGRATOR_METRICS_FILE): cannot write \"%s\": %s; nothing was done",
			  opts->metrics_file, why);
	opts->metrics_file = NULL;
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	migrator_options   opts = {0};
	const cli_command *cmd = NULL;
	run_state          rs = {0};
	int64_t            start_ms = monotonic_ms();
	sql_parser_room   *room = NULL;
	int                rc;

	cancel_install_handlers();
	rc = parse_args(argc, argv, &opts, &cmd);
	if (rc == CLI_DONE)
		rc = EXIT_OK;
	else if (rc == EXIT_OK)
	{
		rs.opts = &opts;
		/* every session the run opens: catalog reads and the history too */
		opts.conn.lock_timeout_ms = opts.apply.lock_timeout_ms;
		/* build connections (requires-index, routed CREATE INDEX) run as it too */
		opts.conn.role = opts.role;
		/* commands that write refuse a standby at connect (target_session_attrs) */
		opts.conn.read_write = (cmd->flags & CLI_CMD_WRITES) != 0;
		rc = reports_metrics(cmd) ? check_metrics_file(&opts) : EXIT_OK;
		/* one parser thread for the run's parses, not one per file (sqlparse.h); without it, as before */
		sql_parser_room_begin(&room);
		if (rc == EXIT_OK)
			rc = run_command(cmd, &rs);
		sql_parser_room_end(room);
		/* a signal wins over whatever the interrupted step returned */
		if (cancel_pending() && rc != EXIT_OK)
			rc = cancel_exit_code();
		/* --metrics-file, --metrics-push: up and check report how the versions stand */
		if (reports_metrics(cmd))
			rc = migration_metrics_report(&rs.tally, opts.metrics_file, opts.metrics_push, cmd->name, rc,
										  (double) (monotonic_ms() - start_ms) / 1000.0);
	}

	/*
	 * After a signal, closing the connection releases the lock: an explicit
	 * release would wait for a server that may no longer answer (a network
	 * gone silent), and only the 12s backstop would end that wait.
	 */
	if (rs.locked && !cancel_pending() && PQstatus(rs.lock_conn) == CONNECTION_OK)
		advlock_release(rs.lock_conn, rs.lock_name);
	conn_close(rs.lock_conn);
	free(rs.lock_name);
	required_free(rs.required);
	history_free(&rs.hist);
	if (!cancel_pending())
		history_release(rs.conn, &rs.ht);
	history_table_free(&rs.ht);
	conn_close(rs.conn);
	migration_set_free(&rs.files);
	free(opts.skip_verify);

	/* a full disk or a closed pipe is not success */
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		log_error("could not write to standard output");
		if (rc == EXIT_OK)
			rc = EXIT_CHANGE_FAILED;
	}
	return rc;
}
