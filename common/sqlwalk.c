/*-------------------------------------------------------------------------
 *
 * sqlwalk.c
 *	  Walking libpg_query parse trees, and the relations a statement names.
 *
 * common/sqlwalk.c
 *
 *-------------------------------------------------------------------------
 */
#include "sqlwalk.h"

#include <stdlib.h>
#include <string.h>

#include <pg_query.pb-c.h>

#include "memory.h"

static const ProtobufCMessage *
field_message(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, size_t i)
{
	const char *base = (const char *) msg + f->offset;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return (*(ProtobufCMessage *const *const *) base)[i];
	return *(ProtobufCMessage *const *) base;
}

/*
 * The walk itself; depth is root's, 1 for the walk's root.  The bound is
 * a guard: sql_parse_script() hands out no deeper tree.
 */
static void
walk(const ProtobufCMessage *root, sql_walk_fn fn, void *arg, int depth)
{
	const ProtobufCMessageDescriptor *d;

	if (root == NULL || depth > SQL_PARSE_MAX_DEPTH || !fn(root, arg))
		return;
	d = root->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++)
	{
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		size_t                          count = 1;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		/* only the member of a oneof that is set */
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			*(const uint32_t *) ((const char *) root + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			count = *(const size_t *) ((const char *) root + f->quantifier_offset);
		for (size_t j = 0; j < count; j++)
			walk(field_message(root, f, j), fn, arg, depth + 1);
	}
}

void
sql_walk(const ProtobufCMessage *root, sql_walk_fn fn, void *arg)
{
	walk(root, fn, arg, 1);
}

static void
add_relation(sql_relation_list *out, const char *schema, const char *name)
{
	for (int i = 0; i < out->n; i++)
		if (strcmp(out->items[i].schema, schema) == 0 && strcmp(out->items[i].name, name) == 0)
			return;
	ARRAY_GROW(out->items, out->n + 1, out->cap);
	out->items[out->n].schema = xstrdup(schema);
	out->items[out->n].name = xstrdup(name);
	out->n++;
}

/* A DROP's object is a List of String nodes: [schema,] name. */
static void
add_dropped(sql_relation_list *out, const PgQuery__Node *obj)
{
	const PgQuery__List *list;
	const char          *parts[3] = {"", "", ""};
	size_t               n;

	if (obj == NULL || obj->node_case != PG_QUERY__NODE__NODE_LIST)
		return;
	list = obj->list;
	n = list->n_items;
	if (n == 0 || n > 3)
		return;
	for (size_t i = 0; i < n; i++)
	{
		if (list->items[i]->node_case != PG_QUERY__NODE__NODE_STRING)
			return;
		parts[i] = list->items[i]->string->sval;
	}
	if (n == 1)
		add_relation(out, "", parts[0]);
	else
		add_relation(out, parts[n - 2], parts[n - 1]);
}

static bool
collect(const ProtobufCMessage *msg, void *arg)
{
	sql_relation_list *out = arg;

	if (msg->descriptor == &pg_query__range_var__descriptor)
	{
		const PgQuery__RangeVar *rv = (const PgQuery__RangeVar *) msg;

		if (rv->relname && rv->relname[0])
			add_relation(out, rv->schemaname ? rv->schemaname : "", rv->relname);
	}
	else if (msg->descriptor == &pg_query__drop_stmt__descriptor)
	{
		const PgQuery__DropStmt *ds = (const PgQuery__DropStmt *) msg;

		switch (ds->remove_type)
		{
			case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
			case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
			case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
			case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
			case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
			case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE:
				for (size_t i = 0; i < ds->n_objects; i++)
					add_dropped(out, ds->objects[i]);
				break;
			default:
				break;
		}
	}
	return true;
}

void
sql_statement_relations(const sql_script *script, int stmt_index, sql_relation_list *out)
{
	const PgQuery__ParseResult *tree = script->tree;
	int                         idx;

	if (tree == NULL || stmt_index < 0 || stmt_index >= script->n_stmts)
		return;
	idx = script->stmts[stmt_index].tree_index;
	if (idx < 0 || (size_t) idx >= tree->n_stmts || tree->stmts[idx]->stmt == NULL)
		return;
	sql_walk((const ProtobufCMessage *) tree->stmts[idx]->stmt, collect, out);
}

void
sql_relation_list_free(sql_relation_list *list)
{
	if (list == NULL)
		return;
	for (int i = 0; i < list->n; i++)
	{
		free(list->items[i].schema);
		free(list->items[i].name);
	}
	free(list->items);
	list->items = NULL;
	list->n = list->cap = 0;
}
