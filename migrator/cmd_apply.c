/*-------------------------------------------------------------------------
 *
 * cmd_apply.c
 *	  migrator up, plan and lint: the commands that check pending migrations
 *	  and run them.
 *
 * up and plan check everything before the first statement runs: the
 * history against the files, the order, --target, and the SQL of every
 * selected file (parsed and linted), so that a mistake in the last of them
 * applies none.
 *
 * migrator/cmd_apply.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply_residue.h"
#include "cancel.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "migration_lint.h"
#include "migrator.h"
#include "preflight.h"
#include "retry.h"
#include "statement_index.h"
#include "sqlwalk.h"

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

/* The selected migrations, in order; caller frees the array (not the items). */
static migration **
selected_list(const run_state *rs, const reconciliation *rec, int *n)
{
	migration **list = xcalloc((size_t) rec->n + 1, sizeof(migration *));

	*n = 0;
	for (int i = 0; i < rec->n; i++)
		if (selected(rs, &rec->items[i]))
			list[(*n)++] = rec->items[i].m;
	return list;
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
 * Drop a file's parse trees (peak RSS, issue 13): up checks every selected
 * file first, then parses each again just before it runs, so that a run of
 * 1000 files holds one file's trees at a time, not all of them.
 */
static void
release_parse(migration *m)
{
	sql_script_free(&m->script);
	sql_script_free(&m->verify_script);
	m->parsed = false;
	m->verify_parsed = false;
}

/* Parse every selected file: a syntax error in the last of them applies none. */
static int
parse_selected(migration **list, int n)
{
	int rc = EXIT_OK;

	for (int i = 0; i < n; i++)
		if (migration_parse(list[i]) != EXIT_OK)
			rc = EXIT_USAGE;
	if (rc != EXIT_OK)
		log_event(LOG_LEVEL_ERROR, "not_applied", NULL,
				  "a pending migration does not parse; nothing applied");
	return rc;
}

/* lint's verdict over the selected files */
static int
lint_verdict(const lint_totals *totals)
{
	if (totals->errors == 0)
		return EXIT_OK;
	log_event(LOG_LEVEL_ERROR, "lint_failed", NULL,
			  "lint: %d error%s in the pending migrations; nothing applied (see \"migrator lint\")",
			  totals->errors, totals->errors == 1 ? "" : "s");
	return EXIT_USAGE;
}

/*
 * Lint what is about to run; applied files never block a run.  The files
 * before the last selected one are read for their constraints only (lint.h's
 * carry), so that a SET NOT NULL backed by a CHECK validated in an earlier
 * migration is not reported.
 */
static int
lint_selected(const run_state *rs, migration **list, int n)
{
	lint_totals       totals = {0};
	lint_file_options lopts = lint_options(rs);
	int               next = 0;

	if (n == 0)
		return EXIT_OK;
	lopts.carry = lint_carry_new();
	for (int i = 0; i < rs->files.n && next < n; i++)
	{
		const migration *m = &rs->files.items[i];

		if (m == list[next])
			migration_lint(list[next++], &lopts, false, &totals);
		else
			migration_lint_carry(m, &lopts);
	}
	lint_carry_free(lopts.carry);
	return lint_verdict(&totals);
}

/*
 * up: parse_selected and lint_selected in one pass that keeps no parse
 * tree (peak RSS): each selected file is parsed, linted (until a file fails
 * to parse: then only parsed), its tables noted for the preflight in *rels,
 * and its trees dropped; apply parses it again just before it runs it.  The
 * files between them only carry their constraints, as in lint_selected.
 */
static int
check_selected_releasing(const run_state *rs, migration **list, int n, sql_relation_list *rels)
{
	lint_totals       totals = {0};
	lint_file_options lopts = lint_options(rs);
	bool              unparsed = false;
	bool              unnamed = false;
	int               next = 0;

	lopts.carry = lint_carry_new();
	for (int i = 0; i < rs->files.n && next < n; i++)
	{
		migration *m = &rs->files.items[i];

		if (m != list[next])
		{
			migration_lint_carry(m, &lopts);
			continue;
		}
		next++;
		if (migration_parse(m) != EXIT_OK)
			unparsed = true;
		else if (!unparsed)
		{
			migration_lint(m, &lopts, false, &totals);
			preflight_collect(m, rels);
			/* the concurrent builds of no-transaction files go through the engine, by name */
			if (statement_index_check(&m, 1) != EXIT_OK)
				unnamed = true;
		}
		release_parse(m);
	}
	lint_carry_free(lopts.carry);
	if (!unparsed)
	{
		int rc = lint_verdict(&totals);

		return rc == EXIT_OK && unnamed ? EXIT_USAGE : rc;
	}
	log_event(LOG_LEVEL_ERROR, "not_applied", NULL, "a pending migration does not parse; nothing applied");
	return EXIT_USAGE;
}

/*
 * Everything up and plan check before the first statement runs: the
 * history against the files, the order, the target, the SQL of every
 * selected file, lint, and the indexes they require (defined, and the
 * config valid).  Fills *rec (the caller frees it, also on failure) and
 * the number selected in *n_selected.  With rels (up), no parse tree is
 * kept and the files' tables are noted there (check_selected_releasing).
 */
static int
prepare_run(run_state *rs, reconciliation *rec, int *n_selected, sql_relation_list *rels)
{
	migration **list;
	int         rc;

	*n_selected = 0;
	reconcile(&rs->files, &rs->hist, rec);
	rc = report_mismatches(rs, rec);
	if (rc == EXIT_OK)
		rc = report_out_of_order(rs, rec);
	if (rc == EXIT_OK)
		rc = check_target(rs);
	if (rc != EXIT_OK)
		return rc;
	list = selected_list(rs, rec, n_selected);
	if (rels != NULL)
		rc = check_selected_releasing(rs, list, *n_selected, rels);
	else
	{
		rc = parse_selected(list, *n_selected);
		if (rc == EXIT_OK)
			rc = lint_selected(rs, list, *n_selected);
		if (rc == EXIT_OK)
			rc = statement_index_check(list, *n_selected);
	}
	if (rc == EXIT_OK)
		rc = required_load(rs->opts->index_config, rs->opts->conn.schema, list, *n_selected, &rs->required);
	free(list);
	return rc;
}

/* Nothing selected: say why, in the words of the state the schema is in. */
static void
report_nothing_to_apply(const run_state *rs, const reconciliation *rec)
{
	if (rec->n_pending > 0)
		log_event(LOG_LEVEL_INFO, "up_to_date", NULL,
				  "nothing to apply up to --target %lld: version %lld is applied (%d pending after it)",
				  (long long) rs->opts->target, (long long) rec->max_applied, rec->n_pending);
	else
		log_event(LOG_LEVEL_INFO, "up_to_date", NULL,
				  "nothing to apply: schema is current at version %lld (%d migration%s)",
				  (long long) rec->max_applied, rs->files.n, rs->files.n == 1 ? "" : "s");
}

/* The line that ends a failed run, and the server's detail and hint after it. */
typedef struct final_report
{
	char   *error;
	char   *detail;
	char   *hint;
	int64_t last_applied; /* the last version this run applied, for the metrics */
	int64_t failed;       /* the version that failed (not one a signal stopped); 0: none */
} final_report;

/* The first selected version after last (0: from the start): the one a run stopped at. */
static int64_t
next_selected(const run_state *rs, const reconciliation *rec, int64_t last)
{
	for (int i = 0; i < rec->n; i++)
		if (selected(rs, &rec->items[i]) && rec->items[i].version > last)
			return rec->items[i].version;
	return 0;
}

/*
 * The last migration's COMMIT, held for a next batch that never came
 * (apply.h).  After another failure, that one stays the run's last line.
 */
static void
settle_at_end(apply_ctx *ctx, int *rc, char **final_error)
{
	char *error = NULL;
	int   settled = apply_settle(ctx, &error);

	if (settled == EXIT_OK)
		return;
	if (*rc == EXIT_OK)
	{
		*rc = settled;
		*final_error = error;
		return;
	}
	log_event(LOG_LEVEL_ERROR, "migration_failed", NULL, "%s", error);
	free(error);
}

/*
 * Run the selected migrations in order, each after the indexes it
 * requires; stops at the first failure, leaving its message in *fin.
 * Counts them in *applied and the highest in *current.
 */
static int
apply_selected(run_state *rs, const reconciliation *rec, int *applied, int64_t *current, final_report *fin)
{
	char                  **final_error = &fin->error;
	const migrator_options *o = rs->opts;
	apply_ctx               ctx = {.conn = rs->conn,
								   .conn_pid = PQbackendPID(rs->conn),
								   .conn_opts = &o->conn,
								   .ht = &rs->ht,
								   .settings = o->apply,
								   .role = o->role,
								   .lock_conn = rs->lock_conn,
								   .lock_name = rs->lock_name,
								   .lock_wait_ms = o->lock_wait_ms};
	int                     rc = EXIT_OK;

	/* an event trigger runs code on every DDL statement: reset after each */
	ctx.event_triggers = apply_residue_event_triggers(rs->conn);
	for (int i = 0; i < rec->n; i++)
	{
		const version_item *it = &rec->items[i];

		if (!selected(rs, it))
			continue;
		/* a held COMMIT (apply.h) is rolled back: the signal came before it was sent */
		if (cancel_pending() && (rc = apply_settle(&ctx, final_error)) != EXIT_OK)
			break;
		if (cancel_pending())
		{
			*final_error = xasprintf("interrupted by %s before migration %lld: nothing recorded for it",
									 cancel_signal_name(), (long long) it->version);
			rc = cancel_exit_code();
			break;
		}
		/* checked by prepare_run: the same bytes parse again */
		rc = migration_parse(it->m);
		if (rc != EXIT_OK)
		{
			int settled = apply_settle(&ctx, final_error);

			if (settled == EXIT_OK)
				*final_error = xasprintf("%s: does not parse any more; nothing recorded for it", it->m->path);
			rc = settled == EXIT_OK ? rc : settled;
			break;
		}
		/* a required index is built on this connection: the held COMMIT first */
		if (it->m->n_required_indexes > 0 && (rc = apply_settle(&ctx, final_error)) != EXIT_OK)
			break;
		rc = required_build(rs->required, it->m, rs->conn, &o->conn, o->apply.lock_timeout_ms,
							o->apply.statement_timeout_ms, o->apply.retries, o->lock_wait_ms, final_error);
		if (rc != EXIT_OK)
			break;
		ctx.row_failed = it->state == VS_FAILED;
		rc = apply_migration(&ctx, it->m, final_error);
		if (rc != EXIT_OK)
			break;
		release_parse(it->m); /* a held migration keeps its path and name only */
	}
	settle_at_end(&ctx, &rc, final_error);
	*applied = ctx.n_applied;
	if (ctx.n_applied > 0)
		fin->last_applied = ctx.max_applied;
	if (ctx.max_applied > *current)
		*current = ctx.max_applied;
	/* the one that failed: after the last applied (a held COMMIT that failed included) */
	if (rc != EXIT_OK && !cancel_pending() && fin->error != NULL)
		fin->failed = next_selected(rs, rec, fin->last_applied);
	fin->detail = ctx.final_detail;
	fin->hint = ctx.final_hint;
	ctx.final_detail = ctx.final_hint = NULL;
	apply_ctx_close(&ctx);
	return rc;
}

static void
report_up_done(const run_state *rs, const reconciliation *rec, int rc, int applied, int64_t current,
			   int64_t start)
{
	if (rc == EXIT_OK && rec->n_pending > applied)
		log_event(LOG_LEVEL_INFO, "up_done", NULL,
				  "applied %d migration%s in %lldms; stopped at --target %lld (%d pending after it)", applied,
				  applied == 1 ? "" : "s", (long long) (monotonic_ms() - start), (long long) rs->opts->target,
				  rec->n_pending - applied);
	else if (rc == EXIT_OK)
		log_event(LOG_LEVEL_INFO, "up_done", NULL,
				  "applied %d migration%s in %lldms; schema is current at version %lld", applied,
				  applied == 1 ? "" : "s", (long long) (monotonic_ms() - start), (long long) current);
	else if (applied > 0)
		log_event(LOG_LEVEL_WARNING, "up_partial", NULL,
				  "%d migration%s applied before the failure; nothing after it ran", applied,
				  applied == 1 ? "" : "s");
}

int
cmd_up(run_state *rs)
{
	reconciliation    rec;
	int               rc;
	int               applied = 0;
	int               n_selected;
	int64_t           start = monotonic_ms();
	int64_t           current;
	final_report      fin = {NULL, NULL, NULL, 0, 0};
	sql_relation_list rels = {0}; /* the pending files' tables, for the preflight */

	rc = prepare_run(rs, &rec, &n_selected, &rels);
	current = rec.max_applied;
	if (rc == EXIT_OK && n_selected == 0)
		report_nothing_to_apply(rs, &rec);
	else if (rc == EXIT_OK)
	{
		/* a no-op never opens it: everything above read on the lock's connection */
		rc = run_open_main(rs);
		if (rc == EXIT_OK)
			rc = preflight_check(rs->conn, rs->opts->conn.schema, &rels, rs->opts->apply.lock_timeout_ms,
								 rs->opts->preflight);
		if (rc == EXIT_OK && !rs->hist.exists)
			rc = history_ensure(rs->conn, &rs->ht);
		if (rc == EXIT_OK)
		{
			rc = apply_selected(rs, &rec, &applied, &current, &fin);
			report_up_done(rs, &rec, rc, applied, current, start);
		}
	}

	/*
	 * The failure ends the run, after every other message; only the
	 * server's detail and hint follow it, as psql prints them.
	 */
	if (fin.error)
		log_event(LOG_LEVEL_ERROR, "migration_failed", NULL, "%s", fin.error);
	if (fin.error && fin.detail)
		log_event(LOG_LEVEL_DETAIL, "error_detail", NULL, "%s", fin.detail);
	if (fin.error && fin.hint)
		log_event(LOG_LEVEL_HINT, "error_hint", NULL, "%s", fin.hint);
	free(fin.error);
	free(fin.detail);
	free(fin.hint);
	migration_tally_note(&rs->tally, &rec, applied, fin.last_applied, fin.failed);
	sql_relation_list_free(&rels);
	reconcile_free(&rec);
	return rc;
}

int
cmd_plan(run_state *rs)
{
	reconciliation rec;
	bool           json = log_get_format() == LOG_FORMAT_JSON;
	int            n_selected;
	int            rc;

	rc = prepare_run(rs, &rec, &n_selected, NULL);
	if (rc != EXIT_OK)
	{
		reconcile_free(&rec);
		return rc;
	}
	for (int i = 0; i < rec.n; i++)
	{
		const version_item *it = &rec.items[i];

		if (!selected(rs, it))
			continue;
		if (json)
			print_version_json(it);
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
	reconcile_free(&rec);
	return EXIT_OK;
}

int
cmd_lint(run_state *rs)
{
	lint_totals       totals = {0};
	lint_file_options lopts = lint_options(rs);
	const char       *env_config = getenv("INDEXER_CONFIG");
	lint_request      req = {
			 .paths = rs->opts->args,
			 .n_paths = rs->opts->n_args,
			 .dir = rs->opts->dir,
			 .index_config = rs->opts->index_config,
			 /* the default file is read where it exists; one named must exist */
			 .index_config_required = (env_config != NULL && env_config[0] != '\0') ||
									  strcmp(rs->opts->index_config, "conf/indexes.cfg") != 0,
    };
	int rc = migration_lint_paths(&req, &lopts, &totals);

	if (log_get_format() != LOG_FORMAT_JSON)
		printf("%d file%s checked: %d error%s, %d warning%s\n", totals.files, totals.files == 1 ? "" : "s",
			   totals.errors, totals.errors == 1 ? "" : "s", totals.warnings,
			   totals.warnings == 1 ? "" : "s");
	else
		log_event(LOG_LEVEL_INFO, "lint_done", NULL, "%d file%s checked: %d error%s, %d warning%s",
				  totals.files, totals.files == 1 ? "" : "s", totals.errors, totals.errors == 1 ? "" : "s",
				  totals.warnings, totals.warnings == 1 ? "" : "s");
	return rc;
}
