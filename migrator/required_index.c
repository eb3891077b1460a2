/*-------------------------------------------------------------------------
 *
 * required_index.c
 *	  "-- migrator:requires-index NAME": build an index before a migration.
 *
 * migrator/required_index.c
 *
 *-------------------------------------------------------------------------
 */
#include "required_index.h"

#include <stdlib.h>
#include <string.h>

#include "advlock.h"
#include "build.h"
#include "cancel.h"
#include "catalog.h"
#include "config.h"
#include "exitcodes.h"
#include "log.h"
#include "memory.h"
#include "plan.h"
#include "settings.h"
#include "statement_index.h"

struct required_indexes
{
	index_config cfg;
	char        *schema;
};

/* the line of the directive, for messages */
static int
directive_line(const migration *m, const char *name)
{
	const char *p = m->source;

	for (int line = 1; p && *p; line++)
	{
		const char *eol = strchr(p, '\n');
		size_t      len = eol ? (size_t) (eol - p) : strlen(p);
		const char *hit = strstr(p, "migrator:requires-index");

		if (hit && hit < p + len && strstr(hit, name) && strstr(hit, name) < p + len)
			return line;
		p = eol ? eol + 1 : NULL;
	}
	return 1;
}

int
required_load(const char *path, const char *schema, migration *const *pending, int n_pending,
			  required_indexes **out)
{
	required_indexes *ri;
	bool              needed = false;
	bool              ok = true;

	*out = NULL;
	/* the concurrent builds in no-transaction files go through the engine too */
	if (statement_index_check(pending, n_pending) != EXIT_OK)
		return EXIT_USAGE;
	for (int i = 0; i < n_pending; i++)
		needed |= pending[i]->n_required_indexes > 0;
	if (!needed)
		return EXIT_OK;

	ri = xcalloc(1, sizeof(*ri));
	ri->schema = xstrdup(schema);
	if (config_load(path, &ri->cfg) != EXIT_OK || config_resolve(&ri->cfg, schema) != EXIT_OK)
	{
		log_event(
			LOG_LEVEL_ERROR, "required_index", NULL,
			"a pending migration requires an index, and the index config \"%s\" is not valid; nothing applied",
			path);
		required_free(ri);
		return EXIT_USAGE;
	}
	for (int i = 0; i < n_pending; i++)
	{
		const migration *m = pending[i];

		for (int j = 0; j < m->n_required_indexes; j++)
		{
			const char      *name = m->required_indexes[j];
			const index_def *d = config_find(&ri->cfg, name);

			if (d == NULL)
			{
				log_event(LOG_LEVEL_ERROR, "required_index", NULL,
						  "%s:%d: requires-index \"%s\": no definition of that name in \"%s\"", m->path,
						  directive_line(m, name), name, path);
				ok = false;
			}
			else if (d->state != INDEX_STATE_PRESENT)
			{
				log_event(LOG_LEVEL_ERROR, "required_index", NULL,
						  "%s:%d: requires-index \"%s\": its definition in %s:%d has state \"absent\"",
						  m->path, directive_line(m, name), name, path, d->line);
				ok = false;
			}
		}
	}
	if (!ok)
	{
		required_free(ri);
		return EXIT_USAGE;
	}
	*out = ri;
	return EXIT_OK;
}

/* Build (or confirm) one definition; EXIT_OK or a code with *why set. */
static int
ensure_one(required_indexes *ri, index_def *def, PGconn *conn, const conn_options *conn_opts,
		   const indexer_settings *set, char **why)
{
	index_def     *defs[1] = {def};
	catalog_entry *cat = NULL;
	plan_item     *items = NULL;
	plan_options   popts = {false, set->lock_timeout_ms};
	build_env      env = {set, conn_opts, conn};
	build_summary  sum = {0};
	int            round_trips = 0;
	int            rc;

	rc = catalog_load(conn, defs, 1, set->lock_timeout_ms, &cat, &round_trips);
	if (rc != EXIT_OK)
	{
		*why = xstrdup("the catalog query failed");
		return rc;
	}
	items = plan_make(conn, defs, cat, 1, &popts, &round_trips);
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
	catalog_free(cat, 1);
	return rc;
}

int
required_build(required_indexes *ri, const migration *m, PGconn *conn, const conn_options *conn_opts,
			   int64_t lock_timeout_ms, int64_t statement_timeout_ms, int retries, int64_t lock_wait_ms,
			   char **final_error)
{
	indexer_settings set;
	char            *lock_name;
	int              rc = EXIT_OK;

	*final_error = NULL;
	if (ri == NULL || m->n_required_indexes == 0)
		return EXIT_OK;

	settings_init(&set);
	free(set.schema);
	set.schema = xstrdup(ri->schema);
	set.lock_timeout_ms = lock_timeout_ms;
	set.statement_timeout_ms = statement_timeout_ms;
	set.retries = retries;
	set.format = log_get_format();
	set.progress = false;

	/* the indexer's own run lock: a cron run must not build it at the same time */
	lock_name = advlock_name_indexer(PQdb(conn));
	rc = advlock_acquire(conn, lock_name, lock_wait_ms, "indexer");
	if (rc != EXIT_OK)
	{
		*final_error =
			xasprintf("migration %lld: could not take the indexer's run lock to build its required indexes",
					  (long long) m->version);
		goto done;
	}
	for (int j = 0; j < m->n_required_indexes && rc == EXIT_OK; j++)
	{
		index_def *def = (index_def *) config_find(&ri->cfg, m->required_indexes[j]);
		char      *why = NULL;

		rc = ensure_one(ri, def, conn, conn_opts, &set, &why);
		if (rc != EXIT_OK)
		{
			if (cancel_pending())
				rc = cancel_exit_code();
			*final_error =
				xasprintf("migration %lld failed at %s:%d: required index \"%s\" could not be built: %s",
						  (long long) m->version, m->path, directive_line(m, m->required_indexes[j]),
						  m->required_indexes[j], why ? why : "unknown error");
		}
		free(why);
	}
	advlock_release(conn, lock_name);

done:
	free(lock_name);
	settings_free(&set);
	return rc;
}

void
required_free(required_indexes *ri)
{
	if (ri == NULL)
		return;
	config_free(&ri->cfg);
	free(ri->schema);
	free(ri);
}
