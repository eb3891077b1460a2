/*-------------------------------------------------------------------------
 *
 * cmd_history.c
 *	  migrator status, check, repair and baseline: the commands that read
 *	  the history against the files, or write it without running SQL.
 *
 * migrator/cmd_history.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>

#include "cancel.h"
#include "exitcodes.h"
#include "history_write.h"
#include "log.h"
#include "memory.h"
#include "migrator.h"
#include "query.h"
#include "retry.h"

/*
 * No history row has a file: this is the wrong --dir (a typo, the wrong
 * release's directory) or the wrong database (another application's, of
 * the same history shape).  Advising "repair --forget-missing" there would
 * wipe a correct history.  Logs and returns true when so.
 */
static bool
report_wrong_target(const run_state *rs, const reconciliation *rec)
{
	char *target;

	if (rs->hist.n == 0 || rec->n_with_file > 0)
		return false;
	target = run_target_name(rs);
	log_event(
		LOG_LEVEL_ERROR, "wrong_dir_or_database", NULL,
		"none of the %d version%s recorded in \"%s\" of %s (%lld to %lld) has a file in \"%s\" (%d file%s there): this is the wrong --dir or the wrong database; nothing was changed",
		rs->hist.n, rs->hist.n == 1 ? "" : "s", rs->ht.display, target, (long long) rs->hist.rows[0].version,
		(long long) rs->hist.rows[rs->hist.n - 1].version, rs->opts->dir, rs->files.n,
		rs->files.n == 1 ? "" : "s");
	free(target);
	return true;
}

static void
report_ahead(const run_state *rs, const reconciliation *rec)
{
	const version_item *last = &rec->items[rec->n - 1];
	char               *failed = NULL;

	/* a newer release's no-transaction file that stopped part-way is no applied version */
	if (rec->n_ahead_failed > 0)
		failed = xasprintf(
			" (%d of them recorded as failed: a newer release's no-transaction migration stopped part-way, and "
			"the statements before its failure stay applied; that release's next run starts it again)",
			rec->n_ahead_failed);
	log_event(
		LOG_LEVEL_WARNING, "database_ahead", NULL,
		"the database is ahead of these files: %d newer version%s %s (up to %lld, \"%s\")%s, newest file here %lld; a newer release migrated it, nothing to do",
		rec->n_ahead, rec->n_ahead == 1 ? "" : "s",
		rec->n_ahead_failed == rec->n_ahead ? "recorded" : "applied", (long long) last->version,
		last->row->name, failed ? failed : "", (long long) rs->files.items[rs->files.n - 1].version);
	free(failed);
}

int
report_mismatches(const run_state *rs, const reconciliation *rec)
{
	char *target;

	if (report_wrong_target(rs, rec))
		return EXIT_HISTORY_MISMATCH;
	target = run_target_name(rs);
	for (int i = 0; i < rec->n; i++)
	{
		const version_item *it = &rec->items[i];

		if (it->state == VS_CHANGED)
			log_event(
				LOG_LEVEL_ERROR, "checksum_mismatch", NULL,
				"%s: applied migration %lld changed since it was applied to %s (checksum %.12s..., file now %.12s...); restore the file, or run \"migrator repair\" if the change is deliberate",
				it->m->path, (long long) it->version, target, it->row->checksum, it->m->checksum);
		else if (it->state == VS_MISSING)
			log_event(
				LOG_LEVEL_ERROR, "missing_file", NULL,
				"applied migration %lld (%s) is missing from \"%s\" (applied to %s); restore the file, or run \"migrator repair --forget-missing\"",
				(long long) it->version, it->row->name, rs->opts->dir, target);
	}
	if (rec->n_ahead > 0 && rec->n_mismatch == 0)
		report_ahead(rs, rec);
	if (rec->n_mismatch > 0)
	{
		log_event(
			LOG_LEVEL_ERROR, "history_mismatch", NULL,
			"the history disagrees with the files: %d mismatch%s (history \"%s\" of %s, files in \"%s\")",
			rec->n_mismatch, rec->n_mismatch == 1 ? "" : "es", rs->ht.display, target, rs->opts->dir);
		free(target);
		return EXIT_HISTORY_MISMATCH;
	}
	free(target);
	return EXIT_OK;
}

/*
 * check --wait-current keeps waiting through a server restart: when the
 * connection is gone, open a new one, waiting for the server up to the
 * deadline.  A cheap probe first, so that a restart is not an error line.
 */
static int
reconnect_if_lost(run_state *rs, int64_t deadline)
{
	conn_options copts = rs->opts->conn;
	db_error     err = {0};
	char        *why;

	if (db_run(rs->conn, "SELECT 1", 0, NULL, PGRES_TUPLES_OK, NULL, &err, NULL))
		return EXIT_OK;
	if (cancel_pending())
	{
		db_error_clear(&err);
		log_event(LOG_LEVEL_ERROR, "interrupted", NULL, "interrupted by %s while waiting for the schema",
				  cancel_signal_name());
		return cancel_exit_code();
	}
	if (PQstatus(rs->conn) == CONNECTION_OK && pgerr_action_for(err.cls) != PGERR_ACTION_RECONNECT)
	{
		db_error_clear(&err);
		return EXIT_OK; /* not a lost connection: history_load reports it */
	}
	why = db_error_format(&err);
	db_error_clear(&err);
	log_event(LOG_LEVEL_INFO, "reconnecting", NULL,
			  "lost the connection while waiting for the schema (%s); reconnecting", why);
	free(why);
	conn_close(rs->conn);
	rs->conn = NULL;
	copts.wait_ms = deadline > monotonic_ms() ? deadline - monotonic_ms() : 0;
	return conn_open(&copts, &rs->conn);
}

/* Sleep half a second, then read the history again; EXIT_OK to look again. */
static int
wait_and_reload(run_state *rs, int64_t deadline)
{
	int rc;

	if (!sleep_ms_interruptible(500))
	{
		log_event(LOG_LEVEL_ERROR, "interrupted", NULL, "interrupted by %s while waiting for the schema",
				  cancel_signal_name());
		return cancel_exit_code();
	}
	history_free(&rs->hist);
	rc = reconnect_if_lost(rs, deadline);
	if (rc == EXIT_OK)
		rc = history_load(rs->conn, &rs->ht, &rs->hist);
	return rc;
}

int
cmd_check(run_state *rs)
{
	int64_t deadline = monotonic_ms() + rs->opts->wait_current_ms;
	int64_t last_log = monotonic_ms();

	for (;;)
	{
		reconciliation      rec;
		int                 rc;
		char                failed_note[64] = "";
		const version_item *first;

		reconcile(&rs->files, &rs->hist, &rec);
		rc = report_mismatches(rs, &rec);
		migration_tally_note(&rs->tally, &rec, 0, 0, 0);
		if (rc != EXIT_OK || rec.n_pending == 0)
		{
			if (rc == EXIT_OK)
				log_event(LOG_LEVEL_INFO, "schema_current", NULL,
						  "schema is current at version %lld (%d migration%s)", (long long) rec.max_applied,
						  rs->files.n, rs->files.n == 1 ? "" : "s");
			reconcile_free(&rec);
			return rc;
		}
		first = reconcile_first_pending(&rec);
		if (rec.n_failed > 0)
			snprintf(failed_note, sizeof(failed_note), ", %d of them failed", rec.n_failed);

		/* --wait-current: poll until another process has applied them */
		if (monotonic_ms() < deadline)
		{
			if (monotonic_ms() - last_log >= 5000)
			{
				log_event(LOG_LEVEL_INFO, "waiting_current", NULL,
						  "waiting for the schema: %d pending%s (first: %s)", rec.n_pending, failed_note,
						  first->m->stem);
				last_log = monotonic_ms();
			}
			reconcile_free(&rec);
			rc = wait_and_reload(rs, deadline);
			if (rc != EXIT_OK)
				return rc;
			continue;
		}
		log_event(LOG_LEVEL_ERROR, "schema_behind", NULL,
				  "schema out of date: %d pending%s (first: %s) \xe2\x80\x94 run \"migrator up\"",
				  rec.n_pending, failed_note, first->m->stem);
		reconcile_free(&rec);
		return EXIT_BEHIND;
	}
}

static void
append_json_or_null(textbuf *sb, const char *text)
{
	if (text != NULL)
		textbuf_append_json(sb, text);
	else
		textbuf_append(sb, "null");
}

void
print_version_json(const version_item *it)
{
	textbuf sb;

	textbuf_init(&sb);
	textbuf_appendf(&sb, "{\"version\":%lld,\"name\":", (long long) it->version);
	textbuf_append_json(&sb, it->m ? it->m->name : it->row->name);
	textbuf_append(&sb, ",\"state\":");
	textbuf_append_json(&sb, reconcile_state_name(it->state));
	textbuf_append(&sb, ",\"file\":");
	if (it->m)
		textbuf_append_json(&sb, it->m->path);
	else
		textbuf_append(&sb, "null");
	if (it->row)
	{
		/* history_table's read_details: status and plan read them */
		textbuf_append(&sb, ",\"applied_at\":");
		append_json_or_null(&sb, it->row->applied_at);
		textbuf_appendf(&sb, ",\"duration_ms\":%lld,\"applied_by\":", (long long) it->row->duration_ms);
		append_json_or_null(&sb, it->row->applied_by);
		textbuf_append(&sb, ",\"failure\":");
		append_json_or_null(&sb, it->row->failure);
	}
	if (it->m)
		textbuf_appendf(&sb, ",\"no_transaction\":%s,\"verify\":%s", it->m->no_transaction ? "true" : "false",
						it->m->verify_path ? "true" : "false");
	textbuf_append(&sb, "}\n");
	fputs(sb.data, stdout);
	textbuf_free(&sb);
}

/* The colour of a state word: green is done, yellow is to do, red is wrong. */
static log_tone
state_tone(version_state state)
{
	switch (state)
	{
		case VS_APPLIED:
		case VS_AHEAD:
			return LOG_TONE_OK;
		case VS_PENDING:
			return LOG_TONE_WARNING;
		default:
			return LOG_TONE_ERROR;
	}
}

/*
 * The padding that makes s (UTF-8) fill width characters: printf pads by
 * bytes, which left a multibyte name's line out of its columns.
 */
static int
pad_for(const char *s, int width)
{
	int chars = 0;

	for (const unsigned char *c = (const unsigned char *) s; *c; c++)
		chars += (*c & 0xC0) != 0x80;
	return chars < width ? width - chars : 0;
}

/*
 * One version's line.  A version without a row (pending) has no duration,
 * so the column is empty, as its applied at and applied by are "-".  The
 * duration is the recorded one, in the unit and rounding of the "applied
 * ... in Nms" line of up (history.h: the one source of a duration).  A
 * version without a file is named by its row, which, like applied by, is
 * text from the table: shown escaped (memory.h), never raw.
 */
static void
print_status_line(const version_item *it)
{
	char  duration[32] = "";
	char *name = text_visible(it->m ? it->m->name : it->row->name, true);
	char *by = text_visible(it->row ? it->row->applied_by : "-", true);

	if (it->row)
		snprintf(duration, sizeof(duration), "%lldms", (long long) it->row->duration_ms);
	printf("%-16lld %s%*s %s%-8s%s %-20s %9s  %s\n", (long long) it->version, name, pad_for(name, 32), "",
		   log_paint(stdout, state_tone(it->state)), reconcile_state_name(it->state), log_paint_end(stdout),
		   it->row ? it->row->applied_at : "-", duration, by);
	free(name);
	free(by);
}

int
cmd_status(run_state *rs)
{
	reconciliation rec;
	bool           json = log_get_format() == LOG_FORMAT_JSON;

	reconcile(&rs->files, &rs->hist, &rec);
	if (!json)
		printf("%-16s %-32s %-8s %-20s %9s  %s\n", "VERSION", "NAME", "STATE", "APPLIED AT", "DURATION",
			   "APPLIED BY");
	for (int i = 0; i < rec.n; i++)
	{
		const version_item *it = &rec.items[i];

		if (json)
		{
			print_version_json(it);
			continue;
		}
		print_status_line(it);
		if ((it->state == VS_FAILED || (it->state == VS_AHEAD && reconcile_row_failed(it->row))) &&
			it->row->failure)
		{
			/* the server's text, which may quote rows other roles wrote (memory.h) */
			char *shown = text_visible(it->row->failure, false);

			printf("%16s failed at %s\n", "", shown);
			free(shown);
		}
	}
	if (!json)
	{
		printf("%d applied, %d pending, %d mismatched", rec.n - rec.n_pending - rec.n_mismatch - rec.n_ahead,
			   rec.n_pending, rec.n_mismatch);
		if (rec.n_ahead > 0)
			printf(", %d ahead of these files", rec.n_ahead);
		if (rec.n_ahead_failed > 0)
			printf(" (%d of them failed)", rec.n_ahead_failed);
		printf("\n");
	}
	reconcile_free(&rec);
	return EXIT_OK;
}

/*
 * What repair does with one version: EXIT_OK (with *repaired counted),
 * EXIT_CHANGE_FAILED when the history could not be written (stop), or
 * EXIT_HISTORY_MISMATCH for a missing file it may not forget (go on).
 */
static int
repair_version(const run_state *rs, const version_item *it, int *repaired)
{
	const migrator_options *o = rs->opts;

	if (it->state == VS_CHANGED)
	{
		if (!history_set_checksum(rs->conn, &rs->ht, it->version, it->m->checksum))
			return EXIT_CHANGE_FAILED;
		log_event(LOG_LEVEL_INFO, "repaired", NULL,
				  "recorded the current checksum of %s (was %.12s..., now %.12s...)", it->m->path,
				  it->row->checksum, it->m->checksum);
		(*repaired)++;
	}
	else if (it->state == VS_AHEAD && !o->forget_ahead)
	{
		/*
		 * Newer than every file: applied by a newer release, which check
		 * and up leave alone too.  Forgetting it would run that release's
		 * migration a second time.
		 */
		log_event(LOG_LEVEL_INFO, "ahead_kept", NULL,
				  "version %lld (%s) is newer than every file (applied by a newer release?): left alone; "
				  "--forget-ahead drops it",
				  (long long) it->version, it->row->name);
	}
	else if ((it->state == VS_MISSING && o->forget_missing) || it->state == VS_AHEAD)
	{
		if (!history_forget(rs->conn, &rs->ht, it->version))
			return EXIT_CHANGE_FAILED;
		log_event(LOG_LEVEL_INFO, "forgotten", NULL,
				  "removed version %lld (%s) from the history: its file is gone", (long long) it->version,
				  it->row->name);
		(*repaired)++;
	}
	else if (it->state == VS_MISSING)
	{
		char *target = run_target_name(rs);

		log_event(
			LOG_LEVEL_ERROR, "missing_file", NULL,
			"applied migration %lld (%s) is missing from \"%s\" (applied to %s); restore it, or pass --forget-missing",
			(long long) it->version, it->row->name, o->dir, target);
		free(target);
		return EXIT_HISTORY_MISMATCH;
	}
	return EXIT_OK;
}

int
cmd_repair(run_state *rs)
{
	reconciliation rec;
	int            repaired = 0;
	int            rc = EXIT_OK;

	if (!rs->hist.exists)
	{
		log_info("nothing to repair: no history table \"%s\" yet", rs->ht.display);
		return EXIT_OK;
	}
	reconcile(&rs->files, &rs->hist, &rec);
	if (report_wrong_target(rs, &rec))
	{
		/* --forget-missing would drop every row: never */
		reconcile_free(&rec);
		if (rs->opts->forget_missing)
			log_event(
				LOG_LEVEL_ERROR, "repair_refused", NULL,
				"repair --forget-missing refuses to drop every row of the history; nothing was changed");
		return rs->opts->forget_missing ? EXIT_USAGE : EXIT_HISTORY_MISMATCH;
	}
	for (int i = 0; i < rec.n && rc != EXIT_CHANGE_FAILED; i++)
	{
		int one = repair_version(rs, &rec.items[i], &repaired);

		if (one != EXIT_OK)
			rc = one;
	}
	if (rc == EXIT_OK && repaired == 0)
		log_event(LOG_LEVEL_INFO, "repair_done", NULL,
				  "nothing to repair: every applied file matches its recorded checksum");
	else if (rc == EXIT_OK)
		log_event(LOG_LEVEL_INFO, "repair_done", NULL, "repaired %d version%s", repaired,
				  repaired == 1 ? "" : "s");
	reconcile_free(&rec);
	return rc;
}

int
cmd_baseline(run_state *rs)
{
	const migrator_options *o = rs->opts;
	char                   *target;
	baseline_options        bo;
	int                     rc;

	if (o->baseline_from == BASELINE_VERSION && o->baseline_version <= 0)
	{
		log_error("baseline needs --baseline-version N or --from dbmate|golang-migrate|flyway");
		return EXIT_USAGE;
	}
	if (o->baseline_from != BASELINE_VERSION && o->baseline_version > 0)
	{
		log_error("baseline takes --baseline-version or --from, not both");
		return EXIT_USAGE;
	}
	target = run_target_name(rs);
	bo = (baseline_options){.from = o->baseline_from,
							.version = o->baseline_version,
							.dir = o->dir,
							.schema = o->conn.schema,
							.skip_verify = o->skip_verify,
							.n_skip_verify = o->n_skip_verify,
							.no_verify = o->no_verify,
							.lock_timeout_ms = o->apply.lock_timeout_ms,
							.statement_timeout_ms = o->apply.statement_timeout_ms,
							.target = target};
	rc = baseline_run(rs->conn, &rs->ht, &rs->files, &bo);
	free(target);
	return rc;
}
