/*-------------------------------------------------------------------------
 *
 * parser_thread.h
 *	  libpg_query's parser on a thread of its own, with the depth limit.
 *
 * Part of the SQL reader (sqlparse.h).  libpg_query's parser, its protobuf
 * output and protobuf-c's unpacking all recurse, so a statement nested
 * thousands of levels deep would overflow a normal stack.  Here the parser
 * runs on a short-lived thread (every signal blocked) whose stack is sized
 * from the longest statement's tokens (sqllex.h); the depth of its protobuf
 * output is measured on the wire bytes without recursion, and only a tree
 * within SQL_PARSE_MAX_DEPTH is unpacked.  Statements longer than
 * SQL_PARSE_MAX_TOKENS, and operator chains too long to stay within the
 * depth, are refused from the tokens before the parser starts.
 * sql_call_on_parser_stack() (declared in sqlparse.h) is defined here.
 *
 * common/parser_thread.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_PARSER_THREAD_H
#define TOOLKIT_PARSER_THREAD_H

#include "sqllex.h"
#include "sqlparse.h"

struct PgQuery__ParseResult;

/*
 * Parse text (the source after a BOM of bom_len bytes, whose tokens are
 * scan) on a thread sized for scan's longest statement.  Returns the
 * unpacked tree (free with pg_query__parse_result__free_unpacked), or NULL
 * with err filled: a syntax error at its position, a statement too long or
 * too deep (err->limit set, at the statement's first token), a thread that
 * could not start, an output that could not be decoded.  Never prints.
 */
struct PgQuery__ParseResult *parser_thread_parse(const char *text, int bom_len, const sql_token_list *scan,
												 sql_parse_error *err);

#endif /* TOOLKIT_PARSER_THREAD_H */
