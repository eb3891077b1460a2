/*-------------------------------------------------------------------------
 *
 * drift.c
 *	  Has an index changed outside the tool?
 *
 * indexer/drift.c
 *
 *-------------------------------------------------------------------------
 */
#include "drift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_sql.h"
#include "log.h"
#include "memory.h"
#include "query.h"

#define PROBE_TABLE "indexer_drift_probe"
#define PROBE_INDEX "indexer_drift_probe_idx"
/* when --lock-timeout is 0 (no bound), the probe still must not hang */
#define PROBE_LOCK_TIMEOUT_MS 5000

/* Run one probe statement; on failure keep the first error in *why. */
static bool
probe_step(PGconn *conn, const char *sql, int nparams, const char *const *values, ExecStatusType expect,
		   PGresult **res, char **why, int *round_trips)
{
	db_error err = {0};

	(*round_trips)++;
	if (db_run(conn, sql, nparams, values, expect, res, &err, NULL))
		return true;
	*why = db_error_format(&err);
	db_error_clear(&err);
	return false;
}

/*
 * Ask the server to spell def: create it on an empty temporary copy of the
 * table and read both definitions back.  Returns the result; rolled back
 * whatever happens.
 */
static drift_result
probe(PGconn *conn, const index_def *def, const catalog_entry *cat, int64_t lock_timeout_ms, char **why,
	  int *round_trips)
{
	char  timeout[32];
	char *qschema = index_sql_quote_ident(def->schema);
	char *qtable = index_sql_quote_ident(def->table);
	char *create_table =
		xasprintf("CREATE TEMPORARY TABLE " PROBE_TABLE " (LIKE %s.%s) ON COMMIT DROP", qschema, qtable);
	index_sql_target target = {PROBE_INDEX, "pg_temp", PROBE_TABLE, false, false, false};
	char            *create_index = index_sql_render(def->parsed, &target);
	const char      *set_values[2] = {timeout, qschema};
	const char      *def_values[1] = {cat->rel_oid};
	PGresult        *res = NULL;
	drift_result     result = DRIFT_UNKNOWN;
	index_sql       *probe_def = NULL;
	index_sql       *real_def = NULL;
	char            *parse_why = NULL;

	snprintf(timeout, sizeof(timeout), "%lldms",
			 (long long) (lock_timeout_ms > 0 ? lock_timeout_ms : PROBE_LOCK_TIMEOUT_MS));
	if (!probe_step(conn, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, why, round_trips))
		goto done;
	/* the expressions are resolved as for the build: search_path = schema */
	if (!probe_step(conn,
					"SELECT pg_catalog.set_config('lock_timeout', $1, true), "
					"pg_catalog.set_config('search_path', $2, true)",
					2, set_values, PGRES_TUPLES_OK, NULL, why, round_trips) ||
		!probe_step(conn, create_table, 0, NULL, PGRES_COMMAND_OK, NULL, why, round_trips) ||
		!probe_step(conn, create_index, 0, NULL, PGRES_COMMAND_OK, NULL, why, round_trips) ||
		!probe_step(conn,
					"/* indexer: drift probe */ "
					"SELECT pg_catalog.pg_get_indexdef(pg_catalog.to_regclass('pg_temp." PROBE_INDEX "')), "
					"pg_catalog.pg_get_indexdef($1::oid)",
					1, def_values, PGRES_TUPLES_OK, &res, why, round_trips))
		goto rollback;
	if (PQgetisnull(res, 0, 0) || PQgetisnull(res, 0, 1))
	{
		*why = xstrdup("the server returned no definition");
		goto rollback;
	}
	probe_def = index_sql_parse(PQgetvalue(res, 0, 0), &parse_why);
	if (probe_def != NULL)
		real_def = index_sql_parse(PQgetvalue(res, 0, 1), &parse_why);
	if (probe_def == NULL || real_def == NULL)
	{
		*why = xasprintf("cannot parse the server's definition: %s", parse_why);
		goto rollback;
	}
	result = index_sql_equivalent(probe_def, real_def, def->schema, INDEX_SQL_IGNORE_RELATION)
				 ? DRIFT_SAME
				 : DRIFT_DIFFERENT;

rollback:
	(*round_trips)++;
	db_command_uninterruptible(conn, "rolling back the drift probe", "ROLLBACK");
done:
	PQclear(res);
	index_sql_free(probe_def);
	index_sql_free(real_def);
	free(parse_why);
	free(create_index);
	free(create_table);
	free(qschema);
	free(qtable);
	return result;
}

drift_result
drift_compare(PGconn *conn, const index_def *def, const catalog_entry *cat, int64_t lock_timeout_ms,
			  char **why, int *round_trips)
{
	index_sql   *server;
	char        *parse_why = NULL;
	drift_result result;

	*why = NULL;
	server = index_sql_parse(cat->indexdef, &parse_why);
	if (server == NULL)
	{
		*why = xasprintf("cannot parse the server's definition \"%s\": %s", cat->indexdef, parse_why);
		free(parse_why);
		return DRIFT_UNKNOWN;
	}
	if (index_sql_equivalent(def->parsed, server, def->schema, 0))
		result = DRIFT_SAME;
	else
	{
		log_event(LOG_LEVEL_DEBUG, "drift_probe", NULL,
				  "\"%s\": the definitions are spelled differently; asking the server to compare them",
				  def->name);
		result = probe(conn, def, cat, lock_timeout_ms, why, round_trips);
	}
	index_sql_free(server);
	return result;
}
