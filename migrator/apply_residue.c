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

/*
 * ---- the user's stored code ---------------------------------------------------
 *
 * Statements of the quiet kinds that evaluate expressions over existing
 * rows, where the code that runs is not in the file but in the catalog (a
 * CHECK, a domain's CHECK, a foreign key's equality operators, a partition
 * key's comparison functions): apply_residue.h has the reasoning.
 */

/* ALTER TABLE subcommands that evaluate nothing over the table's rows. */
static bool
alter_cmd_runs_nothing(PgQuery__AlterTableType t)
{
	switch (t)
	{
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ColumnDefault:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropNotNull:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull: /* a scan for NULLs, no code */
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropExpression:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetStatistics:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetOptions:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ResetOptions:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetStorage:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetCompression:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumnRecurse:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterConstraint:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddIndexConstraint:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraint:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraintRecurse:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnGenericOptions:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ChangeOwner:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ClusterOn:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropCluster:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace: /* copies blocks */
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetRelOptions:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ResetRelOptions:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ReplaceRelOptions:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrig:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableAlwaysTrig:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableReplicaTrig:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrig:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigAll:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigAll:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableTrigUser:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableTrigUser:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableRule:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableAlwaysRule:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableReplicaRule:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableRule:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropInherit:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropOf:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ReplicaIdentity:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_EnableRowSecurity:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DisableRowSecurity:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ForceRowSecurity:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_NoForceRowSecurity:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_GenericOptions:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DetachPartition:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddIdentity:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetIdentity:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropIdentity:
			return true;
		default:
			return false;
	}
}

/*
 * Type names that are pg_catalog's without a keyword of the grammar (which
 * qualifies those itself); pg_catalog is searched first, so they cannot be
 * the user's.  Sorted for bsearch.
 */
static const char *const builtin_types[] = {
	"bool",     "bpchar", "bytea",       "cidr",   "date",    "float4",   "float8", "inet",    "int2",
	"int4",     "int8",   "json",        "jsonb",  "macaddr", "macaddr8", "money",  "name",    "oid",
	"regclass", "text",   "timestamptz", "timetz", "tsquery", "tsvector", "uuid",   "varchar", "xml",
};

/* A type whose input and checks are PostgreSQL's own (not a domain of the user's). */
static bool
builtin_type(const PgQuery__TypeName *t)
{
	const PgQuery__Node *first;
	const char          *name;

	if (t == NULL || t->pct_type || t->n_names == 0 || t->n_names > 2)
		return false;
	first = t->names[0];
	if (first->node_case != PG_QUERY__NODE__NODE_STRING)
		return false;
	if (t->n_names == 2)
		return strcmp(first->string->sval, "pg_catalog") == 0;
	name = first->string->sval;
	return bsearch(&name, builtin_types, sizeof(builtin_types) / sizeof(builtin_types[0]),
				   sizeof(builtin_types[0]), cmp_kind) != NULL;
}

/* A default evaluated without code of the user's: a constant (cast to a built-in type), now(). */
static bool
plain_default(const PgQuery__Node *e)
{
	if (e == NULL)
		return true;
	switch (e->node_case)
	{
		case PG_QUERY__NODE__NODE_A_CONST:
		case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
			return true;
		case PG_QUERY__NODE__NODE_TYPE_CAST:
			return builtin_type(e->type_cast->type_name) && plain_default(e->type_cast->arg);
		case PG_QUERY__NODE__NODE_FUNC_CALL:
			return e->func_call->n_args == 0; /* the walk judges the function */
		default:
			return false;
	}
}

/*
 * ADD COLUMN runs nothing of the user's over existing rows when the column
 * is of a built-in type (a domain's CHECK runs for every row, even without
 * a default) and has no constraint but NULL / NOT NULL, a plain default or
 * an identity.
 */
static bool
add_column_runs_nothing(const PgQuery__Node *def)
{
	const PgQuery__ColumnDef *c;

	if (def == NULL || def->node_case != PG_QUERY__NODE__NODE_COLUMN_DEF)
		return false;
	c = def->column_def;
	if (!builtin_type(c->type_name) || !plain_default(c->raw_default) || c->cooked_default != NULL)
		return false;
	for (size_t i = 0; i < c->n_constraints; i++)
	{
		const PgQuery__Node *n = c->constraints[i];

		if (n->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
			return false;
		switch (n->constraint->contype)
		{
			case PG_QUERY__CONSTR_TYPE__CONSTR_NULL:
			case PG_QUERY__CONSTR_TYPE__CONSTR_NOTNULL:
			case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
				if (!plain_default(n->constraint->raw_expr))
					return false;
				break;
			default:
				return false; /* CHECK, REFERENCES, GENERATED, an index build */
		}
	}
	return true;
}

/* A CHECK or FOREIGN KEY added NOT VALID reads no row (VALIDATE does, later). */
static bool
constraint_not_validated(const PgQuery__Node *def)
{
	const PgQuery__Constraint *c;

	if (def == NULL || def->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
		return false;
	c = def->constraint;
	return c->skip_validation && (c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_CHECK ||
								  c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN);
}

/* Does this ALTER TABLE subcommand run code stored in the catalog over existing rows? */
static bool
alter_cmd_runs_stored_code(const PgQuery__AlterTableCmd *cmd)
{
	switch (cmd->subtype)
	{
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse:
			return !add_column_runs_nothing(cmd->def);
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse:
			return !constraint_not_validated(cmd->def);
		default:
			/* VALIDATE, ALTER COLUMN TYPE, ATTACH PARTITION, SET LOGGED, ... */
			return !alter_cmd_runs_nothing(cmd->subtype);
	}
}

/* ALTER DOMAIN ADD CONSTRAINT (unless NOT VALID) and VALIDATE CONSTRAINT check every column of it. */
static bool
alter_domain_runs_stored_code(const PgQuery__AlterDomainStmt *s)
{
	if (strcmp(s->subtype, "V") == 0)
		return true;
	return strcmp(s->subtype, "C") == 0 && !constraint_not_validated(s->def);
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
	else if (msg->descriptor == &pg_query__alter_table_cmd__descriptor)
		*loud = alter_cmd_runs_stored_code((const PgQuery__AlterTableCmd *) msg);
	else if (msg->descriptor == &pg_query__alter_domain_stmt__descriptor)
		*loud = alter_domain_runs_stored_code((const PgQuery__AlterDomainStmt *) msg);
	else if (msg->descriptor == &pg_query__create_stmt__descriptor)
	{
		/* PARTITION OF checks the default partition's rows with the key's operators */
		*loud = ((const PgQuery__CreateStmt *) msg)->partbound != NULL;
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
