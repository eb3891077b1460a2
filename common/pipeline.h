/*-------------------------------------------------------------------------
 *
 * pipeline.h
 *	  A batch of statements in one round trip (libpq's pipeline mode),
 *	  every result read and judged.
 *
 * The entries are sent with PQsendQueryParams in pipeline mode, followed by
 * one Sync (and one after each sync mark), and then every result is read,
 * in order, while the socket is polled with the signal pipe and the
 * caller's watch (as db_run does: query.h), so that a statement stuck on a
 * lock can still be observed and a signal still cancels it.
 *
 * Success is decided per entry by libpq's result status and, for a result
 * of the expected status, by the entry's judge (a verify that returned
 * false, an insert of zero rows: the server saw no error, the caller does).
 * The first failing entry is the failure; the entries after a server error
 * answer PGRES_PIPELINE_ABORTED and are never reported as its cause.  A
 * failed judge does not stop the server: the caller must not commit what
 * the pipeline left open.
 *
 * Never used for COPY (libpq refuses it in a pipeline) nor for statements
 * that refuse a transaction block or a pipeline (CREATE INDEX
 * CONCURRENTLY): the caller decides what may ride in a batch.
 *
 * common/pipeline.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_PIPELINE_H
#define TOOLKIT_PIPELINE_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "pgerr.h"
#include "query.h"

/*
 * Judge a result of the expected status: NULL when it holds, else the
 * problem (caller frees).
 */
typedef char *(*pipeline_judge_fn)(void *arg, const PGresult *res);

typedef struct pipeline_entry
{
	char             *sql; /* owned; NULL: a sync mark */
	int               nparams;
	char            **values; /* owned copies (a NULL value stays NULL) */
	ExecStatusType    expect; /* as db_run's */
	pipeline_judge_fn judge;  /* may be NULL */
	void             *judge_arg;
	bool              quick; /* no flush after it (pipeline_set_quick) */
	char             *name;  /* owned; a prepared statement: its Parse
								* (prepare) or its Bind/Execute (sql is then
								* the name too); NULL: unnamed */
	bool              prepare;
} pipeline_entry;

typedef struct pipeline
{
	pipeline_entry *entries;
	int             n;
	int             cap;             /* allocated length (memory.h) */
	int             current;         /* the entry whose answer is awaited (for a watch) */
	int             failed;          /* the first failing entry; -1 while none */
	char           *problem;         /* its judge's problem; NULL for a server error */
	size_t          bytes;           /* the text sent, for the caller's size bound */
	bool            in_block;        /* set by the caller: nothing in it commits (a
								 * cancel that is not confirmed says so) */
	bool            uninterruptible; /* set by the caller: a signal neither
									  * stops it nor cancels it (db_run_ex's
									  * interruptible false: a history row
									  * that must be written) */
} pipeline;

void pipeline_init(pipeline *p);

/*
 * Append a statement (sql and values are copied).  Returns its index.
 */
int pipeline_add(pipeline *p, const char *sql, int nparams, const char *const *values, ExecStatusType expect,
				 pipeline_judge_fn judge, void *judge_arg);

/*
 * Append the Parse of a named prepared statement (answered COMMAND_OK), or
 * the execution of one with values (as pipeline_add).  A named statement
 * outlives the transaction and even a failed batch, until DISCARD ALL or
 * DEALLOCATE: the caller keeps track of what exists.  Returns its index.
 */
int pipeline_add_prepare(pipeline *p, const char *name, const char *sql, int nparams);
int pipeline_add_prepared(pipeline *p, const char *name, int nparams, const char *const *values,
						  ExecStatusType expect, pipeline_judge_fn judge, void *judge_arg);

/*
 * Append a Sync: a server error before it aborts the entries up to it only.
 * Returns its index (it has no result of its own to judge).
 */
int pipeline_add_sync(pipeline *p);

/*
 * Entry i cannot wait (no lock, no real work: BEGIN, SAVEPOINT, set_config):
 * the server need not flush its answer at once, it travels with the next
 * entry's that is flushed (pipeline_answer_entry), saving a send and a
 * wake-up of ours per entry.  Errors and notices are flushed by the server
 * in any case; while its answer is awaited, the statement the server may be
 * running is the answer entry's, which is the one a watch should name and
 * the one a lost connection is blamed on (p->failed).
 */
void pipeline_set_quick(pipeline *p, int i);

/*
 * The entry whose answer carries entry i's: the first entry from i on that
 * is not quick (the last entry when every one after i is).
 */
int pipeline_answer_entry(const pipeline *p, int i);

/*
 * Send every entry in one round trip (a closing Sync is added when the
 * last entry is not one) and read every result.  Returns true
 * when each had the expected status and its judge held.  Otherwise false:
 * p->failed names the first failing entry (-1 when the batch could not be
 * sent or the connection broke before any answer failed), err has the
 * server's or the connection's error (PGERR_OTHER with p->problem for a
 * judge), and a signal's cancel is classified PGERR_CANCELED_BY_US, as
 * db_run does.  Every result is read (unless the connection broke or a
 * cancel was not confirmed: then it is abandoned, see query.h) and the
 * connection is out of pipeline mode when it returns.  watch may be NULL;
 * its elapsed time counts from when the current entry's answer was first
 * awaited.
 */
bool pipeline_run(PGconn *conn, pipeline *p, const db_watch *watch, db_error *err);

/*
 * pipeline_run in two halves, for a caller with work of its own to do
 * while the server answers: pipeline_send pushes every entry out (false:
 * as pipeline_run's, nothing was read and the connection is out of
 * pipeline mode), pipeline_read then reads and judges every answer.  Call
 * pipeline_read after every pipeline_send that returned true, or close the
 * connection.
 */
bool pipeline_send(PGconn *conn, pipeline *p, db_error *err);
bool pipeline_read(PGconn *conn, pipeline *p, const db_watch *watch, db_error *err);

/*
 * A judge that keeps the result: stores a copy of it (its tuples too) in
 * *(PGresult **) slot, which the caller clears, and holds (returns NULL).
 * For a batch whose answers the caller reads after pipeline_run; a slot
 * stays NULL when its entry failed or was skipped.
 */
char *pipeline_keep_result(void *slot, const PGresult *res);

/* Release what p holds; accepts NULL. */
void pipeline_free(pipeline *p);

#endif /* TOOLKIT_PIPELINE_H */
