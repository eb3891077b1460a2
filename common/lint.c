/*-------------------------------------------------------------------------
 *
 * lint.c
 *	  Reading a migration with PostgreSQL's parser before it runs:
 *	  DDL-only and lock-safety rules.
 *
 * Every rule is decided on the parse tree libpg_query gives (sqlparse.h),
 * never by matching text.  The statements of a file are checked in order,
 * and what earlier ones did is remembered: the tables they created (empty,
 * so most lock and rewrite warnings do not apply to them, and a plain
 * CREATE INDEX on them is allowed), and the CHECK (col IS NOT NULL)
 * constraints they added and validated (which make SET NOT NULL cheap).
 * Names are compared as the parser folded them; an unqualified name is
 * taken to be in opts->schema ("public"), the migrator's search_path.
 *
 * DO blocks: the body is wrapped as a PL/pgSQL function and read with
 * pg_query_parse_plpgsql(), whose JSON output (read with jansson) holds every
 * SQL text of the body as a "PLpgSQL_expr": {"query": "..."} object inside a
 * "PLpgSQL_stmt_<kind>" object with a "lineno".  A query that is a statement
 * (the SQL of PLpgSQL_stmt_execsql, PERFORM, CALL, FOR ... IN query, OPEN,
 * RETURN QUERY) is parsed and checked like a top-level statement; one that is
 * an expression (conditions, assignments, defaults, ...) is parsed as
 * "SELECT <expr>" so that function calls in it are seen; the string EXECUTE
 * runs is checked when it is a constant, and reported as unchecked-sql when
 * it is computed.  When the body is a dollar-quoted string, it stands in the
 * file byte for byte, so body line N is file line (first line of the body) +
 * N - 1 and allow comments inside the body work as at top level; otherwise
 * findings point at the DO statement.
 *
 * Exception handlers of a DO body are judged on the same JSON: a
 * "PLpgSQL_exception" lists its conditions (a name, or the code of SQLSTATE
 * 'xxxxx') and its "action" statements, but keeps no line, so the WHEN line
 * is found with the lexer (the first token after the block's statements
 * that spells the handler's first condition).
 *
 * Verify files are read by the same entry with other rules (check_verify):
 * every node of each SELECT is walked for data-modifying WITH, INTO,
 * locking clauses and function calls, whose volatility comes from
 * pg_volatile_functions.h (PostgreSQL 15's catalog).
 *
 * Allow comments are found with PostgreSQL's lexer (pg_query_scan), so a
 * "-- migrator:allow" inside a string is not one.  A comment excuses only if
 * it is alone on its line; several such lines stacked directly above a
 * statement excuse it from several rules.  Every allow comment, alone or not,
 * must name a rule.
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
 * common/lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "memory.h"
#include "pg_volatile_functions.h"
#include "sqlquote.h"
#include "sqlwalk.h"

#define UTF8_BOM     "\xEF\xBB\xBF"
#define UTF8_BOM_LEN 3

/* "-- migrator:allow RULE" */
#define ALLOW_WORD "migrator:allow"

/* DO blocks inside DO blocks (via EXECUTE or plain SQL) are followed this deep */
#define MAX_DO_DEPTH 4

#define R_CREATE_INDEX     "create-index"
#define R_REINDEX          "reindex"
#define R_VACUUM_FULL      "vacuum-full"
#define R_CLUSTER          "cluster"
#define R_DML              "dml"
#define R_TRANSACTION      "transaction-control"
#define R_SESSION_SET      "session-set"
#define R_DISCARD          "discard"
#define R_SET_ROLE         "set-role"
#define R_UNLOCK_ALL       "advisory-unlock-all"
#define R_VOLATILE_DEFAULT "volatile-default"
#define R_ALTER_TYPE       "alter-column-type"
#define R_SET_NOT_NULL     "set-not-null"
#define R_NOT_VALID        "constraint-not-valid"
#define R_UNIQUE_NO_INDEX  "unique-without-index"
#define R_CONSTRAINT_INDEX "constraint-index-name"
#define R_DROP_INDEX       "drop-index"
#define R_SET_TABLESPACE   "set-tablespace"
#define R_DROP_COLUMN      "drop-column"
#define R_DROP_TABLE       "drop-table"
#define R_RENAME           "rename"
#define R_NOT_IDEMPOTENT   "not-idempotent"
#define R_UNCHECKED        "unchecked-sql"
#define R_UNKNOWN_RULE     "unknown-rule"
#define R_COPY_STDIO       "copy-stdio"
#define R_SWALLOWED        "swallowed-error"
#define R_TIMEOUT          "timeout-override"
#define R_VERIFY           "verify-read-only"

const char *const lint_rule_names[] = {R_CREATE_INDEX,
									   R_REINDEX,
									   R_VACUUM_FULL,
									   R_CLUSTER,
									   R_DML,
									   R_TRANSACTION,
									   R_SESSION_SET,
									   R_DISCARD,
									   R_SET_ROLE,
									   R_UNLOCK_ALL,
									   R_VOLATILE_DEFAULT,
									   R_ALTER_TYPE,
									   R_SET_NOT_NULL,
									   R_NOT_VALID,
									   R_UNIQUE_NO_INDEX,
									   R_DROP_INDEX,
									   R_SET_TABLESPACE,
									   R_DROP_COLUMN,
									   R_DROP_TABLE,
									   R_RENAME,
									   R_NOT_IDEMPOTENT,
									   R_UNCHECKED,
									   R_COPY_STDIO,
									   R_SWALLOWED,
									   R_TIMEOUT,
									   R_VERIFY,
									   R_CONSTRAINT_INDEX,
									   NULL};

/* A relation name with its schema resolved (never empty). */
typedef struct qual_name
{
	char *schema;
	char *name;
} qual_name;

/* A CHECK (column IS NOT NULL) constraint added earlier in the file. */
typedef struct not_null_check
{
	qual_name rel;
	char     *conname; /* given, or PostgreSQL's default name */
	char     *column;
	bool      validated; /* added without NOT VALID, or validated */
} not_null_check;

/* A "-- migrator:allow RULE" comment alone on its line. */
typedef struct allow_line
{
	int         line;
	const char *rule; /* from lint_rule_names; NULL if unknown */
} allow_line;

/* Everything one lint_script() call knows. */
typedef struct lint_state
{
	const char     *source; /* the whole file, BOM included */
	int             bom_len;
	const char     *schema; /* for unqualified names */
	bool            no_transaction;
	bool            allow_dml;
	bool            strict;
	bool            lock_timeout_known; /* the run's bounds (lint.h) */
	int64_t         lock_timeout_ms;
	bool            statement_timeout_known;
	int64_t         statement_timeout_ms;
	lint_result    *out;
	int             first_new; /* out->items[first_new..] are this file's */
	qual_name      *created;   /* relations (tables, indexes) created here */
	int             n_created;
	not_null_check *checks;
	int             n_checks;
	allow_line     *allows;
	int             n_allows;
	int            *line_starts; /* byte offset of each line (index 0 is line
								 * 1, after any BOM), built once: every
								 * offset-to-line lookup is a binary search,
								 * not a scan from the top of the file */
	int             n_lines;
} lint_state;

/* The statement being checked: where its findings point, what excuses them. */
typedef struct stmt_ctx
{
	int         line; /* where findings point */
	int         column;
	int         stmt_line;   /* first line of the top-level statement */
	int         nested_line; /* first line inside a DO body; 0 unknown */
	const char *text;        /* the text node locations count in (the
								 * file after its BOM); NULL when nested */
	int         depth;       /* DO blocks around the statement */
} stmt_ctx;

static void check_node(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node);

/* ---------------------------------------------------------------------
 * Findings and allow comments
 * ---------------------------------------------------------------------
 */

/* Does an allow comment alone on a line stacked directly above line excuse rule? */
static bool
allowed_above(const lint_state *st, int line, const char *rule)
{
	for (int l = line - 1; l >= 1; l--)
	{
		bool any = false;

		for (int i = 0; i < st->n_allows; i++)
		{
			if (st->allows[i].line != l)
				continue;
			any = true;
			if (st->allows[i].rule != NULL && strcmp(st->allows[i].rule, rule) == 0)
				return true;
		}
		if (!any)
			return false;
	}
	return false;
}

static void
append_finding(lint_state *st, const char *rule, lint_severity severity, int line, int column, char *message)
{
	lint_result  *out = st->out;
	lint_finding *f;

	/* the same finding twice (two calls in one statement) is one finding */
	for (int i = st->first_new; i < out->n; i++)
		if (strcmp(out->items[i].rule, rule) == 0 && out->items[i].line == line &&
			out->items[i].column == column && strcmp(out->items[i].message, message) == 0)
		{
			free(message);
			return;
		}

	out->items = xrealloc(out->items, sizeof(lint_finding) * (size_t) (out->n + 1));
	f = &out->items[out->n++];
	f->rule = rule;
	f->severity = severity;
	f->line = line;
	f->column = column;
	f->message = message;
	if (severity == LINT_ERROR)
		out->n_errors++;
	else
		out->n_warnings++;
}

/*
 * Report rule for the statement of ctx, unless an allow comment excuses it
 * (and excusable).  Warnings become errors under --strict.
 */
static void
vreport(lint_state *st, const stmt_ctx *ctx, const char *rule, lint_severity severity, bool excusable,
		const char *fmt, va_list ap)
{
	strbuf sb;

	if (excusable && (allowed_above(st, ctx->stmt_line, rule) ||
					  (ctx->nested_line > 0 && allowed_above(st, ctx->nested_line, rule))))
		return;
	if (st->strict)
		severity = LINT_ERROR;

	strbuf_init(&sb);
	if (ctx->depth > 0)
		strbuf_append(&sb, "in a DO block, ");
	strbuf_vappendf(&sb, fmt, ap);
	append_finding(st, rule, severity, ctx->line, ctx->column, strbuf_detach(&sb));
}

/* vreport(), printf-style, excusable unless the rule never is. */
static void report(lint_state *st, const stmt_ctx *ctx, const char *rule, lint_severity severity,
				   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
report(lint_state *st, const stmt_ctx *ctx, const char *rule, lint_severity severity, const char *fmt, ...)
{
	va_list ap;

	/*
	 * Three rules cannot be excused: a COMMIT or ROLLBACK ends the migration's
	 * transaction (what ran before it is committed or lost, the history row
	 * lands outside it), COPY from or to the client needs data that a
	 * migration does not carry (either breaks the run itself), and a verify
	 * file that changes something is not a check.
	 */
	bool unexcusable =
		strcmp(rule, R_TRANSACTION) == 0 || strcmp(rule, R_COPY_STDIO) == 0 || strcmp(rule, R_VERIFY) == 0;

	va_start(ap, fmt);
	vreport(st, ctx, rule, severity, !unexcusable, fmt, ap);
	va_end(ap);
}

/*
 * An error no allow comment excuses, for a change to the session that every
 * later migration of the run would inherit: the role, search_path, RESET
 * ALL.  (The run also re-establishes its session before each migration;
 * lint stops the file before anything runs.)
 */
static void report_fixed(lint_state *st, const stmt_ctx *ctx, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
report_fixed(lint_state *st, const stmt_ctx *ctx, const char *rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(st, ctx, rule, LINT_ERROR, false, fmt, ap);
	va_end(ap);
}

/* Is a session-level change of setting (NULL: not known) one no comment excuses? */
static bool
session_change_is_fixed(const char *setting)
{
	return setting == NULL || strcasecmp(setting, "search_path") == 0;
}

/* Index the line starts of st->source (LF, CRLF and a lone CR end lines). */
static void
index_lines(lint_state *st)
{
	const char *s = st->source;
	int         cap = 64;

	st->line_starts = xmalloc(sizeof(int) * (size_t) cap);
	st->n_lines = 0;
	st->line_starts[st->n_lines++] = st->bom_len;
	for (int off = st->bom_len; s[off] != '\0'; off++)
	{
		if (s[off] == '\n' || (s[off] == '\r' && s[off + 1] != '\n'))
		{
			if (st->n_lines == cap)
			{
				cap *= 2;
				st->line_starts = xrealloc(st->line_starts, sizeof(int) * (size_t) cap);
			}
			st->line_starts[st->n_lines++] = off + 1;
		}
	}
}

/* Byte offset in source of the start of 1-based line (the end if past it). */
static int
line_start_offset(const lint_state *st, int line)
{
	if (line < 1)
		return st->bom_len;
	if (line > st->n_lines)
		return (int) strlen(st->source);
	return st->line_starts[line - 1];
}

/*
 * 1-based line and byte column of a file offset, as sql_offset_to_line_col
 * counts them, by binary search over the line index.
 */
static void
offset_line_col(const lint_state *st, int off, int *line, int *column)
{
	int lo = 0, hi = st->n_lines - 1;

	if (off < st->bom_len)
		off = st->bom_len;
	while (lo < hi)
	{
		int mid = (lo + hi + 1) / 2;

		if (st->line_starts[mid] <= off)
			lo = mid;
		else
			hi = mid - 1;
	}
	*line = lo + 1;
	*column = off - st->line_starts[lo] + 1;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Read a "--" comment that starts at file offset off; if it is an allow
 * comment, validate its rule (an unknown one is an error finding) and, when
 * the comment is alone on its line, remember it.
 */
static void
read_allow_comment(lint_state *st, int off)
{
	const char *s = st->source;
	const char *p = s + off + 2;
	const char *end;
	int         line;
	int         column;
	int         ls;
	bool        alone = true;
	char       *rule;

	while (is_blank(*p))
		p++;
	if (strncmp(p, ALLOW_WORD, strlen(ALLOW_WORD)) != 0)
		return;
	p += strlen(ALLOW_WORD);
	/* "migrator:allow-dml" is a file directive, not an allow comment */
	if (*p != '\0' && *p != '\n' && *p != '\r' && !is_blank(*p))
		return;
	while (is_blank(*p))
		p++;
	end = p + strcspn(p, "\r\n");
	while (end > p && is_blank(end[-1]))
		end--;
	rule = xstrndup(p, (size_t) (end - p));

	offset_line_col(st, off, &line, &column);
	ls = line_start_offset(st, line);
	for (int i = ls; i < off; i++)
		if (!is_blank(s[i]))
			alone = false;

	if (!lint_rule_exists(rule))
	{
		if (*rule == '\0')
			append_finding(
				st, R_UNKNOWN_RULE, LINT_ERROR, line, column,
				xstrdup(
					"\"-- migrator:allow\" names no rule; write the rule to excuse after it, e.g. \"-- migrator:allow drop-column\""));
		else
			append_finding(
				st, R_UNKNOWN_RULE, LINT_ERROR, line, column,
				xasprintf(
					"unknown rule \"%s\" in \"-- migrator:allow\"; name one rule that lint reports, e.g. \"-- migrator:allow drop-column\"",
					rule));
	}
	if (alone)
	{
		const char *known = NULL;

		for (int i = 0; lint_rule_names[i] != NULL; i++)
			if (strcmp(lint_rule_names[i], rule) == 0)
				known = lint_rule_names[i];
		st->allows = xrealloc(st->allows, sizeof(allow_line) * (size_t) (st->n_allows + 1));
		st->allows[st->n_allows].line = line;
		st->allows[st->n_allows].rule = known;
		st->n_allows++;
	}
	free(rule);
}

/*
 * Find the "--" comments of text, which stands in the file at byte offset
 * file_off, with PostgreSQL's lexer, and read the allow comments among them.
 * A text the lexer rejects has none (the parser accepted the file, so this
 * only happens for a DO body, which then is reported anyway).
 */
static void
collect_allow_comments(lint_state *st, const char *text, int file_off)
{
	PgQueryScanResult    res = pg_query_scan(text);
	PgQuery__ScanResult *scan;

	if (res.error != NULL)
	{
		pg_query_free_scan_result(res);
		return;
	}
	scan = pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *) res.pbuf.data);
	pg_query_free_scan_result(res);
	if (scan == NULL)
		return;
	for (size_t i = 0; i < scan->n_tokens; i++)
		if (scan->tokens[i]->token == PG_QUERY__TOKEN__SQL_COMMENT)
			read_allow_comment(st, file_off + scan->tokens[i]->start);
	pg_query__scan_result__free_unpacked(scan, NULL);
}

/* ---------------------------------------------------------------------
 * Names
 * ---------------------------------------------------------------------
 */

/* "schema"."name" (schema only if given), for messages; caller frees. */
static char *
quote_name(const char *schema, const char *name)
{
	strbuf sb;

	strbuf_init(&sb);
	if (schema != NULL && *schema != '\0')
	{
		sql_append_ident(&sb, schema);
		strbuf_append_char(&sb, '.');
	}
	sql_append_ident(&sb, name != NULL ? name : "");
	return strbuf_detach(&sb);
}

static char *
quote_rangevar(const PgQuery__RangeVar *rv)
{
	if (rv == NULL)
		return xstrdup("\"?\"");
	return quote_name(rv->schemaname, rv->relname);
}

static const char *
resolve_schema(const lint_state *st, const char *schema)
{
	return schema != NULL && *schema != '\0' ? schema : st->schema;
}

/* The string of a String node, or NULL. */
static const char *
node_string(const PgQuery__Node *n)
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
static bool
list_name(PgQuery__Node *const *items, size_t n, const char **schema, const char **name)
{
	if (n < 1 || n > 3)
		return false;
	*name = node_string(items[n - 1]);
	*schema = n >= 2 ? node_string(items[n - 2]) : NULL;
	return *name != NULL && (n < 2 || *schema != NULL);
}

static bool
is_created(const lint_state *st, const char *schema, const char *name)
{
	schema = resolve_schema(st, schema);
	for (int i = 0; i < st->n_created; i++)
		if (strcmp(st->created[i].schema, schema) == 0 && strcmp(st->created[i].name, name) == 0)
			return true;
	return false;
}

static bool
rangevar_is_created(const lint_state *st, const PgQuery__RangeVar *rv)
{
	return rv != NULL && is_created(st, rv->schemaname, rv->relname);
}

static void
add_created(lint_state *st, const char *schema, const char *name)
{
	if (name == NULL || *name == '\0' || is_created(st, schema, name))
		return;
	st->created = xrealloc(st->created, sizeof(qual_name) * (size_t) (st->n_created + 1));
	st->created[st->n_created].schema = xstrdup(resolve_schema(st, schema));
	st->created[st->n_created].name = xstrdup(name);
	st->n_created++;
}

/* ---------------------------------------------------------------------
 * Parse-tree helpers
 * ---------------------------------------------------------------------
 */

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
static bool
const_bool(const PgQuery__Node *n, bool *value)
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
static const char *
const_string(const PgQuery__Node *n)
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
static bool
defelem_bool(const PgQuery__DefElem *de)
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
			return const_bool(arg, &value) ? value : true;
	}
}

/* The DefElem called name in options, or NULL. */
static const PgQuery__DefElem *
find_option(PgQuery__Node *const *options, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (options[i]->node_case == PG_QUERY__NODE__NODE_DEF_ELEM &&
			strcmp(options[i]->def_elem->defname, name) == 0)
			return options[i]->def_elem;
	return NULL;
}

/* Name and (possibly NULL) schema of a function call. */
static const char *
func_call_name(const PgQuery__FuncCall *fc, const char **schema)
{
	const char *name = NULL;

	*schema = NULL;
	if (!list_name(fc->funcname, fc->n_funcname, schema, &name))
		return NULL;
	return name;
}

/* ---------------------------------------------------------------------
 * Settings: the role, and the run's timeouts
 * ---------------------------------------------------------------------
 */

/* GUC names are case-insensitive ("SET \"Role\"" is SET ROLE). */
static bool
is_role_setting(const char *name)
{
	return name != NULL && (strcasecmp(name, "role") == 0 || strcasecmp(name, "session_authorization") == 0);
}

/* The run's option for a timeout setting, or NULL if name is not one. */
static const char *
timeout_option(const char *name)
{
	if (name != NULL && strcasecmp(name, "lock_timeout") == 0)
		return "--lock-timeout";
	if (name != NULL && strcasecmp(name, "statement_timeout") == 0)
		return "--statement-timeout";
	return NULL;
}

/*
 * A timeout value as the server reads it (parse_int with GUC_UNIT_MS): a
 * number, optionally fractional, then optionally a unit (us, ms, s, min,
 * h, d; case-sensitive), rounded to whole milliseconds; no unit is ms.
 * False if text is not such a value (the server would reject it too).
 */
static bool
timeout_text_ms(const char *text, double *ms)
{
	static const struct
	{
		const char *unit;
		double      ms;
	} units[] = {{"us", 0.001}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
	char  *end;
	double v;

	while (*text == ' ' || *text == '\t' || *text == '\n')
		text++;
	v = strtod(text, &end);
	/* the server's range is 0 to INT_MAX ms; nan and inf are not numbers to it */
	if (end == text || !(v >= 0 && v <= 1e15))
		return false;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end == '\0')
	{
		*ms = v;
		return true;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
	{
		size_t len = strlen(units[i].unit);

		if (strncmp(end, units[i].unit, len) == 0 && strspn(end + len, " \t\n") == strlen(end + len))
		{
			*ms = v * units[i].ms;
			return *ms <= 1e15;
		}
	}
	return false;
}

/* A constant value node (5000, 1.5, '5s') as milliseconds; false if not one. */
static bool
timeout_node_ms(const PgQuery__Node *n, double *ms)
{
	const char *text = const_string(n);

	if (text != NULL)
		return timeout_text_ms(text, ms);
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_A_CONST && n->a_const != NULL)
	{
		if (n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL && n->a_const->ival != NULL)
		{
			*ms = n->a_const->ival->ival;
			return *ms >= 0;
		}
		if (n->a_const->val_case == PG_QUERY__A__CONST__VAL_FVAL && n->a_const->fval != NULL)
			return timeout_text_ms(n->a_const->fval->fval, ms);
	}
	return false;
}

/* "1h", "2min", "5s" or "1500ms" (the largest exact unit), for messages; caller frees. */
static char *
format_ms(int64_t ms)
{
	if (ms > 0 && ms % 3600000 == 0)
		return xasprintf("%lldh", (long long) (ms / 3600000));
	if (ms > 0 && ms % 60000 == 0)
		return xasprintf("%lldmin", (long long) (ms / 60000));
	if (ms % 1000 == 0)
		return xasprintf("%llds", (long long) (ms / 1000));
	return xasprintf("%lldms", (long long) ms);
}

/*
 * timeout-override: what (e.g. "SET LOCAL lock_timeout") sets the timeout
 * setting name to value (NULL: TO DEFAULT).  0, however spelt, removes the
 * bound: an error.  A value above the run's known bound raises it, and a
 * value when the bound is not known overrides the operator's: warnings.
 */
static void
check_timeout(lint_state *st, const stmt_ctx *ctx, const char *what, const char *name,
			  const PgQuery__Node *value, bool is_default)
{
	const char *option = timeout_option(name);
	bool        lock = strcasecmp(name, "lock_timeout") == 0;
	bool        known = lock ? st->lock_timeout_known : st->statement_timeout_known;
	int64_t     bound = lock ? st->lock_timeout_ms : st->statement_timeout_ms;
	double      v;
	int64_t     ms;
	char       *shown;

	if (is_default)
	{
		report(
			st, ctx, R_TIMEOUT, LINT_WARNING,
			"%s TO DEFAULT replaces the run's %s with the server's default (0, no bound, unless configured); "
			"remove it, and give the run a larger %s if this migration needs one",
			what, option, option);
		return;
	}
	if (!timeout_node_ms(value, &v))
	{
		report(st, ctx, R_TIMEOUT, LINT_WARNING,
			   "%s to a value that cannot be read before it runs may remove or raise the run's %s; "
			   "remove it, or write a constant no higher than the run's %s",
			   what, option, option);
		return;
	}
	/* the server rounds to whole milliseconds: '0.4ms' and '100us' are 0 */
	ms = (int64_t) (v + 0.5);
	if (ms == 0)
	{
		report(st, ctx, R_TIMEOUT, LINT_ERROR,
			   "%s to 0 removes the bound, so %s can wait forever while the locks it holds queue the "
			   "application behind it; remove it, or set a finite value no higher than the run's %s",
			   what, lock ? "a lock wait" : "a statement", option);
		return;
	}
	if (known && (bound == 0 || ms <= bound))
		return;
	shown = format_ms(ms);
	if (known)
	{
		char *b = format_ms(bound);

		report(st, ctx, R_TIMEOUT, LINT_WARNING,
			   "%s to %s raises the run's %s (%s) for this migration; "
			   "remove it, and give the run a larger %s if this migration needs one",
			   what, shown, option, b, option);
		free(b);
	}
	else
		report(
			st, ctx, R_TIMEOUT, LINT_WARNING,
			"%s to %s overrides the operator's bound (the run's %s, or the session's own %s) for this migration; "
			"remove it, and give the run %s if this migration needs another bound",
			what, shown, option, name, option);
	free(shown);
}

/* Argument pos (0-based) of a call, or the one passed as name => ...; NULL if absent. */
static const PgQuery__Node *
call_arg(const PgQuery__FuncCall *fc, size_t pos, const char *name)
{
	for (size_t i = 0; i < fc->n_args; i++)
	{
		const PgQuery__Node *a = fc->args[i];

		if (a->node_case == PG_QUERY__NODE__NODE_NAMED_ARG_EXPR)
		{
			if (a->named_arg_expr->name != NULL && strcasecmp(a->named_arg_expr->name, name) == 0)
				return a->named_arg_expr->arg;
		}
		else if (i == pos)
			return a;
	}
	return NULL;
}

/* A NULL constant (NULL, NULL::boolean). */
static bool
const_is_null(const PgQuery__Node *n)
{
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_TYPE_CAST && n->type_cast != NULL)
		n = n->type_cast->arg;
	return n != NULL && n->node_case == PG_QUERY__NODE__NODE_A_CONST && n->a_const != NULL &&
		   n->a_const->isnull;
}

/*
 * set_config(setting_name, new_value, is_local): is_local NULL is false
 * (set_config is not strict), and one that is not a constant cannot be
 * known to be true, so both count as session-level.
 */
static void
check_set_config(lint_state *st, const stmt_ctx *ctx, const PgQuery__FuncCall *fc)
{
	const char          *setting = const_string(call_arg(fc, 0, "setting_name"));
	const PgQuery__Node *local = call_arg(fc, 2, "is_local");
	bool                 is_local = false;
	bool                 constant = const_is_null(local) || const_bool(local, &is_local);

	if (is_role_setting(setting))
	{
		/* local too, as SET LOCAL ROLE: the rest of the migration runs as that role */
		report_fixed(
			st, ctx, R_SET_ROLE,
			"set_config('%s', ...) changes the role the migrator runs as, so objects would be owned by another role; "
			"choose the role with the migrator's --role option (cannot be excused)",
			setting);
		return;
	}
	if (!constant || !is_local)
	{
		char *head = !constant
						 ? xstrdup("set_config(...) with a third argument that is not a constant may change")
						 : xasprintf("set_config(..., %s) changes", const_is_null(local) ? "NULL" : "false");

		if (session_change_is_fixed(setting))
			report_fixed(
				st, ctx, R_SESSION_SET,
				"%s %s for the migrator's whole session, so every later migration runs with it; pass "
				"true as the third argument, which is SET LOCAL (cannot be excused)",
				head, setting != NULL ? "search_path" : "a setting");
		else
			report(st, ctx, R_SESSION_SET, LINT_ERROR,
				   "%s a setting for the migrator's whole session, beyond this migration; "
				   "pass true as the third argument, which is SET LOCAL",
				   head);
		free(head);
	}
	else if (timeout_option(setting) != NULL)
	{
		char *what = xasprintf("set_config('%s', ..., true)", setting);

		check_timeout(st, ctx, what, setting, call_arg(fc, 1, "new_value"), false);
		free(what);
	}
}

/* ---------------------------------------------------------------------
 * Function calls anywhere in a statement
 * ---------------------------------------------------------------------
 */

typedef struct call_walk
{
	lint_state     *st;
	const stmt_ctx *ctx;
} call_walk;

/*
 * Statements that store expressions for later rather than run them now:
 * their calls are not made by the migration (and DoStmt, CreateSchemaStmt,
 * ExplainStmt and PrepareStmt are checked through what they contain).
 */
static bool
stores_code(const ProtobufCMessageDescriptor *d)
{
	return d == &pg_query__create_function_stmt__descriptor || d == &pg_query__rule_stmt__descriptor ||
		   d == &pg_query__view_stmt__descriptor || d == &pg_query__create_trig_stmt__descriptor ||
		   d == &pg_query__create_policy_stmt__descriptor || d == &pg_query__alter_policy_stmt__descriptor ||
		   d == &pg_query__create_stmt__descriptor || d == &pg_query__create_domain_stmt__descriptor ||
		   d == &pg_query__alter_domain_stmt__descriptor || d == &pg_query__do_stmt__descriptor ||
		   d == &pg_query__create_schema_stmt__descriptor || d == &pg_query__explain_stmt__descriptor ||
		   d == &pg_query__prepare_stmt__descriptor;
}

static bool
visit_call(const ProtobufCMessage *msg, void *arg)
{
	call_walk               *w = arg;
	const PgQuery__FuncCall *fc;
	const char              *schema;
	const char              *name;

	if (stores_code(msg->descriptor))
		return false;
	if (msg->descriptor != &pg_query__func_call__descriptor)
		return true;
	fc = (const PgQuery__FuncCall *) msg;
	name = func_call_name(fc, &schema);
	if (name == NULL || (schema != NULL && strcmp(schema, "pg_catalog") != 0))
		return true;

	if (strcmp(name, "pg_advisory_unlock_all") == 0)
		report(
			w->st, w->ctx, R_UNLOCK_ALL, LINT_ERROR,
			"pg_advisory_unlock_all() releases the migrator's own run lock, so another migrator can start at the same time; "
			"release the advisory locks you took one by one with pg_advisory_unlock()");
	else if (strcmp(name, "set_config") == 0 && fc->n_args == 3)
		check_set_config(w->st, w->ctx, fc);
	return true;
}

static void
check_calls(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	call_walk w = {st, ctx};

	sql_walk(&node->base, visit_call, &w);
}

/* ---------------------------------------------------------------------
 * Volatility of a column default
 * ---------------------------------------------------------------------
 */

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
		const char              *name = func_call_name(fc, &schema);
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
		if (list_name(e->name, e->n_name, &schema, &name) && schema != NULL &&
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

/* ---------------------------------------------------------------------
 * Statement rules
 * ---------------------------------------------------------------------
 */

/*
 * Only top-level statements: a DO block is how a file guards a statement
 * (IF NOT EXISTS (SELECT ... FROM pg_catalog...) THEN ...), which this check
 * cannot follow.
 */
static void
not_idempotent(lint_state *st, const stmt_ctx *ctx, const char *what, const char *fix)
{
	if (st->no_transaction && ctx->depth == 0)
		report(
			st, ctx, R_NOT_IDEMPOTENT, LINT_WARNING,
			"%s fails when the file runs again after a partial failure (a no-transaction file is not rolled back); write %s",
			what, fix);
}

static void
check_index_stmt(lint_state *st, const stmt_ctx *ctx, const PgQuery__IndexStmt *ix)
{
	const PgQuery__RangeVar *rel = ix->relation;
	bool                     is_new = rangevar_is_created(st, rel);
	char                    *relname = quote_rangevar(rel);
	const char              *head = ix->unique
										? (ix->concurrent ? "CREATE UNIQUE INDEX CONCURRENTLY" : "CREATE UNIQUE INDEX")
										: (ix->concurrent ? "CREATE INDEX CONCURRENTLY" : "CREATE INDEX");

	if (ix->concurrent && is_new)
		report(
			st, ctx, R_CREATE_INDEX, LINT_ERROR,
			"%s on %s cannot run inside the migration's transaction; %s is created in this migration and still empty: "
			"drop CONCURRENTLY, a plain CREATE INDEX on it is instant",
			head, relname, relname);
	else if (ix->concurrent)
		report(
			st, ctx, R_CREATE_INDEX, LINT_ERROR,
			"%s on %s cannot run inside the migration's transaction and leaves an invalid index behind when it fails; "
			"indexes belong in the indexer's config: add a definition to conf/indexes.cfg",
			head, relname);
	else if (!is_new)
		report(st, ctx, R_CREATE_INDEX, LINT_ERROR,
			   "%s on %s blocks writes to the table for the whole build; "
			   "indexes belong in the indexer's config: add a definition to conf/indexes.cfg",
			   head, relname);
	else
		/* an index is a relation in its table's schema */
		add_created(st, rel->schemaname, ix->idxname);

	if (!ix->if_not_exists)
		not_idempotent(st, ctx, head, "CREATE INDEX IF NOT EXISTS");
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
	name = quote_rangevar(rel);
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
	report(
		st, ctx, R_DML, LINT_ERROR,
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
check_select(lint_state *st, const stmt_ctx *ctx, const PgQuery__SelectStmt *sel)
{
	if (sel->into_clause != NULL)
		report_dml(st, ctx, "SELECT INTO", sel->into_clause->rel);
	else if (with_modifies_data(sel->with_clause, 1))
		report_dml(st, ctx, "a data-modifying WITH", NULL);
}

static void
check_create_table_as(lint_state *st, const stmt_ctx *ctx, const PgQuery__CreateTableAsStmt *c)
{
	const PgQuery__RangeVar *rel = c->into != NULL ? c->into->rel : NULL;
	bool                     matview = c->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_MATVIEW;
	const char              *verb = matview             ? "CREATE MATERIALIZED VIEW"
									: c->is_select_into ? "SELECT INTO"
														: "CREATE TABLE AS";

	/* WITH NO DATA creates an empty relation: DDL */
	if (c->into != NULL && c->into->skip_data)
	{
		if (rel != NULL)
			add_created(st, rel->schemaname, rel->relname);
	}
	else
		report_dml(st, ctx, verb, rel);
	if (!c->if_not_exists)
		not_idempotent(st, ctx, verb,
					   matview ? "CREATE MATERIALIZED VIEW IF NOT EXISTS"
							   : "CREATE TABLE IF NOT EXISTS ... AS");
}

static void
check_transaction(lint_state *st, const stmt_ctx *ctx, const char *what)
{
	report(
		st, ctx, R_TRANSACTION, LINT_ERROR,
		"%s takes over the transaction the migrator runs the file in; remove it: the migrator commits each file itself "
		"(\"-- migrator:no-transaction\" runs a file statement by statement)",
		what);
}

static const char *
transaction_keyword(PgQuery__TransactionStmtKind kind)
{
	switch (kind)
	{
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_BEGIN:
			return "BEGIN";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_START:
			return "START TRANSACTION";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT:
			return "COMMIT";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK:
			return "ROLLBACK";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_SAVEPOINT:
			return "SAVEPOINT";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_RELEASE:
			return "RELEASE SAVEPOINT";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_TO:
			return "ROLLBACK TO SAVEPOINT";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_PREPARE:
			return "PREPARE TRANSACTION";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_COMMIT_PREPARED:
			return "COMMIT PREPARED";
		case PG_QUERY__TRANSACTION_STMT_KIND__TRANS_STMT_ROLLBACK_PREPARED:
			return "ROLLBACK PREPARED";
		default:
			return "a transaction statement";
	}
}

/* SET LOCAL lock_timeout / statement_timeout: timeout-override */
static void
check_set_local_timeout(lint_state *st, const stmt_ctx *ctx, const PgQuery__VariableSetStmt *v)
{
	char *what;

	if (timeout_option(v->name) == NULL || (v->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_SET_VALUE &&
											v->kind != PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT))
		return;
	what = xasprintf("SET LOCAL %s", v->name);
	check_timeout(st, ctx, what, v->name, v->n_args > 0 ? v->args[0] : NULL,
				  v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_DEFAULT);
	free(what);
}

static void
check_variable_set(lint_state *st, const stmt_ctx *ctx, const PgQuery__VariableSetStmt *v)
{
	const char *name = v->name;

	if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET_ALL)
	{
		report_fixed(
			st, ctx, R_SESSION_SET,
			"RESET ALL undoes the settings the migrator chose for its session (lock_timeout, statement_timeout, search_path), "
			"for every later migration; remove it, or reset one setting for this migration only with SET LOCAL ... TO DEFAULT "
			"(cannot be excused)");
		return;
	}
	if (is_role_setting(name))
	{
		const char *what =
			strcasecmp(name, "role") == 0
				? (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ? "RESET ROLE" : "SET ROLE")
				: (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET ? "RESET SESSION AUTHORIZATION"
																	 : "SET SESSION AUTHORIZATION");

		/* LOCAL too: the rest of the migration would still run as that role */
		report_fixed(st, ctx, R_SET_ROLE,
					 "%s changes the role the migrator runs as, so objects would be owned by another role; "
					 "choose the role with the migrator's --role option (cannot be excused)",
					 what);
		return;
	}
	/* SET TRANSACTION ... lasts for the current transaction only */
	if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_SET_MULTI && strcmp(name, "TRANSACTION") == 0)
		return;
	if (v->kind == PG_QUERY__VARIABLE_SET_KIND__VAR_RESET)
	{
		if (session_change_is_fixed(name))
			report_fixed(
				st, ctx, R_SESSION_SET,
				"RESET of \"%s\" changes it for the migrator's whole session, so every later migration "
				"runs with it; use SET LOCAL \"%s\" TO DEFAULT (cannot be excused)",
				name, name);
		else
			report(
				st, ctx, R_SESSION_SET, LINT_ERROR,
				"RESET of \"%s\" changes the setting for the migrator's whole session, beyond this migration; "
				"use SET LOCAL \"%s\" TO DEFAULT",
				name, name);
		return;
	}
	if (v->is_local)
	{
		check_set_local_timeout(st, ctx, v);
		return;
	}
	if (session_change_is_fixed(name))
	{
		report_fixed(
			st, ctx, R_SESSION_SET,
			"SET of \"%s\" lasts for the migrator's whole session, so every later migration resolves its "
			"names with it; %s (cannot be excused)",
			name,
			st->no_transaction ? "qualify the names, or choose the schema with the migrator's --schema"
							   : "use SET LOCAL, which ends with the migration's transaction");
		return;
	}
	if (st->no_transaction)
		report(
			st, ctx, R_SESSION_SET, LINT_ERROR,
			"SET of \"%s\" lasts for the migrator's whole session, beyond this migration; "
			"SET LOCAL has no effect in a no-transaction file: use the migrator's options (--lock-timeout, --statement-timeout)",
			name);
	else
		report(st, ctx, R_SESSION_SET, LINT_ERROR,
			   "SET of \"%s\" lasts for the migrator's whole session, beyond this migration; "
			   "use SET LOCAL, which ends with the migration's transaction",
			   name);
}

static void
check_discard(lint_state *st, const stmt_ctx *ctx, const PgQuery__DiscardStmt *d)
{
	const char *what;

	switch (d->target)
	{
		case PG_QUERY__DISCARD_MODE__DISCARD_PLANS:
			what = "DISCARD PLANS";
			break;
		case PG_QUERY__DISCARD_MODE__DISCARD_SEQUENCES:
			what = "DISCARD SEQUENCES";
			break;
		case PG_QUERY__DISCARD_MODE__DISCARD_TEMP:
			what = "DISCARD TEMP";
			break;
		default:
			what = "DISCARD ALL";
			break;
	}
	report(
		st, ctx, R_DISCARD, LINT_ERROR,
		"%s resets the state of the migrator's own session; remove it: a migration has no session state of its own to discard",
		what);
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
		if (cr->n_fields != 1 || node_string(cr->fields[0]) == NULL || *n >= max)
			return false;
		cols[(*n)++] = node_string(cr->fields[0]);
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

/* Remember a CHECK constraint added to rel, if it proves columns NOT NULL. */
static void
record_check(lint_state *st, const PgQuery__RangeVar *rel, const PgQuery__Constraint *c)
{
	const char *cols[MAX_CHECK_COLUMNS];
	int         n = 0;
	char       *conname;

	if (!not_null_columns(c->raw_expr, cols, &n, MAX_CHECK_COLUMNS, 1) || n == 0)
		return;
	/* PostgreSQL names an unnamed one <table>_<first column>_check */
	conname = *c->conname ? xstrdup(c->conname) : xasprintf("%s_%s_check", rel->relname, cols[0]);
	for (int i = 0; i < n; i++)
	{
		not_null_check *k;

		st->checks = xrealloc(st->checks, sizeof(not_null_check) * (size_t) (st->n_checks + 1));
		k = &st->checks[st->n_checks++];
		k->rel.schema = xstrdup(resolve_schema(st, rel->schemaname));
		k->rel.name = xstrdup(rel->relname);
		k->conname = xstrdup(conname);
		k->column = xstrdup(cols[i]);
		k->validated = !c->skip_validation;
	}
	free(conname);
}

static bool
same_rel(const lint_state *st, const qual_name *q, const PgQuery__RangeVar *rel)
{
	return strcmp(q->schema, resolve_schema(st, rel->schemaname)) == 0 && strcmp(q->name, rel->relname) == 0;
}

static void
validate_check(lint_state *st, const PgQuery__RangeVar *rel, const char *conname)
{
	for (int i = 0; i < st->n_checks; i++)
		if (same_rel(st, &st->checks[i].rel, rel) && strcmp(st->checks[i].conname, conname) == 0)
			st->checks[i].validated = true;
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

static bool
is_serial_type(const PgQuery__TypeName *t)
{
	static const char *const serials[] = {"smallserial", "serial",  "bigserial",
										  "serial2",     "serial4", "serial8"};
	const char              *name;

	if (t == NULL || t->n_names != 1 || t->n_array_bounds > 0 || (name = node_string(t->names[0])) == NULL)
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
	char *colname = quote_name(NULL, col->colname);

	if (is_serial_type(col->type_name))
		report(
			st, ctx, R_VOLATILE_DEFAULT, LINT_WARNING,
			"ADD COLUMN %s to %s of type %s (a nextval() default) rewrites the whole table under an ACCESS EXCLUSIVE lock; "
			"add a plain integer column, attach a sequence with SET DEFAULT in a separate statement, then backfill in batches outside migrations",
			colname, relname, node_string(col->type_name->names[0]));

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
					report(
						st, ctx, R_VOLATILE_DEFAULT, LINT_WARNING,
						"ADD COLUMN %s to %s with %s rewrites the whole table under an ACCESS EXCLUSIVE lock; "
						"add the column without a default, SET DEFAULT in a separate statement, then backfill in batches outside migrations",
						colname, relname, culprit);
				free(culprit);
				break;
			}
			case PG_QUERY__CONSTR_TYPE__CONSTR_IDENTITY:
				report(
					st, ctx, R_VOLATILE_DEFAULT, LINT_WARNING,
					"ADD COLUMN %s to %s as an identity column fills every row from a sequence, rewriting the whole table under an ACCESS EXCLUSIVE lock; "
					"add a plain column, backfill it in batches outside migrations, then ALTER COLUMN ... ADD GENERATED ... AS IDENTITY",
					colname, relname);
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_GENERATED:
				report(
					st, ctx, R_VOLATILE_DEFAULT, LINT_WARNING,
					"ADD COLUMN %s to %s GENERATED ALWAYS AS (...) STORED computes every row, rewriting the whole table under an ACCESS EXCLUSIVE lock; "
					"add a plain column kept up to date by the application or a trigger, and backfill it in batches outside migrations",
					colname, relname);
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
				report(
					st, ctx, R_NOT_VALID, LINT_WARNING,
					"ADD COLUMN %s to %s with REFERENCES checks every row of %s while it blocks writes; "
					"add the column first, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID and VALIDATE CONSTRAINT in a later statement",
					colname, relname, relname);
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_CHECK:
				report(
					st, ctx, R_NOT_VALID, LINT_WARNING,
					"ADD COLUMN %s to %s with CHECK checks every row of %s under an ACCESS EXCLUSIVE lock; "
					"add the column first, then ADD CONSTRAINT ... CHECK (...) NOT VALID and VALIDATE CONSTRAINT in a later statement",
					colname, relname, relname);
				break;
			case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
			case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
				report(
					st, ctx, R_UNIQUE_NO_INDEX, LINT_WARNING,
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
			record_check(st, rel, c);
			if (!is_new && !c->skip_validation)
				report(
					st, ctx, R_NOT_VALID, LINT_WARNING,
					"ADD CHECK on %s checks every row under an ACCESS EXCLUSIVE lock; "
					"add it NOT VALID, then VALIDATE CONSTRAINT in a later statement (which lets reads and writes go on)",
					relname);
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_FOREIGN:
			if (!is_new && !c->skip_validation)
			{
				char *pk = quote_rangevar(c->pktable);

				report(
					st, ctx, R_NOT_VALID, LINT_WARNING,
					"ADD FOREIGN KEY on %s checks every row while it blocks writes to %s and %s; "
					"add it NOT VALID, then VALIDATE CONSTRAINT in a later statement (which lets reads and writes go on)",
					relname, relname, pk);
				free(pk);
			}
			break;
		case PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY:
		case PG_QUERY__CONSTR_TYPE__CONSTR_UNIQUE:
			/* USING INDEX renames the index to the constraint: the indexer would build it again */
			if (*c->indexname != '\0' && *c->conname != '\0' && strcmp(c->conname, c->indexname) != 0)
				report(
					st, ctx, R_CONSTRAINT_INDEX, LINT_ERROR,
					"ADD CONSTRAINT %s ... USING INDEX %s renames index \"%s\" to \"%s\", and the indexer, "
					"which defines \"%s\", would find it missing; name the constraint as the index: "
					"ADD CONSTRAINT %s %s USING INDEX %s",
					c->conname, c->indexname, c->indexname, c->conname, c->indexname, c->indexname,
					c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
					c->indexname);
			if (!is_new && *c->indexname == '\0')
				report(
					st, ctx, R_UNIQUE_NO_INDEX, LINT_WARNING,
					"ADD %s on %s builds an index while it blocks writes to the table; "
					"build the index with the indexer (\"-- migrator:requires-index NAME\"), then ADD CONSTRAINT ... %s USING INDEX NAME",
					c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE", relname,
					c->contype == PG_QUERY__CONSTR_TYPE__CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE");
			break;
		default:
			break;
	}
}

static void
check_alter_table(lint_state *st, const stmt_ctx *ctx, const PgQuery__AlterTableStmt *at)
{
	const PgQuery__RangeVar *rel = at->relation;
	bool                     is_table = at->objtype == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE;
	bool                     is_new;
	char                    *relname;

	if (rel == NULL)
		return;
	is_new = rangevar_is_created(st, rel);
	relname = quote_rangevar(rel);

	for (size_t i = 0; i < at->n_cmds; i++)
	{
		const PgQuery__AlterTableCmd *cmd;
		char                         *colname;

		if (at->cmds[i]->node_case != PG_QUERY__NODE__NODE_ALTER_TABLE_CMD)
			continue;
		cmd = at->cmds[i]->alter_table_cmd;
		colname = quote_name(NULL, cmd->name);
		switch (cmd->subtype)
		{
			case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumn:
			case PG_QUERY__ALTER_TABLE_TYPE__AT_AddColumnRecurse:
				if (cmd->def != NULL && cmd->def->node_case == PG_QUERY__NODE__NODE_COLUMN_DEF)
				{
					if (is_table && !is_new)
						check_add_column(st, ctx, relname, cmd->def->column_def);
					if (!cmd->missing_ok)
						not_idempotent(st, ctx, "ADD COLUMN", "ADD COLUMN IF NOT EXISTS");
				}
				break;
			case PG_QUERY__ALTER_TABLE_TYPE__AT_AlterColumnType:
				if (is_table && !is_new)
					report(
						st, ctx, R_ALTER_TYPE, LINT_WARNING,
						"ALTER COLUMN %s TYPE on %s rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE lock, "
						"unless the change is binary-compatible (e.g. varchar(n) to a longer varchar or to text), which cannot be seen without the database; "
						"add a new column and backfill it in batches, or excuse a binary-compatible change with \"-- migrator:allow alter-column-type\"",
						colname, relname);
				break;
			case PG_QUERY__ALTER_TABLE_TYPE__AT_SetNotNull:
				if (is_table && !is_new && !has_validated_check(st, rel, cmd->name))
					report(
						st, ctx, R_SET_NOT_NULL, LINT_WARNING,
						"SET NOT NULL on column %s of %s scans the whole table under an ACCESS EXCLUSIVE lock; "
						"first ADD CONSTRAINT ... CHECK (%s IS NOT NULL) NOT VALID, then VALIDATE CONSTRAINT, then SET NOT NULL, which uses the check instead of a scan",
						colname, relname, colname);
				break;
			case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraint:
			case PG_QUERY__ALTER_TABLE_TYPE__AT_AddConstraintRecurse:
				if (cmd->def != NULL && cmd->def->node_case == PG_QUERY__NODE__NODE_CONSTRAINT)
					check_add_constraint(st, ctx, rel, relname, is_new || !is_table, cmd->def->constraint);
				break;
			case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraint:
			case PG_QUERY__ALTER_TABLE_TYPE__AT_ValidateConstraintRecurse:
				validate_check(st, rel, cmd->name);
				break;
			case PG_QUERY__ALTER_TABLE_TYPE__AT_SetTableSpace:
				if (!is_new)
					report(st, ctx, R_SET_TABLESPACE, LINT_WARNING,
						   "SET TABLESPACE on %s copies the whole relation under an ACCESS EXCLUSIVE lock; "
						   "move it outside migrations, in a maintenance window",
						   relname);
				break;
			case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumn:
			case PG_QUERY__ALTER_TABLE_TYPE__AT_DropColumnRecurse:
				if (is_table && !is_new)
					report(
						st, ctx, R_DROP_COLUMN, LINT_WARNING,
						"DROP COLUMN %s of %s destroys data and breaks code that still reads the column; "
						"stop using the column in the application and deploy first, then drop it with \"-- migrator:allow drop-column\" above the statement",
						colname, relname);
				if (!cmd->missing_ok)
					not_idempotent(st, ctx, "DROP COLUMN", "DROP COLUMN IF EXISTS");
				break;
			case PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraint:
			case PG_QUERY__ALTER_TABLE_TYPE__AT_DropConstraintRecurse:
				if (!cmd->missing_ok)
					not_idempotent(st, ctx, "DROP CONSTRAINT", "DROP CONSTRAINT IF EXISTS");
				break;
			default:
				break;
		}
		free(colname);
	}
	free(relname);
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
			!list_name(o->list->items, o->list->n_items, &schema, &name) || !is_created(st, schema, name))
			return false;
	}
	return d->n_objects > 0;
}

/* The names a DROP names, quoted and comma-separated; caller frees. */
static char *
drop_object_names(const PgQuery__DropStmt *d)
{
	strbuf sb;

	strbuf_init(&sb);
	for (size_t i = 0; i < d->n_objects; i++)
	{
		const PgQuery__Node *o = d->objects[i];
		const char          *schema;
		const char          *name;
		char                *q;

		if (o->node_case != PG_QUERY__NODE__NODE_LIST ||
			!list_name(o->list->items, o->list->n_items, &schema, &name))
			continue;
		q = quote_name(schema, name);
		if (sb.len > 0)
			strbuf_append(&sb, ", ");
		strbuf_append(&sb, q);
		free(q);
	}
	return strbuf_detach(&sb);
}

static void
check_drop(lint_state *st, const stmt_ctx *ctx, const PgQuery__DropStmt *d)
{
	const char *kw = drop_keyword(d->remove_type);

	if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_INDEX && !d->concurrent &&
		!drop_objects_all_new(st, d))
	{
		char *names = drop_object_names(d);

		report(st, ctx, R_DROP_INDEX, LINT_WARNING,
			   "DROP INDEX %s takes an ACCESS EXCLUSIVE lock on its table, blocking reads and writes; "
			   "set state = \"absent\" for it in conf/indexes.cfg, and the indexer drops it CONCURRENTLY",
			   names);
		free(names);
	}
	else if (d->remove_type == PG_QUERY__OBJECT_TYPE__OBJECT_TABLE && !drop_objects_all_new(st, d))
	{
		char *names = drop_object_names(d);

		report(
			st, ctx, R_DROP_TABLE, LINT_WARNING,
			"DROP TABLE %s destroys data and breaks code that still uses the table; "
			"stop using it in the application and deploy first, then drop it with \"-- migrator:allow drop-table\" above the statement",
			names);
		free(names);
	}
	if (!d->missing_ok)
	{
		char *fix = xasprintf("%s IF EXISTS", kw);

		not_idempotent(st, ctx, kw, fix);
		free(fix);
	}
}

static void
check_rename(lint_state *st, const stmt_ctx *ctx, const PgQuery__RenameStmt *r)
{
	const PgQuery__RangeVar *rel = r->relation;
	const char              *what;
	char                    *relname;

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
			if (rangevar_is_created(st, rel))
				add_created(st, rel->schemaname, r->newname);
			return;
		default:
			return;
	}
	if (rel == NULL)
		return;
	if (rangevar_is_created(st, rel))
	{
		if (r->rename_type != PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN)
			add_created(st, rel->schemaname, r->newname);
		return;
	}
	relname = quote_rangevar(rel);
	if (r->rename_type == PG_QUERY__OBJECT_TYPE__OBJECT_COLUMN)
		report(
			st, ctx, R_RENAME, LINT_WARNING,
			"RENAME of column \"%s\" of %s to \"%s\" breaks the running application, which still uses the old name; "
			"add the new column alongside, move the application to it, then drop the old one",
			r->subname, relname, r->newname);
	else
		report(
			st, ctx, R_RENAME, LINT_WARNING,
			"RENAME of %s %s to \"%s\" breaks the running application, which still uses the old name; "
			"create the new name alongside (e.g. a view), move the application to it, then drop the old one",
			what, relname, r->newname);
	free(relname);
}

/* ---------------------------------------------------------------------
 * DO blocks
 * ---------------------------------------------------------------------
 */

/* A DO body being walked. */
typedef struct do_walk
{
	lint_state          *st;
	const stmt_ctx      *ctx;       /* of the DO statement */
	int                  body_off;  /* file offset of the body; -1 if not in the
								 * file verbatim */
	int                  body_line; /* file line of the body's line 1 */
	const char          *body;      /* the body's text */
	PgQuery__ScanResult *tokens;    /* of body, scanned when first needed;
								 * NULL until then or if it does not scan */
	bool                 scanned;
	int                  handlers_end; /* body offset after the last handler
								 * condition placed so far */
} do_walk;

/*
 * Column of the statement starting with query on file line line: where the
 * start of query's first line is found on it, else (or when query is NULL)
 * the line's first non-blank character.
 */
static int
nested_column(const lint_state *st, int line, const char *query)
{
	const char *s = st->source;
	int         ls = line_start_offset(st, line);
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
static void
nested_ctx(const do_walk *w, int lineno, const char *query, stmt_ctx *out)
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
		check_node(st, ctx, script.tree->stmts[i]->stmt);
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
 * A computed EXECUTE string with its computed parts replaced by
 * placeholders: "(computed)" as a quoted identifier, '(computed)' as a
 * literal.  Understood: constants, ||, concat(), format() with a constant
 * format (%s, %I, %L, positions and widths; constant arguments are used as
 * they are), quote_ident/quote_literal/quote_nullable.
 */
#define PLACEHOLDER_IDENT   "\"(computed)\""
#define PLACEHOLDER_LITERAL "'(computed)'"

static void skeleton_append(strbuf *sb, const PgQuery__Node *n, int *n_const);

/* The SQL literal of text, for %L of a constant argument. */
static void
append_literal(strbuf *sb, const char *text)
{
	sql_append_enclosed(sb, text, '\'');
}

/* format(fmt, args...) into sb; args are fc->args[1..]. */
static void
skeleton_format(strbuf *sb, const char *fmt, const PgQuery__FuncCall *fc, int *n_const)
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
			strbuf_append_char(sb, *p);
			continue;
		}
		if (p[1] == '%')
		{
			strbuf_append_char(sb, '%');
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
		value = const_string(arg);
		if (type == 'L')
		{
			if (value != NULL)
				append_literal(sb, value);
			else
				strbuf_append(sb, PLACEHOLDER_LITERAL);
		}
		else if (type == 'I' && value != NULL)
			sql_append_ident(sb, value);
		else if (type == 's' && value != NULL)
			strbuf_append(sb, value);
		else
			strbuf_append(sb, PLACEHOLDER_IDENT);
	}
}

static void
skeleton_append(strbuf *sb, const PgQuery__Node *n, int *n_const)
{
	const char *text = const_string(n);

	if (text != NULL)
	{
		strbuf_append(sb, text);
		(*n_const)++;
		return;
	}
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_A_EXPR &&
		n->a_expr->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP && n->a_expr->n_name == 1 &&
		node_string(n->a_expr->name[0]) != NULL && strcmp(node_string(n->a_expr->name[0]), "||") == 0 &&
		n->a_expr->lexpr != NULL && n->a_expr->rexpr != NULL)
	{
		skeleton_append(sb, n->a_expr->lexpr, n_const);
		skeleton_append(sb, n->a_expr->rexpr, n_const);
		return;
	}
	if (n != NULL && n->node_case == PG_QUERY__NODE__NODE_FUNC_CALL)
	{
		const PgQuery__FuncCall *fc = n->func_call;
		const char              *schema;
		const char              *name = func_call_name(fc, &schema);

		if (name != NULL && (schema == NULL || strcmp(schema, "pg_catalog") == 0))
		{
			if (strcmp(name, "format") == 0 && fc->n_args >= 1 && const_string(fc->args[0]) != NULL)
			{
				skeleton_format(sb, const_string(fc->args[0]), fc, n_const);
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
				strbuf_append(sb, PLACEHOLDER_LITERAL);
				return;
			}
		}
	}
	strbuf_append(sb, PLACEHOLDER_IDENT);
}

/* The skeleton of expr (caller frees), or NULL when no part of it is constant. */
static char *
execute_skeleton(const PgQuery__Node *expr)
{
	strbuf sb;
	int    n_const = 0;

	strbuf_init(&sb);
	skeleton_append(&sb, expr, &n_const);
	if (n_const == 0)
	{
		strbuf_free(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
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
		report(st, ctx, R_UNCHECKED, LINT_ERROR, "%s cannot be checked: %s", what, error);
	else
		report(st, ctx, R_UNCHECKED, LINT_WARNING,
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
	nested_ctx(w, lineno, is_dynamic ? NULL : query, &ctx);
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
			report(st, &ctx, R_UNCHECKED, LINT_ERROR,
				   "an expression of the DO block is nested too deeply or too long to check (parse tree "
				   "deeper than %d levels or longer than %d tokens); split it",
				   SQL_PARSE_MAX_DEPTH, SQL_PARSE_MAX_TOKENS);
		else if (is_dynamic)
			report(st, &ctx, R_UNCHECKED, LINT_WARNING,
				   "EXECUTE of a string computed at run time cannot be checked before it runs; "
				   "write the statement out in the migration");
		return;
	}
	check_node(st, &ctx, expr.tree->stmts[0]->stmt);
	if (is_dynamic)
	{
		const PgQuery__Node *sel = expr.tree->stmts[0]->stmt;
		const char          *text = NULL;
		char                *error = NULL;

		if (sel->node_case == PG_QUERY__NODE__NODE_SELECT_STMT && sel->select_stmt->n_target_list == 1 &&
			sel->select_stmt->target_list[0]->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
			text = const_string(sel->select_stmt->target_list[0]->res_target->val);
		if (text == NULL)
		{
			char *skeleton = NULL;

			if (sel->node_case == PG_QUERY__NODE__NODE_SELECT_STMT && sel->select_stmt->n_target_list == 1 &&
				sel->select_stmt->target_list[0]->node_case == PG_QUERY__NODE__NODE_RES_TARGET)
				skeleton = execute_skeleton(sel->select_stmt->target_list[0]->res_target->val);
			/* what can be seen of it is still checked: a SET built at run time is a SET */
			if (skeleton != NULL)
				check_sql_text(st, &ctx, skeleton, NULL, NULL);
			free(skeleton);
			report(st, &ctx, R_UNCHECKED, LINT_WARNING,
				   "EXECUTE of a string computed at run time cannot be checked before it runs; "
				   "write the statement out in the migration");
		}
		else if (!check_sql_text(st, &ctx, text, &error, &limit))
			report_unparsed(st, &ctx, "the string EXECUTE runs", error, limit);
		free(error);
	}
	sql_script_free(&expr);
}

/* ---------------------------------------------------------------------
 * Exception handlers in DO blocks
 * ---------------------------------------------------------------------
 */

/*
 * The conditions (PostgreSQL's plerrcodes.h) that catch an error the run
 * must see: lock_not_available, which the migrator retries, and every error
 * of classes 40 (the transaction was rolled back: deadlock, serialization)
 * and 57 (operator intervention: statement_timeout, cancel, shutdown).  A
 * category code (ending in 000) catches its whole class, so 55000 catches
 * 55P03.
 */
static const struct
{
	const char *name;
	const char *sqlstate;
} run_error_conditions[] = {
	{"object_not_in_prerequisite_state", "55000"},
	{"lock_not_available", "55P03"},
	{"transaction_rollback", "40000"},
	{"serialization_failure", "40001"},
	{"transaction_integrity_constraint_violation", "40002"},
	{"statement_completion_unknown", "40003"},
	{"deadlock_detected", "40P01"},
	{"operator_intervention", "57000"},
	{"query_canceled", "57014"},
	{"admin_shutdown", "57P01"},
	{"crash_shutdown", "57P02"},
	{"cannot_connect_now", "57P03"},
	{"database_dropped", "57P04"},
	{"idle_session_timeout", "57P05"},
};

/*
 * What the exception condition condname (as PL/pgSQL stores it: a name, or
 * the code of SQLSTATE 'xxxxx') catches of those errors, for the message;
 * NULL if none.  OTHERS catches everything but query_canceled and
 * assert_failure.
 */
static const char *
condition_catches(const char *condname)
{
	const char *code = NULL;

	if (strcasecmp(condname, "others") == 0)
		return "lock_not_available (the migrator's lock timeout), deadlock_detected and serialization_failure";
	for (size_t i = 0; i < sizeof(run_error_conditions) / sizeof(run_error_conditions[0]); i++)
		if (strcasecmp(condname, run_error_conditions[i].name) == 0)
			code = run_error_conditions[i].sqlstate;
	if (code == NULL && strlen(condname) == 5)
		code = condname;
	if (code == NULL)
		return NULL;
	if (strcasecmp(code, "55P03") == 0)
		return "lock_not_available (the migrator's lock timeout)";
	if (strcmp(code, "55000") == 0)
		return "class 55, with lock_not_available (the migrator's lock timeout)";
	if (strcmp(code, "40000") == 0)
		return "every class 40 error (deadlock_detected, serialization_failure)";
	if (strncmp(code, "40", 2) == 0)
		return "a class 40 error (the transaction was rolled back: a deadlock or serialization failure)";
	if (strcmp(code, "57000") == 0)
		return "every class 57 error (query_canceled by statement_timeout or a cancel, admin_shutdown)";
	if (strncmp(code, "57", 2) == 0)
		return "a class 57 error (statement_timeout, a cancel or a shutdown)";
	return NULL;
}

/* Is condname an SQLSTATE code rather than a condition name? */
static bool
is_sqlstate_code(const char *condname)
{
	return strlen(condname) == 5 && strspn(condname, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5;
}

/* Does a handler's statement list end in RAISE at EXCEPTION level (ERROR, 21)? */
static bool
ends_in_raise(json_t *action)
{
	json_t *last;
	json_t *raise;

	if (!json_is_array(action) || json_array_size(action) == 0)
		return false;
	last = json_array_get(action, json_array_size(action) - 1);
	raise = json_is_object(last) ? json_object_get(last, "PLpgSQL_stmt_raise") : NULL;
	return json_is_object(raise) && json_integer_value(json_object_get(raise, "elog_level")) >= 21;
}

/* The largest "lineno" anywhere in v (0 if none). */
static int
max_lineno(json_t *v)
{
	const char *key;
	json_t     *val;
	size_t      i;
	int         max = 0;

	if (json_is_array(v))
	{
		json_array_foreach(v, i, val)
		{
			int l = max_lineno(val);

			if (l > max)
				max = l;
		}
	}
	else if (json_is_object(v))
	{
		json_object_foreach(v, key, val)
		{
			int l = strcmp(key, "lineno") == 0 ? (int) json_integer_value(val) : max_lineno(val);

			if (l > max)
				max = l;
		}
	}
	return max;
}

/*
 * The body line of the first token at or after body offset *cursor that
 * spells condition condname (the word, or the string of SQLSTATE 'xxxxx'),
 * found with PostgreSQL's lexer so comments do not count; *cursor moves past
 * it.  0 if not found.  The PL/pgSQL parser keeps no line for a handler, and
 * its WHEN line is where an allow comment goes.
 */
static int
condition_line(do_walk *w, const char *condname, int *cursor)
{
	size_t len = strlen(condname);

	if (!w->scanned)
	{
		PgQueryScanResult res = pg_query_scan(w->body);

		w->scanned = true;
		if (res.error == NULL)
			w->tokens = pg_query__scan_result__unpack(NULL, res.pbuf.len, (const uint8_t *) res.pbuf.data);
		pg_query_free_scan_result(res);
	}
	if (w->tokens == NULL)
		return 0;
	for (size_t i = 0; i < w->tokens->n_tokens; i++)
	{
		const PgQuery__ScanToken *t = w->tokens->tokens[i];
		const char               *text = w->body + t->start;
		size_t                    tlen = (size_t) (t->end - t->start);
		bool                      match;

		if (t->start < *cursor || t->token == PG_QUERY__TOKEN__SQL_COMMENT ||
			t->token == PG_QUERY__TOKEN__C_COMMENT)
			continue;
		if (t->token == PG_QUERY__TOKEN__SCONST)
			match = is_sqlstate_code(condname) && tlen == len + 2 && strncmp(text + 1, condname, len) == 0;
		else
			match = tlen == len && strncasecmp(text, condname, len) == 0;
		if (match)
		{
			int line = 1;

			for (int k = 0; k < t->start; k++)
				if (w->body[k] == '\n')
					line++;
			*cursor = t->end;
			if (t->end > w->handlers_end)
				w->handlers_end = t->end;
			return line;
		}
	}
	return 0;
}

/* Body offset of the start of body line line (1-based). */
static int
body_line_offset(const char *body, int line)
{
	int off = 0;

	for (int l = 1; l < line && body[off] != '\0'; off++)
		if (body[off] == '\n')
			l++;
	return off;
}

/*
 * swallowed-error: a handler of a BEGIN ... EXCEPTION block that can catch
 * an error the run must see and does not end by raising turns a lock
 * timeout into success, so the migration is recorded without its change.
 */
static void
check_exception_block(do_walk *w, json_t *block, int block_line)
{
	json_t *exc = json_object_get(block, "exceptions");
	json_t *list;
	json_t *handler;
	size_t  i;
	int     cursor;

	exc = json_is_object(exc) ? json_object_get(exc, "PLpgSQL_exception_block") : NULL;
	list = json_is_object(exc) ? json_object_get(exc, "exc_list") : NULL;
	if (!json_is_array(list))
		return;
	/*
	 * The handlers follow the block's last statement and the handlers of
	 * the blocks inside it (checked before this one).
	 */
	cursor = body_line_offset(w->body, max_lineno(json_object_get(block, "body")));
	if (w->handlers_end > cursor)
		cursor = w->handlers_end;
	json_array_foreach(list, i, handler)
	{
		json_t     *h = json_object_get(handler, "PLpgSQL_exception");
		json_t     *conds = json_is_object(h) ? json_object_get(h, "conditions") : NULL;
		json_t     *action = json_is_object(h) ? json_object_get(h, "action") : NULL;
		json_t     *c;
		size_t      k;
		const char *culprit = NULL;
		const char *what = NULL;
		const char *first = NULL;
		int         line = 0;
		stmt_ctx    ctx;

		json_array_foreach(conds, k, c)
		{
			json_t     *cond = json_object_get(c, "PLpgSQL_condition");
			const char *name = json_string_value(json_object_get(cond, "condname"));

			if (name == NULL)
				continue;
			if (first == NULL)
				first = name;
			if (culprit == NULL && (what = condition_catches(name)) != NULL)
				culprit = name;
		}
		if (first != NULL)
			line = condition_line(w, first, &cursor);
		if (culprit == NULL || ends_in_raise(action))
			continue;
		if (line == 0)
			line = json_array_size(action) > 0 ? max_lineno(json_array_get(action, 0)) : block_line;
		nested_ctx(w, line, NULL, &ctx);
		report(
			w->st, &ctx, R_SWALLOWED, LINT_ERROR,
			"the exception handler WHEN %s%s%s catches %s, but does not end in RAISE, so the error becomes "
			"success and the migration is recorded as applied without its change; avoid the error instead "
			"of catching it (e.g. ADD COLUMN IF NOT EXISTS, CREATE ... IF NOT EXISTS), or end the handler "
			"with RAISE; to re-raise it",
			is_sqlstate_code(culprit) ? "SQLSTATE '" : "",
			strcasecmp(culprit, "others") == 0 ? "OTHERS" : culprit, is_sqlstate_code(culprit) ? "'" : "",
			what);
	}
}

/* ---------------------------------------------------------------------
 * DO blocks: the walk
 * ---------------------------------------------------------------------
 */

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

				nested_ctx(w, line, stmt_is(key, "commit") ? "COMMIT" : "ROLLBACK", &ctx);
				check_transaction(w->st, &ctx, stmt_is(key, "commit") ? "COMMIT" : "ROLLBACK");
			}
			walk_plpgsql(w, val, key, NULL, line, depth + 1);
			/* after its body, so the handlers of blocks inside it are placed first */
			if (stmt_is(key, "block") && json_is_object(val))
				check_exception_block(w, val, line);
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

static void
check_do(lint_state *st, const stmt_ctx *ctx, const PgQuery__DoStmt *d)
{
	const char               *body = NULL;
	const char               *language = "plpgsql";
	int                       body_loc = -1;
	do_walk                   w = {st, ctx, -1, 0, NULL, NULL, false, 0};
	char                     *tag;
	char                     *wrapper;
	PgQueryPlpgsqlParseResult res;
	json_t                   *funcs;
	json_error_t              jerr;

	for (size_t i = 0; i < d->n_args; i++)
	{
		const PgQuery__DefElem *de;

		if (d->args[i]->node_case != PG_QUERY__NODE__NODE_DEF_ELEM)
			continue;
		de = d->args[i]->def_elem;
		if (strcmp(de->defname, "as") == 0 && node_string(de->arg) != NULL)
		{
			body = node_string(de->arg);
			body_loc = de->location;
		}
		else if (strcmp(de->defname, "language") == 0 && node_string(de->arg) != NULL)
			language = node_string(de->arg);
	}
	if (body == NULL)
		return;
	if (strcmp(language, "plpgsql") != 0)
	{
		report(
			st, ctx, R_UNCHECKED, LINT_WARNING,
			"a DO block in language \"%s\" cannot be checked before it runs; write it in PL/pgSQL or as plain SQL statements",
			language);
		return;
	}
	if (ctx->depth >= MAX_DO_DEPTH)
	{
		report(st, ctx, R_UNCHECKED, LINT_WARNING,
			   "DO blocks nested %d deep are not checked; write the statements out in the migration",
			   ctx->depth + 1);
		return;
	}

	/*
	 * A dollar-quoted body stands in the file byte for byte (checked, not
	 * assumed), so its lines are file lines.
	 */
	if (ctx->text != NULL && body_loc >= 0 && ctx->text[body_loc] == '$')
	{
		const char *close = strchr(ctx->text + body_loc + 1, '$');

		if (close != NULL)
		{
			int off = st->bom_len + (int) (close + 1 - ctx->text);

			if (strncmp(st->source + off, body, strlen(body)) == 0)
			{
				int col;

				w.body_off = off;
				offset_line_col(st, off, &w.body_line, &col);
				collect_allow_comments(st, body, off);
			}
		}
	}

	/* pg_query_parse_plpgsql() reads CREATE FUNCTION; pick a quote the body lacks */
	tag = xstrdup("$lint$");
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
	if (res.error != NULL)
	{
		char *msg = xstrdup(res.error->message);

		for (char *p = msg; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		report(st, ctx, R_UNCHECKED, LINT_WARNING,
			   "the PL/pgSQL parser cannot read the DO block (%s), so it was not checked; "
			   "fix the block, or move its statements out of it",
			   msg);
		free(msg);
		pg_query_free_plpgsql_parse_result(res);
		return;
	}
	funcs = json_loads(res.plpgsql_funcs, 0, &jerr);
	pg_query_free_plpgsql_parse_result(res);
	if (funcs == NULL && json_error_code(&jerr) == json_error_stack_overflow)
	{
		/* jansson stops at 2048 levels: about 680 nested PL/pgSQL blocks */
		report(st, ctx, R_UNCHECKED, LINT_ERROR,
			   "the DO block is nested too deeply to check (%s); split it, or move its statements out of it",
			   jerr.text);
		return;
	}
	if (funcs == NULL)
	{
		report(st, ctx, R_UNCHECKED, LINT_WARNING,
			   "the PL/pgSQL parser's output could not be read (%s), so the DO block was not checked; "
			   "move its statements out of it",
			   jerr.text);
		return;
	}
	w.body = body;
	walk_plpgsql(&w, funcs, NULL, NULL, 0, 1);
	json_decref(funcs);
	if (w.tokens != NULL)
		pg_query__scan_result__free_unpacked(w.tokens, NULL);
}

/* ---------------------------------------------------------------------
 * Dispatch
 * ---------------------------------------------------------------------
 */

/*
 * Judge one statement.  It recurses only into the statement that EXPLAIN
 * ANALYZE or PREPARE carries and into CREATE SCHEMA's elements, which the
 * grammar does not nest further, and into DO blocks, bounded by
 * MAX_DO_DEPTH: its depth is bounded without a counter.
 */
static void
check_node(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node)
{
	if (node == NULL)
		return;
	switch (node->node_case)
	{
		case PG_QUERY__NODE__NODE_INDEX_STMT:
			check_index_stmt(st, ctx, node->index_stmt);
			break;
		case PG_QUERY__NODE__NODE_REINDEX_STMT:
			report(
				st, ctx, R_REINDEX, LINT_ERROR,
				"REINDEX blocks writes to the table until its indexes are rebuilt; it is maintenance, not a schema change: "
				"run REINDEX ... CONCURRENTLY outside migrations");
			break;
		case PG_QUERY__NODE__NODE_VACUUM_STMT:
		{
			const PgQuery__VacuumStmt *v = node->vacuum_stmt;
			const PgQuery__DefElem    *full = find_option(v->options, v->n_options, "full");

			if (v->is_vacuumcmd && full != NULL && defelem_bool(full))
				report(
					st, ctx, R_VACUUM_FULL, LINT_ERROR,
					"VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock, blocking reads and writes until it ends; "
					"it is maintenance, not a schema change: run it outside migrations, in a maintenance window");
			break;
		}
		case PG_QUERY__NODE__NODE_CLUSTER_STMT:
			report(
				st, ctx, R_CLUSTER, LINT_ERROR,
				"CLUSTER rewrites the table under an ACCESS EXCLUSIVE lock, blocking reads and writes until it ends; "
				"it is maintenance, not a schema change: run it outside migrations, in a maintenance window");
			break;
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
		case PG_QUERY__NODE__NODE_COPY_STMT:
			if (!node->copy_stmt->is_program &&
				(node->copy_stmt->filename == NULL || node->copy_stmt->filename[0] == '\0'))
				report(st, ctx, R_COPY_STDIO, LINT_ERROR,
					   "COPY %s needs data from the client, which a migration does not carry (cannot be "
					   "excused, not even by allow-dml); load data with a separate job",
					   node->copy_stmt->is_from ? "FROM STDIN" : "TO STDOUT");
			else
				report_dml(st, ctx, "COPY", node->copy_stmt->relation);
			break;
		case PG_QUERY__NODE__NODE_TRUNCATE_STMT:
		{
			const PgQuery__TruncateStmt *t = node->truncate_stmt;
			const PgQuery__RangeVar     *rel = NULL;

			if (t->n_relations > 0 && t->relations[0]->node_case == PG_QUERY__NODE__NODE_RANGE_VAR)
				rel = t->relations[0]->range_var;
			report_dml(st, ctx, "TRUNCATE", rel);
			break;
		}
		case PG_QUERY__NODE__NODE_CREATE_TABLE_AS_STMT:
			check_create_table_as(st, ctx, node->create_table_as_stmt);
			break;
		case PG_QUERY__NODE__NODE_SELECT_STMT:
			check_select(st, ctx, node->select_stmt);
			break;
		case PG_QUERY__NODE__NODE_REFRESH_MAT_VIEW_STMT:
			report_dml(st, ctx, "REFRESH MATERIALIZED VIEW", node->refresh_mat_view_stmt->relation);
			break;
		case PG_QUERY__NODE__NODE_CALL_STMT:
			report_dml(st, ctx, "CALL", NULL);
			break;
		case PG_QUERY__NODE__NODE_EXPLAIN_STMT:
		{
			const PgQuery__ExplainStmt *e = node->explain_stmt;
			const PgQuery__DefElem     *analyze = find_option(e->options, e->n_options, "analyze");

			/* EXPLAIN ANALYZE runs the statement */
			if (analyze != NULL && defelem_bool(analyze))
				check_node(st, ctx, e->query);
			break;
		}
		case PG_QUERY__NODE__NODE_DO_STMT:
			check_do(st, ctx, node->do_stmt);
			break;
		case PG_QUERY__NODE__NODE_PREPARE_STMT:
			/* a statement is prepared to be executed: judge it here */
			check_node(st, ctx, node->prepare_stmt->query);
			break;
		case PG_QUERY__NODE__NODE_TRANSACTION_STMT:
			check_transaction(st, ctx, transaction_keyword(node->transaction_stmt->kind));
			break;
		case PG_QUERY__NODE__NODE_VARIABLE_SET_STMT:
			check_variable_set(st, ctx, node->variable_set_stmt);
			break;
		case PG_QUERY__NODE__NODE_DISCARD_STMT:
			check_discard(st, ctx, node->discard_stmt);
			break;
		case PG_QUERY__NODE__NODE_ALTER_TABLE_STMT:
			check_alter_table(st, ctx, node->alter_table_stmt);
			break;
		case PG_QUERY__NODE__NODE_ALTER_TABLE_MOVE_ALL_STMT:
			report(
				st, ctx, R_SET_TABLESPACE, LINT_WARNING,
				"ALTER ... ALL IN TABLESPACE ... SET TABLESPACE copies every relation it moves under an ACCESS EXCLUSIVE lock; "
				"move them outside migrations, in a maintenance window");
			break;
		case PG_QUERY__NODE__NODE_DROP_STMT:
			check_drop(st, ctx, node->drop_stmt);
			break;
		case PG_QUERY__NODE__NODE_RENAME_STMT:
			check_rename(st, ctx, node->rename_stmt);
			break;
		case PG_QUERY__NODE__NODE_CREATE_STMT:
		{
			const PgQuery__CreateStmt *c = node->create_stmt;

			if (c->relation != NULL)
				add_created(st, c->relation->schemaname, c->relation->relname);
			if (!c->if_not_exists)
				not_idempotent(st, ctx, "CREATE TABLE", "CREATE TABLE IF NOT EXISTS");
			break;
		}
		case PG_QUERY__NODE__NODE_CREATE_SEQ_STMT:
			if (!node->create_seq_stmt->if_not_exists)
				not_idempotent(st, ctx, "CREATE SEQUENCE", "CREATE SEQUENCE IF NOT EXISTS");
			break;
		case PG_QUERY__NODE__NODE_CREATE_SCHEMA_STMT:
		{
			const PgQuery__CreateSchemaStmt *c = node->create_schema_stmt;
			const char                      *saved = st->schema;

			if (!c->if_not_exists)
				not_idempotent(st, ctx, "CREATE SCHEMA", "CREATE SCHEMA IF NOT EXISTS");
			/* its elements are statements, with unqualified names in it */
			if (*c->schemaname)
				st->schema = c->schemaname;
			for (size_t i = 0; i < c->n_schema_elts; i++)
				check_node(st, ctx, c->schema_elts[i]);
			st->schema = saved;
			break;
		}
		case PG_QUERY__NODE__NODE_CREATE_EXTENSION_STMT:
			if (!node->create_extension_stmt->if_not_exists)
				not_idempotent(st, ctx, "CREATE EXTENSION", "CREATE EXTENSION IF NOT EXISTS");
			break;
		case PG_QUERY__NODE__NODE_ALTER_ENUM_STMT:
		{
			const PgQuery__AlterEnumStmt *e = node->alter_enum_stmt;

			/* ADD VALUE, not RENAME VALUE (which has no IF EXISTS) */
			if (*e->old_val == '\0' && !e->skip_if_new_val_exists)
				not_idempotent(st, ctx, "ALTER TYPE ... ADD VALUE", "ALTER TYPE ... ADD VALUE IF NOT EXISTS");
			break;
		}
		case PG_QUERY__NODE__NODE_VIEW_STMT:
			if (!node->view_stmt->replace)
				not_idempotent(st, ctx, "CREATE VIEW", "CREATE OR REPLACE VIEW");
			break;
		case PG_QUERY__NODE__NODE_CREATE_FUNCTION_STMT:
			if (!node->create_function_stmt->replace)
				not_idempotent(st, ctx,
							   node->create_function_stmt->is_procedure ? "CREATE PROCEDURE"
																		: "CREATE FUNCTION",
							   node->create_function_stmt->is_procedure ? "CREATE OR REPLACE PROCEDURE"
																		: "CREATE OR REPLACE FUNCTION");
			break;
		case PG_QUERY__NODE__NODE_CREATE_TRIG_STMT:
			if (!node->create_trig_stmt->replace)
				not_idempotent(st, ctx, "CREATE TRIGGER", "CREATE OR REPLACE TRIGGER");
			break;
		default:
			break;
	}
	check_calls(st, ctx, node);
}

/* ---------------------------------------------------------------------
 * Verify files
 * ---------------------------------------------------------------------
 */

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
		offset_line_col(st, st->bom_len + location, &out->line, &out->column);
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
			report(w->st, &ctx, R_VERIFY, LINT_ERROR,
				   "SELECT INTO creates a table, and a verify file must not change anything; "
				   "select the values to check without INTO");
		}
		if (sel->n_locking_clause > 0)
			report(
				w->st, w->ctx, R_VERIFY, LINT_ERROR,
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
			report(w->st, &ctx, R_VERIFY, LINT_ERROR,
				   "WITH \"%s\" AS (%s ...) changes data, and a verify file must not change anything; "
				   "a verify file holds plain SELECTs that return true when the migration worked",
				   cte->ctename, kind);
		}
	}
	else if (msg->descriptor == &pg_query__func_call__descriptor)
	{
		const PgQuery__FuncCall *fc = (const PgQuery__FuncCall *) msg;
		const char              *schema;
		const char              *name = func_call_name(fc, &schema);
		pg_func_volatility       v = PG_FUNC_UNKNOWN;

		if (name != NULL && (schema == NULL || strcmp(schema, "pg_catalog") == 0))
			v = pg_builtin_function_volatility(name);
		at_location(w->st, w->ctx, fc->location, &ctx);
		if (v == PG_FUNC_VOLATILE)
			report(
				w->st, &ctx, R_VERIFY, LINT_ERROR,
				"%s() is volatile (it may change state: settings, sequences, locks, other sessions), and a "
				"verify file must not change anything; use only stable or immutable functions",
				name);
		else if (v == PG_FUNC_UNKNOWN)
			report(w->st, &ctx, R_UNCHECKED, LINT_WARNING,
				   "%s%s%s() is not a built-in function known to be stable or immutable, so lint cannot tell "
				   "whether the verify file changes anything; use built-in functions, or excuse it with "
				   "\"-- migrator:allow unchecked-sql\" once reviewed",
				   schema != NULL ? schema : "", schema != NULL ? "." : "", name != NULL ? name : "?");
	}
	return true;
}

/* A verify statement: a plain SELECT that changes nothing. */
static void
check_verify(lint_state *st, const stmt_ctx *ctx, const PgQuery__Node *node, const char *kind)
{
	verify_walk w = {st, ctx};

	if (node == NULL)
		return;
	if (node->node_case != PG_QUERY__NODE__NODE_SELECT_STMT)
	{
		report(st, ctx, R_VERIFY, LINT_ERROR,
			   "a verify file may hold only SELECT statements (found %s); "
			   "move the statement to the migration, and check its effect with a SELECT",
			   kind);
		return;
	}
	sql_walk(&node->base, visit_verify, &w);
}

/* ---------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------
 */

/* Stable insertion sort of items[from..n) by line, then column. */
static void
sort_findings(lint_result *r, int from)
{
	for (int i = from + 1; i < r->n; i++)
	{
		lint_finding f = r->items[i];
		int          j = i;

		while (j > from && (r->items[j - 1].line > f.line ||
							(r->items[j - 1].line == f.line && r->items[j - 1].column > f.column)))
		{
			r->items[j] = r->items[j - 1];
			j--;
		}
		r->items[j] = f;
	}
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
	index_lines(&st);

	collect_allow_comments(&st, source + st.bom_len, st.bom_len);

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
			check_verify(&st, &ctx, script->tree->stmts[s->tree_index]->stmt, s->kind);
		else
			check_node(&st, &ctx, script->tree->stmts[s->tree_index]->stmt);
	}
	sort_findings(out, st.first_new);

	for (int i = 0; i < st.n_created; i++)
	{
		free(st.created[i].schema);
		free(st.created[i].name);
	}
	free(st.created);
	free(st.line_starts);
	for (int i = 0; i < st.n_checks; i++)
	{
		free(st.checks[i].rel.schema);
		free(st.checks[i].rel.name);
		free(st.checks[i].conname);
		free(st.checks[i].column);
	}
	free(st.checks);
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
bool
lint_rule_exists(const char *name)
{
	if (name == NULL)
		return false;
	for (int i = 0; lint_rule_names[i] != NULL; i++)
		if (strcmp(lint_rule_names[i], name) == 0)
			return true;
	return false;
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
