/*-------------------------------------------------------------------------
 *
 * memory_test.c
 *	  Unit tests for common/memory.c's growable arrays (xgrow_array and
 *	  ARRAY_GROW): growth, contents kept, geometric capacity, no-op when
 *	  there is room, many appends, overflow treated as exhaustion.
 *
 * tests/unit/memory_test.c
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory.h"

typedef struct pair
{
	int64_t key;
	char    tag[12];
} pair;

/* NULL with cap 0 is an empty array: the first grow allocates at least 8 */
static void
test_first_grow(void **state)
{
	int *items = NULL;
	int  cap = 0;

	(void) state;
	ARRAY_GROW(items, 1, cap);
	assert_non_null(items);
	assert_int_equal(cap, 8);
	items[0] = 42;
	items[7] = 7; /* the whole capacity is usable */
	assert_int_equal(items[0], 42);
	free(items);

	/* a first want above the minimum is met exactly */
	items = NULL;
	cap = 0;
	ARRAY_GROW(items, 100, cap);
	assert_int_equal(cap, 100);
	items[99] = 1;
	free(items);
}

/* want <= cap returns the same pointer and leaves cap alone */
static void
test_room_is_noop(void **state)
{
	int *items = NULL;
	int  cap = 0;
	int *before;

	(void) state;
	ARRAY_GROW(items, 5, cap);
	before = items;
	for (int want = -1; want <= 8; want++)
	{
		ARRAY_GROW(items, want, cap);
		assert_ptr_equal(items, before);
		assert_int_equal(cap, 8);
	}
	free(items);

	/* nothing wanted, nothing allocated */
	items = NULL;
	cap = 0;
	ARRAY_GROW(items, 0, cap);
	assert_null(items);
	assert_int_equal(cap, 0);
}

/* one more than cap doubles it: 8, 16, 32, ... */
static void
test_capacity_doubles(void **state)
{
	int *items = NULL;
	int  cap = 0;

	(void) state;
	ARRAY_GROW(items, 1, cap);
	for (int expect = 16; expect <= 1024; expect *= 2)
	{
		ARRAY_GROW(items, cap + 1, cap);
		assert_int_equal(cap, expect);
	}
	/* a jump past double is met exactly */
	ARRAY_GROW(items, 5000, cap);
	assert_int_equal(cap, 5000);
	free(items);
}

/* growing keeps what was there, for elements bigger than a word too */
static void
test_contents_kept(void **state)
{
	pair *items = NULL;
	int   cap = 0;
	int   n = 0;

	(void) state;
	for (int i = 0; i < 300; i++)
	{
		ARRAY_GROW(items, n + 1, cap);
		items[n].key = (int64_t) i * 1000003;
		snprintf(items[n].tag, sizeof(items[n].tag), "t%d", i);
		n++;
		assert_true(cap >= n);
	}
	for (int i = 0; i < n; i++)
	{
		char tag[12];

		snprintf(tag, sizeof(tag), "t%d", i);
		assert_true(items[i].key == (int64_t) i * 1000003);
		assert_string_equal(items[i].tag, tag);
	}
	free(items);
}

/* n appends reallocate O(log n) times, not n times */
static void
test_many_appends(void **state)
{
	int *items = NULL;
	int  cap = 0;
	int  n = 0;
	int  grows = 0;

	(void) state;
	for (int i = 0; i < 1000000; i++)
	{
		int old_cap = cap;

		ARRAY_GROW(items, n + 1, cap);
		grows += cap != old_cap;
		items[n++] = i;
	}
	assert_int_equal(n, 1000000);
	assert_true(cap >= n && cap < 2 * n);
	assert_true(grows <= 20); /* 8 * 2^17 > 10^6 */
	for (int i = 0; i < n; i += 9973)
		assert_int_equal(items[i], i);
	assert_int_equal(items[n - 1], n - 1);
	free(items);
}

/*
 * want * elem_size past SIZE_MAX must not wrap into a short buffer: the
 * helper reports "out of memory" and exits 1, like the other x* functions.
 * Run in a child, since it exits.
 */
static void
test_overflow_exits(void **state)
{
	int   fds[2];
	pid_t pid;
	int   status;
	char  buf[64] = {0};

	(void) state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
	{
		void *items = NULL;
		int   cap = 0;

		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		/* 8 elements of SIZE_MAX / 8 + 2 bytes wrap to 8 bytes unchecked */
		items = xgrow_array(items, SIZE_MAX / 8 + 2, 5, &cap);
		_exit(items == NULL ? 3 : 2); /* not reached */
	}
	close(fds[1]);
	assert_true(read(fds[0], buf, sizeof(buf) - 1) > 0);
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_string_equal(buf, "out of memory\n");
}

/*
 * text_visible: no control character passes raw; a table cell is
 * unambiguous (backslash doubled), a log line stays one line.
 */
static void
test_visible(void **state)
{
	const char *hostile = "a\x1b[2J\tb\\c\nd\re\x07\x7f\xc2\x9b"
						  "31m\xc3\xbc";
	char       *cell = text_visible(hostile, true);
	char       *line = text_visible(hostile, false);

	(void) state;
	assert_string_equal(cell, "a\\x1b[2J\\tb\\\\c\\nd\\re\\x07\\x7f\\u009b31m\xc3\xbc");
	assert_string_equal(line, "a\\x1b[2J\tb\\c d e\\x07\\x7f\\u009b31m\xc3\xbc");
	free(cell);
	free(line);
}

/*
 * textbuf_append_json: valid JSON, and no control character raw either
 * (DEL and C1 too, as text_visible); other UTF-8 passes as it is.
 */
static void
test_json(void **state)
{
	textbuf sb;

	(void) state;
	textbuf_init(&sb);
	textbuf_append_json(&sb, "a\x1b[2J\t\"\\\x7f\xc2\x9b"
							 "31m\xc2\xa0\xc3\xbc");
	assert_string_equal(sb.data, "\"a\\u001b[2J\\t\\\"\\\\\\u007f\\u009b31m\xc2\xa0\xc3\xbc\"");
	textbuf_free(&sb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_grow),       cmocka_unit_test(test_room_is_noop),
		cmocka_unit_test(test_capacity_doubles), cmocka_unit_test(test_contents_kept),
		cmocka_unit_test(test_many_appends),     cmocka_unit_test(test_overflow_exits),
		cmocka_unit_test(test_visible),          cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
