/*-------------------------------------------------------------------------
 *
 * index_ensure.c
 *	  The one door from the migrator into the indexer: make sure an index
 *	  exists, valid and ready, building it with the indexer's engine.
 *
 * indexer/index_ensure.c
 *
 *-------------------------------------------------------------------------
 */
#include "index_ensure.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "cancel.h"
#include "catalog.h"
#include "definitions.h"
#include "exitcodes.h"
#include "index_sql.h"
#include "log.h"
#include "memory.h"
#include "plan.h"
#include "query.h"
#include "settings.h"

struct index_definitions
{
	index_config cfg;
};

/* The engine's settings for one ensure; settings_free() them. */
static void
settings_from(indexer_settings *set, const index_ensure_options *opts, const char *schema)
{
	settings_init(set);
	free(set->schema);
	set->schema = xstrdup(schema);
	set->lock_timeout_ms = opts->lock_timeout_ms;
	set->statement_timeout_ms = opts->statement_timeout_ms;
	set->retries = opts->retries;
	set->format = log_get_format();
	set->progress = opts->progress;
}

/* ---- requires-index --------------------------------------------------- */

int
index_definitions_load(const char *path, const char *schema, index_definitions **out)
{
	index_definitions *defs = xcalloc(1, sizeof(*defs));

	*out = NULL;
	if (config_load(path, &defs->cfg) != EXIT_OK || config_resolve(&defs->cfg, schema) != EXIT_OK)
	{
		index_definitions_free(defs);
		return EXIT_USAGE;
	}
	*out = defs;
	return EXIT_OK;
}

index_lookup
index_definitions_lookup(const index_definitions *defs, const char *name, int *line)
{
	const index_def *d = config_find(&defs->cfg, name);

	if (d == NULL)
		return INDEX_LOOKUP_UNDEFINED;
	*line = d->line;
	return d->state == INDEX_STATE_PRESENT ? INDEX_LOOKUP_PRESENT : INDEX_LOOKUP_ABSENT;
}

void
index_definitions_free(index_definitions *defs)
{
	if (defs == NULL)
		return;
	config_free(&defs->cfg);
	free(defs);
}

/* Carry out the plan of def (the catalog is read); EXIT_OK or a code with *why set. */
static int
ensure_planned(PGconn *conn, index_def *def, catalog_entry *cat, const indexer_settings *set,
			   const index_ensure_options *opts, char **why)
{
	index_def   *defs[1] = {def};
	plan_options popts = {false, set->lock_timeout_ms};
	build_env    env = {set, opts->conn_opts, conn, 0, NULL}; /* a migration needs it: no window, no budget */
	build_summary sum = {0};
	int           round_trips = 0;
	plan_item    *items = plan_make(conn, defs, cat, 1, &popts, &round_trips);
	int           rc;

	switch (items[0].action)
	{
		case ACT_PRESENT:
		case ACT_DRIFTED: /* it exists, valid: usable by the migration */
			log_event(LOG_LEVEL_INFO, "required_index", NULL, "required index \"%s\" is present%s", def->name,
					  items[0].action == ACT_DRIFTED ? " (its definition drifted from the file)" : "");
			rc = EXIT_OK;
			break;
		case ACT_BUILD:
		case ACT_REPAIR:
		case ACT_CLEANUP:
			log_event(LOG_LEVEL_INFO, "required_index", NULL,
					  "building required index \"%s\" on \"%s.%s\" concurrently", def->name, def->schema,
					  def->table);
			rc = build_run(items, 1, &env, &sum);
			if (rc == EXIT_OK && items[0].outcome != OUTCOME_DONE)
				rc = EXIT_CHANGE_FAILED;
			if (rc != EXIT_OK)
				*why = xstrdup(items[0].failure ? items[0].failure : "the build did not complete");
			break;
		default:
			*why = xstrdup(items[0].reason ? items[0].reason : plan_action_name(items[0].action));
			rc = EXIT_CHANGE_FAILED;
			break;
	}
	plan_free(items, 1);
	return rc;
}

int
index_ensure(PGconn *conn, index_definitions *defs, const char *name, const index_ensure_options *opts,
			 char **why)
{
	index_def       *def = (index_def *) config_find(&defs->cfg, name);
	index_def       *one[1] = {def};
	indexer_settings set;
	catalog_entry   *cat = NULL;
	int              round_trips = 0;
	int              rc;

	*why = NULL;
	if (def == NULL)
	{
		*why = xasprintf("no definition of index \"%s\"", name); /* index_definitions_lookup() first */
		return EXIT_USAGE;
	}
	settings_from(&set, opts, opts->schema);
	rc = catalog_load(conn, one, 1, set.lock_timeout_ms, &cat, &round_trips);
	if (rc != EXIT_OK)
		*why = xstrdup("the catalog query failed");
	else
		rc = ensure_planned(conn, def, cat, &set, opts, why);
	catalog_free(cat, 1);
	settings_free(&set);
	return rc;
}

/* ---- a migration's own CREATE INDEX statement -------------------------- */

bool
index_statement_parse(const char *sql, int line, const char *default_schema, index_statement *out)
{
	char                 *why = NULL;
	index_sql            *parsed = index_sql_parse(sql, &why);
	const index_sql_info *info;
	index_def            *def;

	memset(out, 0, sizeof(*out));
	free(why);
	if (parsed == NULL)
		return false;
	info = index_sql_get_info(parsed);
	def = xcalloc(1, sizeof(*def));
	def->parsed = parsed;
	def->name = xstrdup(info->name);
	/* unqualified: where the statement's search_path (--schema) finds it */
	def->schema = xstrdup(info->schema[0] ? info->schema : (default_schema ? default_schema : ""));
	def->schema_given = info->schema[0] != '\0';
	def->table = xstrdup(info->table);
	def->sql = xstrdup(sql);
	def->critical = true;
	def->state = INDEX_STATE_PRESENT;
	def->line = line;
	def->sql_line = line;
	out->def = def;
	out->name = def->name;
	out->schema = def->schema;
	out->table = def->table;
	out->concurrent = info->concurrent;
	out->if_not_exists = info->if_not_exists;
	return true;
}

void
index_statement_free(index_statement *st)
{
	if (st == NULL || st->def == NULL)
		return;
	free(st->def->name);
	free(st->def->schema);
	free(st->def->table);
	free(st->def->sql);
	index_sql_free(st->def->parsed);
	free(st->def);
	memset(st, 0, sizeof(*st));
}

/* An index that exists and is valid: what IF NOT EXISTS makes of it. */
static bool
existing_index(const plan_item *it, bool if_not_exists, db_error *err)
{
	const index_def *d = it->def;

	if (!if_not_exists)
	{
		/* what the server itself answers */
		db_error_set(err, PGERR_DUPLICATE_OBJECT, ERRCODE_DUPLICATE_TABLE,
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
		db_error_set(err, PGERR_UNDEFINED_OBJECT, ERRCODE_INVALID_SCHEMA_NAME, xstrdup(reason));
	else if (it->action == ACT_ERROR && c->table_oid == NULL)
		db_error_set(err, PGERR_UNDEFINED_OBJECT, ERRCODE_UNDEFINED_TABLE, xstrdup(reason));
	else
		db_error_set(err, PGERR_OTHER, NULL,
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
	db_error_set(err, PGERR_OTHER, NULL,
				 xasprintf("index \"%s\" on \"%s.%s\" is %s at the end of the build", def->name, def->schema,
						   def->table,
						   !st.exists     ? "missing"
						   : !st.on_table ? "on another table"
										  : "not valid"));
	return false;
}

/* Build it: the plan says the index is missing, invalid or left over. */
static bool
build_planned(PGconn *conn, plan_item *item, const indexer_settings *set, const index_ensure_options *opts,
			  db_error *err)
{
	const index_def *def = item->def;
	build_env        env = {set, opts->conn_opts, conn, 0, NULL}; /* no window, no budget */
	build_summary    sum = {0};
	int              rc;
	bool             ok;

	if (item->action == ACT_REPAIR)
		log_event(LOG_LEVEL_WARNING, "index_invalid", NULL,
				  "index \"%s\" on \"%s.%s\" exists but is not valid: %s", def->name, def->schema, def->table,
				  item->reason);
	rc = build_run(item, 1, &env, &sum);
	ok = rc == EXIT_OK && item->outcome == OUTCOME_DONE;
	if (!ok && cancel_pending())
		db_error_set(err, PGERR_CANCELED_BY_US, NULL, xstrdup("interrupted"));
	else if (!ok)
		/* the engine's own line: SQLSTATE first when the server gave one */
		db_error_set(err, rc == EXIT_UNREACHABLE ? PGERR_CONNECTION_LOST : PGERR_OTHER, NULL,
					 xstrdup(item->failure ? item->failure : "the build did not complete"));
	return ok;
}

bool
index_ensure_statement(PGconn *conn, const index_statement *st, const index_ensure_options *opts,
					   db_error *err)
{
	index_def       *defs[1] = {st->def};
	indexer_settings set;
	catalog_entry   *cat = NULL;
	plan_item       *items = NULL;
	plan_options     popts;
	int              round_trips = 0;
	bool             ok = false;

	db_error_clear(err);
	settings_from(&set, opts, st->schema);
	popts = (plan_options){false, set.lock_timeout_ms};
	if (catalog_load(conn, defs, 1, set.lock_timeout_ms, &cat, &round_trips) != EXIT_OK)
	{
		db_error_set(err, cancel_pending() ? PGERR_CANCELED_BY_US : PGERR_CONNECTION_LOST, NULL,
					 xstrdup("the catalog query failed"));
		settings_free(&set);
		return false;
	}
	items = plan_make(conn, defs, cat, 1, &popts, &round_trips);
	switch (items[0].action)
	{
		case ACT_PRESENT:
		case ACT_DRIFTED:
			ok = existing_index(&items[0], st->if_not_exists, err);
			break;
		case ACT_BUILD:
		case ACT_REPAIR:
		case ACT_CLEANUP:
			ok = build_planned(conn, &items[0], &set, opts, err);
			break;
		default: /* busy: another backend builds it right now; or cannot be done */
			plan_refused(&items[0], err);
			break;
	}
	if (ok && cat[0].table_oid != NULL)
		ok = index_is_valid(conn, st->def, cat[0].table_oid, err);
	plan_free(items, 1);
	catalog_free(cat, 1);
	settings_free(&set);
	return ok;
}
