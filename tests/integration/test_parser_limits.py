"""
test_parser_limits.py
    Deeply nested SQL is an input error (exit 2, naming file and line, or the
    index definition), never a crash, in every command of both programs that
    parses SQL; large but shallow SQL still works.

Before the parser limits, each deep case here ended in SIGSEGV (exit -11):
libpg_query's protobuf output and protobuf-c's unpack recursed once per
level of the tree on the main thread's stack.

tests/integration/test_parser_limits.py
"""

import os

from toolkit_test import ToolkitTestCase

MAX_DEPTH = 10000  # SQL_PARSE_MAX_DEPTH, common/sqlparse.h
TOO_DEEP = r"statement is nested too deeply: its parse tree is deeper than %d levels" % MAX_DEPTH
# a program run's bound; under TOOLKIT_TEST_WRAPPER (valgrind) parsing 20k UNION
# branches alone takes minutes
DEADLINE = 1800 if os.environ.get("TOOLKIT_TEST_WRAPPER") else 120


def concat_chain(terms):
    """'a' || 'a' || ... : a left-deep tree, two levels per operator."""
    return " || ".join(["'a'"] * terms)


def deep_sql():
    """(label, SQL of a statement nested too deeply, expected message)."""
    return [
        ("10k || terms", "CREATE VIEW v_deep AS SELECT %s AS x;\n" % concat_chain(10000), TOO_DEEP),
        ("100k || terms", "CREATE VIEW v_deep AS SELECT %s AS x;\n" % concat_chain(100000), TOO_DEEP),
        ("5k nested parens, right-nested ||",
         "CREATE VIEW v_deep AS SELECT " + "'a' || (" * 5000 + "'a'" + ")" * 5000 + " AS x;\n",
         r"(%s|memory exhausted)" % TOO_DEEP),
        ("3k nested subqueries",
         "CREATE VIEW v_deep AS SELECT " + "(SELECT " * 3000 + "1" + ")" * 3000 + " AS x;\n", TOO_DEEP),
        ("20k UNION branches", "CREATE VIEW v_deep AS SELECT 1 AS x" + " UNION SELECT 1" * 20000 + ";\n",
         TOO_DEEP),
        ("10k casts", "CREATE VIEW v_deep AS SELECT 1" + "::int" * 10000 + " AS x;\n", TOO_DEEP),
        ("20k nested parens", "CREATE VIEW v_deep AS SELECT " + "(" * 20000 + "1" + ")" * 20000 + " AS x;\n",
         r"memory exhausted"),
    ]


class MigratorParserLimitsTest(ToolkitTestCase):
    """migrator lint, plan and up on a directory whose second file is too deep."""

    def migrations(self, deep):
        # the deep statement sits on line 4 of its file, after a comment
        return self.make_dir({
            "1_first.sql": "CREATE TABLE first_t (id int);\n",
            "2_deep.sql": "-- a generated view\n\nCREATE TABLE before_deep (id int);\n" + deep,
        })

    def assertRefused(self, r, message, label):
        self.assertExit(r, 2, label)
        if "lint" in r.argv:
            # lint puts syntax errors on stdout among its findings, in their format
            self.assertRegex(r.stdout, r"2_deep\.sql:4:\d+: error syntax-error: %s" % message, label)
        else:
            self.assertStderrMatches(r, r"2_deep\.sql:4:\d+: %s" % message, label)
        self.assertNoLine(r, r"Segmentation|AddressSanitizer|stack-overflow", label)

    def assertNothingApplied(self, label):
        self.assertFalse(self.table_exists("first_t"), label)
        self.assertFalse(self.table_exists("before_deep"), label)
        self.assertFalse(self.table_exists("v_deep"), label)
        self.assertFalse(self.table_exists("schema_migrations"), label)

    def test_every_command_refuses_deep_sql_with_file_and_line(self):
        for label, sql, message in deep_sql():
            d = self.migrations(sql)
            for command in ("lint", "plan", "up"):
                with self.subTest(sql=label, command=command):
                    args = [command, "--dir", d]
                    r = self.run_migrator(*args, dsn=None if command == "lint" else self.dsn,
                                          timeout=DEADLINE)
                    self.assertRefused(r, message, "%s: %s" % (command, label))
                    self.assertNothingApplied("%s: %s" % (command, label))

    def test_verify_file_too_deep(self):
        d = self.make_dir({
            "1_first.sql": "CREATE TABLE first_t (id int);\n",
            "1_first.verify.sql": "-- check\nSELECT %s = 'a';\n" % concat_chain(10000),
        })
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"1_first\.verify\.sql:2:\d+: %s" % TOO_DEEP)
        self.assertFalse(self.table_exists("first_t"))

    def test_deep_sql_inside_a_do_block_is_an_error(self):
        d = self.make_dir({
            "1_do.sql": "CREATE TABLE first_t (id int);\nDO $$\nBEGIN\n  PERFORM %s;\nEND\n$$;\n"
                        % concat_chain(10000),
        })
        for command in ("lint", "up"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d, dsn=None if command == "lint" else self.dsn)
                self.assertExit(r, 2)
                # lint writes its findings to stdout, up logs them on stderr
                self.assertRegex(r.stdout + r.stderr,
                                 r"1_do\.sql:4:\d+: (error )?unchecked-sql: in a DO block, .*%s" % TOO_DEEP)
                self.assertFalse(self.table_exists("first_t"))

    def test_deeply_nested_plpgsql_blocks_are_an_error(self):
        body = "IF true THEN\n" * 1000 + "PERFORM 1;\n" + "END IF;\n" * 1000
        d = self.make_dir({"1_do.sql": "DO $$\nBEGIN\n%sEND\n$$;\n" % body})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r"1_do\.sql:1:1: error unchecked-sql: the DO block is nested too deeply")

    def test_large_but_shallow_sql_is_applied(self):
        columns = ",\n".join("  c%d int" % i for i in range(1500))
        values = ", ".join(str(i) for i in range(20000))
        # 2000 terms: 4000 levels, within the limit and PostgreSQL's default stack
        d = self.make_dir({
            "1_wide.sql": "CREATE TABLE wide (\n%s,\n  CHECK (c0 IN (%s))\n);\n" % (columns, values),
            "2_view.sql": "CREATE VIEW v_long AS SELECT %s AS x;\n" % concat_chain(2000),
            "3_many.sql": "".join("CREATE TABLE t%d (id int);\n" % i for i in range(2000)),
        })
        r = self.run_migrator("up", "--dir", d, timeout=DEADLINE)
        self.assertExit(r, 0)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = 'wide'::regclass "
                                     "AND attnum > 0"), 1500)
        self.assertEqual(self.scalar("SELECT length(x) FROM v_long"), 2000)
        self.assertTrue(self.table_exists("t1999"))
        self.assertEqual(self.scalar("SELECT count(*) FROM schema_migrations"), 3)


class IndexerParserLimitsTest(ToolkitTestCase):
    """indexer plan, build, check and status on a definition too deep."""

    def config(self, where):
        sql = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_deep ON t (a) WHERE (email || %s) <> ''"
               % concat_chain(where))
        text = ("indexes = (\n"
                "  { name = \"idx_ok\"; table = \"t\"; sql = \"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_ok ON t (a)\"; },\n"
                "  { name = \"idx_deep\"; table = \"t\";\n"
                "    sql = \"%s\"; }\n"
                ");\n") % sql
        d = self.make_dir({"indexes.cfg": text})
        return os.path.join(d, "indexes.cfg")

    def test_every_command_refuses_a_deep_definition(self):
        self.query("CREATE TABLE t (id int, a int, email text)")
        for terms in (10000, 100000):
            cfg = self.config(terms)
            for command in ("plan", "build", "check", "status"):
                with self.subTest(terms=terms, command=command):
                    r = self.run_indexer(command, "-c", cfg, timeout=DEADLINE)
                    self.assertExit(r, 2)
                    self.assertStderrMatches(
                        r, r'indexes\.cfg:4: index "idx_deep": field "sql": %s' % TOO_DEEP)
                    self.assertNoLine(r, r"Segmentation|AddressSanitizer|stack-overflow")
                    self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 't'"), 0)

    def test_migrator_requires_index_with_a_deep_definition(self):
        self.query("CREATE TABLE t (id int, a int, email text)")
        cfg = self.config(10000)
        d = self.make_dir({
            "1_needs.sql": "-- migrator:requires-index idx_deep\nCREATE TABLE after_t (id int);\n",
        })
        r = self.run_migrator("up", "--dir", d, "--index-config", cfg)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'indexes\.cfg:4: index "idx_deep": field "sql": %s' % TOO_DEEP)
        self.assertFalse(self.table_exists("after_t"))
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 't'"), 0)

    def test_a_deep_but_accepted_predicate_builds(self):
        self.query("CREATE TABLE t (id int, a int, email text)")
        self.query("INSERT INTO t SELECT g, g, 'u' || g FROM generate_series(1, 100) g")
        # 400 terms (800 levels): a longer predicate no longer fits in pg_index
        cfg = self.config(400)
        r = self.run_indexer("build", "-c", cfg, timeout=DEADLINE)
        self.assertExit(r, 0)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                     "WHERE c.relname IN ('idx_ok', 'idx_deep') AND i.indisvalid"), 2)
        # the catalog's definition is parsed back and compared: in line
        r = self.run_indexer("check", "-c", cfg, timeout=DEADLINE)
        self.assertExit(r, 0)
