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

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "sqllex.h"
#include "sqlparse.h"

struct PgQuery__ParseResult;

/*
 * Parse text (the source after a BOM of bom_len bytes, whose tokens are
 * scan) on a thread sized for scan's longest statement.  Returns the
 * unpacked tree, whose memory is *arena (free it whole with
 * parser_arena_free, never the tree with protobuf-c), or NULL with err
 * filled: a syntax error at its position, a statement too long or too deep
 * (err->limit set, at the statement's first token), a thread that could not
 * start, an output that could not be decoded.  Never prints.
 */
struct PgQuery__ParseResult *parser_thread_parse(const char *text, int bom_len, const sql_token_list *scan,
												 sql_parse_error *err, parser_arena **arena);

/* Free a tree's memory, the tree with it.  Accepts NULL. */
void parser_arena_free(parser_arena *arena);

/*
 * The most bytes a text may have for parser_thread_parse_small(): a
 * statement has at most one token per byte, and a chain of N operators
 * takes at least 2N + 1 bytes, so no text this short can break
 * SQL_PARSE_MAX_TOKENS nor the operator-chain bound of SQL_PARSE_MAX_DEPTH,
 * and its parse fits the stack of sql_call_with_parser_room() in place.
 */
#define SQL_PARSE_SMALL_BYTES ((size_t) SQL_PARSE_MAX_DEPTH)

/*
 * Parse text (text_len bytes, at most SQL_PARSE_SMALL_BYTES) without the
 * lexer's tokens, on a stack sized from its length.  Returns the unpacked
 * tree (its memory in *arena, as for parser_thread_parse), or NULL on anything else: a syntax error, a tree too deep, a thread
 * that could not start, a text too long.  Says nothing about why: the caller
 * takes the full path (parser_thread_parse, after the lexer), which reports
 * it exactly.  Never prints.
 */
struct PgQuery__ParseResult *parser_thread_parse_small(const char *text, size_t text_len,
													   parser_arena **arena);

/*
 * Start fn(arg) on a new thread with the stack of sql_call_with_parser_room()
 * (every parse inside runs in place) and every signal blocked; the caller
 * joins it.  False with errno set if it could not start.
 */
bool parser_thread_spawn(pthread_t *thread, void (*fn)(void *arg), void *arg);

#endif /* TOOLKIT_PARSER_THREAD_H */
