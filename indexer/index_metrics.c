/*-------------------------------------------------------------------------
 *
 * index_metrics.c
 *	  The indexer's run as Prometheus metrics: states of the definitions,
 *	  this run's builds, deferrals, and the run series.
 *
 * indexer/index_metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "index_metrics.h"

#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "exitcodes.h"
#include "log.h"
#include "metrics.h"
#include "query.h"
#include "retry.h"

#define PREFIX "pg_schema_indexer_"

static const char *const states[] = {"present",  "missing", "invalid", "drifted",
									 "building", "unknown", "absent",  "unwanted"};
#define N_STATES ((int) (sizeof(states) / sizeof(states[0])))

/* the label of each plan_deferral (plan.h), in its order; "size" is a refusal, counted with them */
static const char *const reasons[] = {NULL, "window", "budget", "max_builds", "backoff", "lag", "size"};
#define REASON_SIZE 6
#define N_REASONS   ((int) (sizeof(reasons) / sizeof(reasons[0])))

static bool
own_index(const catalog_entry *c)
{
	return c->rel_oid != NULL && c->is_index && c->on_table;
}

/* The definition's state in one word of states[], from its plan item. */
static const char *
state_of(const plan_item *it)
{
	const catalog_entry *c = it->cat;

	if (it->def->state == INDEX_STATE_ABSENT)
		return own_index(c) ? "unwanted" : "absent";
	switch (it->action)
	{
		case ACT_PRESENT:
		case ACT_CLEANUP:
			return "present";
		case ACT_BUILD:
			return c->rel_oid ? "invalid" : "missing";
		case ACT_REPAIR:
			return "invalid";
		case ACT_REBUILD:
		case ACT_DRIFTED:
			return "drifted";
		case ACT_BUSY:
			return "building";
		case ACT_UNKNOWN:
			return "unknown";
		default:
			/* cannot be built (no table, the name taken, a guard) or refused a rebuild */
			if (!own_index(c))
				return "missing";
			return c->valid ? "drifted" : "invalid";
	}
}

static void
set_states(metrics *m, const plan_item *items, int n)
{
	metrics_declare(m, "index_state",
					"1 for the state each index definition is in (present, missing, invalid, drifted, "
					"building, unknown, absent, unwanted), 0 for the others.");
	for (int i = 0; i < n; i++)
	{
		const index_def *d = items[i].def;
		const char      *now = state_of(&items[i]);

		for (int s = 0; s < N_STATES; s++)
		{
			const char *labels[] = {"name",  d->name,   "schema",   d->schema,
									"table", d->table,  "critical", d->critical ? "true" : "false",
									"state", states[s], NULL};

			metrics_set(m, "index_state", labels, strcmp(now, states[s]) == 0 ? 1 : 0);
		}
	}
}

static const char *
outcome_name(plan_outcome o)
{
	switch (o)
	{
		case OUTCOME_DONE:
			return "done";
		case OUTCOME_FAILED:
			return "failed";
		case OUTCOME_INTERRUPTED:
			return "interrupted";
		case OUTCOME_DEFERRED:
			return "deferred";
		case OUTCOME_NONE:
			break;
	}
	return NULL;
}

/* Did the run start this item's work (as opposed to deciding it in the plan)? */
static bool
started(const plan_item *it)
{
	return plan_action_is_work(it->action) && (it->outcome == OUTCOME_DONE || it->outcome == OUTCOME_FAILED ||
											   it->outcome == OUTCOME_INTERRUPTED);
}

static bool
builds_index(const plan_item *it)
{
	return it->action == ACT_BUILD || it->action == ACT_REPAIR || it->action == ACT_REBUILD;
}

/* pg_relation_size of an index this run built (its partitions' sum); false when not found. */
static bool
built_size(PGconn *conn, const index_def *d, double *bytes)
{
	const char *values[2] = {d->schema, d->name};
	PGresult   *res;
	bool        found;

	res = db_query(
		conn, "reading the size of a built index",
		"SELECT CASE WHEN c.relkind = 'I' THEN (SELECT pg_catalog.sum(pg_catalog.pg_relation_size(t.relid)) "
		"FROM pg_catalog.pg_partition_tree(c.oid) t)::pg_catalog.int8 "
		"ELSE pg_catalog.pg_relation_size(c.oid) END "
		"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
		"WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('i', 'I')",
		2, values, PGRES_TUPLES_OK);
	if (res == NULL)
		return false;
	found = PQntuples(res) == 1;
	if (found)
		*bytes = strtod(PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	return found;
}

/* This run's builds: durations, sizes, outcomes. */
static void
set_builds(metrics *m, run_state *rs, bool can_query)
{
	int counts[OUTCOME_DEFERRED + 1] = {0};

	metrics_declare(m, "index_build_duration_seconds",
					"How long each build, repair, rebuild, drop or clean-up this run started took.");
	metrics_declare(m, "index_size_bytes", "Size of each index this run built (pg_relation_size).");
	metrics_declare(m, "builds", "This run's work items by outcome: done, failed, interrupted, deferred.");
	for (int i = 0; i < rs->n_defs; i++)
	{
		const plan_item *it = &rs->plan[i];
		const index_def *d = it->def;
		const char      *labels[] = {"name",    d->name,
									 "schema",  d->schema,
									 "table",   d->table,
									 "action",  plan_action_name(it->action),
									 "outcome", outcome_name(it->outcome),
									 NULL};
		double           bytes;

		counts[it->outcome]++;
		if (!started(it))
			continue;
		metrics_set(m, "index_build_duration_seconds", labels, (double) it->duration_ms / 1000.0);
		labels[6] = NULL;
		if (it->outcome == OUTCOME_DONE && builds_index(it) && can_query && built_size(rs->conn, d, &bytes))
			metrics_set(m, "index_size_bytes", labels, bytes);
	}
	for (int o = OUTCOME_DONE; o <= OUTCOME_DEFERRED; o++)
	{
		const char *labels[] = {"outcome", outcome_name((plan_outcome) o), NULL};

		metrics_set(m, "builds", labels, counts[o]);
	}
}

/* The deferred_builds label of it: 0 when it waits for nothing. */
static int
reason_of(const plan_item *it)
{
	if (it->deferral != DEFER_NONE && it->deferred[0] != '\0')
		return (int) it->deferral;
	return it->action == ACT_ERROR && it->refused_by != NULL && strcmp(it->refused_by, "size guard") == 0
			   ? REASON_SIZE
			   : 0;
}

static void
set_deferrals(metrics *m, const run_state *rs)
{
	int counts[N_REASONS] = {0};

	metrics_declare(m, "deferred_builds",
					"Builds not started on this run, by reason: window, budget (--max-runtime), max_builds, "
					"backoff, lag, size (refused by --max-index-size).");
	for (int i = 0; i < rs->n_defs; i++)
		counts[reason_of(&rs->plan[i])]++;
	for (int r = 1; r < N_REASONS; r++)
	{
		const char *labels[] = {"reason", reasons[r], NULL};

		metrics_set(m, "deferred_builds", labels, counts[r]);
	}
}

/*
 * The states the build left: the catalog read again and planned offline
 * (plan.h), as the next run would see it.  NULL when the read failed
 * (logged by catalog_load).
 */
static plan_item *
replan(run_state *rs, catalog_entry **cat)
{
	plan_options popts = {rs->opts->rebuild_drifted, rs->opts->set.lock_timeout_ms};
	int          trips = 0;

	*cat = NULL;
	if (catalog_load(rs->conn, rs->defs, rs->n_defs, rs->opts->set.lock_timeout_ms, cat, &trips) != EXIT_OK)
		return NULL;
	return plan_make(rs->conn, rs->defs, *cat, rs->n_defs, &popts, &trips);
}

static void
set_build_states(metrics *m, run_state *rs, bool can_query)
{
	bool           worked = false;
	catalog_entry *cat = NULL;
	plan_item     *after = NULL;

	for (int i = 0; i < rs->n_defs; i++)
		worked = worked || started(&rs->plan[i]);
	if (worked && can_query)
		after = replan(rs, &cat);
	if (after != NULL)
		set_states(m, after, rs->n_defs);
	else if (!worked)
		set_states(m, rs->plan, rs->n_defs);
	plan_free(after, rs->n_defs);
	if (cat != NULL)
		catalog_free(cat, rs->n_defs);
}

/*
 * Where the metrics go.  A definitions file that could not be read stops
 * the run before the settings are applied (main.c): the command line's and
 * the environment's values are taken here then, so that such a run is
 * reported too.
 */
static const char *
target_of(const indexer_options *o, setting_id id, const char *applied)
{
	const char *v = NULL;

	if (o->set.origin[id] != ORIGIN_DEFAULT)
		return applied;
	for (int i = 0; i < o->n_cli; i++)
		if (o->cli[i].id == id)
			v = o->cli[i].value;
	if (v == NULL)
		v = getenv(settings_env(id));
	/* a push URL refused at start-up (its error said so) is not pushed to either */
	if (id == SETTING_METRICS_PUSH && v != NULL && v[0] != '\0' && !metrics_push_url_check(v, NULL, 0))
		return NULL;
	return v;
}

int
index_metrics_report(run_state *rs, const char *command, int rc)
{
	metrics_target t = {target_of(rs->opts, SETTING_METRICS_FILE, rs->opts->set.metrics_file),
						target_of(rs->opts, SETTING_METRICS_PUSH, rs->opts->set.metrics_push)};
	metrics       *m;
	bool           build = strcmp(command, "build") == 0;
	/* no statement after a signal, nor on a connection that is gone */
	bool can_query = rs->conn != NULL && PQstatus(rs->conn) == CONNECTION_OK && !cancel_pending();

	if (rs->metrics_file_refused)
		t.file = NULL;
	if (!metrics_wanted(&t))
		return rc;
	m = metrics_new(PREFIX, command);
	if (rs->plan != NULL && build)
	{
		set_build_states(m, rs, can_query);
		set_builds(m, rs, can_query);
	}
	else if (rs->plan != NULL)
		set_states(m, rs->plan, rs->n_defs);
	if (rs->plan != NULL && (build || strcmp(command, "plan") == 0))
		set_deferrals(m, rs);
	rc = metrics_finish(m, &t, rc, (double) (monotonic_ms() - rs->start_ms) / 1000.0);
	metrics_free(m);
	return rc;
}

int
index_metrics_check(run_state *rs)
{
	const char *file = target_of(rs->opts, SETTING_METRICS_FILE, rs->opts->set.metrics_file);
	char        why[512];

	if (file == NULL || file[0] == '\0' || metrics_check_file(file, why, sizeof(why)))
		return EXIT_OK;
	log_event(LOG_LEVEL_ERROR, "invalid_option", NULL,
			  "setting metrics_file (--metrics-file, INDEXER_METRICS_FILE or the definitions file): cannot "
			  "write \"%s\": %s; nothing was done",
			  file, why);
	rs->metrics_file_refused = true;
	return EXIT_USAGE;
}
