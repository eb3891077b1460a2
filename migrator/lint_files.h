/*-------------------------------------------------------------------------
 *
 * lint_files.h
 *	  "migrator lint" over many files: parsed ahead on several threads,
 *	  linted and reported in order.
 *
 * The loop of "migrator lint" (migration_lint.c): each file parsed
 * (migration_parse), linted and its findings reported, its parse trees
 * freed before the next.  The parsing, the larger part of the work, runs
 * ahead on the parser pool's threads (common/parser_pool.h); parsing,
 * linting and reporting of file i still come after those of file i - 1,
 * so the output, errors included, is byte for byte the loop's
 * (tests/integration/test_lint_golden.py).
 *
 * migrator/lint_files.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef LINT_FILES_H
#define LINT_FILES_H

#include "migration_files.h"
#include "migration_lint.h"

/*
 * One walk over a directory's files: each(i, walk) is called for i = 0 ..
 * n - 1, in order, on the calling thread; before it, files[i] is parsed
 * ahead on the pool's threads when parse_ahead[i] (migration_parse then
 * finds it parsed, m->parsed; a file that does not parse is left unparsed,
 * for migration_parse to report in its place).  each may read arg.  Never
 * fails: when the pool's thread cannot start, each runs file after file and
 * parses as it always did.
 */
typedef struct lint_walk
{
	migration  *files;
	int         n;
	const bool *parse_ahead; /* n flags, fixed before the walk */
	void (*each)(int i, void *walk);
	void *arg;
} lint_walk;

void lint_files_each(const lint_walk *walk);

#endif /* LINT_FILES_H */
