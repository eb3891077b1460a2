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

drift_result
drift_compare_text(const index_def *def, const char *indexdef, unsigned flags, char **why)
{
	index_sql      *server;
	char           *parse_why = NULL;
	const char     *undecided = NULL;
	index_sql_match m;

	*why = NULL;
	/* the server's own text of exactly this definition: nothing to parse */
	if (index_sql_is_server_text(def->parsed, def->schema, indexdef))
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
