/*-------------------------------------------------------------------------
 *
 * indexer.h
 *	  The indexer's commands, and what the dispatcher sets up for them.
 *
 * main.c reads the command line (common/cli.h) into indexer_options, then
 * the definitions file and the settings (file < environment < command
 * line), connects, takes the run lock when the command's row of the
 * dispatch table says so, reads the catalog once and makes the plan; then
 * it calls the command's handler with that run_state.  Each handler
 * returns a code of exitcodes.h, logs its own errors and never exits;
 * main() releases everything in the run_state afterwards.
 *
 * Handlers by file: cmd_build.c build; cmd_report.c plan, check, status;
 * cmd_history.c history.
 * This header is the indexer program's own: the migrator never includes it.
 *
 * indexer/indexer.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_H
#define INDEXER_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "catalog.h"
#include "cli.h"
#include "definitions.h"
#include "conn.h"
#include "plan.h"
#include "settings.h"

#define PROGNAME "indexer"

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
	int              cap_only;
	const char      *table; /* --table */
	int              verbosity;
	int64_t          since_ms; /* history --since; the history table's options are settings */
} indexer_options;

/* What the dispatcher has set up for a command (cli.h's struct cli_run). */
struct cli_run
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
	struct record   *record;               /* the history table; NULL with --no-record */
	bool             metrics_file_refused; /* index_metrics_check said no: never written */
};
typedef struct cli_run run_state;

/* cmd_build.c */
int cmd_build(run_state *rs);

/* cmd_history.c */
int cmd_history(run_state *rs);

/* cmd_report.c */
int cmd_plan(run_state *rs);
int cmd_check(run_state *rs);
int cmd_status(run_state *rs);

/*
 * Warn of every index named like a leftover that the indexer may not drop
 * (an interrupted REINDEX CONCURRENTLY's, or a look-alike of its own): every
 * command names them, none drops them.
 */
void report_foreign_leftovers(const run_state *rs);

#endif /* INDEXER_H */
