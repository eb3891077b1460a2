/*-------------------------------------------------------------------------
 *
 * preflight.c
 *	  Before applying: who is already in the way of the pending migrations?
 *
 * migrator/preflight.c
 *
 *-------------------------------------------------------------------------
 */
#include "preflight.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "query.h"
#include "sqlwalk.h"

/*
 * Lock holders on the given tables (arrays of schema and name; to_regclass
 * skips tables that do not exist yet), other than us: old transactions, and
 * any concurrent index build, whatever its age.
 */
static const char *preflight_sql =
	"WITH rels AS ("
	"  SELECT DISTINCT to_regclass(quote_ident(u.s) || '.' || quote_ident(u.t)) AS oid"
	"  FROM unnest($1::text[], $2::text[]) AS u(s, t)"
	"), holders AS ("
	"  SELECT DISTINCT ON (a.pid, c.oid) a.pid, a.application_name, a.state, a.xact_start, a.query,"
	"         n.nspname, c.relname, l.mode, p.phase"
	"  FROM pg_catalog.pg_locks l"
	"  JOIN rels r ON l.relation = r.oid"
	"  JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid"
	"  JOIN pg_catalog.pg_class c ON c.oid = l.relation"
	"  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
	"  LEFT JOIN pg_catalog.pg_stat_progress_create_index p ON p.pid = a.pid AND p.relid = c.oid"
	"  WHERE l.locktype = 'relation' AND l.granted AND a.pid <> pg_catalog.pg_backend_pid()"
	"  ORDER BY a.pid, c.oid, l.mode"
	") "
	"SELECT pid::text, coalesce(application_name, ''), coalesce(state, ''),"
	"       coalesce(round(extract(epoch FROM now() - xact_start)::numeric, 1)::text, ''),"
	"       left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), 200),"
	"       nspname, relname, mode, coalesce(phase, '') "
	"FROM holders "
	"WHERE phase IS NOT NULL OR (xact_start IS NOT NULL AND now() - xact_start >= $3::interval) "
	"ORDER BY xact_start NULLS LAST, pid";

bool
preflight_parse_mode(const char *s, preflight_mode *out)
{
	if (strcmp(s, "off") == 0)
		*out = PREFLIGHT_OFF;
	else if (strcmp(s, "warn") == 0)
		*out = PREFLIGHT_WARN;
	else if (strcmp(s, "fail") == 0)
		*out = PREFLIGHT_FAIL;
	else
		return false;
	return true;
}

/*
 * The tables the pending migrations touch, as two parallel text[] literals
 * (schema, name); a table named without a schema is in default_schema.
 * Caller frees both.
 */
static void
relation_arrays(const sql_relation_list *rels, const char *default_schema, char **schemas, char **names)
{
	const char **sv = xcalloc((size_t) rels->n, sizeof(char *));
	const char **nv = xcalloc((size_t) rels->n, sizeof(char *));

	for (int i = 0; i < rels->n; i++)
	{
		sv[i] = rels->items[i].schema[0] ? rels->items[i].schema : default_schema;
		nv[i] = rels->items[i].name;
	}
	*schemas = db_text_array_literal(sv, rels->n);
	*names = db_text_array_literal(nv, rels->n);
	free(sv);
	free(nv);
}

/* One row of preflight_sql: a session in the way, or an index build. */
static void
log_holder(PGresult *res, int i, preflight_mode mode)
{
	const char *pid = PQgetvalue(res, i, 0);
	const char *app = PQgetvalue(res, i, 1);
	const char *state = PQgetvalue(res, i, 2);
	const char *age = PQgetvalue(res, i, 3);
	const char *query = PQgetvalue(res, i, 4);
	const char *table = PQgetvalue(res, i, 6);
	const char *schema = PQgetvalue(res, i, 5);
	const char *lockmode = PQgetvalue(res, i, 7);
	const char *phase = PQgetvalue(res, i, 8);
	log_level   level = mode == PREFLIGHT_FAIL ? LOG_LEVEL_ERROR : LOG_LEVEL_WARNING;
	log_field   fields[] = {{"blocker_pid", pid},
							{"blocker_application", app},
							{"blocker_state", state},
							{"blocker_xact_age_s", age},
							{"table", table},
							{"lock_mode", lockmode},
							{"index_build_phase", phase[0] ? phase : NULL},
							{NULL, NULL}};

	if (phase[0])
		log_event(
			level, "preflight_index_build", fields,
			"preflight: pid=%s application=\"%s\" is building an index concurrently on \"%s.%s\" (phase: %s): it holds SHARE UPDATE EXCLUSIVE until the build ends, so ALTER TABLE on it will wait; query=\"%s\"",
			pid, app, schema, table, phase, query);
	else
		log_event(
			level, "preflight_blocker", fields,
			"preflight: pid=%s application=\"%s\" state=%s xact_age=%ss holds %s on \"%s.%s\": query=\"%s\"",
			pid, app, state, age, lockmode, schema, table, query);
}

void
preflight_collect(const migration *m, sql_relation_list *rels)
{
	for (int s = 0; s < m->script.n_stmts; s++)
		sql_statement_relations(&m->script, s, rels);
}

int
preflight_run(PGconn *conn, const char *default_schema, migration *const *pending, int n_pending,
			  int64_t lock_timeout_ms, preflight_mode mode)
{
	sql_relation_list rels = {0};
	int               rc;

	if (mode == PREFLIGHT_OFF)
		return EXIT_OK;
	for (int i = 0; i < n_pending; i++)
		preflight_collect(pending[i], &rels);
	rc = preflight_check(conn, default_schema, &rels, lock_timeout_ms, mode);
	sql_relation_list_free(&rels);
	return rc;
}

int
preflight_check(PGconn *conn, const char *default_schema, sql_relation_list *rels, int64_t lock_timeout_ms,
				preflight_mode mode)
{
	char       *schemas;
	char       *names;
	char        interval[32];
	const char *values[3];
	PGresult   *res;
	int         n;

	if (mode == PREFLIGHT_OFF || rels->n == 0)
		return EXIT_OK;
	relation_arrays(rels, default_schema, &schemas, &names);
	snprintf(interval, sizeof(interval), "%lld milliseconds", (long long) lock_timeout_ms);
	values[0] = schemas;
	values[1] = names;
	values[2] = interval;
	res = db_query(conn, "preflight", preflight_sql, 3, values, PGRES_TUPLES_OK);
	free(schemas);
	free(names);
	if (res == NULL)
		return EXIT_UNREACHABLE;

	n = PQntuples(res);
	for (int i = 0; i < n; i++)
		log_holder(res, i, mode);
	PQclear(res);
	if (n > 0 && mode == PREFLIGHT_FAIL)
	{
		log_event(
			LOG_LEVEL_ERROR, "preflight_failed", NULL,
			"preflight: %d session%s in the way of the pending migrations; nothing applied (--preflight=warn applies anyway, bounded by --lock-timeout)",
			n, n == 1 ? " is" : "s are");
		return EXIT_CHANGE_FAILED;
	}
	if (n > 0)
		log_event(
			LOG_LEVEL_WARNING, "preflight_warned", NULL,
			"preflight: %d session%s in the way; applying anyway, every lock wait bounded by --lock-timeout",
			n, n == 1 ? " is" : "s are");
	return EXIT_OK;
}
