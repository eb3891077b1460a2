/*-------------------------------------------------------------------------
 *
 * sqlparse_test.c
 *	  Unit tests for common/sqlparse.c: statements, positions, errors.
 *
 * tests/unit/sqlparse_test.c
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pg_query.h>
#include <pg_query.pb-c.h>

#include "sqlparse.h"
#include "sqlwalk.h"

/* Parse src, which must succeed, and check the statement count. */
static void
parse_ok(const char *src, sql_script *script, int n_expected)
{
	sql_parse_error err;

	if (!sql_parse_script(src, script, &err))
		fail_msg("unexpected parse error at %d:%d: %s", err.line, err.column, err.message);
	assert_null(err.message);
	assert_int_equal(script->n_stmts, n_expected);
	assert_non_null(script->tree);
	assert_int_equal((int) script->tree->n_stmts, n_expected);
}

/* Parse src, which must fail; the script must come back empty. */
static void
parse_fails(const char *src, sql_parse_error *err)
{
	sql_script script;

	assert_false(sql_parse_script(src, &script, err));
	assert_null(script.stmts);
	assert_int_equal(script.n_stmts, 0);
	assert_null(script.tree);
	assert_non_null(err->message);
}

static void
check_stmt(const sql_statement *st, const char *text, int line, int column, const char *kind)
{
	assert_string_equal(st->text, text);
	assert_int_equal(st->line, line);
	assert_int_equal(st->column, column);
	assert_string_equal(st->kind, kind);
}

static void
test_two_statements(void **state)
{
	const char *src = "SELECT 1;\nCREATE TABLE t (id int);\n";
	sql_script  script;

	parse_ok(src, &script, 2);
	check_stmt(&script.stmts[0], "SELECT 1", 1, 1, "SelectStmt");
	assert_int_equal(script.stmts[0].offset, 0);
	assert_int_equal(script.stmts[0].tree_index, 0);
	check_stmt(&script.stmts[1], "CREATE TABLE t (id int)", 2, 1, "CreateStmt");
	assert_int_equal(script.stmts[1].offset, 10);
	assert_int_equal(script.stmts[1].tree_index, 1);
	assert_int_equal(script.tree->stmts[1]->stmt->node_case, PG_QUERY__NODE__NODE_CREATE_STMT);
	/* the tree outlives the parser's buffer: its strings are its own */
	assert_string_equal(script.tree->stmts[1]->stmt->create_stmt->relation->relname, "t");
	sql_script_free(&script);
	assert_null(script.stmts);
	assert_null(script.tree);
	assert_int_equal(script.n_stmts, 0);
}

static void
test_kinds(void **state)
{
	const char              *src = "BEGIN;\n"
								   "SET lock_timeout = '5s';\n"
								   "CREATE INDEX CONCURRENTLY i ON t (a);\n"
								   "ALTER TABLE t ADD COLUMN b int;\n"
								   "INSERT INTO t VALUES (1);\n"
								   "UPDATE t SET a = 2;\n"
								   "DROP TABLE t;\n"
								   "COMMIT;\n"
								   "SELECT CURRENT_DATE;\n";
	static const char *const kinds[] = {"TransactionStmt", "VariableSetStmt", "IndexStmt",
										"AlterTableStmt",  "InsertStmt",      "UpdateStmt",
										"DropStmt",        "TransactionStmt", "SelectStmt"};
	sql_script               script;

	parse_ok(src, &script, 9);
	for (int i = 0; i < 9; i++)
	{
		assert_string_equal(script.stmts[i].kind, kinds[i]);
		assert_int_equal(script.stmts[i].line, i + 1);
	}
	sql_script_free(&script);
}

static void
test_leading_comments(void **state)
{
	const char *src = "-- migration 12\n"
					  "/* a /* nested */ comment\n"
					  "   still the comment */  \n"
					  "\t  ALTER TABLE t ADD COLUMN c int;";
	sql_script  script;

	parse_ok(src, &script, 1);
	check_stmt(&script.stmts[0], "ALTER TABLE t ADD COLUMN c int", 4, 4, "AlterTableStmt");
	assert_int_equal(script.stmts[0].offset, (int) (strstr(src, "ALTER") - src));
	sql_script_free(&script);
}

static void
test_comments_between_and_after(void **state)
{
	const char *src = "SELECT 1 -- trailing comment; not a statement\n"
					  "  /* and a block */ ;\n"
					  "-- between\n"
					  "\n"
					  "SELECT 2 /* inside */ + 3 -- after\n"
					  ";\n"
					  "-- at the end\n";
	sql_script  script;

	parse_ok(src, &script, 2);
	check_stmt(&script.stmts[0], "SELECT 1", 1, 1, "SelectStmt");
	check_stmt(&script.stmts[1], "SELECT 2 /* inside */ + 3", 5, 1, "SelectStmt");
	sql_script_free(&script);
}

static void
test_dollar_quotes(void **state)
{
	const char *fn = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\n"
					 "BEGIN\n"
					 "  PERFORM 1; -- a semicolon and a comment\n"
					 "  RETURN 2;\n"
					 "END\n"
					 "$$";
	const char *tagged = "CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$\n"
						 "  SELECT 'x;y' || $$;$$;\n"
						 "$body$";
	const char *doblock = "DO $do$ BEGIN RAISE NOTICE 'a;b'; END $do$";
	char        src[1024];
	sql_script  script;

	snprintf(src, sizeof(src), "%s;\n%s;\n%s;\n", fn, tagged, doblock);
	parse_ok(src, &script, 3);
	check_stmt(&script.stmts[0], fn, 1, 1, "CreateFunctionStmt");
	check_stmt(&script.stmts[1], tagged, 7, 1, "CreateFunctionStmt");
	check_stmt(&script.stmts[2], doblock, 10, 1, "DoStmt");
	sql_script_free(&script);
}

static void
test_strings(void **state)
{
	const char *src = "INSERT INTO notes VALUES ('a; b -- not a comment', E'it\\'s; /* no */');\n"
					  "SELECT 'don''t;', \"odd;\"\"name\" FROM t;\n"
					  "SELECT 'con' \n 'tinued;';";
	sql_script  script;

	parse_ok(src, &script, 3);
	check_stmt(&script.stmts[0], "INSERT INTO notes VALUES ('a; b -- not a comment', E'it\\'s; /* no */')", 1,
			   1, "InsertStmt");
	check_stmt(&script.stmts[1], "SELECT 'don''t;', \"odd;\"\"name\" FROM t", 2, 1, "SelectStmt");
	check_stmt(&script.stmts[2], "SELECT 'con' \n 'tinued;'", 3, 1, "SelectStmt");
	sql_script_free(&script);
}

/* pg_query_scan() gives U&'' literals an empty extent; the text must not. */
static void
test_unicode_escape_literal_at_end(void **state)
{
	sql_script script;

	parse_ok("SELECT U&'d\\0061t' UESCAPE '\\';\nSELECT U&'\\0041' -- c\n;", &script, 2);
	check_stmt(&script.stmts[0], "SELECT U&'d\\0061t' UESCAPE '\\'", 1, 1, "SelectStmt");
	check_stmt(&script.stmts[1], "SELECT U&'\\0041'", 2, 1, "SelectStmt");
	sql_script_free(&script);
}

static void
test_only_comments(void **state)
{
	static const char *const sources[] = {
		"-- nothing here\n/* nor /* here */ */\n\n",
		"",
		"   \n\t\r\n",
		";;\n;",
	};
	sql_script script;

	for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
	{
		parse_ok(sources[i], &script, 0);
		sql_script_free(&script);
	}
}

static void
test_missing_final_semicolon(void **state)
{
	sql_script script;

	parse_ok("SELECT 1;\n\n  CREATE INDEX i ON t (a)  \n\n", &script, 2);
	check_stmt(&script.stmts[1], "CREATE INDEX i ON t (a)", 3, 3, "IndexStmt");
	sql_script_free(&script);

	parse_ok("SELECT 1;;;SELECT 2 -- no semicolon\n", &script, 2);
	check_stmt(&script.stmts[1], "SELECT 2", 1, 12, "SelectStmt");
	sql_script_free(&script);
}

static void
test_crlf(void **state)
{
	const char *src = "-- header\r\n"
					  "SELECT 1;\r\n"
					  "\r\n"
					  "CREATE TABLE t (\r\n"
					  "  id int\r\n"
					  ");\r\n"
					  "  SELECT 3;\r\n";
	sql_script  script;

	parse_ok(src, &script, 3);
	check_stmt(&script.stmts[0], "SELECT 1", 2, 1, "SelectStmt");
	check_stmt(&script.stmts[1], "CREATE TABLE t (\r\n  id int\r\n)", 4, 1, "CreateStmt");
	check_stmt(&script.stmts[2], "SELECT 3", 7, 3, "SelectStmt");
	sql_script_free(&script);
}

static void
test_bom(void **state)
{
	sql_script script;

	parse_ok("\xEF\xBB\xBFSELECT 1;\nSELECT 2;", &script, 2);
	check_stmt(&script.stmts[0], "SELECT 1", 1, 1, "SelectStmt");
	assert_int_equal(script.stmts[0].offset, 3);
	check_stmt(&script.stmts[1], "SELECT 2", 2, 1, "SelectStmt");
	assert_int_equal(script.stmts[1].offset, 13);
	sql_script_free(&script);
}

/* CREATE RULE keeps its inner semicolons: one statement. */
static void
test_rule_with_semicolons(void **state)
{
	const char *rule = "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2)";
	char        src[256];
	sql_script  script;

	snprintf(src, sizeof(src), "%s;\nSELECT 3;", rule);
	parse_ok(src, &script, 2);
	check_stmt(&script.stmts[0], rule, 1, 1, "RuleStmt");
	check_stmt(&script.stmts[1], "SELECT 3", 2, 1, "SelectStmt");
	sql_script_free(&script);
}

/* The fragment left over from a statement split by hand. */
static void
test_error_fragment(void **state)
{
	const char     *src = "CREATE INDEX idx ON business_calendars (business_id)\n"
						  "WHERE is_active;\n"
						  "ON business_calendars (business_id, is_active);\n";
	sql_parse_error err;

	parse_fails(src, &err);
	assert_non_null(strstr(err.message, "syntax error at or near \"ON\""));
	assert_int_equal(err.line, 3);
	assert_int_equal(err.column, 1);
	assert_int_equal(err.offset, (int) (strstr(src, "\nON ") - src) + 1);
	assert_string_equal(err.line_text, "ON business_calendars (business_id, is_active);");
	sql_parse_error_free(&err);
	assert_null(err.message);
	assert_null(err.line_text);
}

/* The parser counts characters; columns are characters too. */
static void
test_error_after_multibyte(void **state)
{
	const char     *src = "SELECT 'é';\r\nSELECT 'ü€', x yy zz;\r\n";
	sql_parse_error err;

	parse_fails(src, &err);
	assert_string_equal(err.message, "syntax error at or near \"zz\"");
	assert_int_equal(err.line, 2);
	/* "SELECT 'ü€', x yy " is 18 characters (21 bytes) */
	assert_int_equal(err.column, 19);
	assert_int_equal(err.offset, (int) (strstr(src, "zz") - src));
	assert_string_equal(err.line_text, "SELECT 'ü€', x yy zz;");
	sql_parse_error_free(&err);
}

static void
test_error_with_bom(void **state)
{
	const char     *src = "\xEF\xBB\xBFSELEC 1;";
	sql_parse_error err;

	parse_fails(src, &err);
	assert_string_equal(err.message, "syntax error at or near \"SELEC\"");
	assert_int_equal(err.offset, 3);
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 1);
	assert_string_equal(err.line_text, "SELEC 1;");
	sql_parse_error_free(&err);
}

/* At end of input the error sits after the last character, not past the file. */
static void
test_error_at_end_of_input(void **state)
{
	const char     *src = "SELECT 1;\nCREATE TABLE t (\n\n\n";
	sql_parse_error err;

	parse_fails(src, &err);
	assert_string_equal(err.message, "syntax error at end of input");
	assert_int_equal(err.line, 2);
	assert_int_equal(err.column, 17);
	assert_int_equal(err.offset, (int) (strchr(src, '(') - src) + 1);
	assert_string_equal(err.line_text, "CREATE TABLE t (");
	sql_parse_error_free(&err);
}

static void
test_error_unterminated(void **state)
{
	sql_parse_error err;

	parse_fails("SELECT 1;\nSELECT $$never closed;\n", &err);
	assert_non_null(strstr(err.message, "unterminated dollar-quoted string"));
	assert_int_equal(err.line, 2);
	assert_int_equal(err.column, 8);
	sql_parse_error_free(&err);

	parse_fails("SELECT 1; /* open\n", &err);
	assert_non_null(strstr(err.message, "unterminated /* comment"));
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 11);
	sql_parse_error_free(&err);
}

/* Some grammar errors carry no position: everything positional is unknown. */
static void
test_error_without_position(void **state)
{
	sql_parse_error err;

	parse_fails("SELECT 1;\nSELECT * FROM t FETCH FIRST 1 ROWS WITH TIES;", &err);
	assert_non_null(strstr(err.message, "WITH TIES"));
	assert_int_equal(err.offset, -1);
	assert_int_equal(err.line, 0);
	assert_int_equal(err.column, 0);
	assert_null(err.line_text);
	sql_parse_error_free(&err);
}

/* A failed parse leaves *out empty; a good one leaves *err empty. */
static void
test_outputs_reset(void **state)
{
	sql_script      script;
	sql_parse_error err;

	memset(&script, 0x7f, sizeof(script));
	memset(&err, 0x7f, sizeof(err));
	assert_true(sql_parse_script("SELECT 1", &script, &err));
	assert_null(err.message);
	assert_null(err.line_text);
	assert_int_equal(err.line, 0);
	check_stmt(&script.stmts[0], "SELECT 1", 1, 1, "SelectStmt");
	sql_script_free(&script);

	memset(&script, 0x7f, sizeof(script));
	assert_false(sql_parse_script("SELECT FROM WHERE", &script, &err));
	assert_null(script.stmts);
	assert_null(script.tree);
	sql_parse_error_free(&err);
}

static void
test_free_accepts_null_and_repeats(void **state)
{
	sql_script      script;
	sql_parse_error err;

	sql_script_free(NULL);
	sql_parse_error_free(NULL);

	parse_ok("SELECT 1;", &script, 1);
	sql_script_free(&script);
	sql_script_free(&script);
	assert_int_equal(script.n_stmts, 0);

	parse_fails("SELEC 1;", &err);
	sql_parse_error_free(&err);
	sql_parse_error_free(&err);
	assert_null(err.message);
}

static void
test_offset_to_line_col(void **state)
{
	const char *src = "ab\ncd\r\nef\rgh";
	int         line;
	int         col;

	sql_offset_to_line_col(src, 0, &line, &col);
	assert_int_equal(line, 1);
	assert_int_equal(col, 1);
	sql_offset_to_line_col(src, 2, &line, &col); /* the LF itself */
	assert_int_equal(line, 1);
	assert_int_equal(col, 3);
	sql_offset_to_line_col(src, 4, &line, &col); /* 'd' */
	assert_int_equal(line, 2);
	assert_int_equal(col, 2);
	sql_offset_to_line_col(src, 7, &line, &col); /* 'e' after CRLF */
	assert_int_equal(line, 3);
	assert_int_equal(col, 1);
	sql_offset_to_line_col(src, 10, &line, &col); /* 'g' after a lone CR */
	assert_int_equal(line, 4);
	assert_int_equal(col, 1);
	sql_offset_to_line_col(src, 1000, &line, &col); /* past the end */
	assert_int_equal(line, 4);
	assert_int_equal(col, 3);
	sql_offset_to_line_col(src, -1, &line, &col);
	assert_int_equal(line, 0);
	assert_int_equal(col, 0);

	/* columns are bytes; a BOM is not part of line 1 */
	sql_offset_to_line_col("\xEF\xBB\xBF"
						   "é x",
						   6, &line, &col);
	assert_int_equal(line, 1);
	assert_int_equal(col, 4);
}

/* The offsets, lines and columns of statements agree with each other. */
static void
test_statement_positions_agree(void **state)
{
	const char *src = "/* x */ SELECT 'é';  SELECT 2;\n -- c\n\tSELECT 3";
	sql_script  script;

	parse_ok(src, &script, 3);
	for (int i = 0; i < script.n_stmts; i++)
	{
		const sql_statement *st = &script.stmts[i];
		int                  line;
		int                  col;

		sql_offset_to_line_col(src, st->offset, &line, &col);
		assert_int_equal(line, st->line);
		assert_int_equal(col, st->column);
		assert_memory_equal(src + st->offset, st->text, strlen(st->text));
	}
	assert_int_equal(script.stmts[1].column, 23); /* bytes: é is two */
	assert_int_equal(script.stmts[2].line, 3);
	assert_int_equal(script.stmts[2].column, 2);
	sql_script_free(&script);
}

/* ---- parser limits ------------------------------------------------------ */

/* head, then n copies of unit joined by sep, then tail; caller frees */
static char *
repeat_sql(const char *head, const char *unit, const char *sep, int n, const char *tail)
{
	size_t len = strlen(head) + (size_t) n * (strlen(unit) + strlen(sep)) + strlen(tail) + 1;
	char  *buf = malloc(len);
	char  *p = buf;

	assert_non_null(buf);
	p += sprintf(p, "%s", head);
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%s%s", i > 0 ? sep : "", unit);
	sprintf(p, "%s", tail);
	return buf;
}

/* "SELECT " then n nested scalar subqueries around 1 */
static char *
nested_subqueries(const char *head, int n)
{
	char *open = repeat_sql("", "(SELECT ", "", n, "1");
	char *close = repeat_sql("", ")", "", n, "");
	char *sql = malloc(strlen(head) + strlen(open) + strlen(close) + 1);

	assert_non_null(sql);
	sprintf(sql, "%s%s%s", head, open, close);
	free(open);
	free(close);
	return sql;
}

static bool
count_depth(const ProtobufCMessage *msg, void *arg)
{
	(void) msg;
	(*(int *) arg)++;
	return true;
}

/* A chain within the limit parses, and the walker sees all of it. */
static void
test_deep_but_within_limit(void **state)
{
	char           *sql = repeat_sql("SELECT ", "'a'", " || ", 4000, "");
	sql_script      script;
	sql_parse_error err;
	int             nodes = 0;

	(void) state;
	assert_true(sql_parse_script(sql, &script, &err));
	sql_walk((const ProtobufCMessage *) script.tree->stmts[0]->stmt, count_depth, &nodes);
	assert_true(nodes > 3 * 4000);
	sql_script_free(&script);
	free(sql);
}

/* A long || chain is refused before parsing, at the chain's first term. */
static void
test_long_operator_chain_is_refused(void **state)
{
	char *sql = repeat_sql("SELECT 1;\n-- deep\nSELECT ", "'a'", " || ", SQL_PARSE_MAX_DEPTH / 2 + 2, ";");
	sql_parse_error err;

	(void) state;
	parse_fails(sql, &err);
	assert_true(err.limit);
	assert_non_null(strstr(err.message, "statement is nested too deeply"));
	assert_int_equal(err.line, 3);
	assert_int_equal(err.column, 8);
	assert_null(err.line_text); /* the line may be megabytes long */
	sql_parse_error_free(&err);
	free(sql);

	/* a hundred thousand terms: refused as fast, never parsed */
	sql = repeat_sql("SELECT ", "'a'", " || ", 100000, "");
	parse_fails(sql, &err);
	assert_true(err.limit);
	sql_parse_error_free(&err);
	free(sql);
}

/* Nesting the token scan cannot see is measured on the parser's output. */
static void
test_deep_tree_is_refused_at_its_statement(void **state)
{
	char           *sql = nested_subqueries("SELECT 1;\n\n  /* c */ SELECT ", 3000);
	sql_parse_error err;

	(void) state;
	parse_fails(sql, &err);
	assert_true(err.limit);
	assert_non_null(strstr(err.message, "deeper than 10000 levels"));
	assert_int_equal(err.line, 3);
	assert_int_equal(err.column, 11);
	sql_parse_error_free(&err);
	free(sql);

	/* 1500 nested subqueries (about 6 levels each) stay within the limit */
	sql = nested_subqueries("SELECT ", 1500);
	{
		sql_script script;

		assert_true(sql_parse_script(sql, &script, &err));
		sql_script_free(&script);
	}
	free(sql);
}

/* Too many tokens in one statement: refused before the parser runs. */
static void
test_too_many_tokens(void **state)
{
	char           *sql = repeat_sql("SELECT 1;\nSELECT ", "1", ",", SQL_PARSE_MAX_TOKENS / 2 + 1, "");
	sql_parse_error err;

	(void) state;
	parse_fails(sql, &err);
	assert_true(err.limit);
	assert_non_null(strstr(err.message, "too long to parse safely"));
	assert_int_equal(err.line, 2);
	sql_parse_error_free(&err);
	free(sql);
}

/* A syntax error is not a limit; grammar-level nesting stays a syntax error. */
static void
test_syntax_error_is_not_a_limit(void **state)
{
	char           *sql = repeat_sql("SELECT ", "(", "", 20000, "1");
	sql_parse_error err;

	(void) state;
	parse_fails("SELECT FROM WHERE", &err);
	assert_false(err.limit);
	sql_parse_error_free(&err);
	parse_fails(sql, &err);
	assert_false(err.limit);
	assert_non_null(strstr(err.message, "memory exhausted"));
	sql_parse_error_free(&err);
	free(sql);
}

static void
set_flag(void *arg)
{
	*(int *) arg = 42;
}

static void
test_call_on_parser_stack(void **state)
{
	int flag = 0;

	(void) state;
	assert_true(sql_call_on_parser_stack(set_flag, &flag));
	assert_int_equal(flag, 42);
}

/* The threads of this process (/proc/self/task). */
static int
thread_count(void)
{
	DIR           *d = opendir("/proc/self/task");
	struct dirent *e;
	int            n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
record_thread(void *arg)
{
	*(pthread_t *) arg = pthread_self();
}

/* A room runs its thread's calls on one thread, started at the first call, and parses as without. */
static void
test_parser_room(void **state)
{
	sql_parser_room *room = NULL;
	pthread_t        first, second;
	int              before = thread_count();
	sql_script       script;
	/* about 60,000 tokens: more stack than the room has (32MB + 768 bytes a token) */
	char *wide = repeat_sql("SELECT ", "1", ", ", 30000, "");

	(void) state;
	sql_parser_room_begin(&room);
	assert_non_null(room);
	assert_int_equal(thread_count(), before); /* nothing started yet */
	assert_true(sql_call_on_parser_stack(record_thread, &first));
	assert_int_equal(thread_count(), before + 1);
	assert_true(sql_call_on_parser_stack(record_thread, &second));
	assert_true(pthread_equal(first, second));
	assert_false(pthread_equal(first, pthread_self()));
	parse_ok("CREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b text;", &script, 2);
	assert_string_equal(script.stmts[1].kind, "AlterTableStmt");
	sql_script_free(&script);
	/* too long for the room's stack: a thread of its own, as without a room */
	parse_ok(wide, &script, 1);
	sql_script_free(&script);
	assert_int_equal(thread_count(), before + 1);
	sql_parser_room_end(room);
	assert_int_equal(thread_count(), before);
	/* after the room, each call has a thread of its own again */
	assert_true(sql_call_on_parser_stack(record_thread, &second));
	assert_false(pthread_equal(second, pthread_self()));
	/* a room never used starts nothing and ends cleanly */
	sql_parser_room_begin(&room);
	sql_parser_room_end(room);
	assert_int_equal(thread_count(), before);
	free(wide);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_statements),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_leading_comments),
		cmocka_unit_test(test_comments_between_and_after),
		cmocka_unit_test(test_dollar_quotes),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_unicode_escape_literal_at_end),
		cmocka_unit_test(test_only_comments),
		cmocka_unit_test(test_missing_final_semicolon),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_rule_with_semicolons),
		cmocka_unit_test(test_error_fragment),
		cmocka_unit_test(test_error_after_multibyte),
		cmocka_unit_test(test_error_with_bom),
		cmocka_unit_test(test_error_at_end_of_input),
		cmocka_unit_test(test_error_unterminated),
		cmocka_unit_test(test_error_without_position),
		cmocka_unit_test(test_outputs_reset),
		cmocka_unit_test(test_free_accepts_null_and_repeats),
		cmocka_unit_test(test_offset_to_line_col),
		cmocka_unit_test(test_statement_positions_agree),
		cmocka_unit_test(test_deep_but_within_limit),
		cmocka_unit_test(test_long_operator_chain_is_refused),
		cmocka_unit_test(test_deep_tree_is_refused_at_its_statement),
		cmocka_unit_test(test_too_many_tokens),
		cmocka_unit_test(test_syntax_error_is_not_a_limit),
		cmocka_unit_test(test_call_on_parser_stack),
		cmocka_unit_test(test_parser_room),
	};
	int failed;

	failed = cmocka_run_group_tests(tests, NULL, NULL);
	/* release the parser's per-thread memory, so valgrind sees no leak */
	pg_query_exit();
	return failed;
}
