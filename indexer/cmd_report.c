/*-------------------------------------------------------------------------
 *
 * cmd_report.c
 *	  indexer plan, check and status: the commands that only read the plan
 *	  (and, for status, the catalog's other indexes on the same tables).
 *
 * None of them writes: plan shows what build would do, check is the
 * readiness gate (exit 5 when a definition is not in line), status shows
 * every definition's state, the indexes the file does not define and
 * duplicates.
 *
 * indexer/cmd_report.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cancel.h"
#include "exitcodes.h"
#include "indexer.h"
#include "run_limits.h"
#include "log.h"
#include "memory.h"
#include "record.h"
#include "replica_guard.h"

/*
 * A size as psql's \\di+ shows it (pg_size_pretty): bytes below 10 kB, then
 * kB, MB, GB, TB, PB, each below 10 * 1024 of its unit (20 * 1024 - 1 half
 * units), rounded half away from zero.
 */

/*
 * One line of a table on stdout whose values come from the catalog or the
 * server (index names another role chose, an error's text): no control
 * character reaches the terminal raw (memory.h, text_visible).
 */
static void __attribute__((format(printf, 1, 2))) print_visible(const char *fmt, ...)
{
	textbuf line;
	char   *shown;
	va_list ap;

	textbuf_init(&line);
	va_start(ap, fmt);
	textbuf_vappendf(&line, fmt, ap);
	va_end(ap);
	if (line.len > 0 && line.data[line.len - 1] == '\n')
		line.data[--line.len] = '\0';
	shown = text_visible(line.data, false);
	printf("%s\n", shown);
	free(shown);
	textbuf_free(&line);
}

static void
format_size(int64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
	const int64_t            limit = 10 * 1024;
	const int64_t            limit2 = limit * 2 - 1;
	int64_t                  size = bytes;

	if (size < limit && size > -limit)
	{
		snprintf(buf, len, "%lld bytes", (long long) size);
		return;
	}
	size /= 1 << 9; /* one bit more than kB, for the rounding */
	for (int u = 0;; u++)
	{
		if ((size < limit2 && size > -limit2) || u == 4)
		{
			snprintf(buf, len, "%lld %s", (long long) ((size + (size < 0 ? -1 : 1)) / 2), units[u]);
			return;
		}
		size /= 1 << 10;
	}
}

/*
 * Is the relation of the definition's name the definition's own index?  A
 * same-named table, view or another table's index is not: its size is not
 * this index's, and status leaves the column empty, as for a missing one.
 */
static bool
own_index(const plan_item *it)
{
	const catalog_entry *c = it->cat;

	return c->rel_oid != NULL && c->is_index && c->on_table;
}

/* What fixes a drifted index: build leaves it alone unless told. */
#define DRIFT_ADVICE "; rebuild it with \"indexer build --rebuild-drifted\""

/* The colour of an action or state: green in line, yellow to do, red wrong. */
static log_tone
action_tone(const plan_item *it)
{
	switch (it->action)
	{
		case ACT_PRESENT:
		case ACT_ABSENT:
			return LOG_TONE_OK;
		case ACT_BUILD:
		case ACT_REPAIR:
		case ACT_REBUILD:
		case ACT_DROP:
		case ACT_CLEANUP:
		case ACT_BUSY:
			return LOG_TONE_WARNING;
		default:
			return LOG_TONE_ERROR;
	}
}

/* record.h: until when (UTC, ISO 8601) and after how many failed runs it backs off; null: it does not */
static void
append_backoff(textbuf *sb, const plan_item *it)
{
	time_t    t = (time_t) it->backoff_until;
	struct tm tm;
	char      iso[32];

	if (it->backoff_until <= 0 || gmtime_r(&t, &tm) == NULL ||
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
	{
		textbuf_append(sb, ",\"backing_off_until\":null,\"failed_runs\":null");
		return;
	}
	textbuf_appendf(sb, ",\"backing_off_until\":\"%s\",\"failed_runs\":%d", iso, it->failed_runs);
}

static void
json_item(const plan_item *it, const char *state)
{
	const index_def *d = it->def;
	textbuf          sb;

	textbuf_init(&sb);
	textbuf_append(&sb, "{\"name\":");
	textbuf_append_json(&sb, d->name);
	textbuf_append(&sb, ",\"schema\":");
	textbuf_append_json(&sb, d->schema);
	textbuf_append(&sb, ",\"table\":");
	textbuf_append_json(&sb, d->table);
	textbuf_append(&sb, ",\"state\":");
	textbuf_append_json(&sb, state);
	textbuf_appendf(&sb, ",\"critical\":%s,\"action\":", d->critical ? "true" : "false");
	textbuf_append_json(&sb, plan_action_name(it->action));
	textbuf_append(&sb, ",\"reason\":");
	if (it->reason)
		textbuf_append_json(&sb, it->reason);
	else
		textbuf_append(&sb, "null");
	if (own_index(it))
		textbuf_appendf(&sb, ",\"size_bytes\":%lld", (long long) it->cat->index_bytes);
	else
		textbuf_append(&sb, ",\"size_bytes\":null");
	/* run_limits.h: the estimate of a build (null: none, or unknown) and why it waits */
	if (it->estimated && it->est_bytes >= 0)
		textbuf_appendf(&sb, ",\"estimated_bytes\":%lld", (long long) it->est_bytes);
	else
		textbuf_append(&sb, ",\"estimated_bytes\":null");
	textbuf_append(&sb, ",\"deferred\":");
	if (it->deferred[0])
		textbuf_append_json(&sb, it->deferred);
	else
		textbuf_append(&sb, "null");
	append_backoff(&sb, it);
	textbuf_append(&sb, "}\n");
	fputs(sb.data, stdout);
	textbuf_free(&sb);
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
void
report_foreign_leftovers(const run_state *rs)
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

/*
 * plan's exit code predicts build's: a critical definition that cannot be
 * built fails build with exit 1 before anything is built
 * (plan_item_fails_critical), so it is exit 1 here too, named last.
 */
static int
plan_exit_code(const run_state *rs)
{
	int failing = 0;

	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];

		if (!plan_item_fails_critical(it))
			continue;
		failing++;
		log_event(LOG_LEVEL_ERROR, "plan_failed", NULL,
				  "critical index \"%s\" on \"%s.%s\" cannot be built: %s", it->def->name, it->def->schema,
				  it->def->table, it->reason ? it->reason : "unknown");
	}
	if (failing == 0)
		return EXIT_OK;
	log_event(LOG_LEVEL_ERROR, "plan", NULL, "plan: %d critical index%s cannot be built: build would exit 1",
			  failing, failing == 1 ? "" : "es");
	return EXIT_CHANGE_FAILED;
}

int
cmd_plan(run_state *rs)
{
	bool json = log_get_format() == LOG_FORMAT_JSON;
	int  counts[ACT_ERROR + 1] = {0};
	int  rc, backing_off;

	report_foreign_leftovers(rs);
	/* sizes, the size guard, windows, --max-builds: as build would decide them */
	if ((rc = limits_prepare(rs)) != EXIT_OK)
		return rc;
	/* and the failure backoff, from the history table read only (record.h) */
	if ((rc = record_apply_backoff(rs->record, rs->plan, rs->n_defs, &backing_off)) != EXIT_OK)
		return cancel_pending() ? cancel_exit_code() : rc;
	/* the replica guard's state, when something would be built: why builds would wait */
	for (int i = 0; i < rs->n_defs; i++)
		if (limits_is_build(rs->plan[i].action))
		{
			if (!replica_guard_report(rs->conn, &rs->opts->set, &rs->round_trips))
				return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
			break;
		}
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];
		const index_def *d = it->def;
		char             est[256] = "";

		counts[it->action]++;
		if (json)
		{
			json_item(it, state_word(it));
			continue;
		}
		if (it->estimated)
			limits_describe(it, est, sizeof(est));
		else if (it->deferred[0])
			snprintf(est, sizeof(est), "; deferred: it %s", it->deferred);
		printf("%s%-8s%s ", log_paint(stdout, action_tone(it)), plan_action_name(it->action),
			   log_paint_end(stdout));
		print_visible("%s on %s.%s%s%s%s%s%s%s\n", d->name, d->schema, d->table,
					  it->partitioned && plan_action_is_work(it->action)
						  ? " (partitioned: partition by partition)"
						  : "",
					  d->critical ? " (critical)" : "", it->reason ? ": " : "", it->reason ? it->reason : "",
					  it->action == ACT_DRIFTED ? DRIFT_ADVICE : "", est);
		for (int k = 0; k < it->n_drop_first; k++)
			print_visible("%-8s %s on %s.%s: leftover of an interrupted rebuild\n", "drop", it->drop_first[k],
						  d->schema, d->table);
	}
	log_event(
		LOG_LEVEL_INFO, "plan", NULL,
		"plan: %d to build, %d to repair, %d to rebuild, %d to drop, %d to clean up, %d present, %d absent, %d drifted, %d busy, %d in error",
		counts[ACT_BUILD], counts[ACT_REPAIR], counts[ACT_REBUILD], counts[ACT_DROP], counts[ACT_CLEANUP],
		counts[ACT_PRESENT], counts[ACT_ABSENT], counts[ACT_DRIFTED], counts[ACT_BUSY], counts[ACT_ERROR]);
	rc = plan_exit_code(rs);
	if (backing_off > 0 && rc == EXIT_OK)
	{
		log_event(LOG_LEVEL_ERROR, "plan", NULL,
				  "plan: %d critical index%s backing off after repeated failures: build would exit 1 "
				  "(--retry-failed forces a try)",
				  backing_off, backing_off == 1 ? " is" : "es are");
		rc = EXIT_CHANGE_FAILED;
	}
	return rc;
}

int
cmd_check(run_state *rs)
{
	int problems = 0;
	int checked = 0;
	int drifted = 0;
	int no_table = 0; /* building cannot help: a migration must create the table */

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
		drifted += it->action == ACT_DRIFTED;
		no_table += it->action == ACT_ERROR && it->cat->table_oid == NULL;
		log_event(LOG_LEVEL_ERROR, "check_failed", NULL, "%sindex \"%s\" on \"%s.%s\" %s%s%s%s",
				  d->critical ? "critical " : "", d->name, d->schema, d->table, what, show ? ": " : "",
				  show ? it->reason : "", it->action == ACT_DRIFTED ? DRIFT_ADVICE : "");
	}
	if (problems > 0)
	{
		log_event(LOG_LEVEL_ERROR, "check", NULL,
				  "check: %d of %d defined index%s not in line with %s; run %s", problems, checked,
				  checked == 1 ? " is" : "es are", rs->cfg.path,
				  no_table > 0  ? "\"migrator up\" to create the missing tables, then \"indexer build\""
				  : drifted > 0 ? "\"indexer build --rebuild-drifted\""
								: "\"indexer build\"");
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

/*
 * Every definition's line; fills schemas and tables with the tables whose
 * other indexes status lists, and returns how many.
 */
static int
print_definitions(const run_state *rs, bool json, const char **schemas, const char **tables)
{
	int n_tables = 0;

	if (!json)
		printf("%-40s %-36s %-9s %-8s %10s\n", "NAME", "TABLE", "STATE", "CRITICAL", "SIZE");
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];
		const index_def *d = it->def;
		char             table[160];
		char             size[32];

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
		size[0] = '\0';
		if (own_index(it))
			format_size(it->cat->index_bytes, size, sizeof(size));
		printf("%-40s %-36s %s%-9s%s %-8s %10s\n", d->name, table, log_paint(stdout, action_tone(it)),
			   state_word(it), log_paint_end(stdout), d->critical ? "yes" : "no", size);
		if (it->reason && it->action != ACT_PRESENT && it->action != ACT_ABSENT)
			print_visible("%40s %s%s\n", "", it->reason, it->action == ACT_DRIFTED ? DRIFT_ADVICE : "");
	}
	return n_tables;
}

/* Is ix a definition of the file, or a definition's index that a constraint renamed? */
static bool
is_defined(const run_state *rs, const catalog_index *ix)
{
	for (int i = 0; i < rs->cfg.n_defs; i++)
		if (rs->cfg.defs[i].name && strcmp(rs->cfg.defs[i].name, ix->name) == 0 &&
			strcmp(rs->cfg.defs[i].schema, ix->schema) == 0)
			return true;
	/* ADD CONSTRAINT ... USING INDEX */
	for (int i = 0; i < rs->n_defs; i++)
		if (rs->plan[i].owner_constraint && ix->constraints &&
			strcmp(rs->plan[i].owner_constraint, ix->constraints) == 0 &&
			strcmp(rs->plan[i].def->schema, ix->schema) == 0 &&
			strcmp(rs->plan[i].def->table, ix->table) == 0)
			return true;
	return false;
}

static void
print_undefined_json(const catalog_index *ix)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_append(&sb, "{\"undefined\":");
	textbuf_append_json(&sb, ix->name);
	textbuf_append(&sb, ",\"schema\":");
	textbuf_append_json(&sb, ix->schema);
	textbuf_append(&sb, ",\"table\":");
	textbuf_append_json(&sb, ix->table);
	textbuf_append(&sb, ",\"definition\":");
	textbuf_append_json(&sb, ix->indexdef);
	textbuf_append(&sb, "}\n");
	fputs(sb.data, stdout);
	textbuf_free(&sb);
}

/* The indexes on the covered tables that the file does not define. */
static void
report_undefined(const run_state *rs, bool json, const catalog_index *idx, int n_idx)
{
	bool header = false;

	for (int k = 0; k < n_idx; k++)
	{
		if (is_defined(rs, &idx[k]))
			continue;
		if (json)
		{
			print_undefined_json(&idx[k]);
			continue;
		}
		if (!header)
			printf("\nnot in %s:\n", rs->cfg.path);
		header = true;
		print_visible("  %s.%s: %s%s%s%s\n", idx[k].schema, idx[k].table, idx[k].name,
					  idx[k].constraints ? " (constraint " : "", idx[k].constraints ? idx[k].constraints : "",
					  idx[k].constraints ? ")" : "");
	}
}

/* Two indexes of one table that index the same columns, expressions, predicate and method. */
static bool
same_index(const catalog_index *a, const catalog_index *b)
{
	return strcmp(a->schema, b->schema) == 0 && strcmp(a->table, b->table) == 0 &&
		   strcmp(a->signature, b->signature) == 0;
}

static void
print_duplicate(bool json, const catalog_index *ix, const char *same_as, bool *header)
{
	textbuf sb;

	if (!json)
	{
		if (!*header)
			printf("\nduplicates (the same columns, expressions, predicate and method):\n");
		*header = true;
		print_visible("  %s.%s: %s, %s\n", ix->schema, ix->table, ix->name, same_as);
		return;
	}
	textbuf_init(&sb);
	textbuf_append(&sb, "{\"duplicates\":");
	textbuf_append_json(&sb, ix->name);
	textbuf_append(&sb, ",\"same_as\":");
	textbuf_append_json(&sb, same_as);
	textbuf_append(&sb, ",\"table\":");
	textbuf_append_json(&sb, ix->table);
	textbuf_append(&sb, "}\n");
	fputs(sb.data, stdout);
	textbuf_free(&sb);
}

/* Duplicates: each group once, named by its first index. */
static void
report_duplicates(bool json, const catalog_index *idx, int n_idx)
{
	bool header = false;

	for (int k = 0; k < n_idx; k++)
	{
		textbuf same;
		bool    first = true;

		for (int m = 0; m < k && first; m++)
			first = !same_index(&idx[m], &idx[k]);
		if (!first)
			continue;
		textbuf_init(&same);
		for (int m = k + 1; m < n_idx; m++)
			if (same_index(&idx[m], &idx[k]))
				textbuf_appendf(&same, ", %s", idx[m].name);
		if (same.len > 0)
			print_duplicate(json, &idx[k], same.data + 2, &header);
		textbuf_free(&same);
	}
}

int
cmd_status(run_state *rs)
{
	bool           json = log_get_format() == LOG_FORMAT_JSON;
	const char   **schemas = xcalloc((size_t) (rs->n_defs + 1), sizeof(char *));
	const char   **tables = xcalloc((size_t) (rs->n_defs + 1), sizeof(char *));
	catalog_index *idx = NULL;
	int            n_idx;
	int            n_tables;
	int            rc = EXIT_OK;

	report_foreign_leftovers(rs);
	n_tables = print_definitions(rs, json, schemas, tables);
	n_idx = catalog_indexes(rs->conn, schemas, tables, n_tables, rs->opts->set.lock_timeout_ms, &idx);
	rs->round_trips++;
	if (n_idx < 0)
		rc = cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	else
	{
		report_undefined(rs, json, idx, n_idx);
		report_duplicates(json, idx, n_idx);
	}
	catalog_indexes_free(idx, n_idx);
	free(schemas);
	free(tables);
	return rc;
}
