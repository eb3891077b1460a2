/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  Running a migration's verify statements, read-only.
 *
 * A verify file holds SELECT statements that state what the application
 * needs of the schema.  Each must return at least one row, its first column
 * boolean, every value true: zero rows, false, NULL, another type or an
 * error is a failure.
 *
 * They run inside the caller's open transaction, switched to read-only for
 * their duration (transaction_read_only, so a data-modifying CTE or a
 * volatile function that writes is refused by the server, whatever lint
 * let through), with search_path set to the schema only around them.  A
 * savepoint is rolled back around them, so that nothing they did to the
 * session (set_config, a temporary table) outlives them and the caller's
 * transaction is usable after a failing statement; afterwards search_path
 * is back to empty (locally), as the toolkit's own SQL needs it.
 *
 * Used by "up" (after a migration's statements) and "baseline" (for every
 * migration it records, in one read-only transaction that is rolled back).
 *
 * migrator/verify.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef VERIFY_H
#define VERIFY_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "migration_files.h"
#include "pgerr.h"
#include "pipeline.h"

/* Why a verify failed: where, and a server error or the rule broken. */
typedef struct verify_failure
{
	const char *path;    /* the verify file (not owned) */
	int         line;    /* of the failing statement; 0 before the first */
	db_error    err;     /* a server error; cls PGERR_NONE otherwise */
	char       *problem; /* "verify query returned no rows", ...; or NULL */
} verify_failure;

/*
 * Run m's verify statements (m parsed; none is a success) on conn, which
 * must be inside an open transaction block: otherwise nothing runs and the
 * call fails with a problem saying so.  schema is the search_path of the
 * statements.  Returns true when every statement holds; otherwise false
 * with f filled (the caller clears it with verify_failure_clear).  Either
 * way the caller's transaction is as it was before the call (read-write if
 * it was), except that search_path is empty until its end.  A SIGINT or
 * SIGTERM cancels the statement in flight (f->err.cls PGERR_CANCELED_BY_US).
 */
bool verify_run(PGconn *conn, const migration *m, const char *schema, verify_failure *f);

/*
 * verify_run's statements appended to the pipeline p (for conn, which must
 * be inside the migration's open transaction when p runs): the same
 * savepoint, read-only switch, search_path and rules; a statement's
 * result that breaks them fails p with the problem.  Returns the index of
 * the first verify statement in p (they follow in order), or -1 when the
 * schema name cannot be quoted (nothing appended).  m must have verify
 * statements.
 */
int verify_pipeline_add(pipeline *p, PGconn *conn, const migration *m, const char *schema);

/* "SQLSTATE: message" or the problem, for a log line; caller frees. */
char *verify_failure_describe(const verify_failure *f);

void verify_failure_clear(verify_failure *f);

#endif /* VERIFY_H */
