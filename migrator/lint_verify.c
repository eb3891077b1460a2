/*-------------------------------------------------------------------------
 *
 * lint_verify.c
 *	  verify-read-only: the rules of a verify file.
 *
 * A verify file holds plain SELECTs that return true when the migration
 * worked: every node of each SELECT is walked for data-modifying WITH, INTO,
 * locking clauses and function calls, whose volatility comes from
 * pg_volatile_functions.h (PostgreSQL 15's catalog); a function not known
 * there is unchecked-sql.
 *
 * migrator/lint_verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_internal.h"

#include <string.h>

#include "pg_volatile_functions.h"
#include "sqlwalk.h"

typedef struct verify_walk
{
	lint_state     *st;
	const stmt_ctx *ctx;
} verify_walk;

/* ctx moved to a parse location of its statement, when it is in the file. */
static void
at_location(const lint_state *st, const stmt_ctx *ctx, int location, stmt_ctx *out)
{
	*out = *ctx;
	if (ctx->text != NULL && location >= 0)
		lint_offset_line_col(st, st->bom_len + location, &out->line, &out->column);
}

static const char *
modifying_kind(const PgQuery__Node *q)
{
	switch (q != NULL ? q->node_case : PG_QUERY__NODE__NODE__NOT_SET)
	{
		case PG_QUERY__NODE__NODE_INSERT_STMT:
			return "INSERT";
		case PG_QUERY__NODE__NODE_UPDATE_STMT:
			return "UPDATE";
		case PG_QUERY__NODE__NODE_DELETE_STMT:
			return "DELETE";
		case PG_QUERY__NODE__NODE_MERGE_STMT:
			return "MERGE";
		default:
			return NULL;
	}
}

/*
 * An operator is a function call: one named with a schema other than
 * pg_catalog (OPERATOR(app.===)) runs the user's function, which lint
 * cannot judge, as a function of that schema.
 */
static void
check_operator(verify_walk *w, const PgQuery__AExpr *e)
{
	const char *schema;
	const char *name;
	stmt_ctx    ctx;

	if (!lint_list_name(e->name, e->n_name, &schema, &name) || schema == NULL ||
		strcmp(schema, "pg_catalog") == 0)
		return;
	at_location(w->st, w->ctx, e->location, &ctx);
	lint_report(w->st, &ctx, LINT_R_UNCHECKED,
				"OPERATOR(%s.%s) is not a built-in operator, so lint cannot tell whether the verify file "
				"changes anything; use built-in operators, or excuse it with \"-- migrator:allow "
				"unchecked-sql\" once reviewed",
				schema, name);
}

static bool
visit_verify(const ProtobufCMessage *msg, void *arg)
{
	verify_walk *w = arg;
	stmt_ctx     ctx;

	if (msg->descriptor == &pg_query__select_stmt__descriptor)
	{
		const PgQuery__SelectStmt *sel = (const PgQuery__SelectStmt *) msg;

		if (sel->into_clause != NULL)
		{
			at_location(w->st, w->ctx, sel->into_clause->rel != NULL ? sel->into_clause->rel->location : -1,
						&ctx);
			lint_report(w->st, &ctx, LINT_R_VERIFY,
						"SELECT INTO creates a table, and a verify file must not change anything; "
						"select the values to check without INTO");
		}
		if (sel->n_locking_clause > 0)
			lint_report(
				w->st, w->ctx, LINT_R_VERIFY,
				"SELECT ... FOR UPDATE / FOR SHARE locks the rows it reads, blocking the application, and a verify "
				"file must not change anything; remove the locking clause");
	}
	else if (msg->descriptor == &pg_query__common_table_expr__descriptor)
	{
		const PgQuery__CommonTableExpr *cte = (const PgQuery__CommonTableExpr *) msg;
		const char                     *kind = modifying_kind(cte->ctequery);

		if (kind != NULL)
		{
			at_location(w->st, w->ctx, cte->location, &ctx);
			lint_report(w->st, &ctx, LINT_R_VERIFY,
						"WITH \"%s\" AS (%s ...) changes data, and a verify file must not change anything; "
						"a verify file holds plain SELECTs that return true when the migration worked",
						cte->ctename, kind);
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
		at_location(w->st, w->ctx, fc->location, &ctx);
		if (v == PG_FUNC_VOLATILE)
			lint_report(
				w->st, &ctx, LINT_R_VERIFY,
				"%s() is volatile (it may change state: settings, sequences, locks, other sessions), and a "
				"verify file must not change anything; use only stable or immutable functions",
				name);
		else if (v == PG_FUNC_UNKNOWN)
			lint_report(
				w->st, &ctx, LINT_R_UNCHECKED,
				"%s%s%s() is not a built-in function known to be stable or immutable, so lint cannot tell "
				"whether the verify file changes anything; use built-in functions, or excuse it with "
				"\"-- migrator:allow unchecked-sql\" once reviewed",
				schema != NULL ? schema : "", schema != NULL ? "." : "", name != NULL ? name : "?");
	}
	else if (msg->descriptor == &pg_query__a__expr__descriptor)
		check_operator(w, (const PgQuery__AExpr *) msg);
	return true;
}

/* A verify statement: a plain SELECT that changes nothing. */
void
lint_check_verify(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node, const char *kind)
{
	verify_walk w = {st, ctx};

	if (node == NULL)
		return;
	if (node->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
	{
		lint_report(st, ctx, LINT_R_VERIFY,
					"a verify file may hold only SELECT statements (found %s); "
					"move the statement to the migration, and check its effect with a SELECT",
					kind);
		return;
	}
	sql_walk(&node->base, visit_verify, &w);
}
