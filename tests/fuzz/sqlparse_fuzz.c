/*-------------------------------------------------------------------------
 *
 * sqlparse_fuzz.c
 *	  Fuzz target: the statement splitter (common/sqlparse.c).
 *
 * The input is a migration file's text.  Besides crashes, leaks and
 * undefined behaviour it checks sqlparse.h's contract: every statement's
 * text is the source at its offset, in source order, at the line and column
 * sql_offset_to_line_col() gives for that offset; an error has a message and
 * a position inside the source (or none at all), and its line_text is a
 * line of the source.
 *
 * tests/fuzz/sqlparse_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_input.h"

#include "log.h"
#include "sqlparse.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz", LOG_FORMAT_TEXT, -1);
	return 0;
}

static void
check_script(const char *source, const sql_script *script)
{
	int len = (int) strlen(source);
	int prev_end = 0;

	FUZZ_CHECK(script->n_stmts >= 0 && script->tree != NULL);
	for (int i = 0; i < script->n_stmts; i++)
	{
		const sql_statement *st = &script->stmts[i];
		int                  line, column;
		int                  n = (int) strlen(st->text);

		FUZZ_CHECK(st->offset >= prev_end && st->offset + n <= len);
		FUZZ_CHECK(n > 0 && strncmp(source + st->offset, st->text, (size_t) n) == 0);
		FUZZ_CHECK(st->kind != NULL && st->tree_index == i);
		sql_offset_to_line_col(source, st->offset, &line, &column);
		FUZZ_CHECK(line == st->line && column == st->column);
		prev_end = st->offset + n;
	}
}

static void
check_error(const char *source, const sql_parse_error *err)
{
	int len = (int) strlen(source);

	FUZZ_CHECK(err->message != NULL && err->message[0] != '\0');
	if (err->offset < 0)
	{
		FUZZ_CHECK(err->line == 0 && err->column == 0 && err->line_text == NULL);
		return;
	}
	FUZZ_CHECK(err->offset <= len && err->line >= 1 && err->column >= 1);
	FUZZ_CHECK(err->line_text != NULL && strchr(err->line_text, '\n') == NULL);
	FUZZ_CHECK(strstr(source, err->line_text) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char           *source = fuzz_string(data, size);
	sql_script      script;
	sql_parse_error err;
	int             line, column;

	if (sql_parse_script(source, &script, &err))
	{
		FUZZ_CHECK(err.message == NULL);
		check_script(source, &script);
		sql_script_free(&script);
	}
	else
	{
		FUZZ_CHECK(script.n_stmts == 0 && script.stmts == NULL && script.tree == NULL);
		check_error(source, &err);
		sql_parse_error_free(&err);
	}
	/* any offset, inside the source or not, has a position */
	sql_offset_to_line_col(source, (int) (size / 2), &line, &column);
	FUZZ_CHECK(line >= 1 && column >= 1);
	sql_offset_to_line_col(source, (int) size + 7, &line, &column);
	FUZZ_CHECK(line >= 1 && column >= 1);
	free(source);
	return 0;
}
