/*-------------------------------------------------------------------------
 *
 * query.h
 *	  Running one statement: asynchronously, cancellably, watched.
 *
 * Every statement is sent with PQsendQueryParams (the extended protocol,
 * which refuses a string of several statements: one statement per query,
 * always), then awaited with select() on the socket, so that a signal or a
 * watchdog can cancel it and a side channel can observe it while it runs.
 *
 * Success is decided only here, and only by libpq's result status: a
 * statement succeeded when every result it produced had the status the
 * caller expected.  Error classes never turn a failure into a success.
 *
 * common/query.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_QUERY_H
#define TOOLKIT_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "copy_rows.h"
#include "pgerr.h"

/*
 * Called every tick_ms while a statement runs, with the time it has run.
 * Return true to cancel the statement (a watchdog); the error that follows is
 * classified PGERR_CANCELED_BY_US.
 */
typedef bool (*db_tick_fn)(void *arg, int64_t elapsed_ms);

/*
 * For a statement whose kind the caller does not know (a migration's): a
 * command or rows both count as success.  Single-row mode is never turned on
 * here, so no result ever has the status this borrows.
 */
#define DB_EXPECT_ANY_OK PGRES_SINGLE_TUPLE

typedef struct db_watch
{
	db_tick_fn tick;
	void      *arg;
	int        tick_ms; /* > 0 */
} db_watch;

/*
 * Run sql with nparams text parameters.  expect is PGRES_COMMAND_OK,
 * PGRES_TUPLES_OK or DB_EXPECT_ANY_OK.  Returns true on success and, if res_out is not NULL,
 * hands the result to the caller (who PQclear()s it).  Returns false on any
 * failure and fills err (which the caller clears); no result is handed out.
 * watch may be NULL.  A SIGINT/SIGTERM cancels the statement (the request
 * goes out from a helper thread, see cancel.h): the call then returns false
 * with err->cls == PGERR_CANCELED_BY_US (or, if the statement finished
 * before the cancel arrived, its true outcome).  When no answer comes within
 * CANCEL_CONFIRM_MS of the signal (a silent network), the connection is
 * abandoned (cancel_abandon_connection: every later statement on it fails at
 * once), a warning says "cancel not confirmed", and the call returns false
 * with PGERR_CANCELED_BY_US; cancel_unconfirmed() is then true.
 */
bool db_run(PGconn *conn, const char *sql, int nparams, const char *const *values, ExecStatusType expect,
			PGresult **res_out, db_error *err, const db_watch *watch);

/*
 * db_run, and with interruptible false a signal neither stops the statement
 * from being sent nor cancels it: for the clean-up after a cancel (ROLLBACK,
 * recording a failure).  Bounded all the same: once a signal has come, its
 * answer is awaited CANCEL_CONFIRM_MS at most, then the connection is
 * abandoned as for an unconfirmed cancel ("the statement's outcome is not
 * known"), so that clean-up on a network gone silent never leaves the run
 * to the backstop.  A second signal still kills the program.
 */
bool db_run_ex(PGconn *conn, const char *sql, int nparams, const char *const *values, ExecStatusType expect,
			   PGresult **res_out, db_error *err, const db_watch *watch, bool interruptible);

/* The clock of one statement while its answer is awaited. */
typedef struct answer_wait
{
	int64_t start;      /* when the wait began, for the watch's elapsed time */
	int64_t next_tick;  /* when the watch is called next; INT64_MAX without one */
	int64_t confirm_by; /* after a signal's cancel; INT64_MAX before one */
	bool    canceled;   /* a cancel request went out */
} answer_wait;

/* A fresh clock, started now (watch may be NULL). */
answer_wait db_answer_wait_start(const db_watch *watch);

/*
 * Wait until the answer awaited on conn is in (!PQisBusy: a result can be
 * read without blocking, or the connection is in trouble, which PQgetResult
 * then tells), watching the clock, signals (when interruptible) and the
 * socket; calls watch->tick every tick_ms and cancels when it says so;
 * w->canceled says whether a cancel went out.  False when a signal's cancel
 * was not confirmed in time: the connection is then abandoned, its results
 * collected, and err says what that means (in_block: inside a transaction
 * block, so nothing can commit).  Not interruptible, no cancel is sent, but
 * the same bound applies once a signal has come.  db_run_ex and pipeline.h
 * use it.
 */
bool db_await_answer(PGconn *conn, const db_watch *watch, bool interruptible, bool in_block, answer_wait *w,
					 db_error *err);

/*
 * Run sql, a COPY ... TO STDOUT, and what may follow it in the same string
 * (a SELECT, a COMMIT: the simple protocol, the one place where a string
 * of several statements is sent), decoding the copy's rows into rows (copy_rows.h,
 * initialised by the caller with the column count).  Signals cancel it as
 * db_run.  True when every statement succeeded and the copy came first;
 * otherwise false with err filled, rows as far as they came (the caller
 * frees them either way), and the rest of the string not run.
 */
bool db_copy_out(PGconn *conn, const char *sql, copy_rows *rows, db_error *err);

/* A clean-up command (uninterruptible); a failure is logged as a warning. */
bool db_command_uninterruptible(PGconn *conn, const char *what, const char *sql);

/*
 * Does sql (with its nparams values) return a row?  1 or 0; -1 when it
 * failed, logged as db_query logs it.
 */
int db_exists(PGconn *conn, const char *what, const char *sql, int nparams, const char *const *values);

/* db_run without a watch, logging the failure as "<what>: <error>". */
PGresult *db_query(PGconn *conn, const char *what, const char *sql, int nparams, const char *const *values,
				   ExecStatusType expect);

/* Run a command and log a failure; true on success. */
bool db_command(PGconn *conn, const char *what, const char *sql);

/*
 * CREATE SCHEMA schema, for --create-schema once the schema was found
 * missing: never IF NOT EXISTS, which would adopt a schema another role
 * created since (and say "created" over it), whose owner may then drop or
 * rename whatever is put in it.  EXIT_OK; EXIT_USAGE (logged) when the
 * schema appeared meanwhile; EXIT_CHANGE_FAILED (logged) on another error.
 */
int db_create_schema(PGconn *conn, const char *schema);

/*
 * A one-dimensional text[] literal of items, every element double-quoted
 * with '"' and '\\' escaped ({"a","b c"}), to pass a list of values as one
 * parameter ($1::text[]).  A NULL item becomes a NULL element.  Never fails;
 * caller frees.
 */
char *db_text_array_literal(const char *const *items, int n);

#endif /* TOOLKIT_QUERY_H */
