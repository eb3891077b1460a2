/*-------------------------------------------------------------------------
 *
 * main.c
 *	  indexer: bring a database's indexes in line with a definitions file,
 *	  online (CREATE INDEX CONCURRENTLY), safe to run from cron.
 *
 * The command line is data: one table of commands (name, handler, the
 * options that apply, whether it writes, help line) and one of the
 * indexer's own options; common/cli.c parses them together with the
 * options both programs share.  Every command reads the same plan, made
 * from one catalog query, which the dispatcher prepares (taking the run
 * lock first when the command's flags say so).  Only main() exits; every
 * command returns a code of the toolkit's exit-code table.  The commands
 * themselves are in cmd_*.c (indexer.h).
 *
 * indexer/main.c
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
#include "build.h"
#include "cancel.h"
#include "catalog.h"
#include "cli.h"
#include "definitions.h"
#include "conn.h"
#include "exitcodes.h"
#include "help.h"
#include "index_metrics.h"
#include "indexer.h"
#include "log.h"
#include "memory.h"
#include "pipeline.h"
#include "plan.h"
#include "record.h"
#include "retry.h"
#include "settings.h"
#include "sqlparse.h"

#define DEFAULT_CONFIG INDEXER_DEFAULT_CONFIG

/* The indexer's own options; each one's CLI_BIT in a command's options says it applies. */
enum indexer_option
{
	OPT_CONFIG,
	OPT_JOBS,
	OPT_ONLY,
	OPT_TABLE,
	OPT_CRITICAL_ONLY,
	OPT_REBUILD_DRIFTED,
	OPT_MWM,
	OPT_MPMW,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_WINDOW,
	OPT_TIME_ZONE,
	OPT_MAX_RUNTIME,
	OPT_MAX_BUILDS,
	OPT_MAX_INDEX_SIZE,
	OPT_ALLOW_UNKNOWN_SIZE,
	OPT_MAX_REPLICA_LAG,
	OPT_MAX_REPLICA_LAG_BYTES,
	OPT_REPLICA_LAG_WAIT,
	OPT_MAX_SLOT_WAL,
	OPT_RECORD_SCHEMA,
	OPT_NO_RECORD,
	OPT_CREATE_SCHEMA,
	OPT_KEEP,
	OPT_BACKOFF_AFTER,
	OPT_RETRY_FAILED,
	OPT_SINCE
};

#define O(id) CLI_BIT(OPT_##id)
/* every command reads the file and may select part of it */
#define SELECTION (O(CONFIG) | O(ONLY) | O(TABLE) | O(CRITICAL_ONLY))
#define BUILDING  (O(JOBS) | O(MWM) | O(MPMW) | O(PROGRESS) | O(NO_PROGRESS))
/* the replica guard (replica_guard.h): build waits on it, plan shows it */
#define REPLICA_GUARD (O(MAX_REPLICA_LAG) | O(MAX_REPLICA_LAG_BYTES) | O(REPLICA_LAG_WAIT) | O(MAX_SLOT_WAL))
/* when and how much: build obeys them, plan shows what they would defer */
#define LIMITS                                                                                               \
	(O(WINDOW) | O(TIME_ZONE) | O(MAX_RUNTIME) | O(MAX_BUILDS) | O(MAX_INDEX_SIZE) | O(ALLOW_UNKNOWN_SIZE) | \
	 REPLICA_GUARD)

/* the history table (record.h): build writes it, history reads it */
#define RECORD                                                                                               \
	(O(RECORD_SCHEMA) | O(NO_RECORD) | O(CREATE_SCHEMA) | O(KEEP) | O(BACKOFF_AFTER) | O(RETRY_FAILED))

#define CMD_LOCK    CLI_CMD_PROGRAM        /* takes the run lock before reading the catalog */
#define CMD_NO_PLAN (CLI_CMD_PROGRAM << 1) /* reads no catalog, makes no plan, takes any --only name */
#define CMD_BACKOFF (CLI_CMD_PROGRAM << 2) /* reads the history table for the backoff, writes nothing */

static const cli_command commands[] = {
	{"build", cmd_build, CMD_LOCK | CLI_CMD_WRITES,
	 SELECTION | O(REBUILD_DRIFTED) | BUILDING | LIMITS | RECORD,
	 "build what is missing, repair what is invalid, drop what is absent (default)"},
	{"plan", cmd_plan, CMD_BACKOFF,
	 SELECTION | O(REBUILD_DRIFTED) | LIMITS | O(RECORD_SCHEMA) | O(NO_RECORD) | O(BACKOFF_AFTER) |
		 O(RETRY_FAILED),
	 "show what build would do (exit 1 when build would); changes nothing"},
	{"check", cmd_check, 0, SELECTION,
	 "readiness gate: exit 0 if every defined index is present, valid and as defined, 5 if not"},
	{"status", cmd_status, 0, SELECTION,
	 "every definition's state, indexes the file does not define, duplicates"},
	{"history", cmd_history, CMD_NO_PLAN, O(CONFIG) | O(ONLY) | O(RECORD_SCHEMA) | O(SINCE),
	 "what the builds did, from the history table (--since DUR, --only NAME)"},
};

#define OFF(field) offsetof(indexer_options, field)

/*
 * Options that are also settings (file, environment) are CLI_CUSTOM: their
 * value is checked now and applied after the file and the environment.
 */
static const cli_option options[] = {
	{"config", 'c', CLI_STRING, OFF(config_path), 0, 0, OPT_CONFIG, NULL, NULL},
	{"jobs", 'j', CLI_CUSTOM, 0, 0, 0, OPT_JOBS, NULL, NULL},
	{"only", 0, CLI_CUSTOM, 0, 0, 0, OPT_ONLY, NULL, NULL},
	{"table", 0, CLI_NAME, OFF(table), 0, 0, OPT_TABLE, NULL, NULL},
	{"critical-only", 0, CLI_FLAG, OFF(critical_only), 0, 0, OPT_CRITICAL_ONLY, NULL, NULL},
	{"rebuild-drifted", 0, CLI_FLAG, OFF(rebuild_drifted), 0, 0, OPT_REBUILD_DRIFTED, NULL,
	 "option --rebuild-drifted applies to build and plan only"},
	{"maintenance-work-mem", 0, CLI_CUSTOM, 0, 0, 0, OPT_MWM, NULL, NULL},
	{"max-parallel-maintenance-workers", 0, CLI_CUSTOM, 0, 0, 0, OPT_MPMW, NULL, NULL},
	{"progress", 0, CLI_CUSTOM_FLAG, 0, 0, 0, OPT_PROGRESS, NULL, NULL},
	{"no-progress", 0, CLI_CUSTOM_FLAG, 0, 0, 0, OPT_NO_PROGRESS, NULL, NULL},
	{"window", 0, CLI_CUSTOM, 0, 0, 0, OPT_WINDOW, NULL, NULL},
	{"time-zone", 0, CLI_CUSTOM, 0, 0, 0, OPT_TIME_ZONE, NULL, NULL},
	{"max-runtime", 0, CLI_CUSTOM, 0, 0, 0, OPT_MAX_RUNTIME, NULL, NULL},
	{"max-builds", 0, CLI_CUSTOM, 0, 0, 0, OPT_MAX_BUILDS, NULL, NULL},
	{"max-index-size", 0, CLI_CUSTOM, 0, 0, 0, OPT_MAX_INDEX_SIZE, NULL, NULL},
	{"allow-unknown-size", 0, CLI_CUSTOM_FLAG, 0, 0, 0, OPT_ALLOW_UNKNOWN_SIZE, NULL, NULL},
	{"record-schema", 0, CLI_CUSTOM, 0, 0, 0, OPT_RECORD_SCHEMA, NULL, NULL},
	{"no-record", 0, CLI_CUSTOM_FLAG, 0, 0, 0, OPT_NO_RECORD, NULL, NULL},
	{"create-schema", 0, CLI_CUSTOM_FLAG, 0, 0, 0, OPT_CREATE_SCHEMA, NULL, NULL},
	{"keep", 0, CLI_CUSTOM, 0, 0, 0, OPT_KEEP, NULL, NULL},
	{"backoff-after", 0, CLI_CUSTOM, 0, 0, 0, OPT_BACKOFF_AFTER, NULL, NULL},
	{"retry-failed", 0, CLI_CUSTOM_FLAG, 0, 0, 0, OPT_RETRY_FAILED, NULL, NULL},
	{"max-replica-lag", 0, CLI_CUSTOM, 0, 0, 0, OPT_MAX_REPLICA_LAG, NULL, NULL},
	{"max-replica-lag-bytes", 0, CLI_CUSTOM, 0, 0, 0, OPT_MAX_REPLICA_LAG_BYTES, NULL, NULL},
	{"replica-lag-wait", 0, CLI_CUSTOM, 0, 0, 0, OPT_REPLICA_LAG_WAIT, NULL, NULL},
	{"max-slot-wal", 0, CLI_CUSTOM, 0, 0, 0, OPT_MAX_SLOT_WAL, NULL, NULL},
	{"since", 0, CLI_DURATION, OFF(since_ms), 0, 0, OPT_SINCE, NULL, NULL},
};

static const cli_program program;

static void
usage(FILE *out)
{
	indexer_help(out, &program);
}

/* ---- options ------------------------------------------------------------------- */

static bool
add_cli(indexer_options *o, setting_id id, const char *value)
{
	indexer_settings scratch;
	char             why[256];
	bool             ok;

	/* checked now: a bad option fails before the file is read */
	settings_init(&scratch);
	ok = settings_apply(&scratch, id, value, ORIGIN_COMMAND_LINE, why, sizeof(why));
	settings_free(&scratch);
	if (!ok)
	{
		log_event(LOG_LEVEL_ERROR, "invalid_option", NULL, "option --%s: %s", settings_option(id), why);
		return false;
	}
	if (o->n_cli < (int) (sizeof(o->cli) / sizeof(o->cli[0])))
	{
		o->cli[o->n_cli].id = id;
		o->cli[o->n_cli].value = value;
		o->n_cli++;
	}
	else
	{
		/* the same option many times: the last one counts */
		memmove(&o->cli[0], &o->cli[1], sizeof(o->cli) - sizeof(o->cli[0]));
		o->cli[o->n_cli - 1].id = id;
		o->cli[o->n_cli - 1].value = value;
	}
	return true;
}

static void
add_only(indexer_options *o, const char *list)
{
	const char *p = list;

	for (;;)
	{
		const char *comma = strchr(p, ',');
		size_t      len = comma ? (size_t) (comma - p) : strlen(p);

		if (len > 0)
		{
			ARRAY_GROW(o->only, o->n_only + 1, o->cap_only);
			o->only[o->n_only++] = xstrndup(p, len);
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

/* Parse argv; EXIT_OK, EXIT_USAGE, or -1 for "done" (help, version). */

/* The settings the indexer's own custom options set. */
static bool
read_custom(void *opts_arg, const cli_option *o, const char *value)
{
	indexer_options *opts = opts_arg;

	switch (o->id)
	{
		case OPT_JOBS:
			return add_cli(opts, SETTING_JOBS, value);
		case OPT_MWM:
			return add_cli(opts, SETTING_MAINTENANCE_WORK_MEM, value);
		case OPT_MPMW:
			return add_cli(opts, SETTING_MAX_PARALLEL_MAINTENANCE_WORKERS, value);
		case OPT_PROGRESS:
		case OPT_NO_PROGRESS:
			return add_cli(opts, SETTING_PROGRESS, o->id == OPT_PROGRESS ? "true" : "false");
		case OPT_ONLY:
			add_only(opts, value);
			return true;
		case OPT_WINDOW:
			return add_cli(opts, SETTING_WINDOW, value);
		case OPT_TIME_ZONE:
			return add_cli(opts, SETTING_TIME_ZONE, value);
		case OPT_MAX_RUNTIME:
			return add_cli(opts, SETTING_MAX_RUNTIME, value);
		case OPT_MAX_BUILDS:
			return add_cli(opts, SETTING_MAX_BUILDS, value);
		case OPT_MAX_INDEX_SIZE:
			return add_cli(opts, SETTING_MAX_INDEX_SIZE, value);
		case OPT_ALLOW_UNKNOWN_SIZE:
			return add_cli(opts, SETTING_ALLOW_UNKNOWN_SIZE, "true");
		case OPT_RECORD_SCHEMA:
			return add_cli(opts, SETTING_RECORD_SCHEMA, value);
		case OPT_NO_RECORD:
			return add_cli(opts, SETTING_NO_RECORD, "true");
		case OPT_CREATE_SCHEMA:
			return add_cli(opts, SETTING_CREATE_SCHEMA, "true");
		case OPT_KEEP:
			return add_cli(opts, SETTING_KEEP, value);
		case OPT_BACKOFF_AFTER:
			return add_cli(opts, SETTING_BACKOFF_AFTER, value);
		case OPT_RETRY_FAILED:
			return add_cli(opts, SETTING_RETRY_FAILED, "true");
		case OPT_MAX_REPLICA_LAG:
			return add_cli(opts, SETTING_MAX_REPLICA_LAG, value);
		case OPT_MAX_REPLICA_LAG_BYTES:
			return add_cli(opts, SETTING_MAX_REPLICA_LAG_BYTES, value);
		case OPT_REPLICA_LAG_WAIT:
			return add_cli(opts, SETTING_REPLICA_LAG_WAIT, value);
		case OPT_MAX_SLOT_WAL:
			return add_cli(opts, SETTING_MAX_SLOT_WAL, value);
	}
	return false;
}

/* The common options that are settings: applied after the file and the environment. */
static bool
record_common(void *opts_arg, cli_common_id id, const char *value)
{
	static const int setting_of[CLI_N_COMMON] = {
		[CLI_DSN] = -1,
		[CLI_SCHEMA] = SETTING_SCHEMA,
		[CLI_WAIT] = SETTING_WAIT,
		[CLI_LOG_FORMAT] = SETTING_LOG_FORMAT,
		[CLI_LOCK_TIMEOUT] = SETTING_LOCK_TIMEOUT,
		[CLI_STATEMENT_TIMEOUT] = SETTING_STATEMENT_TIMEOUT,
		[CLI_RETRIES] = SETTING_RETRIES,
		[CLI_LOCK_WAIT] = SETTING_LOCK_WAIT,
		[CLI_METRICS_FILE] = SETTING_METRICS_FILE,
		[CLI_METRICS_PUSH] = SETTING_METRICS_PUSH,
	};

	if (setting_of[id] < 0)
		return true;
	return add_cli(opts_arg, (setting_id) setting_of[id], value);
}

static const cli_program program = {
	.progname = PROGNAME,
	.commands = commands,
	.n_commands = (int) (sizeof(commands) / sizeof(commands[0])),
	.options = options,
	.n_options = (int) (sizeof(options) / sizeof(options[0])),
	.usage = usage,
	.custom = read_custom,
	.on_common = record_common,
};

/* Parse argv; EXIT_OK, EXIT_USAGE, or CLI_DONE (help, version). */
static int
parse_args(int argc, char **argv, indexer_options *o, const cli_command **cmd)
{
	cli_common  c = {0};
	const char *env_format = getenv("INDEXER_LOG_FORMAT");
	int         rc;

	/* the environment's log format, until the settings are read */
	if (env_format)
		(void) log_parse_format(env_format, &c.format);
	rc = cli_parse(&program, argc, argv, o, &c);
	if (rc != EXIT_OK)
		return rc;
	*cmd = c.command;
	o->conn.dsn = c.dsn;
	/* the environment's and the file's values apply where they can; a command line's must not be ignored */
	if ((c.given[CLI_METRICS_FILE] || c.given[CLI_METRICS_PUSH]) && (c.command->flags & CMD_NO_PLAN))
	{
		log_error("options --metrics-file and --metrics-push belong to build, plan, check and status (%s "
				  "writes no metrics)",
				  c.command->name);
		return EXIT_USAGE;
	}
	o->verbosity = c.verbosity;
	return EXIT_OK;
}

/*
 * config_load and plan_make parse every definition and every catalog
 * indexdef (drift): run each batch on one parser thread
 * (sql_call_with_parser_room), not one thread per parse.
 */
typedef struct parse_batch
{
	const char         *path;
	index_config       *cfg;
	int                 rc;
	run_state          *rs;
	const plan_options *popts;
} parse_batch;

static void
config_load_batch(void *arg)
{
	parse_batch *b = arg;

	b->rc = config_load(b->path, b->cfg);
}

static int
config_load_batched(const char *path, index_config *cfg)
{
	parse_batch b = {.path = path, .cfg = cfg};

	if (!sql_call_with_parser_room(config_load_batch, &b))
		return config_load(path, cfg); /* no thread: one per parse, as before */
	return b.rc;
}

static void
plan_make_batch(void *arg)
{
	parse_batch *b = arg;

	b->rs->plan =
		plan_make(b->rs->conn, b->rs->defs, b->rs->cat, b->rs->n_defs, b->popts, &b->rs->round_trips);
}

static void
plan_make_batched(run_state *rs, const plan_options *popts)
{
	parse_batch b = {.rs = rs, .popts = popts};

	if (!sql_call_with_parser_room(plan_make_batch, &b))
		plan_make_batch(&b);
}

/*
 * A definitions file that is not there is "not found", naming what sets its
 * path (a run from another working directory, an unset INDEXER_CONFIG);
 * other errors are the loader's, with errno's words.
 */
static bool
config_found(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 || errno != ENOENT)
		return true;
	log_event(
		LOG_LEVEL_ERROR, "config_not_found", NULL,
		"index definitions file \"%s\" not found (set it with --config or INDEXER_CONFIG; the default is "
		"\"%s\" in the working directory)",
		path, DEFAULT_CONFIG);
	return false;
}

/*
 * The file, then the settings: file < environment < command line.  Reports
 * every problem of the file before failing.
 */
static int
load_definitions(indexer_options *o, run_state *rs)
{
	const char *env_config = getenv("INDEXER_CONFIG");
	int         rc;
	bool        ok = true;

	if (o->config_path == NULL)
		o->config_path = env_config && env_config[0] ? env_config : DEFAULT_CONFIG;
	if (!config_found(o->config_path))
		return EXIT_USAGE;
	rc = config_load_batched(o->config_path, &rs->cfg);
	if (rc != EXIT_OK && rs->cfg.defs == NULL)
		return rc;
	config_apply_settings(&rs->cfg, &o->set);
	ok = settings_apply_environment(&o->set);
	for (int i = 0; i < o->n_cli; i++)
	{
		char why[256];

		(void) settings_apply(&o->set, o->cli[i].id, o->cli[i].value, ORIGIN_COMMAND_LINE, why, sizeof(why));
	}
	log_init(PROGNAME, o->set.format, o->verbosity);
	if (config_resolve(&rs->cfg, o->set.schema) != EXIT_OK || rc != EXIT_OK || !ok)
		return EXIT_USAGE;
	o->conn.schema = o->set.schema;
	o->conn.wait_ms = o->set.wait_ms;
	/* catalog reads and the monitor wait boundedly; builds are exempt */
	o->conn.lock_timeout_ms = o->set.lock_timeout_ms;
	return EXIT_OK;
}

/* The definitions the filters select; EXIT_USAGE when a filter matches none. */
static int
select_definitions(indexer_options *o, run_state *rs)
{
	rs->defs = xcalloc((size_t) (rs->cfg.n_defs + 1), sizeof(index_def *));
	for (int k = 0; k < o->n_only; k++)
	{
		if (config_find(&rs->cfg, o->only[k]) == NULL)
		{
			log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
					  "option --only: no index \"%s\" is defined in %s", o->only[k], rs->cfg.path);
			return EXIT_USAGE;
		}
	}
	for (int i = 0; i < rs->cfg.n_defs; i++)
	{
		index_def *d = &rs->cfg.defs[i];
		bool       take = true;

		if (o->n_only > 0)
		{
			take = false;
			for (int k = 0; k < o->n_only; k++)
				take = take || strcmp(o->only[k], d->name) == 0;
		}
		if (take && o->table)
		{
			char *qualified = xasprintf("%s.%s", d->schema, d->table);

			take = strcmp(o->table, d->table) == 0 || strcmp(o->table, qualified) == 0;
			free(qualified);
		}
		if (take && o->critical_only)
			take = d->critical && d->state == INDEX_STATE_PRESENT;
		if (take)
			rs->defs[rs->n_defs++] = d;
	}
	if (o->table && rs->n_defs == 0)
	{
		log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
				  "option --table: no index is defined on table \"%s\" in %s", o->table, rs->cfg.path);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/*
 * Connect and send the first round trip once: the session settings (unless
 * they rode in the start-up packet) and, for build, the first try of the
 * run lock.  EXIT_OK with *answered set when it held, unset (err filled)
 * when it failed; any other code: no connection.
 */
static int
connect_once(const cli_command *cmd, run_state *rs, const conn_options *copts, pipeline *p, PGresult **lock,
			 db_error *err, bool *answered)
{
	char        key[24];
	const char *values[1] = {key};
	int         rc = conn_open_batch(copts, &rs->conn, p);

	*answered = true;
	if (rc != EXIT_OK)
		return rc;
	/*
	 * The catalog query's estimated cost grows with the definitions and
	 * passes jit_above_cost from about 2,000 of them: LLVM then compiled it
	 * for longer than it ran (5,000 definitions: 0.9s of 1.3s, issue 13's
	 * growth).  This session runs only the indexer's own catalog reads and
	 * history writes, never worth compiling; builds have sessions of their
	 * own.  jit exists from PostgreSQL 11.
	 */
	if (PQserverVersion(rs->conn) >= 110000)
		pipeline_set_quick(p, pipeline_add(p, "SELECT pg_catalog.set_config('jit', 'off', false)", 0, NULL,
										   PGRES_TUPLES_OK, NULL, NULL));
	if (cmd->flags & CMD_LOCK)
	{
		if (rs->lock_name == NULL)
			rs->lock_name = advlock_name(ADVLOCK_INDEXER, PQdb(rs->conn));
		snprintf(key, sizeof(key), "%lld", (long long) advlock_key(rs->lock_name));
		(void) pipeline_add(p, "SELECT pg_catalog.pg_try_advisory_lock($1::pg_catalog.int8)", 1, values,
							PGRES_TUPLES_OK, pipeline_keep_result, lock);
	}
	if (p->n > 0)
		*answered = pipeline_run(rs->conn, p, NULL, err);
	return EXIT_OK;
}

/*
 * The connection and, for build, the run lock (one run per database), in
 * one round trip (connect_once); a connection lost before it answered is
 * retried until --wait ends (conn.h: conn_retry), the whole batch again; a
 * lock held by another run is then waited for as advlock_acquire does.
 */
static int
connect_and_lock(const cli_command *cmd, run_state *rs)
{
	indexer_options *o = rs->opts;
	conn_options     copts = o->conn;
	conn_retry       retry;
	pipeline         p;
	PGresult        *lock = NULL;
	db_error         err = {0};
	bool             answered;
	int              rc;

	conn_retry_start(&retry, &copts);
	for (;;)
	{
		pipeline_init(&p);
		rc = connect_once(cmd, rs, &copts, &p, &lock, &err, &answered);
		if (rc != EXIT_OK || answered || !conn_retry_lost_batch(&retry, &copts, &rs->conn, &err))
			break;
		PQclear(lock);
		lock = NULL;
		db_error_clear(&err);
		pipeline_free(&p);
	}
	if (rc == EXIT_OK && !answered)
	{
		char *msg = db_error_format(&err);

		if (rs->conn != NULL) /* else the retry's sleep was interrupted, and said so */
			log_event(LOG_LEVEL_ERROR, "query_failed", NULL, "setting up the session: %s%s",
					  conn_lost_prefix(&retry, &err), msg);
		free(msg);
		rc = cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	}
	else if (rc == EXIT_OK && lock != NULL && strcmp(PQgetvalue(lock, 0, 0), "t") == 0)
	{
		log_event(LOG_LEVEL_DEBUG, "lock_acquired", NULL, "took the run lock \"%s\"", rs->lock_name);
		rs->locked = true;
	}
	else if (rc == EXIT_OK && (cmd->flags & CMD_LOCK))
	{
		rc = advlock_acquire(rs->conn, rs->lock_name, o->set.lock_wait_ms, PROGNAME);
		rs->locked = rc == EXIT_OK;
	}
	PQclear(lock);
	db_error_clear(&err);
	pipeline_free(&p);
	return rc;
}

/*
 * Under the run lock: the history table, unless --no-record (record.h);
 * plan only reads it, for the backoff.
 */
static int
open_record(const cli_command *cmd, run_state *rs)
{
	const indexer_settings *s = &rs->opts->set;
	record_options          ro = {s->record_schema ? s->record_schema : s->schema,
						 s->create_schema,
						 s->keep_ms,
						 s->backoff_after,
						 s->retry_failed,
						 s->time_zone};

	if (s->no_record)
		return EXIT_OK;
	if (!(cmd->flags & CMD_LOCK))
		return record_open_read(rs->conn, &ro, &rs->record);
	return record_open(rs->conn, &ro, &rs->record);
}

static int
run_command(const cli_command *cmd, run_state *rs)
{
	indexer_options *o = rs->opts;
	plan_options     popts = {o->rebuild_drifted, o->set.lock_timeout_ms};
	int              rc;

	/* everything about the input first: a bad file fails before any connection */
	rc = load_definitions(o, rs);
	if (rc == EXIT_OK && !(cmd->flags & CMD_NO_PLAN))
		rc = select_definitions(o, rs);
	if (rc == EXIT_OK && !(cmd->flags & CMD_NO_PLAN))
		rc = index_metrics_check(rs);
	if (rc != EXIT_OK)
		return rc;

	rc = connect_and_lock(cmd, rs);
	if (rc != EXIT_OK)
		return rc;
	if (cmd->flags & CMD_NO_PLAN)
		return cmd->run(rs);
	/* the history table of the indexer's actions, under the run lock (record.h) */
	if ((cmd->flags & (CMD_LOCK | CMD_BACKOFF)) && (rc = open_record(cmd, rs)) != EXIT_OK)
		return rc;
	rc = catalog_load(rs->conn, rs->defs, rs->n_defs, o->set.lock_timeout_ms, &rs->cat, &rs->round_trips);
	if (rc != EXIT_OK)
		return rc;
	plan_make_batched(rs, &popts);
	if (cancel_pending())
		return cancel_exit_code();
	return cmd->run(rs);
}

int
main(int argc, char **argv)
{
	indexer_options    opts;
	const cli_command *cmd = NULL;
	run_state          rs;
	int                rc;

	memset(&opts, 0, sizeof(opts));
	memset(&rs, 0, sizeof(rs));
	settings_init(&opts.set);
	opts.conn.schema = opts.set.schema;
	opts.conn.progname = PROGNAME;
	rs.start_ms = monotonic_ms();

	cancel_install_handlers();
	rc = parse_args(argc, argv, &opts, &cmd);
	if (rc == CLI_DONE)
		rc = EXIT_OK;
	else if (rc == EXIT_OK)
	{
		rs.opts = &opts;
		/* commands that write refuse a standby at connect (target_session_attrs) */
		opts.conn.read_write = (cmd->flags & CLI_CMD_WRITES) != 0;
		rc = run_command(cmd, &rs);
		/* a signal wins over whatever the interrupted step returned */
		if (cancel_pending())
			rc = cancel_exit_code();
		/* --metrics-file, --metrics-push: the state the run leaves (index_metrics.h) */
		if (!(cmd->flags & CMD_NO_PLAN))
			rc = index_metrics_report(&rs, cmd->name, rc);
	}

	/* after a signal, closing the connection releases the lock */
	if (rs.locked && !cancel_pending() && PQstatus(rs.conn) == CONNECTION_OK)
		advlock_release(rs.conn, rs.lock_name);
	free(rs.lock_name);
	record_free(rs.record);
	plan_free(rs.plan, rs.n_defs);
	catalog_free(rs.cat, rs.n_defs);
	free(rs.defs);
	conn_close(rs.conn);
	config_free(&rs.cfg);
	for (int i = 0; i < opts.n_only; i++)
		free(opts.only[i]);
	free(opts.only);
	settings_free(&opts.set);

	/* a full disk or a closed pipe is not success */
	if (fflush(stdout) != 0 || ferror(stdout))
	{
		log_error("could not write to standard output");
		if (rc == EXIT_OK)
			rc = EXIT_CHANGE_FAILED;
	}
	return rc;
}
