/*-------------------------------------------------------------------------
 *
 * statement_index.c
 *	  CREATE INDEX CONCURRENTLY in a no-transaction migration, built by the
 *	  indexer's engine instead of run as a plain statement.
 *
 * migrator/statement_index.c
 *
 *-------------------------------------------------------------------------
 */
#include "statement_index.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "cancel.h"
#include "catalog.h"
#include "config.h"
#include "exitcodes.h"
#include "index_sql.h"
#include "advlock.h"
#include "log.h"
#include "options.h"
#include "memory.h"
#include "plan.h"
#include "query.h"
#include "settings.h"

/* Fill err with a failure of our own (sqlstate may be NULL). */
static void
set_error(db_error *err, pgerr_class cls, const char *sqlstate, char *message)
{
	db_error_clear(err);
	err->cls = cls;
	if (sqlstate)
		memcpy(err->sqlstate, sqlstate, sizeof(err->sqlstate));
	err->message = message;
}

bool
statement_index_routed(const migration *m, const sql_statement *st)
{
	index_sql *parsed;
	char      *why = NULL;
	bool       routed;

	if (!m->no_transaction || strcmp(st->kind, "IndexStmt") != 0)
		return false;
	parsed = index_sql_parse(st->text, &why);
	routed = parsed != NULL && index_sql_get_info(parsed)->concurrent;
	index_sql_free(parsed);
	free(why);
	return routed;
}

int
statement_index_check(migration *const *pending, int n_pending)
{
	int rc = EXIT_OK;

	for (int i = 0; i < n_pending; i++)
	{
		const migration *m = pending[i];

		for (int k = 0; k < m->script.n_stmts; k++)
		{
			const sql_statement *st = &m->script.stmts[k];
			index_sql           *parsed;
			char                *why = NULL;

			if (!statement_index_routed(m, st))
				continue;
			parsed = index_sql_parse(st->text, &why);
			/* a name is what a failed build's leftover is found and repaired by */
			if (parsed != NULL && index_sql_get_info(parsed)->name[0] == '\0')
			{
				log_event(
					LOG_LEVEL_ERROR, "unnamed_index", NULL,
					"%s:%d: CREATE INDEX CONCURRENTLY without an index name: a failed build would leave an invalid index nobody can find again; name it (CREATE INDEX CONCURRENTLY IF NOT EXISTS name ON ...); nothing applied",
					m->path, st->line);
				rc = EXIT_USAGE;
			}
			index_sql_free(parsed);
			free(why);
		}
	}
	return rc;
}

/* The definition the engine builds for st; free with def_free(). */
static bool
def_from_statement(const sql_statement *st, const char *default_schema, index_def *def, bool *if_not_exists)
{
	char                 *why = NULL;
	const index_sql_info *info;

	memset(def, 0, sizeof(*def));
	def->parsed = index_sql_parse(st->text, &why);
	free(why);
	if (def->parsed == NULL)
		return false; /* it parsed as part of the file: cannot happen */
	info = index_sql_get_info(def->parsed);
	def->name = xstrdup(info->name);
	/* unqualified: where the statement's search_path (--schema) finds it */
	def->schema = xstrdup(info->schema[0] ? info->schema : default_schema);
	def->schema_given = info->schema[0] != '\0';
	def->table = xstrdup(info->table);
	def->sql = xstrdup(st->text);
	def->critical = true;
	def->state = INDEX_STATE_PRESENT;
	def->line = st->line;
	def->sql_line = st->line;
	*if_not_exists = info->if_not_exists;
	return true;
}

static void
def_free(index_def *def)
{
	free(def->name);
	free(def->schema);
	free(def->table);
	free(def->sql);
	index_sql_free(def->parsed);
}

/* An index that exists and is valid: what IF NOT EXISTS makes of it. */
static bool
existing_index(const plan_item *it, bool if_not_exists, db_error *err)
{
	const index_def *d = it->def;

	if (!if_not_exists)
	{
		/* what the server itself answers */
		set_error(err, PGERR_DUPLICATE_OBJECT, ERRCODE_DUPLICATE_TABLE,
				  xasprintf("relation \"%s\" already exists", d->name));
		return false;
	}
	if (it->action == ACT_DRIFTED)
		log_event(LOG_LEVEL_WARNING, "index_drifted", NULL,
				  "index \"%s\" on \"%s.%s\" exists with another definition; IF NOT EXISTS leaves it: %s",
				  d->name, d->schema, d->table, it->reason);
	else
		log_event(LOG_LEVEL_INFO, "index_present", NULL,
				  "index \"%s\" on \"%s.%s\" exists and is valid; IF NOT EXISTS leaves it", d->name,
				  d->schema, d->table);
	return true;
}

/* Why the plan cannot be carried out, with the server's SQLSTATE where one fits. */
static void
plan_refused(const plan_item *it, db_error *err)
{
	const catalog_entry *c = it->cat;
	const char          *reason = it->reason ? it->reason : plan_action_name(it->action);

	if (it->action == ACT_ERROR && !c->schema_exists)
		set_error(err, PGERR_UNDEFINED_OBJECT, ERRCODE_INVALID_SCHEMA_NAME, xstrdup(reason));
	else if (it->action == ACT_ERROR && c->table_oid == NULL)
		set_error(err, PGERR_UNDEFINED_OBJECT, ERRCODE_UNDEFINED_TABLE, xstrdup(reason));
	else
		set_error(err, PGERR_OTHER, NULL,
				  xasprintf("index \"%s\" on \"%s.%s\" was not built: %s", it->def->name, it->def->schema,
							it->def->table, reason));
}

/*
 * The invariant the migration is recorded by: the index is there, valid
 * and ready, on its table.  Checked again whatever the engine reported.
 */
static bool
index_is_valid(PGconn *conn, const index_def *def, const char *table_oid, db_error *err)
{
	const char         *values[3] = {def->schema, def->name, table_oid};
	PGresult           *res = NULL;
	catalog_index_state st = {0};

	if (!db_run(conn, CATALOG_INDEX_STATE_SQL, 3, values, PGRES_TUPLES_OK, &res, err, NULL))
		return false;
	catalog_index_state_from(res, &st);
	PQclear(res);
	if (st.exists && st.valid && st.ready && st.on_table)
		return true;
	set_error(err, PGERR_OTHER, NULL,
			  xasprintf("index \"%s\" on \"%s.%s\" is %s at the end of the build", def->name, def->schema,
						def->table,
						!st.exists     ? "missing"
						: !st.on_table ? "on another table"
									   : "not valid"));
	return false;
}

/* Plan and carry out def on conn (search_path empty).  See the header. */
static bool
run_engine(apply_ctx *ctx, index_def *def, const indexer_settings *set, bool if_not_exists, db_error *err)
{
	index_def     *defs[1] = {def};
	catalog_entry *cat = NULL;
	plan_item     *items = NULL;
	plan_options   popts = {false, set->lock_timeout_ms};
	build_env      env = {set, ctx->conn_opts, ctx->conn};
	build_summary  sum = {0};
	int            round_trips = 0;
	bool           ok = false;
	int            rc;

	rc = catalog_load(ctx->conn, defs, 1, set->lock_timeout_ms, &cat, &round_trips);
	if (rc != EXIT_OK)
	{
		set_error(err, cancel_pending() ? PGERR_CANCELED_BY_US : PGERR_CONNECTION_LOST, NULL,
				  xstrdup("the catalog query failed"));
		return false;
	}
	items = plan_make(ctx->conn, defs, cat, 1, &popts, &round_trips);
	switch (items[0].action)
	{
		case ACT_PRESENT:
		case ACT_DRIFTED:
			ok = existing_index(&items[0], if_not_exists, err);
			break;
		case ACT_BUILD:
		case ACT_REPAIR:
		case ACT_CLEANUP:
			if (items[0].action == ACT_REPAIR)
				log_event(LOG_LEVEL_WARNING, "index_invalid", NULL,
						  "index \"%s\" on \"%s.%s\" exists but is not valid: %s", def->name, def->schema,
						  def->table, items[0].reason);
			rc = build_run(items, 1, &env, &sum);
			ok = rc == EXIT_OK && items[0].outcome == OUTCOME_DONE;
			if (!ok && cancel_pending())
				set_error(err, PGERR_CANCELED_BY_US, NULL, xstrdup("interrupted"));
			else if (!ok)
				/* the engine's own line: SQLSTATE first when the server gave one */
				set_error(err, rc == EXIT_UNREACHABLE ? PGERR_CONNECTION_LOST : PGERR_OTHER, NULL,
						  xstrdup(items[0].failure ? items[0].failure : "the build did not complete"));
			break;
		default: /* busy: another backend builds it right now; or cannot be done */
			plan_refused(&items[0], err);
			break;
	}
	if (ok && cat[0].table_oid != NULL)
		ok = index_is_valid(ctx->conn, def, cat[0].table_oid, err);
	plan_free(items, 1);
	catalog_free(cat, 1);
	return ok;
}

bool
statement_index_build(apply_ctx *ctx, const migration *m, const sql_statement *st, db_error *err)
{
	index_def        def;
	indexer_settings set;
	bool             if_not_exists = false;
	bool             ok;
	db_error         restore_err = {0};
	char            *lock_name;

	db_error_clear(err);
	if (!def_from_statement(st, ctx->conn_opts->schema, &def, &if_not_exists))
	{
		set_error(err, PGERR_SYNTAX, NULL, xstrdup("not a CREATE INDEX statement"));
		def_free(&def);
		return false;
	}
	log_event(LOG_LEVEL_INFO, "statement_index", NULL,
			  "%s:%d: CREATE INDEX CONCURRENTLY of \"%s\" on \"%s.%s\" runs through the indexer's engine",
			  m->path, st->line, def.name, def.schema, def.table);

	settings_init(&set);
	free(set.schema);
	set.schema = xstrdup(def.schema);
	set.lock_timeout_ms = ctx->settings.lock_timeout_ms;
	set.statement_timeout_ms = ctx->settings.statement_timeout_ms;
	/* no --statement-timeout: the session's own bound, as DISCARD ALL left it */
	if (set.statement_timeout_ms < 0 &&
		(ctx->session_statement_timeout == NULL ||
		 !parse_duration(ctx->session_statement_timeout, &set.statement_timeout_ms, NULL, 0)))
		set.statement_timeout_ms = 0;
	set.retries = ctx->settings.retries;
	set.format = log_get_format();

	/* ctx->conn runs the engine's own SQL now: pg_catalog only */
	ok = conn_set_search_path(ctx->conn, NULL, false, err);
	/*
	 * The indexer's own run lock, as for requires-index: a cron run must not
	 * drop or build the same name meanwhile, and the engine starts a build
	 * only while its main connection holds a run lock.
	 */
	lock_name = advlock_name_indexer(PQdb(ctx->conn));
	if (ok)
	{
		int lrc = advlock_acquire(ctx->conn, lock_name, ctx->lock_wait_ms, "indexer");

		if (lrc != EXIT_OK)
		{
			set_error(err, lrc == EXIT_UNREACHABLE ? PGERR_CONNECTION_LOST : PGERR_OTHER, NULL,
					  xstrdup("could not take the indexer's run lock to build the index"));
			ok = false;
		}
		else
		{
			ok = run_engine(ctx, &def, &set, if_not_exists, err);
			if (PQstatus(ctx->conn) == CONNECTION_OK)
				advlock_release(ctx->conn, lock_name);
		}
	}
	free(lock_name);

	/* the migration's next statements resolve in --schema again */
	if (PQstatus(ctx->conn) == CONNECTION_OK &&
		!conn_set_search_path(ctx->conn, ctx->conn_opts->schema, false, &restore_err) && ok)
	{
		db_error_clear(err);
		*err = restore_err;
		memset(&restore_err, 0, sizeof(restore_err));
		ok = false;
	}
	if (!ok && PQstatus(ctx->conn) != CONNECTION_OK && err->cls != PGERR_CANCELED_BY_US)
		err->cls = PGERR_CONNECTION_LOST;
	db_error_clear(&restore_err);
	settings_free(&set);
	def_free(&def);
	return ok;
}
