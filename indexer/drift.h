/*-------------------------------------------------------------------------
 *
 * drift.h
 *	  Has an index changed outside the tool?  The file's definition against
 *	  the server's pg_get_indexdef(), both read with libpg_query.
 *
 * Read-only, offline: both statements are parsed with libpg_query and
 * compared as trees, after taking both to the server's spelling (see
 * index_sql_compare_server: the casts it adds, = ANY (ARRAY[...]) for
 * IN (...), qualified names).  Nothing is sent to the server, so check,
 * plan and status write nothing and work on a standby or in a read-only
 * transaction.  Where the trees still differ only in forms whose spelling
 * is not known (a string constant, BETWEEN, ...) the answer is "cannot
 * compare", with the reason: check counts that as not in line.
 *
 * indexer/drift.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_DRIFT_H
#define INDEXER_DRIFT_H

#include "catalog.h"
#include "definitions.h"

typedef enum drift_result
{
	DRIFT_SAME,
	DRIFT_DIFFERENT,
	DRIFT_UNKNOWN /* cannot compare: see why */
} drift_result;

/*
 * Compare def with the index the catalog found for it (cat->indexdef must
 * be set).  For DRIFT_UNKNOWN, *why says why (caller frees; NULL
 * otherwise).  Sends nothing to the server.
 */
drift_result drift_compare(const index_def *def, const catalog_entry *cat, char **why);

/*
 * The same against any pg_get_indexdef() text, with index_sql_equivalent
 * flags (INDEX_SQL_IGNORE_RELATION ...); the index name never counts.
 */
drift_result drift_compare_text(const index_def *def, const char *indexdef, unsigned flags, char **why);

/*
 * Whether indexdef is byte for byte what pg_get_indexdef() writes for def
 * in the form def was written: "CREATE [UNIQUE] INDEX name ON schema.table
 * USING am <def after its relation, verbatim>".  True only where the trees
 * compare the same (drift_compare_text's fast path: no parse); false says
 * nothing, the trees decide.  def->parsed must be set.
 */
bool drift_is_server_text(const index_def *def, const char *indexdef);

#endif /* INDEXER_DRIFT_H */
