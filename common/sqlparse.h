/*-------------------------------------------------------------------------
 *
 * sqlparse.h
 *	  Reading SQL with PostgreSQL's own parser (libpg_query).
 *
 * A script is parsed once, as a whole, by libpg_query's protobuf parser;
 * the statements come from the parse tree, never from splitting on
 * semicolons, so dollar quotes, comments, strings and E'' escapes are exact.
 * Each statement knows where it starts in the source (1-based line and
 * column of its first token, after any leading comments and blank space),
 * its exact text and the kind of its top-level node.
 *
 * Limits.  libpg_query turns the parser's tree into protobuf, and protobuf-c
 * unpacks and frees it, by recursion: a statement nested thousands of levels
 * deep (a long chain of "||", UNION or casts, nested subqueries, CASE,
 * ARRAY) would overflow the stack.  So the parser and the unpacking run on
 * a thread with a stack sized for the statement, and a tree deeper than
 * SQL_PARSE_MAX_DEPTH is refused as an input error at its statement's line;
 * every tree handed out is at most that deep, so the recursive walkers that
 * read it (sqlwalk.c, lint.c, index_sql.c) stay within a normal stack, ASan's
 * larger frames included.  PostgreSQL 15 at its default max_stack_depth
 * (2MB) already refuses such statements ("stack depth limit exceeded") at a
 * few thousand levels.
 *
 * This header is the reader's whole contract.  Inside, it is four modules:
 * sqlparse.c splits the script into statements, sqllex.c runs the lexer and
 * measures the limits on its tokens, parser_thread.c runs the parser on its
 * thread and measures the depth, sqlpos.c counts lines and columns.  A
 * small script (the usual migration) skips the lexer pass: too short to
 * break a limit, its statements are placed from the parse tree alone
 * (sql_parse_script_lexed).  parser_pool.h parses many scripts on several
 * threads.
 *
 * common/sqlparse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_SQLPARSE_H
#define TOOLKIT_SQLPARSE_H

#include <stdbool.h>
#include <stddef.h>

struct PgQuery__ParseResult;
typedef struct parser_arena parser_arena; /* parser_thread.c: a tree's memory */

/*
 * The deepest parse tree accepted, in protobuf messages from a statement's
 * node down to its deepest leaf (a chain of N "||" terms is about 2N deep,
 * one nested scalar subquery about 6).  Deeper is an input error.
 */
#define SQL_PARSE_MAX_DEPTH 10000

/*
 * The most lexer tokens one statement may have.  The parser's own recursion
 * needs stack in proportion to a statement's tokens before any depth can be
 * measured, so the stack of the parser thread is sized from this count; a
 * longer statement is an input error before it is parsed.
 */
#define SQL_PARSE_MAX_TOKENS 500000

typedef struct sql_statement
{
	char       *text;       /* exact text, first token to last, no ';' */
	int         offset;     /* byte offset of the first token */
	int         line;       /* 1-based line of the first token */
	int         column;     /* 1-based column (bytes) of the first token */
	const char *kind;       /* parse node name, e.g. "SelectStmt",
								 * "CreateStmt", "IndexStmt"; static */
	int         tree_index; /* index into sql_script.tree->stmts */
} sql_statement;

typedef struct sql_script
{
	sql_statement *stmts;
	int            n_stmts;
	/*
	 * the whole parse tree, for checks that look deeper (lint, indexer);
	 * read-only: its memory is tree_arena, freed whole by sql_script_free
	 * (copy a part to change it)
	 */
	struct PgQuery__ParseResult *tree;
	parser_arena                *tree_arena;
} sql_script;

typedef struct sql_parse_error
{
	char *message;   /* the parser's message, e.g. "syntax error at
								 * or near \"ON\"" */
	int   offset;    /* byte offset of the error, -1 if unknown */
	int   line;      /* 1-based; 0 if unknown */
	int   column;    /* 1-based, in characters (UTF-8), as an
								 * editor counts them; 0 if unknown */
	char *line_text; /* the offending source line, no newline;
								 * NULL if unknown */
	bool  limit;     /* the script breaks a limit above (too deep,
								 * too long), not the grammar */
} sql_parse_error;

/*
 * Parse source (NUL-terminated) into statements.  Returns true and fills
 * *out (free with sql_script_free) or returns false and fills *err (free with
 * sql_parse_error_free).  A source of only comments and white space parses to
 * zero statements and returns true.  A leading UTF-8 BOM is skipped: offsets
 * still count it, line 1 starts after it.  A statement deeper than
 * SQL_PARSE_MAX_DEPTH or longer than SQL_PARSE_MAX_TOKENS fails with
 * err->limit set, at the statement's first token.  Never prints; runs the
 * parser on a short-lived thread with every signal blocked, or on the
 * calling thread's parser room (sql_parser_room_begin) when it has one (the
 * thread cannot be started: an error naming the reason).
 */
bool sql_parse_script(const char *source, sql_script *out, sql_parse_error *err);

/*
 * Run fn(arg) on a thread whose stack holds libpg_query's and protobuf-c's
 * recursion (pack, unpack, free) over any tree sql_parse_script() returns,
 * with every signal blocked, and wait for it.  For code that copies or
 * re-packs such a tree.  Returns false with errno set only when the thread
 * could not be started; fn has then not run.
 */
bool sql_call_on_parser_stack(void (*fn)(void *arg), void *arg);

/*
 * The same for a batch: fn(arg) on one thread with room for the parser, so
 * that every sql_parse_script() and sql_call_on_parser_stack() inside it
 * whose statements fit runs in place instead of on a thread of its own (a
 * longer statement still gets one).  Signals blocked, as above; fn must not
 * wait on them.  False with errno set when the thread could not start.
 */
bool sql_call_with_parser_room(void (*fn)(void *arg), void *arg);

/*
 * Keep a parser thread for the calling thread until sql_parser_room_end:
 * from then on its sql_parse_script() and sql_call_on_parser_stack() calls
 * that fit the room run on that one thread (signals blocked, the caller
 * waiting, as above) instead of on a thread started and joined for each.
 * For a thread that parses many scripts between other work (migrator up
 * parses each migration just before it runs it): on a VM a thread's start
 * and its stack's first touches cost about as much as a small migration's
 * own server time (issue 13).  One room per thread; it is not shared.
 * The thread starts at the first call that uses it (none for a run that
 * parses nothing); when it cannot start, each call gets a thread of its
 * own, as without a room.
 */
typedef struct sql_parser_room sql_parser_room;

void sql_parser_room_begin(sql_parser_room **room);

/* Stop and join the room's thread (after every call has returned); accepts NULL. */
void sql_parser_room_end(sql_parser_room *room);

/*
 * sql_parse_script() always by its full path: PostgreSQL's lexer over the
 * whole script first (the limits measured on its tokens, statements trimmed
 * by them), then the parser.  sql_parse_script() takes this path for a
 * script over SQL_PARSE_SMALL_BYTES (parser_thread.h), for one that does
 * not parse (so errors are reported as the lexer finds them) and for a
 * statement its fast path cannot place for certain; otherwise it parses
 * without the lexer and gives the same statements.  Exposed so that tests
 * compare the two.
 */
bool sql_parse_script_lexed(const char *source, sql_script *out, sql_parse_error *err);

void sql_script_free(sql_script *script);
void sql_parse_error_free(sql_parse_error *err);

/*
 * 1-based line and column (in bytes) of a byte offset in source, counted as
 * for statements: LF, CRLF and a lone CR each end a line.  An offset past the
 * end counts as the end; a negative one gives 0 and 0.
 */
void sql_offset_to_line_col(const char *source, int offset, int *line, int *column);

#endif /* TOOLKIT_SQLPARSE_H */
