/*-------------------------------------------------------------------------
 *
 * lint_ddl.c
 *	  Lint rules for DDL and data statements.
 *
 * create-index, reindex, vacuum-full, cluster, dml, copy-stdio, drop-index,
 * drop-table, rename and not-idempotent: one checker per statement kind,
 * listed in lint_ddl_checks for the dispatcher (lint.c).  What a statement
 * creates (tables, indexes) is recorded for the statements after it.
 *
 * not-idempotent (no-transaction files only) covers exactly: CREATE TABLE,
 * CREATE TABLE AS / MATERIALIZED VIEW, CREATE INDEX, CREATE SEQUENCE,
 * CREATE SCHEMA and CREATE EXTENSION without IF NOT EXISTS; CREATE VIEW,
 * CREATE FUNCTION / PROCEDURE and CREATE TRIGGER without OR REPLACE; DROP of
 * anything without IF EXISTS; ALTER TABLE ... ADD COLUMN without IF NOT
 * EXISTS, DROP COLUMN and DROP CONSTRAINT without IF EXISTS; ALTER TYPE ...
 * ADD VALUE without IF NOT EXISTS.  Statements
 * with no idempotent form (ADD CONSTRAINT, CREATE TYPE, RENAME, ...) are
 * not reported, nor are statements inside DO blocks (which is where a file
 * puts a statement guarded by a catalog lookup).
 *
 * migrator/lint_ddl.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_internal.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"

/*
 * Only top-level statements: a DO block is how a file guards a statement
 * (IF NOT EXISTS (SELECT ... FROM pg_catalog...) THEN ...), which this check
 * cannot follow.
 */
void
lint_not_idempotent(lint_state *st, const stmt_ctx *ctx, const char *what, const char *fix)
{
	if (st->no_transaction && ctx->depth == 0)
		lint_report(
			st, ctx, LINT_R_NOT_IDEMPOTENT,
			"%s fails when the file runs again after a partial failure (a no-transaction file is not rolled back); write %s",
			what, fix);
}

static void
check_index_stmt(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__IndexStmt *ix = node->index_stmt;
	const PgQuery__RangeVar  *rel = ix->relation;
	bool                      is_new = lint_rangevar_is_created(st, rel);
	char                     *relname = lint_quote_rangevar(rel);
	const char               *head = ix->unique
										 ? (ix->concurrent ? "CREATE UNIQUE INDEX CONCURRENTLY" : "CREATE UNIQUE INDEX")
										 : (ix->concurrent ? "CREATE INDEX CONCURRENTLY" : "CREATE INDEX");

	if (ix->concurrent && is_new)
		lint_report(
			st, ctx, LINT_R_CREATE_INDEX,
			"%s on %s cannot run inside the migration's transaction; %s is created in this migration and still empty: "
			"drop CONCURRENTLY, a plain CREATE INDEX on it is instant",
			head, relname, relname);
	else if (ix->concurrent)
		lint_report(
			st, ctx, LINT_R_CREATE_INDEX,
			"%s on %s cannot run inside the migration's transaction and leaves an invalid index behind when it fails; "
			"indexes belong in the indexer's config: add a definition to conf/indexes.cfg",
			head, relname);
	else if (!is_new)
		lint_report(st, ctx, LINT_R_CREATE_INDEX,
					"%s on %s blocks writes to the table for the whole build; "
					"indexes belong in the indexer's config: add a definition to conf/indexes.cfg",
					head, relname);
	else
		/* an index is a relation in its table's schema */
		lint_add_created(st, rel->schemaname, ix->idxname);

	if (!ix->if_not_exists)
		lint_not_idempotent(st, ctx, head, "CREATE INDEX IF NOT EXISTS");
	free(relname);
}

/* "UPDATE on "t"" and the like, for the dml rule; caller frees. */
static char *
dml_head(const char *verb, const PgQuery__RangeVar *rel)
{
	char *name;
	char *head;

	if (rel == NULL)
		return xstrdup(verb);
	name = lint_quote_rangevar(rel);
	head = xasprintf("%s on %s", verb, name);
	free(name);
	return head;
}

static void
report_dml(lint_state *st, const stmt_ctx *ctx, const char *verb, const PgQuery__RangeVar *rel)
{
	char *head;

	if (st->allow_dml)
		return;
	head = dml_head(verb, rel);
	lint_report(
		st, ctx, LINT_R_DML,
		"%s changes data, not the schema, and holds its locks until the migration commits; "
		"backfill in batches outside migrations, or put \"-- migrator:allow-dml\" in the file's leading comments",
		head);
	free(head);
}

/*
 * Does a WITH clause hold INSERT, UPDATE, DELETE or MERGE?  depth counts
 * the WITH clauses around this one; bounded as every walker of the tree is
 * (sqlparse.h), which a tree from the parser never reaches.
 */
static bool
with_modifies_data(const PgQuery__WithClause *with, int depth)
{
	if (with == NULL || depth > SQL_PARSE_MAX_DEPTH)
		return false;
	for (size_t i = 0; i < with->n_ctes; i++)
	{
		const PgQuery__Node *c = with->ctes[i];
		const PgQuery__Node *q;

		if (c->node_case != PG_QUERY__NODE__NODE_COMMON_TABLE_EXPR)
			continue;
		q = c->common_table_expr->ctequery;
		if (q == NULL)
			continue;
		switch (q->node_case)
		{
			case PG_QUERY__NODE__NODE_INSERT_STMT:
			case PG_QUERY__NODE__NODE_UPDATE_STMT:
			case PG_QUERY__NODE__NODE_DELETE_STMT:
			case PG_QUERY__NODE__NODE_MERGE_STMT:
				return true;
			case PG_QUERY__NODE__NODE_SELECT_STMT:
				if (with_modifies_data(q->select_stmt->with_clause, depth + 1))
					return true;
				break;
			default:
				break;
		}
	}
	return false;
}

static void
check_select(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__SelectStmt *sel = node->select_stmt;
	if (sel->into_clause != NULL)
		report_dml(st, ctx, "SELECT INTO", sel->into_clause->rel);
	else if (with_modifies_data(sel->with_clause, 1))
		report_dml(st, ctx, "a data-modifying WITH", NULL);
}

static void
check_create_table_as(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__CreateTableAsStmt *c = node->create_table_as_stmt;
	const PgQuery__RangeVar          *rel = c->into != NULL ? c->into->rel : NULL;
	bool                              matview = c->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW;
	const char                       *verb = matview             ? "CREATE MATERIALIZED VIEW"
											 : c->is_select_into ? "SELECT INTO"
																 : "CREATE TABLE AS";

	/* WITH NO DATA creates an empty relation: DDL */
	if (c->into != NULL && c->into->skip_data)
	{
		if (rel != NULL)
			lint_add_created(st, rel->schemaname, rel->relname);
	}
	else
		report_dml(st, ctx, verb, rel);
	if (!c->if_not_exists)
		lint_not_idempotent(st, ctx, verb,
							matview ? "CREATE MATERIALIZED VIEW IF NOT EXISTS"
									: "CREATE TABLE IF NOT EXISTS ... AS");
}

static const char *
drop_keyword(PgQuery__ObjectType t)
{
	switch (t)
	{
		case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
			return "DROP TABLE";
		case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
			return "DROP INDEX";
		case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
			return "DROP VIEW";
		case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
			return "DROP MATERIALIZED VIEW";
		case PG_QUERY__OBJECT_TYPE__OBJECT_SEQUENCE:
			return "DROP SEQUENCE";
		case PG_QUERY__OBJECT_TYPE__OBJECT_FUNCTION:
			return "DROP FUNCTION";
		case PG_QUERY__OBJECT_TYPE__OBJECT_PROCEDURE:
			return "DROP PROCEDURE";
		case PG_QUERY__OBJECT_TYPE__OBJECT_TYPE:
			return "DROP TYPE";
		case PG_QUERY__OBJECT_TYPE__OBJECT_DOMAIN:
			return "DROP DOMAIN";
		case PG_QUERY__OBJECT_TYPE__OBJECT_SCHEMA:
			return "DROP SCHEMA";
		case PG_QUERY__OBJECT_TYPE__OBJECT_EXTENSION:
			return "DROP EXTENSION";
		case PG_QUERY__OBJECT_TYPE__OBJECT_TRIGGER:
			return "DROP TRIGGER";
		default:
			return "DROP";
	}
}

/* Were all the relations a DROP names created earlier in the file? */
static bool
drop_objects_all_new(const lint_state *st, const PgQuery__DropStmt *d)
{
	for (size_t i = 0; i < d->n_objects; i++)
	{
		const PgQuery__Node *o = d->objects[i];
		const char          *schema;
		const char          *name;

		if (o->node_case != PG_QUERY__NODE__NODE_LIST ||
			!lint_list_name(o->list->items, o->list->n_items, &schema, &name) ||
			!lint_is_created(st, schema, name))
			return false;
	}
	return d->n_objects > 0;
}

/* The names a DROP names, quoted and comma-separated; caller frees. */
static char *
drop_object_names(const PgQuery__DropStmt *d)
{
	textbuf sb;

	textbuf_init(&sb);
	for (size_t i = 0; i < d->n_objects; i++)
	{
		const PgQuery__Node *o = d->objects[i];
		const char          *schema;
		const char          *name;
		char                *q;

		if (o->node_case != PG_QUERY__NODE__NODE_LIST ||
			!lint_list_name(o->list->items, o->list->n_items, &schema, &name))
			continue;
		q = lint_quote_name(schema, name);
		if (sb.len > 0)
			textbuf_append(&sb, ", ");
		textbuf_append(&sb, q);
		free(q);
	}
	return textbuf_detach(&sb);
}

static void
check_drop(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__DropStmt *d = node->drop_stmt;
	const char              *kw = drop_keyword(d->remove_type);

	if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX && !d->concurrent &&
		!drop_objects_all_new(st, d))
	{
		char *names = drop_object_names(d);

		lint_report(
			st, ctx, LINT_R_DROP_INDEX,
			"DROP INDEX %s takes an ACCESS EXCLUSIVE lock on its table, blocking reads and writes; "
			"set state = \"absent\" for it in conf/indexes.cfg, and the indexer drops it CONCURRENTLY",
			names);
		free(names);
	}
	else if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE && !drop_objects_all_new(st, d))
	{
		char *names = drop_object_names(d);

		lint_report(
			st, ctx, LINT_R_DROP_TABLE,
			"DROP TABLE %s destroys data and breaks code that still uses the table; "
			"stop using it in the application and deploy first, then drop it with \"-- migrator:allow drop-table\" above the statement",
			names);
		free(names);
	}
	if (!d->missing_ok)
	{
		char *fix = xasprintf("%s IF EXISTS", kw);

		lint_not_idempotent(st, ctx, kw, fix);
		free(fix);
	}
}

static void
check_rename(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__RenameStmt *r = node->rename_stmt;
	const PgQuery__RangeVar   *rel = r->relation;
	const char                *what;
	char                      *relname;

	switch (r->rename_type)
	{
		case PG_QUERY__OBJECT_TYPE__OBJECT_TABLE:
			what = "table";
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_VIEW:
			what = "view";
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW:
			what = "materialized view";
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_FOREIGN_TABLE:
			what = "foreign table";
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN:
			what = "column";
			break;
		case PG_QUERY__OBJECT_TYPE__OBJECT_INDEX:
			/* an index the file created keeps counting as created */
			if (lint_rangevar_is_created(st, rel))
				lint_add_created(st, rel->schemaname, r->newname);
			return;
		default:
			return;
	}
	if (rel == NULL)
		return;
	if (lint_rangevar_is_created(st, rel))
	{
		if (r->rename_type != PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN)
			lint_add_created(st, rel->schemaname, r->newname);
		return;
	}
	relname = lint_quote_rangevar(rel);
	if (r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN)
		lint_report(
			st, ctx, LINT_R_RENAME,
			"RENAME of column \"%s\" of %s to \"%s\" breaks the running application, which still uses the old name; "
			"add the new column alongside, move the application to it, then drop the old one",
			r->subname, relname, r->newname);
	else
		lint_report(
			st, ctx, LINT_R_RENAME,
			"RENAME of %s %s to \"%s\" breaks the running application, which still uses the old name; "
			"create the new name alongside (e.g. a view), move the application to it, then drop the old one",
			what, relname, r->newname);
	free(relname);
}

static void
check_reindex(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	lint_report(
		st, ctx, LINT_R_REINDEX,
		"REINDEX blocks writes to the table until its indexes are rebuilt; it is maintenance, not a schema change: "
		"run REINDEX ... CONCURRENTLY outside migrations");
}

static void
check_vacuum(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__VacuumStmt *v = node->vacuum_stmt;
	const PgQuery__DefElem    *full = lint_find_option(v->options, v->n_options, "full");

	if (v->is_vacuumcmd && full != NULL && lint_defelem_bool(full))
		lint_report(
			st, ctx, LINT_R_VACUUM_FULL,
			"VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock, blocking reads and writes until it ends; "
			"it is maintenance, not a schema change: run it outside migrations, in a maintenance window");
}

static void
check_cluster(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	lint_report(
		st, ctx, LINT_R_CLUSTER,
		"CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock, blocking reads and writes until it ends; "
		"it is maintenance, not a schema change: run it outside migrations, in a maintenance window");
}

/* INSERT, UPDATE, DELETE, MERGE, REFRESH MATERIALIZED VIEW, CALL: dml */
static void
check_dml(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	switch (node->node_case)
	{
		case PG_QUERY__NODE__NODE_INSERT_STMT:
			report_dml(st, ctx, "INSERT", node->insert_stmt->relation);
			break;
		case PG_QUERY__NODE__NODE_UPDATE_STMT:
			report_dml(st, ctx, "UPDATE", node->update_stmt->relation);
			break;
		case PG_QUERY__NODE__NODE_DELETE_STMT:
			report_dml(st, ctx, "DELETE", node->delete_stmt->relation);
			break;
		case PG_QUERY__NODE__NODE_MERGE_STMT:
			report_dml(st, ctx, "MERGE", node->merge_stmt->relation);
			break;
		case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
			report_dml(st, ctx, "REFRESH MATERIALIZED VIEW", node->refresh_mat_view_stmt->relation);
			break;
		default:
			report_dml(st, ctx, "CALL", NULL);
			break;
	}
}

static void
check_copy(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	if (!node->copy_stmt->is_program &&
		(node->copy_stmt->filename == NULL || node->copy_stmt->filename[0] == '\0'))
		lint_report(st, ctx, LINT_R_COPY_STDIO,
					"COPY %s needs data from the client, which a migration does not carry (cannot be "
					"excused, not even by allow-dml); load data with a separate job",
					node->copy_stmt->is_from ? "FROM STDIN" : "TO STDOUT");
	else
		report_dml(st, ctx, "COPY", node->copy_stmt->relation);
}

static void
check_truncate(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__TruncateStmt *t = node->truncate_stmt;
	const PgQuery__RangeVar     *rel = NULL;

	if (t->n_relations > 0 && t->relations[0]->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
		rel = t->relations[0]->range_var;
	report_dml(st, ctx, "TRUNCATE", rel);
}

static void
check_create_table(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__CreateStmt *c = node->create_stmt;

	if (c->relation != NULL)
		lint_add_created(st, c->relation->schemaname, c->relation->relname);
	if (!c->if_not_exists)
		lint_not_idempotent(st, ctx, "CREATE TABLE", "CREATE TABLE IF NOT EXISTS");
}

/* CREATE SEQUENCE, CREATE EXTENSION: not-idempotent only */
static void
check_create_if_not_exists(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	if (node->node_case == PG_QUERY__NODE__NODE_CREATE_SEQ_STMT && !node->create_seq_stmt->if_not_exists)
		lint_not_idempotent(st, ctx, "CREATE SEQUENCE", "CREATE SEQUENCE IF NOT EXISTS");
	else if (node->node_case == PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT &&
			 !node->create_extension_stmt->if_not_exists)
		lint_not_idempotent(st, ctx, "CREATE EXTENSION", "CREATE EXTENSION IF NOT EXISTS");
}

static void
check_alter_enum(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__AlterEnumStmt *e = node->alter_enum_stmt;

	/* ADD VALUE, not RENAME VALUE (which has no IF EXISTS) */
	if (*e->old_val == '\0' && !e->skip_if_new_val_exists)
		lint_not_idempotent(st, ctx, "ALTER TYPE ... ADD VALUE", "ALTER TYPE ... ADD VALUE IF NOT EXISTS");
}

/* CREATE VIEW, FUNCTION, PROCEDURE, TRIGGER: not-idempotent without OR REPLACE */
static void
check_create_or_replace(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	if (node->node_case == PG_QUERY__NODE__NODE_VIEW_STMT && !node->view_stmt->replace)
		lint_not_idempotent(st, ctx, "CREATE VIEW", "CREATE OR REPLACE VIEW");
	else if (node->node_case == PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT &&
			 !node->create_function_stmt->replace)
		lint_not_idempotent(st, ctx,
							node->create_function_stmt->is_procedure ? "CREATE PROCEDURE" : "CREATE FUNCTION",
							node->create_function_stmt->is_procedure ? "CREATE OR REPLACE PROCEDURE"
																	 : "CREATE OR REPLACE FUNCTION");
	else if (node->node_case == PG_QUERY__NODE__NODE_CREATE_TRIG_STMT && !node->create_trig_stmt->replace)
		lint_not_idempotent(st, ctx, "CREATE TRIGGER", "CREATE OR REPLACE TRIGGER");
}

/* See lint_internal.h. */
const lint_stmt_check lint_ddl_checks[] = {
	{PG_QUERY__NODE__NODE_INDEX_STMT, check_index_stmt},
	{PG_QUERY__NODE__NODE_REINDEX_STMT, check_reindex},
	{PG_QUERY__NODE__NODE_VACUUM_STMT, check_vacuum},
	{PG_QUERY__NODE__NODE_CLUSTER_STMT, check_cluster},
	{PG_QUERY__NODE__NODE_INSERT_STMT, check_dml},
	{PG_QUERY__NODE__NODE_UPDATE_STMT, check_dml},
	{PG_QUERY__NODE__NODE_DELETE_STMT, check_dml},
	{PG_QUERY__NODE__NODE_MERGE_STMT, check_dml},
	{PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT, check_dml},
	{PG_QUERY__NODE__NODE_CALL_STMT, check_dml},
	{PG_QUERY__NODE__NODE_COPY_STMT, check_copy},
	{PG_QUERY__NODE__NODE_TRUNCATE_STMT, check_truncate},
	{PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT, check_create_table_as},
	{PG_QUERY__NODE__NODE_SELECT_STMT, check_select},
	{PG_QUERY__NODE__NODE_DROP_STMT, check_drop},
	{PG_QUERY__NODE__NODE_RENAME_STMT, check_rename},
	{PG_QUERY__NODE__NODE_CREATE_STMT, check_create_table},
	{PG_QUERY__NODE__NODE_CREATE_SEQ_STMT, check_create_if_not_exists},
	{PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT, check_create_if_not_exists},
	{PG_QUERY__NODE__NODE_ALTER_ENUM_STMT, check_alter_enum},
	{PG_QUERY__NODE__NODE_VIEW_STMT, check_create_or_replace},
	{PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT, check_create_or_replace},
	{PG_QUERY__NODE__NODE_CREATE_TRIG_STMT, check_create_or_replace},
	{PG_QUERY__NODE__NODE__NOT_SET, NULL},
};
