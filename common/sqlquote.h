/*-------------------------------------------------------------------------
 *
 * sqlquote.h
 *	  The one SQL quoter of the toolkit: identifiers and literals written
 *	  into SQL text or into messages, without a connection.
 *
 * An identifier is always quoted ("name", inner double quotes doubled), as
 * PostgreSQL's fmtId does for anything that is not a plain lower-case word;
 * always quoting is never wrong and keeps the output independent of the
 * keyword list.  A literal is enclosed in single quotes, inner ones doubled
 * (standard_conforming_strings, on by default since PostgreSQL 9.1).
 *
 * Not here, on purpose, because they quote for other readers:
 *  - PQescapeIdentifier/PQescapeLiteral (libpq): where a connection exists
 *    and the text goes to that server, they also check the encoding;
 *  - db_text_array_literal (query.h): the element syntax of a text[] value,
 *    with backslash escapes, passed as a parameter, never as SQL;
 *  - textbuf_append_json (memory.h): JSON strings of the log lines.
 *
 * common/sqlquote.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_SQLQUOTE_H
#define TOOLKIT_SQLQUOTE_H

#include "memory.h"

/*
 * Append text to sb between two quote characters q, each q inside doubled
 * (SQL's rule for '"' identifiers and '\'' literals).  Never fails.
 */
void sql_append_enclosed(textbuf *sb, const char *text, char q);

/* Append ident as a quoted identifier: "a""b".  Never fails. */
void sql_append_ident(textbuf *sb, const char *ident);

/* ident as a quoted identifier in a fresh allocation; caller frees. */
char *sql_quote_ident(const char *ident);

#endif /* TOOLKIT_SQLQUOTE_H */
