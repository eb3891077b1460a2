/*-------------------------------------------------------------------------
 *
 * lint_files.c
 *	  "migrator lint" over many files: parsed ahead on several threads,
 *	  linted and reported in order.
 *
 * A parsing thread parses a file quietly (parse_quietly): when the file and
 * its verify file parse and pass migration_parse()'s own checks, their
 * scripts go into the migration as migration_parse() would put them, and
 * it then has nothing to do.  Anything else is thrown away: the taking
 * thread calls migration_parse(), which parses that file again and reports
 * why, in its place.  So a file is never accepted here that
 * migration_parse() would refuse, and every message comes from where it
 * always came from.
 *
 * migrator/lint_files.c
 *
 *-------------------------------------------------------------------------
 */
#include "lint_files.h"

#include <string.h>

#include "parser_pool.h"

/* items parsed ahead of the one being reported, per parsing thread */
#define AHEAD_PER_THREAD 8

/* Parse source into *script when it parses to at least one statement. */
static bool
parse_some(const char *source, sql_script *script)
{
	sql_parse_error err;

	if (!sql_parse_script(source, script, &err))
	{
		sql_parse_error_free(&err);
		return false;
	}
	if (script->n_stmts == 0)
	{
		sql_script_free(script);
		return false;
	}
	return true;
}

/* migration_parse_verify()'s checks: every statement a SELECT. */
static bool
only_selects(const sql_script *script)
{
	for (int i = 0; i < script->n_stmts; i++)
		if (strcmp(script->stmts[i].kind, "SelectStmt") != 0)
			return false;
	return true;
}

/*
 * What migration_parse(m) does when it succeeds, without a word when it
 * would not (m is then left as it was, for migration_parse to report).
 */
static void
parse_quietly(migration *m)
{
	sql_script script;
	sql_script verify = {0};

	if (m->parsed || !parse_some(m->source, &script))
		return;
	if (m->verify_source != NULL && !m->verify_parsed)
	{
		if (!parse_some(m->verify_source, &verify) || !only_selects(&verify))
		{
			sql_script_free(&verify);
			sql_script_free(&script);
			return;
		}
		m->verify_script = verify;
		m->verify_parsed = true;
	}
	m->script = script;
	m->parsed = true;
}

static void
parse_file(int i, void *arg)
{
	const lint_walk *walk = arg;

	if (walk->parse_ahead[i])
		parse_quietly(&walk->files[i]);
}

/* See lint_files.h. */
void
lint_files_each(const lint_walk *walk)
{
	parser_pool_batch batch;

	batch.n = walk->n;
	batch.threads = parser_pool_threads(walk->n);
	batch.ahead = AHEAD_PER_THREAD * (batch.threads + 1);
	batch.parse = parse_file;
	batch.done = walk->each;
	batch.arg = (void *) walk;
	if (!parser_pool_run(&batch))
		for (int i = 0; i < walk->n; i++)
			walk->each(i, (void *) walk);
}
