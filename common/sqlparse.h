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
 * common/sqlparse.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_SQLPARSE_H
#define TOOLKIT_SQLPARSE_H

#include <stdbool.h>
#include <stddef.h>

struct PgQuery__ParseResult;

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
	/* the whole parse tree, for checks that look deeper (lint, indexer) */
	struct PgQuery__ParseResult *tree;
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
} sql_parse_error;

/*
 * Parse source (NUL-terminated) into statements.  Returns true and fills
 * *out (free with sql_script_free) or returns false and fills *err (free with
 * sql_parse_error_free).  A source of only comments and white space parses to
 * zero statements and returns true.  A leading UTF-8 BOM is skipped: offsets
 * still count it, line 1 starts after it.  Never prints.
 */
bool sql_parse_script(const char *source, sql_script *out, sql_parse_error *err);

void sql_script_free(sql_script *script);
void sql_parse_error_free(sql_parse_error *err);

/*
 * 1-based line and column (in bytes) of a byte offset in source, counted as
 * for statements: LF, CRLF and a lone CR each end a line.  An offset past the
 * end counts as the end; a negative one gives 0 and 0.
 */
void sql_offset_to_line_col(const char *source, int offset, int *line, int *column);

#endif /* TOOLKIT_SQLPARSE_H */
