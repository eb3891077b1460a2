/*-------------------------------------------------------------------------
 *
 * apply_residue.c
 *	  Can a migration leave anything behind in its session?
 *
 * migrator/apply_residue.c
 *
 *-------------------------------------------------------------------------
 */
#include "apply_residue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lint_internal.h"
#include "memory.h"
#include "pg_volatile_functions.h"
#include "query.h"
#include "sqlwalk.h"

/*
 * DDL that runs none of the user's code when it executes, apart from the
 * expressions the walk below judges (a default or CHECK evaluated over
 * existing rows, an index expression).  Sorted for bsearch.
 */
static const char *const quiet_kinds[] = {
	"AlterDomainStmt", "AlterEnumStmt",     "AlterObjectSchemaStmt",
	"AlterOwnerStmt",  "AlterSeqStmt",      "AlterTableStmt",
	"CommentStmt",     "CompositeTypeStmt", "CreateDomainStmt",
	"CreateEnumStmt",  "CreateSeqStmt",     "CreateStmt",
	"DropStmt",        "GrantStmt",         "IndexStmt",
	"RenameStmt",      "ViewStmt",
};

static int
cmp_kind(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static bool
quiet_kind(const char *kind)
{
	return kind != NULL && bsearch(&kind, quiet_kinds, sizeof(quiet_kinds) / sizeof(quiet_kinds[0]),
								   sizeof(quiet_kinds[0]), cmp_kind) != NULL;
}

/* A schema-qualified name outside pg_catalog is the user's code. */
static bool
foreign_schema(const char *schema)
{
	return schema != NULL && strcmp(schema, "pg_catalog") != 0;
}

/* sql_walk callback: arg is a bool set when something may touch the session. */
static bool
visit(const ProtobufCMessage *msg, void *arg)
{
	bool       *loud = arg;
	const char *schema = NULL;
	const char *name = NULL;

	if (*loud)
		return false;
	if (msg->descriptor == &pg_query__func_call__descriptor)
	{
		name = lint_func_call_name((const PgQuery__FuncCall *) msg, &schema);
		*loud = name == NULL || foreign_schema(schema) ||
				pg_builtin_function_volatility(name) != PG_FUNC_NON_VOLATILE;
	}
	else if (msg->descriptor == &pg_query__a__expr__descriptor)
	{
		const PgQuery__AExpr *e = (const PgQuery__AExpr *) msg;

		*loud = lint_list_name(e->name, e->n_name, &schema, &name) && foreign_schema(schema);
	}
	else if (msg->descriptor == &pg_query__range_var__descriptor)
	{
		/* a temporary relation shadows the next migration's of that name */
		const PgQuery__RangeVar *rv = (const PgQuery__RangeVar *) msg;

		*loud = (rv->relpersistence != NULL && strcmp(rv->relpersistence, "t") == 0) ||
				(rv->schemaname != NULL && strcmp(rv->schemaname, "pg_temp") == 0);
	}
	return !*loud;
}

/* May a statement of script (kinds checked when check_kind) touch the session? */
static bool
script_loud(const sql_script *script, bool check_kind)
{
	bool loud = false;

	for (int i = 0; !loud && i < script->n_stmts; i++)
	{
		const sql_statement *st = &script->stmts[i];

		if (check_kind && !quiet_kind(st->kind))
			return true;
		if (script->tree == NULL || st->tree_index < 0 || (size_t) st->tree_index >= script->tree->n_stmts)
			return true;
		sql_walk((const ProtobufCMessage *) script->tree->stmts[st->tree_index]->stmt, visit, &loud);
	}
	return loud;
}

bool
apply_residue_possible(const migration *m, bool event_triggers)
{
	if (event_triggers || m->no_transaction || m->allow_dml)
		return true;
	/* verify statements run in a savepoint rolled back (settings, temp
	 * tables undone), but a session advisory lock outlives it */
	return script_loud(&m->script, true) || script_loud(&m->verify_script, false);
}

bool
apply_residue_touches_event_triggers(const migration *m)
{
	for (int i = 0; i < m->script.n_stmts; i++)
	{
		const char *kind = m->script.stmts[i].kind;

		if (strcmp(kind, "CreateEventTrigStmt") == 0 || strcmp(kind, "AlterEventTrigStmt") == 0)
			return true;
		/* DROP EVENT TRIGGER is a DropStmt: harmless, it only removes one */
	}
	return false;
}

bool
apply_residue_event_triggers(PGconn *conn)
{
	PGresult *res =
		db_query(conn, "looking for event triggers",
				 "SELECT EXISTS (SELECT FROM pg_catalog.pg_event_trigger WHERE evtenabled <> 'D')", 0, NULL,
				 PGRES_TUPLES_OK);
	bool found = res == NULL || PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "f") != 0;

	PQclear(res);
	return found;
}

/* ---- the residue probe -------------------------------------------------------- */

/*
 * Runs after COMMIT, in whatever session the migration left: its search_path
 * may be the user's, so every name is qualified and every operator is
 * OPERATOR(pg_catalog.x) (no IS DISTINCT FROM or NULLIF, which look "=" up
 * on the path).  $1: lock_timeout in ms as pg_settings shows it; $2: the
 * run's role (NULL: unknown, counts as changed); $3: the connection's user.
 */
#define SQL_EQ      " OPERATOR(pg_catalog.=) "
#define SQL_NE      " OPERATOR(pg_catalog.<>) "
#define SQL_TEMP_NS "pg_catalog.pg_my_temp_schema()"

static const char probe_sql[] =
	"SELECT pg_catalog.concat_ws('; ', CASE WHEN r.settings" SQL_NE "'' THEN 'settings: ' "
	"OPERATOR(pg_catalog.||) r.settings END, r.prepared, r.cursors, r.channels, r.advisory, r.temp) "
	"FROM (SELECT pg_catalog.concat_ws(', ', "
	"(SELECT pg_catalog.string_agg(s.name, ', ' ORDER BY s.name) FROM pg_catalog.pg_settings s "
	"WHERE s.source" SQL_EQ "'session' "
	"AND NOT (s.name" SQL_EQ "'search_path' AND s.setting" SQL_EQ "'') "
	"AND NOT (s.name" SQL_EQ "'lock_timeout' AND s.setting" SQL_EQ "$1::pg_catalog.text) "
	"AND NOT (s.name" SQL_EQ "'idle_session_timeout' AND s.setting" SQL_EQ "'0')), "
	"CASE WHEN $2::pg_catalog.text IS NULL OR pg_catalog.current_setting('role')" SQL_NE
	"$2::pg_catalog.text THEN 'role' END, "
	"CASE WHEN pg_catalog.current_setting('session_authorization')" SQL_NE
	"$3::pg_catalog.text THEN 'session_authorization' END) AS settings, "
	"CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_prepared_statements p WHERE p.from_sql "
	"OR NOT pg_catalog.starts_with(p.name, 'toolkit_')) THEN 'prepared statements' END AS prepared, "
	/* after COMMIT only a holdable one is left (the probe's own portal is not) */
	"CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_cursors c WHERE c.is_holdable) THEN 'cursors' END "
	"AS cursors, "
	"CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_listening_channels()) THEN 'listening channels' END "
	"AS channels, "
	"CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_locks l WHERE l.locktype" SQL_EQ "'advisory' "
	"AND l.pid" SQL_EQ "pg_catalog.pg_backend_pid()) THEN 'advisory locks' END AS advisory, "
	/* a temporary schema stays assigned after DISCARD: what is in it counts */
	"CASE WHEN " SQL_TEMP_NS SQL_EQ "0 THEN NULL "
	"WHEN EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.relnamespace" SQL_EQ SQL_TEMP_NS ") "
	"OR EXISTS (SELECT FROM pg_catalog.pg_type t WHERE t.typnamespace" SQL_EQ SQL_TEMP_NS ") "
	"OR EXISTS (SELECT FROM pg_catalog.pg_proc f WHERE f.pronamespace" SQL_EQ SQL_TEMP_NS ") "
	"THEN 'temporary objects' END AS temp) r";

static char *
probe_judge(void *arg, const PGresult *res)
{
	residue_probe *probe = arg;

	if (PQntuples(res) != 1 || PQnfields(res) != 1)
		return NULL; /* not answered: counts as residue */
	probe->answered = true;
	if (!PQgetisnull(res, 0, 0) && PQgetvalue(res, 0, 0)[0] != '\0')
		probe->left = xstrdup(PQgetvalue(res, 0, 0));
	return NULL; /* what it found is the caller's to act on, not a failure */
}

int
apply_residue_probe_add(pipeline *p, const apply_ctx *ctx, residue_probe *probe)
{
	char        lt[32];
	const char *values[3];

	memset(probe, 0, sizeof(*probe));
	snprintf(lt, sizeof(lt), "%lld", (long long) ctx->settings.lock_timeout_ms);
	values[0] = lt;
	values[1] = ctx->role ? ctx->role : ctx->session_role;
	values[2] = PQuser(ctx->conn);
	return pipeline_add(p, probe_sql, 3, values, PGRES_TUPLES_OK, probe_judge, probe);
}

const char *
apply_residue_probe_left(const residue_probe *probe)
{
	if (!probe->answered)
		return "unknown (the check after COMMIT did not answer)";
	return probe->left;
}

void
apply_residue_probe_clear(residue_probe *probe)
{
	free(probe->left);
	memset(probe, 0, sizeof(*probe));
}
