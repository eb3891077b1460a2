/*-------------------------------------------------------------------------
 *
 * metrics.h
 *	  A run's state in the Prometheus text exposition format (0.0.4): a tiny
 *	  writer, the atomic file for node_exporter's textfile collector, and a
 *	  push to a Pushgateway.
 *
 * The programs fill a metrics set with gauges (name, labels, value) and
 * call metrics_finish once, at the end of a run: it adds the run's own
 * series (exit code, last run, last success), renders the text, writes it
 * to --metrics-file and pushes it to --metrics-push.
 *
 * The text is stable: families sorted by name, each with its HELP and TYPE
 * lines (one without samples is left out), samples sorted by their label text; label values escape \\, " and
 * newline as the format requires.  Two runs in the same state write the
 * same bytes but for the timestamps.
 *
 * The file is never half-written: the text goes to a temporary file in the
 * same directory (its name does not end in .prom, so the collector never
 * reads it), which is fsynced and renamed over PATH, then the directory is
 * fsynced.  A reader sees the old file or the new one, whole.
 *
 * The last success survives a failed run: metrics_finish reads the
 * previous file at PATH back and carries its last-success sample over.
 *
 * The push loads libcurl (libcurl.so.4) with dlopen only when a URL is
 * given, so that a run without it pays nothing for libcurl's libraries at
 * start-up (issue 13).  The text goes with PUT (the group's metrics are
 * replaced) when it carries a last-success sample, and with POST (only the
 * families pushed are replaced) when it does not, so that a failed run
 * without --metrics-file never erases the last success the Pushgateway
 * holds.
 *
 * A run that ends with EXIT_LOCKED (another run holds the lock) writes and
 * pushes nothing: the run holding the lock reports when it ends, and a busy
 * cron tick must not replace its states with none.
 *
 * The programs probe the file at start-up (metrics_check_file), so that a
 * path no run could write is a usage error before any work.  A write or
 * push that still fails at the end is one error line on stderr; metrics_finish
 * then returns EXIT_CHANGE_FAILED when the run had succeeded, and the run's
 * own code otherwise: a metrics failure is never silent and never hides the
 * run's real outcome.  Nothing here exits.
 *
 * common/metrics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TOOLKIT_METRICS_H
#define TOOLKIT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics;

/* Where the text goes: either may be NULL (then that part is skipped). */
typedef struct metrics_target
{
	const char *file; /* --metrics-file PATH */
	const char *push; /* --metrics-push URL */
} metrics_target;

/* Is there anywhere to send metrics?  false for NULL. */
bool metrics_wanted(const metrics_target *t);

/*
 * A new, empty set whose metric names all start with prefix
 * ("pg_schema_indexer_") and whose run series carry command="COMMAND".
 * Never fails (out of memory exits, memory.h).
 */
metrics *metrics_new(const char *prefix, const char *command);

/*
 * Declare the family prefix + name as a gauge with its help line.  Adding
 * samples to a family never declared is a caller bug: they are dropped.
 */
void metrics_declare(metrics *m, const char *name, const char *help);

/*
 * One sample of the family prefix + name.  labels is NULL or a list of
 * name, value pairs ended by NULL, in the order they are to be printed;
 * values are escaped here.  A sample with the same labels as an earlier
 * one replaces it.
 */
void metrics_set(metrics *m, const char *name, const char *const *labels, double value);

/* The text: sorted, one HELP and TYPE per family.  Caller frees. */
char *metrics_render(const metrics *m);

/*
 * Write text to path atomically (temporary file, fsync, rename, directory
 * fsync).  true, or false with why filled (the step and errno's words);
 * the temporary file is removed on failure and the old file is untouched.
 */
bool metrics_write_file(const char *path, const char *text, char *why, size_t whylen);

/*
 * Can a run write path?  Probed as metrics_write_file writes: its
 * temporary file is created in path's directory and removed, and path
 * itself must not be a directory.  true, or false with why filled.  The
 * programs call it at start-up, so that a path the run could never write
 * is a usage error (exit 2) before anything changes, not a failure that
 * turns a run which did its work into exit 1 at the end.  (A directory
 * that becomes unwritable during the run is still caught at the end.)
 */
bool metrics_check_file(const char *path, char *why, size_t whylen);

/*
 * The value of the sample whose series text (name and labels exactly as
 * metrics_render prints them, e.g. "x_total{command=\"up\"}") is series in
 * the file at path.  false when the file, or the sample, is not there or
 * does not parse.
 */
bool metrics_read_sample(const char *path, const char *series, double *value);

/*
 * A push URL may carry a password (http://user:password@host/...).  It is
 * checked before the run (metrics_push_url_check), shown only masked
 * (metrics_url_masked: "http://user:***@host/..."), and overwritten in
 * argv once copied (metrics_take_url_arg), as --dsn's password is.  A
 * password with an unencoded "@" or "/" is refused: the host would be
 * read from part of it (CONNINFO_ENCODE_ADVICE says how to write it).
 */

/*
 * true when url can be pushed to: http:// or https://, and a password (if
 * any) percent-encoded.  Otherwise false with why filled (why may be NULL):
 * the masked URL and what is wrong with it, never the password.
 */
bool metrics_push_url_check(const char *url, char *why, size_t whylen);

/* url with the password of its userinfo replaced by "***".  Caller frees. */
char *metrics_url_masked(const char *url);

/*
 * Keep a copy of the command-line URL arg for the run and overwrite its
 * password in place with '*' (argv memory, which the process list shows).
 * Returns the copy (kept for the run: never free it).
 */
char *metrics_take_url_arg(char *arg);

/*
 * Send text to url with method ("PUT" or "POST") through libcurl, loaded
 * now with dlopen.  true on a 2xx answer, else false with why filled (no
 * libcurl, the transfer's error, or the HTTP status and the first line of
 * the answer; the URL masked, the password never in it).  Bounded: 5s to
 * connect, 30s in all; SIGINT/SIGTERM during
 * the transfer ends it at once (why: "interrupted by SIGTERM"), and when a
 * signal came before it (an interrupted run reporting its exit code) it
 * gets CANCEL_CONFIRM_MS in all, so that the run still ends within the
 * cancel's bounds (cancel.h).
 */
bool metrics_push(const char *url, const char *method, const char *text, char *why, size_t whylen);

/*
 * The end of a run: add the run series (last_run_exit_code,
 * last_run_timestamp_seconds, last_run_duration_seconds and
 * last_success_timestamp_seconds: now when rc is 0, else the previous
 * file's), then write and push.  Returns rc, or EXIT_CHANGE_FAILED when rc
 * was 0 and a write or push failed (logged), or the cancel exit code when
 * a signal arrived during the push (logged last: "interrupted by SIGTERM
 * while pushing the metrics to ...", with rc).  Frees nothing.
 */
int metrics_finish(metrics *m, const metrics_target *t, int rc, double duration_s);

void metrics_free(metrics *m);

#endif /* TOOLKIT_METRICS_H */
