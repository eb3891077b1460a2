/*-------------------------------------------------------------------------
 *
 * lint_plpgsql.c
 *	  DO blocks: the PL/pgSQL body walker.
 *
 * The body is wrapped as a PL/pgSQL function and read with
 * pg_query_parse_plpgsql(), whose JSON output (read with jansson) holds every
 * SQL text of the body as a "PLpgSQL_expr": {"query": "..."} object inside a
 * "PLpgSQL_stmt_<kind>" object with a "lineno".  A query that is a statement
 * (the SQL of PLpgSQL_stmt_execsql, PERFORM, CALL, FOR ... IN query, OPEN,
 * RETURN QUERY) is parsed and checked like a top-level statement; one that is
 * an expression (conditions, assignments, defaults, ...) is parsed as
 * "SELECT <expr>" so that function calls in it are seen; the string EXECUTE
 * runs is checked when it is a constant, and reported as unchecked-sql when
 * it is computed (its visible part is still checked: lint_execute.c).  When
 * the body is a dollar-quoted string, it stands in the file byte for byte, so
 * body line N is file line (first line of the body) + N - 1 and allow
 * comments inside the body work as at top level; otherwise findings point at
 * the DO statement.  Exception handlers: lint_handlers.c.
 *
 * migrator/lint_plpgsql.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_plpgsql.h"

#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "memory.h"

/* DO blocks inside DO blocks (via EXECUTE or plain SQL) are followed this deep */
#define MAX_DO_DEPTH 4

/*
 * Column of the statement starting with query on file line line: where the
 * start of query's first line is found on it, else (or when query is NULL)
 * the line's first non-blank character.
 */
static int
nested_column(const lint_state *st, int line, const char *query)
{
	const char *s = st->source;
	int         ls = lint_line_start_offset(st, line);
	int         le = ls + (int) strcspn(s + ls, "\r\n");
	size_t      qlen = query != NULL ? strcspn(query, "\r\n") : 0;
	int         first = ls;

	if (qlen > 0)
		for (int i = ls; i + (int) qlen <= le; i++)
			if (strncmp(s + i, query, qlen) == 0)
				return i - ls + 1;
	while (first < le && is_blank(s[first]))
		first++;
	return first - ls + 1;
}

/* The context of a statement on body line lineno of a DO block. */
void
lint_nested_ctx(const do_walk *w, int lineno, const char *query, stmt_ctx *out)
{
	*out = *w->ctx;
	out->text = NULL;
	out->depth = w->ctx->depth + 1;
	if (w->body_off >= 0 && lineno > 0)
	{
		out->line = w->body_line + lineno - 1;
		out->nested_line = out->line;
		out->column = nested_column(w->st, out->line, query);
	}
}

/*
 * Parse sql and check each of its statements; false (nothing checked) if it
 * does not parse, with *error the reason and *limit whether it breaks a
 * parser limit (sqlparse.h) rather than the grammar.  error and limit may
 * be NULL when the caller does not want them.
 */
static bool
check_sql_text(lint_state *st, const stmt_ctx *ctx, const char *sql, char **error, bool *limit)
{
	sql_script      script;
	sql_parse_error err;

	if (limit)
		*limit = false;
	if (!sql_parse_script(sql, &script, &err))
	{
		if (error)
			*error = xstrdup(err.message);
		if (limit)
			*limit = err.limit;
		sql_parse_error_free(&err);
		return false;
	}
	for (size_t i = 0; i < script.tree->n_stmts; i++)
		lint_check_node(st, ctx, script.tree->stmts[i]->stmt);
	sql_script_free(&script);
	return true;
}

/*
 * Parse sql into *script; true if it is exactly one statement.  *limit is
 * set when sql breaks a parser limit, and left alone otherwise.
 */
static bool
parse_one(const char *sql, sql_script *script, bool *limit)
{
	sql_parse_error err;
	bool            ok = sql_parse_script(sql, script, &err);

	if (err.limit)
		*limit = true;
	sql_parse_error_free(&err);
	if (ok && script->tree->n_stmts != 1)
	{
		sql_script_free(script);
		ok = false;
	}
	return ok;
}

/*
 * Any other SQL text of the body (a condition, an assignment, a default, a
 * cursor's query, ...): parsed as "SELECT <expr>", then for an assignment
 * without its target (what precedes ":=" or "="), then as it stands.  True
 * with *script filled (free with sql_script_free) if one of these parses to
 * one statement; false otherwise, and the text is left alone: PL/pgSQL
 * accepted it, and only function calls in an expression could matter.
 * *limit (false on entry) tells whether a try broke a parser limit.
 */
static bool
parse_expression(const char *query, bool is_assign, sql_script *script, bool *limit)
{
	char *sql = xasprintf("SELECT %s", query);
	bool  ok;

	*limit = false;
	ok = parse_one(sql, script, limit);

	free(sql);
	if (!ok && is_assign)
	{
		const char *value = strstr(query, ":=");

		if (value != NULL)
			value += 2;
		else if ((value = strchr(query, '=')) != NULL)
			value += 1;
		if (value != NULL)
		{
			sql = xasprintf("SELECT %s", value);
			ok = parse_one(sql, script, limit);
			free(sql);
		}
	}
	if (!ok)
		ok = parse_one(query, script, limit);
	return ok;
}

static bool
field_is(const char *field, const char *name)
{
	return field != NULL && strcmp(field, name) == 0;
}

static bool
stmt_is(const char *stmt_type, const char *kind)
{
	return stmt_type != NULL && strcmp(stmt_type + strlen("PLpgSQL_stmt_"), kind) == 0;
}

/*
 * SQL text of a DO block (what) that did not parse, for the reason error.
 * Beyond a parser limit (limit) it is an error: the SQL is not checked, and
 * PostgreSQL itself refuses such depths at its default max_stack_depth.
 */
static void
report_unparsed(lint_state *st, const stmt_ctx *ctx, const char *what, const char *error, bool limit)
{
	if (limit)
		lint_report_error(st, ctx, LINT_R_UNCHECKED, "%s cannot be checked: %s", what, error);
	else
		lint_report(st, ctx, LINT_R_UNCHECKED,
					"%s does not parse (%s) and was not checked; fix the statement", what, error);
}

/* One "PLpgSQL_expr" of the body: what it is depends on where it sits. */
static void
check_plpgsql_expr(do_walk *w, const char *stmt_type, const char *field, const char *query, int lineno)
{
	lint_state *st = w->st;
	stmt_ctx    ctx;
	bool        is_statement =
		(stmt_is(stmt_type, "execsql") && field_is(field, "sqlstmt")) ||
		((stmt_is(stmt_type, "perform") || stmt_is(stmt_type, "call")) && field_is(field, "expr")) ||
		((stmt_is(stmt_type, "fors") || stmt_is(stmt_type, "open") || stmt_is(stmt_type, "return_query")) &&
		 field_is(field, "query"));
	bool is_dynamic =
		((stmt_is(stmt_type, "dynexecute") || stmt_is(stmt_type, "dynfors")) && field_is(field, "query")) ||
		((stmt_is(stmt_type, "open") || stmt_is(stmt_type, "return_query")) && field_is(field, "dynquery"));
	sql_script expr;
	bool       limit;

	/* EXECUTE's string is an expression: point at the line's start */
	lint_nested_ctx(w, lineno, is_dynamic ? NULL : query, &ctx);
	if (is_statement)
	{
		char *error = NULL;

		if (!check_sql_text(st, &ctx, query, &error, &limit))
			report_unparsed(st, &ctx, "a statement of the DO block", error, limit);
		free(error);
		return;
	}
	if (!parse_expression(query, stmt_is(stmt_type, "assign"), &expr, &limit))
	{
		if (limit)
			lint_report_error(
				st, &ctx, LINT_R_UNCHECKED,
				"an expression of the DO block is nested too deeply or too long to check (parse tree "
				"deeper than %d levels or longer than %d tokens); split it",
				SQL_PARSE_MAX_DEPTH, SQL_PARSE_MAX_TOKENS);
		else if (is_dynamic)
			lint_report(st, &ctx, LINT_R_UNCHECKED,
						"EXECUTE of a string computed at run time cannot be checked before it runs; "
						"write the statement out in the migration");
		return;
	}
	lint_check_node(st, &ctx, expr.tree->stmts[0]->stmt);
	if (is_dynamic)
	{
		const PgQuery__Node *sel = expr.tree->stmts[0]->stmt;
		const char          *text = NULL;
		char                *error = NULL;

		if (sel->node_case == PG_QUERY__NODE__NODE_SELECT_STMT && sel->select_stmt->n_target_list == 1 &&
			sel->select_stmt->target_list[0]->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
			text = lint_const_string(sel->select_stmt->target_list[0]->res_target->val);
		if (text == NULL)
		{
			char *skeleton = NULL;

			if (sel->node_case == PG_QUERY__NODE__NODE_SELECT_STMT && sel->select_stmt->n_target_list == 1 &&
				sel->select_stmt->target_list[0]->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
				skeleton = lint_execute_skeleton(sel->select_stmt->target_list[0]->res_target->val);
			/* what can be seen of it is still checked: a SET built at run time is a SET */
			if (skeleton != NULL)
				check_sql_text(st, &ctx, skeleton, NULL, NULL);
			free(skeleton);
			lint_report(st, &ctx, LINT_R_UNCHECKED,
						"EXECUTE of a string computed at run time cannot be checked before it runs; "
						"write the statement out in the migration");
		}
		else if (!check_sql_text(st, &ctx, text, &error, &limit))
			report_unparsed(st, &ctx, "the string EXECUTE runs", error, limit);
		free(error);
	}
	sql_script_free(&expr);
}

/*
 * Walk the JSON of a PL/pgSQL function: stmt_type is the innermost
 * "PLpgSQL_stmt_*" key around v (NULL outside any), field the key v sits
 * under, lineno the innermost line number seen, depth v's (1 at the top).
 * jansson refuses JSON nested deeper than 2048 (JSON_PARSER_MAX_DEPTH), so
 * the bound below is a guard; such a block is reported as unchecked.
 */
static void
walk_plpgsql(do_walk *w, json_t *v, const char *stmt_type, const char *field, int lineno, int depth)
{
	const char *key;
	json_t     *val;
	size_t      i;

	if (depth > SQL_PARSE_MAX_DEPTH)
		return;
	if (json_is_array(v))
	{
		json_array_foreach(v, i, val) walk_plpgsql(w, val, stmt_type, field, lineno, depth + 1);
		return;
	}
	if (!json_is_object(v))
		return;
	if (json_is_integer(json_object_get(v, "lineno")))
		lineno = (int) json_integer_value(json_object_get(v, "lineno"));

	json_object_foreach(v, key, val)
	{
		if (strncmp(key, "PLpgSQL_stmt_", strlen("PLpgSQL_stmt_")) == 0)
		{
			int     line = lineno;
			json_t *l = json_is_object(val) ? json_object_get(val, "lineno") : NULL;

			if (json_is_integer(l))
				line = (int) json_integer_value(l);
			if (stmt_is(key, "commit") || stmt_is(key, "rollback"))
			{
				stmt_ctx ctx;

				lint_nested_ctx(w, line, stmt_is(key, "commit") ? "COMMIT" : "ROLLBACK", &ctx);
				lint_check_transaction(w->st, &ctx, stmt_is(key, "commit") ? "COMMIT" : "ROLLBACK");
			}
			walk_plpgsql(w, val, key, NULL, line, depth + 1);
			/* after its body, so the handlers of blocks inside it are placed first */
			if (stmt_is(key, "block") && json_is_object(val))
				lint_check_exception_block(w, val, line);
		}
		else if (strcmp(key, "PLpgSQL_expr") == 0)
		{
			json_t *q = json_is_object(val) ? json_object_get(val, "query") : NULL;

			if (json_is_string(q))
				check_plpgsql_expr(w, stmt_type, field, json_string_value(q), lineno);
		}
		else
			walk_plpgsql(w, val, stmt_type, key, lineno, depth + 1);
	}
}

typedef struct plpgsql_job
{
	const char               *sql;
	PgQueryPlpgsqlParseResult res;
} plpgsql_job;

static void
parse_plpgsql_on_stack(void *arg)
{
	plpgsql_job *job = arg;

	job->res = pg_query_parse_plpgsql(job->sql);
}

/*
 * pg_query_parse_plpgsql(sql), on the parser's stack: its JSON output
 * recurses once per nested block (bison lets a few thousand through).  If
 * the thread cannot start, on this stack: a few thousand levels fit.
 */
static PgQueryPlpgsqlParseResult
parse_plpgsql(const char *sql)
{
	plpgsql_job job = {sql, {0}};

	if (!sql_call_on_parser_stack(parse_plpgsql_on_stack, &job))
		parse_plpgsql_on_stack(&job);
	return job.res;
}

/*
 * The body and language of a DO statement (language defaults to plpgsql);
 * *body_loc is the body's parse location.  False if it has no body.
 */
static bool
do_body(const PgQuery__DoStmt *d, const char **body, const char **language, int *body_loc)
{
	*body = NULL;
	*language = "plpgsql";
	*body_loc = -1;
	for (size_t i = 0; i < d->n_args; i++)
	{
		const PgQuery__DefElem *de;

		if (d->args[i]->node_case != PG_QUERY__NODE__NODE_DEF_ELEM)
			continue;
		de = d->args[i]->def_elem;
		if (strcmp(de->defname, "as") == 0 && lint_node_string(de->arg) != NULL)
		{
			*body = lint_node_string(de->arg);
			*body_loc = de->location;
		}
		else if (strcmp(de->defname, "language") == 0 && lint_node_string(de->arg) != NULL)
			*language = lint_node_string(de->arg);
	}
	return *body != NULL;
}

/*
 * A dollar-quoted body stands in the file byte for byte (checked, not
 * assumed), so its lines are file lines: place w there and read the allow
 * comments inside it.
 */
static void
place_body(do_walk *w, const char *body, int body_loc)
{
	lint_state     *st = w->st;
	const stmt_ctx *ctx = w->ctx;
	const char     *close;
	int             off;
	int             col;

	if (ctx->text == NULL || body_loc < 0 || ctx->text[body_loc] != '$')
		return;
	close = strchr(ctx->text + body_loc + 1, '$');
	if (close == NULL)
		return;
	off = st->bom_len + (int) (close + 1 - ctx->text);
	if (strncmp(st->source + off, body, strlen(body)) != 0)
		return;
	w->body_off = off;
	lint_offset_line_col(st, off, &w->body_line, &col);
	lint_collect_allow_comments(st, body, off);
}

/* pg_query_parse_plpgsql() reads CREATE FUNCTION; pick a quote the body lacks */
static PgQueryPlpgsqlParseResult
parse_do_body(const char *body)
{
	char                     *tag = xstrdup("$lint$");
	char                     *wrapper;
	PgQueryPlpgsqlParseResult res;

	for (int n = 1; strstr(body, tag) != NULL; n++)
	{
		free(tag);
		tag = xasprintf("$lint%d$", n);
	}
	wrapper = xasprintf("CREATE FUNCTION pg_temp.lint_do() RETURNS void LANGUAGE plpgsql AS %s%s%s", tag,
						body, tag);
	free(tag);
	res = parse_plpgsql(wrapper);
	free(wrapper);
	return res;
}

/*
 * The PL/pgSQL parser's JSON for body, or NULL after reporting why the
 * block cannot be checked.
 */
static json_t *
read_do_body(lint_state *st, const stmt_ctx *ctx, const char *body)
{
	PgQueryPlpgsqlParseResult res = parse_do_body(body);
	json_t                   *funcs;
	json_error_t              jerr;

	if (res.error != NULL)
	{
		char *msg = xstrdup(res.error->message);

		for (char *p = msg; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		lint_report(st, ctx, LINT_R_UNCHECKED,
					"the PL/pgSQL parser cannot read the DO block (%s), so it was not checked; "
					"fix the block, or move its statements out of it",
					msg);
		free(msg);
		pg_query_free_plpgsql_parse_result(res);
		return NULL;
	}
	funcs = json_loads(res.plpgsql_funcs, 0, &jerr);
	pg_query_free_plpgsql_parse_result(res);
	if (funcs == NULL && json_error_code(&jerr) == json_error_stack_overflow)
		/* jansson stops at 2048 levels: about 680 nested PL/pgSQL blocks */
		lint_report_error(
			st, ctx, LINT_R_UNCHECKED,
			"the DO block is nested too deeply to check (%s); split it, or move its statements out of it",
			jerr.text);
	else if (funcs == NULL)
		lint_report(st, ctx, LINT_R_UNCHECKED,
					"the PL/pgSQL parser's output could not be read (%s), so the DO block was not checked; "
					"move its statements out of it",
					jerr.text);
	return funcs;
}

/* See lint_internal.h. */
void
lint_check_do(lint_state *st, const stmt_ctx *ctx, const PgQuery__DoStmt *d)
{
	const char *body;
	const char *language;
	int         body_loc;
	do_walk     w = {st, ctx, -1, 0, NULL, NULL, false, 0};
	json_t     *funcs;

	if (!do_body(d, &body, &language, &body_loc))
		return;
	if (strcmp(language, "plpgsql") != 0)
	{
		lint_report(
			st, ctx, LINT_R_UNCHECKED,
			"a DO block in language \"%s\" cannot be checked before it runs; write it in PL/pgSQL or as plain SQL statements",
			language);
		return;
	}
	if (ctx->depth >= MAX_DO_DEPTH)
	{
		lint_report(st, ctx, LINT_R_UNCHECKED,
					"DO blocks nested %d deep are not checked; write the statements out in the migration",
					ctx->depth + 1);
		return;
	}
	place_body(&w, body, body_loc);
	funcs = read_do_body(st, ctx, body);
	if (funcs == NULL)
		return;
	w.body = body;
	walk_plpgsql(&w, funcs, NULL, NULL, 0, 1);
	json_decref(funcs);
	if (w.tokens != NULL)
		pg_query__scan_result__free_unpacked(w.tokens, NULL);
}
