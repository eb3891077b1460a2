/*-------------------------------------------------------------------------
 *
 * parser_pool_test.c
 *	  Unit tests for the fast path of common/sqlparse.c (no lexer pass for a
 *	  small script) and for common/parser_pool.c (parses on several threads,
 *	  results taken in order).
 *
 * The fast path must give what the full path gives: every script below is
 * parsed both ways (sql_parse_script and sql_parse_script_lexed) and the
 * statements, their positions, kinds and texts, or the error, compared.
 *
 * tests/unit/parser_pool_test.c
 *
 *-------------------------------------------------------------------------
 */
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

#include "parser_pool.h"
#include "parser_thread.h"
#include "sqlparse.h"

/* scripts whose statements start and end where only the lexer can tell */
static const char *const corpus[] = {
	"SELECT 1",
	"SELECT 1;",
	"  \n\t SELECT 1 ;  \n",
	"-- leading\nSELECT 1; -- trailing\nSELECT 2 -- no semicolon\n",
	"/* a /* nested */ comment */ SELECT 1; /* between */ SELECT 2 /* after */",
	"/**/SELECT 1;/***/SELECT 2;/*/ still a comment */SELECT 3",
	"SELECT '--not a comment';\nSELECT 'a' -- is one\n;",
	"SELECT 'x */' ;SELECT 2 */ 3;",
	"SELECT $$ -- $$; SELECT $tag$ /* $tag$ -- end\n",
	"SELECT U&'d\\0061t\\+000061' ; SELECT E'\\'' -- x\n",
	"\xEF\xBB\xBF-- BOM\r\nCREATE TABLE t (id int);\r\n\r\nINSERT INTO t VALUES (1)\r\n",
	"SELECT 1;\f\fSELECT 2;\f",
	"SELECT 1;\vSELECT 2;",
	"SELECT 1;\x01SELECT 2;",
	";;; SELECT 1;;; ;",
	"-- only a comment\n",
	"",
	"   ",
	"/* unterminated",
	"SELECT 'unterminated",
	"SELEC 1; SELECT 'unterminated",
	"CREATE TABLE t (id int);\nON t (id);\n",
	"SELECT 1 --\n",
	"SELECT 1 - -2; SELECT 2--3\n;",
	"SELECT \"a--b\" FROM t; SELECT \"x/*\" FROM t",
	"DO $$ BEGIN RAISE NOTICE 'a; b'; END $$;\n-- the end",
	"CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1 -- x'\n",
	"SELECT 'é' AS \"ü\"; SELECT 'ß' /* ö */",
	"SELECT 1\n-- a\n-- b\n",
	"SELECT (SELECT (SELECT 1));\n/* x */\n/* y */",
};

static void
assert_same_scripts(const char *src, const sql_script *a, const sql_script *b)
{
	assert_int_equal(a->n_stmts, b->n_stmts);
	for (int i = 0; i < a->n_stmts; i++)
	{
		const sql_statement *x = &a->stmts[i];
		const sql_statement *y = &b->stmts[i];

		if (strcmp(x->text, y->text) != 0 || x->offset != y->offset || x->line != y->line ||
			x->column != y->column || strcmp(x->kind, y->kind) != 0 || x->tree_index != y->tree_index)
			fail_msg("statement %d of \"%s\": fast \"%s\" at %d (%d:%d) %s, lexed \"%s\" at %d (%d:%d) %s", i,
					 src, x->text, x->offset, x->line, x->column, x->kind, y->text, y->offset, y->line,
					 y->column, y->kind);
	}
	assert_int_equal((int) a->tree->n_stmts, (int) b->tree->n_stmts);
}

static void
assert_same_errors(const char *src, const sql_parse_error *a, const sql_parse_error *b)
{
	if (strcmp(a->message, b->message) != 0 || a->offset != b->offset || a->line != b->line ||
		a->column != b->column || a->limit != b->limit)
		fail_msg("error of \"%s\": fast \"%s\" at %d (%d:%d), lexed \"%s\" at %d (%d:%d)", src, a->message,
				 a->offset, a->line, a->column, b->message, b->offset, b->line, b->column);
	if ((a->line_text == NULL) != (b->line_text == NULL) ||
		(a->line_text != NULL && strcmp(a->line_text, b->line_text) != 0))
		fail_msg("error line of \"%s\" differs", src);
}

/* Parse src both ways and compare everything. */
static void
compare_paths(const char *src)
{
	sql_script      fast, lexed;
	sql_parse_error fast_err, lexed_err;
	bool            fast_ok = sql_parse_script(src, &fast, &fast_err);
	bool            lexed_ok = sql_parse_script_lexed(src, &lexed, &lexed_err);

	if (fast_ok != lexed_ok)
		fail_msg("\"%s\": fast path %s, lexed path %s", src, fast_ok ? "parsed" : "failed",
				 lexed_ok ? "parsed" : "failed");
	if (fast_ok)
		assert_same_scripts(src, &fast, &lexed);
	else
		assert_same_errors(src, &fast_err, &lexed_err);
	sql_script_free(&fast);
	sql_script_free(&lexed);
	sql_parse_error_free(&fast_err);
	sql_parse_error_free(&lexed_err);
}

static void
test_fast_path_matches_lexed_path(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++)
		compare_paths(corpus[i]);
}

/* Around SQL_PARSE_SMALL_BYTES: the last byte under it, and the first over it. */
static void
test_fast_path_size_edge(void **state)
{
	const char *head = "CREATE TABLE t (id int);\nSELECT 'x' -- c\n;\n";
	size_t      head_len = strlen(head);
	char       *src = malloc(SQL_PARSE_SMALL_BYTES + 64);

	(void) state;
	for (size_t len = SQL_PARSE_SMALL_BYTES - 2; len <= SQL_PARSE_SMALL_BYTES + 2; len++)
	{
		memcpy(src, head, head_len);
		memset(src + head_len, ' ', len - head_len - 10);
		memcpy(src + len - 10, "SELECT 1 \n", 10);
		src[len] = '\0';
		compare_paths(src);
	}
	free(src);
}

/* Every corpus script with each byte position cut off: truncations parse or fail alike. */
static void
test_fast_path_on_truncations(void **state)
{
	(void) state;
	for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++)
	{
		char *copy = strdup(corpus[i]);

		for (size_t len = strlen(copy); len > 0; len--)
		{
			copy[len] = '\0';
			compare_paths(copy);
		}
		free(copy);
	}
}

/* ---- the pool ----------------------------------------------------------- */

#define N_ITEMS 200

typedef struct pool_state
{
	char      *sources[N_ITEMS];
	sql_script scripts[N_ITEMS];
	bool       ok[N_ITEMS];
	int        taken[N_ITEMS]; /* the order done() saw */
	int        n_taken;
	int        in_flight; /* parsed and not yet done: at most ahead */
	int        ahead;
	int        max_in_flight;
	int        bad; /* items whose script was not the one expected */
} pool_state;

static void
parse_item(int i, void *arg)
{
	pool_state     *s = arg;
	sql_parse_error err;

	s->ok[i] = sql_parse_script(s->sources[i], &s->scripts[i], &err);
	sql_parse_error_free(&err);
	__atomic_add_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
}

static void
take_item(int i, void *arg)
{
	pool_state *s = arg;
	int         now = __atomic_load_n(&s->in_flight, __ATOMIC_SEQ_CST);
	char        want[64];

	if (now > s->max_in_flight)
		s->max_in_flight = now;
	s->taken[s->n_taken++] = i;
	/* checked on the test's thread afterwards: cmocka's asserts jump */
	snprintf(want, sizeof(want), "CREATE TABLE t_%d (id int)", i);
	if (!s->ok[i] || s->scripts[i].n_stmts != 2 || strcmp(s->scripts[i].stmts[0].text, want) != 0)
		s->bad++;
	sql_script_free(&s->scripts[i]);
	__atomic_sub_fetch(&s->in_flight, 1, __ATOMIC_SEQ_CST);
}

static void
run_pool(int threads, int ahead)
{
	pool_state       *s = calloc(1, sizeof(pool_state));
	parser_pool_batch b = {N_ITEMS, threads, ahead, parse_item, take_item, s};

	s->ahead = ahead;
	for (int i = 0; i < N_ITEMS; i++)
	{
		char buf[128];

		snprintf(buf, sizeof(buf),
				 "-- file %d\nCREATE TABLE t_%d (id int);\nALTER TABLE t_%d ADD COLUMN a int;\n", i, i, i);
		s->sources[i] = strdup(buf);
	}
	assert_true(parser_pool_run(&b));
	assert_int_equal(s->n_taken, N_ITEMS);
	assert_int_equal(s->bad, 0);
	for (int i = 0; i < N_ITEMS; i++)
		assert_int_equal(s->taken[i], i);
	assert_true(s->max_in_flight <= ahead);
	for (int i = 0; i < N_ITEMS; i++)
		free(s->sources[i]);
	free(s);
}

static void
test_pool_takes_items_in_order(void **state)
{
	(void) state;
	run_pool(0, 1);
	run_pool(1, 1);
	run_pool(1, 4);
	run_pool(3, 2);
	run_pool(3, 32);
	run_pool(parser_pool_threads(N_ITEMS), 16);
}

static void
test_pool_threads_bounded(void **state)
{
	(void) state;
	assert_int_equal(parser_pool_threads(0), 0);
	assert_true(parser_pool_threads(1) <= 1);
	assert_true(parser_pool_threads(1000) >= 0 && parser_pool_threads(1000) <= 3);
}

static void
test_pool_refuses_no_window(void **state)
{
	parser_pool_batch b = {3, 1, 0, parse_item, take_item, NULL};

	(void) state;
	assert_false(parser_pool_run(&b));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path_matches_lexed_path), cmocka_unit_test(test_fast_path_size_edge),
		cmocka_unit_test(test_fast_path_on_truncations),     cmocka_unit_test(test_pool_takes_items_in_order),
		cmocka_unit_test(test_pool_threads_bounded),         cmocka_unit_test(test_pool_refuses_no_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
