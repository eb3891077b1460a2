/*-------------------------------------------------------------------------
 *
 * drift.c
 *	  Has an index changed outside the tool?
 *
 * indexer/drift.c
 *
 *-------------------------------------------------------------------------
 */
#include "drift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_sql.h"
#include "memory.h"
#include "sqlquote.h"

/*
 * ident as pg_get_indexdef() writes it when it needs no quotes: a plain
 * lower-case name.  Anything else is quoted; if the server wrote it bare,
 * the texts differ and the trees are compared, so a wrong guess costs
 * time, never a wrong answer.
 */
static void
append_server_ident(textbuf *sb, const char *ident)
{
	bool plain = ident[0] != '\0' && !(ident[0] >= '0' && ident[0] <= '9');

	for (const char *p = ident; plain && *p; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (plain)
		textbuf_append(sb, ident);
	else
		sql_append_ident(sb, ident);
}

/*
 * The text is the definition's head as pg_get_indexdef() writes it, USING
 * added when the definition leaves it to the parser's default (the same
 * name), then the definition after its relation verbatim.  It parses into
 * the definition's tree up to the fields index_sql_equivalent() clears
 * (the name, CONCURRENTLY, IF NOT EXISTS, a relation schema equal to
 * def->schema, source locations), so equal texts are equal trees.
 */
bool
drift_is_server_text(const index_def *def, const char *indexdef)
{
	const index_sql_info *info = index_sql_get_info(def->parsed);
	size_t                len;
	const char           *tail = index_sql_tail(def->parsed, &len);
	textbuf               sb;
	bool                  same;

	if (def->schema == NULL || def->schema[0] == '\0' || info->catalog[0] != '\0' || info->only || len == 0 ||
		(info->schema[0] != '\0' && strcmp(info->schema, def->schema) != 0))
		return false;
	textbuf_init(&sb);
	textbuf_append(&sb, info->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
	append_server_ident(&sb, info->name);
	textbuf_append(&sb, " ON ");
	append_server_ident(&sb, def->schema);
	textbuf_append_char(&sb, '.');
	append_server_ident(&sb, info->table);
	textbuf_append_char(&sb, ' ');
	if (tail[0] == '(')
		textbuf_appendf(&sb, "USING %s ", info->access_method);
	textbuf_append_len(&sb, tail, len);
	same = strcmp(sb.data, indexdef) == 0;
	textbuf_free(&sb);
	return same;
}

drift_result
drift_compare_text(const index_def *def, const char *indexdef, unsigned flags, char **why)
{
	index_sql      *server;
	char           *parse_why = NULL;
	const char     *undecided = NULL;
	index_sql_match m;

	*why = NULL;
	/* the server's own text of exactly this definition: nothing to parse */
	if (drift_is_server_text(def, indexdef))
		return DRIFT_SAME;
	server = index_sql_parse(indexdef, &parse_why);
	if (server == NULL)
	{
		*why = xasprintf("cannot parse the server's definition \"%s\": %s", indexdef, parse_why);
		free(parse_why);
		return DRIFT_UNKNOWN;
	}
	m = index_sql_compare_server(def->parsed, server, def->schema, flags, &undecided);
	index_sql_free(server);
	if (m == INDEX_SQL_SAME)
		return DRIFT_SAME;
	if (m == INDEX_SQL_DIFFERENT)
		return DRIFT_DIFFERENT;
	*why = xasprintf(
		"the database has \"%s\", which differs from the file's definition only where the server may spell it differently (%s); write the definition as the database has it (--rebuild-drifted cannot replace what it cannot compare; if the file is right, DROP INDEX CONCURRENTLY it and run \"indexer build\")",
		indexdef, undecided);
	return DRIFT_UNKNOWN;
}

drift_result
drift_compare(const index_def *def, const catalog_entry *cat, char **why)
{
	return drift_compare_text(def, cat->indexdef, 0, why);
}
