/*-------------------------------------------------------------------------
 *
 * statement_index.h
 *	  CREATE INDEX CONCURRENTLY in a no-transaction migration, built by the
 *	  indexer's engine instead of run as a plain statement.
 *
 * Run as a plain statement, a concurrent build is bounded by the session's
 * lock_timeout, which also bounds its waits for older transactions: a
 * healthy build is killed whenever a long transaction runs anywhere, and
 * leaves an INVALID index that the next run's IF NOT EXISTS then skips,
 * so "up" and "check" pass over an index the application cannot use.
 *
 * Instead, the statement becomes a definition for the indexer's engine
 * (through its one door, index_ensure.h): name, schema and table from the
 * statement's parse tree (the table's own schema, else --schema), the
 * statement itself as the SQL, critical.  The engine bounds only the wait for the table lock by
 * --lock-timeout (its watchdog), lets waits for older transactions run
 * (bounded by --statement-timeout only), repairs an invalid index of that
 * name (after checking in pg_stat_progress_create_index that nobody is
 * still building it) and drops what a failed build leaves behind.  The
 * build resolves names in the table's schema, which for an unqualified
 * table is --schema, the statement's own search_path: an operator class
 * installed there still resolves.
 *
 * IF NOT EXISTS keeps its meaning for a valid index: it is left alone (a
 * definition that differs is named in a warning); without IF NOT EXISTS
 * an existing valid index fails as the server would (42P07).  An invalid
 * one is always rebuilt.  Whatever happens, the statement succeeds only
 * when the index is valid and ready at the end.
 *
 * A CREATE INDEX CONCURRENTLY without a name cannot be repaired or even
 * found again after a failure, so it is refused before anything runs.
 *
 * migrator/statement_index.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef STATEMENT_INDEX_H
#define STATEMENT_INDEX_H

#include <stdbool.h>

#include "apply.h"
#include "migration_files.h"
#include "pgerr.h"
#include "sqlparse.h"

/*
 * Whether st, a statement of m, is built by the engine: a CREATE INDEX
 * CONCURRENTLY in a no-transaction migration.  Never fails.
 */
bool statement_index_routed(const migration *m, const sql_statement *st);

/*
 * Check the concurrent index builds of the pending migrations before
 * anything is applied.  Returns EXIT_OK, or EXIT_USAGE after logging one
 * "path:line: ..." error for every CREATE INDEX CONCURRENTLY without an
 * index name.
 */
int statement_index_check(migration *const *pending, int n_pending);

/*
 * Build the index st (statement_index_routed() is true) with the engine,
 * on its own connection, watched over ctx->conn (whose search_path is
 * empty during the build and --schema again afterwards).  Returns true when
 * the index is valid and ready; otherwise false with err filled (never a
 * class apply.c would retry: the engine has retried already), after the
 * engine logged the details.
 */
bool statement_index_build(apply_ctx *ctx, const migration *m, const sql_statement *st, db_error *err);

#endif /* STATEMENT_INDEX_H */
