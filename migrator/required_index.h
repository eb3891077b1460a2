/*-------------------------------------------------------------------------
 *
 * required_index.h
 *	  "-- migrator:requires-index NAME": build an index before a migration.
 *
 * A migration that needs an index first (ADD CONSTRAINT ... UNIQUE USING
 * INDEX, say) names it; the definition comes from the indexer's config and
 * is built with the indexer's own code (table-lock-only timeout, invalid
 * leftover repair, retries), concurrently and outside any transaction,
 * right before the migration runs.  The definitions are read and checked
 * before anything is applied.
 *
 * migrator/required_index.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef REQUIRED_INDEX_H
#define REQUIRED_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "conn.h"
#include "migration_files.h"

typedef struct required_indexes required_indexes;

/*
 * Read the indexer config at path (only if some migration in pending needs
 * an index) and check that every required name is defined there with state
 * present.  Returns EXIT_OK with *out set (NULL when nothing is required),
 * or EXIT_USAGE after logging every problem (file and line named).
 */
int required_load(const char *path, const char *schema, migration *const *pending, int n_pending,
				  required_indexes **out);

/*
 * Make sure every index m requires exists, valid and ready, building it
 * concurrently if not.  conn is the migrator's connection (idle between
 * migrations: it watches the build); the indexer's run lock is taken for
 * the build, waiting up to lock_wait_ms.  Returns EXIT_OK, or an exit code
 * with *final_error set (caller frees) after logging.
 */
int required_build(required_indexes *ri, const migration *m, PGconn *conn, const conn_options *conn_opts,
				   int64_t lock_timeout_ms, int64_t statement_timeout_ms, int retries, int64_t lock_wait_ms,
				   char **final_error);

/* Accepts NULL. */
void required_free(required_indexes *ri);

#endif /* REQUIRED_INDEX_H */
