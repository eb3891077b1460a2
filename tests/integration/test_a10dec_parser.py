"""
test_a10dec_parser.py
    Issue 10, "Parser limits", attacked on the paths added since it was
    built: the no-op fast path (an applied file is not parsed, a pending one
    is), check, a deep file that is already applied (baseline) while a
    later one carries constraints, baseline's verify runs, requires-index
    in plan and lint, and more shapes of deep SQL (nested CASE, nested
    ARRAY, a deep JSON literal, a long IN list) in both programs.  Every
    refusal is exit 2 naming the file and line (or the definition), no
    crash, nothing applied.

tests/integration/test_a10dec_parser.py
"""

import os
import unittest

from toolkit_test import ToolkitTestCase

MAX_DEPTH = 10000  # SQL_PARSE_MAX_DEPTH, common/sqlparse.h
TOO_DEEP = (r"(statement is nested too deeply: its parse tree is deeper than %d levels|memory exhausted at or near)"
            % MAX_DEPTH)
DEADLINE = 180
CRASH = r"Segmentation|AddressSanitizer|stack-overflow|core dumped"


def concat_chain(terms):
    return " || ".join(["'a'"] * terms)


def nested_case(n):
    return "CASE WHEN true THEN " * n + "1" + " END" * n


def nested_array(n):
    return "ARRAY[" * n + "1" + "]" * n


DEEP_SHAPES = (
    ("5k nested CASE", "SELECT %s AS x" % nested_case(5000)),
    ("10k nested ARRAY", "SELECT %s AS x" % nested_array(10000)),
)


class MigratorPathsTest(ToolkitTestCase):

    def assertRefused(self, r, path_line, label=None):
        self.assertExit(r, 2, label)
        self.assertRegex(r.stdout + r.stderr, r"%s:\d+: (error syntax-error: )?%s" % (path_line, TOO_DEEP), label)
        self.assertNoLine(r, CRASH, label)

    def versions(self):
        if not self.table_exists("schema_migrations"):
            return []
        return [r[0] for r in self.query("SELECT version FROM public.schema_migrations ORDER BY 1")]

    def test_pending_deep_file_after_the_applied_ones(self):
        files = {"1_first.sql": "CREATE TABLE first_t (id int);\n"}
        d = self.make_dir(files)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        with open(os.path.join(d, "2_deep.sql"), "w") as f:
            f.write("-- generated\nCREATE VIEW v_deep AS SELECT %s AS x;\n" % concat_chain(100000))
        for command in ("lint", "plan", "up"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d, dsn=None if command == "lint" else self.dsn,
                                      timeout=DEADLINE)
                self.assertRefused(r, r"2_deep\.sql:2", command)
                self.assertEqual(self.versions(), [1])
                self.assertFalse(self.table_exists("v_deep"))
        # check: the deep file is pending (it is not run, so it is not parsed either)
        r = self.run_migrator("check", "--dir", d, timeout=DEADLINE)
        self.assertExit(r, 5)
        self.assertStderrMatches(r, r"pending")
        self.assertNoLine(r, CRASH)
        self.assertEqual(self.versions(), [1])

    def test_applied_deep_file_never_blocks_and_never_crashes(self):
        # recorded by baseline without running it (its verify skipped), as an older version could
        deep = "-- generated; check, references\nCREATE VIEW v_deep AS SELECT %s AS x;\n" % concat_chain(100000)
        d = self.make_dir({"1_deep.sql": deep})
        r = self.run_migrator("baseline", "--dir", d, "--baseline-version", "1", "--no-verify", timeout=DEADLINE)
        self.assertNoLine(r, CRASH)
        self.assertExit(r, 0)
        self.assertEqual(self.versions(), [1])
        # the no-op fast path: nothing pending, nothing parsed
        r = self.run_migrator("up", "--dir", d, timeout=DEADLINE)
        self.assertExit(r, 0)
        # a pending file with a constraint: the applied file is read for its constraints only
        with open(os.path.join(d, "2_next.sql"), "w") as f:
            f.write("CREATE TABLE next_t (id int CHECK (id > 0));\n")
        for command in ("lint", "plan", "up"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d, *((os.path.join(d, "2_next.sql"),) if command == "lint" else ()),
                                      dsn=None if command == "lint" else self.dsn, timeout=DEADLINE)
                self.assertNoLine(r, CRASH, command)
                self.assertIn(r.rc, (0, 1) if command == "plan" else (0,), r.describe())
        self.assertEqual(self.versions(), [1, 2])
        self.assertTrue(self.table_exists("next_t"))
        self.assertExit(self.run_migrator("check", "--dir", d, timeout=DEADLINE), 0)

    def test_baseline_verify_file_too_deep(self):
        d = self.make_dir({
            "1_first.sql": "CREATE TABLE first_t (id int);\n",
            "1_first.verify.sql": "-- check\n\nSELECT %s = 'a';\n" % concat_chain(100000),
        })
        self.query("CREATE TABLE first_t (id int)")
        r = self.run_migrator("baseline", "--dir", d, "--baseline-version", "1", timeout=DEADLINE)
        self.assertRefused(r, r"1_first\.verify\.sql:3")
        self.assertEqual(self.versions(), [])

    def test_more_deep_shapes_in_lint_plan_and_up(self):
        for label, select in DEEP_SHAPES:
            d = self.make_dir({"1_first.sql": "CREATE TABLE first_t (id int);\n",
                               "2_deep.sql": "\nCREATE VIEW v_deep AS %s;\n" % select})
            for command in ("lint", "plan", "up"):
                with self.subTest(shape=label, command=command):
                    r = self.run_migrator(command, "--dir", d, dsn=None if command == "lint" else self.dsn,
                                          timeout=DEADLINE)
                    self.assertRefused(r, r"2_deep\.sql:2", "%s %s" % (command, label))
                    self.assertFalse(self.table_exists("first_t"))
                    self.assertEqual(self.versions(), [])

    def test_deep_json_literal_and_long_in_list_are_not_parser_limits(self):
        # a JSON literal is one string constant to the parser: the server judges its depth
        d = self.make_dir({"1_json.sql": "CREATE VIEW j AS SELECT '%s'::jsonb AS doc;\n"
                           % ("[" * 100000 + "]" * 100000)})
        r = self.run_migrator("up", "--dir", d, timeout=DEADLINE)
        self.assertNoLine(r, CRASH)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"1_json\.sql:1:.*54001")
        self.assertFalse(self.table_exists("j"))
        # 100k IN values: wide, not deep
        values = ", ".join(str(i) for i in range(100000))
        d = self.make_dir({"1_in.sql": "CREATE VIEW v_in AS SELECT 1 AS x WHERE 5 IN (%s);\n" % values})
        r = self.run_migrator("up", "--dir", d, timeout=DEADLINE)
        self.assertExit(r, 0)
        self.assertEqual(self.scalar("SELECT x FROM v_in"), 1)

    def test_requires_index_with_a_deep_definition_in_plan_and_lint(self):
        self.query("CREATE TABLE t (id int, a int, email text)")
        sql = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_deep ON t (a) WHERE a = %s" % nested_case(5000))
        cfg_dir = self.make_dir({"indexes.cfg": 'indexes = (\n  { name = "idx_deep"; table = "t";\n'
                                                '    sql = "%s"; }\n);\n' % sql})
        cfg = os.path.join(cfg_dir, "indexes.cfg")
        d = self.make_dir({"1_needs.sql": "-- migrator:requires-index idx_deep\nCREATE TABLE after_t (id int);\n"})
        for command in ("plan", "lint", "up"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d, "--index-config", cfg,
                                      dsn=None if command == "lint" else self.dsn, timeout=DEADLINE)
                self.assertExit(r, 2)
                self.assertRegex(r.stdout + r.stderr, r'indexes\.cfg:3: index "idx_deep": field "sql": %s'
                                 % TOO_DEEP)
                self.assertNoLine(r, CRASH)
        self.assertFalse(self.table_exists("after_t"))
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 't'"), 0)


class IndexerPathsTest(ToolkitTestCase):

    def config(self, predicate):
        sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_deep ON t (a) WHERE %s" % predicate
        d = self.make_dir({"indexes.cfg": 'indexes = (\n  { name = "idx_deep"; table = "t";\n'
                                          '    sql = "%s"; }\n);\n' % sql})
        return os.path.join(d, "indexes.cfg")

    def test_deep_shapes_in_every_command(self):
        self.query("CREATE TABLE t (id int, a int, email text)")
        # an index of that name exists: the drift fast path compares it against the file's text
        self.query("CREATE INDEX idx_deep ON t (a)")
        for label, predicate in (("5k nested CASE", "a = %s" % nested_case(5000)),
                                 ("10k nested ARRAY", "a = ANY (%s)" % nested_array(10000)),
                                 ("100k ||", "email = %s" % concat_chain(100000))):
            cfg = self.config(predicate)
            for command in ("build", "plan", "check", "status"):
                with self.subTest(shape=label, command=command):
                    r = self.run_indexer(command, "-c", cfg, "--rebuild-drifted" if command == "build" else "-v",
                                         timeout=DEADLINE)
                    self.assertExit(r, 2)
                    self.assertStderrMatches(r, r'indexes\.cfg:3: index "idx_deep": field "sql": %s' % TOO_DEEP)
                    self.assertNoLine(r, CRASH)
                    self.assertEqual(self.query("SELECT indexname FROM pg_indexes WHERE tablename = 't'"),
                                     [("idx_deep",)])


if __name__ == "__main__":
    unittest.main()
