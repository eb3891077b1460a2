/*-------------------------------------------------------------------------
 *
 * main.c
 *	  migrator: apply numbered DDL migrations, fail-hard.
 *
 * Commands come from one table whose flags say what the dispatcher sets up
 * before calling (a connection, the run lock).  Only main() exits; every
 * command returns a code of the toolkit's exit-code table.
 *
 * migrator/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "advlock.h"
#include "apply.h"
#include "baseline.h"
#include "cancel.h"
#include "conn.h"
#include "exitcodes.h"
#include "history.h"
#include "log.h"
#include "memory.h"
#include "migration_files.h"
#include "migration_lint.h"
#include "options.h"
#include "preflight.h"
#include "query.h"
#include "required_index.h"
#include "retry.h"

#define PROGNAME         "migrator"
#define MIGRATOR_VERSION "0.1.0"

typedef struct migrator_options
{
	const char     *dir;
	conn_options    conn;
	const char     *history_table;
	int64_t         lock_wait_ms;
	apply_settings  apply;
	bool            out_of_order;
	bool            forget_missing;
	bool            forget_ahead;
	int64_t         target; /* --target; 0 = every pending version */
	const char     *role;   /* --role; NULL = the login role */
	preflight_mode  preflight;
	int64_t         wait_current_ms; /* check --wait-current */
	baseline_source baseline_from;
	int64_t         baseline_version; /* baseline --version */
	int64_t        *skip_verify;      /* baseline --skip-verify, repeatable */
	int             n_skip_verify;
	bool            no_verify;     /* baseline --no-verify */
	bool            create_schema; /* up, baseline: create --schema if missing */
	bool            timestamp;     /* new --timestamp */
	bool            strict;        /* lint warnings are errors */
	const char     *index_config;  /* the indexer's config, for requires-index */
	const char     *arg;           /* the command's argument (new NAME) */
} migrator_options;

/* What the dispatcher has set up for a command. */
typedef struct run_state
{
	const migrator_options *opts;
	migration_set           files;
	PGconn                 *conn;
	PGconn                 *lock_conn; /* holds the run lock, runs nothing else */
	history_table           ht;
	history                 hist;
	bool                    locked;
	char                   *lock_name;
	required_indexes       *required; /* definitions pending migrations require */
} run_state;

/* How a version stands, files against history. */
typedef enum version_state
{
	VS_APPLIED,
	VS_PENDING,
	VS_FAILED,  /* a no-transaction run failed; runs again */
	VS_CHANGED, /* applied, file differs */
	VS_MISSING, /* applied, file gone */
	VS_AHEAD    /* applied, newer than every file: a newer
								 * release migrated this database */
} version_state;

static const char *const state_names[] = {"applied", "pending", "failed", "changed", "missing", "ahead"};

typedef struct version_item
{
	int64_t            version;
	migration         *m;   /* NULL when missing */
	const history_row *row; /* NULL when never run */
	version_state      state;
} version_item;

typedef struct reconciliation
{
	version_item *items; /* by version */
	int           n;
	int           n_pending;  /* pending + failed */
	int           n_mismatch; /* changed + missing */
	int           n_out_of_order;
	int           n_ahead; /* history rows above the newest file */
	int64_t       max_applied;
} reconciliation;

#define CMD_CONNECT     0x1  /* needs a connection and the history */
#define CMD_LOCK        0x2  /* takes the run lock before reading history */
#define CMD_OWN_HISTORY 0x4  /* reads the history itself (baseline) */
#define CMD_ARG         0x8  /* takes one argument (new NAME) */
#define CMD_CREATES     0x10 /* may create --schema, with --create-schema */

typedef struct command
{
	const char *name;
	int (*fn)(run_state *rs);
	unsigned    flags;
	const char *summary;
} command;

static int cmd_up(run_state *rs);
static int cmd_status(run_state *rs);
static int cmd_check(run_state *rs);
static int cmd_plan(run_state *rs);
static int cmd_repair(run_state *rs);
static int cmd_baseline(run_state *rs);
static int cmd_new(run_state *rs);
static int cmd_lint(run_state *rs);

static const command commands[] = {
	{"up", cmd_up, CMD_CONNECT | CMD_LOCK | CMD_CREATES,
	 "apply every pending migration, in order, fail-hard (default)"},
	{"status", cmd_status, CMD_CONNECT,
	 "list every version: applied, pending, failed, changed, missing, ahead"},
	{"check", cmd_check, CMD_CONNECT, "start-up gate: exit 0 if current, 5 if behind, 6 on a mismatch"},
	{"plan", cmd_plan, CMD_CONNECT | CMD_CREATES, "show what up would run; touches and creates nothing"},
	{"repair", cmd_repair, CMD_CONNECT | CMD_LOCK,
	 "record the current checksums of deliberately changed files"},
	{"baseline", cmd_baseline, CMD_CONNECT | CMD_LOCK | CMD_OWN_HISTORY | CMD_CREATES,
	 "adopt a database: record files as applied without running them"},
	{"new", cmd_new, CMD_ARG, "write the next migration file and its verify file: new NAME"},
	{"lint", cmd_lint, 0, "check every file with PostgreSQL's parser and the DDL-only rules; offline"},
};

static void
usage(FILE *out)
{
	fprintf(out,
			"%s applies numbered, DDL-only PostgreSQL migrations, fail-hard.\n"
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
		"      --wait=DUR             keep retrying the first connection while the server is down (default 0)\n"
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
		"      --version=N            baseline: record every file up to version N (a file's version)\n"
		"                             as applied, after their verify files hold (read-only)\n"
		"      --from=TOOL            baseline: import applied versions from dbmate, golang-migrate\n"
		"                             or flyway (their table is renamed if it has our table's name)\n"
		"      --skip-verify=VERSION  baseline: do not run that migration's verify file (repeatable;\n"
		"                             recorded in the history's baseline column)\n"
		"      --no-verify            baseline: run no verify file (a warning; recorded likewise)\n"
		"      --timestamp            new: use a UTC timestamp (YYYYMMDDHHMMSS) as the version\n"
		"      --strict               lint, up, plan: lint warnings are errors\n"
		"      --index-config=FILE    the indexer's definitions, for -- migrator:requires-index NAME\n"
		"                             (default $INDEXER_CONFIG, else conf/indexes.cfg)\n"
		"      --log-format=FORMAT    text (default) or json: one JSON object a line on stderr\n"
		"  -q, --quiet                only warnings and errors\n"
		"  -v, --verbose              also debug messages (each statement as it runs)\n"
		"  -V, --version              print the version and exit\n"
		"  -h, --help                 show this help and exit\n"
		"\n"
		"%s"
		"\n"
		"Durations take a unit: 500ms, 5s, 2min, 1h; 0 means none.\n"
		"\n"
		"Files: <version>_<name>.sql (version a positive integer; 0109 and 109 are the same),\n"
		"optional <version>_<name>.verify.sql with SELECTs that must all return true.\n"
		"Directives (leading comment block): -- migrator:no-transaction, -- migrator:allow-dml,\n"
		"-- migrator:requires-index NAME; right above one statement: -- migrator:allow RULE\n"
		"up and plan lint the pending files first (see \"migrator lint\"): an error applies nothing.\n"
		"Forward only: there are no down migrations; fix forward with a new version.\n"
		"\n"
		"A granted lock is held until the migration commits: --lock-timeout bounds the wait\n"
		"for a lock, not how long a table rewrite blocks traffic. Keep migrations short.\n"
		"The run lock is a session advisory lock: connect directly, not through a pooler in\n"
		"transaction mode.\n"
		"\n" EXIT_CODES_HELP,
		CONN_HELP);
}

static const command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/*
 * Files against history.  Sets the counts; never fails.
 */
static void
reconcile(const run_state *rs, reconciliation *rec)
{
	const migration_set *files = &rs->files;
	const history       *h = &rs->hist;
	int                  fi = 0, hi = 0;

	memset(rec, 0, sizeof(*rec));
	rec->items = xcalloc((size_t) (files->n + h->n + 1), sizeof(version_item));
	for (int i = 0; i < h->n; i++)
		if (strcmp(h->rows[i].status, "applied") == 0 && h->rows[i].version > rec->max_applied)
			rec->max_applied = h->rows[i].version;

	/* both lists are sorted by version: merge them */
	while (fi < files->n || hi < h->n)
	{
		version_item      *it = &rec->items[rec->n++];
		migration         *m = fi < files->n ? &files->items[fi] : NULL;
		const history_row *r = hi < h->n ? &h->rows[hi] : NULL;

		if (m && r && m->version == r->version)
		{
			fi++, hi++;
			it->m = m;
			it->row = r;
			if (strcmp(r->status, "failed") == 0)
				it->state = VS_FAILED;
			else if (strcmp(r->checksum, m->checksum) != 0)
				it->state = VS_CHANGED;
			else
				it->state = VS_APPLIED;
		}
		else if (m && (!r || m->version < r->version))
		{
			fi++;
			it->m = m;
			it->state = VS_PENDING;
			if (m->version < rec->max_applied)
				rec->n_out_of_order++;
		}
		else
		{
			hi++;
			it->row = r;

			/*
			 * Above the newest file, the database is ahead of these files:
			 * a newer release migrated it and this one (a rollback of the
			 * application, an old pod restarting) must still start.  A
			 * gap below the newest file, or no files at all (a wrong
			 * --dir?), is a file that went missing.
			 */
			if (files->n > 0 && r->version > files->items[files->n - 1].version)
			{
				it->state = VS_AHEAD;
				rec->n_ahead++;
			}
			else
				it->state = VS_MISSING;
		}
		it->version = it->m ? it->m->version : it->row->version;
		if (it->state == VS_PENDING || it->state == VS_FAILED)
			rec->n_pending++;
		if (it->state == VS_CHANGED || it->state == VS_MISSING)
			rec->n_mismatch++;
	}
}

/* "user@host:port/db" of the target, never a password; caller frees. */
static char *
target_name(const run_state *rs)
{
	char *d = conn_describe_dsn(conn_resolve_dsn(&rs->opts->conn, NULL));

	return d ? d : xstrdup("the database");
}

/*
 * No history row has a file: this is the wrong --dir (a typo, the wrong
 * release's directory) or the wrong database (another application's, of
 * the same history shape).  Advising "repair --forget-missing" there would
 * wipe a correct history.  Logs and returns true when so.
 */
static bool
report_wrong_target(const run_state *rs, const reconciliation *rec)
{
	int   with_file = 0;
	char *target;

	if (rs->hist.n == 0)
		return false;
	for (int i = 0; i < rec->n; i++)
		with_file += rec->items[i].row != NULL && rec->items[i].m != NULL;
	if (with_file > 0)
		return false;
	target = target_name(rs);
	log_event(
		LOG_LEVEL_ERROR, "wrong_dir_or_database", NULL,
		"none of the %d version%s recorded in \"%s\" of %s (%lld to %lld) has a file in \"%s\" (%d file%s there): this is the wrong --dir or the wrong database; nothing was changed",
		rs->hist.n, rs->hist.n == 1 ? "" : "s", rs->ht.display, target, (long long) rs->hist.rows[0].version,
		(long long) rs->hist.rows[rs->hist.n - 1].version, rs->opts->dir, rs->files.n,
		rs->files.n == 1 ? "" : "s");
	free(target);
	return true;
}

/*
 * What lint needs from the run's options.  --lock-timeout always has a value
 * (5s by default); --statement-timeout is known only when it sets a bound,
 * else the session keeps the operator's own, which lint cannot see.
 */
static lint_file_options
lint_options(const run_state *rs)
{
	lint_file_options o = {0};

	o.strict = rs->opts->strict;
	o.schema = rs->opts->conn.schema;
	o.lock_timeout_known = true;
	o.lock_timeout_ms = rs->opts->apply.lock_timeout_ms;
	o.statement_timeout_known = rs->opts->apply.statement_timeout_ms > 0;
	o.statement_timeout_ms = rs->opts->apply.statement_timeout_ms;
	return o;
}

/* Log every mismatch, naming the database; returns EXIT_HISTORY_MISMATCH if any. */
static int
report_mismatches(const run_state *rs, const reconciliation *rec)
{
	char *target;

	if (report_wrong_target(rs, rec))
		return EXIT_HISTORY_MISMATCH;
	target = target_name(rs);
	for (int i = 0; i < rec->n; i++)
	{
		const version_item *it = &rec->items[i];

		if (it->state == VS_CHANGED)
			log_event(
				LOG_LEVEL_ERROR, "checksum_mismatch", NULL,
				"%s: applied migration %lld changed since it was applied to %s (checksum %.12s..., file now %.12s...); restore the file, or run \"migrator repair\" if the change is deliberate",
				it->m->path, (long long) it->version, target, it->row->checksum, it->m->checksum);
		else if (it->state == VS_MISSING)
			log_event(
				LOG_LEVEL_ERROR, "missing_file", NULL,
				"applied migration %lld (%s) is missing from \"%s\" (applied to %s); restore the file, or run \"migrator repair --forget-missing\"",
				(long long) it->version, it->row->name, rs->opts->dir, target);
	}
	if (rec->n_ahead > 0 && rec->n_mismatch == 0)
	{
		const version_item *last = &rec->items[rec->n - 1];

		log_event(
			LOG_LEVEL_WARNING, "database_ahead", NULL,
			"the database is ahead of these files: %d newer version%s applied (up to %lld, \"%s\"), newest file here %lld; a newer release migrated it, nothing to do",
			rec->n_ahead, rec->n_ahead == 1 ? "" : "s", (long long) last->version, last->row->name,
			(long long) rs->files.items[rs->files.n - 1].version);
	}
	if (rec->n_mismatch > 0)
	{
		log_event(
			LOG_LEVEL_ERROR, "history_mismatch", NULL,
			"the history disagrees with the files: %d mismatch%s (history \"%s\" of %s, files in \"%s\")",
			rec->n_mismatch, rec->n_mismatch == 1 ? "" : "es", rs->ht.display, target, rs->opts->dir);
		free(target);
		return EXIT_HISTORY_MISMATCH;
	}
	free(target);
	return EXIT_OK;
}

static int
report_out_of_order(const run_state *rs, const reconciliation *rec)
{
	if (rec->n_out_of_order == 0 || rs->opts->out_of_order)
		return EXIT_OK;
	for (int i = 0; i < rec->n; i++)
	{
		const version_item *it = &rec->items[i];

		if (it->state == VS_PENDING && it->version < rec->max_applied)
			log_event(
				LOG_LEVEL_ERROR, "out_of_order", NULL,
				"%s: version %lld is pending but version %lld is already applied; renumber it, or pass --out-of-order",
				it->m->path, (long long) it->version, (long long) rec->max_applied);
	}
	return EXIT_USAGE;
}

/* Will up (or plan) run this version?  Pending or failed, up to --target. */
static bool
selected(const run_state *rs, const version_item *it)
{
	if (it->state != VS_PENDING && it->state != VS_FAILED)
		return false;
	return rs->opts->target == 0 || it->version <= rs->opts->target;
}

/* --target must name a file; a target at or below the applied ones is a no-op. */
static int
check_target(const run_state *rs)
{
	if (rs->opts->target != 0 && migration_set_find(&rs->files, rs->opts->target) == NULL)
	{
		log_event(LOG_LEVEL_ERROR, "invalid_target", NULL,
				  "--target %lld: no migration file in \"%s\" has that version", (long long) rs->opts->target,
				  rs->opts->dir);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/*
 * Everything up and plan check before the first statement runs: the
 * history against the files, the order, the target, and the SQL of every
 * selected file (parsed, so that a syntax error in the last of them applies
 * none).  Returns the number selected in *n_selected.
 */
static int
prepare_run(run_state *rs, reconciliation *rec, int *n_selected)
{
	int rc;

	*n_selected = 0;
	reconcile(rs, rec);
	rc = report_mismatches(rs, rec);
	if (rc == EXIT_OK)
		rc = report_out_of_order(rs, rec);
	if (rc == EXIT_OK)
		rc = check_target(rs);
	if (rc != EXIT_OK)
		return rc;
	for (int i = 0; i < rec->n; i++)
	{
		version_item *it = &rec->items[i];

		if (!selected(rs, it))
			continue;
		(*n_selected)++;
		if (migration_parse(it->m) != EXIT_OK)
			rc = EXIT_USAGE;
	}
	if (rc != EXIT_OK)
	{
		log_event(LOG_LEVEL_ERROR, "not_applied", NULL,
				  "a pending migration does not parse; nothing applied");
		return rc;
	}

	/* lint what is about to run; applied files never block a run */
	{
		lint_totals       totals = {0};
		lint_file_options lopts = lint_options(rs);

		for (int i = 0; i < rec->n; i++)
			if (selected(rs, &rec->items[i]))
				migration_lint(rec->items[i].m, &lopts, false, &totals);
		if (totals.errors > 0)
		{
			log_event(LOG_LEVEL_ERROR, "lint_failed", NULL,
					  "lint: %d error%s in the pending migrations; nothing applied (see \"migrator lint\")",
					  totals.errors, totals.errors == 1 ? "" : "s");
			return EXIT_USAGE;
		}
	}

	/* the indexes they require: defined, and the config valid, before anything runs */
	{
		migration **list = xcalloc((size_t) *n_selected + 1, sizeof(migration *));
		int         n = 0;

		for (int i = 0; i < rec->n; i++)
			if (selected(rs, &rec->items[i]))
				list[n++] = rec->items[i].m;
		rc = required_load(rs->opts->index_config, rs->opts->conn.schema, list, n, &rs->required);
		free(list);
	}
	return rc;
}

static const version_item *
first_pending(const reconciliation *rec)
{
	for (int i = 0; i < rec->n; i++)
		if (rec->items[i].state == VS_PENDING || rec->items[i].state == VS_FAILED)
			return &rec->items[i];
	return NULL;
}

static int
run_preflight(run_state *rs, reconciliation *rec, int n_selected)
{
	migration **list = xcalloc((size_t) n_selected + 1, sizeof(migration *));
	int         n = 0;
	int         rc;

	for (int i = 0; i < rec->n; i++)
		if (selected(rs, &rec->items[i]))
			list[n++] = rec->items[i].m;
	rc = preflight_run(rs->conn, rs->opts->conn.schema, list, n, rs->opts->apply.lock_timeout_ms,
					   rs->opts->preflight);
	free(list);
	return rc;
}

static int
cmd_up(run_state *rs)
{
	reconciliation rec;
	apply_ctx      ctx = {0};
	int            rc;
	int            applied = 0;
	int            n_selected;
	int64_t        start = monotonic_ms();
	int64_t        current = 0;
	char          *final_error = NULL;

	rc = prepare_run(rs, &rec, &n_selected);
	if (rc != EXIT_OK)
		goto done;
	current = rec.max_applied;
	if (n_selected == 0)
	{
		if (rec.n_pending > 0)
			log_event(LOG_LEVEL_INFO, "up_to_date", NULL,
					  "nothing to apply up to --target %lld: version %lld is applied (%d pending after it)",
					  (long long) rs->opts->target, (long long) current, rec.n_pending);
		else
			log_event(LOG_LEVEL_INFO, "up_to_date", NULL,
					  "nothing to apply: schema is current at version %lld (%d migration%s)",
					  (long long) current, rs->files.n, rs->files.n == 1 ? "" : "s");
		goto done;
	}
	rc = run_preflight(rs, &rec, n_selected);
	if (rc != EXIT_OK)
		goto done;
	if (!rs->hist.exists && (rc = history_ensure(rs->conn, &rs->ht)) != EXIT_OK)
		goto done;

	ctx.conn = rs->conn;
	ctx.conn_opts = &rs->opts->conn;
	ctx.ht = &rs->ht;
	ctx.settings = rs->opts->apply;
	ctx.role = rs->opts->role;
	ctx.lock_conn = rs->lock_conn;
	ctx.lock_name = rs->lock_name;
	ctx.lock_wait_ms = rs->opts->lock_wait_ms;
	for (int i = 0; i < rec.n; i++)
	{
		version_item *it = &rec.items[i];

		if (!selected(rs, it))
			continue;
		if (cancel_pending())
		{
			final_error = xasprintf("interrupted by %s before migration %lld: nothing recorded for it",
									cancel_signal_name(), (long long) it->version);
			rc = cancel_exit_code();
			break;
		}
		rc = required_build(rs->required, it->m, rs->conn, &rs->opts->conn, rs->opts->apply.lock_timeout_ms,
							rs->opts->apply.statement_timeout_ms < 0 ? 0
																	 : rs->opts->apply.statement_timeout_ms,
							rs->opts->apply.retries, rs->opts->lock_wait_ms, &final_error);
		if (rc != EXIT_OK)
			break;
		rc = apply_migration(&ctx, it->m, &final_error);
		if (rc != EXIT_OK)
			break;
		applied++;
		if (it->version > current)
			current = it->version;
	}
	apply_ctx_close(&ctx);
	if (rc == EXIT_OK && rec.n_pending > applied)
		log_event(LOG_LEVEL_INFO, "up_done", NULL,
				  "applied %d migration%s in %lldms; stopped at --target %lld (%d pending after it)", applied,
				  applied == 1 ? "" : "s", (long long) (monotonic_ms() - start), (long long) rs->opts->target,
				  rec.n_pending - applied);
	else if (rc == EXIT_OK)
		log_event(LOG_LEVEL_INFO, "up_done", NULL,
				  "applied %d migration%s in %lldms; schema is current at version %lld", applied,
				  applied == 1 ? "" : "s", (long long) (monotonic_ms() - start), (long long) current);
	else if (applied > 0)
		log_event(LOG_LEVEL_WARNING, "up_partial", NULL,
				  "%d migration%s applied before the failure; nothing after it ran", applied,
				  applied == 1 ? "" : "s");

done:
	/* the failure is the last line of the run, after every other message */
	if (final_error)
	{
		log_event(LOG_LEVEL_ERROR, "migration_failed", NULL, "%s", final_error);
		free(final_error);
	}
	free(rec.items);
	return rc;
}

/*
 * check --wait-current keeps waiting through a server restart: when the
 * connection is gone, open a new one, waiting for the server up to the
 * deadline.  A cheap probe first, so that a restart is not an error line.
 */
static int
reconnect_if_lost(run_state *rs, int64_t deadline)
{
	conn_options copts = rs->opts->conn;
	db_error     err = {0};
	char        *why;

	if (db_run(rs->conn, "SELECT 1", 0, NULL, PGRES_TUPLES_OK, NULL, &err, NULL))
		return EXIT_OK;
	if (cancel_pending())
	{
		db_error_clear(&err);
		log_event(LOG_LEVEL_ERROR, "interrupted", NULL, "interrupted by %s while waiting for the schema",
				  cancel_signal_name());
		return cancel_exit_code();
	}
	if (PQstatus(rs->conn) == CONNECTION_OK && pgerr_action_for(err.cls) != PGERR_ACTION_RECONNECT)
	{
		db_error_clear(&err);
		return EXIT_OK; /* not a lost connection: history_load reports it */
	}
	why = db_error_format(&err);
	db_error_clear(&err);
	log_event(LOG_LEVEL_INFO, "reconnecting", NULL,
			  "lost the connection while waiting for the schema (%s); reconnecting", why);
	free(why);
	conn_close(rs->conn);
	rs->conn = NULL;
	copts.wait_ms = deadline > monotonic_ms() ? deadline - monotonic_ms() : 0;
	return conn_open(&copts, &rs->conn);
}

static int
cmd_check(run_state *rs)
{
	int64_t deadline = monotonic_ms() + rs->opts->wait_current_ms;
	int64_t last_log = monotonic_ms();

	for (;;)
	{
		reconciliation      rec;
		int                 rc;
		int                 failed = 0;
		char                failed_note[64] = "";
		const version_item *first;

		reconcile(rs, &rec);
		rc = report_mismatches(rs, &rec);
		if (rc != EXIT_OK || rec.n_pending == 0)
		{
			if (rc == EXIT_OK)
				log_event(LOG_LEVEL_INFO, "schema_current", NULL,
						  "schema is current at version %lld (%d migration%s)", (long long) rec.max_applied,
						  rs->files.n, rs->files.n == 1 ? "" : "s");
			free(rec.items);
			return rc;
		}
		first = first_pending(&rec);
		for (int i = 0; i < rec.n; i++)
			failed += rec.items[i].state == VS_FAILED;
		if (failed > 0)
			snprintf(failed_note, sizeof(failed_note), ", %d of them failed", failed);

		/* --wait-current: poll until another process has applied them */
		if (monotonic_ms() < deadline)
		{
			if (monotonic_ms() - last_log >= 5000)
			{
				log_event(LOG_LEVEL_INFO, "waiting_current", NULL,
						  "waiting for the schema: %d pending%s (first: %s)", rec.n_pending, failed_note,
						  first->m->stem);
				last_log = monotonic_ms();
			}
			free(rec.items);
			if (!sleep_ms_interruptible(500))
			{
				log_event(LOG_LEVEL_ERROR, "interrupted", NULL,
						  "interrupted by %s while waiting for the schema", cancel_signal_name());
				return cancel_exit_code();
			}
			history_free(&rs->hist);
			rc = reconnect_if_lost(rs, deadline);
			if (rc == EXIT_OK)
				rc = history_load(rs->conn, &rs->ht, &rs->hist);
			if (rc != EXIT_OK)
				return rc;
			continue;
		}
		log_event(LOG_LEVEL_ERROR, "schema_behind", NULL,
				  "schema out of date: %d pending%s (first: %s) \xe2\x80\x94 run migrate", rec.n_pending,
				  failed_note, first->m->stem);
		free(rec.items);
		return EXIT_BEHIND;
	}
}

static void
print_json_item(const version_item *it)
{
	strbuf sb;

	strbuf_init(&sb);
	strbuf_appendf(&sb, "{\"version\":%lld,\"name\":", (long long) it->version);
	strbuf_append_json(&sb, it->m ? it->m->name : it->row->name);
	strbuf_append(&sb, ",\"state\":");
	strbuf_append_json(&sb, state_names[it->state]);
	strbuf_append(&sb, ",\"file\":");
	if (it->m)
		strbuf_append_json(&sb, it->m->path);
	else
		strbuf_append(&sb, "null");
	if (it->row)
	{
		strbuf_append(&sb, ",\"applied_at\":");
		strbuf_append_json(&sb, it->row->applied_at);
		strbuf_appendf(&sb, ",\"duration_ms\":%lld,\"applied_by\":", (long long) it->row->duration_ms);
		strbuf_append_json(&sb, it->row->applied_by);
		strbuf_append(&sb, ",\"failure\":");
		if (it->row->failure)
			strbuf_append_json(&sb, it->row->failure);
		else
			strbuf_append(&sb, "null");
	}
	if (it->m)
		strbuf_appendf(&sb, ",\"no_transaction\":%s,\"verify\":%s", it->m->no_transaction ? "true" : "false",
					   it->m->verify_path ? "true" : "false");
	strbuf_append(&sb, "}\n");
	fputs(sb.data, stdout);
	strbuf_free(&sb);
}

static int
cmd_status(run_state *rs)
{
	reconciliation rec;
	bool           json = log_get_format() == LOG_FORMAT_JSON;

	reconcile(rs, &rec);
	if (!json)
		printf("%-16s %-32s %-8s %-20s %9s  %s\n", "VERSION", "NAME", "STATE", "APPLIED AT", "DURATION",
			   "APPLIED BY");
	for (int i = 0; i < rec.n; i++)
	{
		const version_item *it = &rec.items[i];

		if (json)
		{
			print_json_item(it);
			continue;
		}
		printf("%-16lld %-32s %-8s %-20s %7lldms  %s\n", (long long) it->version,
			   it->m ? it->m->name : it->row->name, state_names[it->state],
			   it->row ? it->row->applied_at : "-", (long long) (it->row ? it->row->duration_ms : 0),
			   it->row ? it->row->applied_by : "-");
		if (it->state == VS_FAILED && it->row->failure)
			printf("%16s failed at %s\n", "", it->row->failure);
	}
	if (!json)
	{
		printf("%d applied, %d pending, %d mismatched", rec.n - rec.n_pending - rec.n_mismatch - rec.n_ahead,
			   rec.n_pending, rec.n_mismatch);
		if (rec.n_ahead > 0)
			printf(", %d ahead of these files", rec.n_ahead);
		printf("\n");
	}
	free(rec.items);
	return EXIT_OK;
}

static int
cmd_plan(run_state *rs)
{
	reconciliation rec;
	bool           json = log_get_format() == LOG_FORMAT_JSON;
	int            n_selected;
	int            rc;

	rc = prepare_run(rs, &rec, &n_selected);
	if (rc != EXIT_OK)
	{
		free(rec.items);
		return rc;
	}
	for (int i = 0; i < rec.n; i++)
	{
		const version_item *it = &rec.items[i];

		if (!selected(rs, it))
			continue;
		if (json)
			print_json_item(it);
		else
			printf("%s: %d statement%s%s%s%s\n", it->m->path, it->m->script.n_stmts,
				   it->m->script.n_stmts == 1 ? "" : "s",
				   it->m->no_transaction ? ", no transaction" : ", one transaction",
				   it->m->verify_path ? ", verified" : "",
				   it->state == VS_FAILED ? ", failed before: runs again from its first statement" : "");
	}
	if (rec.n_pending > n_selected)
		log_event(LOG_LEVEL_INFO, "plan", NULL,
				  "%d migration%s would be applied, up to --target %lld (%d pending after it)", n_selected,
				  n_selected == 1 ? "" : "s", (long long) rs->opts->target, rec.n_pending - n_selected);
	else
		log_event(LOG_LEVEL_INFO, "plan", NULL, "%d migration%s would be applied", n_selected,
				  n_selected == 1 ? "" : "s");
	free(rec.items);
	return EXIT_OK;
}

static int
cmd_repair(run_state *rs)
{
	reconciliation rec;
	int            repaired = 0;
	int            rc = EXIT_OK;

	if (!rs->hist.exists)
	{
		log_info("nothing to repair: no history table \"%s\" yet", rs->ht.display);
		return EXIT_OK;
	}
	reconcile(rs, &rec);
	if (report_wrong_target(rs, &rec))
	{
		/* --forget-missing would drop every row: never */
		free(rec.items);
		if (rs->opts->forget_missing)
			log_event(
				LOG_LEVEL_ERROR, "repair_refused", NULL,
				"repair --forget-missing refuses to drop every row of the history; nothing was changed");
		return rs->opts->forget_missing ? EXIT_USAGE : EXIT_HISTORY_MISMATCH;
	}
	for (int i = 0; i < rec.n; i++)
	{
		const version_item *it = &rec.items[i];

		if (it->state == VS_CHANGED)
		{
			if (!history_set_checksum(rs->conn, &rs->ht, it->version, it->m->checksum))
			{
				rc = EXIT_CHANGE_FAILED;
				break;
			}
			log_event(LOG_LEVEL_INFO, "repaired", NULL,
					  "recorded the current checksum of %s (was %.12s..., now %.12s...)", it->m->path,
					  it->row->checksum, it->m->checksum);
			repaired++;
		}
		else if (it->state == VS_AHEAD && !rs->opts->forget_ahead)
		{
			/*
			 * Newer than every file: applied by a newer release, which check
			 * and up leave alone too.  Forgetting it would run that release's
			 * migration a second time.
			 */
			log_event(LOG_LEVEL_INFO, "ahead_kept", NULL,
					  "version %lld (%s) is newer than every file (applied by a newer release?): left alone; "
					  "--forget-ahead drops it",
					  (long long) it->version, it->row->name);
		}
		else if ((it->state == VS_MISSING && rs->opts->forget_missing) || it->state == VS_AHEAD)
		{
			if (!history_forget(rs->conn, &rs->ht, it->version))
			{
				rc = EXIT_CHANGE_FAILED;
				break;
			}
			log_event(LOG_LEVEL_INFO, "forgotten", NULL,
					  "removed version %lld (%s) from the history: its file is gone", (long long) it->version,
					  it->row->name);
			repaired++;
		}
		else if (it->state == VS_MISSING)
		{
			char *target = target_name(rs);

			log_event(
				LOG_LEVEL_ERROR, "missing_file", NULL,
				"applied migration %lld (%s) is missing from \"%s\" (applied to %s); restore it, or pass --forget-missing",
				(long long) it->version, it->row->name, rs->opts->dir, target);
			free(target);
			rc = EXIT_HISTORY_MISMATCH;
		}
	}
	if (rc == EXIT_OK)
		log_event(LOG_LEVEL_INFO, "repair_done", NULL, "repaired %d version%s", repaired,
				  repaired == 1 ? "" : "s");
	free(rec.items);
	return rc;
}

static int
cmd_baseline(run_state *rs)
{
	const migrator_options *o = rs->opts;

	if (o->baseline_from == BASELINE_VERSION && o->baseline_version <= 0)
	{
		log_error("baseline needs --version N or --from dbmate|golang-migrate|flyway");
		return EXIT_USAGE;
	}
	if (o->baseline_from != BASELINE_VERSION && o->baseline_version > 0)
	{
		log_error("baseline takes --version or --from, not both");
		return EXIT_USAGE;
	}
	{
		char            *target = target_name(rs);
		baseline_options bo = {.from = o->baseline_from,
							   .version = o->baseline_version,
							   .dir = o->dir,
							   .schema = o->conn.schema,
							   .skip_verify = o->skip_verify,
							   .n_skip_verify = o->n_skip_verify,
							   .no_verify = o->no_verify,
							   .lock_timeout_ms = o->apply.lock_timeout_ms,
							   .target = target};
		int              rc = baseline_run(rs->conn, &rs->ht, &rs->files, &bo);

		free(target);
		return rc;
	}
}

static const char new_migration_template[] =
	"-- %s: describe what this migration changes and why.\n"
	"--\n"
	"-- Directives (comment lines in this leading block, any order):\n"
	"--   -- migrator:no-transaction   run statement by statement, outside a transaction\n"
	"--                                (make every statement idempotent: IF [NOT] EXISTS)\n"
	"--\n"
	"-- DDL only; indexes belong in conf/indexes.cfg (the indexer builds them online).\n"
	"-- Every lock wait is bounded by --lock-timeout, but a granted lock is held until\n"
	"-- commit: keep it short.\n"
	"\n";

static const char new_verify_template[] =
	"-- Verify %s: SELECT statements only, run after the migration in its\n"
	"-- transaction.  Each must return at least one row, every first-column value\n"
	"-- true; zero rows, false or null fail the migration and roll it back.\n"
	"-- Replace the example (or delete this file if nothing needs checking):\n"
	"--\n"
	"-- SELECT count(*) = 1\n"
	"-- FROM information_schema.columns\n"
	"-- WHERE table_schema = current_schema()\n"
	"--   AND table_name = 'call_log' AND column_name = 'started_at';\n";

/* Create path with contents, refusing to overwrite.  false after logging. */
static bool
write_new_file(const char *path, const char *contents)
{
	int    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	size_t len = strlen(contents);
	bool   ok;

	if (fd < 0)
	{
		log_event(LOG_LEVEL_ERROR, "new_failed", NULL, "could not create \"%s\": %s", path, strerror(errno));
		return false;
	}
	ok = write(fd, contents, len) == (ssize_t) len;
	if (close(fd) != 0)
		ok = false;
	if (!ok)
		log_event(LOG_LEVEL_ERROR, "new_failed", NULL, "could not write \"%s\": %s", path, strerror(errno));
	return ok;
}

static int
cmd_new(run_state *rs)
{
	const char *name = rs->opts->arg;
	int64_t     version;
	int64_t     dummy_version;
	size_t      stem_len;
	bool        is_verify;
	const char *why;
	char       *probe;
	char       *path = NULL;
	char       *verify_path = NULL;
	char       *text = NULL;
	int         rc = EXIT_USAGE;

	if (rs->opts->timestamp)
	{
		time_t    now = time(NULL);
		struct tm tm;
		char      buf[32];

		gmtime_r(&now, &tm);
		strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm);
		version = strtoll(buf, NULL, 10);
	}
	else
		version = rs->files.n > 0 ? rs->files.items[rs->files.n - 1].version + 1 : 1;
	if (rs->files.n > 0 && version <= rs->files.items[rs->files.n - 1].version)
	{
		log_error("version %lld is not above the highest version %lld in \"%s\"", (long long) version,
				  (long long) rs->files.items[rs->files.n - 1].version, rs->opts->dir);
		return EXIT_USAGE;
	}

	/* the name must make a valid file name: check it the way the loader will */
	probe = xasprintf("%lld_%s.sql", (long long) version, name);
	if (!migration_parse_filename(probe, &dummy_version, &stem_len, &is_verify, &why) || is_verify)
	{
		log_error("invalid migration name \"%s\": %s", name,
				  is_verify ? "it must not end in \".verify\"" : why);
		free(probe);
		return EXIT_USAGE;
	}
	free(probe);

	path = xasprintf("%s/%lld_%s.sql", rs->opts->dir, (long long) version, name);
	verify_path = xasprintf("%s/%lld_%s.verify.sql", rs->opts->dir, (long long) version, name);
	text = xasprintf(new_migration_template, name);
	if (!write_new_file(path, text))
		goto done;
	free(text);
	text = xasprintf(new_verify_template, name);
	if (!write_new_file(verify_path, text))
	{
		unlink(path);
		goto done;
	}
	printf("%s\n%s\n", path, verify_path);
	log_event(LOG_LEVEL_INFO, "new", NULL,
			  "wrote %s and %s: write the change and its check (an empty file is refused)", path,
			  verify_path);
	rc = EXIT_OK;

done:
	free(path);
	free(verify_path);
	free(text);
	return rc;
}

static int
cmd_lint(run_state *rs)
{
	lint_totals       totals = {0};
	lint_file_options lopts = lint_options(rs);
	int               unparsed = 0;

	for (int i = 0; i < rs->files.n; i++)
	{
		migration *m = &rs->files.items[i];

		if (migration_parse(m) != EXIT_OK)
		{
			unparsed++;
			continue;
		}
		migration_lint(m, &lopts, true, &totals);
		/* one file's parse tree at a time: memory stays flat over a big directory */
		sql_script_free(&m->script);
		sql_script_free(&m->verify_script);
		m->parsed = false;
		m->verify_parsed = false;
	}
	if (log_get_format() != LOG_FORMAT_JSON)
		printf("%d file%s checked: %d error%s, %d warning%s%s\n", rs->files.n, rs->files.n == 1 ? "" : "s",
			   totals.errors + unparsed, totals.errors + unparsed == 1 ? "" : "s", totals.warnings,
			   totals.warnings == 1 ? "" : "s",
			   unparsed ? " (files that do not parse count as one error each)" : "");
	else
		log_event(LOG_LEVEL_INFO, "lint_done", NULL, "%d files checked: %d errors, %d warnings", rs->files.n,
				  totals.errors + unparsed, totals.warnings);
	return totals.errors + unparsed > 0 ? EXIT_USAGE : EXIT_OK;
}

/* Parse a duration option or log why not. */
static bool
duration_arg(const char *option, const char *value, int64_t *out)
{
	char why[256];

	if (parse_duration(value, out, why, sizeof(why)))
		return true;
	log_event(LOG_LEVEL_ERROR, "invalid_option", NULL, "option --%s: %s", option, why);
	return false;
}

/*
 * Options that belong to one command are refused elsewhere: a --no-verify
 * given to up, or a --create-schema given to check, would be silently
 * ignored otherwise.  EXIT_OK or EXIT_USAGE after logging.
 */
static int
check_command_options(const migrator_options *opts, const command *cmd)
{
	bool baseline = cmd->fn == cmd_baseline;

	if ((opts->n_skip_verify > 0 || opts->no_verify) && !baseline)
	{
		log_error("options --skip-verify and --no-verify belong to baseline (up always runs verify files)");
		return EXIT_USAGE;
	}
	if (opts->n_skip_verify > 0 && opts->no_verify)
	{
		log_error("baseline takes --skip-verify VERSION or --no-verify, not both");
		return EXIT_USAGE;
	}
	if (opts->create_schema && !(cmd->flags & CMD_CREATES))
	{
		log_error("option --create-schema belongs to up and baseline (and plan); %s creates nothing",
				  cmd->name);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Parse argv into opts and *cmd; returns EXIT_OK, EXIT_USAGE, or -1 for "done" (help/version). */
static int
parse_args(int argc, char **argv, migrator_options *opts, const command **cmd)
{
	enum
	{
		OPT_DSN = 256,
		OPT_SCHEMA,
		OPT_HISTORY_TABLE,
		OPT_LOCK_TIMEOUT,
		OPT_STATEMENT_TIMEOUT,
		OPT_RETRIES,
		OPT_LOCK_WAIT,
		OPT_WAIT,
		OPT_LOG_FORMAT,
		OPT_OUT_OF_ORDER,
		OPT_FORGET_MISSING,
		OPT_FORGET_AHEAD,
		OPT_TARGET,
		OPT_ROLE,
		OPT_PREFLIGHT,
		OPT_WAIT_CURRENT,
		OPT_FROM,
		OPT_BASELINE_VERSION,
		OPT_TIMESTAMP,
		OPT_STRICT,
		OPT_INDEX_CONFIG,
		OPT_SKIP_VERIFY,
		OPT_NO_VERIFY,
		OPT_CREATE_SCHEMA
	};
	static const struct option long_options[] = {
		{"dir", required_argument, NULL, 'd'},
		{"dsn", required_argument, NULL, OPT_DSN},
		{"schema", required_argument, NULL, OPT_SCHEMA},
		{"history-table", required_argument, NULL, OPT_HISTORY_TABLE},
		{"lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT},
		{"statement-timeout", required_argument, NULL, OPT_STATEMENT_TIMEOUT},
		{"retries", required_argument, NULL, OPT_RETRIES},
		{"lock-wait", required_argument, NULL, OPT_LOCK_WAIT},
		{"wait", required_argument, NULL, OPT_WAIT},
		{"log-format", required_argument, NULL, OPT_LOG_FORMAT},
		{"out-of-order", no_argument, NULL, OPT_OUT_OF_ORDER},
		{"forget-missing", no_argument, NULL, OPT_FORGET_MISSING},
		{"forget-ahead", no_argument, NULL, OPT_FORGET_AHEAD},
		{"target", required_argument, NULL, OPT_TARGET},
		{"role", required_argument, NULL, OPT_ROLE},
		{"preflight", required_argument, NULL, OPT_PREFLIGHT},
		{"wait-current", required_argument, NULL, OPT_WAIT_CURRENT},
		{"from", required_argument, NULL, OPT_FROM},
		{"timestamp", no_argument, NULL, OPT_TIMESTAMP},
		{"strict", no_argument, NULL, OPT_STRICT},
		{"index-config", required_argument, NULL, OPT_INDEX_CONFIG},
		{"skip-verify", required_argument, NULL, OPT_SKIP_VERIFY},
		{"no-verify", no_argument, NULL, OPT_NO_VERIFY},
		{"create-schema", no_argument, NULL, OPT_CREATE_SCHEMA},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"version", no_argument, NULL, 'V'}, /* baseline: --version N */
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct option options[sizeof(long_options) / sizeof(long_options[0])];
	bool          baseline_mode = false;
	log_format    format = LOG_FORMAT_TEXT;
	int           verbosity = 0;
	int           c;
	char          why[256];
	int64_t       n;
	const char   *env_dir = getenv("MIGRATIONS_DIR");

	opts->dir = env_dir && env_dir[0] ? env_dir : "migrations";
	opts->conn.schema = "public";
	opts->conn.progname = PROGNAME;
	opts->history_table = "schema_migrations";
	opts->lock_wait_ms = 5 * 60 * 1000;
	opts->apply.lock_timeout_ms = 5000;
	opts->apply.statement_timeout_ms = -1; /* the session's own */
	opts->apply.retries = 3;
	opts->preflight = PREFLIGHT_WARN;
	opts->index_config = getenv("INDEXER_CONFIG") && getenv("INDEXER_CONFIG")[0] ? getenv("INDEXER_CONFIG")
																				 : "conf/indexes.cfg";
	opts->baseline_from = BASELINE_VERSION;

	/*
	 * "baseline --version N" names a version; everywhere else --version
	 * prints ours.  The command word decides which --version this is.
	 */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "baseline") == 0)
			baseline_mode = true;
	memcpy(options, long_options, sizeof(options));
	for (size_t i = 0; options[i].name; i++)
		if (baseline_mode && strcmp(options[i].name, "version") == 0)
		{
			options[i].has_arg = required_argument;
			options[i].val = OPT_BASELINE_VERSION;
		}

	/* the log format decides how option errors look: find it first */
	format = log_format_from_argv(argc, argv, format);
	log_init(PROGNAME, format, 0);

	opterr = 0;
	while ((c = getopt_long(argc, argv, "d:qvVh", options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				opts->dir = optarg;
				break;
			case OPT_DSN:
				opts->conn.dsn = conn_take_dsn_arg(optarg);
				break;
			case OPT_SCHEMA:
				if (optarg[0] == '\0')
				{
					log_error("option --schema: empty name");
					return EXIT_USAGE;
				}
				opts->conn.schema = optarg;
				break;
			case OPT_HISTORY_TABLE:
				if (optarg[0] == '\0')
				{
					log_error("option --history-table: empty name");
					return EXIT_USAGE;
				}
				opts->history_table = optarg;
				break;
			case OPT_LOCK_TIMEOUT:
				if (!duration_arg("lock-timeout", optarg, &opts->apply.lock_timeout_ms))
					return EXIT_USAGE;
				break;
			case OPT_STATEMENT_TIMEOUT:
				if (!duration_arg("statement-timeout", optarg, &opts->apply.statement_timeout_ms))
					return EXIT_USAGE;
				break;
			case OPT_LOCK_WAIT:
				if (!duration_arg("lock-wait", optarg, &opts->lock_wait_ms))
					return EXIT_USAGE;
				break;
			case OPT_WAIT:
				if (!duration_arg("wait", optarg, &opts->conn.wait_ms))
					return EXIT_USAGE;
				break;
			case OPT_RETRIES:
				if (!parse_int_range(optarg, 0, 100, &n, why, sizeof(why)))
				{
					log_error("option --retries: %s", why);
					return EXIT_USAGE;
				}
				opts->apply.retries = (int) n;
				break;
			case OPT_LOG_FORMAT:
				if (!log_parse_format(optarg, &format))
				{
					log_error("option --log-format: invalid value \"%s\" (use text or json)", optarg);
					return EXIT_USAGE;
				}
				break;
			case OPT_OUT_OF_ORDER:
				opts->out_of_order = true;
				break;
			case OPT_FORGET_MISSING:
				opts->forget_missing = true;
				break;
			case OPT_FORGET_AHEAD:
				opts->forget_ahead = true;
				break;
			case OPT_TARGET:
				if (!parse_int_range(optarg, 1, INT64_MAX, &opts->target, why, sizeof(why)))
				{
					log_error("option --target: %s", why);
					return EXIT_USAGE;
				}
				break;
			case OPT_BASELINE_VERSION:
				if (!parse_int_range(optarg, 1, INT64_MAX, &opts->baseline_version, why, sizeof(why)))
				{
					log_error("option --version: %s", why);
					return EXIT_USAGE;
				}
				break;
			case OPT_ROLE:
				if (optarg[0] == '\0')
				{
					log_error("option --role: empty name");
					return EXIT_USAGE;
				}
				opts->role = optarg;
				break;
			case OPT_PREFLIGHT:
				if (!preflight_parse_mode(optarg, &opts->preflight))
				{
					log_error("option --preflight: invalid value \"%s\" (use warn, fail or off)", optarg);
					return EXIT_USAGE;
				}
				break;
			case OPT_WAIT_CURRENT:
				if (!duration_arg("wait-current", optarg, &opts->wait_current_ms))
					return EXIT_USAGE;
				break;
			case OPT_FROM:
				if (!baseline_parse_source(optarg, &opts->baseline_from))
				{
					log_error("option --from: invalid value \"%s\" (use dbmate, golang-migrate or flyway)",
							  optarg);
					return EXIT_USAGE;
				}
				break;
			case OPT_TIMESTAMP:
				opts->timestamp = true;
				break;
			case OPT_STRICT:
				opts->strict = true;
				break;
			case OPT_INDEX_CONFIG:
				opts->index_config = optarg;
				break;
			case OPT_SKIP_VERIFY:
				if (!parse_int_range(optarg, 1, INT64_MAX, &n, why, sizeof(why)))
				{
					log_error("option --skip-verify: %s", why);
					return EXIT_USAGE;
				}
				opts->skip_verify =
					xrealloc(opts->skip_verify, sizeof(int64_t) * (size_t) (opts->n_skip_verify + 1));
				opts->skip_verify[opts->n_skip_verify++] = n;
				break;
			case OPT_NO_VERIFY:
				opts->no_verify = true;
				break;
			case OPT_CREATE_SCHEMA:
				opts->create_schema = true;
				break;
			case 'q':
				verbosity = -1;
				break;
			case 'v':
				verbosity = 1;
				break;
			case 'V':
				printf("%s %s\n", PROGNAME, MIGRATOR_VERSION);
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
	log_init(PROGNAME, format, verbosity);

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
	if (*cmd && ((*cmd)->flags & CMD_ARG))
	{
		if (optind >= argc)
		{
			log_error("%s needs an argument (try \"%s --help\")", (*cmd)->name, PROGNAME);
			return EXIT_USAGE;
		}
		opts->arg = argv[optind++];
	}
	if (optind < argc)
	{
		log_error("unexpected argument \"%s\" (try \"%s --help\")", argv[optind], PROGNAME);
		return EXIT_USAGE;
	}
	return check_command_options(opts, *cmd);
}

/*
 * --schema must exist.  Only up and baseline create it, and only with
 * --create-schema (plan then says that up would): a typo in --schema must
 * neither grow a second, empty schema nor make status and check read an
 * empty history there.  EXIT_OK, EXIT_USAGE after logging, or
 * EXIT_UNREACHABLE.
 */
static int
check_schema(run_state *rs, const command *cmd)
{
	const char *values[1] = {rs->opts->conn.schema};
	PGresult   *res =
		db_query(rs->conn, "looking up the schema",
				 "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", 1, values, PGRES_TUPLES_OK);
	bool  exists;
	char *target;

	if (res == NULL)
		return EXIT_UNREACHABLE;
	exists = PQntuples(res) > 0;
	PQclear(res);
	if (exists)
		return EXIT_OK;
	if (rs->opts->create_schema && (cmd->flags & CMD_CREATES))
	{
		if (cmd->fn == cmd_plan)
			log_info("schema \"%s\" does not exist: up --create-schema would create it",
					 rs->opts->conn.schema);
		return EXIT_OK;
	}
	target = target_name(rs);
	log_event(LOG_LEVEL_ERROR, "schema_missing", NULL, "schema \"%s\" does not exist in %s; %s",
			  rs->opts->conn.schema, target,
			  cmd->flags & CMD_CREATES ? "create it, or pass --create-schema"
									   : "check --schema and --dsn (this command creates nothing)");
	free(target);
	return EXIT_USAGE;
}

static int
run_command(const command *cmd, run_state *rs)
{
	conn_options copts = rs->opts->conn;
	int          rc;

	/* the main connection sets --role below, where a bad one is a usage error */
	copts.role = NULL;
	/* the files first: a bad directory fails before any connection */
	rc = migration_set_load(rs->opts->dir, &rs->files);
	if (rc != EXIT_OK)
		return rc;
	if (!(cmd->flags & CMD_CONNECT))
		return cmd->fn(rs);

	/* a start-up gate that waits for the schema also waits for the server */
	if (rs->opts->wait_current_ms > copts.wait_ms)
		copts.wait_ms = rs->opts->wait_current_ms;
	rc = conn_open(&copts, &rs->conn);
	if (rc != EXIT_OK)
		return rc;
	if (!history_table_init(&rs->ht, rs->conn, rs->opts->conn.schema, rs->opts->history_table))
		return EXIT_USAGE;
	if (rs->opts->role)
	{
		/* everything from here on, the history table too, is owned by it */
		const char *values[1] = {rs->opts->role};
		db_error    err = {0};

		if (!db_run(rs->conn, "SELECT pg_catalog.set_config('role', $1, false)", 1, values, PGRES_TUPLES_OK,
					NULL, &err, NULL))
		{
			log_event(LOG_LEVEL_ERROR, "invalid_role", NULL, "option --role: could not SET ROLE \"%s\": %s",
					  rs->opts->role, err.message);
			db_error_clear(&err);
			return EXIT_USAGE;
		}
	}
	rs->ht.create_schema = rs->opts->create_schema;
	rs->ht.read_only = !(cmd->flags & CMD_LOCK); /* only locked runs write it */
	rc = check_schema(rs, cmd);
	if (rc != EXIT_OK)
		return rc;
	if (cmd->flags & CMD_LOCK)
	{
		/* one run per schema and history table */
		/*
		 * On a connection of its own: the migrations' SQL runs on rs->conn
		 * and could release a lock held there (pg_advisory_unlock_all).
		 */
		rs->lock_name = advlock_name_migrator(rs->ht.qualified); /* quoted: unambiguous */
		rs->lock_conn = conn_open_like(&rs->opts->conn);
		if (rs->lock_conn == NULL)
			return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
		rc = advlock_acquire(rs->lock_conn, rs->lock_name, rs->opts->lock_wait_ms, PROGNAME);
		if (rc != EXIT_OK)
			return rc;
		rs->locked = true;
	}
	if (!(cmd->flags & CMD_OWN_HISTORY))
	{
		rc = history_load(rs->conn, &rs->ht, &rs->hist);
		if (rc != EXIT_OK)
			return rc;
	}
	return cmd->fn(rs);
}

int
main(int argc, char **argv)
{
	migrator_options opts = {0};
	const command   *cmd = NULL;
	run_state        rs = {0};
	int              rc;

	cancel_install_handlers();
	rc = parse_args(argc, argv, &opts, &cmd);
	if (rc == -1)
		rc = EXIT_OK;
	else if (rc == EXIT_OK)
	{
		rs.opts = &opts;
		/* every session the run opens: catalog reads and the history too */
		opts.conn.lock_timeout_ms = opts.apply.lock_timeout_ms;
		/* build connections (requires-index, routed CREATE INDEX) run as it too */
		opts.conn.role = opts.role;
		opts.conn.read_write = (cmd->flags & CMD_LOCK) != 0; /* only locked runs write: not on a standby */
		rc = run_command(cmd, &rs);
		/* a signal wins over whatever the interrupted step returned */
		if (cancel_pending() && rc != EXIT_OK)
			rc = cancel_exit_code();
	}

	if (rs.locked && PQstatus(rs.lock_conn) == CONNECTION_OK)
		advlock_release(rs.lock_conn, rs.lock_name);
	conn_close(rs.lock_conn);
	free(rs.lock_name);
	required_free(rs.required);
	history_free(&rs.hist);
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
