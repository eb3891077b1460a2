/*-------------------------------------------------------------------------
 *
 * sqlpos.c
 *	  Positions in a SQL source, and parse errors that point at them.
 *
 * Statements' positions count bytes; errors' columns count characters, as
 * an editor shows them; the parser's cursor positions count characters the
 * way the server does, which char_to_byte_offset() inverts.
 *
 * common/sqlpos.c
 *
 *-------------------------------------------------------------------------
 */
#include "sqlpos.h"

#include <stdlib.h>
#include <string.h>

#include "memory.h"

/* a UTF-8 byte-order mark, which editors may put in front of a file */
#define UTF8_BOM "\xEF\xBB\xBF"

int
sqlpos_bom_length(const char *source)
{
	return strncmp(source, UTF8_BOM, SQLPOS_UTF8_BOM_LEN) == 0 ? SQLPOS_UTF8_BOM_LEN : 0;
}

/*
 * Move pos forwards to offset (never past the terminating NUL).  A line ends
 * at LF, at CRLF (counted once, at the LF) or at a lone CR, the same line
 * breaks the checksum normalises.
 */
void
sqlpos_advance(const char *text, sql_pos *pos, int offset)
{
	while (pos->offset < offset && text[pos->offset] != '\0')
	{
		char c = text[pos->offset++];

		if (c == '\n' || (c == '\r' && text[pos->offset] != '\n'))
		{
			pos->line++;
			pos->line_start = pos->offset;
		}
	}
}

/*
 * Byte offset of the 0-based character position nchars, counting characters
 * the way the server's pg_mbstrlen_with_len() does for UTF-8 (the length of a
 * character comes from its lead byte alone), so that it inverts the parser's
 * cursorpos exactly.  Stops at the terminating NUL.
 */
static int
char_to_byte_offset(const char *text, int nchars)
{
	int off = 0;

	for (int i = 0; i < nchars && text[off] != '\0'; i++)
	{
		unsigned char c = (unsigned char) text[off];
		int           len;

		if ((c & 0x80) == 0)
			len = 1;
		else if ((c & 0xe0) == 0xc0)
			len = 2;
		else if ((c & 0xf0) == 0xe0)
			len = 3;
		else if ((c & 0xf8) == 0xf0)
			len = 4;
		else
			len = 1;
		for (int k = 0; k < len && text[off] != '\0'; k++)
			off++;
	}
	return off;
}

/*
 * Byte offset in text of the parser's cursorpos (1-based characters), or -1
 * when the parser gave no position (0).
 */
int
sqlpos_cursor_to_offset(const char *text, int cursorpos)
{
	return cursorpos > 0 ? char_to_byte_offset(text, cursorpos - 1) : -1;
}

/*
 * Fill err: message, and the position of byte offset in text (-1 when
 * unknown).  text is the source after any BOM, bom_len the BOM's length.
 */
void
sqlpos_set_error(const char *text, int bom_len, const char *message, int offset, sql_parse_error *err)
{
	sql_pos pos = {0, 1, 0};
	int     line_end;
	int     column;

	err->message = xstrdup(message != NULL ? message : "could not parse the script");
	err->offset = -1;
	err->line = 0;
	err->column = 0;
	err->line_text = NULL;
	if (offset < 0)
		return;

	/*
	 * "at end of input" points past the last byte; when the file ends with
	 * newlines that is a line after the last one an editor shows.  Put it
	 * right after the last non-blank character instead, where the statement
	 * was left unfinished.
	 */
	if (text[offset] == '\0')
		while (offset > 0 && sqlpos_is_space(text[offset - 1]))
			offset--;

	sqlpos_advance(text, &pos, offset);

	/* columns of errors count characters, as an editor shows them */
	column = 1;
	for (int i = pos.line_start; i < offset; i++)
		if (((unsigned char) text[i] & 0xc0) != 0x80)
			column++;

	line_end = pos.line_start;
	while (text[line_end] != '\0' && text[line_end] != '\n' && text[line_end] != '\r')
		line_end++;

	err->offset = offset + bom_len;
	err->line = pos.line;
	err->column = column;
	err->line_text = xstrndup(text + pos.line_start, (size_t) (line_end - pos.line_start));
}

/*
 * An error for a script that breaks a limit of sqlparse.h.  Its line is
 * not quoted: a statement that long or deep may be one huge line.
 */
void
sqlpos_set_limit_error(const char *text, int bom_len, const char *message, int offset, sql_parse_error *err)
{
	sqlpos_set_error(text, bom_len, message, offset, err);
	free(err->line_text);
	err->line_text = NULL;
	err->limit = true;
}

/*
 * 1-based line and column (in bytes) of the byte offset in source, counted
 * like the statements' positions: a leading BOM is not part of line 1, and
 * LF, CRLF and a lone CR each end a line.  An offset past the end counts as
 * the end; a negative offset gives line 0 and column 0 (unknown).
 */
void
sql_offset_to_line_col(const char *source, int offset, int *line, int *column)
{
	int     bom_len = sqlpos_bom_length(source);
	sql_pos pos = {0, 1, 0};

	if (offset < 0)
	{
		*line = 0;
		*column = 0;
		return;
	}
	offset = offset > bom_len ? offset - bom_len : 0;
	sqlpos_advance(source + bom_len, &pos, offset);
	*line = pos.line;
	*column = pos.offset - pos.line_start + 1;
}
