/*-------------------------------------------------------------------------
 *
 * migration_lint.c
 *	  Linting migration files and reporting the findings.
 *
 * migrator/migration_lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "migration_lint.h"

#include <stdio.h>

#include "log.h"
#include "memory.h"

static void
report(const char *path, const lint_finding *f, bool to_stdout)
{
	const char *severity = f->severity == LINT_ERROR ? "error" : "warning";

	if (log_get_format() == LOG_FORMAT_JSON)
	{
		char      line[16], column[16];
		log_field fields[] = {{"file", path},         {"line", line},    {"column", column},
							  {"severity", severity}, {"rule", f->rule}, {NULL, NULL}};

		snprintf(line, sizeof(line), "%d", f->line);
		snprintf(column, sizeof(column), "%d", f->column);
		if (to_stdout)
		{
			textbuf sb;

			textbuf_init(&sb);
			textbuf_append(&sb, "{\"file\":");
			textbuf_append_json(&sb, path);
			textbuf_appendf(&sb, ",\"line\":%d,\"column\":%d,\"severity\":\"%s\",\"rule\":", f->line,
							f->column, severity);
			textbuf_append_json(&sb, f->rule);
			textbuf_append(&sb, ",\"message\":");
			textbuf_append_json(&sb, f->message);
			textbuf_append(&sb, "}\n");
			fputs(sb.data, stdout);
			textbuf_free(&sb);
		}
		else
			log_event(f->severity == LINT_ERROR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARNING, "lint", fields,
					  "%s:%d:%d: %s %s: %s", path, f->line, f->column, severity, f->rule, f->message);
		return;
	}
	if (to_stdout)
		printf("%s:%d:%d: %s %s: %s\n", path, f->line, f->column, severity, f->rule, f->message);
	else /* the level word says error or warning already: "warning: ...: warning" says it twice */
		log_event(f->severity == LINT_ERROR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARNING, "lint", NULL,
				  "%s:%d:%d: %s: %s", path, f->line, f->column, f->rule, f->message);
}

bool
migration_lint(const migration *m, const lint_file_options *base, bool to_stdout, lint_totals *totals)
{
	lint_file_options opts = *base;
	lint_result       result = {0};
	lint_result       verify = {0};
	bool              clean;

	opts.no_transaction = m->no_transaction;
	opts.allow_dml = m->allow_dml;
	lint_script(m->source, &m->script, &opts, &result);
	if (m->verify_path != NULL)
		lint_verify_script(m->verify_source, &m->verify_script, &opts, &verify);
	for (int i = 0; i < result.n; i++)
		report(m->path, &result.items[i], to_stdout);
	for (int i = 0; i < verify.n; i++)
		report(m->verify_path, &verify.items[i], to_stdout);
	totals->files++;
	totals->errors += result.n_errors + verify.n_errors;
	totals->warnings += result.n_warnings + verify.n_warnings;
	clean = result.n_errors + verify.n_errors == 0;
	lint_result_free(&result);
	lint_result_free(&verify);
	return clean;
}
