/*-------------------------------------------------------------------------
 *
 * index_sql_test.c
 *	  Unit tests for indexer/index_sql.c: parsing, the definition checks,
 *	  rendering for another target, and comparison with pg_get_indexdef().
 *
 * The pg_get_indexdef() strings below are copied from a PostgreSQL 15
 * server, for the file definitions next to them.
 *
 * tests/unit/index_sql_test.c
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

#include "drift.h"
#include "index_sql.h"
#include "sqlquote.h"

static index_sql *
parse_ok(const char *sql)
{
	char      *why = NULL;
	index_sql *def = index_sql_parse(sql, &why);

	if (def == NULL)
		fail_msg("unexpected parse failure of %s: %s", sql, why);
	assert_null(why);
	return def;
}

/* sql must not parse as one CREATE INDEX; the reason must be expected */
static void
parse_fails(const char *sql, const char *expected)
{
	char      *why = NULL;
	index_sql *def = index_sql_parse(sql, &why);

	assert_null(def);
	assert_non_null(why);
	assert_string_equal(why, expected);
	free(why);
}

/* check_definition of sql against name/schema/table: expected NULL = passes */
static void
check_def(const char *sql, const char *name, const char *schema, const char *table, const char *expected)
{
	index_sql *def = parse_ok(sql);
	char      *why = NULL;
	bool       ok = index_sql_check_definition(def, name, schema, table, &why);

	if (expected == NULL)
	{
		if (!ok)
			fail_msg("%s: unexpected problem: %s", sql, why);
		assert_null(why);
	}
	else
	{
		assert_false(ok);
		assert_non_null(why);
		assert_string_equal(why, expected);
	}
	free(why);
	index_sql_free(def);
}

static void
test_parse_info(void **state)
{
	index_sql            *def = parse_ok("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_a "
													"ON app.t USING gin ((doc->'k')) WHERE x > 0");
	const index_sql_info *in = index_sql_get_info(def);

	assert_string_equal(in->name, "idx_a");
	assert_string_equal(in->schema, "app");
	assert_string_equal(in->table, "t");
	assert_string_equal(in->access_method, "gin");
	assert_true(in->unique);
	assert_true(in->concurrent);
	assert_true(in->if_not_exists);
	assert_false(in->only);
	assert_true(in->has_expressions);
	assert_true(in->has_predicate);
	index_sql_free(def);

	def = parse_ok("  -- leading comment\n CREATE INDEX i ON ONLY t (a);  ");
	in = index_sql_get_info(def);
	assert_string_equal(in->schema, "");
	assert_string_equal(in->access_method, "btree");
	assert_false(in->unique);
	assert_false(in->concurrent);
	assert_false(in->if_not_exists);
	assert_true(in->only);
	assert_false(in->has_expressions);
	assert_false(in->has_predicate);
	index_sql_free(def);

	index_sql_free(NULL);
}

static void
test_parse_failures(void **state)
{
	parse_fails("", "no statement");
	parse_fails("-- only a comment\n", "no statement");
	parse_fails("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a); SELECT 1",
				"2 statements; exactly one CREATE INDEX statement is allowed");
	parse_fails("CREATE TABLE t (a int)", "not a CREATE INDEX statement (CreateStmt)");
	parse_fails("DROP INDEX i", "not a CREATE INDEX statement (DropStmt)");
	parse_fails("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON (a)",
				"syntax error at or near \"(\" (line 1, column 46)");
	parse_fails("CREATE INDEX CONCURRENTLY IF NOT EXISTS i\nON t (a",
				"syntax error at end of input (line 2, column 8)");
}

static void
test_check_definition(void **state)
{
	const char *good = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON t (a)";

	check_def(good, "idx_a", "public", "t", NULL);
	check_def("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON public.t (a)", "idx_a", "public", "t",
			  NULL);
	check_def("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"Idx A\" ON \"My T\" (a)", "Idx A", "public", "My T",
			  NULL);
	check_def(
		"CREATE INDEX IF NOT EXISTS idx_a ON t (a)", "idx_a", "public", "t",
		"CREATE INDEX without CONCURRENTLY blocks writes to the table for the whole build; write CREATE INDEX CONCURRENTLY IF NOT EXISTS");
	check_def(
		"CREATE INDEX CONCURRENTLY idx_a ON t (a)", "idx_a", "public", "t",
		"CREATE INDEX CONCURRENTLY without IF NOT EXISTS; write CREATE INDEX CONCURRENTLY IF NOT EXISTS");
	check_def(
		"CREATE INDEX CONCURRENTLY ON t (a)", "idx_a", "public", "t",
		"CREATE INDEX CONCURRENTLY without IF NOT EXISTS; write CREATE INDEX CONCURRENTLY IF NOT EXISTS");
	check_def(good, "idx_b", "public", "t", "the statement creates index \"idx_a\", not \"idx_b\"");
	check_def(
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS Idx_A ON t (a)", "Idx_A", "public", "t",
		"the statement creates index \"idx_a\", not \"Idx_A\" (unquoted identifiers are folded to lower case: quote the name in the SQL)");
	check_def(good, "idx_a", "public", "u", "the statement creates the index on \"t\", not on table \"u\"");
	check_def("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON app.t (a)", "idx_a", "public", "t",
			  "the statement creates the index on \"app.t\", but the schema is \"public\"");
	check_def(
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON ONLY t (a)", "idx_a", "public", "t",
		"ON ONLY is not allowed: the indexer itself builds indexes of partitioned tables partition by partition");
	check_def("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON db.public.t (a)", "idx_a", "public", "t",
			  "the relation names a database (\"db.public.t\"); write table or schema.table");
}

static void
render_is(const char *sql, const index_sql_target *target, const char *expected)
{
	index_sql *def = parse_ok(sql);
	char      *out = index_sql_render(def, target);

	assert_string_equal(out, expected);
	free(out);
	index_sql_free(def);
}

static void
test_render(void **state)
{
	index_sql_target keep = {NULL, NULL, NULL, true, true, false};
	index_sql_target other = {"t_p1_idx", "app", "t_p1", true, true, false};
	index_sql_target parent = {NULL, "public", NULL, false, true, true};
	index_sql_target plain = {"tmp\"x", "", NULL, false, false, false};

	render_is("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON t (a, lower(b)) WHERE c IS NULL", &keep,
			  "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"idx_a\" ON \"t\" (a, lower(b)) WHERE c IS NULL");
	render_is(
		"create unique index concurrently if not exists idx_a on public.t using btree (a) include (b) with (fillfactor = 70) -- why\n",
		&other,
		"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"t_p1_idx\" ON \"app\".\"t_p1\" using btree (a) include (b) with (fillfactor = 70)");
	render_is("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON public . t(a);", &parent,
			  "CREATE INDEX IF NOT EXISTS \"idx_a\" ON ONLY \"public\".\"t\" (a)");
	render_is("CREATE INDEX i ON ONLY (t) (a)", &plain, "CREATE INDEX \"tmp\"\"x\" ON \"t\" (a)");
	render_is("CREATE INDEX i ON t * (a)", &plain, "CREATE INDEX \"tmp\"\"x\" ON \"t\" (a)");
}

/* a and b define the same index (in schema public), or not */
static void
same(const char *a, const char *b, unsigned flags, bool expected)
{
	index_sql *da = parse_ok(a);
	index_sql *db = parse_ok(b);

	if (index_sql_equivalent(da, db, "public", flags) != expected)
		fail_msg("expected %s\n  %s\n  %s", expected ? "equivalent" : "different", a, b);
	/* symmetric */
	assert_int_equal(index_sql_equivalent(db, da, "public", flags), expected);
	index_sql_free(da);
	index_sql_free(db);
}

static void
test_equivalent(void **state)
{
	const char *file =
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON business_calendars (business_id, is_active)";

	same(file, "CREATE INDEX idx_a ON public.business_calendars USING btree (business_id, is_active)", 0,
		 true);
	same(file, "CREATE INDEX idx_a ON public.business_calendars USING btree (business_id)", 0, false);
	same(file, "CREATE INDEX idx_a ON public.business_calendars USING btree (is_active, business_id)", 0,
		 false);
	same(file, "CREATE UNIQUE INDEX idx_a ON public.business_calendars USING btree (business_id, is_active)",
		 0, false);
	same(file, "CREATE INDEX idx_a ON public.business_calendars USING hash (business_id, is_active)", 0,
		 false);
	same(file, "CREATE INDEX idx_a ON app.business_calendars USING btree (business_id, is_active)", 0, false);
	same(
		file,
		"CREATE INDEX idx_a ON public.business_calendars USING btree (business_id, is_active) WHERE is_active",
		0, false);
	/* the name is not compared: the catalog found the index by it */
	same(file, "CREATE INDEX other ON public.business_calendars USING btree (business_id, is_active)", 0,
		 true);
	/* orders: ASC and the default NULLS are implicit */
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id DESC NULLS FIRST, a ASC NULLS LAST)",
		 "CREATE INDEX i ON public.t USING btree (id DESC, a)", 0, true);
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id DESC NULLS LAST)",
		 "CREATE INDEX i ON public.t USING btree (id DESC)", 0, false);
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id NULLS FIRST)",
		 "CREATE INDEX i ON public.t USING btree (id NULLS FIRST)", 0, true);
	/* WITH values compare as the stored text */
	same(
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id DESC NULLS LAST, a ASC) WITH (fillfactor=70, deduplicate_items=off)",
		"CREATE INDEX i3 ON public.t USING btree (id DESC NULLS LAST, a) WITH (fillfactor='70', deduplicate_items=off)",
		0, true);
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a) WITH (fillfactor=80)",
		 "CREATE INDEX i ON public.t USING btree (a) WITH (fillfactor='70')", 0, false);
	/* the server never prints TABLESPACE; a partitioned parent prints ONLY */
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a) TABLESPACE fast",
		 "CREATE INDEX i ON public.t USING btree (a)", 0, true);
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS pi ON p (id)",
		 "CREATE INDEX pi ON ONLY public.p USING btree (id)", 0, true);
	same("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id) NULLS NOT DISTINCT",
		 "CREATE UNIQUE INDEX i6 ON public.t USING btree (id) NULLS NOT DISTINCT", 0, true);
	same("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id)",
		 "CREATE UNIQUE INDEX i6 ON public.t USING btree (id) NULLS NOT DISTINCT", 0, false);
	/* expressions as the server spells them compare equal */
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (lower((email)::text)) WHERE (status <> 'x'::text)",
		 "CREATE INDEX i ON public.t USING btree (lower((email)::text)) WHERE (status <> 'x'::text)", 0,
		 true);
	/* ... other spellings differ here (the indexer asks the server then) */
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (lower(email))",
		 "CREATE INDEX i ON public.t USING btree (lower((email)::text))", 0, false);
	/* what is indexed, wherever */
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON app.t (lower(email))",
		 "CREATE INDEX i ON pg_temp.probe USING btree (lower(email))", INDEX_SQL_IGNORE_RELATION, true);
	same("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON app.t (lower(email))",
		 "CREATE INDEX i ON pg_temp.probe USING btree (lower(name))", INDEX_SQL_IGNORE_RELATION, false);
}

/* file against the server's spelling: the match expected */
static void
compares(const char *file, const char *server, index_sql_match expected)
{
	index_sql      *df = parse_ok(file);
	index_sql      *ds = parse_ok(server);
	const char     *why = NULL;
	index_sql_match m = index_sql_compare_server(df, ds, "public", 0, &why);

	if (m != expected)
		fail_msg("expected %d, got %d (%s)\n  %s\n  %s", (int) expected, (int) m, why ? why : "-", file,
				 server);
	assert_true((m == INDEX_SQL_UNDECIDED) == (why != NULL));
	index_sql_free(df);
	index_sql_free(ds);
}

static void
test_compare_server(void **state)
{
	(void) state;
	/* the server's casts, IN, LIKE and qualified names are spelling */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (lower(email)) WHERE a IN (1, 2)",
			 "CREATE INDEX i ON public.t USING btree (lower((email)::text)) WHERE (a = ANY (ARRAY[1, 2]))",
			 INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a) WHERE a NOT IN (1, 2) AND email LIKE 'x%'",
			 "CREATE INDEX i ON public.t USING btree (a) WHERE ((a <> ALL (ARRAY[1, 2])) AND "
			 "((email)::text ~~ 'x%'::text))",
			 INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING gin (email gin_trgm_ops)",
			 "CREATE INDEX i ON public.t USING gin (email public.gin_trgm_ops)", INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (f(a))",
			 "CREATE INDEX i ON public.t USING btree (public.f(a))", INDEX_SQL_SAME);
	/* real differences, in forms whose spelling is known */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (lower(email)) WHERE a IN (1, 2)",
			 "CREATE INDEX i ON public.t USING btree (lower((email)::text)) WHERE (a = ANY (ARRAY[1, 3]))",
			 INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a, b)",
			 "CREATE INDEX i ON public.t USING btree (a)", INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (f(a))",
			 "CREATE INDEX i ON public.t USING btree (app.f(a))", INDEX_SQL_DIFFERENT);
	/* a literal the server rewrites, BETWEEN: cannot tell */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a) WHERE created > '2020-01-01'",
			 "CREATE INDEX i ON public.t USING btree (a) WHERE (created > '2020-01-01 00:00:00'::timestamp "
			 "without time zone)",
			 INDEX_SQL_UNDECIDED);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a) WHERE a BETWEEN 1 AND 5",
			 "CREATE INDEX i ON public.t USING btree (a) WHERE ((a >= 1) AND (a <= 5))", INDEX_SQL_UNDECIDED);
}

/* Names and casts: what the file writes is never taken for the server's spelling. */
static void
test_compare_server_written(void **state)
{
	(void) state;
	/*
	 * A qualifier the file writes is never dropped against another one
	 * (session 12's review: the file's pg_catalog.lower and the overload a
	 * role planted in public compared equal, and check said "in line").
	 */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (pg_catalog.lower(email))",
			 "CREATE INDEX i ON public.t USING btree (public.lower(email))", INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (pg_catalog.lower(email))",
			 "CREATE INDEX i ON public.t USING btree (lower((email)::text))", INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (public.f(a))",
			 "CREATE INDEX i ON public.t USING btree (public.f(a))", INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (public.f(a))",
			 "CREATE INDEX i ON public.t USING btree (f(a))", INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a) WHERE a OPERATOR(pg_catalog.=) 1",
			 "CREATE INDEX i ON public.t USING btree (a) WHERE (a OPERATOR(public.=) 1)",
			 INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (email COLLATE pg_catalog.\"C\")",
			 "CREATE INDEX i ON public.t USING btree (email COLLATE public.\"C\")", INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (email COLLATE \"C\")",
			 "CREATE INDEX i ON public.t USING btree (email COLLATE \"C\")", INDEX_SQL_SAME);
	/*
	 * A cast the file writes is compared type for type, and a cast only the
	 * server shows is its own only around an argument (the same review:
	 * ((flag)::text) passed for (flag::bigint), and a predicate on numeric
	 * for one on integer).
	 */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t ((flag::bigint))",
			 "CREATE INDEX i ON public.t USING btree (((flag)::text))", INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t ((flag::text))",
			 "CREATE INDEX i ON public.t USING btree (((flag)::text))", INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id) WHERE flag::integer > 1.5::integer",
			 "CREATE INDEX i ON public.t USING btree (id) WHERE ((flag)::numeric > 1.5)",
			 INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id) WHERE flag > 1.5",
			 "CREATE INDEX i ON public.t USING btree (id) WHERE ((flag)::numeric > 1.5)", INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (lower(email), (flag))",
			 "CREATE INDEX i ON public.t USING btree (lower((email)::text), ((flag)::text))",
			 INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (f((a)))",
			 "CREATE INDEX i ON public.t USING btree (public.f((a)::bigint))", INDEX_SQL_SAME);
	/*
	 * An unqualified name the server qualifies with the schema is the
	 * schema's only where pg_catalog has nothing of that name to prefer
	 * (the same review: public.lower(text), the planted = and "C", passed
	 * for the file's lower, = and "C", which the build binds to
	 * pg_catalog's); an operator class only a superuser can make.
	 */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (lower(email))",
			 "CREATE INDEX i ON public.t USING btree (public.lower(email))", INDEX_SQL_UNDECIDED);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id) WHERE flag = 1",
			 "CREATE INDEX i ON public.t USING btree (id) WHERE (flag OPERATOR(public.=) 1)",
			 INDEX_SQL_UNDECIDED);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c COLLATE \"C\")",
			 "CREATE INDEX i ON public.t USING btree (c COLLATE public.\"C\")", INDEX_SQL_UNDECIDED);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t ((flag::int8))",
			 "CREATE INDEX i ON public.t USING btree (((flag)::public.int8))",
			 INDEX_SQL_DIFFERENT); /* two casts, to two types */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (c text_pattern_ops)",
			 "CREATE INDEX i ON public.t USING btree (c public.text_pattern_ops)", INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (my_unaccent(c))",
			 "CREATE INDEX i ON public.t USING btree (public.my_unaccent(c))", INDEX_SQL_SAME);
	/* a key's top-level COLLATE is its collation; the default operator class is left out */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t ((lower(c) COLLATE \"C\"))",
			 "CREATE INDEX i ON public.t USING btree (lower(c) COLLATE \"C\")", INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t ((c COLLATE \"C\"))",
			 "CREATE INDEX i ON public.t USING btree (c COLLATE \"C\")", INDEX_SQL_SAME);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t ((lower(c) COLLATE \"C\"))",
			 "CREATE INDEX i ON public.t USING btree (lower(c) COLLATE \"POSIX\")", INDEX_SQL_DIFFERENT);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id int4_ops)",
			 "CREATE INDEX i ON public.t USING btree (id)", INDEX_SQL_UNDECIDED);
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (b text_pattern_ops)",
			 "CREATE INDEX i ON public.t USING btree (b)", INDEX_SQL_DIFFERENT); /* not a default one */
	/* a cast only the file writes may be one the server left out as redundant */
	compares("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (id) WHERE flag::integer > 1",
			 "CREATE INDEX i ON public.t USING btree (id) WHERE (flag > 1)", INDEX_SQL_UNDECIDED);
}

/*
 * The fast path: drift_is_server_text(file, server) must say true only where the
 * tree comparison says INDEX_SQL_SAME (checked here for every true case).
 */
static void
server_text(const char *file, const char *server, bool expected)
{
	index_sql      *a = parse_ok(file);
	index_sql      *b = parse_ok(server);
	const char     *why = NULL;
	index_def       d = {.schema = "public", .parsed = a};
	bool            got = drift_is_server_text(&d, server);
	index_sql_match m = index_sql_compare_server(a, b, "public", 0, &why);

	if (got != expected)
		fail_msg("is_server_text(%s, %s) = %d", file, server, got);
	if (got && m != INDEX_SQL_SAME)
		fail_msg("fast path says same, trees say %d: %s / %s", (int) m, file, server);
	index_sql_free(a);
	index_sql_free(b);
}

static void
test_is_server_text(void **state)
{
	(void) state;
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
				"CREATE INDEX i ON public.t USING btree (a)", true);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.t (a)",
				"CREATE INDEX i ON public.t USING btree (a)", true);
	server_text("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING hash (a)",
				"CREATE UNIQUE INDEX i ON public.t USING hash (a)", true);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS \"I x\" ON \"T\" (a DESC) WHERE (c > 0)",
				"CREATE INDEX \"I x\" ON public.\"T\" USING btree (a DESC) WHERE (c > 0)", true);
	/* the smallest differences: never the fast path */
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
				"CREATE INDEX i ON public.t USING btree (a DESC)", false);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
				"CREATE UNIQUE INDEX i ON public.t USING btree (a)", false);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (b)",
				"CREATE INDEX i ON public.t USING btree (b text_pattern_ops)", false);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
				"CREATE INDEX i ON public.t USING btree (a) WHERE (c > 0)", false);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
				"CREATE INDEX i ON public.u USING btree (a)", false);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
				"CREATE INDEX i ON app.t USING btree (a)", false);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
				"CREATE INDEX i ON ONLY public.t USING btree (a)", false);
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)",
				"CREATE INDEX i ON public.t USING hash (a)", false);
	/* the same index spelled otherwise: the trees decide */
	server_text("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t ( a )",
				"CREATE INDEX i ON public.t USING btree (a)", false);
}

static void
test_quote_ident(void **state)
{
	char *q = sql_quote_ident("a\"b");

	assert_string_equal(q, "\"a\"\"b\"");
	free(q);
	q = sql_quote_ident("");
	assert_string_equal(q, "\"\"");
	free(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_info),       cmocka_unit_test(test_parse_failures),
		cmocka_unit_test(test_check_definition), cmocka_unit_test(test_render),
		cmocka_unit_test(test_equivalent),       cmocka_unit_test(test_quote_ident),
		cmocka_unit_test(test_compare_server),   cmocka_unit_test(test_compare_server_written),
		cmocka_unit_test(test_is_server_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
