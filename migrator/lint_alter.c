/*-------------------------------------------------------------------------
 *
 * lint_alter.c
 *	  Lint rules for ALTER TABLE on existing tables.
 *
 * volatile-default, alter-column-type, set-not-null, constraint-not-valid,
 * unique-without-index, constraint-index-name, set-tablespace and drop-column:
 * the ALTER TABLE subcommands that rewrite, scan or lock a table that existed
 * before the file (a table created earlier in the same file is empty, so they
 * do not apply to it).  The CHECK (col IS NOT NULL) constraints a file adds
 * and validates are remembered in the lint_state, as they make SET NOT NULL
 * cheap.  The volatility of a column default comes from PostgreSQL 15's
 * catalog (pg_volatile_functions.h); an unknown function counts as volatile.
 *
 * migrator/lint_alter.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_internal.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "pg_volatile_functions.h"
#include "sqlwalk.h"

typedef struct volatility_walk
{
	char *culprit; /* NULL while nothing volatile was seen */
} volatility_walk;

/*
 * Raw expression nodes that are not volatile in themselves (their
 * arguments are visited too).  Operators count as non-volatile: no built-in
 * operator's function is volatile (checked against the PostgreSQL 15
 * catalog: pg_operator joined to pg_proc has none with provolatile 'v').
 */
static bool
harmless_expr_node(PgQuery__Node__NodeCase c)
{
	switch (c)
	{
		case PG_QUERY__NODE__NODE_A_CONST:
		case PG_QUERY__NODE__NODE_TYPE_CAST:
		case PG_QUERY__NODE__NODE_TYPE_NAME:
		case PG_QUERY__NODE__NODE_FUNC_CALL:
		case PG_QUERY__NODE__NODE_NAMED_ARG_EXPR:
		case PG_QUERY__NODE__NODE_A_EXPR:
		case PG_QUERY__NODE__NODE_BOOL_EXPR:
		case PG_QUERY__NODE__NODE_NULL_TEST:
		case PG_QUERY__NODE__NODE_BOOLEAN_TEST:
		case PG_QUERY__NODE__NODE_CASE_EXPR:
		case PG_QUERY__NODE__NODE_CASE_WHEN:
		case PG_QUERY__NODE__NODE_COALESCE_EXPR:
		case PG_QUERY__NODE__NODE_MIN_MAX_EXPR:
		case PG_QUERY__NODE__NODE_A_ARRAY_EXPR:
		case PG_QUERY__NODE__NODE_ROW_EXPR:
		case PG_QUERY__NODE__NODE_COLLATE_CLAUSE:
		case PG_QUERY__NODE__NODE_SQLVALUE_FUNCTION:
		case PG_QUERY__NODE__NODE_A_INDIRECTION:
		case PG_QUERY__NODE__NODE_A_INDICES:
		case PG_QUERY__NODE__NODE_STRING:
		case PG_QUERY__NODE__NODE_INTEGER:
		case PG_QUERY__NODE__NODE_FLOAT:
		case PG_QUERY__NODE__NODE_BOOLEAN:
		case PG_QUERY__NODE__NODE_BIT_STRING:
		case PG_QUERY__NODE__NODE_LIST:
			return true;
		default:
			return false;
	}
}

static bool
visit_volatility(const ProtobufCMessage *msg, void *arg)
{
	volatility_walk *w = arg;

	if (w->culprit != NULL)
		return false;
	if (msg->descriptor == &pg_query__node__descriptor)
	{
		const PgQuery__Node *n = (const PgQuery__Node *) msg;

		if (!harmless_expr_node(n->node_case))
		{
			/* the oneof member's message type names the node kind */
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field(msg->descriptor, (unsigned) n->node_case);
			const char *kind = f != NULL && f->descriptor != NULL
								   ? ((const ProtobufCMessageDescriptor *) f->descriptor)->short_name
								   : "?";

			w->culprit = xasprintf("a default that is not a plain expression (%s)", kind);
			return false;
		}
	}
	else if (msg->descriptor == &pg_query__func_call__descriptor)
	{
		const PgQuery__FuncCall *fc = (const PgQuery__FuncCall *) msg;
		const char              *schema;
		const char              *name = lint_func_call_name(fc, &schema);
		pg_func_volatility       v = PG_FUNC_UNKNOWN;

		if (name != NULL && (schema == NULL || strcmp(schema, "pg_catalog") == 0))
			v = pg_builtin_function_volatility(name);
		if (v == PG_FUNC_VOLATILE)
			w->culprit = xasprintf("the volatile default %s()", name);
		else if (v == PG_FUNC_UNKNOWN)
			w->culprit =
				xasprintf("the default %s%s%s(), not known to be immutable or stable,",
						  schema != NULL ? schema : "", schema != NULL ? "." : "", name != NULL ? name : "?");
		return w->culprit == NULL;
	}
	else if (msg->descriptor == &pg_query__a__expr__descriptor)
	{
		const PgQuery__AExpr *e = (const PgQuery__AExpr *) msg;
		const char           *schema;
		const char           *name;

		/* OPERATOR(myschema.+) is user code */
		if (lint_list_name(e->name, e->n_name, &schema, &name) && schema != NULL &&
			strcmp(schema, "pg_catalog") != 0)
		{
			w->culprit = xasprintf("the default using operator %s.%s, not known to be immutable or stable,",
								   schema, name);
			return false;
		}
	}
	return true;
}

/*
 * If expr may be volatile (some function in it is volatile or unknown, or
 * it has a node this check does not understand), a description for the
 * message (caller frees); NULL if it is known not to be.
 */
static char *
volatile_culprit(const PgQuery__Node *expr)
{
	volatility_walk w = {NULL};

	sql_walk(&expr->base, visit_volatility, &w);
	return w.culprit;
}

/*
 * The columns a CHECK expression proves NOT NULL: "col IS NOT NULL", or an
 * AND of such tests.  Calls add(col) for each; returns false if the
 * expression is anything else, or nested deeper than SQL_PARSE_MAX_DEPTH
 * (depth: e's, 1 at the top).
 */
static bool
not_null_columns(const PgQuery__Node *e, const char **cols, int *n, int max, int depth)
{
	if (e == NULL || depth > SQL_PARSE_MAX_DEPTH)
		return false;
	if (e->node_case == PG_QUERY__NODE__NODE_NULL_TEST)
	{
		const PgQuery__NullTest  *t = e->null_test;
		const PgQuery__ColumnRef *cr;

		if (t->nulltesttype != PG_QUERY__NULL_TEST_TYPE__IS_NOT_NULL || t->arg == NULL ||
			t->arg->node_case != PG_QUERY__NODE__NODE_COLUMN_REF)
			return false;
		cr = t->arg->column_ref;
		if (cr->n_fields != 1 || lint_node_string(cr->fields[0]) == NULL || *n >= max)
			return false;
		cols[(*n)++] = lint_node_string(cr->fields[0]);
		return true;
	}
	if (e->node_case == PG_QUERY__NODE__NODE_BOOL_EXPR &&
		e->bool_expr->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR)
	{
		for (size_t i = 0; i < e->bool_expr->n_args; i++)
			if (!not_null_columns(e->bool_expr->args[i], cols, n, max, depth + 1))
				return false;
		return true;
	}
	return false;
}

#define MAX_CHECK_COLUMNS 32

static void
add_constraint_entry(lint_state *st, const PgQuery__RangeVar *rel, const char *conname, const char *column,
					 bool validated, bool not_valid_here, const char *pktable)
{
	not_null_check *k;

	ARRAY_GROW(st->checks, st->n_checks + 1, st->cap_checks);
	k = &st->checks[st->n_checks++];
	k->rel.schema = xstrdup(lint_resolve_schema(st, rel->schemaname));
	k->rel.name = xstrdup(rel->relname);
	k->conname = xstrdup(conname);
	k->column = xstrdup(column);
	k->validated = validated;
	k->not_valid_here = not_valid_here;
	k->pktable = pktable ? xstrdup(pktable) : NULL;
}

/*
 * Remember a CHECK or FOREIGN KEY constraint added to rel (is_new: a table
 * created in this file): one entry per column a CHECK proves NOT NULL, or
 * one with column "" otherwise.
 */
static void
record_constraint(lint_state *st, const PgQuery__RangeVar *rel, bool is_new, const PgQuery__Constraint *c)
{
	const char *cols[MAX_CHECK_COLUMNS];
	int         n = 0;
	char       *conname;
	bool        fk = c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN;
	bool        here = c->skip_validation && !is_new;
	char       *pk = fk && c->pktable ? lint_quote_rangevar(c->pktable) : NULL;

	if (fk || !not_null_columns(c->raw_expr, cols, &n, MAX_CHECK_COLUMNS, 1))
		n = 0;
	/* PostgreSQL names an unnamed CHECK <table>_<first column>_check; others are unnamed here */
	if (*c->conname)
		conname = xstrdup(c->conname);
	else if (n > 0)
		conname = xasprintf("%s_%s_check", rel->relname, cols[0]);
	else
		conname = xstrdup("");
	if (n == 0 && *conname)
		add_constraint_entry(st, rel, conname, "", !c->skip_validation, here, pk);
	for (int i = 0; i < n; i++)
		add_constraint_entry(st, rel, conname, cols[i], !c->skip_validation, here, pk);
	free(conname);
	free(pk);
}

static bool
same_rel(const lint_state *st, const qual_name *q, const PgQuery__RangeVar *rel)
{
	return strcmp(q->schema, lint_resolve_schema(st, rel->schemaname)) == 0 &&
		   strcmp(q->name, rel->relname) == 0;
}

/*
 * VALIDATE CONSTRAINT: the constraint now holds.  Added NOT VALID to an
 * existing table in this same (transactional) file, the ADD's lock is still
 * held: the scan runs under it, which is what NOT VALID was meant to avoid.
 */
static void
validate_check(lint_state *st, const stmt_ctx *ctx, const PgQuery__RangeVar *rel, const char *relname,
			   const char *conname)
{
	const not_null_check *same = NULL;

	for (int i = 0; i < st->n_checks; i++)
		if (same_rel(st, &st->checks[i].rel, rel) && strcmp(st->checks[i].conname, conname) == 0)
		{
			if (st->checks[i].not_valid_here)
				same = &st->checks[i];
			st->checks[i].validated = true;
		}
	if (same == NULL || st->no_transaction)
		return;
	if (same->pktable == NULL)
		lint_report(
			st, ctx, LINT_R_VALIDATE_SAME,
			"VALIDATE CONSTRAINT \"%s\" in the migration that added it NOT VALID: one transaction, so the "
			"ACCESS EXCLUSIVE lock of the ADD CONSTRAINT CHECK on %s is held during the whole validation "
			"scan and blocks reads and writes; validate in a later migration",
			conname, relname);
	else
		lint_report(
			st, ctx, LINT_R_VALIDATE_SAME,
			"VALIDATE CONSTRAINT \"%s\" in the migration that added it NOT VALID: one transaction, so the "
			"SHARE ROW EXCLUSIVE locks of the ADD CONSTRAINT FOREIGN KEY on %s and %s are held during the "
			"whole validation scan and block writes to both; validate in a later migration",
			conname, relname, same->pktable);
}

static bool
has_validated_check(const lint_state *st, const PgQuery__RangeVar *rel, const char *column)
{
	for (int i = 0; i < st->n_checks; i++)
		if (st->checks[i].validated && same_rel(st, &st->checks[i].rel, rel) &&
			strcmp(st->checks[i].column, column) == 0)
			return true;
	return false;
}

/* See lint.h. */
lint_carry *
lint_carry_new(void)
{
	return xcalloc(1, sizeof(lint_carry));
}

static void
free_checks(not_null_check *checks, int n)
{
	for (int i = 0; i < n; i++)
	{
		free(checks[i].rel.schema);
		free(checks[i].rel.name);
		free(checks[i].conname);
		free(checks[i].column);
		free(checks[i].pktable);
	}
	free(checks);
}

/* See lint.h. */
void
lint_carry_free(lint_carry *carry)
{
	if (carry == NULL)
		return;
	free_checks(carry->checks, carry->n);
	free(carry);
}

/* See lint_internal.h. */
void
lint_carry_in(lint_state *st, lint_carry *carry)
{
	if (carry == NULL)
		return;
	st->checks = carry->checks;
	st->n_checks = carry->n;
	st->cap_checks = carry->cap;
	memset(carry, 0, sizeof(*carry));
}

/* See lint_internal.h. */
void
lint_carry_out(lint_state *st, lint_carry *carry)
{
	if (carry == NULL)
	{
		free_checks(st->checks, st->n_checks);
		return;
	}
	for (int i = 0; i < st->n_checks; i++)
		st->checks[i].not_valid_here = false;
	carry->checks = st->checks;
	carry->n = st->n_checks;
	carry->cap = st->cap_checks;
}

static bool
is_serial_type(const PgQuery__TypeName *t)
{
	static const char *const serials[] = {"smallserial", "serial",  "bigserial",
										  "serial2",     "serial4", "serial8"};
	const char              *name;

	if (t == NULL || t->n_names != 1 || t->n_array_bounds > 0 ||
		(name = lint_node_string(t->names[0])) == NULL)
		return false;
	for (size_t i = 0; i < sizeof(serials) / sizeof(serials[0]); i++)
		if (strcmp(name, serials[i]) == 0)
			return true;
	return false;
}

/* ADD COLUMN on an existing table: rewrites, and constraints that scan it */
static void
check_add_column(lint_state *st, const stmt_ctx *ctx, const char *relname, const PgQuery__ColumnDef *col)
{
	char *colname = lint_quote_name(NULL, col->colname);

	if (is_serial_type(col->type_name))
		lint_report(
			st, ctx, LINT_R_VOLATILE_DEFAULT,
			"ADD COLUMN %s to %s of type %s (a nextval() default) rewrites the whole table under an ACCESS EXCLUSIVE lock; "
			"add a plain integer column, attach a sequence with SET DEFAULT in a separate statement, then backfill in batches outside migrations",
			colname, relname, lint_node_string(col->type_name->names[0]));

	for (size_t i = 0; i < col->n_constraints; i++)
	{
		const PgQuery__Constraint *c;

		if (col->constraints[i]->node_case != PG_QUERY__NODE__NODE_CONSTRAINT)
			continue;
		c = col->constraints[i]->constraint;
		switch (c->contype)
		{
			case PG_QUERY__CONSTR_TYPE__CONSTR_DEFAULT:
			{
				char *culprit = c->raw_expr != NULL ? volatile_culprit(c->raw_expr) : NULL;

				if (culprit != NULL)
					lint_report(
						st, ctx, LINT_R_VOLATILE_DEFAULT,
						"ADD COLUMN %s to %s with %s rewrites the whole table under an ACCESS EXCLUSIVE lock; "
						"add the column without a default, SET DEFAULT in a separate statement, then backfill in batches outside migrations",
						colname, relname, culprit);
				free(culprit);
				break;
			}
			case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
				lint_report(
					st, ctx, LINT_R_VOLATILE_DEFAULT,
					"ADD COLUMN %s to %s as an identity column fills every row from a sequence, rewriting the whole table under an ACCESS EXCLUSIVE lock; "
					"add a plain column, backfill it in batches outside migrations, then ALTER COLUMN ... ADD GENERATED ... AS IDENTITY",
					colname, relname);
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED:
				lint_report(
					st, ctx, LINT_R_VOLATILE_DEFAULT,
					"ADD COLUMN %s to %s GENERATED ALWAYS AS (...) STORED computes every row, rewriting the whole table under an ACCESS EXCLUSIVE lock; "
					"add a plain column kept up to date by the application or a trigger, and backfill it in batches outside migrations",
					colname, relname);
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
				lint_report(
					st, ctx, LINT_R_NOT_VALID,
					"ADD COLUMN %s to %s with REFERENCES checks every row of %s while it blocks writes; "
					"add the column first, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID, and VALIDATE CONSTRAINT in a later migration",
					colname, relname, relname);
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
				lint_report(
					st, ctx, LINT_R_NOT_VALID,
					"ADD COLUMN %s to %s with CHECK checks every row of %s under an ACCESS EXCLUSIVE lock; "
					"add the column first, then ADD CONSTRAINT ... CHECK (...) NOT VALID, and VALIDATE CONSTRAINT in a later migration",
					colname, relname, relname);
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
			case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
				lint_report(
					st, ctx, LINT_R_UNIQUE_NO_INDEX,
					"ADD COLUMN %s to %s with %s builds an index while it blocks writes to the table; "
					"add the column, build the index with the indexer (\"-- migrator:requires-index NAME\"), then ADD CONSTRAINT ... USING INDEX NAME",
					colname, relname,
					c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE");
				break;
			default:
				break;
		}
	}
	free(colname);
}

static void
check_add_constraint(lint_state *st, const stmt_ctx *ctx, const PgQuery__RangeVar *rel, const char *relname,
					 bool is_new, const PgQuery__Constraint *c)
{
	switch (c->contype)
	{
		case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
			record_constraint(st, rel, is_new, c);
			if (!is_new && !c->skip_validation)
				lint_report(
					st, ctx, LINT_R_NOT_VALID,
					"ADD CHECK on %s checks every row under an ACCESS EXCLUSIVE lock; "
					"add it NOT VALID, then VALIDATE CONSTRAINT in a later migration (which lets reads and writes go on)",
					relname);
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
			record_constraint(st, rel, is_new, c);
			if (!is_new && !c->skip_validation)
			{
				char *pk = lint_quote_rangevar(c->pktable);

				lint_report(
					st, ctx, LINT_R_NOT_VALID,
					"ADD FOREIGN KEY on %s checks every row under SHARE ROW EXCLUSIVE locks on %s and %s, which block writes to both; "
					"add it NOT VALID, then VALIDATE CONSTRAINT in a later migration (which lets reads and writes go on)",
					relname, relname, pk);
				free(pk);
			}
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
		case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
			/* USING INDEX renames the index to the constraint: the indexer would build it again */
			if (*c->indexname != '\0' && *c->conname != '\0' && strcmp(c->conname, c->indexname) != 0)
				lint_report(
					st, ctx, LINT_R_CONSTRAINT_INDEX,
					"ADD CONSTRAINT %s ... USING INDEX %s renames index \"%s\" to \"%s\", and the indexer, "
					"which defines \"%s\", would find it missing; name the constraint as the index: "
					"ADD CONSTRAINT %s %s USING INDEX %s",
					c->conname, c->indexname, c->indexname, c->conname, c->indexname, c->indexname,
					c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
					c->indexname);
			if (!is_new && *c->indexname == '\0')
				lint_report(
					st, ctx, LINT_R_UNIQUE_NO_INDEX,
					"ADD %s on %s builds an index under an ACCESS EXCLUSIVE lock, blocking reads and writes; "
					"build the index with the indexer (\"-- migrator:requires-index NAME\"), then ADD CONSTRAINT ... %s USING INDEX NAME",
					c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE", relname,
					c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE");
			break;
		default:
			break;
	}
}

/* The relation an ALTER TABLE changes, for its subcommands. */
typedef struct alter_target
{
	const PgQuery__RangeVar *rel;
	char                    *relname; /* quoted, for messages */
	bool                     is_table;
	bool                     is_new; /* created earlier in the file */
} alter_target;

/* One subcommand of ALTER TABLE; colname is its column, quoted. */
static void
check_alter_cmd(lint_state *st, const stmt_ctx *ctx, const alter_target *t, const PgQuery__AlterTableCmd *cmd,
				const char *colname)
{
	const PgQuery__RangeVar *rel = t->rel;
	const char              *relname = t->relname;
	bool                     is_table = t->is_table;
	bool                     is_new = t->is_new;

	switch (cmd->subtype)
	{
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse:
			if (cmd->def != NULL && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
			{
				if (is_table && !is_new)
					check_add_column(st, ctx, relname, cmd->def->column_def);
				if (!cmd->missing_ok)
					lint_not_idempotent(st, ctx, "ADD COLUMN", "ADD COLUMN IF NOT EXISTS");
			}
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType:
			if (is_table && !is_new)
				lint_report(
					st, ctx, LINT_R_ALTER_TYPE,
					"ALTER COLUMN %s TYPE on %s rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE lock, "
					"unless the change is binary-compatible (e.g. varchar(n) to a longer varchar or to text), which cannot be seen without the database; "
					"add a new column and backfill it in batches, or excuse a binary-compatible change with \"-- migrator:allow alter-column-type\"",
					colname, relname);
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull:
			if (is_table && !is_new && !has_validated_check(st, rel, cmd->name))
				lint_report(
					st, ctx, LINT_R_SET_NOT_NULL,
					"SET NOT NULL on column %s of %s scans the whole table under an ACCESS EXCLUSIVE lock; "
					"first ADD CONSTRAINT ... CHECK (%s IS NOT NULL) NOT VALID in one migration, VALIDATE CONSTRAINT in a later one, then SET NOT NULL, which uses the check instead of a scan",
					colname, relname, colname);
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse:
			if (cmd->def != NULL && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
				check_add_constraint(st, ctx, rel, relname, is_new || !is_table, cmd->def->constraint);
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse:
			validate_check(st, ctx, rel, relname, cmd->name);
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace:
			if (!is_new)
				lint_report(st, ctx, LINT_R_SET_TABLESPACE,
							"SET TABLESPACE on %s copies the whole relation under an ACCESS EXCLUSIVE lock; "
							"move it outside migrations, in a maintenance window",
							relname);
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumnRecurse:
			if (is_table && !is_new)
				lint_report(
					st, ctx, LINT_R_DROP_COLUMN,
					"DROP COLUMN %s of %s destroys data and breaks code that still reads the column; "
					"stop using the column in the application and deploy first, then drop it with \"-- migrator:allow drop-column\" above the statement",
					colname, relname);
			if (!cmd->missing_ok)
				lint_not_idempotent(st, ctx, "DROP COLUMN", "DROP COLUMN IF EXISTS");
			break;
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraint:
		case PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraintRecurse:
			if (!cmd->missing_ok)
				lint_not_idempotent(st, ctx, "DROP CONSTRAINT", "DROP CONSTRAINT IF EXISTS");
			break;
		default:
			break;
	}
}

static void
check_alter_table(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__AlterTableStmt *at = node->alter_table_stmt;
	alter_target                   t;

	if (at->relation == NULL)
		return;
	t.rel = at->relation;
	t.is_table = at->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE;
	t.is_new = lint_rangevar_is_created(st, t.rel);
	t.relname = lint_quote_rangevar(t.rel);
	for (size_t i = 0; i < at->n_cmds; i++)
	{
		const PgQuery__AlterTableCmd *cmd;
		char                         *colname;

		if (at->cmds[i]->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD)
			continue;
		cmd = at->cmds[i]->alter_table_cmd;
		colname = lint_quote_name(NULL, cmd->name);
		check_alter_cmd(st, ctx, &t, cmd, colname);
		free(colname);
	}
	free(t.relname);
}

static void
check_move_all(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	lint_report(
		st, ctx, LINT_R_SET_TABLESPACE,
		"ALTER ... ALL IN TABLESPACE ... SET TABLESPACE copies every relation it moves under an ACCESS EXCLUSIVE lock; "
		"move them outside migrations, in a maintenance window");
}

/* See lint_internal.h. */
const lint_stmt_check lint_alter_checks[] = {
	{PG_QUERY__NODE__NODE_ALTER_TABLE_STMT, check_alter_table},
	{PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT, check_move_all},
	{PG_QUERY__NODE__NODE__NOT_SET, NULL},
};
