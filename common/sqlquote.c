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
sql_append_enclosed(strbuf *sb, const char *text, char q)
{
	strbuf_append_char(sb, q);
	for (const char *p = text; *p; p++)
	{
		if (*p == q)
			strbuf_append_char(sb, q);
		strbuf_append_char(sb, *p);
	}
	strbuf_append_char(sb, q);
}

void
sql_append_ident(strbuf *sb, const char *ident)
{
	sql_append_enclosed(sb, ident, '"');
}

char *
sql_quote_ident(const char *ident)
{
	strbuf sb;

	strbuf_init(&sb);
	sql_append_ident(&sb, ident);
	return strbuf_detach(&sb);
}
