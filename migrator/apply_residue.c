/*-------------------------------------------------------------------------
 *
 * apply_residue.c
 *	  Can a migration leave anything behind in its session?
 *
 * migrator/apply_residue.c
 *
 *-------------------------------------------------------------------------
 */
#include "apply_residue.h"

#include <stdlib.h>
#include <string.h>

#include "lint_internal.h"
#include "pg_volatile_functions.h"
#include "query.h"
#include "sqlwalk.h"

/*
 * DDL that runs none of the user's code when it executes, apart from the
 * expressions the walk below judges (a default or CHECK evaluated over
 * existing rows, an index expression).  Sorted for bsearch.
 */
static const char *const quiet_kinds[] = {
	"AlterDomainStmt", "AlterEnumStmt",     "AlterObjectSchemaStmt",
	"AlterOwnerStmt",  "AlterSeqStmt",      "AlterTableStmt",
	"CommentStmt",     "CompositeTypeStmt", "CreateDomainStmt",
	"CreateEnumStmt",  "CreateSeqStmt",     "CreateStmt",
	"DropStmt",        "GrantStmt",         "IndexStmt",
	"RenameStmt",      "ViewStmt",
};

static int
cmp_kind(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool
quiet_kind(const char *kind)
{
	return kind != NULL && bsearch(&kind, quiet_kinds, sizeof(quiet_kinds) / sizeof(quiet_kinds[0]),
								   sizeof(quiet_kinds[0]), cmp_kind) != NULL;
}

/* A schema-qualified name outside pg_catalog is the user's code. */
static bool
foreign_schema(const char *schema)
{
	return schema != NULL && strcmp(schema, "pg_catalog") != 0;
}

/* sql_walk callback: arg is a bool set when something may touch the session. */
static bool
visit(const ProtobufCMessage *msg, void *arg)
{
	bool       *loud = arg;
	const char *schema = NULL;
	const char *name = NULL;

	if (*loud)
		return false;
	if (msg->descriptor == &pg_query__func_call__descriptor)
	{
		name = lint_func_call_name((const PgQuery__FuncCall *) msg, &schema);
		*loud = name == NULL || foreign_schema(schema) ||
				pg_builtin_function_volatility(name) != PG_FUNC_NON_VOLATILE;
	}
	else if (msg->descriptor == &pg_query__a__expr__descriptor)
	{
		const PgQuery__AExpr *e = (const PgQuery__AExpr *) msg;

		*loud = lint_list_name(e->name, e->n_name, &schema, &name) && foreign_schema(schema);
	}
	else if (msg->descriptor == &pg_query__range_var__descriptor)
	{
		/* a temporary relation shadows the next migration's of that name */
		const PgQuery__RangeVar *rv = (const PgQuery__RangeVar *) msg;

		*loud = (rv->relpersistence != NULL && strcmp(rv->relpersistence, "t") == 0) ||
				(rv->schemaname != NULL && strcmp(rv->schemaname, "pg_temp") == 0);
	}
	return !*loud;
}

/* May a statement of script (kinds checked when check_kind) touch the session? */
static bool
script_loud(const sql_script *script, bool check_kind)
{
	bool loud = false;

	for (int i = 0; !loud && i < script->n_stmts; i++)
	{
		const sql_statement *st = &script->stmts[i];

		if (check_kind && !quiet_kind(st->kind))
			return true;
		if (script->tree == NULL || st->tree_index < 0 || (size_t) st->tree_index >= script->tree->n_stmts)
			return true;
		sql_walk((const ProtobufCMessage *) script->tree->stmts[st->tree_index]->stmt, visit, &loud);
	}
	return loud;
}

bool
apply_residue_possible(const migration *m, bool event_triggers)
{
	if (event_triggers || m->no_transaction || m->allow_dml)
		return true;
	/* verify statements run in a savepoint rolled back (settings, temp
	 * tables undone), but a session advisory lock outlives it */
	return script_loud(&m->script, true) || script_loud(&m->verify_script, false);
}

bool
apply_residue_touches_event_triggers(const migration *m)
{
	for (int i = 0; i < m->script.n_stmts; i++)
	{
		const char *kind = m->script.stmts[i].kind;

		if (strcmp(kind, "CreateEventTrigStmt") == 0 || strcmp(kind, "AlterEventTrigStmt") == 0)
			return true;
		/* DROP EVENT TRIGGER is a DropStmt: harmless, it only removes one */
	}
	return false;
}

bool
apply_residue_event_triggers(PGconn *conn)
{
	PGresult *res =
		db_query(conn, "looking for event triggers",
				 "SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D')", 0, NULL,
				 PGRES_TUPLES_OK);
	bool found = res == NULL || PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "f") != 0;

	PQclear(res);
	return found;
}
