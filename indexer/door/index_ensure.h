/*-------------------------------------------------------------------------
 *
 * index_ensure.h
 *	  The one door from the migrator into the indexer: make sure an index
 *	  exists, valid and ready, building it with the indexer's engine.
 *
 * The migrator builds indexes in two places, both with the indexer's own
 * engine (table-lock-only timeout by its watchdog, invalid leftover repair
 * after checking that nobody still builds it, retries), concurrently and
 * outside any transaction:
 *
 *  - "-- migrator:requires-index NAME": the definition NAME of the
 *	  indexer's definitions file, before the migration runs:
 *	  index_definitions_load(), index_definitions_lookup(), index_ensure();
 *  - a CREATE INDEX CONCURRENTLY of a no-transaction migration, which
 *	  becomes a definition of its own (name, schema and table from its
 *	  parse tree, the statement itself as the SQL, critical):
 *	  index_statement_parse(), index_ensure_statement().
 *
 * This header is the whole interface: the migrator's include path holds
 * this directory and common/, never the engine's own headers (CMake target
 * indexer_door; scripts/check_includes.py checks the include graph).  The
 * caller owns the session: it takes the indexer's run lock (advlock.h)
 * before and releases it after, and gives the engine conn with an empty
 * search_path (the engine's own SQL resolves in pg_catalog only).
 *
 * indexer/door/index_ensure.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_INDEX_ENSURE_H
#define INDEXER_INDEX_ENSURE_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "conn.h"
#include "pgerr.h"

/* What the engine takes from the caller's options. */
typedef struct index_ensure_options
{
	const conn_options *conn_opts;            /* for the engine's build connections */
	const char         *schema;               /* --schema: where unqualified tables are */
	int64_t             lock_timeout_ms;      /* bound on the wait for the table lock */
	int64_t             statement_timeout_ms; /* 0 = none; -1 = the session's own
											   * (DSN options, role, database) */
	int                 retries;
	bool                progress; /* a progress bar when stderr is a terminal */
} index_ensure_options;

/* ---- requires-index: definitions of the indexer's file ----------------- */

/* The indexer's definitions file, read and checked; opaque. */
typedef struct index_definitions index_definitions;

/* What the file says about a name. */
typedef enum index_lookup
{
	INDEX_LOOKUP_PRESENT,   /* defined, state "present": it can be ensured */
	INDEX_LOOKUP_UNDEFINED, /* no definition of that name */
	INDEX_LOOKUP_ABSENT     /* defined with state "absent" */
} index_lookup;

/*
 * Read and check the definitions file at path, unqualified tables in
 * schema.  Returns EXIT_OK with *out set, or EXIT_USAGE with *out NULL
 * after logging every problem (file and line named).  Never connects.
 */
int index_definitions_load(const char *path, const char *schema, index_definitions **out);

/* Look name up; *line gets the line of its definition when there is one. */
index_lookup index_definitions_lookup(const index_definitions *defs, const char *name, int *line);

/* Accepts NULL. */
void index_definitions_free(index_definitions *defs);

/*
 * Make sure the index name (INDEX_LOOKUP_PRESENT in defs) exists, valid and
 * ready, building it concurrently if not; conn watches the build and is
 * idle otherwise.  An index that exists with another definition is used as
 * it is.  Returns EXIT_OK, or an exit code with *why set to a one-line
 * reason (caller frees) after the engine logged the details.
 */
int index_ensure(PGconn *conn, index_definitions *defs, const char *name, const index_ensure_options *opts,
				 char **why);

/* ---- a migration's own CREATE INDEX statement -------------------------- */

struct index_def; /* the engine's definition, opaque here */

/* A CREATE INDEX statement as the indexer reads it.  Strings never NULL. */
typedef struct index_statement
{
	const char       *name;   /* "" when the statement names no index */
	const char       *schema; /* the relation's own, else the default given */
	const char       *table;
	bool              concurrent;
	bool              if_not_exists;
	struct index_def *def;
} index_statement;

/*
 * Parse sql, found at line of its file, which must be exactly one CREATE
 * INDEX statement; default_schema is where an unqualified table is.
 * Returns true with *out filled (free with index_statement_free()), or
 * false (not such a statement) with *out empty.  Never prints.
 */
bool index_statement_parse(const char *sql, int line, const char *default_schema, index_statement *out);

/* Release what st holds; accepts NULL and an empty one. */
void index_statement_free(index_statement *st);

/*
 * Build st with the engine (opts->schema is ignored: st->schema is where it
 * resolves), watched over conn.  IF NOT EXISTS leaves a valid index alone
 * (a definition that differs is named in a warning); without it an
 * existing valid index fails with 42P07, as the server would.  An invalid
 * one is always rebuilt.  Returns true only when the index is valid and
 * ready on its table at the end; otherwise false with err filled: never a
 * class to retry (the engine has retried already); PGERR_CONNECTION_LOST
 * when conn or the build connections were lost, PGERR_CANCELED_BY_US on a
 * signal.
 */
bool index_ensure_statement(PGconn *conn, const index_statement *st, const index_ensure_options *opts,
							db_error *err);

#endif /* INDEXER_INDEX_ENSURE_H */
