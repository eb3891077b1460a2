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

#include "advlock.h"
#include "exitcodes.h"
#include "index_ensure.h"
#include "log.h"
#include "memory.h"
#include "options.h"

bool
statement_index_routed(const migration *m, const sql_statement *st)
{
	index_statement parsed;
	bool            routed;

	if (!m->no_transaction || strcmp(st->kind, "IndexStmt") != 0)
		return false;
	routed = index_statement_parse(st->text, st->line, NULL, &parsed) && parsed.concurrent;
	index_statement_free(&parsed);
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
			index_statement      parsed;

			if (!statement_index_routed(m, st))
				continue;
			/* a name is what a failed build's leftover is found and repaired by */
			if (index_statement_parse(st->text, st->line, NULL, &parsed) && parsed.name[0] == '\0')
			{
				log_event(
					LOG_LEVEL_ERROR, "unnamed_index", NULL,
					"%s:%d: CREATE INDEX CONCURRENTLY without an index name: a failed build would leave an invalid index nobody can find again; name it (CREATE INDEX CONCURRENTLY IF NOT EXISTS name ON ...); nothing applied",
					m->path, st->line);
				rc = EXIT_USAGE;
			}
			index_statement_free(&parsed);
		}
	}
	return rc;
}

/* The engine's bounds: the run's options, as a migration's statements have them. */
static index_ensure_options
engine_options(const apply_ctx *ctx)
{
	index_ensure_options opts = {ctx->conn_opts,
								 ctx->conn_opts->schema,
								 ctx->settings.lock_timeout_ms,
								 ctx->settings.statement_timeout_ms,
								 ctx->settings.retries,
								 true};

	/* no --statement-timeout: the session's own bound, as DISCARD ALL left it */
	if (opts.statement_timeout_ms < 0 &&
		(ctx->session_statement_timeout == NULL ||
		 !parse_duration(ctx->session_statement_timeout, &opts.statement_timeout_ms, NULL, 0)))
		opts.statement_timeout_ms = 0;
	return opts;
}

/*
 * The indexer's own run lock, as for requires-index: a cron run must not
 * drop or build the same name meanwhile, and the engine starts a build
 * only while its main connection holds a run lock.
 */
static bool
build_locked(apply_ctx *ctx, const index_statement *is, db_error *err)
{
	index_ensure_options opts = engine_options(ctx);
	char                *lock_name = advlock_name(ADVLOCK_INDEXER, PQdb(ctx->conn));
	int                  lrc = advlock_acquire(ctx->conn, lock_name, ctx->lock_wait_ms, "indexer");
	bool                 ok;

	if (lrc != EXIT_OK)
	{
		db_error_set(err, lrc == EXIT_UNREACHABLE ? PGERR_CONNECTION_LOST : PGERR_OTHER, NULL,
					 xstrdup("could not take the indexer's run lock to build the index"));
		ok = false;
	}
	else
	{
		ok = index_ensure_statement(ctx->conn, is, &opts, err);
		if (PQstatus(ctx->conn) == CONNECTION_OK)
			advlock_release(ctx->conn, lock_name);
	}
	free(lock_name);
	return ok;
}

bool
statement_index_build(apply_ctx *ctx, const migration *m, const sql_statement *st, db_error *err)
{
	index_statement is;
	bool            ok;
	db_error        restore_err = {0};

	db_error_clear(err);
	if (!index_statement_parse(st->text, st->line, ctx->conn_opts->schema, &is))
	{
		db_error_set(err, PGERR_SYNTAX, NULL, xstrdup("not a CREATE INDEX statement"));
		return false;
	}
	log_event(LOG_LEVEL_INFO, "statement_index", NULL,
			  "%s:%d: CREATE INDEX CONCURRENTLY of \"%s\" on \"%s.%s\" runs through the indexer's engine",
			  m->path, st->line, is.name, is.schema, is.table);

	/* ctx->conn runs the engine's own SQL now: pg_catalog only */
	ok = conn_set_search_path(ctx->conn, NULL, false, err) && build_locked(ctx, &is, err);

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
	index_statement_free(&is);
	return ok;
}
