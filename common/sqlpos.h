/*-------------------------------------------------------------------------
 *
 * sqlpos.h
 *	  Positions in a SQL source, and parse errors that point at them.
 *
 * Part of the SQL reader (sqlparse.h), shared by its modules: the lexer pass
 * (sqllex.h), the parser's thread (parser_thread.h) and the statement
 * splitter (sqlparse.c).  Every position is counted the same way, so that a
 * statement, an error and sql_offset_to_line_col() agree: a leading UTF-8 BOM
 * is not part of line 1 (byte offsets still count it); LF, CRLF and a lone CR
 * each end a line.  Nothing here prints or allocates except the strings put
 * into a sql_parse_error.
 *
 * common/sqlpos.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_SQLPOS_H
#define TOOLKIT_SQLPOS_H

#include <stdbool.h>

#include "sqlparse.h"

/* the length of a UTF-8 byte-order mark, which editors may put in front of a file */
#define SQLPOS_UTF8_BOM_LEN 3

/* A position in the source, advanced forwards while scanning for lines. */
typedef struct sql_pos
{
	int offset;     /* byte offset reached */
	int line;       /* 1-based line of offset */
	int line_start; /* byte offset where that line begins */
} sql_pos;

/* The scanner's white space: [ \t\n\r\f\v] (scan.l, "space"). */
static inline bool
sqlpos_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* SQLPOS_UTF8_BOM_LEN when source starts with a UTF-8 BOM, else 0. */
int sqlpos_bom_length(const char *source);

/*
 * Move pos forwards to offset in text (never past the terminating NUL),
 * counting lines.  Start from {0, 1, 0}.
 */
void sqlpos_advance(const char *text, sql_pos *pos, int offset);

/*
 * Byte offset in text of the parser's or lexer's cursorpos (1-based
 * characters, counted as the server counts UTF-8), or -1 when it gave no
 * position (0).
 */
int sqlpos_cursor_to_offset(const char *text, int cursorpos);

/*
 * Fill err (whose strings must be free or NULL): message (a default when
 * NULL), and the line, character column, source line and byte offset of
 * offset in text (all unknown when offset is -1).  text is the source after
 * any BOM, bom_len the BOM's length, which err->offset counts.  An offset at
 * the end of input moves back to the last non-blank character.
 */
void sqlpos_set_error(const char *text, int bom_len, const char *message, int offset, sql_parse_error *err);

/*
 * sqlpos_set_error for a script that breaks a limit of sqlparse.h: sets
 * err->limit and quotes no source line (a statement that long or deep may
 * be one huge line).
 */
void sqlpos_set_limit_error(const char *text, int bom_len, const char *message, int offset,
							sql_parse_error *err);

#endif /* TOOLKIT_SQLPOS_H */
