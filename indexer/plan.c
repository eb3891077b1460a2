/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  What to do about each definition, decided from the catalog.
 *
 * indexer/plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"
#include "memory.h"

static const char *const action_names[] = {
	[ACT_PRESENT] = "present", [ACT_ABSENT] = "absent",   [ACT_BUILD] = "build", [ACT_REPAIR] = "repair",
	[ACT_REBUILD] = "rebuild", [ACT_DRIFTED] = "drifted", [ACT_DROP] = "drop",   [ACT_CLEANUP] = "cleanup",
	[ACT_BUSY] = "busy",       [ACT_ERROR] = "error",
};

const char *
plan_action_name(plan_action action)
{
	return action_names[action];
}

bool
plan_action_is_work(plan_action action)
{
	return action == ACT_BUILD || action == ACT_REPAIR || action == ACT_REBUILD || action == ACT_DROP ||
		   action == ACT_CLEANUP;
}

static void
set(plan_item *it, plan_action action, char *reason)
{
	it->action = action;
	free(it->reason);
	it->reason = reason;
}

/* Sort the leftovers next to the index: ours to drop, others to report. */
static void
classify_leftovers(plan_item *it)
{
	const catalog_entry *c = it->cat;
	size_t               nlen = strlen(it->def->name);

	for (int i = 0; i < c->n_leftovers; i++)
	{
		const char *l = c->leftovers[i].name;
		bool        reindex = strncmp(l, it->def->name, nlen) == 0 &&
					   (strncmp(l + nlen, "_ccnew", 6) == 0 || strncmp(l + nlen, "_ccold", 6) == 0);

		if (reindex)
		{
			it->foreign_leftovers =
				xrealloc(it->foreign_leftovers, sizeof(char *) * (size_t) (it->n_foreign_leftovers + 1));
			it->foreign_leftovers[it->n_foreign_leftovers++] = xstrdup(l);
		}
		else
		{
			it->drop_first = xrealloc(it->drop_first, sizeof(char *) * (size_t) (it->n_drop_first + 1));
			it->drop_first[it->n_drop_first++] = xstrdup(l);
		}
	}
}

/* Why the name cannot be used, or NULL when it is free or ours. */
static char *
name_conflict(const index_def *d, const catalog_entry *c)
{
	if (c->rel_oid == NULL)
		return NULL;
	if (!c->is_index)
		return xasprintf("the name is taken: \"%s.%s\" is a %s, not an index", d->schema, d->name,
						 catalog_relkind_name(c->rel_kind));
	if (!c->on_table)
		return xasprintf("the name is taken: index \"%s.%s\" exists on table \"%s\", not on \"%s.%s\"",
						 d->schema, d->name, c->other_table ? c->other_table : "?", d->schema, d->table);
	return NULL;
}

static void
decide_absent(plan_item *it)
{
	const index_def     *d = it->def;
	const catalog_entry *c = it->cat;
	char                *conflict;

	if (c->rel_oid == NULL)
	{
		set(it, ACT_ABSENT, NULL);
		return;
	}
	if ((conflict = name_conflict(d, c)) != NULL)
	{
		set(it, ACT_ERROR, xasprintf("%s; not dropped", conflict));
		free(conflict);
		return;
	}
	if (c->constraints)
		set(it, ACT_ERROR,
			xasprintf(
				"index \"%s.%s\" is used by constraint %s; not dropped (change the constraint by a migration)",
				d->schema, d->name, c->constraints));
	else if (c->rel_kind == 'I')
		set(it, ACT_ERROR,
			xasprintf(
				"\"%s.%s\" is the index of a partitioned table, which cannot be dropped concurrently; drop it by hand at a quiet time (DROP INDEX locks every partition)",
				d->schema, d->name));
	else if (c->build_pid != 0)
		set(it, ACT_BUSY, xasprintf("backend %d is building it right now", c->build_pid));
	else
		set(it, ACT_DROP, xstrdup("state is \"absent\""));
}

static void
decide_present(PGconn *conn, plan_item *it, const plan_options *opts, int *round_trips)
{
	const index_def     *d = it->def;
	const catalog_entry *c = it->cat;
	char                *conflict;
	char                *why = NULL;

	if (!c->schema_exists)
	{
		set(it, ACT_ERROR, xasprintf("schema \"%s\" does not exist", d->schema));
		return;
	}
	if (c->table_oid == NULL)
	{
		set(it, ACT_ERROR, xasprintf("table \"%s.%s\" does not exist", d->schema, d->table));
		return;
	}
	if (c->table_kind != 'r' && c->table_kind != 'p' && c->table_kind != 'm')
	{
		set(it, ACT_ERROR,
			xasprintf(
				"\"%s.%s\" is a %s; only tables, partitioned tables and materialized views have indexes",
				d->schema, d->table, catalog_relkind_name(c->table_kind)));
		return;
	}
	if ((conflict = name_conflict(d, c)) != NULL)
	{
		set(it, ACT_ERROR, conflict);
		return;
	}
	it->partitioned = c->table_kind == 'p';
	classify_leftovers(it);

	if (c->rel_oid == NULL)
	{
		set(it, ACT_BUILD, xstrdup("missing"));
		return;
	}
	if (it->partitioned && !c->valid)
	{
		set(it, ACT_BUILD,
			xstrdup(
				"the index of the partitioned table is not valid yet: some partitions have no index attached"));
		return;
	}
	if (c->build_pid != 0)
	{
		set(it, ACT_BUSY, xasprintf("backend %d is building it right now", c->build_pid));
		return;
	}
	if (!c->valid || !c->ready)
	{
		set(it, ACT_REPAIR,
			xstrdup(
				"an invalid index left by a failed or interrupted build holds the name: drop it and build again"));
		return;
	}

	switch (drift_compare(conn, d, c, opts->lock_timeout_ms, &why, round_trips))
	{
		case DRIFT_SAME:
			break;
		case DRIFT_UNKNOWN:
			it->drift_note = why;
			why = NULL;
			break;
		case DRIFT_DIFFERENT:
			if (!opts->rebuild_drifted)
				set(it, ACT_DRIFTED,
					xasprintf("the database has \"%s\"; the file defines \"%s\"", c->indexdef, d->sql));
			else if (c->constraints)
				set(it, ACT_ERROR,
					xasprintf(
						"drifted (the database has \"%s\"), but constraint %s uses it: --rebuild-drifted does not replace it; change it by a migration",
						c->indexdef, c->constraints));
			else if (it->partitioned)
				set(it, ACT_ERROR,
					xasprintf(
						"drifted (the database has \"%s\"), but it is the index of a partitioned table, which cannot be replaced online; drop it by hand and build again",
						c->indexdef));
			else
				set(it, ACT_REBUILD, xasprintf("drifted: the database has \"%s\"", c->indexdef));
			return;
	}
	free(why);
	if (it->n_drop_first > 0)
		set(it, ACT_CLEANUP, xstrdup("leftovers of an interrupted rebuild"));
	else
		set(it, ACT_PRESENT, NULL);
}

plan_item *
plan_make(PGconn *conn, index_def *const *defs, catalog_entry *cat, int n, const plan_options *opts,
		  int *round_trips)
{
	plan_item *items = xcalloc((size_t) (n + 1), sizeof(plan_item));

	for (int i = 0; i < n; i++)
	{
		plan_item *it = &items[i];

		it->def = defs[i];
		it->cat = &cat[i];
		if (it->def->state == INDEX_STATE_ABSENT)
			decide_absent(it);
		else
			decide_present(conn, it, opts, round_trips);
	}
	return items;
}

void
plan_free(plan_item *items, int n)
{
	if (items == NULL)
		return;
	for (int i = 0; i < n; i++)
	{
		plan_item *it = &items[i];

		free(it->reason);
		free(it->drift_note);
		free(it->failure);
		for (int k = 0; k < it->n_drop_first; k++)
			free(it->drop_first[k]);
		free(it->drop_first);
		for (int k = 0; k < it->n_foreign_leftovers; k++)
			free(it->foreign_leftovers[k]);
		free(it->foreign_leftovers);
	}
	free(items);
}
