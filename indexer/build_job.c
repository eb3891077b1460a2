/*-------------------------------------------------------------------------
 *
 * build_job.c
 *	  Jobs: the units a plan item needs, and what became of it.
 *
 * job_prepare() turns a plan action into its recipe of units (build_unit.c
 * runs them): a build is one BUILD unit, or for a partitioned table the
 * parent's index ON ONLY and an EXPAND unit (build_partition.c); a repair
 * drops the invalid index first; a rebuild builds <name>_ixnew, swaps it in
 * (the old one renamed <name>_ixold and marked ours in the same
 * transaction) and drops the old one; a drop is one DROP unit.  Our own
 * leftovers of an interrupted rebuild are dropped before anything.
 *
 * job_finish() gives the item its outcome (done, failed, interrupted),
 * counts it in the summary and logs it.  A critical failure stops new work.
 *
 * At the end of the run, build_check_outcomes() asserts that every work
 * item has an outcome before the exit code is computed, so that work that
 * silently never ran can never pass for success.
 *
 * indexer/build_job.c
 *
 *-------------------------------------------------------------------------
 */
#include "build_internal.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "index_sql.h"
#include "memory.h"
#include "record.h"
#include "retry.h"
#include "sqlquote.h"

/* ---- the recipe ------------------------------------------------------------- */

/* build <name>_ixnew, swap it in, drop the old one */
static void
prepare_rebuild(job *j, const plan_item *it, const char *table_label)
{
	const index_def *d = it->def;
	char            *old = catalog_derived_name(d->name, "_ixold");
	char            *tmp = catalog_derived_name(d->name, "_ixnew");
	char            *qs = sql_quote_ident(d->schema);
	char            *qname = sql_quote_ident(d->name);
	char            *qtmp = sql_quote_ident(tmp);
	char            *qold = sql_quote_ident(old);
	unit            *u;

	unit_add_build(j, d, tmp, d->schema, d->table, it->cat->table_oid, false);
	u = unit_add(j, UNIT_SWAP, d->schema, d->name, table_label);
	u->swap_old_sql = xasprintf("ALTER INDEX %s.%s RENAME TO %s", qs, qname, qold);
	u->swap_new_sql = xasprintf("ALTER INDEX %s.%s RENAME TO %s", qs, qtmp, qname);
	u->mark_old = plan_ixold_mark(d->name);
	u->swap_old_name = xasprintf("%s.%s", qs, qold);
	unit_add_drop(j, d->schema, old, table_label);
	free(old);
	free(tmp);
	free(qs);
	free(qname);
	free(qtmp);
	free(qold);
}

void
job_prepare(job *j, plan_item *it)
{
	const index_def *d = it->def;
	char            *table_label = xasprintf("%s.%s", d->schema, d->table);

	j->item = it;
	/* our own leftovers (of an interrupted rebuild) go first */
	for (int i = 0; i < it->n_drop_first; i++)
		unit_add_drop(j, d->schema, it->drop_first[i], table_label);

	switch (it->action)
	{
		case ACT_BUILD:
			if (it->partitioned)
			{
				index_sql_target t = {d->name, d->schema, d->table, false, true, true};

				/* the parent's index: created ON ONLY, invalid until all are attached */
				unit_add_stmt(j, d->schema, d->name, table_label, index_sql_render(d->parsed, &t), true);
				unit_add(j, UNIT_EXPAND, d->schema, d->name, table_label);
			}
			else
				unit_add_build(j, d, d->name, d->schema, d->table, it->cat->table_oid, false);
			break;
		case ACT_REPAIR:
			unit_add_build(j, d, d->name, d->schema, d->table, it->cat->table_oid, true);
			break;
		case ACT_REBUILD:
			prepare_rebuild(j, it, table_label);
			break;
		case ACT_DROP:
			unit_add_drop(j, d->schema, d->name, table_label);
			break;
		default:
			break; /* CLEANUP: the drops above are all */
	}
	free(table_label);
}

void
job_free(job *j)
{
	for (int k = 0; k < j->n_units; k++)
		unit_free(&j->units[k]);
	free(j->units);
	free(j->left_behind);
}

/* ---- outcomes ------------------------------------------------------------------ */

static const char *
done_verb(plan_action a)
{
	switch (a)
	{
		case ACT_REPAIR:
			return "repaired";
		case ACT_REBUILD:
			return "rebuilt";
		case ACT_DROP:
			return "dropped";
		case ACT_CLEANUP:
			return "dropped the leftovers of";
		default:
			return "built";
	}
}

static void
count_done(build_summary *sum, plan_action a)
{
	switch (a)
	{
		case ACT_REPAIR:
			sum->repaired++;
			break;
		case ACT_REBUILD:
			sum->rebuilt++;
			break;
		case ACT_DROP:
			sum->dropped++;
			break;
		case ACT_CLEANUP:
			sum->cleaned++;
			break;
		default:
			sum->built++;
	}
}

/* A failed critical definition fails the run; anything else is a warning. */
static bool
item_is_critical(const plan_item *it)
{
	return it->def->critical && it->def->state == INDEX_STATE_PRESENT;
}

static void
count_failed(build_summary *sum, const plan_item *it)
{
	if (item_is_critical(it))
		sum->failed_critical++;
	else
		sum->failed_noncritical++;
}

/* The item's failure line, from its failed unit (NULL: interrupted before one failed). */
static char *
failure_text(const job *j, const unit *failed)
{
	const index_def *d = j->item->def;
	char            *msg = failed ? db_error_format(&failed->err) : xstrdup("interrupted");
	textbuf          sb;

	textbuf_init(&sb);
	if (failed && strcmp(failed->name, d->name) != 0)
		textbuf_appendf(&sb, "%s: ", failed->label);
	textbuf_append(&sb, msg);
	if (failed && failed->attempt > 1)
		textbuf_appendf(&sb, " (after %d attempts)", failed->attempt);
	if (failed && failed->err.detail)
		textbuf_appendf(&sb, "; detail: %s", failed->err.detail);
	if (j->left_behind)
		textbuf_appendf(&sb, "; the invalid index \"%s.%s\" is left behind: the next run repairs it",
						failed ? failed->schema : d->schema, j->left_behind);
	free(msg);
	return textbuf_detach(&sb);
}

/* The job did not complete: interrupted by the signal, or failed. */
static void
job_not_done(engine *e, job *j, const unit *failed, const log_field *fields)
{
	plan_item       *it = j->item;
	const index_def *d = it->def;

	free(it->failure);
	it->failure = failure_text(j, failed);
	if (e->interrupting && (failed == NULL || failed->err.cls == PGERR_CANCELED_BY_US))
	{
		it->outcome = OUTCOME_INTERRUPTED;
		e->sum->interrupted++;
		build_log(e, LOG_LEVEL_WARNING, "interrupted", fields, "\"%s\" on \"%s.%s\" interrupted: %s", d->name,
				  d->schema, d->table, it->failure);
		return;
	}
	it->outcome = OUTCOME_FAILED;
	count_failed(e->sum, it);
	if (item_is_critical(it))
	{
		e->stop_new = true;
		build_log(e, LOG_LEVEL_ERROR, "failed", fields, "critical index \"%s\" on \"%s.%s\" failed: %s",
				  d->name, d->schema, d->table, it->failure);
	}
	else
		build_log(e, LOG_LEVEL_WARNING, "failed", fields,
				  "could not %s \"%s\" on \"%s.%s\": %s (not critical: the run goes on)",
				  it->action == ACT_DROP      ? "drop"
				  : it->action == ACT_REBUILD ? "rebuild"
											  : "build",
				  d->name, d->schema, d->table, it->failure);
}

void
job_finish(engine *e, job *j)
{
	plan_item       *it = j->item;
	const index_def *d = it->def;
	char             dur[32];
	unit            *failed = NULL;
	log_field fields[] = {{"index", d->name}, {"critical", d->critical ? "true" : "false"}, {NULL, NULL}};

	it->duration_ms = monotonic_ms() - j->started_ms;
	progress_format_ms(it->duration_ms, dur, sizeof(dur));
	for (int i = 0; i < j->n_units; i++)
		if (j->units[i].step == STEP_FAILED)
			failed = &j->units[i];

	if (failed != NULL || j->cur < j->n_units)
	{
		job_not_done(e, j, failed, fields);
		record_end(e->env->record, j->record_id, it, failed ? failed->err.sqlstate : NULL,
				   failed ? failed->schema : d->schema);
		return;
	}
	it->outcome = OUTCOME_DONE;
	record_end(e->env->record, j->record_id, it, NULL, d->schema);
	count_done(e->sum, it->action);
	build_log(e, LOG_LEVEL_INFO, "done", fields, "%s \"%s\" on \"%s.%s\" in %s", done_verb(it->action),
			  d->name, d->schema, d->table, dur);
}

int
jobs_fail_unstarted(engine *e)
{
	int n = 0;

	for (int i = 0; i < e->n_items; i++)
	{
		plan_item       *it = &e->items[i];
		const index_def *d = it->def;

		if (!plan_action_is_work(it->action) || it->outcome != OUTCOME_NONE)
			continue;
		it->outcome = OUTCOME_FAILED;
		free(it->failure);
		it->failure = xasprintf("not started: %s", e->stopped);
		count_failed(e->sum, it);
		build_log(e, LOG_LEVEL_ERROR, "not_started", NULL, "%s\"%s\" on \"%s.%s\" not started: %s",
				  d->critical ? "critical index " : "", d->name, d->schema, d->table, e->stopped);
		n++;
	}
	return n;
}

int
build_check_outcomes(plan_item *items, int n, const char *held_back, build_summary *sum)
{
	int missing = 0;

	for (int i = 0; i < n; i++)
	{
		plan_item       *it = &items[i];
		const index_def *d = it->def;

		if (!plan_action_is_work(it->action) || it->outcome != OUTCOME_NONE || held_back != NULL)
			continue;
		/* a bug of ours: say so, and never let it pass for success */
		it->outcome = OUTCOME_FAILED;
		free(it->failure);
		it->failure = xstrdup("internal error: the build engine finished without an outcome for it");
		count_failed(sum, it);
		log_event(
			LOG_LEVEL_ERROR, "internal_error", NULL,
			"internal error: \"%s\" on \"%s.%s\" has no outcome at the end of the run; counted as failed",
			d->name, d->schema, d->table);
		missing++;
	}
	return missing;
}
