/*-------------------------------------------------------------------------
 *
 * main.c
 *	  indexer: bring a database's indexes in line with a definitions file,
 *	  online (CREATE INDEX CONCURRENTLY), safe to run from cron.
 *
 * Commands come from one table whose flags say what the dispatcher sets up
 * before calling (the run lock).  Every command reads the same plan, made
 * from one catalog query.  Only main() exits; every command returns a code
 * of the toolkit's exit-code table.
 *
 * indexer/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advlock.h"
#include "build.h"
#include "cancel.h"
#include "catalog.h"
#include "definitions.h"
#include "conn.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "options.h"
#include "plan.h"
#include "query.h"
#include "retry.h"
#include "settings.h"

#define PROGNAME        "indexer"
#define INDEXER_VERSION "0.1.0"
#define DEFAULT_CONFIG  "conf/indexes.cfg"

/* An option given on the command line, applied after the file and environment. */
typedef struct cli_setting
{
	setting_id  id;
	const char *value;
} cli_setting;

typedef struct indexer_options
{
	const char      *config_path;
	conn_options     conn;
	indexer_settings set;
	cli_setting      cli[32];
	int              n_cli;
	bool             rebuild_drifted;
	bool             critical_only;
	char           **only; /* --only names */
	int              n_only;
	const char      *table; /* --table */
	int              verbosity;
} indexer_options;

/* What the dispatcher has set up for a command. */
typedef struct run_state
{
	indexer_options *opts;
	index_config     cfg;
	index_def      **defs; /* the selected definitions */
	int              n_defs;
	PGconn          *conn;
	bool             locked;
	char            *lock_name;
	catalog_entry   *cat;
	plan_item       *plan;
	int              round_trips; /* catalog round trips of this run */
	int64_t          start_ms;
} run_state;

#define CMD_LOCK 0x1 /* takes the run lock before reading the catalog */

typedef struct command
{
	const char *name;
	int (*fn)(run_state *rs);
	unsigned    flags;
	const char *summary;
} command;

static int cmd_build(run_state *rs);
static int cmd_plan(run_state *rs);
static int cmd_check(run_state *rs);
static int cmd_status(run_state *rs);

static const command commands[] = {
	{"build", cmd_build, CMD_LOCK,
	 "build what is missing, repair what is invalid, drop what is absent (default)"},
	{"plan", cmd_plan, 0, "show what build would do; changes nothing"},
	{"check", cmd_check, 0,
	 "readiness gate: exit 0 if every defined index is present, valid and as defined, 5 if not"},
	{"status", cmd_status, 0, "every definition's state, indexes the file does not define, duplicates"},
};

static void
usage(FILE *out)
{
	fprintf(out,
			"%s brings a database's indexes in line with a definitions file, online:\n"
			"CREATE INDEX CONCURRENTLY, never blocking writes; safe to run from cron.\n"
			"\n"
			"Usage:\n"
			"  %s [COMMAND] [OPTION]...\n"
			"\n"
			"Commands:\n",
			PROGNAME, PROGNAME);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(
		out,
		"\n"
		"Options:\n"
		"  -c, --config=FILE          definitions file (default $INDEXER_CONFIG, else \"" DEFAULT_CONFIG
		"\")\n"
		"      --dsn=DSN              connection string or URI (default $DATABASE_URL, else libpq's PG* variables)\n"
		"      --schema=NAME          schema of definitions without one, and search_path (default \"public\")\n"
		"  -j, --jobs=N               build on up to N connections at once, one table each (default 1, at most %d)\n"
		"      --only=NAME[,NAME]     only these definitions (repeatable)\n"
		"      --table=TABLE          only the definitions on this table (TABLE or SCHEMA.TABLE)\n"
		"      --critical-only        only the definitions marked critical (with check: the readiness gate)\n"
		"      --rebuild-drifted      build and plan: replace indexes whose definition drifted, online\n"
		"      --lock-timeout=DUR     how long a build may wait for its lock on the table (default 5s; 0 = no bound)\n"
		"      --statement-timeout=DUR  bound on every statement, builds included (default 0 = none)\n"
		"      --retries=N            retries after a lock timeout, deadlock, serialization failure or lost\n"
		"                             connection (default 3; backoff 1s doubling to 30s, with jitter)\n"
		"      --maintenance-work-mem=SIZE  memory of each build, e.g. 512MB (default: the server's)\n"
		"      --max-parallel-maintenance-workers=N  parallel workers of each build (default: the server's)\n"
		"      --lock-wait=DUR        how long to wait for another indexer run (default 0: exit 4 at once)\n"
		"      --wait=DUR             keep retrying the first connection while the server is down (default 0)\n"
		"      --progress, --no-progress  show build progress (default on: a bar on a terminal, else a line\n"
		"                             every 10s)\n"
		"      --log-format=FORMAT    text (default) or json: one JSON object a line on stderr\n"
		"  -q, --quiet                only warnings and errors\n"
		"  -v, --verbose              also debug messages (each statement as it is sent)\n"
		"  -V, --version              print the version and exit\n"
		"  -h, --help                 show this help and exit\n"
		"\n"
		"%s"
		"\n"
		"Durations take a unit: 500ms, 5s, 2min, 1h; 0 means none. Sizes: kB, MB, GB, TB.\n"
		"Every option except --config, --dsn and the command-only ones may also be set in the file's\n"
		"settings group (jobs = 2; lock_timeout = \"5s\"; ...) or in the environment as INDEXER_<OPTION>\n"
		"(INDEXER_JOBS, INDEXER_LOCK_TIMEOUT, ...); the command line wins over the environment, which\n"
		"wins over the file. No connection strings or passwords in the file.\n"
		"\n"
		"Lock waits: a concurrent build first waits for a lock on the table (it does not block writes,\n"
		"but it queues behind DDL and VACUUM), then, in three phases, for every older transaction to\n"
		"finish. A plain lock_timeout would bound all of these, so a short one would kill healthy builds\n"
		"whenever a long transaction runs anywhere in the database, leaving an invalid index behind. So\n"
		"--lock-timeout bounds only the wait for the table lock: a watchdog connection cancels the build\n"
		"past it, and it is retried. The waits for older transactions are shown as progress, naming the\n"
		"sessions in the way (pid, state, transaction age); only --statement-timeout bounds them. The\n"
		"price: a long transaction delays a build as long as it lasts; end it, or set --statement-timeout.\n"
		"\n"
		"A failed or cancelled build leaves an INVALID index, which IF NOT EXISTS would skip forever:\n"
		"it is dropped (DROP INDEX CONCURRENTLY) and built again, on this run or the next. A failure of\n"
		"a definition with critical = false is a warning (exit 0); of a critical one, exit 1 after the\n"
		"builds in flight finish. On SIGINT/SIGTERM the builds are cancelled and their leftovers dropped\n"
		"within %ds; what cannot be dropped in time is named, and the next run repairs it.\n"
		"\n"
		"Partitioned tables are built by PostgreSQL's recipe: CREATE INDEX ... ON ONLY the parent (an\n"
		"instant, but under a SHARE lock on the parent, whose wait --lock-timeout bounds), a concurrent\n"
		"build on every partition, ALTER INDEX ... ATTACH PARTITION. --rebuild-drifted builds\n"
		"the new index under a temporary name, then swaps the names in a short transaction that takes\n"
		"SHARE UPDATE EXCLUSIVE locks on the two indexes only (no table lock: reads and writes go on),\n"
		"then drops the old one concurrently; it refuses indexes used by a constraint.\n"
		"The run lock is a session advisory lock: connect directly, not through a pooler in transaction\n"
		"mode.\n"
		"\n"
		"Decisions: check, plan and status write nothing: drift is found by comparing parse trees with\n"
		"the server's spelling (casts, = ANY (ARRAY[...]), qualified names); what cannot be compared (a\n"
		"string constant the server may rewrite, BETWEEN, ...) is reported as \"cannot compare\" and is\n"
		"not in line (check exits 5). Catalog reads wait for table locks at most --lock-timeout; a locked\n"
		"table is named with its holder and its definitions are not in line. Only provable leftovers of\n"
		"a rebuild are dropped: <name>_ixnew when it is the definition renamed, <name>_ixold when the\n"
		"swap marked it; look-alikes are reported. An index that a constraint renamed (ADD CONSTRAINT c\n"
		"UNIQUE USING INDEX) and that matches a definition counts as present: never built twice, never\n"
		"dropped or swapped (use REINDEX INDEX CONCURRENTLY). A build that reported an error but left a\n"
		"valid, ready index is built. After the run lock is lost no new build starts (exit 1).\n"
		"\n"
		"%s"
		"With indexer, 1 means a critical index could not be built; 5 (check) means a defined index is\n"
		"missing, invalid or drifted.\n",
		INDEXER_MAX_JOBS, CONN_HELP, BUILD_CLEANUP_BOUND_MS / 1000, EXIT_CODES_HELP);
}

static const command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* ---- reporting helpers ------------------------------------------------------ */

static void
json_item(const plan_item *it, const char *state)
{
	const index_def *d = it->def;
	strbuf           sb;

	strbuf_init(&sb);
	strbuf_append(&sb, "{\"name\":");
	strbuf_append_json(&sb, d->name);
	strbuf_append(&sb, ",\"schema\":");
	strbuf_append_json(&sb, d->schema);
	strbuf_append(&sb, ",\"table\":");
	strbuf_append_json(&sb, d->table);
	strbuf_append(&sb, ",\"state\":");
	strbuf_append_json(&sb, state);
	strbuf_appendf(&sb, ",\"critical\":%s,\"action\":", d->critical ? "true" : "false");
	strbuf_append_json(&sb, plan_action_name(it->action));
	strbuf_append(&sb, ",\"reason\":");
	if (it->reason)
		strbuf_append_json(&sb, it->reason);
	else
		strbuf_append(&sb, "null");
	strbuf_appendf(&sb, ",\"size_bytes\":%lld", (long long) it->cat->index_bytes);
	strbuf_append(&sb, "}\n");
	fputs(sb.data, stdout);
	strbuf_free(&sb);
}

/* The state of a definition in a word, as status and check show it. */
static const char *
state_word(const plan_item *it)
{
	const catalog_entry *c = it->cat;

	switch (it->action)
	{
		case ACT_PRESENT:
		case ACT_CLEANUP:
			return "present";
		case ACT_ABSENT:
			return "absent";
		case ACT_BUILD:
			return c->rel_oid ? "invalid" : "missing";
		case ACT_REPAIR:
			return "invalid";
		case ACT_REBUILD:
		case ACT_DRIFTED:
			return "drifted";
		case ACT_DROP:
			return "unwanted";
		case ACT_BUSY:
			return "building";
		case ACT_UNKNOWN:
			return "unknown";
		case ACT_ERROR:
			if (it->def->state == INDEX_STATE_ABSENT)
				return "conflict";
			if (c->table_oid == NULL)
				return "no-table";
			if (c->rel_oid && (!c->is_index || !c->on_table))
				return "conflict";
			/* an index as defined but refused a rebuild, or a table of the wrong kind */
			return c->rel_oid ? "drifted" : "error";
	}
	return "?";
}

/* REINDEX CONCURRENTLY leftovers are not ours: name them, never drop them. */
static void
report_foreign_leftovers(run_state *rs)
{
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];

		for (int k = 0; k < it->n_foreign_leftovers; k++)
			log_event(
				LOG_LEVEL_WARNING, "reindex_leftover", NULL,
				"\"%s.%s\" on \"%s.%s\" is a leftover of an interrupted REINDEX CONCURRENTLY of \"%s\"; drop it with DROP INDEX CONCURRENTLY",
				it->def->schema, it->foreign_leftovers[k], it->def->schema, it->def->table, it->def->name);
		for (int k = 0; k < it->n_suspect_leftovers; k++)
			log_event(
				LOG_LEVEL_WARNING, "suspect_leftover", NULL,
				"\"%s.%s\" on \"%s.%s\" is named like a leftover of a rebuild of \"%s\", but is not provably the indexer's: %s; not dropped (drop it by hand if nobody needs it)",
				it->def->schema, it->suspect_leftovers[k], it->def->schema, it->def->table, it->def->name,
				it->suspect_why[k]);
	}
}

/* ---- commands ---------------------------------------------------------------- */

/*
 * --maintenance-work-mem within the server's range, asked before anything
 * is built: otherwise every build connection would fail to set it, which
 * looks like an unreachable server.  EXIT_OK or EXIT_USAGE after logging.
 */
static int
check_memory_setting(run_state *rs)
{
	int64_t     kb = rs->opts->set.maintenance_work_mem_kb;
	PGresult   *res;
	long long   lo, hi;
	const char *origin[] = {"default", "the file's settings", "environment INDEXER_MAINTENANCE_WORK_MEM",
							"option --maintenance-work-mem"};

	if (kb <= 0)
		return EXIT_OK;
	res = db_query(rs->conn, "reading the range of maintenance_work_mem",
				   "SELECT min_val::bigint, max_val::bigint FROM pg_catalog.pg_settings "
				   "WHERE name = 'maintenance_work_mem' AND unit = 'kB'",
				   0, NULL, PGRES_TUPLES_OK);
	rs->round_trips++;
	if (res == NULL)
		return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return EXIT_OK;
	}
	lo = atoll(PQgetvalue(res, 0, 0));
	hi = atoll(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (kb >= lo && kb <= hi)
		return EXIT_OK;
	log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
			  "%s: maintenance_work_mem %lldkB is outside the server's range %lldkB to %lldkB; nothing built",
			  origin[rs->opts->set.origin[SETTING_MAINTENANCE_WORK_MEM]], (long long) kb, lo, hi);
	return EXIT_USAGE;
}

static int
cmd_build(run_state *rs)
{
	build_summary sum = {0};
	build_env     env = {&rs->opts->set, &rs->opts->conn, rs->conn};
	int  present = 0, absent = 0, drifted = 0, skipped = 0, failed_critical = 0, failed_noncritical = 0;
	int  rc = EXIT_OK;
	bool work = false;
	char dur[32];

	report_foreign_leftovers(rs);
	for (int i = 0; i < rs->n_defs; i++)
	{
		plan_item       *it = &rs->plan[i];
		const index_def *d = it->def;

		switch (it->action)
		{
			case ACT_PRESENT:
				present++;
				break;
			case ACT_ABSENT:
				absent++;
				break;
			case ACT_DRIFTED:
				drifted++;
				log_event(LOG_LEVEL_WARNING, "drifted", NULL,
						  "\"%s\" on \"%s.%s\" drifted: %s; not replaced (pass --rebuild-drifted)", d->name,
						  d->schema, d->table, it->reason);
				break;
			case ACT_BUSY:
				skipped++;
				log_event(LOG_LEVEL_WARNING, "busy", NULL, "\"%s\" on \"%s.%s\" skipped: %s", d->name,
						  d->schema, d->table, it->reason);
				break;
			case ACT_UNKNOWN:
				if (it->cat->unknown && d->critical && d->state == INDEX_STATE_PRESENT)
				{
					/* its table is locked: whether it exists is not known */
					it->outcome = OUTCOME_FAILED;
					failed_critical++;
					log_event(LOG_LEVEL_ERROR, "failed", NULL, "critical index \"%s\" on \"%s.%s\": %s",
							  d->name, d->schema, d->table, it->reason);
				}
				else
				{
					skipped++;
					log_event(LOG_LEVEL_WARNING, "unknown", NULL, "\"%s\" on \"%s.%s\" left alone: %s",
							  d->name, d->schema, d->table, it->reason);
				}
				break;
			case ACT_ERROR:
				it->outcome = OUTCOME_FAILED;
				if (d->critical && d->state == INDEX_STATE_PRESENT)
				{
					failed_critical++;
					log_event(LOG_LEVEL_ERROR, "failed", NULL,
							  "critical index \"%s\" on \"%s.%s\" cannot be built: %s", d->name, d->schema,
							  d->table, it->reason);
				}
				else
				{
					failed_noncritical++;
					log_event(LOG_LEVEL_WARNING, "failed", NULL,
							  "\"%s\" on \"%s.%s\" skipped: %s (not critical: the run goes on)", d->name,
							  d->schema, d->table, it->reason);
				}
				break;
			default:
				work = true;
				break;
		}
	}

	if (work && (rc = check_memory_setting(rs)) != EXIT_OK)
		return rc;
	if (failed_critical > 0)
	{
		/* fatal before anything started: build nothing */
		if (work)
			log_event(LOG_LEVEL_ERROR, "not_building", NULL,
					  "a critical index cannot be built: nothing else is built on this run");
		rc = EXIT_CHANGE_FAILED;
	}
	else if (work)
		rc = build_run(rs->plan, rs->n_defs, &env, &sum);

	for (int i = 0; i < rs->n_defs; i++)
		if (plan_action_is_work(rs->plan[i].action) && rs->plan[i].outcome == OUTCOME_NONE)
			skipped++;
	failed_critical += sum.failed_critical;
	failed_noncritical += sum.failed_noncritical;

	format_duration(monotonic_ms() - rs->start_ms, dur, sizeof(dur));
	{
		char      b[16], p[16], r[16], rb[16], dr[16], fc[16], fn[16], sk[16];
		log_field fields[] = {{"built", b},
							  {"present", p},
							  {"repaired", r},
							  {"rebuilt", rb},
							  {"dropped", dr},
							  {"failed_critical", fc},
							  {"failed_noncritical", fn},
							  {"skipped", sk},
							  {NULL, NULL}};

		snprintf(b, sizeof(b), "%d", sum.built);
		snprintf(p, sizeof(p), "%d", present);
		snprintf(r, sizeof(r), "%d", sum.repaired);
		snprintf(rb, sizeof(rb), "%d", sum.rebuilt);
		snprintf(dr, sizeof(dr), "%d", sum.dropped);
		snprintf(fc, sizeof(fc), "%d", failed_critical);
		snprintf(fn, sizeof(fn), "%d", failed_noncritical);
		snprintf(sk, sizeof(sk), "%d", skipped + sum.interrupted);
		log_event(
			LOG_LEVEL_INFO, "summary", fields,
			"summary: %d built, %d present, %d repaired, %d rebuilt, %d dropped, %d absent, %d drifted, "
			"%d failed (%d critical, %d non-critical), %d skipped, %d interrupted, %d cleaned up; %s, %d catalog quer%s",
			sum.built, present, sum.repaired, sum.rebuilt, sum.dropped, absent, drifted,
			failed_critical + failed_noncritical, failed_critical, failed_noncritical, skipped,
			sum.interrupted, sum.cleaned, dur, rs->round_trips, rs->round_trips == 1 ? "y" : "ies");
	}
	if (rc == EXIT_OK && failed_critical > 0)
		rc = EXIT_CHANGE_FAILED;
	if (rc == EXIT_CHANGE_FAILED && failed_critical > 0)
		log_event(LOG_LEVEL_ERROR, "critical_failed", NULL, "%d critical index%s could not be built",
				  failed_critical, failed_critical == 1 ? "" : "es");
	else if (rc == EXIT_CHANGE_FAILED)
		log_event(LOG_LEVEL_ERROR, "run_failed", NULL, "the run stopped before its work was done: %d failed",
				  failed_noncritical);
	return rc;
}

static int
cmd_plan(run_state *rs)
{
	bool json = log_get_format() == LOG_FORMAT_JSON;
	int  counts[ACT_ERROR + 1] = {0};

	report_foreign_leftovers(rs);
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];
		const index_def *d = it->def;

		counts[it->action]++;
		if (json)
		{
			json_item(it, state_word(it));
			continue;
		}
		printf("%-8s %s on %s.%s%s%s%s%s\n", plan_action_name(it->action), d->name, d->schema, d->table,
			   it->partitioned && plan_action_is_work(it->action) ? " (partitioned: partition by partition)"
																  : "",
			   d->critical ? " (critical)" : "", it->reason ? ": " : "", it->reason ? it->reason : "");
		for (int k = 0; k < it->n_drop_first; k++)
			printf("%-8s %s on %s.%s: leftover of an interrupted rebuild\n", "drop", it->drop_first[k],
				   d->schema, d->table);
	}
	log_event(
		LOG_LEVEL_INFO, "plan", NULL,
		"plan: %d to build, %d to repair, %d to rebuild, %d to drop, %d to clean up, %d present, %d absent, %d drifted, %d busy, %d in error",
		counts[ACT_BUILD], counts[ACT_REPAIR], counts[ACT_REBUILD], counts[ACT_DROP], counts[ACT_CLEANUP],
		counts[ACT_PRESENT], counts[ACT_ABSENT], counts[ACT_DRIFTED], counts[ACT_BUSY], counts[ACT_ERROR]);
	return EXIT_OK;
}

static int
cmd_check(run_state *rs)
{
	int problems = 0;
	int checked = 0;

	report_foreign_leftovers(rs);
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];
		const index_def *d = it->def;
		const char      *what = NULL;
		bool             show;

		checked++;
		switch (it->action)
		{
			case ACT_PRESENT:
			case ACT_ABSENT:
			case ACT_CLEANUP:
				break;
			case ACT_BUILD:
				what = it->cat->rel_oid ? "is not valid" : "is missing";
				break;
			case ACT_REPAIR:
				what = "is invalid (left by a failed build)";
				break;
			case ACT_BUSY:
				what = "is being built (not valid yet)";
				break;
			case ACT_DRIFTED:
			case ACT_REBUILD:
				what = "drifted";
				break;
			case ACT_DROP:
				what = "exists but should be absent";
				break;
			case ACT_UNKNOWN:
				what = "is not known to be in line";
				break;
			case ACT_ERROR:
				what = "cannot be built";
				break;
		}
		if (what == NULL)
			continue;
		show = it->reason && it->action != ACT_REPAIR && !(it->action == ACT_BUILD && !it->cat->rel_oid);
		problems++;
		log_event(LOG_LEVEL_ERROR, "check_failed", NULL, "%sindex \"%s\" on \"%s.%s\" %s%s%s",
				  d->critical ? "critical " : "", d->name, d->schema, d->table, what, show ? ": " : "",
				  show ? it->reason : "");
	}
	if (problems > 0)
	{
		log_event(LOG_LEVEL_ERROR, "check", NULL,
				  "check: %d of %d defined index%s not in line with %s; run \"indexer build\"", problems,
				  checked, checked == 1 ? " is" : "es are", rs->cfg.path);
		return EXIT_BEHIND;
	}
	if (checked == 1)
		log_event(LOG_LEVEL_INFO, "check", NULL, "check: the 1 defined index checked is in line with %s",
				  rs->cfg.path);
	else
		log_event(LOG_LEVEL_INFO, "check", NULL, "check: all %d defined indexes checked are in line with %s",
				  checked, rs->cfg.path);
	return EXIT_OK;
}

static int
cmd_status(run_state *rs)
{
	bool           json = log_get_format() == LOG_FORMAT_JSON;
	const char   **schemas = xcalloc((size_t) (rs->n_defs + 1), sizeof(char *));
	const char   **tables = xcalloc((size_t) (rs->n_defs + 1), sizeof(char *));
	catalog_index *idx = NULL;
	int            n_idx;
	int            n_tables = 0;
	int            rc = EXIT_OK;

	report_foreign_leftovers(rs);
	if (!json)
		printf("%-40s %-36s %-9s %-8s %10s\n", "NAME", "TABLE", "STATE", "CRITICAL", "SIZE");
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];
		const index_def *d = it->def;
		char             table[160];

		/* a locked table was reported already: do not wait for it again */
		if (!it->cat->unknown)
		{
			schemas[n_tables] = d->schema;
			tables[n_tables++] = d->table;
		}
		if (json)
		{
			json_item(it, state_word(it));
			continue;
		}
		snprintf(table, sizeof(table), "%s.%s", d->schema, d->table);
		printf("%-40s %-36s %-9s %-8s %8lldkB\n", d->name, table, state_word(it), d->critical ? "yes" : "no",
			   (long long) it->cat->index_bytes / 1024);
		if (it->reason && it->action != ACT_PRESENT && it->action != ACT_ABSENT)
			printf("%40s %s\n", "", it->reason);
	}

	n_idx = catalog_indexes(rs->conn, schemas, tables, n_tables, rs->opts->set.lock_timeout_ms, &idx);
	rs->round_trips++;
	if (n_idx < 0)
		rc = cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	else
	{
		bool header = false;

		/* on the covered tables, but not in the file */
		for (int k = 0; k < n_idx; k++)
		{
			bool defined = false;

			for (int i = 0; i < rs->cfg.n_defs && !defined; i++)
				defined = rs->cfg.defs[i].name && strcmp(rs->cfg.defs[i].name, idx[k].name) == 0 &&
						  strcmp(rs->cfg.defs[i].schema, idx[k].schema) == 0;
			/* a definition's index that a constraint renamed (ADD CONSTRAINT ... USING INDEX) */
			for (int i = 0; i < rs->n_defs && !defined; i++)
				defined = rs->plan[i].owner_constraint && idx[k].constraints &&
						  strcmp(rs->plan[i].owner_constraint, idx[k].constraints) == 0 &&
						  strcmp(rs->plan[i].def->schema, idx[k].schema) == 0 &&
						  strcmp(rs->plan[i].def->table, idx[k].table) == 0;
			if (defined)
				continue;
			if (json)
			{
				strbuf sb;

				strbuf_init(&sb);
				strbuf_append(&sb, "{\"undefined\":");
				strbuf_append_json(&sb, idx[k].name);
				strbuf_append(&sb, ",\"schema\":");
				strbuf_append_json(&sb, idx[k].schema);
				strbuf_append(&sb, ",\"table\":");
				strbuf_append_json(&sb, idx[k].table);
				strbuf_append(&sb, ",\"definition\":");
				strbuf_append_json(&sb, idx[k].indexdef);
				strbuf_append(&sb, "}\n");
				fputs(sb.data, stdout);
				strbuf_free(&sb);
				continue;
			}
			if (!header)
				printf("\nnot in %s:\n", rs->cfg.path);
			header = true;
			printf("  %s.%s: %s%s%s%s\n", idx[k].schema, idx[k].table, idx[k].name,
				   idx[k].constraints ? " (constraint " : "", idx[k].constraints ? idx[k].constraints : "",
				   idx[k].constraints ? ")" : "");
		}

		/* duplicates: indexes of one table that index the same */
		header = false;
		for (int k = 0; k < n_idx; k++)
		{
			strbuf same;
			bool   first = true;

			for (int m = 0; m < k; m++)
				if (strcmp(idx[m].schema, idx[k].schema) == 0 && strcmp(idx[m].table, idx[k].table) == 0 &&
					strcmp(idx[m].signature, idx[k].signature) == 0)
					first = false;
			if (!first)
				continue;
			strbuf_init(&same);
			for (int m = k + 1; m < n_idx; m++)
				if (strcmp(idx[m].schema, idx[k].schema) == 0 && strcmp(idx[m].table, idx[k].table) == 0 &&
					strcmp(idx[m].signature, idx[k].signature) == 0)
					strbuf_appendf(&same, ", %s", idx[m].name);
			if (same.len > 0)
			{
				if (json)
				{
					strbuf sb;

					strbuf_init(&sb);
					strbuf_append(&sb, "{\"duplicates\":");
					strbuf_append_json(&sb, idx[k].name);
					strbuf_append(&sb, ",\"same_as\":");
					strbuf_append_json(&sb, same.data + 2);
					strbuf_append(&sb, ",\"table\":");
					strbuf_append_json(&sb, idx[k].table);
					strbuf_append(&sb, "}\n");
					fputs(sb.data, stdout);
					strbuf_free(&sb);
				}
				else
				{
					if (!header)
						printf("\nduplicates (the same columns, expressions, predicate and method):\n");
					header = true;
					printf("  %s.%s: %s%s\n", idx[k].schema, idx[k].table, idx[k].name, same.data);
				}
			}
			strbuf_free(&same);
		}
	}
	catalog_indexes_free(idx, n_idx);
	free(schemas);
	free(tables);
	return rc;
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
			o->only = xrealloc(o->only, sizeof(char *) * (size_t) (o->n_only + 1));
			o->only[o->n_only++] = xstrndup(p, len);
		}
		if (comma == NULL)
			break;
		p = comma + 1;
	}
}

/* Parse argv; EXIT_OK, EXIT_USAGE, or -1 for "done" (help, version). */
static int
parse_args(int argc, char **argv, indexer_options *o, const command **cmd)
{
	enum
	{
		OPT_DSN = 256,
		OPT_SCHEMA,
		OPT_ONLY,
		OPT_TABLE,
		OPT_CRITICAL_ONLY,
		OPT_REBUILD_DRIFTED,
		OPT_LOCK_TIMEOUT,
		OPT_STATEMENT_TIMEOUT,
		OPT_RETRIES,
		OPT_MWM,
		OPT_MPMW,
		OPT_LOCK_WAIT,
		OPT_WAIT,
		OPT_LOG_FORMAT,
		OPT_PROGRESS,
		OPT_NO_PROGRESS
	};
	static const struct option long_options[] = {
		{"config", required_argument, NULL, 'c'},
		{"dsn", required_argument, NULL, OPT_DSN},
		{"schema", required_argument, NULL, OPT_SCHEMA},
		{"jobs", required_argument, NULL, 'j'},
		{"only", required_argument, NULL, OPT_ONLY},
		{"table", required_argument, NULL, OPT_TABLE},
		{"critical-only", no_argument, NULL, OPT_CRITICAL_ONLY},
		{"rebuild-drifted", no_argument, NULL, OPT_REBUILD_DRIFTED},
		{"lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT},
		{"statement-timeout", required_argument, NULL, OPT_STATEMENT_TIMEOUT},
		{"retries", required_argument, NULL, OPT_RETRIES},
		{"maintenance-work-mem", required_argument, NULL, OPT_MWM},
		{"max-parallel-maintenance-workers", required_argument, NULL, OPT_MPMW},
		{"lock-wait", required_argument, NULL, OPT_LOCK_WAIT},
		{"wait", required_argument, NULL, OPT_WAIT},
		{"log-format", required_argument, NULL, OPT_LOG_FORMAT},
		{"progress", no_argument, NULL, OPT_PROGRESS},
		{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	log_format  format = LOG_FORMAT_TEXT;
	const char *env_format = getenv("INDEXER_LOG_FORMAT");
	int         c;

	/* the log format decides how option errors look: find it first */
	if (env_format)
		(void) log_parse_format(env_format, &format);
	format = log_format_from_argv(argc, argv, format);
	log_init(PROGNAME, format, 0);

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:j:qvVh", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'c':
				o->config_path = optarg;
				break;
			case OPT_DSN:
				o->conn.dsn = conn_take_dsn_arg(optarg);
				break;
			case OPT_SCHEMA:
				if (!add_cli(o, SETTING_SCHEMA, optarg))
					return EXIT_USAGE;
				break;
			case 'j':
				if (!add_cli(o, SETTING_JOBS, optarg))
					return EXIT_USAGE;
				break;
			case OPT_ONLY:
				add_only(o, optarg);
				break;
			case OPT_TABLE:
				if (optarg[0] == '\0')
				{
					log_error("option --table: empty name");
					return EXIT_USAGE;
				}
				o->table = optarg;
				break;
			case OPT_CRITICAL_ONLY:
				o->critical_only = true;
				break;
			case OPT_REBUILD_DRIFTED:
				o->rebuild_drifted = true;
				break;
			case OPT_LOCK_TIMEOUT:
				if (!add_cli(o, SETTING_LOCK_TIMEOUT, optarg))
					return EXIT_USAGE;
				break;
			case OPT_STATEMENT_TIMEOUT:
				if (!add_cli(o, SETTING_STATEMENT_TIMEOUT, optarg))
					return EXIT_USAGE;
				break;
			case OPT_RETRIES:
				if (!add_cli(o, SETTING_RETRIES, optarg))
					return EXIT_USAGE;
				break;
			case OPT_MWM:
				if (!add_cli(o, SETTING_MAINTENANCE_WORK_MEM, optarg))
					return EXIT_USAGE;
				break;
			case OPT_MPMW:
				if (!add_cli(o, SETTING_MAX_PARALLEL_MAINTENANCE_WORKERS, optarg))
					return EXIT_USAGE;
				break;
			case OPT_LOCK_WAIT:
				if (!add_cli(o, SETTING_LOCK_WAIT, optarg))
					return EXIT_USAGE;
				break;
			case OPT_WAIT:
				if (!add_cli(o, SETTING_WAIT, optarg))
					return EXIT_USAGE;
				break;
			case OPT_LOG_FORMAT:
				if (!add_cli(o, SETTING_LOG_FORMAT, optarg))
					return EXIT_USAGE;
				break;
			case OPT_PROGRESS:
				if (!add_cli(o, SETTING_PROGRESS, "true"))
					return EXIT_USAGE;
				break;
			case OPT_NO_PROGRESS:
				if (!add_cli(o, SETTING_PROGRESS, "false"))
					return EXIT_USAGE;
				break;
			case 'q':
				o->verbosity = -1;
				break;
			case 'v':
				o->verbosity = 1;
				break;
			case 'V':
				printf("%s %s\n", PROGNAME, INDEXER_VERSION);
				return -1;
			case 'h':
				usage(stdout);
				return -1;
			default:
				if (optopt && optopt < 256)
					log_error("invalid option -%c (try \"%s --help\")", optopt, PROGNAME);
				else
					log_error("invalid option \"%s\" (try \"%s --help\")", argv[optind - 1], PROGNAME);
				return EXIT_USAGE;
		}
	}

	*cmd = &commands[0];
	if (optind < argc)
	{
		*cmd = find_command(argv[optind]);
		if (*cmd == NULL)
		{
			log_error("unknown command \"%s\" (try \"%s --help\")", argv[optind], PROGNAME);
			return EXIT_USAGE;
		}
		optind++;
	}
	if (optind < argc)
	{
		log_error("unexpected argument \"%s\" (try \"%s --help\")", argv[optind], PROGNAME);
		return EXIT_USAGE;
	}
	if (o->rebuild_drifted && (*cmd)->fn != cmd_build && (*cmd)->fn != cmd_plan)
	{
		log_error("option --rebuild-drifted applies to build and plan only");
		return EXIT_USAGE;
	}
	return EXIT_OK;
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
	rc = config_load(o->config_path, &rs->cfg);
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

static int
run_command(const command *cmd, run_state *rs)
{
	indexer_options *o = rs->opts;
	plan_options     popts = {o->rebuild_drifted, o->set.lock_timeout_ms};
	int              rc;

	/* everything about the input first: a bad file fails before any connection */
	rc = load_definitions(o, rs);
	if (rc == EXIT_OK)
		rc = select_definitions(o, rs);
	if (rc != EXIT_OK)
		return rc;

	rc = conn_open(&o->conn, &rs->conn);
	if (rc != EXIT_OK)
		return rc;
	if (cmd->flags & CMD_LOCK)
	{
		/* one run per database */
		rs->lock_name = advlock_name_indexer(PQdb(rs->conn));
		rc = advlock_acquire(rs->conn, rs->lock_name, o->set.lock_wait_ms, PROGNAME);
		if (rc != EXIT_OK)
			return rc;
		rs->locked = true;
	}
	rc = catalog_load(rs->conn, rs->defs, rs->n_defs, o->set.lock_timeout_ms, &rs->cat, &rs->round_trips);
	if (rc != EXIT_OK)
		return rc;
	rs->plan = plan_make(rs->conn, rs->defs, rs->cat, rs->n_defs, &popts, &rs->round_trips);
	if (cancel_pending())
		return cancel_exit_code();
	return cmd->fn(rs);
}

int
main(int argc, char **argv)
{
	indexer_options opts;
	const command  *cmd = NULL;
	run_state       rs;
	int             rc;

	memset(&opts, 0, sizeof(opts));
	memset(&rs, 0, sizeof(rs));
	settings_init(&opts.set);
	opts.conn.schema = opts.set.schema;
	opts.conn.progname = PROGNAME;
	rs.start_ms = monotonic_ms();

	cancel_install_handlers();
	rc = parse_args(argc, argv, &opts, &cmd);
	if (rc == -1)
		rc = EXIT_OK;
	else if (rc == EXIT_OK)
	{
		rs.opts = &opts;
		rc = run_command(cmd, &rs);
		/* a signal wins over whatever the interrupted step returned */
		if (cancel_pending())
			rc = cancel_exit_code();
	}

	/* after a signal, closing the connection releases the lock */
	if (rs.locked && !cancel_pending() && PQstatus(rs.conn) == CONNECTION_OK)
		advlock_release(rs.conn, rs.lock_name);
	free(rs.lock_name);
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
