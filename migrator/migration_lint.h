/*-------------------------------------------------------------------------
 *
 * migration_lint.h
 *	  Linting migration files and reporting the findings.
 *
 * Glue between the migration files (with their directives) and the lint
 * rules of common/lint.h: one call lints one parsed migration and reports
 * each finding as "path:line:column: severity rule: message", to stdout
 * for "migrator lint" (the findings are its output) or to the log for up
 * and plan (they are events of the run).  With --log-format json each
 * finding is one JSON object.
 *
 * migrator/migration_lint.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef MIGRATION_LINT_H
#define MIGRATION_LINT_H

#include <stdbool.h>

#include "migration_files.h"

typedef struct lint_totals
{
	int files;
	int errors;
	int warnings;
} lint_totals;

/*
 * Lint m (already parsed with migration_parse) and report every finding.
 * strict turns warnings into errors; schema is the --schema that unqualified
 * names live in.  Adds to *totals.  Returns true when m has no error.
 */
bool migration_lint(const migration *m, bool strict, const char *schema, bool to_stdout, lint_totals *totals);

#endif /* MIGRATION_LINT_H */
