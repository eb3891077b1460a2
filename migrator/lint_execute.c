/*-------------------------------------------------------------------------
 *
 * lint_execute.c
 *	  The visible part of a string that EXECUTE computes at run time.
 *
 * A computed EXECUTE string with its computed parts replaced by
 * placeholders: "(computed)" as a quoted identifier, '(computed)' as a
 * literal.  Understood: constants, ||, concat(), format() with a constant
 * format (%s, %I, %L, positions and widths; constant arguments are used as
 * they are), quote_ident/quote_literal/quote_nullable.  The DO-block walker
 * checks the result as SQL, so a session SET built at run time is still a
 * SET.
 *
 * migrator/lint_execute.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_internal.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "sqlquote.h"

/*
 * A computed EXECUTE string with its computed parts replaced by
 * placeholders: "(computed)" as a quoted identifier, '(computed)' as a
 * literal.  Understood: constants, ||, concat(), format() with a constant
 * format (%s, %I, %L, positions and widths; constant arguments are used as
 * they are), quote_ident/quote_literal/quote_nullable.
 */
#define PLACEHOLDER_IDENT   "\"(computed)\""
#define PLACEHOLDER_LITERAL "'(computed)'"

static void skeleton_append(textbuf *sb, const PgQuery__Node *n, int *n_const);

/* The SQL literal of text, for %L of a constant argument. */
static void
append_literal(textbuf *sb, const char *text)
{
	sql_append_enclosed(sb, text, '\'');
}

/* format(fmt, args...) into sb; args are fc->args[1..]. */
static void
skeleton_format(textbuf *sb, const char *fmt, const PgQuery__FuncCall *fc, int *n_const)
{
	size_t next = 1;

	(*n_const)++;
	for (const char *p = fmt; *p; p++)
	{
		const PgQuery__Node *arg;
		const char          *value;
		char                 type;
		size_t               pos = next;

		if (*p != '%')
		{
			textbuf_append_char(sb, *p);
			continue;
		}
		if (p[1] == '%')
		{
			textbuf_append_char(sb, '%');
			p++;
			continue;
		}
		/* %[position$][flags][width]type */
		p++;
		if (*p >= '1' && *p <= '9')
		{
			const char *q = p;

			while (*q >= '0' && *q <= '9')
				q++;
			if (*q == '$')
			{
				pos = (size_t) strtoul(p, NULL, 10);
				p = q + 1;
			}
		}
		while (*p == '-' || *p == '*' || *p == '$' || (*p >= '0' && *p <= '9'))
			p++;
		if (*p == '\0')
			break;
		type = *p;
		next = pos + 1;
		arg = pos < fc->n_args ? fc->args[pos] : NULL;
		value = lint_const_string(arg);
		if (type == 'L')
		{
			if (value != NULL)
				append_literal(sb, value);
			else
				textbuf_append(sb, PLACEHOLDER_LITERAL);
		}
		else if (type == 'I' && value != NULL)
			sql_append_ident(sb, value);
		else if (type == 's' && value != NULL)
			textbuf_append(sb, value);
		else
			textbuf_append(sb, PLACEHOLDER_IDENT);
	}
}

static void
skeleton_append(textbuf *sb, const PgQuery__Node *n, int *n_const)
{
	const char *text = lint_const_string(n);

	if (text != NULL)
	{
		textbuf_append(sb, text);
		(*n_const)++;
		return;
	}
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_A_EXPR &&
		n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP && n->a_expr->n_name == 1 &&
		lint_node_string(n->a_expr->name[0]) != NULL &&
		strcmp(lint_node_string(n->a_expr->name[0]), "||") == 0 && n->a_expr->lexpr != NULL &&
		n->a_expr->rexpr != NULL)
	{
		skeleton_append(sb, n->a_expr->lexpr, n_const);
		skeleton_append(sb, n->a_expr->rexpr, n_const);
		return;
	}
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_FUNC_CALL)
	{
		const PgQuery__FuncCall *fc = n->func_call;
		const char              *schema;
		const char              *name = lint_func_call_name(fc, &schema);

		if (name != NULL && (schema == NULL || strcmp(schema, "pg_catalog") == 0))
		{
			if (strcmp(name, "format") == 0 && fc->n_args >= 1 && lint_const_string(fc->args[0]) != NULL)
			{
				skeleton_format(sb, lint_const_string(fc->args[0]), fc, n_const);
				return;
			}
			if (strcmp(name, "concat") == 0)
			{
				for (size_t i = 0; i < fc->n_args; i++)
					skeleton_append(sb, fc->args[i], n_const);
				return;
			}
			if (strcmp(name, "quote_literal") == 0 || strcmp(name, "quote_nullable") == 0)
			{
				textbuf_append(sb, PLACEHOLDER_LITERAL);
				return;
			}
		}
	}
	textbuf_append(sb, PLACEHOLDER_IDENT);
}

/* The skeleton of expr (caller frees), or NULL when no part of it is constant. */
char *
lint_execute_skeleton(const PgQuery__Node *expr)
{
	textbuf sb;
	int     n_const = 0;

	textbuf_init(&sb);
	skeleton_append(&sb, expr, &n_const);
	if (n_const == 0)
	{
		textbuf_free(&sb);
		return NULL;
	}
	return textbuf_detach(&sb);
}
