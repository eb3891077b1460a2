/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  What the database holds for the definitions: one catalog query.
 *
 * catalog_load() sends the schemas, tables and names of all definitions as
 * three array parameters and gets one row per definition back: does the
 * schema exist, the table (its kind and size), a relation of that name in
 * that schema (what kind; if an index: on which table, valid, ready, its
 * pg_get_indexdef(), the constraints that use it, a backend building it
 * right now, its size), and the leftovers around it (REINDEX
 * CONCURRENTLY's _ccnew/_ccold, our own _ixnew/_ixold of a rebuild).  A
 * definition that is in line costs nothing more.
 *
 * The query reads only catalogs and statistics views: it takes no lock on
 * any table, so a migration holding ACCESS EXCLUSIVE does not stall it.
 * Sizes are therefore the planner's estimates (relpages), good enough to
 * order the work biggest first.
 *
 * The other queries here serve particular needs: the partitions of a
 * partitioned table (only when its index must be built), the state of one
 * index (after a build), and every index on the covered tables (status).
 *
 * indexer/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_CATALOG_H
#define INDEXER_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "definitions.h"
#include "pgerr.h"

/* A leftover index next to a definition's. */
typedef struct catalog_leftover
{
	char *name;
	bool  valid;
	char *comment;     /* its COMMENT, "" if none */
	char *constraints; /* the constraints that use it ("a, b"), "" if none */
	char *indexdef;    /* pg_get_indexdef() */
} catalog_leftover;

/* The index of a constraint on the definition's table. */
typedef struct catalog_constraint_index
{
	char *constraint;
	char *index;
	bool  valid;
	char *indexdef;
} catalog_constraint_index;

typedef struct catalog_entry
{
	bool              schema_exists;
	char             *table_oid;   /* NULL when the table does not exist */
	char              table_kind;  /* its relkind, 0 when missing */
	int64_t           table_bytes; /* estimate, partitions included */
	char             *rel_oid;     /* relation named like the index; NULL if none */
	char              rel_kind;    /* its relkind, 0 when none */
	bool              is_index;    /* rel is an index (relkind i or I) */
	bool              on_table;    /* ... on the definition's table */
	char             *other_table; /* "schema.table" it is on, when not */
	bool              valid;
	bool              ready;
	char             *indexdef;    /* pg_get_indexdef(), NULL if not an index */
	char             *constraints; /* constraints using it ("a, b"), or NULL */
	int               build_pid;   /* backend building it now, 0 if none */
	int64_t           index_bytes; /* estimate */
	catalog_leftover *leftovers;
	int               n_leftovers;
	/* when the name is free: the indexes of constraints on the table */
	catalog_constraint_index *con_indexes;
	int                       n_con_indexes;
	/* the table was locked: nothing above is known (see catalog_load) */
	bool  unknown;
	char *unknown_why;
} catalog_entry;

/* One partition (at any depth) of a partitioned table. */
typedef struct catalog_partition
{
	char *oid;
	char *parent_oid;
	int   level; /* 1: a direct partition */
	char  kind;  /* relkind: r, p, f */
	char *schema;
	char *name;
	char *attached_index; /* its index in the tree, NULL if none */
	bool  attached_valid;
} catalog_partition;

/* An index on a covered table, for status. */
typedef struct catalog_index
{
	char *schema;
	char *table;
	char *name;
	bool  valid;
	char *constraints; /* NULL if none */
	char *signature;   /* equal for indexes that index the same */
	char *indexdef;
} catalog_index;

/* The state of one index after a build or drop. */
typedef struct catalog_index_state
{
	bool        exists;
	bool        valid;
	bool        ready;
	bool        on_table; /* on the table whose oid was given */
	const char *indexdef; /* pg_get_indexdef(), into the result it was read
						   * from; NULL when not read */
} catalog_index_state;

/*
 * The name base + suffix, made to fit 63 bytes: when longer, it is cut at
 * a character boundary to 54 bytes and "_" and 8 hex digits of a hash of
 * the full name are added, so different long names stay different.
 * Caller frees.
 */
char *catalog_derived_name(const char *base, const char *suffix);

/*
 * Run the catalog query for defs[0..n-1] over conn, every lock wait bounded
 * by lock_timeout_ms (0: none).  When a table is locked past it, the tables
 * held (or queued for) in ACCESS EXCLUSIVE mode are found in pg_locks,
 * named with their holders in a warning, and left out: their definitions
 * get unknown = true and unknown_why; the query is run again for the rest.
 * Returns EXIT_OK with *out an array of n entries in the same order (free
 * with catalog_free), or logs the failure and returns EXIT_UNREACHABLE, or
 * the cancel exit code when a signal interrupted it.  *round_trips is
 * increased by the statements sent.
 */
int catalog_load(PGconn *conn, index_def *const *defs, int n, int64_t lock_timeout_ms, catalog_entry **out,
				 int *round_trips);

void catalog_free(catalog_entry *entries, int n);

/*
 * The partitions of the partitioned table table_oid, parents before their
 * children; attached_index is each partition's index in the tree of the
 * index schema.index_name (none when that does not exist yet).  Returns
 * the count, or -1 after filling err.
 */
int catalog_partitions(PGconn *conn, const char *table_oid, const char *schema, const char *index_name,
					   catalog_partition **out, db_error *err);

void catalog_partitions_free(catalog_partition *parts, int n);

/*
 * The state of schema.name (relative to table table_oid).  Returns true
 * and fills *st, or false with err filled.  Its SQL text, for sending it
 * asynchronously with the parameters (schema, name, table_oid), is
 * CATALOG_INDEX_STATE_SQL, and catalog_index_state_from() reads its result.
 */
extern const char *const CATALOG_INDEX_STATE_SQL;
void                     catalog_index_state_from(const PGresult *res, catalog_index_state *st);

/*
 * The states of several relations of the same name list, for partitions:
 * for each i, is schemas[i].names[i] an index on table_oids[i], valid?
 * states[] must hold n.  Returns true or false with err filled.
 */
bool catalog_index_states(PGconn *conn, const char *const *schemas, const char *const *names,
						  const char *const *table_oids, int n, catalog_index_state *states, db_error *err);

/*
 * Every index on the tables (schemas[i], tables[i]), lock waits bounded by
 * lock_timeout_ms (0: none).  Returns the count (free with
 * catalog_indexes_free) or -1 after logging.
 */
int catalog_indexes(PGconn *conn, const char *const *schemas, const char *const *tables, int n,
					int64_t lock_timeout_ms, catalog_index **out);

void catalog_indexes_free(catalog_index *idx, int n);

/* "table", "view", "sequence", ... for a relkind. */
const char *catalog_relkind_name(char relkind);

#endif /* INDEXER_CATALOG_H */
