/*-------------------------------------------------------------------------
 *
 * blockers.c
 *	  Who is in the way: the sessions that block a backend, sampled live.
 *
 * common/blockers.c
 *
 *-------------------------------------------------------------------------
 */
#include "blockers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "log.h"
#include "memory.h"
#include "retry.h"
#include "query.h"

static const char *sample_sql =
	"SELECT b.pid::text, coalesce(b.application_name, ''), coalesce(b.state, ''), "
	"       coalesce(round(extract(epoch FROM now() - b.xact_start)::numeric, 1)::text, ''), "
	"       left(regexp_replace(coalesce(b.query, ''), '\\s+', ' ', 'g'), 200), "
	"       coalesce(b.wait_event_type || '/' || b.wait_event, ''), "
	"       coalesce(w.wait_event_type || '/' || w.wait_event, '') "
	"FROM pg_catalog.pg_stat_activity w "
	"CROSS JOIN LATERAL unnest(pg_catalog.pg_blocking_pids(w.pid)) AS bp(pid) "
	"JOIN pg_catalog.pg_stat_activity b ON b.pid = bp.pid "
	"WHERE w.pid = $1::int "
	"ORDER BY b.xact_start NULLS LAST, b.pid";

/* The side connection: like the run's, but a signal while it connects is the run's to report. */
static PGconn *
open_side(const conn_options *opts)
{
	conn_options side = *opts;

	side.side = true;
	return conn_open_like(&side);
}

PGconn *
blockers_side_get(blocker_side *side)
{
	int64_t now = monotonic_ms();

	if (side->conn != NULL && PQstatus(side->conn) == CONNECTION_OK)
		return side->conn;
	conn_close(side->conn);
	side->conn = NULL;
	if (now < side->retry_at || side->opts == NULL)
		return NULL;
	side->conn = open_side(side->opts);
	if (side->conn != NULL)
	{
		side->backoff_ms = 0;
		return side->conn;
	}
	/* a signal cut the attempt short: the run stops, nothing to report */
	if (cancel_pending())
		return NULL;
	/* a full server or role limit: trying every tick would only add load */
	side->backoff_ms = side->backoff_ms == 0 ? BLOCKERS_SIDE_BACKOFF_MS : side->backoff_ms * 2;
	if (side->backoff_ms > BLOCKERS_SIDE_BACKOFF_MAX_MS)
		side->backoff_ms = BLOCKERS_SIDE_BACKOFF_MAX_MS;
	side->retry_at = now + side->backoff_ms;
	if (!side->reported)
		log_event(
			LOG_LEVEL_WARNING, "blockers_off", NULL,
			"could not open a second connection to sample blocking sessions; lock waits are still bounded, "
			"but their blockers are not named; trying again in %llds at the earliest (said once)",
			(long long) side->backoff_ms / 1000);
	side->reported = true;
	return NULL;
}

void
blockers_side_close(blocker_side *side)
{
	if (side == NULL)
		return;
	conn_close(side->conn);
	side->conn = NULL;
}

void
blockers_free(blocker_list *list)
{
	if (list == NULL)
		return;
	for (int i = 0; i < list->n; i++)
	{
		free(list->items[i].pid);
		free(list->items[i].application);
		free(list->items[i].state);
		free(list->items[i].xact_age);
		free(list->items[i].query);
		free(list->items[i].wait_event);
	}
	free(list->items);
	free(list->waiting_on);
	memset(list, 0, sizeof(*list));
}

bool
blockers_sample(PGconn *side, int pid, blocker_list *out)
{
	char        pidbuf[16];
	const char *values[1] = {pidbuf};
	db_error    err = {0};
	PGresult   *res;
	int         n;

	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	if (!db_run(side, sample_sql, 1, values, PGRES_TUPLES_OK, &res, &err, NULL))
	{
		log_debug("could not sample blocking sessions: %s", err.message);
		db_error_clear(&err);
		return false;
	}
	blockers_free(out);
	n = PQntuples(res);
	out->items = xcalloc((size_t) (n > 0 ? n : 1), sizeof(blocker));
	out->n = n;
	for (int i = 0; i < n; i++)
	{
		out->items[i].pid = xstrdup(PQgetvalue(res, i, 0));
		out->items[i].application = xstrdup(PQgetvalue(res, i, 1));
		out->items[i].state = xstrdup(PQgetvalue(res, i, 2));
		out->items[i].xact_age = xstrdup(PQgetvalue(res, i, 3));
		out->items[i].query = xstrdup(PQgetvalue(res, i, 4));
		out->items[i].wait_event = xstrdup(PQgetvalue(res, i, 5));
	}
	out->waiting_on = n > 0 ? xstrdup(PQgetvalue(res, 0, 6)) : NULL;
	PQclear(res);
	return true;
}

void
blockers_copy(blocker_list *dst, const blocker_list *src)
{
	blockers_free(dst);
	dst->n = src->n;
	dst->items = xcalloc((size_t) (src->n > 0 ? src->n : 1), sizeof(blocker));
	for (int i = 0; i < src->n; i++)
	{
		dst->items[i].pid = xstrdup(src->items[i].pid);
		dst->items[i].application = xstrdup(src->items[i].application);
		dst->items[i].state = xstrdup(src->items[i].state);
		dst->items[i].xact_age = xstrdup(src->items[i].xact_age);
		dst->items[i].query = xstrdup(src->items[i].query);
		dst->items[i].wait_event = xstrdup(src->items[i].wait_event);
	}
	dst->waiting_on = src->waiting_on ? xstrdup(src->waiting_on) : NULL;
}

void
blockers_log(const blocker_list *list, int level, const char *prefix)
{
	for (int i = 0; i < list->n; i++)
	{
		const blocker *b = &list->items[i];
		log_field      fields[] = {{"blocker_pid", b->pid},     {"blocker_application", b->application},
								   {"blocker_state", b->state}, {"blocker_xact_age_s", b->xact_age},
								   {"blocker_query", b->query}, {NULL, NULL}};

		log_event((log_level) level, "blocker", fields,
				  "%sblocked by pid=%s application=\"%s\" state=%s xact_age=%s%s query=\"%s\"", prefix,
				  b->pid, b->application, b->state[0] ? b->state : "?", b->xact_age[0] ? b->xact_age : "-",
				  b->xact_age[0] ? "s" : "", b->query);
	}
}
