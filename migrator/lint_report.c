/*-------------------------------------------------------------------------
 *
 * lint_report.c
 *	  Lint findings, the line index and the allow comments.
 *
 * Findings are appended to the caller's lint_result with their severity
 * after --strict and the allow comments; the same finding twice in one
 * statement is one.  Allow comments are found with PostgreSQL's lexer
 * (pg_query_scan), so a "-- migrator:allow" inside a string is not one.  A
 * comment excuses only if it is alone on its line; several such lines stacked
 * directly above a statement excuse it from several rules.  Every allow
 * comment, alone or not, must name a rule (else unknown-rule).  Whether a rule
 * can be excused, and its usual severity, come from the registry
 * (lint_rules.c).
 *
 * migrator/lint_report.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "memory.h"

/* "-- migrator:allow RULE" */
#define ALLOW_WORD "migrator:allow"

/* Does an allow comment alone on a line stacked directly above line excuse rule? */
static bool
allowed_above(const lint_state *st, int line, lint_rule_id rule)
{
	for (int l = line - 1; l >= 1; l--)
	{
		bool any = false;

		for (int i = 0; i < st->n_allows; i++)
		{
			if (st->allows[i].line != l)
				continue;
			any = true;
			if (st->allows[i].rule == (int) rule)
				return true;
		}
		if (!any)
			return false;
	}
	return false;
}

static void
append_finding(lint_state *st, lint_rule_id id, lint_severity severity, int line, int column, char *message)
{
	const char   *rule = lint_rules[id].name;
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

	ARRAY_GROW(out->items, out->n + 1, out->cap);
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
static void vreport(lint_state *st, const stmt_ctx *ctx, lint_rule_id rule, lint_severity severity,
					bool excusable, const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static void
vreport(lint_state *st, const stmt_ctx *ctx, lint_rule_id rule, lint_severity severity, bool excusable,
		const char *fmt, va_list ap)
{
	textbuf sb;

	if (excusable && (allowed_above(st, ctx->stmt_line, rule) ||
					  (ctx->nested_line > 0 && allowed_above(st, ctx->nested_line, rule))))
		return;
	if (st->strict)
		severity = LINT_ERROR;

	textbuf_init(&sb);
	if (ctx->depth > 0)
		textbuf_append(&sb, "in a DO block, ");
	textbuf_vappendf(&sb, fmt, ap);
	append_finding(st, rule, severity, ctx->line, ctx->column, textbuf_detach(&sb));
}

/* See lint_internal.h. */
void
lint_report(lint_state *st, const stmt_ctx *ctx, lint_rule_id rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(st, ctx, rule, lint_rules[rule].severity, lint_rules[rule].excusable, fmt, ap);
	va_end(ap);
}

/* See lint_internal.h. */
void
lint_report_error(lint_state *st, const stmt_ctx *ctx, lint_rule_id rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(st, ctx, rule, LINT_ERROR, lint_rules[rule].excusable, fmt, ap);
	va_end(ap);
}

/* See lint_internal.h. */
void
lint_report_fixed(lint_state *st, const stmt_ctx *ctx, lint_rule_id rule, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(st, ctx, rule, LINT_ERROR, false, fmt, ap);
	va_end(ap);
}

/* Index the line starts of st->source (LF, CRLF and a lone CR end lines). */
void
lint_index_lines(lint_state *st)
{
	const char *s = st->source;
	int         cap = 0; /* of line_starts: 64 first, most files are short */

	st->line_starts = NULL;
	st->n_lines = 0;
	ARRAY_GROW(st->line_starts, 64, cap);
	st->line_starts[st->n_lines++] = st->bom_len;
	for (int off = st->bom_len; s[off] != '\0'; off++)
	{
		if (s[off] == '\n' || (s[off] == '\r' && s[off + 1] != '\n'))
		{
			ARRAY_GROW(st->line_starts, st->n_lines + 1, cap);
			st->line_starts[st->n_lines++] = off + 1;
		}
	}
}

/* Byte offset in source of the start of 1-based line (the end if past it). */
int
lint_line_start_offset(const lint_state *st, int line)
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
void
lint_offset_line_col(const lint_state *st, int off, int *line, int *column)
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
	int         known;

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
	known = lint_rule_lookup(rule);

	lint_offset_line_col(st, off, &line, &column);
	ls = lint_line_start_offset(st, line);
	for (int i = ls; i < off; i++)
		if (!is_blank(s[i]))
			alone = false;

	if (known < 0)
	{
		if (*rule == '\0')
			append_finding(
				st, LINT_R_UNKNOWN_RULE, lint_rules[LINT_R_UNKNOWN_RULE].severity, line, column,
				xstrdup(
					"\"-- migrator:allow\" names no rule; write the rule to excuse after it, e.g. \"-- migrator:allow drop-column\""));
		else
			append_finding(
				st, LINT_R_UNKNOWN_RULE, lint_rules[LINT_R_UNKNOWN_RULE].severity, line, column,
				xasprintf(
					"unknown rule \"%s\" in \"-- migrator:allow\"; name one rule that lint reports, e.g. \"-- migrator:allow drop-column\"",
					rule));
	}
	if (alone)
	{
		ARRAY_GROW(st->allows, st->n_allows + 1, st->cap_allows);
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
void
lint_collect_allow_comments(lint_state *st, const char *text, int file_off)
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

/* Stable insertion sort of items[from..n) by line, then column. */
void
lint_sort_findings(lint_result *r, int from)
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

/* One character of a workflow command; property values escape ':' and ',' too. */
static void
github_escape(textbuf *sb, const char *s, bool property)
{
	for (; s != NULL && *s != '\0'; s++)
	{
		if (*s == '%')
			textbuf_append(sb, "%25");
		else if (*s == '\r')
			textbuf_append(sb, "%0D");
		else if (*s == '\n')
			textbuf_append(sb, "%0A");
		else if (property && *s == ':')
			textbuf_append(sb, "%3A");
		else if (property && *s == ',')
			textbuf_append(sb, "%2C");
		else
			textbuf_append_char(sb, *s);
	}
}

/* See lint.h. */
void
lint_github_escape_data(textbuf *sb, const char *s)
{
	github_escape(sb, s, false);
}

/* See lint.h. */
void
lint_github_escape_property(textbuf *sb, const char *s)
{
	github_escape(sb, s, true);
}
