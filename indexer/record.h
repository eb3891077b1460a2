/*-------------------------------------------------------------------------
 *
 * record.h
 *	  The indexer's history table: a row when a build starts, its outcome
 *	  when it ends, one row a run for what was deferred; failure backoff
 *	  computed from it.
 *
 * The table (<--record-schema>.indexer_history, default the --schema) is
 * created on first use, only under the run lock, in a schema that exists
 * (created only with --create-schema), and refused when another role owns
 * it or it carries triggers, rules or policies (common/relation_trust.h),
 * and checked so again before every write, under a lock held to its
 * COMMIT: the schema's owner may drop our table mid-run and put an armed
 * one in its place.
 * Every statement is schema-qualified and runs on the run's main
 * connection, whose search_path is empty.  Times are the client's clock
 * (so that libfaketime moves them), durations its monotonic clock.
 *
 * A row that started and never finished is read back as "interrupted".
 * A write that fails is said on stderr, stops the writes of the run (the
 * builds go on) and gives record_failed() the exit code that common/pgerr.c's
 * policy table gives its error (1 for most, 3 for a lost connection); the
 * caller (cmd_build.c) uses it only for a run that otherwise succeeded,
 * never to turn a failure into success.  Nothing here exits.
 *
 * indexer/record.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef INDEXER_RECORD_H
#define INDEXER_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "plan.h"

#define RECORD_TABLE "indexer_history"

typedef struct record record;

typedef struct record_options
{
	const char *schema;        /* where the table lives */
	bool        create_schema; /* create the schema when it is missing */
	int64_t     keep_ms;       /* delete rows older than this; 0 = keep all */
	int64_t     backoff_after; /* failed runs in a row before backoff; 0 = never */
	bool        retry_failed;  /* ignore the backoff */
	const char *time_zone;     /* of the backoff's "until" time; NULL = UTC */
} record_options;

/*
 * Under the run lock: check the schema and the table (trust), create the
 * table when missing.  Rows past keep_ms are deleted with the run's first
 * write (a run that writes nothing opens no transaction; a failure of it
 * is record_failed()).  EXIT_OK with *out set; EXIT_USAGE (schema missing,
 * table not trusted), or the policy's exit code of the CREATE's error
 * (permission denied: 1), or EXIT_UNREACHABLE, after logging one error line.
 */
int record_open(PGconn *conn, const record_options *o, record **out);

/*
 * For plan: the table, read only (nothing created or deleted).  EXIT_OK
 * with *out NULL when there is none yet (nothing backs off) or this role
 * may not read it (a warning), or set; the
 * table is trusted as for reading (relation_trust.h): EXIT_USAGE or
 * EXIT_UNREACHABLE after logging one error line.  record_apply_backoff
 * on it marks the items and logs nothing; nothing may be written with it.
 */
int record_open_read(PGconn *conn, const record_options *o, record **out);

/*
 * Defer every work item of plan whose definition failed backoff_after runs
 * in a row and whose backoff (1h doubling to 1 day) has not passed:
 * it->deferred (DEFER_BACKOFF) says why ("is backing off until <time> (failed N runs in a
 * row; --retry-failed forces it)"), it->backoff_until and failed_runs say
 * it as data.  *critical: how many of them are critical (the run then
 * exits 1).  Returns EXIT_OK, or, the history unread (logged),
 * relation_trust_copy's EXIT_USAGE (the table refused) or
 * EXIT_UNREACHABLE.
 */
int record_apply_backoff(record *r, plan_item *plan, int n, int *critical);

/* A build starts: its row (action "started"); the row's id, 0 when not written. */
int64_t record_start(record *r, const plan_item *it);

/* It ended (outcome in it): the row's action, duration, error, size. */
void record_end(record *r, int64_t id, const plan_item *it, const char *sqlstate, const char *index_schema);

/*
 * The run ends: rows of this run still "started" become "interrupted"
 * (nothing is written when it started none);
 * deferred > 0 adds one run row (or counts one more run on the last one
 * when that was a run that only deferred).
 */
void record_close(record *r, int deferred);

/*
 * A guard (the replica guard, the size guard) refused to build it: one row
 * with action "refused" and message (which names the guard), so that
 * `indexer history` says why a run exited 1.  The backoff ignores such
 * rows (neither counted nor ending a streak): a guard's refusal says
 * nothing about the definition, and would otherwise hold back a critical
 * index once the replicas caught up.
 */
void record_refused(record *r, const plan_item *it, const char *message);

/* EXIT_OK, or the exit code of a write that failed (said on stderr). */
int record_failed(const record *r);

void record_free(record *r);

/*
 * indexer history: rows since since_ms ago (0 = all), of the names in
 * only[0..n_only-1] (none = all), oldest first, as a table on stdout or
 * one JSON object a line with json.  EXIT_OK, EXIT_USAGE or EXIT_UNREACHABLE.
 */
int record_print(PGconn *conn, const char *schema, int64_t since_ms, char **only, int n_only, bool json);

#endif /* INDEXER_RECORD_H */
