/*-------------------------------------------------------------------------
 *
 * migrator.h
 *	  The migrator's commands, and what the dispatcher sets up for them.
 *
 * main.c reads the command line (common/cli.h) into migrator_options,
 * opens what the command's row of the dispatch table asks for (the
 * migration files always; a connection, the run lock and the history when
 * its flags say so) into a run_state, and calls the command's handler.
 * Each handler returns a code of exitcodes.h, logs its own errors and never
 * exits; main() releases everything in the run_state afterwards.
 *
 * Handlers by file: cmd_apply.c up, plan, lint; cmd_history.c status,
 * check, repair, baseline; cmd_new.c new.
 *
 * migrator/migrator.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATOR_H
#define MIGRATOR_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "apply.h"
#include "baseline.h"
#include "cli.h"
#include "conn.h"
#include "history.h"
#include "migration_files.h"
#include "migration_metrics.h"
#include "preflight.h"
#include "reconcile.h"
#include "required_index.h"

#define PROGNAME "migrator"

typedef struct migrator_options
{
	const char        *dir;
	conn_options       conn;
	const char        *history_table;
	int64_t            lock_wait_ms;
	apply_settings     apply;
	bool               out_of_order;
	bool               forget_missing;
	bool               forget_ahead;
	int64_t            target; /* --target; 0 = every pending version */
	const char        *role;   /* --role; NULL = the login role */
	preflight_mode     preflight;
	int64_t            wait_current_ms; /* check --wait-current */
	baseline_source    baseline_from;
	int64_t            baseline_version; /* baseline --baseline-version */
	int64_t           *skip_verify;      /* baseline --skip-verify, repeatable */
	int                n_skip_verify;
	int                cap_skip_verify;
	bool               no_verify;     /* baseline --no-verify */
	bool               create_schema; /* up, baseline: create --schema if missing */
	bool               timestamp;     /* new --timestamp */
	bool               new_verify;    /* new --verify: also write the verify file */
	bool               strict;        /* lint warnings are errors */
	const char        *index_config;  /* the indexer's config, for requires-index */
	const char        *metrics_file;  /* --metrics-file, $MIGRATOR_METRICS_FILE (migration_metrics.h) */
	const char        *metrics_push;  /* --metrics-push, $MIGRATOR_METRICS_PUSH */
	const char        *arg;           /* the command's argument (new NAME) */
	const char *const *args;          /* lint FILE|DIR...: the paths given (argv memory) */
	int                n_args;
} migrator_options;

/* What the dispatcher has set up for a command (cli.h's struct cli_run). */
struct cli_run
{
	const migrator_options *opts;
	migration_set           files;
	PGconn                 *conn;
	PGconn                 *lock_conn; /* holds the run lock; reads the history once */
	history_table           ht;
	history                 hist;
	bool                    locked;
	char                   *lock_name;
	required_indexes       *required; /* definitions pending migrations require */
	migration_tally         tally;    /* how the versions stood at the end (up, check) */
};
typedef struct cli_run run_state;

/* "user@host:port/db" of the target for messages, never a password; caller frees (main.c). */
char *run_target_name(const run_state *rs);

/*
 * Open rs->conn, the connection migrations run on, with --role, unless it
 * is open (up opens it only when it has work: its start-up reads on the
 * lock's connection, startup.h).  Returns EXIT_OK, EXIT_USAGE (bad --role)
 * or conn_open's codes, after logging (main.c).
 */
int run_open_main(run_state *rs);

/* cmd_apply.c */
int cmd_up(run_state *rs);
int cmd_plan(run_state *rs);
int cmd_lint(run_state *rs);

/* cmd_history.c */
int cmd_status(run_state *rs);
int cmd_check(run_state *rs);
int cmd_repair(run_state *rs);
int cmd_baseline(run_state *rs);

/*
 * Log every mismatch of rec, naming the database; returns
 * EXIT_HISTORY_MISMATCH if any (up, plan and check refuse to go on), else
 * EXIT_OK.  A database ahead of the files is a warning only.
 */
int report_mismatches(const run_state *rs, const reconciliation *rec);

/* One version as a JSON object a line on stdout (status, plan --log-format=json). */
void print_version_json(const version_item *it);

/* cmd_new.c */
int cmd_new(run_state *rs);

#endif /* MIGRATOR_H */
