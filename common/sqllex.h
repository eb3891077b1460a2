/*-------------------------------------------------------------------------
 *
 * sqllex.h
 *	  The lexer pass of the SQL reader: a script's tokens, and the limits
 *	  measured on them before the parser runs.
 *
 * Part of the SQL reader (sqlparse.h).  PostgreSQL's own lexer
 * (pg_query_scan) runs first, on the caller's stack (it does not recurse).
 * Its tokens serve twice: they size the parser's thread and refuse a
 * statement too long or a chain of operators too deep before the parser
 * spends time on it (parser_thread.h), and they trim each statement's byte
 * range to its first and last tokens (sqlparse.c).  Only token start
 * offsets are kept: pg_query_scan() reports an empty extent for some tokens
 * (U&'...' strings come back with end == start).
 *
 * common/sqllex.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_SQLLEX_H
#define TOOLKIT_SQLLEX_H

#include <stdbool.h>
#include <stddef.h>

#include <pg_query.pb-c.h>

#include "sqlparse.h"

/*
 * A token of the lexer, kept compact: a script's tokens stay in memory while
 * the parser runs, and the unpacked protobuf takes several times this.
 */
typedef struct sql_token
{
	int start; /* byte offset in the text */
	int token; /* PgQuery__Token */
} sql_token;

typedef struct sql_token_list
{
	sql_token *tokens;
	size_t     n_tokens;
} sql_token_list;

static inline bool
sqllex_is_comment(const sql_token *tok)
{
	return tok->token == PG_QUERY__TOKEN__SQL_COMMENT || tok->token == PG_QUERY__TOKEN__C_COMMENT;
}

/*
 * Run PostgreSQL's lexer over text (the source after a BOM of bom_len bytes)
 * into *out (the caller frees out->tokens).  False with err filled (see
 * sqlpos_set_error) if the lexer refuses the script.
 */
bool sqllex_scan(const char *text, int bom_len, sql_token_list *out, sql_parse_error *err);

/*
 * Byte offset of the first token at or after offset that is not a comment;
 * offset itself when there is none.
 */
int sqllex_first_token_from(const sql_token_list *scan, int offset);

/*
 * The most tokens of one statement, statements ending at a semicolon
 * outside parentheses, and in *at the offset of that statement's first
 * token (0 when there are no tokens).
 */
size_t sqllex_longest_statement(const sql_token_list *scan, int *at);

/*
 * The most generic operators ("||", "->", "@>") in a run of tokens that
 * alternate between a constant or name and such an operator, and in *at
 * where that run starts.  Such a run parses at least two tree levels deep
 * per operator.
 */
size_t sqllex_longest_operator_chain(const sql_token_list *scan, int *at);

#endif /* TOOLKIT_SQLLEX_H */
