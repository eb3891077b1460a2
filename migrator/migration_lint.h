/*-------------------------------------------------------------------------
 *
 * migration_lint.h
 *	  Linting migration files and reporting the findings.
 *
 * Glue between the migration files (with their directives) and the lint
 * rules of migrator/lint.h: one call lints one parsed migration and reports
 * each finding as "path:line:column: severity rule: message", to stdout
 * for "migrator lint" (the findings are its output) or to the log for up
 * and plan (they are events of the run).  A verify file's findings name
 * the verify file.  With --log-format json each finding is one JSON object;
 * with --log-format github (lint only) one GitHub Actions workflow command,
 * "::error file=F,line=L,col=C,title=T::message", escaped as the runner
 * requires (lint_github_escape_*, lint.h).
 *
 * migration_lint_paths is "migrator lint [FILE|DIR]...": the files named
 * (globs expanded), each read with its whole directory, so that a version
 * clash or a verify file without its migration is found; only the problems
 * of the files named, and the directory's problems that name them, are
 * reported, on stdout among the findings, in the same format (syntax errors
 * too).
 *
 * migrator/migration_lint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATION_LINT_H
#define MIGRATION_LINT_H

#include <stdbool.h>

#include "lint.h"
#include "migration_files.h"

typedef struct lint_totals
{
	int files;
	int errors;
	int warnings;
} lint_totals;

/*
 * Lint m (already parsed with migration_parse), and its verify file with the
 * verify rules, and report every finding, naming the file it is in.  base
 * gives strict, the --schema that unqualified names live in, the run's
 * timeout bounds and the carry of earlier files (lint.h); the file's
 * directives (no-transaction, allow-dml) are taken from m.  Adds to *totals
 * (a migration and its verify file count as one file).  Returns true when
 * neither has an error.
 */
bool migration_lint(const migration *m, const lint_file_options *base, bool to_stdout, lint_totals *totals);

/*
 * Feed the constraints of m, a migration that is not reported (applied, or
 * not named), into base->carry, so that a later file's set-not-null sees a
 * CHECK validated there.  Parses m->source only when it mentions a CHECK,
 * a foreign key or a VALIDATE; silently (a file that does not parse adds
 * nothing).  No output.
 */
void migration_lint_carry(const migration *m, const lint_file_options *base);

/* What "migrator lint" was given. */
typedef struct lint_request
{
	const char *const *paths; /* FILE|DIR... as given; none: dir */
	int                n_paths;
	const char        *dir;                   /* --dir */
	const char        *index_config;          /* the index definitions, for requires-index */
	bool               index_config_required; /* given explicitly: not found is an error */
} lint_request;

/*
 * Lint what req names and print every finding and problem on stdout, in
 * the log format.  A path that does not exist (and no glob matches) is
 * "not found".  Adds to *totals; returns EXIT_OK, or EXIT_USAGE when there
 * is an error (a finding, a problem, a path not found, an invalid index
 * config).
 */
int migration_lint_paths(const lint_request *req, const lint_file_options *base, lint_totals *totals);

#endif /* MIGRATION_LINT_H */
