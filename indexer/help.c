/*-------------------------------------------------------------------------
 *
 * help.c
 *	  indexer --help: the text, in pieces around the numbers it names.
 *
 * indexer/help.c
 *
 *-------------------------------------------------------------------------
 */
#include "help.h"

#include "build.h"
#include "exitcodes.h"
#include "indexer.h"
#include "settings.h"

/* --help after the commands, in pieces around the two numbers it names */
static const char help_options[] =
	"\n"
	"Options:\n"
	"  -c, --config=FILE          definitions file (default $INDEXER_CONFIG, else \"" INDEXER_DEFAULT_CONFIG
	"\")\n"
	"      --dsn=DSN              connection string or URI (default $DATABASE_URL, else libpq's PG* variables)\n"
	"      --schema=NAME          schema of definitions without one, and search_path (default \"public\")\n";
static const char help_settings[] =
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
	"      --wait=DUR             keep retrying the first connection while the server is down or drops it (default 0)\n"
	"      --progress, --no-progress  show build progress (default on: a bar on a terminal, else a line\n"
	"                             every 10s)\n"
	"      --window=[DAYS ]HH:MM-HH:MM  build and plan: builds start only inside it (repeatable: the union;\n"
	"                             DAYS like Sat-Sun or Mon,Wed; may cross midnight; \"any\" = always)\n"
	"      --time-zone=ZONE       IANA zone of the windows (default UTC)\n"
	"      --max-runtime=DUR      no build or drop starts once the run has lasted DUR; those in flight finish\n"
	"      --max-builds=N         start at most N builds (build, repair, rebuild) per run\n"
	"      --max-index-size=SIZE  refuse a build whose estimated size exceeds SIZE (e.g. 10GB)\n"
	"      --allow-unknown-size   with --max-index-size: build what cannot be estimated (default: refuse)\n"
	"      --max-replica-lag=DUR  before each build, wait while a replica's replay_lag exceeds DUR (default off)\n"
	"      --max-replica-lag-bytes=SIZE  ... or while a replica is more than SIZE of WAL behind (default off)\n"
	"      --replica-lag-wait=DUR how long a run waits, in all, for the replicas, then defers (default 5min;\n"
	"                             0 = defer at once)\n"
	"      --max-slot-wal=SIZE    defer builds while an inactive replication slot retains more than SIZE of\n"
	"                             WAL, or has lost it (default 1GB; 0 or off = no check)\n"
	"      --record-schema=NAME   build, plan, history: schema of the history table indexer_history (default\n"
	"                             the --schema; it must exist)\n"
	"      --create-schema        build: create the --record-schema when it does not exist\n"
	"      --no-record            build: write no history (the database is left untouched); plan: no backoff\n"
	"      --keep=DUR             build: delete history rows older than DUR (default 90 days; 0 = keep all)\n"
	"      --backoff-after=N      build: after N failed runs in a row a definition waits, 1h doubling to\n"
	"                             a day, before it is tried again (default 3; 0 = never); plan shows it;\n"
	"                             a guard's refusal (history action \"refused\") does not count\n"
	"      --retry-failed         build: try the definitions that back off now (plan: as build would)\n"
	"      --since=DUR            history: only the rows of the last DUR (e.g. 1d, 12h)\n"
	"      --metrics-file=PATH    build, plan, check, status: write every definition's state, this run's\n"
	"                             builds, deferrals, last run and last success as Prometheus text for\n"
	"                             node_exporter's textfile collector, replaced atomically; a path\n"
	"                             that cannot be written is exit 2 before anything is built\n"
	"      --metrics-push=URL     the same: push the text to a Pushgateway, e.g.\n"
	"                             http://host:9091/metrics/job/indexer (loads libcurl). Metrics not\n"
	"                             delivered: an error, and exit 1 if the run had succeeded\n"
	"      --log-format=FORMAT    text (default) or json: one JSON object a line on stderr\n"
	"      --color=WHEN           colour errors, warnings and states: auto (default: on a terminal,\n"
	"                             unless NO_COLOR is set), always or never; JSON is never coloured\n"
	"  -q, --quiet                only warnings and errors\n"
	"  -v, --verbose              also debug messages (each statement as it is sent)\n"
	"  -V, --version              print the version and exit (it takes no value)\n"
	"  -h, --help                 show this help and exit\n"
	"\n" CONN_HELP "\n"
	"Durations take a unit: 500ms, 5s, 2min, 1h; 0 means none. Sizes: kB, MB, GB, TB.\n"
	"Every option except --config, --dsn and the command-only ones may also be set in the file's\n"
	"settings group (jobs = 2; lock_timeout = \"5s\"; ...) or in the environment as INDEXER_<OPTION>\n"
	"(INDEXER_JOBS, INDEXER_LOCK_TIMEOUT, ...); the command line wins over the environment, which\n"
	"wins over the file. No connection strings or passwords in the file. The history options are\n"
	"settings too (record_schema = \"ops\"; keep = \"30d\"; backoff_after = 5; INDEXER_KEEP=30d); a\n"
	"flag takes true or false there (no_record = true, INDEXER_RETRY_FAILED=true, ...).\n"
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
	"builds in flight finish. On SIGINT/SIGTERM the builds are cancelled and their leftovers dropped\n";
static const char help_decisions[] =
	"\n"
	"When and how much: outside every --window, build plans, names each build that waits and when\n"
	"the window opens, and exits 0 (a definition's own window = \"any\" or window = \"...\" wins).\n"
	"What --window, --max-builds and --max-runtime defer is listed and counted, exit 0, critical or\n"
	"not; drops of absent indexes are not builds and never wait. A migration's requires-index build\n"
	"ignores them all. plan prints each build's size estimate (\"unknown\" when there is none); a\n"
	"build over --max-index-size, or of unknown size without --allow-unknown-size, is refused:\n"
	"exit 1 for a critical definition, a warning otherwise.\n"
	"\n"
	"Replicas: before each build on a primary, every replica in pg_stat_replication is read (the\n"
	"role needs pg_monitor: GRANT pg_monitor TO ...; without it the lag cannot be read and builds\n"
	"wait). While one is over --max-replica-lag or --max-replica-lag-bytes, or an inactive slot\n"
	"retains more than --max-slot-wal, the build waits (polled every second, at most\n"
	"--replica-lag-wait in all, --max-runtime or the window's end), then is deferred (exit 0), naming\n"
	"the replica or slot and how far behind; a critical one is refused (exit 1, the guard named).\n"
	"A NULL replay_lag counts as 0 only when the replica has replayed all WAL; else it fails closed.\n"
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
	"\n" EXIT_CODES_HELP
	"With indexer, 1 means a critical index could not be built (plan: cannot be, so build would\n"
	"exit 1), a critical one backs off after repeated failures, or the history table could not be\n"
	"written although the builds succeeded; 5 (check) means a defined index is missing, invalid\n"
	"or drifted.\n";

void
indexer_help(FILE *out, const cli_program *program)
{
	fprintf(out,
			"%s brings a database's indexes in line with a definitions file, online.\n"
			"CREATE INDEX CONCURRENTLY, never blocking writes; safe to run from cron.\n"
			"\n"
			"Usage: %s [COMMAND] [OPTION]...\n"
			"\n"
			"Commands:\n",
			PROGNAME, PROGNAME);
	cli_print_commands(program, out);
	fputs(help_options, out);
	fprintf(
		out,
		"  -j, --jobs=N               build on up to N connections at once, one table each (default 1, at most %d)\n",
		INDEXER_MAX_JOBS);
	fputs(help_settings, out);
	fprintf(out, "within %ds; what cannot be dropped in time is named, and the next run repairs it.\n",
			BUILD_CLEANUP_BOUND_MS / 1000);
	fputs(help_decisions, out);
}
