/*-------------------------------------------------------------------------
 *
 * drift.h
 *	  Has an index changed outside the tool?  The file's definition against
 *	  the server's pg_get_indexdef(), both read with libpg_query.
 *
 * First locally, for free: both statements are parsed and normalised
 * (index_sql_equivalent).  Equal trees mean no drift, and a definition
 * that is in line costs no round trip.  When the trees differ, the
 * difference may be real or only spelling (the server writes
 * lower((email)::text) for lower(email), = ANY (ARRAY[...]) for IN (...),
 * adds casts to constants), so the server is asked to spell the file's
 * definition itself: in a transaction that is always rolled back, the
 * file's index is created on an empty temporary copy of the table (LIKE:
 * same columns, types and collations) and its pg_get_indexdef() is compared
 * with the real index's, with the relation left out.  That takes an ACCESS
 * SHARE lock on the table for an instant, bounded by lock_timeout.
 *
 * indexer/drift.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_DRIFT_H
#define INDEXER_DRIFT_H

#include <stdint.h>

#include <libpq-fe.h>

#include "catalog.h"
#include "config.h"

typedef enum drift_result
{
	DRIFT_SAME,
	DRIFT_DIFFERENT,
	DRIFT_UNKNOWN /* could not tell (the probe failed) */
} drift_result;

/*
 * Compare def with the index the catalog found for it (cat->indexdef must
 * be set).  For DRIFT_UNKNOWN, *why says why (caller frees; NULL
 * otherwise).  *round_trips is increased by the statements sent.  A
 * failure of the probe is never fatal: the probe is rolled back and the
 * result is DRIFT_UNKNOWN.
 */
drift_result drift_compare(PGconn *conn, const index_def *def, const catalog_entry *cat,
						   int64_t lock_timeout_ms, char **why, int *round_trips);

#endif /* INDEXER_DRIFT_H */
