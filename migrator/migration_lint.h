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
 * the verify file.  With --log-format json each
 * finding is one JSON object.
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
 * gives strict, the --schema that unqualified names live in and the run's
 * timeout bounds; the file's directives (no-transaction, allow-dml) are
 * taken from m.  Adds to *totals (a migration and its verify file count as
 * one file).  Returns true when neither has an error.
 */
bool migration_lint(const migration *m, const lint_file_options *base, bool to_stdout, lint_totals *totals);

#endif /* MIGRATION_LINT_H */
