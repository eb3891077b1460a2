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

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift.h"
#include "memory.h"

static const char *const action_names[] = {
	[ACT_PRESENT] = "present", [ACT_ABSENT] = "absent",   [ACT_BUILD] = "build", [ACT_REPAIR] = "repair",
	[ACT_REBUILD] = "rebuild", [ACT_DRIFTED] = "drifted", [ACT_DROP] = "drop",   [ACT_CLEANUP] = "cleanup",
	[ACT_BUSY] = "busy",       [ACT_UNKNOWN] = "unknown", [ACT_ERROR] = "error",
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

void
plan_defer(plan_item *it, plan_deferral kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(it->deferred, sizeof(it->deferred), fmt, ap);
	va_end(ap);
	it->deferral = kind;
}

char *
plan_ixold_mark(const char *name)
{
	return xasprintf("indexer: the old index of \"%s\", replaced by a rebuild; the indexer drops it", name);
}

static void
push(char ***list, int *n, int *cap, char *value)
{
	ARRAY_GROW(*list, *n + 1, *cap);
	(*list)[(*n)++] = value;
}

/* two parallel arrays, one count: each keeps its own capacity */
static void
suspect(plan_item *it, const char *name, char *why)
{
	int n = it->n_suspect_leftovers;

	ARRAY_GROW(it->suspect_leftovers, n + 1, it->cap_suspect_leftovers);
	ARRAY_GROW(it->suspect_why, n + 1, it->cap_suspect_why);
	it->suspect_leftovers[n] = xstrdup(name);
	it->suspect_why[n] = why;
	it->n_suspect_leftovers = n + 1;
}

/*
 * Sort the leftovers next to the index: provably ours to drop, REINDEX
 * CONCURRENTLY's and look-alikes to report (see plan_make).
 */
static void
classify_leftovers(plan_item *it)
{
	const catalog_entry *c = it->cat;
	const index_def     *d = it->def;
	size_t               nlen = strlen(d->name);
	char                *tmp_new = catalog_derived_name(d->name, "_ixnew");
	char                *tmp_old = catalog_derived_name(d->name, "_ixold");
	char                *mark = plan_ixold_mark(d->name);

	for (int i = 0; i < c->n_leftovers; i++)
	{
		const catalog_leftover *l = &c->leftovers[i];
		char                   *why = NULL;

		/* a constraint's index is never the indexer's to drop, whatever its name and definition */
		if ((strcmp(l->name, tmp_new) == 0 || strcmp(l->name, tmp_old) == 0) && l->constraints &&
			l->constraints[0])
			suspect(it, l->name,
					xasprintf("constraint %s uses it (the indexer never drops a constraint's index)",
							  l->constraints));
		else if (strcmp(l->name, tmp_new) == 0)
		{
			drift_result r =
				l->indexdef && l->indexdef[0] ? drift_compare_text(d, l->indexdef, 0, &why) : DRIFT_UNKNOWN;

			if (r == DRIFT_SAME)
				push(&it->drop_first, &it->n_drop_first, &it->cap_drop_first, xstrdup(l->name));
			else
				suspect(it, l->name,
						xasprintf("its definition \"%s\" is not the file's with only the name changed",
								  l->indexdef ? l->indexdef : "?"));
			free(why);
		}
		else if (strcmp(l->name, tmp_old) == 0)
		{
			if (l->comment && strcmp(l->comment, mark) == 0)
				push(&it->drop_first, &it->n_drop_first, &it->cap_drop_first, xstrdup(l->name));
			else
				suspect(it, l->name, xstrdup("it does not carry the mark a rebuild puts on the old index"));
		}
		else if (strncmp(l->name, d->name, nlen) == 0 &&
				 (strncmp(l->name + nlen, "_ccnew", 6) == 0 || strncmp(l->name + nlen, "_ccold", 6) == 0))
			push(&it->foreign_leftovers, &it->n_foreign_leftovers, &it->cap_foreign_leftovers,
				 xstrdup(l->name));
	}
	free(tmp_new);
	free(tmp_old);
	free(mark);
}

/*
 * The definition's name is free: is one of the table's constraint indexes
 * the definition (ADD CONSTRAINT c UNIQUE USING INDEX renames the index to
 * c)?  Sets the item and returns true when it is.
 */
static bool
owned_by_constraint(plan_item *it)
{
	const catalog_entry *c = it->cat;

	for (int i = 0; i < c->n_con_indexes; i++)
	{
		const catalog_constraint_index *ci = &c->con_indexes[i];
		char                           *why = NULL;
		drift_result r = ci->indexdef && ci->indexdef[0] ? drift_compare_text(it->def, ci->indexdef, 0, &why)
														 : DRIFT_UNKNOWN;

		free(why);
		if (r != DRIFT_SAME)
			continue;
		it->owner_constraint = xstrdup(ci->constraint);
		if (ci->valid)
			set(it, ACT_PRESENT,
				xasprintf(
					"constraint \"%s\" owns it as index \"%s\" (ADD CONSTRAINT ... USING INDEX renamed it)",
					ci->constraint, ci->index));
		else
			set(it, ACT_ERROR,
				xasprintf(
					"constraint \"%s\" owns it as index \"%s\", which is not valid; the indexer never drops a constraint's index: run REINDEX INDEX CONCURRENTLY \"%s\".\"%s\"",
					ci->constraint, ci->index, it->def->schema, ci->index));
		return true;
	}
	return false;
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

/*
 * The definition cannot be planned on this catalog: no such schema or
 * table, a relation that cannot have indexes, or the name taken by another
 * relation.  Sets the item to ACT_ERROR and returns true when so.
 */
static bool
table_refused(plan_item *it)
{
	const index_def     *d = it->def;
	const catalog_entry *c = it->cat;
	char                *conflict;

	if (!c->schema_exists)
	{
		set(it, ACT_ERROR,
			xasprintf("schema \"%s\" does not exist: it and table \"%s.%s\" must be created by a migration "
					  "first (migrator up), then the index can be built",
					  d->schema, d->schema, d->table));
		return true;
	}
	if (c->table_oid == NULL)
	{
		set(it, ACT_ERROR,
			xasprintf("table \"%s.%s\" does not exist: it must be created by a migration first (migrator "
					  "up), then the index can be built",
					  d->schema, d->table));
		return true;
	}
	if (c->table_kind != 'r' && c->table_kind != 'p' && c->table_kind != 'm')
	{
		set(it, ACT_ERROR,
			xasprintf(
				"\"%s.%s\" is a %s; only tables, partitioned tables and materialized views have indexes",
				d->schema, d->table, catalog_relkind_name(c->table_kind)));
		return true;
	}
	if ((conflict = name_conflict(d, c)) != NULL)
	{
		set(it, ACT_ERROR, conflict);
		return true;
	}
	return false;
}

/*
 * The index of that name exists but is not ready to compare: a partitioned
 * index missing partitions, a build in progress, an invalid index.  Sets the
 * item and returns true when so.
 */
static bool
decide_unfinished(plan_item *it)
{
	const index_def     *d = it->def;
	const catalog_entry *c = it->cat;

	if (it->partitioned && !c->valid)
	{
		set(it, ACT_BUILD,
			xstrdup(
				"the index of the partitioned table is not valid yet: some partitions have no index attached"));
		return true;
	}
	if (c->build_pid != 0)
	{
		set(it, ACT_BUSY, xasprintf("backend %d is building it right now", c->build_pid));
		return true;
	}
	if ((!c->valid || !c->ready) && c->constraints)
	{
		set(it, ACT_ERROR,
			xasprintf(
				"index \"%s.%s\" is not valid, and constraint %s uses it: the indexer never drops a constraint's index; run REINDEX INDEX CONCURRENTLY",
				d->schema, d->name, c->constraints));
		return true;
	}
	if (!c->valid || !c->ready)
	{
		set(it, ACT_REPAIR,
			xstrdup(
				"an invalid index left by a failed or interrupted build holds the name: drop it and build again"));
		return true;
	}
	return false;
}

/* A valid index that differs from the file: report it, or rebuild it when asked and safe. */
static void
decide_drifted(plan_item *it, const plan_options *opts)
{
	const index_def     *d = it->def;
	const catalog_entry *c = it->cat;

	if (!opts->rebuild_drifted)
		set(it, ACT_DRIFTED,
			xasprintf("the database has \"%s\"; the file defines \"%s\"", c->indexdef, d->sql));
	else if (c->constraints)
		set(it, ACT_ERROR,
			xasprintf(
				"drifted (the database has \"%s\"), but constraint %s uses it: --rebuild-drifted does not replace it (it never drops or swaps a constraint's index); change it by a migration, or rebuild it as it is with REINDEX INDEX CONCURRENTLY",
				c->indexdef, c->constraints));
	else if (it->partitioned)
		set(it, ACT_ERROR,
			xasprintf(
				"drifted (the database has \"%s\"), but it is the index of a partitioned table, which cannot be replaced online; drop it by hand and build again",
				c->indexdef));
	else
		set(it, ACT_REBUILD, xasprintf("drifted: the database has \"%s\"", c->indexdef));
}

static void
decide_present(plan_item *it, const plan_options *opts)
{
	const catalog_entry *c = it->cat;
	char                *why = NULL;

	if (table_refused(it))
		return;
	it->partitioned = c->table_kind == 'p';
	classify_leftovers(it);

	if (c->rel_oid == NULL)
	{
		if (!owned_by_constraint(it))
			set(it, ACT_BUILD, xstrdup("missing"));
		return;
	}
	if (decide_unfinished(it))
		return;

	switch (drift_compare(it->def, c, &why))
	{
		case DRIFT_SAME:
			break;
		case DRIFT_UNKNOWN:
			/* never "in line" when it could not be compared */
			set(it, ACT_UNKNOWN, xasprintf("cannot compare: %s", why));
			free(why);
			return;
		case DRIFT_DIFFERENT:
			decide_drifted(it, opts);
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

	(void) conn;
	(void) round_trips;
	for (int i = 0; i < n; i++)
	{
		plan_item *it = &items[i];

		it->def = defs[i];
		it->cat = &cat[i];
		if (it->cat->unknown)
			set(it, ACT_UNKNOWN, xasprintf("cannot compare: %s", it->cat->unknown_why));
		else if (it->def->state == INDEX_STATE_ABSENT)
			decide_absent(it);
		else
			decide_present(it, opts);
	}
	return items;
}

bool
plan_item_fails_critical(const plan_item *it)
{
	const index_def *d = it->def;

	if (!d->critical || d->state != INDEX_STATE_PRESENT)
		return false;
	return it->action == ACT_ERROR || (it->action == ACT_UNKNOWN && it->cat->unknown);
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
		free(it->failure);
		for (int k = 0; k < it->n_drop_first; k++)
			free(it->drop_first[k]);
		free(it->drop_first);
		for (int k = 0; k < it->n_foreign_leftovers; k++)
			free(it->foreign_leftovers[k]);
		free(it->foreign_leftovers);
		for (int k = 0; k < it->n_suspect_leftovers; k++)
		{
			free(it->suspect_leftovers[k]);
			free(it->suspect_why[k]);
		}
		free(it->suspect_leftovers);
		free(it->suspect_why);
		free(it->owner_constraint);
	}
	free(items);
}
