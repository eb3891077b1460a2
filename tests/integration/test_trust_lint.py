"""
test_trust_lint.py
    Issue 9, the lint side: an error swallowed by an exception handler
    (part 2), verify files that change something (part 6), session settings
    changed through EXECUTE and set_config (part 7), and a migration that
    lifts the operator's timeouts (part 8).  Each attack is refused by
    "migrator lint" and by "migrator up" (exit 2) with nothing applied; the
    rules themselves are unit-tested spelling by spelling in
    tests/unit/lint_test.c.

tests/integration/test_trust_lint.py
"""

import os
import re

from toolkit_test import ToolkitTestCase

NOTHING_APPLIED = r"lint: \d+ errors? in the pending migrations; nothing applied"


class TrustLintTestCase(ToolkitTestCase):

    def versions(self):
        if not self.table_exists("schema_migrations"):
            return None
        return [r[0] for r in self.query("SELECT version FROM schema_migrations ORDER BY 1")]

    def base_dir(self, files):
        """A directory whose 1_t.sql (table t, two rows' worth of columns) is applied."""
        d = self.make_dir(dict({"1_t.sql": "CREATE TABLE t (id int, a int);\n"}, **files))
        self.assertExit(self.run_migrator("up", "--dir", d, "--target", "1"), 0)
        self.query("INSERT INTO t VALUES (1, 1), (2, 2)")
        return d

    def assert_refused(self, d, path, line, rule, *extra):
        """lint and up both refuse with path:line: error rule, and up applies nothing."""
        where = r"%s:%d:\d+: " % (re.escape(os.path.join(d, path)), line)
        finding = where + r"error %s: " % re.escape(rule)
        r = self.run_migrator("lint", "--dir", d, *extra, dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, re.compile("^" + finding, re.M))
        for command in ("plan", "up"):
            r = self.run_migrator(command, "--dir", d, *extra)
            self.assertExit(r, 2)
            # on stderr the level word says "error" once (issue 14)
            self.assertStderrMatches(r, r"^migrator: error: " + where + r"%s: " % re.escape(rule))
            self.assertLastLineMatches(r, NOTHING_APPLIED)
        self.assertEqual([1], self.versions())
        self.assertEqual(2, self.scalar("SELECT count(*) FROM t"))
        return r


class SwallowedErrorTest(TrustLintTestCase):
    """Part 2: a handler that turns the lock timeout into a NOTICE and exit 0."""

    BODY = ("DO $$\n"                                                    # 1
            "BEGIN\n"                                                    # 2
            "  ALTER TABLE t ADD COLUMN b int;\n"                        # 3
            "EXCEPTION\n"                                                # 4
            "  WHEN %s THEN\n"                                           # 5
            "    RAISE NOTICE 'skipped: %%', SQLERRM;\n"                 # 6
            "END $$;\n")

    def test_handler_catching_the_lock_timeout_is_refused(self):
        for condition in ("OTHERS", "lock_not_available", "SQLSTATE '55P03'", "SQLSTATE '40000'",
                          "query_canceled"):
            with self.subTest(condition=condition):
                d = self.base_dir({"2_b.sql": self.BODY % condition})
                r = self.assert_refused(d, "2_b.sql", 5, "swallowed-error")
                self.assertStderrMatches(r, r"WHEN .* catches .*, but does not end in RAISE.*IF NOT EXISTS.*"
                                            r"end the handler with RAISE; to re-raise it$")
                self.assertFalse(self.column_exists("t", "b"))
                self.query("DROP TABLE t; DROP TABLE schema_migrations")

    def test_what_the_rule_prevents(self):
        # excused, the file reproduces the incident: the lock timeout becomes a
        # notice, the run exits 0 and records a migration that did nothing
        d = self.base_dir({"2_b.sql": (self.BODY % "lock_not_available").replace(
            "EXCEPTION\n", "EXCEPTION\n  -- migrator:allow swallowed-error\n")})
        holder = self.hold_lock("LOCK TABLE t IN ACCESS SHARE MODE")
        r = self.run_migrator("up", "--dir", d, "--lock-timeout", "200ms")
        holder.rollback()
        self.assertExit(r, 0)
        self.assertIn("skipped: canceling statement due to lock timeout", r.stderr)
        self.assertFalse(self.column_exists("t", "b"))
        self.assertEqual([1, 2], self.versions())

    def test_reraising_handler_runs(self):
        d = self.base_dir({"2_b.sql": (self.BODY % "duplicate_column")
                           + "DO $$\nBEGIN\n  ALTER TABLE t ADD COLUMN c int;\n"
                             "EXCEPTION WHEN others THEN\n  RAISE NOTICE 'failed';\n  RAISE;\nEND $$;\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"swallowed-error")
        self.assertTrue(self.column_exists("t", "b"))
        self.assertTrue(self.column_exists("t", "c"))
        self.assertEqual([1, 2], self.versions())


class VerifyReadOnlyTest(TrustLintTestCase):
    """Part 6: a verify file with a data-modifying CTE deleted every row."""

    def test_verify_files_that_change_something_are_refused(self):
        cases = [
            ("WITH gone AS (DELETE FROM t RETURNING 1)\nSELECT count(*) >= 0 FROM gone;\n", 1),
            ("SELECT true;\nSELECT id FROM t FOR UPDATE;\n", 2),
            ("SELECT * INTO t_copy FROM t;\n", 1),
            ("SELECT true;\n\nSELECT set_config('search_path', 'pg_catalog', false) IS NOT NULL;\n", 3),
            ("SELECT pg_advisory_unlock_all() IS NULL;\n", 1),
            ("SELECT nextval('t_seq') > 0;\n", 1),
        ]
        for verify, line in cases:
            with self.subTest(verify=verify):
                d = self.base_dir({"2_u.sql": "CREATE TABLE u (id int);\n", "2_u.verify.sql": verify})
                r = self.assert_refused(d, "2_u.verify.sql", line, "verify-read-only")
                self.assertStderrMatches(r, r"a verify file must not change anything; ")
                self.assertFalse(self.table_exists("u"))
                self.assertFalse(self.table_exists("t_copy"))
                self.query("DROP TABLE t; DROP TABLE schema_migrations")

    def test_cannot_be_excused(self):
        d = self.base_dir({"2_u.sql": "CREATE TABLE u (id int);\n",
                           "2_u.verify.sql": "-- migrator:allow verify-read-only\n"
                                             "WITH gone AS (DELETE FROM t RETURNING 1) SELECT true;\n"})
        self.assert_refused(d, "2_u.verify.sql", 2, "verify-read-only")

    def test_plain_verify_file_is_clean_and_runs(self):
        d = self.base_dir({"2_u.sql": "CREATE TABLE u (id int);\n",
                           "2_u.verify.sql": "SELECT to_regclass('u') IS NOT NULL\n"
                                             "  AND (SELECT count(*) FROM t) = 2\n"
                                             "  AND now() > '2000-01-01';\n"})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        self.assertEqual("2 files checked: 0 errors, 0 warnings\n", r.stdout)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        self.assertEqual([1, 2], self.versions())


class SessionSetTest(TrustLintTestCase):
    """Part 7: RESET ALL through EXECUTE moved every later migration to public."""

    def test_session_changes_through_execute_and_set_config_are_refused(self):
        cases = [
            ("DO $$\nBEGIN\n  EXECUTE 'RESET ALL';\nEND $$;\n", 3, "session-set"),
            ("DO $$\nDECLARE s text := 'public';\nBEGIN\n"
             "  EXECUTE format('SET search_path TO %I', s);\nEND $$;\n", 4, "session-set"),
            ("DO $$\nBEGIN\n  EXECUTE 'SET search_path = ' || quote_ident('public');\nEND $$;\n", 3,
             "session-set"),
            ("SELECT set_config('search_path', 'public', NULL);\n", 1, "session-set"),
            ("DO $$\nBEGIN\n  PERFORM set_config('ROLE', 'pg_monitor', true);\nEND $$;\n", 3, "set-role"),
        ]
        for sql, line, rule in cases:
            with self.subTest(sql=sql):
                d = self.base_dir({"2_s.sql": "CREATE TABLE u (id int);\n" + sql,
                                   "3_v.sql": "CREATE TABLE v (id int);\n"})
                self.assert_refused(d, "2_s.sql", line + 1, rule)
                self.assertFalse(self.table_exists("u"))
                self.assertFalse(self.table_exists("v"))
                self.query("DROP TABLE t; DROP TABLE schema_migrations")

    def test_reset_all_cannot_be_excused(self):
        d = self.base_dir({"2_s.sql": "CREATE TABLE u (id int);\n"
                                      "DO $$\nBEGIN\n  -- migrator:allow session-set\n  EXECUTE 'RESET ALL';\nEND $$;\n",
                           "3_v.sql": "CREATE TABLE v (id int);\n"})
        r = self.assert_refused(d, "2_s.sql", 5, "session-set")
        self.assertStderrMatches(r, r"RESET ALL .*\(cannot be excused\)$")
        self.assertFalse(self.table_exists("u"))
        self.assertFalse(self.table_exists("v"))

    def test_set_local_is_fine(self):
        d = self.base_dir({"2_s.sql": "SET LOCAL search_path TO public;\n"
                                      "DO $$\nBEGIN\n  EXECUTE 'SET LOCAL work_mem = ''64MB''';\nEND $$;\n"
                                      "CREATE TABLE u (id int);\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"session-set")
        self.assertTrue(self.table_exists("u"))


class TimeoutOverrideTest(TrustLintTestCase):
    """Part 8: the operator's bounds stay in force."""

    def test_zero_is_refused(self):
        for sql in ("SET LOCAL lock_timeout = 0;\n", "SET LOCAL statement_timeout TO '0s';\n",
                    "SELECT set_config('lock_timeout', '0', true);\n",
                    "DO $$\nBEGIN\n  SET LOCAL lock_timeout = '0.1ms';\nEND $$;\n"):
            with self.subTest(sql=sql):
                d = self.base_dir({"2_z.sql": "CREATE TABLE u (id int);\n" + sql})
                line = 4 if sql.startswith("DO") else 2
                r = self.assert_refused(d, "2_z.sql", line, "timeout-override")
                self.assertStderrMatches(r, r"to 0 removes the bound, .*; remove it, or set a finite value")
                self.assertFalse(self.table_exists("u"))
                self.query("DROP TABLE t; DROP TABLE schema_migrations")

    def test_raising_the_lock_timeout_is_a_warning(self):
        d = self.base_dir({"2_r.sql": "SET LOCAL lock_timeout = '10s';\nCREATE TABLE u (id int);\n"})
        finding = r"2_r.sql:1:1: warning timeout-override: SET LOCAL lock_timeout to 10s raises the run's " \
                  r"--lock-timeout \(5s\) for this migration; "
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, finding)
        # a run whose bound is at least the value: nothing raised
        r = self.run_migrator("lint", "--dir", d, "--lock-timeout", "10s", dsn=None)
        self.assertExit(r, 0)
        self.assertNotIn("timeout-override", r.stdout)
        # --strict refuses it, and applies nothing
        r = self.run_migrator("up", "--dir", d, "--strict")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, NOTHING_APPLIED)
        self.assertFalse(self.table_exists("u"))
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        # on stderr the level word says "warning" once (issue 14)
        self.assertStderrMatches(r, r"^migrator: warning: .*" + finding.replace(": warning timeout-override", ": timeout-override"))
        self.assertTrue(self.table_exists("u"))
        self.assertEqual([1, 2], self.versions())

    def test_statement_timeout_without_a_run_bound_overrides_the_operators(self):
        d = self.make_dir({"1_s.sql": "SET LOCAL statement_timeout = '1h';\nCREATE TABLE u (id int);\n"})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"1_s.sql:1:1: warning timeout-override: SET LOCAL statement_timeout to 1h "
                                   r"overrides the operator's bound")
        r = self.run_migrator("lint", "--dir", d, "--statement-timeout", "2h", dsn=None)
        self.assertExit(r, 0)
        self.assertEqual("1 file checked: 0 errors, 0 warnings\n", r.stdout)


class StringSyntaxTest(TrustLintTestCase):
    """The lint reads a file with PostgreSQL's parser at standard_conforming_strings = on; a
    database (or role) that sets it off read every backslash in a string otherwise, so what the
    lint checked was not what ran (adversarial review of session 12).  Both programs' sessions
    set it on, whatever the database says."""

    def test_a_database_with_standard_conforming_strings_off_reads_the_file_as_the_lint(self):
        self.query("ALTER DATABASE %s SET standard_conforming_strings = off" % self.ident(self.dbname))
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (c text DEFAULT 'a\\nb');\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"nonstandard use of")
        self.assertEqual(self.versions(), [1])
        self.query("INSERT INTO t DEFAULT VALUES")
        # four characters, a backslash among them, as the lint (and PostgreSQL's default) read it
        self.assertEqual(self.scalar("SELECT c FROM t"), "a\\nb")

    def test_the_indexer_reads_a_definition_as_its_parser(self):
        self.query("ALTER DATABASE %s SET standard_conforming_strings = off" % self.ident(self.dbname))
        self.query("CREATE TABLE t (c text)")
        cfg = os.path.join(self.make_dir({"indexes.cfg": (
            'indexes = ({ name = "idx_c"; table = "t"; critical = true;\n'
            '  sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_c ON t (c) WHERE c <> \'a\\\\nb\'"; });\n')}),
            "indexes.cfg")
        r = self.run_indexer("build", "-c", cfg, "--no-record")
        self.assertExit(r, 0)
        # a backslash and an n, not a newline, whichever way this session prints it
        predicate = self.scalar("SELECT pg_get_expr(indpred, indrelid) FROM pg_index "
                                "WHERE indexrelid = 'idx_c'::regclass")
        self.assertIn("\\", predicate)
        self.assertNotIn("\n", predicate)
        r = self.run_indexer("check", "-c", cfg)
        self.assertExit(r, 0)
