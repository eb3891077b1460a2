/*-------------------------------------------------------------------------
 *
 * lint_files.h
 *	  "migrator lint" over many files: parsed ahead on several threads,
 *	  linted and reported in order.
 *
 * The loop of "migrator lint": each file parsed (migration_parse), linted
 * and its findings reported (migration_lint, to stdout), its parse trees
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
 * Lint files[0 .. n) in order, reporting to stdout (migration_lint with
 * to_stdout), with the options opts; the trees of each file are freed after
 * it (m->parsed false again).  Returns how many files did not parse (each
 * reported by migration_parse, in its place among the findings); *totals
 * counts the others.  Never fails otherwise: when the pool's thread cannot
 * start, the files are linted one by one on this thread.
 */
int lint_files(migration *files, int n, const lint_file_options *opts, lint_totals *totals);

#endif /* LINT_FILES_H */
