/*-------------------------------------------------------------------------
 *
 * sqllex.c
 *	  The lexer pass of the SQL reader: a script's tokens, and the limits
 *	  measured on them before the parser runs.
 *
 * common/sqllex.c
 *
 *-------------------------------------------------------------------------
 */
#include "sqllex.h"

#include <stdlib.h>

#include <pg_query.h>

#include "memory.h"
#include "sqlpos.h"

/*
 * Run PostgreSQL's lexer over text into *out (free out->tokens).  False
 * with err filled if it fails.
 */
bool
sqllex_scan(const char *text, int bom_len, sql_token_list *out, sql_parse_error *err)
{
	PgQueryScanResult    scan_result = pg_query_scan(text);
	PgQuery__ScanResult *scan;

	if (scan_result.error != NULL)
	{
		sqlpos_set_error(text, bom_len, scan_result.error->message,
						 sqlpos_cursor_to_offset(text, scan_result.error->cursorpos), err);
		pg_query_free_scan_result(scan_result);
		return false;
	}
	scan = pg_query__scan_result__unpack(NULL, scan_result.pbuf.len, (const uint8_t *) scan_result.pbuf.data);
	pg_query_free_scan_result(scan_result);
	if (scan == NULL)
	{
		sqlpos_set_error(text, bom_len, "could not decode the lexer's output", -1, err);
		return false;
	}
	out->n_tokens = scan->n_tokens;
	out->tokens = scan->n_tokens > 0 ? xcalloc(scan->n_tokens, sizeof(sql_token)) : NULL;
	for (size_t i = 0; i < scan->n_tokens; i++)
	{
		out->tokens[i].start = scan->tokens[i]->start;
		out->tokens[i].token = (int) scan->tokens[i]->token;
	}
	pg_query__scan_result__free_unpacked(scan, NULL);
	return true;
}

/* Byte offset of the first token at or after offset that is not a comment. */
int
sqllex_first_token_from(const sql_token_list *scan, int offset)
{
	for (size_t i = 0; i < scan->n_tokens; i++)
		if (scan->tokens[i].start >= offset && !sqllex_is_comment(&scan->tokens[i]))
			return scan->tokens[i].start;
	return offset;
}

/*
 * The most tokens of one statement, statements ending at a semicolon
 * outside parentheses (CREATE RULE's action list keeps its own), and in
 * *at the offset of that statement's first token.
 */
size_t
sqllex_longest_statement(const sql_token_list *scan, int *at)
{
	size_t longest = 0;
	size_t count = 0;
	int    start = 0;
	int    parens = 0;

	*at = 0;
	for (size_t i = 0; i < scan->n_tokens; i++)
	{
		const sql_token *t = &scan->tokens[i];

		if (sqllex_is_comment(t))
			continue;
		if (count == 0)
			start = t->start;
		count++;
		if (count > longest)
		{
			longest = count;
			*at = start;
		}
		if (t->token == PG_QUERY__TOKEN__ASCII_40)
			parens++;
		else if (t->token == PG_QUERY__TOKEN__ASCII_41 && parens > 0)
			parens--;
		else if (t->token == PG_QUERY__TOKEN__ASCII_59 && parens == 0)
			count = 0;
	}
	return longest;
}

static bool
is_simple_operand(const sql_token *t)
{
	switch (t->token)
	{
		case PG_QUERY__TOKEN__IDENT:
		case PG_QUERY__TOKEN__UIDENT:
		case PG_QUERY__TOKEN__FCONST:
		case PG_QUERY__TOKEN__SCONST:
		case PG_QUERY__TOKEN__USCONST:
		case PG_QUERY__TOKEN__BCONST:
		case PG_QUERY__TOKEN__XCONST:
		case PG_QUERY__TOKEN__ICONST:
		case PG_QUERY__TOKEN__PARAM:
			return true;
		default:
			return false;
	}
}

/*
 * The most generic operators ("||", "->", "@>": the lexer's Op, all of one
 * precedence, left-associative) in a run of tokens that alternate between
 * a constant or name and such an operator, and in *at where the run
 * starts.  Such a run parses to a left-deep chain at least two levels deep
 * per operator, so a long one is refused before the parser spends seconds
 * on it (its time grows faster than linearly).
 */
size_t
sqllex_longest_operator_chain(const sql_token_list *scan, int *at)
{
	size_t longest = 0;
	size_t ops = 0;
	int    start = 0;
	bool   want_operand = true;

	*at = 0;
	for (size_t i = 0; i < scan->n_tokens; i++)
	{
		const sql_token *t = &scan->tokens[i];

		if (sqllex_is_comment(t))
			continue;
		if (want_operand && is_simple_operand(t))
		{
			if (ops == 0)
				start = t->start;
			want_operand = false;
		}
		else if (!want_operand && t->token == PG_QUERY__TOKEN__Op)
		{
			if (++ops > longest)
			{
				longest = ops;
				*at = start;
			}
			want_operand = true;
		}
		else
		{
			/* the run is broken; this token may start the next one */
			ops = 0;
			want_operand = !is_simple_operand(t);
			start = t->start;
		}
	}
	return longest;
}
