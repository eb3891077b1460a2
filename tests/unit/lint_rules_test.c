/*-------------------------------------------------------------------------
 *
 * lint_rules_test.c
 *	  Unit tests for migrator/lint_rules.c: the registry is well formed,
 *	  and README.md's lint tables name exactly its rules, with its
 *	  severities.
 *
 * The README cannot be generated from the registry (it is prose around the
 * tables), so this test is what keeps them together: a rule added to the
 * registry and not to the README, a rule the README names that the
 * registry lacks, or another severity (a table's severity cell starts with
 * "error" or "warning"; "cannot be excused" there needs a rule no allow
 * comment excuses) fails it.  TOOLKIT_SOURCE_DIR comes from CMake.
 *
 * tests/unit/lint_rules_test.c
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

#include "lint_rules.h"

#define LINT_SECTION "### Lint: reading every migration before it runs"
#define MAX_CELL     4096

/* The whole of path, NUL-terminated; fails the test if it cannot be read. */
static char *
read_file(const char *path)
{
	FILE  *f = fopen(path, "rb");
	char  *buf;
	long   len;
	size_t got;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) len + 1);
	assert_non_null(buf);
	got = fread(buf, 1, (size_t) len, f);
	fclose(f);
	buf[got] = '\0';
	return buf;
}

/* The registry index of name (any rule, unknown-rule too), or -1. */
static int
registry_index(const char *name)
{
	for (int i = 0; i < LINT_N_RULES; i++)
		if (strcmp(lint_rules[i].name, name) == 0)
			return i;
	return -1;
}

/*
 * Copy cell number n (0-based) of a table row into out: the text between
 * unescaped '|', trimmed.  False if the row has fewer cells.
 */
static bool
row_cell(const char *row, int n, char *out)
{
	const char *p = row + 1; /* after the leading '|' */
	size_t      len = 0;

	for (int cell = 0; *p != '\0' && *p != '\n'; p++)
	{
		if (*p == '\\' && p[1] == '|')
		{
			p++;
			if (cell == n && len < MAX_CELL - 1)
				out[len++] = '|';
			continue;
		}
		if (*p == '|')
		{
			if (cell == n)
				break;
			cell++;
			continue;
		}
		if (cell == n && len < MAX_CELL - 1)
			out[len++] = *p;
	}
	out[len] = '\0';
	while (len > 0 && out[len - 1] == ' ')
		out[--len] = '\0';
	memmove(out, out + strspn(out, " "), strlen(out + strspn(out, " ")) + 1);
	return len > 0;
}

/* One README table row: every rule its first cell names against the registry. */
static void
check_row(const char *row, bool *seen)
{
	char        names[MAX_CELL], severity[MAX_CELL];
	const char *p = names;
	bool        is_error;

	if (!row_cell(row, 0, names) || !row_cell(row, 1, severity))
		fail_msg("README.md: a lint table row without a severity: %.80s", row);
	is_error = strncmp(severity, "error", 5) == 0;
	if (!is_error && strncmp(severity, "warning", 7) != 0)
		fail_msg("README.md: severity \"%s\" starts with neither error nor warning", severity);
	while ((p = strchr(p, '`')) != NULL)
	{
		const char *end = strchr(p + 1, '`');
		char        name[128];
		int         i;

		assert_non_null(end);
		snprintf(name, sizeof(name), "%.*s", (int) (end - p - 1), p + 1);
		p = end + 1;
		i = registry_index(name);
		if (i < 0)
			fail_msg("README.md names lint rule \"%s\", which migrator/lint_rules.c does not have", name);
		seen[i] = true;
		if (is_error != (lint_rules[i].severity == LINT_ERROR))
			fail_msg("README.md says %s for \"%s\", migrator/lint_rules.c says %s", severity, name,
					 lint_rules[i].severity == LINT_ERROR ? "error" : "warning");
		if (strstr(severity, "cannot be excused") != NULL && lint_rules[i].excusable)
			fail_msg("README.md says \"%s\" cannot be excused, migrator/lint_rules.c says it can", name);
	}
}

static void
test_readme_tables_follow_registry(void **state)
{
	char       *readme = read_file(TOOLKIT_SOURCE_DIR "/README.md");
	char       *section = strstr(readme, LINT_SECTION);
	char       *end;
	bool        seen[LINT_N_RULES] = {false};
	int         rows = 0;
	const char *line;

	(void) state;
	assert_non_null(section);
	end = strstr(section + strlen(LINT_SECTION), "\n### ");
	if (end != NULL)
		*end = '\0';
	for (line = section; line != NULL; line = strchr(line, '\n'))
	{
		line += *line == '\n';
		if (strncmp(line, "| `", 3) == 0)
		{
			check_row(line, seen);
			rows++;
		}
	}
	assert_true(rows > 0);
	for (int i = 0; i < LINT_N_RULES; i++)
		if (!seen[i])
			fail_msg("lint rule \"%s\" of migrator/lint_rules.c is missing from README.md's lint tables",
					 lint_rules[i].name);
	free(readme);
}

static void
test_registry_well_formed(void **state)
{
	(void) state;
	for (int i = 0; i < LINT_N_RULES; i++)
	{
		const lint_rule *r = &lint_rules[i];
		char             path[512];
		FILE            *f;

		assert_non_null(r->name);
		assert_non_null(r->fires_on);
		assert_non_null(r->advice);
		assert_non_null(r->checker);
		assert_true(*r->name && *r->fires_on && *r->advice);
		assert_int_equal(registry_index(r->name), i); /* names are unique */
		/* an allow comment accepts every name but unknown-rule's */
		assert_int_equal(lint_rule_exists(r->name), r->nameable);
		assert_int_equal(r->nameable, strcmp(r->name, "unknown-rule") != 0);
		assert_int_equal(lint_rule_lookup(r->name), r->nameable ? i : -1);
		/* the module that checks it exists */
		snprintf(path, sizeof(path), "%s/migrator/%s", TOOLKIT_SOURCE_DIR, r->checker);
		f = fopen(path, "r");
		if (f == NULL)
			fail_msg("rule \"%s\": checker %s does not exist", r->name, path);
		fclose(f);
	}
	/* the rules no comment can excuse, as lint.h and the README say */
	assert_false(lint_rules[LINT_R_TRANSACTION].excusable);
	assert_false(lint_rules[LINT_R_COPY_STDIO].excusable);
	assert_false(lint_rules[LINT_R_SET_ROLE].excusable);
	assert_false(lint_rules[LINT_R_VERIFY].excusable);
	assert_string_equal(lint_rules[LINT_R_COPY_STDIO].name, "copy-stdio");
	assert_int_equal(lint_rule_lookup(NULL), -1);
	assert_int_equal(lint_rule_lookup("no-such-rule"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_well_formed),
		cmocka_unit_test(test_readme_tables_follow_registry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
