/*-------------------------------------------------------------------------
 *
 * sqlquote.c
 *	  The one SQL quoter of the toolkit.
 *
 * common/sqlquote.c
 *
 *-------------------------------------------------------------------------
 */
#include "sqlquote.h"

void
sql_append_enclosed(textbuf *sb, const char *text, char q)
{
	textbuf_append_char(sb, q);
	for (const char *p = text; *p; p++)
	{
		if (*p == q)
			textbuf_append_char(sb, q);
		textbuf_append_char(sb, *p);
	}
	textbuf_append_char(sb, q);
}

void
sql_append_ident(textbuf *sb, const char *ident)
{
	sql_append_enclosed(sb, ident, '"');
}

char *
sql_quote_ident(const char *ident)
{
	textbuf sb;

	textbuf_init(&sb);
	sql_append_ident(&sb, ident);
	return textbuf_detach(&sb);
}
