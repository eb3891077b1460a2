/*-------------------------------------------------------------------------
 *
 * lint_fuzz.c
 *	  Fuzz target: the lint of SQL and PL/pgSQL bodies (migrator/lint.c),
 *	  with the file's directives read as the migrator reads them
 *	  (migrator/migration_files.c).
 *
 * The input is a migration file's text; its "-- migrator:" directives give
 * the lint options, as in "migrator lint".  A script that does not parse is
 * not linted (the migrator stops before).  The lint runs twice, without and
 * with --strict, and the contract of lint.h is checked: counts add up,
 * findings are sorted and name a known rule, a line of the source and a
 * one-line message, and --strict turns every warning into an error without
 * adding or dropping any finding.
 *
 * tests/fuzz/lint_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_input.h"

#include "lint.h"
#include "log.h"
#include "migration_directives.h"
#include "migration_files.h"
#include "sqlparse.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_FORMAT_TEXT, -1);
	return 0;
}

/* Lines of source as lint counts them (LF, CRLF and a lone CR end one). */
static int
count_lines(const char *source)
{
	int lines = 1;

	for (const char *p = source; *p; p++)
		if (*p == '\n' || (*p == '\r' && p[1] != '\n'))
			lines++;
	return lines;
}

static void
check_result(const char *source, const lint_result *r)
{
	int lines = count_lines(source);

	FUZZ_CHECK(r->n == r->n_errors + r->n_warnings);
	for (int i = 0; i < r->n; i++)
	{
		const lint_finding *f = &r->items[i];

		FUZZ_CHECK(lint_rule_exists(f->rule) || strcmp(f->rule, "unknown-rule") == 0);
		FUZZ_CHECK(f->line >= 1 && f->line <= lines && f->column >= 1);
		FUZZ_CHECK(f->message != NULL && f->message[0] != '\0' && strchr(f->message, '\n') == NULL);
		if (i > 0)
			FUZZ_CHECK(r->items[i - 1].line < f->line ||
					   (r->items[i - 1].line == f->line && r->items[i - 1].column <= f->column));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char             *source = fuzz_string(data, size);
	migration         m;
	sql_script        script;
	sql_parse_error   err;
	lint_file_options opts = {0};
	lint_result       plain = {0};
	lint_result       strict = {0};

	memset(&m, 0, sizeof(m));
	(void) migration_read_directives(&m, "fuzz.sql", source, false);
	if (sql_parse_script(source, &script, &err))
	{
		opts.no_transaction = m.no_transaction;
		opts.allow_dml = m.allow_dml;
		lint_script(source, &script, &opts, &plain);
		check_result(source, &plain);
		opts.strict = true;
		lint_script(source, &script, &opts, &strict);
		check_result(source, &strict);
		FUZZ_CHECK(strict.n == plain.n && strict.n_warnings == 0);
		lint_result_free(&plain);
		lint_result_free(&strict);
		sql_script_free(&script);
	}
	else
		sql_parse_error_free(&err);
	for (int i = 0; i < m.n_required_indexes; i++)
		free(m.required_indexes[i]);
	free(m.required_indexes);
	free(source);
	return 0;
}
