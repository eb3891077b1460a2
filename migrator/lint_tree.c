/*-------------------------------------------------------------------------
 *
 * lint_tree.c
 *	  Names and parse-tree helpers shared by the lint rules.
 *
 * Quoting of names for messages, the relations a file created (compared as
 * the parser folded them; an unqualified name is taken to be in the
 * lint_state's schema, the migrator's search_path), and readers of constant
 * arguments and options as PostgreSQL itself reads them (parse_bool,
 * defGetBoolean).  Pure functions of the parse tree, except the created list.
 *
 * migrator/lint_tree.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "memory.h"
#include "sqlquote.h"

/* "schema"."name" (schema only if given), for messages; caller frees. */
char *
lint_quote_name(const char *schema, const char *name)
{
	textbuf sb;

	textbuf_init(&sb);
	if (schema != NULL && *schema != '\0')
	{
		sql_append_ident(&sb, schema);
		textbuf_append_char(&sb, '.');
	}
	sql_append_ident(&sb, name != NULL ? name : "");
	return textbuf_detach(&sb);
}

char *
lint_quote_rangevar(const PgQuery__RangeVar *rv)
{
	if (rv == NULL)
		return xstrdup("\"?\"");
	return lint_quote_name(rv->schemaname, rv->relname);
}

const char *
lint_resolve_schema(const lint_state *st, const char *schema)
{
	return schema != NULL && *schema != '\0' ? schema : st->schema;
}

/* The string of a String node, or NULL. */
const char *
lint_node_string(const PgQuery__Node *n)
{
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_STRING && n->string != NULL)
		return n->string->sval;
	return NULL;
}

/*
 * Schema and name of a qualified name given as a list of String nodes
 * ([name], [schema, name] or [catalog, schema, name]).  False if it is not
 * such a list.
 */
bool
lint_list_name(PgQuery__Node *const *items, size_t n, const char **schema, const char **name)
{
	if (n < 1 || n > 3)
		return false;
	*name = lint_node_string(items[n - 1]);
	*schema = n >= 2 ? lint_node_string(items[n - 2]) : NULL;
	return *name != NULL && (n < 2 || *schema != NULL);
}

bool
lint_is_created(const lint_state *st, const char *schema, const char *name)
{
	schema = lint_resolve_schema(st, schema);
	for (int i = 0; i < st->n_created; i++)
		if (strcmp(st->created[i].schema, schema) == 0 && strcmp(st->created[i].name, name) == 0)
			return true;
	return false;
}

bool
lint_rangevar_is_created(const lint_state *st, const PgQuery__RangeVar *rv)
{
	return rv != NULL && lint_is_created(st, rv->schemaname, rv->relname);
}

void
lint_add_created(lint_state *st, const char *schema, const char *name)
{
	if (name == NULL || *name == '\0' || lint_is_created(st, schema, name))
		return;
	ARRAY_GROW(st->created, st->n_created + 1, st->cap_created);
	st->created[st->n_created].schema = xstrdup(lint_resolve_schema(st, schema));
	st->created[st->n_created].name = xstrdup(name);
	st->n_created++;
}

/*
 * PostgreSQL's parse_bool(): true, false, yes, no and unique prefixes of
 * them, on, off, 1, 0; case-insensitive.  False if text is none of these.
 */
static bool
parse_bool_text(const char *text, bool *value)
{
	size_t len = strlen(text);

	if (len == 0)
		return false;
	if (strncasecmp(text, "true", len) == 0 || strncasecmp(text, "yes", len) == 0 ||
		(len >= 2 && strncasecmp(text, "on", len) == 0) || strcmp(text, "1") == 0)
	{
		/* "o" alone is ambiguous (on/off) and fell through both tests */
		*value = true;
		return true;
	}
	if (strncasecmp(text, "false", len) == 0 || strncasecmp(text, "no", len) == 0 ||
		(len >= 2 && strncasecmp(text, "off", len) == 0) || strcmp(text, "0") == 0)
	{
		*value = false;
		return true;
	}
	return false;
}

/* A constant boolean argument (true, 'off', ...).  False if not constant. */
bool
lint_const_bool(const PgQuery__Node *n, bool *value)
{
	const PgQuery__AConst *c;

	if (n == NULL)
		return false;
	if (n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast != NULL)
		n = n->type_cast->arg;
	if (n == NULL || n->node_case != PG_QUERY__NODE__NODE_A_CONST || n->a_const == NULL)
		return false;
	c = n->a_const;
	switch (c->val_case)
	{
		case PG_QUERY__A__CONST__VAL_BOOLVAL:
			*value = c->boolval != NULL && c->boolval->boolval;
			return true;
		case PG_QUERY__A__CONST__VAL_SVAL:
			return c->sval != NULL && parse_bool_text(c->sval->sval, value);
		default:
			return false;
	}
}

/* A constant string ('...', or '...'::type), or NULL. */
const char *
lint_const_string(const PgQuery__Node *n)
{
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast != NULL)
		n = n->type_cast->arg;
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_A_CONST && n->a_const != NULL &&
		n->a_const->val_case == PG_QUERY__A__CONST__VAL_SVAL && n->a_const->sval != NULL)
		return n->a_const->sval->sval;
	return NULL;
}

/*
 * The value of a DefElem option as defGetBoolean() reads it: no argument is
 * true.  An argument that is not a boolean counts as true (the server would
 * reject it).
 */
bool
lint_defelem_bool(const PgQuery__DefElem *de)
{
	const PgQuery__Node *arg = de->arg;
	bool                 value = true;

	if (arg == NULL)
		return true;
	switch (arg->node_case)
	{
		case PG_QUERY__NODE__NODE_INTEGER:
			return arg->integer->ival != 0;
		case PG_QUERY__NODE__NODE_BOOLEAN:
			return arg->boolean->boolval;
		case PG_QUERY__NODE__NODE_STRING:
			if (parse_bool_text(arg->string->sval, &value))
				return value;
			return true;
		default:
			return lint_const_bool(arg, &value) ? value : true;
	}
}

/* The DefElem called name in options, or NULL. */
const PgQuery__DefElem *
lint_find_option(PgQuery__Node *const *options, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (options[i]->node_case == PG_QUERY__NODE__NODE_DEF_ELEM &&
			strcmp(options[i]->def_elem->defname, name) == 0)
			return options[i]->def_elem;
	return NULL;
}

/* Name and (possibly NULL) schema of a function call. */
const char *
lint_func_call_name(const PgQuery__FuncCall *fc, const char **schema)
{
	const char *name = NULL;

	*schema = NULL;
	if (!lint_list_name(fc->funcname, fc->n_funcname, schema, &name))
		return NULL;
	return name;
}
