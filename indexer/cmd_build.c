/*-------------------------------------------------------------------------
 *
 * cmd_build.c
 *	  indexer build: bring the indexes in line with the plan, online.
 *
 * What the plan settles without building (present, absent, drifted without
 * --rebuild-drifted, busy, unknown, in error) is counted and reported
 * first; a critical definition that cannot be built stops the run before
 * anything starts.  The rest goes to the build engine (build.h).  The run
 * ends with one summary line and an exit code computed from the outcomes.
 *
 * indexer/cmd_build.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "cancel.h"
#include "exitcodes.h"
#include "indexer.h"
#include "run_limits.h"
#include "log.h"
#include "memory.h"
#include "options.h"
#include "query.h"
#include "record.h"
#include "retry.h"

/* The definitions the plan settles without a build, counted. */
typedef struct build_tally
{
	int  present, absent, drifted, skipped, failed_critical, failed_noncritical;
	int  deferred; /* builds left to a later run: window, --max-builds, --max-runtime */
	bool work;     /* something to build, repair, rebuild or drop on this run */
} build_tally;

/*
 * --maintenance-work-mem within the server's range, asked before anything
 * is built: otherwise every build connection would fail to set it, which
 * looks like an unreachable server.  EXIT_OK or EXIT_USAGE after logging.
 */
static int
check_memory_setting(run_state *rs)
{
	int64_t     kb = rs->opts->set.maintenance_work_mem_kb;
	PGresult   *res;
	long long   lo, hi;
	const char *origin[] = {"default", "the file's settings", "environment INDEXER_MAINTENANCE_WORK_MEM",
							"option --maintenance-work-mem"};

	if (kb <= 0)
		return EXIT_OK;
	res = db_query(rs->conn, "reading the range of maintenance_work_mem",
				   "SELECT min_val::bigint, max_val::bigint FROM pg_catalog.pg_settings "
				   "WHERE name = 'maintenance_work_mem' AND unit = 'kB'",
				   0, NULL, PGRES_TUPLES_OK);
	rs->round_trips++;
	if (res == NULL)
		return cancel_pending() ? cancel_exit_code() : EXIT_UNREACHABLE;
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return EXIT_OK;
	}
	lo = atoll(PQgetvalue(res, 0, 0));
	hi = atoll(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (kb >= lo && kb <= hi)
		return EXIT_OK;
	log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
			  "%s: maintenance_work_mem %lldkB is outside the server's range %lldkB to %lldkB; nothing built",
			  origin[rs->opts->set.origin[SETTING_MAINTENANCE_WORK_MEM]], (long long) kb, lo, hi);
	return EXIT_USAGE;
}

/* Count one definition, and report it where the plan settled it badly. */
static void
tally(plan_item *it, build_tally *t)
{
	const index_def *d = it->def;

	switch (it->action)
	{
		case ACT_PRESENT:
			t->present++;
			break;
		case ACT_ABSENT:
			t->absent++;
			break;
		case ACT_DRIFTED:
			t->drifted++;
			log_event(LOG_LEVEL_WARNING, "drifted", NULL,
					  "\"%s\" on \"%s.%s\" drifted: %s; not replaced (pass --rebuild-drifted)", d->name,
					  d->schema, d->table, it->reason);
			break;
		case ACT_BUSY:
			t->skipped++;
			log_event(LOG_LEVEL_WARNING, "busy", NULL, "\"%s\" on \"%s.%s\" skipped: %s", d->name, d->schema,
					  d->table, it->reason);
			break;
		case ACT_UNKNOWN:
			if (it->cat->unknown && d->critical && d->state == INDEX_STATE_PRESENT)
			{
				/* its table is locked: whether it exists is not known */
				it->outcome = OUTCOME_FAILED;
				t->failed_critical++;
				log_event(LOG_LEVEL_ERROR, "failed", NULL, "critical index \"%s\" on \"%s.%s\": %s", d->name,
						  d->schema, d->table, it->reason);
			}
			else
			{
				t->skipped++;
				log_event(LOG_LEVEL_WARNING, "unknown", NULL, "\"%s\" on \"%s.%s\" left alone: %s", d->name,
						  d->schema, d->table, it->reason);
			}
			break;
		case ACT_ERROR:
			it->outcome = OUTCOME_FAILED;
			if (d->critical && d->state == INDEX_STATE_PRESENT)
			{
				t->failed_critical++;
				log_event(LOG_LEVEL_ERROR, "failed", NULL,
						  "critical index \"%s\" on \"%s.%s\" cannot be built: %s", d->name, d->schema,
						  d->table, it->reason);
			}
			else
			{
				t->failed_noncritical++;
				log_event(LOG_LEVEL_WARNING, "failed", NULL,
						  "\"%s\" on \"%s.%s\" skipped: %s (not critical: the run goes on)", d->name,
						  d->schema, d->table, it->reason);
			}
			break;
		default:
			/* a build that waits for a later run is not this run's work (run_limits.h) */
			if (it->deferred[0] != '\0')
			{
				it->outcome = OUTCOME_DEFERRED;
				t->deferred++;
			}
			else
				t->work = true;
			break;
	}
}

/* The run's one summary line; the JSON form carries the counts as fields too. */
static void
log_summary(const run_state *rs, const build_tally *t, const build_summary *sum)
{
	char      dur[32];
	char      b[16], p[16], r[16], rb[16], dr[16], fc[16], fn[16], sk[16], df[16];
	log_field fields[] = {{"built", b},
						  {"present", p},
						  {"repaired", r},
						  {"rebuilt", rb},
						  {"dropped", dr},
						  {"failed_critical", fc},
						  {"failed_noncritical", fn},
						  {"skipped", sk},
						  {"deferred", df},
						  {NULL, NULL}};

	format_duration(monotonic_ms() - rs->start_ms, dur, sizeof(dur));
	snprintf(b, sizeof(b), "%d", sum->built);
	snprintf(p, sizeof(p), "%d", t->present);
	snprintf(r, sizeof(r), "%d", sum->repaired);
	snprintf(rb, sizeof(rb), "%d", sum->rebuilt);
	snprintf(dr, sizeof(dr), "%d", sum->dropped);
	snprintf(fc, sizeof(fc), "%d", t->failed_critical);
	snprintf(fn, sizeof(fn), "%d", t->failed_noncritical);
	snprintf(sk, sizeof(sk), "%d", t->skipped + sum->interrupted);
	snprintf(df, sizeof(df), "%d", t->deferred);
	log_event(
		LOG_LEVEL_INFO, "summary", fields,
		"summary: %d built, %d present, %d repaired, %d rebuilt, %d dropped, %d absent, %d drifted, "
		"%d failed (%d critical, %d non-critical), %d skipped, %d interrupted, %d cleaned up, %d deferred; %s, "
		"%d catalog quer%s",
		sum->built, t->present, sum->repaired, sum->rebuilt, sum->dropped, t->absent, t->drifted,
		t->failed_critical + t->failed_noncritical, t->failed_critical, t->failed_noncritical, t->skipped,
		sum->interrupted, sum->cleaned, t->deferred, dur, rs->round_trips,
		rs->round_trips == 1 ? "y" : "ies");
}

/*
 * What the history adds to the exit code: a critical definition backing
 * off is a failure (1) while it fails; a history write that failed turns
 * a run that otherwise succeeded into the policy's exit code of its error
 * (record.h: 1, or 3 for a lost connection), said on stderr; a failed run
 * keeps its own code.
 */
static int
record_exit_code(const run_state *rs, int rc, int backing_off)
{
	if (rc != EXIT_OK)
		return rc;
	if (backing_off > 0)
	{
		log_event(LOG_LEVEL_ERROR, "critical_backoff", NULL,
				  "%d critical index%s backing off after repeated failures (--retry-failed forces a try)",
				  backing_off, backing_off == 1 ? " is" : "es are");
		return EXIT_CHANGE_FAILED;
	}
	if ((rc = record_failed(rs->record)) != EXIT_OK)
		log_event(LOG_LEVEL_ERROR, "record_incomplete", NULL,
				  "the history table could not be written: exit %d although the builds succeeded", rc);
	return rc;
}

/*
 * A row for every build a guard refused (record.h), so that the history
 * says why the run exited 1.  The size guard's reason starts "size guard: ".
 */
static void
record_refusals(const run_state *rs)
{
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];
		const char      *why = it->failure ? it->failure : it->reason;
		char            *msg;
		size_t           prefix = strlen("size guard: ");

		if (it->refused_by == NULL || it->outcome != OUTCOME_FAILED || why == NULL)
			continue;
		if (strncmp(why, "refused by ", 11) == 0)
			msg = xstrdup(why);
		else
			msg = xasprintf("refused by the %s: %s", it->refused_by,
							strncmp(why, "size guard: ", prefix) == 0 ? why + prefix : why);
		record_refused(rs->record, it, msg);
		free(msg);
	}
}

/* The last line of a run that exits 1 only because critical indexes back off: which, and until when. */
static void
log_backing_off(const run_state *rs, int backing_off)
{
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];

		if (!it->def->critical || it->backoff_until == 0 || it->deferred[0] == '\0')
			continue;
		if (backing_off > 1)
			log_event(LOG_LEVEL_ERROR, "critical_backoff", NULL,
					  "critical index \"%s\" %s, and %d more critical index%s backing off", it->def->name,
					  it->deferred, backing_off - 1, backing_off == 2 ? " is" : "es are");
		else
			log_event(LOG_LEVEL_ERROR, "critical_backoff", NULL, "critical index \"%s\" %s", it->def->name,
					  it->deferred);
		return;
	}
}

int
cmd_build(run_state *rs)
{
	build_summary sum = {0};
	build_env     env = {&rs->opts->set, &rs->opts->conn, rs->conn, 0, rs->record};
	build_tally   t = {0};
	int           rc = EXIT_OK;
	int           backing_off;

	report_foreign_leftovers(rs);
	/* sizes, the size guard, windows and --max-builds, before anything starts */
	if ((rc = limits_prepare(rs)) != EXIT_OK)
		return rc;
	/* definitions that failed run after run wait (record.h): deferred, critical ones exit 1 */
	if ((rc = record_apply_backoff(rs->record, rs->plan, rs->n_defs, &backing_off)) != EXIT_OK)
		return cancel_pending() ? cancel_exit_code() : rc;
	if (rs->opts->set.max_runtime_ms > 0)
		env.deadline_ms = rs->start_ms + rs->opts->set.max_runtime_ms;
	for (int i = 0; i < rs->n_defs; i++)
		tally(&rs->plan[i], &t);

	if (t.work && (rc = check_memory_setting(rs)) != EXIT_OK)
		return rc;
	if (t.failed_critical > 0)
	{
		/* fatal before anything started: build nothing */
		if (t.work)
			log_event(LOG_LEVEL_ERROR, "not_building", NULL,
					  "a critical index cannot be built: nothing else is built on this run");
		rc = EXIT_CHANGE_FAILED;
	}
	else if (t.work)
		rc = build_run(rs->plan, rs->n_defs, &env, &sum);

	for (int i = 0; i < rs->n_defs; i++)
		if (plan_action_is_work(rs->plan[i].action) && rs->plan[i].outcome == OUTCOME_NONE)
			t.skipped++;
	t.failed_critical += sum.failed_critical;
	t.deferred += sum.deferred;
	t.failed_noncritical += sum.failed_noncritical;
	log_summary(rs, &t, &sum);
	record_refusals(rs);
	record_close(rs->record, t.deferred);
	rc = record_exit_code(rs, rc, backing_off);

	if (rc == EXIT_OK && t.failed_critical > 0)
		rc = EXIT_CHANGE_FAILED;
	if (rc == EXIT_CHANGE_FAILED && t.failed_critical > 0)
		log_event(LOG_LEVEL_ERROR, "critical_failed", NULL, "%d critical index%s could not be built",
				  t.failed_critical, t.failed_critical == 1 ? "" : "es");
	else if (rc == EXIT_CHANGE_FAILED && backing_off > 0)
		log_backing_off(rs, backing_off);
	else if (rc == EXIT_CHANGE_FAILED)
		log_event(LOG_LEVEL_ERROR, "run_failed", NULL, "the run stopped before its work was done: %d failed",
				  t.failed_noncritical);
	return rc;
}
