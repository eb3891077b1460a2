/*-------------------------------------------------------------------------
 *
 * skipped_object.c
 *	  CREATE ... IF NOT EXISTS must not adopt another role's object.
 *
 * migrator/skipped_object.c
 *
 *-------------------------------------------------------------------------
 */
#include "skipped_object.h"

#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "conn.h"
#include "memory.h"
#include "query.h"

bool
skipped_object_notice(const char *sqlstate)
{
	/* duplicate_table (relations, indexes), duplicate_schema, duplicate_object */
	return sqlstate != NULL && (strcmp(sqlstate, "42P07") == 0 || strcmp(sqlstate, "42P06") == 0 ||
								strcmp(sqlstate, "42710") == 0);
}

/* What a statement creates: a relation (schema, name), maybe an index's table. */
typedef struct created
{
	const char *schema; /* NULL: the run's --schema */
	const char *name;
	const char *table_schema; /* an index's table, else NULL table */
	const char *table;
	bool        is_schema;   /* CREATE SCHEMA */
	bool        is_function; /* CREATE OR REPLACE FUNCTION/PROCEDURE */
} created;

static bool
what_is_created(const PgQuery__Node *n, created *c)
{
	memset(c, 0, sizeof(*c));
	switch (n->node_case)
	{
		case PG_QUERY__NODE__NODE_CREATE_STMT:
			c->schema = n->create_stmt->relation->schemaname;
			c->name = n->create_stmt->relation->relname;
			return true;
		case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
			c->schema = n->create_seq_stmt->sequence->schemaname;
			c->name = n->create_seq_stmt->sequence->relname;
			return true;
		case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
			c->schema = n->create_table_as_stmt->into->rel->schemaname;
			c->name = n->create_table_as_stmt->into->rel->relname;
			return true;
		case PG_QUERY__NODE__NODE_INDEX_STMT:
			if (n->index_stmt->idxname == NULL || n->index_stmt->idxname[0] == '\0')
				return false;
			/* an index lives in its table's schema */
			c->schema = n->index_stmt->relation->schemaname;
			c->name = n->index_stmt->idxname;
			c->table_schema = c->schema;
			c->table = n->index_stmt->relation->relname;
			return true;
		case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
		{
			const PgQuery__CreateFunctionStmt *f = n->create_function_stmt;

			/* funcname: [schema,] name, as String nodes */
			if (!f->replace || f->n_funcname == 0 || f->n_funcname > 2)
				return false;
			for (size_t i = 0; i < f->n_funcname; i++)
				if (f->funcname[i]->node_case != PG_QUERY__NODE__NODE_STRING)
					return false;
			c->name = f->funcname[f->n_funcname - 1]->string->sval;
			c->schema = f->n_funcname == 2 ? f->funcname[0]->string->sval : NULL;
			c->is_function = true;
			return true;
		}
		case PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT:
			c->name = n->create_schema_stmt->schemaname;
			c->is_schema = true;
			return c->name != NULL;
		default:
			return false;
	}
}

static const char relation_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(c.relowner), CURRENT_USER, "
	"       c.relowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER), "
	"       $3::pg_catalog.text IS NULL OR EXISTS (SELECT FROM pg_catalog.pg_index i "
	"         JOIN pg_catalog.pg_class t ON t.oid = i.indrelid "
	"         WHERE i.indexrelid = c.oid AND t.relname = $3::pg_catalog.name AND t.relnamespace = n.oid) "
	"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"WHERE n.nspname = $1::pg_catalog.name AND c.relname = $2::pg_catalog.name";

static const char schema_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(n.nspowner), CURRENT_USER, "
	"       n.nspowner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER), true "
	"FROM pg_catalog.pg_namespace n WHERE n.nspname = $1::pg_catalog.name";

/*
 * OR REPLACE keeps the owner: replacing the body of another role's function
 * leaves her the owner, free to replace it again later.  Any function of
 * that name there owned by another role (but a superuser) is refused.
 */
static const char function_sql[] =
	"SELECT pg_catalog.pg_get_userbyid(p.proowner), CURRENT_USER, false, true "
	"FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
	"WHERE n.nspname = $1::pg_catalog.name AND p.proname = $2::pg_catalog.name "
	"  AND p.proowner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER) "
	"  AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.oid = p.proowner) "
	"LIMIT 1";

bool
skipped_object_replaces(const sql_statement *st)
{
	return strcmp(st->kind, "CreateFunctionStmt") == 0;
}

static bool
refuse(db_error *err, char *message)
{
	db_error_clear(err);
	err->cls = PGERR_OTHER;
	err->message = message;
	return false;
}

bool
skipped_object_check(PGconn *conn, const migration *m, const sql_statement *st, const char *schema,
					 db_error *err)
{
	created     c;
	const char *values[3];
	PGresult   *res = NULL;
	bool        local;
	bool        ok;

	if (!what_is_created(m->script.tree->stmts[st->tree_index]->stmt, &c))
		return true;
	values[0] = c.is_schema ? c.name : (c.schema && c.schema[0] ? c.schema : schema);
	values[1] = c.name;
	values[2] = c.table;
	/* our SQL, between the migration's statements: pg_catalog only */
	local = PQtransactionStatus(conn) != PQTRANS_IDLE; /* else a no-transaction file */
	ok = conn_set_search_path(conn, NULL, local, err) &&
		 db_run(conn,
				c.is_schema     ? schema_sql
				: c.is_function ? function_sql
								: relation_sql,
				c.is_schema     ? 1
				: c.is_function ? 2
								: 3,
				values, PGRES_TUPLES_OK, &res, err, NULL) &&
		 conn_set_search_path(conn, schema, local, err);
	if (!ok)
	{
		PQclear(res);
		return false;
	}
	if (PQntuples(res) == 0)
		ok = true; /* nothing of that name where we looked: the server skipped something else */
	else if (c.is_function)
		ok = refuse(err,
					xasprintf("CREATE OR REPLACE of function \"%s.%s\": a function of that name there is "
							  "owned by role \"%s\", and OR REPLACE would keep that role its owner: drop it "
							  "or change its owner after checking it",
							  values[0], c.name, PQgetvalue(res, 0, 0)));
	else if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
		ok = refuse(err,
					xasprintf("CREATE ... IF NOT EXISTS skipped \"%s.%s\", which exists but is owned by role "
							  "\"%s\", not by \"%s\": another role's object is never adopted; drop it or "
							  "change its owner after checking it",
							  values[0], c.name, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1)));
	else if (strcmp(PQgetvalue(res, 0, 3), "t") != 0)
		ok = refuse(err,
					xasprintf("CREATE INDEX IF NOT EXISTS skipped \"%s.%s\", which exists on another table, "
							  "not on \"%s\": the table has no such index",
							  values[0], c.name, c.table));
	PQclear(res);
	return ok;
}
