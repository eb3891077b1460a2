/*-------------------------------------------------------------------------
 *
 * build_partition.c
 *	  The partition recipe: the index of a partitioned table, built
 *	  partition by partition without locking the table.
 *
 * CREATE INDEX CONCURRENTLY does not work on a partitioned table, so the
 * job of such an item (build_job.c) creates the parent's index ON ONLY
 * (invalid until every partition has one) and then runs this recipe, once
 * the parent's index exists: an ON ONLY index on every sub-partitioned
 * partition, a concurrent build on every leaf, each attached to its
 * parent's index, bottom up; then the parent must be valid.  What a
 * partition already has (an attached index, a valid index of the derived
 * name) is kept.  A foreign partition, an attached but invalid index, or
 * the derived name taken by another relation stops the recipe: each needs
 * a person.
 *
 * indexer/build_partition.c
 *
 *-------------------------------------------------------------------------
 */
#include "build_internal.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "index_sql.h"
#include "memory.h"

/* The partitions and what their derived index names hold now. */
typedef struct recipe
{
	const index_def     *def;
	char                *table_label; /* "s.t" of the partitioned table */
	catalog_partition   *parts;
	int                  n;
	char               **derived; /* the index name of each partition */
	catalog_index_state *states;  /* what holds that name */
} recipe;

static void
recipe_free(recipe *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->derived[i]);
	free(r->derived);
	free(r->states);
	catalog_partitions_free(r->parts, r->n);
	free(r->table_label);
}

/* Two catalog queries, synchronous (no lock is taken).  false with error filled. */
static bool
recipe_load(recipe *r, PGconn *conn, job *j, db_error *error)
{
	const char **schemas;
	const char **oids;
	bool         ok = true;

	r->n = catalog_partitions(conn, j->item->cat->table_oid, r->def->schema, r->def->name, &r->parts, error);
	if (r->n < 0)
	{
		r->n = 0;
		return false;
	}
	r->derived = xcalloc((size_t) (r->n + 1), sizeof(char *));
	r->states = xcalloc((size_t) (r->n + 1), sizeof(catalog_index_state));
	schemas = xcalloc((size_t) (r->n + 1), sizeof(char *));
	oids = xcalloc((size_t) (r->n + 1), sizeof(char *));
	for (int i = 0; i < r->n; i++)
	{
		char *suffix = xasprintf("_%s", r->parts[i].name);

		r->derived[i] = catalog_derived_name(r->def->name, suffix);
		schemas[i] = r->parts[i].schema;
		oids[i] = r->parts[i].oid;
		free(suffix);
	}
	if (r->n > 0)
		ok = catalog_index_states(conn, schemas, (const char *const *) r->derived, oids, r->n, r->states,
								  error);
	free(schemas);
	free(oids);
	return ok;
}

/* What stops the recipe: a partition that needs a person.  false with error filled. */
static bool
recipe_check(const recipe *r, db_error *error)
{
	for (int i = 0; i < r->n; i++)
	{
		const catalog_partition *p = &r->parts[i];
		char                    *msg = NULL;

		if (p->kind == 'f')
			msg = xasprintf(
				"partition \"%s.%s\" is a foreign table, which cannot have an index: the index of \"%s\" cannot become valid",
				p->schema, p->name, r->table_label);
		else if (p->attached_index && !p->attached_valid && p->kind != 'p')
			msg = xasprintf("index \"%s\" of partition \"%s.%s\" is attached but not valid; drop it by hand",
							p->attached_index, p->schema, p->name);
		else if (!p->attached_index && r->states[i].exists && !r->states[i].on_table)
			msg =
				xasprintf("the name \"%s.%s\" for the index of partition \"%s\" is taken by another relation",
						  p->schema, r->derived[i], p->name);
		if (msg != NULL)
		{
			db_error_clear(error);
			error->cls = PGERR_OTHER;
			error->message = msg;
			return false;
		}
	}
	return true;
}

/* parents come before their children: ON ONLY first, top down */
static void
add_creates(const recipe *r, job *j)
{
	for (int i = 0; i < r->n; i++)
	{
		const catalog_partition   *p = &r->parts[i];
		const catalog_index_state *st = &r->states[i];
		char                      *plabel = xasprintf("%s.%s", p->schema, p->name);

		if (p->attached_index == NULL && p->kind == 'p' && !st->exists)
		{
			index_sql_target t = {r->derived[i], p->schema, p->name, false, true, true};

			unit_add_stmt(j, p->schema, r->derived[i], plabel, index_sql_render(r->def->parsed, &t), true);
		}
		else if (p->attached_index == NULL && p->kind != 'p' && !(st->exists && st->valid))
			unit_add_build(j, r->def, r->derived[i], p->schema, p->name, p->oid, st->exists);
		free(plabel);
	}
}

/* then attach, bottom up, each to its parent partition's index */
static void
add_attaches(const recipe *r, job *j)
{
	for (int level = r->n > 0 ? r->parts[r->n - 1].level : 0; level >= 1; level--)
	{
		for (int i = 0; i < r->n; i++)
		{
			const catalog_partition *p = &r->parts[i];
			const char              *parent_schema = r->def->schema;
			const char              *parent_index = r->def->name;
			char                    *qparent;
			char                    *qchild;

			if (p->level != level || p->attached_index != NULL)
				continue;
			for (int k = 0; k < r->n; k++)
			{
				if (strcmp(r->parts[k].oid, p->parent_oid) == 0)
				{
					parent_schema = r->parts[k].schema;
					parent_index = r->parts[k].attached_index ? r->parts[k].attached_index : r->derived[k];
				}
			}
			qparent = build_qualified(parent_schema, parent_index);
			qchild = build_qualified(p->schema, r->derived[i]);
			unit_add_stmt(j, p->schema, r->derived[i], r->table_label,
						  xasprintf("ALTER INDEX %s ATTACH PARTITION %s", qparent, qchild), false);
			free(qparent);
			free(qchild);
		}
	}
}

bool
partition_expand(PGconn *conn, job *j, db_error *error)
{
	const index_def *d = j->item->def;
	recipe           r = {d, xasprintf("%s.%s", d->schema, d->table), NULL, 0, NULL, NULL};
	bool             ok = recipe_load(&r, conn, j, error) && recipe_check(&r, error);

	if (ok)
	{
		unit *v;
		int   to_go;

		add_creates(&r, j);
		add_attaches(&r, j);
		v = unit_add(j, UNIT_VERIFY, d->schema, d->name, r.table_label);
		v->table_oid = xstrdup(j->item->cat->table_oid);
		to_go = j->n_units - j->cur - 1;
		log_event(LOG_LEVEL_INFO, "partitions", NULL,
				  "\"%s\" on partitioned table \"%s\": %d partition%s, %d step%s to go", d->name,
				  r.table_label, r.n, r.n == 1 ? "" : "s", to_go, to_go == 1 ? "" : "s");
	}
	recipe_free(&r);
	return ok;
}
