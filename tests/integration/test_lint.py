"""
test_lint.py
    migrator lint, and the lint that up and plan run on pending files before
    anything is applied.  The rules themselves are unit-tested one by one in
    tests/unit/lint_test.c; here: the command line, the output formats, and
    that a finding (or a syntax error) in any pending file applies nothing.

tests/integration/test_lint.py
"""

import json
import os
import re

from toolkit_test import ToolkitTestCase

HISTORY = "schema_migrations"


class LintTestCase(ToolkitTestCase):

    def versions(self):
        if not self.table_exists(HISTORY):
            return None
        return [r[0] for r in self.query("SELECT version FROM schema_migrations ORDER BY 1")]


class LintCommandTest(LintTestCase):

    def test_example_migrations_are_clean(self):
        src = os.environ.get("TOOLKIT_SOURCE_DIR")
        if not src:
            self.skipTest("TOOLKIT_SOURCE_DIR is not set")
        r = self.run_migrator("lint", "--dir", os.path.join(src, "migrations"), dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"^\d+ files checked: 0 errors, 0 warnings\n$")

    def test_findings_and_count(self):
        d = self.make_dir({
            "1_t.sql": "CREATE TABLE t (id int, a int);\n",
            "2_idx.sql": "-- index on an existing table\nCREATE INDEX t_a ON t (a);\n",
            "3_drop.sql": "ALTER TABLE t DROP COLUMN a;\n",
        })
        # offline: no server is needed (an unreachable one is never asked)
        r = self.run_migrator("lint", "--dir", d, dsn="host=127.0.0.1 port=1 dbname=x")
        self.assertExit(r, 2)
        lines = r.stdout.splitlines()
        self.assertEqual(3, len(lines), r.stdout)
        self.assertRegex(lines[0], r"^%s:2:1: error create-index: CREATE INDEX on \"t\" .*; "
                                   r"indexes belong in the indexer's config: add a definition to conf/indexes.cfg$"
                         % re.escape(os.path.join(d, "2_idx.sql")))
        self.assertRegex(lines[1], r"^%s:1:1: warning drop-column: " % re.escape(os.path.join(d, "3_drop.sql")))
        self.assertEqual("3 files checked: 1 error, 1 warning", lines[2])

    def test_warnings_pass_and_strict_fails(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int, a int);\n",
                           "2_drop.sql": "ALTER TABLE t DROP COLUMN a;\n"})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        self.assertIn("warning drop-column:", r.stdout)
        r = self.run_migrator("lint", "--dir", d, "--strict", dsn=None)
        self.assertExit(r, 2)
        self.assertIn("error drop-column:", r.stdout)
        self.assertIn("2 files checked: 1 error, 0 warnings", r.stdout)

    def test_json_output(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n"})
        r = self.run_migrator("lint", "--dir", d, "--log-format", "json", dsn=None)
        self.assertExit(r, 2)
        findings = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(1, len(findings))
        f = findings[0]
        self.assertEqual({"file": os.path.join(d, "1_t.sql"), "line": 2, "column": 1,
                          "severity": "error", "rule": "dml"},
                         {k: f[k] for k in ("file", "line", "column", "severity", "rule")})
        self.assertIn("allow-dml", f["message"])
        summary = [json.loads(l) for l in r.stderr.splitlines()]
        self.assertEqual("lint_done", summary[-1]["event"])

    def test_syntax_error_is_reported_with_its_line(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int);\n\nON t (id);\n"})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 2)
        # on stdout with the findings, in their format, the offending line below it
        self.assertEqual(r.stdout.splitlines(), [
            '%s:3:1: error syntax-error: syntax error at or near "ON"' % os.path.join(d, "1_t.sql"),
            "    ON t (id);",
            "1 file checked: 1 error, 0 warnings"])
        self.assertEqual(r.stderr, "")

    def test_allow_comment_excuses_one_statement_from_one_rule(self):
        d = self.make_dir({
            "1_t.sql": "CREATE TABLE t (id int, a int, b int);\n",
            "2_drop.sql": "-- migrator:allow drop-column\n"
                          "ALTER TABLE t DROP COLUMN a;\n"
                          "ALTER TABLE t DROP COLUMN b;\n",
        })
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        findings = [l for l in r.stdout.splitlines() if "drop-column" in l]
        self.assertEqual(1, len(findings), r.stdout)
        self.assertIn("2_drop.sql:3:1: warning drop-column", findings[0])

    def test_allow_comment_with_unknown_rule(self):
        d = self.make_dir({"1_t.sql": "-- migrator:allow no-such-rule\nCREATE TABLE t (id int);\n"})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r"1_t.sql:1:\d+: error unknown-rule: ")


class LintBeforeApplyTest(LintTestCase):

    def test_syntax_error_in_third_file_applies_nothing(self):
        # the lost CREATE INDEX head of the real case
        d = self.make_dir({
            "1_calendars.sql": "CREATE TABLE business_calendars (id int, business_id int, is_active bool);\n",
            "2_rules.sql": "CREATE TABLE calendar_routing_rules (id int);\n",
            "3_fragment.sql": "-- what was left of a CREATE INDEX\n"
                              "ON business_calendars (business_id, is_active);\n",
        })
        for command in ("plan", "up"):
            r = self.run_migrator(command, "--dir", d)
            self.assertExit(r, 2)
            self.assertStderrMatches(r, r'%s:2:1: syntax error at or near "ON"$'
                                     % re.escape(os.path.join(d, "3_fragment.sql")))
            self.assertStderrMatches(r, r"3_fragment.sql:2: ON business_calendars \(business_id, is_active\);$")
            self.assertLastLineMatches(r, r"a pending migration does not parse; nothing applied$")
            self.assertFalse(self.table_exists("business_calendars"))
            self.assertFalse(self.table_exists("calendar_routing_rules"))
            self.assertIsNone(self.versions())

    def test_dml_in_a_dollar_quoted_do_body_applies_nothing(self):
        body = ("DO $body$\n"
                "BEGIN\n"
                "  RAISE NOTICE 'backfilling; slowly';\n"
                "  UPDATE t SET a = 1 WHERE a IS NULL;\n"
                "END\n"
                "$body$;\n")
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int, a int);\n",
                           "2_backfill.sql": body})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"^migrator: error: %s:4:\d+: dml: "
                                 % re.escape(os.path.join(d, "2_backfill.sql")))
        self.assertLastLineMatches(r, r"lint: 1 error in the pending migrations; nothing applied")
        self.assertFalse(self.table_exists("t"))
        self.assertIsNone(self.versions())
        # declared, it runs
        with open(os.path.join(d, "2_backfill.sql"), "w") as f:
            f.write("-- migrator:allow-dml\n" + body)
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"^migrator: notice: migration 2 at .*2_backfill\.sql:\d+: backfilling; slowly$")
        self.assertEqual([1, 2], self.versions())

    def test_warnings_are_shown_and_do_not_block(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int, a int);\n",
                           "2_drop.sql": "ALTER TABLE t DROP COLUMN a;\n"})
        self.assertExit(self.run_migrator("up", "--dir", d, "--target", "1"), 0)
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"^migrator: warning: .*2_drop.sql:1:1: drop-column: ")
        self.assertFalse(self.column_exists("t", "a"))
        self.assertEqual([1, 2], self.versions())

    def test_strict_makes_warnings_block(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int, a int);\n",
                           "2_drop.sql": "ALTER TABLE t DROP COLUMN a;\n"})
        self.assertExit(self.run_migrator("up", "--dir", d, "--target", "1"), 0)
        r = self.run_migrator("up", "--dir", d, "--strict")
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"2_drop.sql:1:1: drop-column: ")
        self.assertTrue(self.column_exists("t", "a"))
        self.assertEqual([1], self.versions())

    def test_applied_file_with_a_finding_does_not_block(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n"})
        # adopted, never run by us: its DML is history
        self.assertExit(self.run_migrator("baseline", "--version", "1", "--dir", d), 0)
        with open(os.path.join(d, "2_u.sql"), "w") as f:
            f.write("CREATE TABLE u (id int);\n")
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"\bdml\b")
        self.assertTrue(self.table_exists("u"))
        self.assertEqual([1, 2], self.versions())
        # lint still reports it: it reads every file
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 2)
        self.assertIn("1_t.sql:2:1: error dml:", r.stdout)

    def test_create_index_in_a_migration_is_refused(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int);\n",
                           "2_i.sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);\n"})
        self.assertExit(self.run_migrator("up", "--dir", d, "--target", "1"), 0)
        r = self.run_migrator("plan", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"2_i.sql:1:1: create-index: ")
        self.assertEqual("", r.stdout)
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 2)
        self.assertEqual(0, self.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 't_id'"))
        self.assertEqual([1], self.versions())


class RequiresIndexTest(LintTestCase):
    """-- migrator:requires-index NAME builds the indexer's definition first."""

    CONFIG = """indexes = (
  { name = "t_email_key"; table = "t"; critical = true;
    sql = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_email_key ON t (email)"; }
);
"""
    MIGRATION = ("-- migrator:requires-index t_email_key\n"
                 "ALTER TABLE t ADD CONSTRAINT t_email_key UNIQUE USING INDEX t_email_key;\n")

    def setUp(self):
        super().setUp()
        self.d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int, email text);\n"})
        self.assertExit(self.run_migrator("up", "--dir", self.d), 0)
        self.cfg = os.path.join(self.make_dir({"indexes.cfg": self.CONFIG}), "indexes.cfg")

    def add(self, text):
        with open(os.path.join(self.d, "2_unique_email.sql"), "w") as f:
            f.write(text)

    def test_index_is_built_then_the_migration_runs(self):
        self.query("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        self.add(self.MIGRATION)
        r = self.run_migrator("up", "--dir", self.d, "--index-config", self.cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'building required index "t_email_key" on "public.t" concurrently')
        self.assertEqual([(True, True)], self.query(
            "SELECT i.indisvalid, i.indisready FROM pg_index i WHERE i.indexrelid = 't_email_key'::regclass"))
        self.assertEqual("u", self.scalar("SELECT contype FROM pg_constraint WHERE conname = 't_email_key'"))
        self.assertEqual([1, 2], self.versions())

    def test_unknown_definition_applies_nothing(self):
        self.add(self.MIGRATION.replace("requires-index t_email_key", "requires-index nope"))
        r = self.run_migrator("up", "--dir", self.d, "--index-config", self.cfg)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'2_unique_email.sql:1: requires-index "nope": no definition of that name in "%s"'
                                 % re.escape(self.cfg))
        self.assertEqual(0, self.scalar("SELECT count(*) FROM pg_class WHERE relname = 't_email_key'"))
        self.assertEqual([1], self.versions())

    def test_failed_build_fails_the_migration(self):
        self.query("INSERT INTO t VALUES (1, 'dup'), (2, 'dup')")
        self.add(self.MIGRATION)
        r = self.run_migrator("up", "--dir", self.d, "--index-config", self.cfg)
        self.assertExit(r, 1)
        self.assertLastLineMatches(
            r, r'migration 2 failed at .*2_unique_email.sql:1: required index "t_email_key" could not be built: .*23505')
        self.assertNoLine(r, r"applied 1 migration")
        # nothing recorded, no constraint, and no invalid leftover blocking writes
        self.assertEqual([1], self.versions())
        self.assertEqual(0, self.scalar("SELECT count(*) FROM pg_constraint WHERE conname = 't_email_key'"))
        self.assertEqual(0, self.scalar("SELECT count(*) FROM pg_class WHERE relname = 't_email_key'"))


class UnexcusableTest(LintTestCase):
    """Statements that would break the run itself are refused, whatever the file says."""

    def test_copy_from_stdin_is_refused_even_with_allow_dml(self):
        d = self.make_dir({"1_t.sql": "-- migrator:allow-dml\nCREATE TABLE t (a int);\n"
                                      "-- migrator:allow copy-stdio\nCOPY t FROM STDIN;\n"})
        r = self.run_migrator("up", "--dir", d, timeout=60)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"1_t.sql:4:1: copy-stdio: COPY FROM STDIN needs data from the client")
        self.assertFalse(self.table_exists("t"))
        self.assertIsNone(self.versions())

    def test_rollback_inside_a_migration_is_refused_even_when_allowed(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE r_one (a int);\n"
                                      "-- migrator:allow transaction-control\nROLLBACK;\n"
                                      "CREATE TABLE r_two (a int);\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"1_t.sql:3:1: transaction-control: ")
        self.assertNoLine(r, r"applied 1 migration")
        self.assertFalse(self.table_exists("r_one"))
        self.assertFalse(self.table_exists("r_two"))
        self.assertIsNone(self.versions())
