/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  Reading a migration with PostgreSQL's parser before it runs.
 *
 * The entry points of lint.h and the dispatcher: every rule is decided on the
 * parse tree libpg_query gives (sqlparse.h), never by matching text.  The
 * statements of a file are checked in order, and what earlier ones did is
 * remembered (lint_state): the tables they created, and the CHECK (col IS NOT
 * NULL) constraints they added and validated.  Each statement goes to the
 * checker its node kind has in the modules' tables (lint_ddl_checks,
 * lint_alter_checks, lint_session_checks, and the containers below), then
 * every function call in it is checked (lint_check_calls).
 *
 * migrator/lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_internal.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"

#define UTF8_BOM     "\xEF\xBB\xBF"
#define UTF8_BOM_LEN 3

/* EXPLAIN ANALYZE runs the statement */
static void
check_explain(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__ExplainStmt *e = node->explain_stmt;
	const PgQuery__DefElem     *analyze = lint_find_option(e->options, e->n_options, "analyze");

	if (analyze != NULL && lint_defelem_bool(analyze))
		lint_check_node(st, ctx, e->query);
}

/* a statement is prepared to be executed: judge it here */
static void
check_prepare(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	lint_check_node(st, ctx, node->prepare_stmt->query);
}

static void
check_do_node(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	lint_check_do(st, ctx, node->do_stmt);
}

static void
check_create_schema(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	const PgQuery__CreateSchemaStmt *c = node->create_schema_stmt;
	const char                      *saved = st->schema;

	if (!c->if_not_exists)
		lint_not_idempotent(st, ctx, "CREATE SCHEMA", "CREATE SCHEMA IF NOT EXISTS");
	/* its elements are statements, with unqualified names in it */
	if (*c->schemaname)
		st->schema = c->schemaname;
	for (size_t i = 0; i < c->n_schema_elts; i++)
		lint_check_node(st, ctx, c->schema_elts[i]);
	st->schema = saved;
}

/* The statements that hold other statements. */
static const lint_stmt_check container_checks[] = {
	{PG_QUERY__NODE__NODE_EXPLAIN_STMT, check_explain},
	{PG_QUERY__NODE__NODE_PREPARE_STMT, check_prepare},
	{PG_QUERY__NODE__NODE_DO_STMT, check_do_node},
	{PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT, check_create_schema},
	{PG_QUERY__NODE__NODE__NOT_SET, NULL},
};

/* Every module's table; a statement kind is in at most one. */
static const lint_stmt_check *const check_tables[] = {
	lint_ddl_checks,
	lint_alter_checks,
	lint_session_checks,
	container_checks,
};

/* The checker of a statement kind, or NULL if no rule looks at it. */
static lint_node_check
find_check(PgQuery__Node__NodeCase kind)
{
	for (size_t t = 0; t < sizeof(check_tables) / sizeof(check_tables[0]); t++)
		for (const lint_stmt_check *c = check_tables[t]; c->check != NULL; c++)
			if (c->kind == kind)
				return c->check;
	return NULL;
}

/*
 * See lint_internal.h.  It recurses only into the statement that EXPLAIN
 * ANALYZE or PREPARE carries and into CREATE SCHEMA's elements, which the
 * grammar does not nest further, and into DO blocks, bounded by
 * MAX_DO_DEPTH (lint_plpgsql.c): its depth is bounded without a counter.
 */
void
lint_check_node(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	lint_node_check check;

	if (node == NULL)
		return;
	check = find_check(node->node_case);
	if (check != NULL)
		check(st, ctx, node);
	lint_check_calls(st, ctx, node);
}

/*
 * Lint a migration (verify false) or a verify file.  Statements are checked
 * in order (what a statement creates matters to the ones after it); the new
 * findings are sorted at the end.
 */
static void
lint_any(const char *source, const sql_script *script, const lint_file_options *opts, bool verify,
		 lint_result *out)
{
	lint_state st;

	memset(&st, 0, sizeof(st));
	st.source = source;
	st.bom_len = strncmp(source, UTF8_BOM, UTF8_BOM_LEN) == 0 ? UTF8_BOM_LEN : 0;
	st.schema = opts != NULL && opts->schema != NULL && *opts->schema ? opts->schema : "public";
	st.no_transaction = opts != NULL && opts->no_transaction;
	st.allow_dml = opts != NULL && opts->allow_dml;
	st.strict = opts != NULL && opts->strict;
	if (opts != NULL)
	{
		st.lock_timeout_known = opts->lock_timeout_known;
		st.lock_timeout_ms = opts->lock_timeout_ms;
		st.statement_timeout_known = opts->statement_timeout_known;
		st.statement_timeout_ms = opts->statement_timeout_ms;
	}
	st.out = out;
	st.first_new = out->n;
	lint_index_lines(&st);

	/* the lexer pass finds none in a file that never spells one (most) */
	if (strstr(source + st.bom_len, "migrator:allow") != NULL)
		lint_collect_allow_comments(&st, source + st.bom_len, st.bom_len);
	lint_carry_in(&st, verify || opts == NULL ? NULL : opts->carry);

	for (int i = 0; i < script->n_stmts; i++)
	{
		const sql_statement *s = &script->stmts[i];
		stmt_ctx             ctx;

		ctx.line = s->line;
		ctx.column = s->column;
		ctx.stmt_line = s->line;
		ctx.nested_line = 0;
		ctx.text = source + st.bom_len;
		ctx.depth = 0;
		if (verify)
			lint_check_verify(&st, &ctx, script->tree->stmts[s->tree_index]->stmt, s->kind);
		else
			lint_check_node(&st, &ctx, script->tree->stmts[s->tree_index]->stmt);
	}
	lint_sort_findings(out, st.first_new);

	for (int i = 0; i < st.n_created; i++)
	{
		free(st.created[i].schema);
		free(st.created[i].name);
	}
	free(st.created);
	free(st.line_starts);
	lint_carry_out(&st, verify || opts == NULL ? NULL : opts->carry);
	free(st.allows);
}

/* See lint.h. */
void
lint_script(const char *source, const sql_script *script, const lint_file_options *opts, lint_result *out)
{
	lint_any(source, script, opts, false, out);
}

/* See lint.h. */
void
lint_verify_script(const char *source, const sql_script *script, const lint_file_options *opts,
				   lint_result *out)
{
	lint_any(source, script, opts, true, out);
}

/* See lint.h. */
void
lint_result_free(lint_result *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < r->n; i++)
		free(r->items[i].message);
	free(r->items);
	memset(r, 0, sizeof(*r));
}
