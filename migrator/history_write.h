/*-------------------------------------------------------------------------
 *
 * history_write.h
 *	  The history table's writes: a migration's row, repair's changes,
 *	  baseline's rows.
 *
 * Every write goes in one round trip with the lock and the guard in front
 * of it (history.h's history_lock_sql and history_guard_sql), to the
 * target history_target names (the view bound to the trusted table by
 * OID, made first when needed: history_bind), and must change exactly the
 * rows it means to; a judge says so when it does not.
 *
 * migrator/history_write.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef HISTORY_WRITE_H
#define HISTORY_WRITE_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "history.h"

/*
 * The statement history_record runs, to send in a pipeline (migrator's
 * apply_pipeline.c): history_write_prepare fills r (the caller frees r->sql;
 * name, checksum, status and failure must outlive r; duration_ms < 0: the
 * server's time since the transaction began) for a plain INSERT of a new
 * row, history_write_replaces_failed for the UPDATE of the version's
 * 'failed' row instead (the r->values are HISTORY_WRITE_NPARAMS
 * parameters); history_write_judge (a
 * pipeline_judge_fn, row is the history_write) returns NULL when the result
 * says that exactly one row was written, else the problem (caller frees).
 */
#define HISTORY_WRITE_NPARAMS 8

typedef struct history_write
{
	char        vbuf[24], dbuf[24], host[256];
	const char *values[HISTORY_WRITE_NPARAMS];
	char       *sql;
	int64_t     version;
	int64_t     recorded_ms; /* the duration_ms the row got, once judged (-1 before) */
} history_write;
void history_write_prepare(history_write *r, const history_table *ht, int64_t version, const char *name,
						   const char *checksum, const char *status, int64_t duration_ms,
						   const char *failure);
/* row_failed: the run found the version's row 'failed': update it, only from 'failed'. */
void  history_write_replaces_failed(history_write *r, bool row_failed);
char *history_write_judge(void *row, const PGresult *res);

/*
 * Write the row of version (in the caller's transaction, if any): a plain
 * INSERT of a new row, or with row_failed (the run found the version's row
 * 'failed') the UPDATE of that row, only while it is 'failed'; exactly one
 * row, or it fails.  failure may be NULL.  duration_ms -1: the server's time since the
 * transaction began.  *recorded_ms (may be NULL) gets the duration_ms the
 * row got, the one value that status shows and the "applied" line prints.
 * Returns true, or false and fills err.
 */
bool history_record(PGconn *conn, const history_table *ht, int64_t version, const char *name,
					const char *checksum, const char *status, int64_t duration_ms, const char *failure,
					bool row_failed, int64_t *recorded_ms, struct db_error *err);

/* Set the checksum of an applied version (repair). */
bool history_set_checksum(PGconn *conn, const history_table *ht, int64_t version, const char *checksum);

/* Delete the row of a version (repair --forget-missing). */
bool history_forget(PGconn *conn, const history_table *ht, int64_t version);

/*
 * baseline's row of version, applied, with how it was adopted (in the
 * caller's transaction, the table made current by history_ensure): the
 * lock, the guard, the row and its note in one round trip, as every write
 * (history_record); cancellable, since nothing it describes is done yet.
 * Returns true, or false with err filled (also when a write changed
 * another number of rows than one).
 */
bool history_record_baseline(PGconn *conn, const history_table *ht, int64_t version, const char *name,
							 const char *checksum, const char *how, struct db_error *err);

#endif /* HISTORY_WRITE_H */
