/*-------------------------------------------------------------------------
 *
 * apply_pipeline.h
 *	  A transactional migration up to COMMIT in one round trip, and the
 *	  watch and notice handling every migration statement shares.
 *
 * BEGIN, the SET LOCALs, the migration's statements, a guard that the
 * transaction is still the migration's, the history row, the verify file
 * (read-only, in a savepoint) and the run lock's confirmation go out in
 * one pipeline (common/pipeline.h); every result is read before anything
 * is decided, and COMMIT is never part of it: the caller sends COMMIT only
 * after this returned true, so a verify that returned false or a history
 * insert of zero rows can never commit.  The first failing entry names the
 * failure (file:line of its statement); the aborted ones after it do not.
 *
 * The COMMIT of the migration before it, when one is held (apply.h:
 * ctx->held, a quiet migration whose batch held), rides in front of the
 * batch in the same write, with no Sync between: a COMMIT that fails
 * aborts everything after it, so nothing of this migration runs, and this
 * migration's own COMMIT is still sent only after all of its results were
 * read.  The held migration is applied (apply_note_applied) the moment
 * its COMMIT's answer is read, before any answer of this batch.
 *
 * A migration rides in a pipeline only when nothing in it needs a round
 * trip of its own (apply_pipeline_eligible): no-transaction files,
 * COPY, transaction control, CREATE FUNCTION/PROCEDURE (checked after it
 * runs, skipped_object.h) and large files go statement by statement.  When
 * a statement's NOTICE says that a CREATE ... IF NOT EXISTS skipped, the
 * object must be checked right after that statement: the attempt asks the
 * caller to roll back and run the migration statement by statement.
 *
 * migrator/apply_pipeline.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef APPLY_PIPELINE_H
#define APPLY_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "apply.h"
#include "blockers.h"
#include "migration_files.h"
#include "pgerr.h"

/* how often the blockers of a waiting statement are sampled */
#define APPLY_SAMPLE_EVERY_MS 200

/* the failure of a statement that ended the migration's transaction */
#define APPLY_TX_ENDED                                                                                       \
	"the statement ended the migration's transaction (COMMIT or ROLLBACK inside a migration): what ran "     \
	"before it may be committed; nothing is recorded, fix the file and check the schema"

/* Where a failure happened, for the final line. */
typedef struct apply_failure
{
	const char      *path;
	int              line;
	db_error         err;
	char            *verify_problem; /* set for a verify that returned no truth */
	const migration *commit_of;      /* set when the failure is the COMMIT of
								 * this held migration, path:line its last
								 * statement's: the batch behind it never
								 * ran (or, on a signal, is rolled back) */
	bool             at_commit;      /* the COMMIT failed (a deferred check) */
	bool             not_started;    /* the session could not be made ready
								 * for it (its reset, its settings, the
								 * history's view): none of it ran, and
								 * the file is not at fault */
} apply_failure;

/* What is known about the statement in flight, for the watch. */
typedef struct statement_watch
{
	apply_ctx   *ctx;
	int          backend_pid;
	const char  *where; /* "path:line" */
	blocker_list last;  /* last non-empty sample */
	int64_t      last_report_ms;
} statement_watch;

/*
 * A db_tick_fn (arg: a statement_watch): samples the blockers of a
 * statement that has waited long enough, logs a long wait; never cancels
 * (lock_timeout bounds the wait).
 */
bool apply_watch_tick(void *arg, int64_t elapsed_ms);

/* Where the server's notices come from while a migration's statement runs. */
typedef struct notice_origin
{
	const migration *m;
	const char      *where;     /* "path:line" */
	int              n_skipped; /* "already exists, skipping" notices */
} notice_origin;

/*
 * A PQnoticeReceiver (arg: a notice_origin): logs the NOTICE or WARNING
 * attributed to the statement and counts skipped CREATE ... IF NOT EXISTS.
 */
void apply_notice(void *arg, const PGresult *res);

/*
 * One migration statement on its own, with the watch and its notices; an
 * IF NOT EXISTS that skipped is checked (skipped_object.h).  False fills
 * err; the blockers last seen go to blockers_seen.
 */
bool apply_run_statement(apply_ctx *ctx, const migration *m, const sql_statement *st, db_error *err,
						 blocker_list *blockers_seen);
/*
 * m's verify statements one by one, read-only (verify.h); false fills f.
 * Their notices are the migration's, each at its statement's line; a
 * no-transaction migration's verify gets a transaction of its own.
 */
bool apply_run_verify(apply_ctx *ctx, migration *m, apply_failure *f);

/* Can m ride in one pipeline (see above)? */
bool apply_pipeline_eligible(const apply_ctx *ctx, const migration *m);

/*
 * One attempt of m up to COMMIT in one pipeline, on a session already
 * reset (the caller's).  Returns true when it may commit (the transaction
 * is open and every result held).  Otherwise false with f filled (path,
 * line, error or verify problem; seen has the blockers sampled), *in_tx
 * saying whether the transaction is still open, and *redo set when a
 * skipped CREATE ... IF NOT EXISTS needs the statement-by-statement path
 * (f then holds no error).  A COMMIT of ctx->held rides in front (see
 * above): ctx->held is NULL afterwards, and when that COMMIT did not
 * succeed (or its answer never came) f->commit_of names it and nothing of
 * m ran.
 */
bool apply_pipeline_until_commit(apply_ctx *ctx, migration *m, apply_failure *f, blocker_list *seen,
								 bool *in_tx, bool *redo);

#endif /* APPLY_PIPELINE_H */
