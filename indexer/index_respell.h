/*-------------------------------------------------------------------------
 *
 * index_respell.h
 *	  A definition's parse tree against pg_get_indexdef()'s, taken to one
 *	  spelling side by side.
 *
 * pg_get_indexdef() writes what the server stored, not what the author
 * wrote: it adds the casts it resolved (lower((email)::text) for
 * lower(email) on a varchar column, 'x'::text for 'x'), writes IN (...) as
 * = ANY (ARRAY[...]) and LIKE as ~~, and, on the toolkit's empty
 * search_path, qualifies every name outside pg_catalog.  The two sides are
 * not alike, so they are respelled together, node against node, never each
 * on its own (two adversarial findings of session 12 were spellings
 * dropped on both sides):
 *
 * - a name: the server's "pg_catalog.x" and "x" are pg_catalog's, and so is
 *   the file's "pg_catalog.x"; the file's unqualified "x" is also what the
 *   server wrote as "<schema>.x" (the build resolves it on the definition's
 *   schema).  Any other qualifier must be the same on both sides: the
 *   file's pg_catalog.lower(email) is not public.lower(email), the
 *   overload a role with CREATE on public planted;
 * - a cast around a column or a constant that only the server shows is the
 *   server's own; a cast the file writes must be the server's, type for
 *   type ((flag)::text is not flag::bigint); a cast only the file shows may
 *   be one the server found redundant, so it leaves the answer undecided.
 *
 * Nothing here talks to a server or prints.
 *
 * indexer/index_respell.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_INDEX_RESPELL_H
#define TOOLKIT_INDEX_RESPELL_H

#include <pg_query.pb-c.h>

#include "index_sql.h"

/*
 * Respell file and server (normalised copies, changed in place) against
 * each other, then compare them: INDEX_SQL_SAME when equal; otherwise
 * INDEX_SQL_UNDECIDED with a static reason in *why when a difference may
 * still be only spelling (a string constant, BETWEEN, a cast only the
 * file writes, ...), else INDEX_SQL_DIFFERENT.  schema is the definition's
 * (NULL: none).
 */
index_sql_match index_respell_compare(PgQuery__IndexStmt *file, PgQuery__IndexStmt *server,
									  const char *schema, const char **why);

#endif /* TOOLKIT_INDEX_RESPELL_H */
