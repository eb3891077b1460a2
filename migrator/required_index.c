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

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "advlock.h"
#include "cancel.h"
#include "exitcodes.h"
#include "index_ensure.h"
#include "log.h"
#include "memory.h"

struct required_indexes
{
	index_definitions *defs;
	char              *schema;
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
	struct stat       st;

	*out = NULL;
	for (int i = 0; i < n_pending; i++)
		needed |= pending[i]->n_required_indexes > 0;
	if (!needed)
		return EXIT_OK;

	ri = xcalloc(1, sizeof(*ri));
	ri->schema = xstrdup(schema);
	if (stat(path, &st) != 0 && errno == ENOENT)
	{
		log_event(
			LOG_LEVEL_ERROR, "required_index", NULL,
			"a pending migration requires an index, and the index definitions file \"%s\" was not found "
			"(set it with --index-config or INDEXER_CONFIG); nothing applied",
			path);
		required_free(ri);
		return EXIT_USAGE;
	}
	if (index_definitions_load(path, schema, &ri->defs) != EXIT_OK)
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
			const char  *name = m->required_indexes[j];
			int          def_line = 0;
			index_lookup found = index_definitions_lookup(ri->defs, name, &def_line);

			if (found == INDEX_LOOKUP_UNDEFINED)
			{
				log_event(LOG_LEVEL_ERROR, "required_index", NULL,
						  "%s:%d: requires-index \"%s\": no definition of that name in \"%s\"", m->path,
						  directive_line(m, name), name, path);
				ok = false;
			}
			else if (found == INDEX_LOOKUP_ABSENT)
			{
				log_event(LOG_LEVEL_ERROR, "required_index", NULL,
						  "%s:%d: requires-index \"%s\": its definition in %s:%d has state \"absent\"",
						  m->path, directive_line(m, name), name, path, def_line);
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

int
required_build(required_indexes *ri, const migration *m, PGconn *conn, const conn_options *conn_opts,
			   int64_t lock_timeout_ms, int64_t statement_timeout_ms, int retries, int64_t lock_wait_ms,
			   char **final_error)
{
	index_ensure_options opts = {
		conn_opts, ri ? ri->schema : NULL, lock_timeout_ms, statement_timeout_ms, retries, false};
	char *lock_name;
	int   rc = EXIT_OK;

	*final_error = NULL;
	if (ri == NULL || m->n_required_indexes == 0)
		return EXIT_OK;

	/* the indexer's own run lock: a cron run must not build it at the same time */
	lock_name = advlock_name(ADVLOCK_INDEXER, PQdb(conn));
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
		char *why = NULL;

		rc = index_ensure(conn, ri->defs, m->required_indexes[j], &opts, &why);
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
	return rc;
}

void
required_free(required_indexes *ri)
{
	if (ri == NULL)
		return;
	index_definitions_free(ri->defs);
	free(ri->schema);
	free(ri);
}
