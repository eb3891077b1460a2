"""
test_index_record_settings.py
    The indexer's history options (--record-schema, --create-schema,
    --no-record, --keep, --backoff-after, --retry-failed) as settings: from
    the definitions file's settings group and from INDEXER_* variables, with
    the precedence of every other setting (command line > environment >
    file > default); bad values named with file, line and field (or the
    variable, or the option), exit 2, database untouched.  And `indexer
    plan` showing the failure backoff (text and JSON), read from the history
    table without writing it.  The clock is moved with libfaketime.

tests/integration/test_index_record_settings.py
"""

import datetime
import json
import os
import re

from test_index_history import HistoryTestCase, at, definition
from toolkit_test import _DEFAULT

ERROR = r"indexer: error: "


class SettingsTestCase(HistoryTestCase):

    def config(self, defs, settings=""):
        text = "indexes = (\n%s\n);\n" % ",\n".join(defs)
        if settings:
            text += "settings = {\n%s\n};\n" % settings
        d = self.make_dir({"indexes.cfg": text})
        return os.path.join(d, "indexes.cfg")

    def run_at_env(self, when, env, *args):
        argv = self._argv("INDEXER", args, _DEFAULT)
        e = self.clock_at(when)
        e.update(env)
        return self.run_program(argv, env=e)

    def schema_exists(self, name):
        return self.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (name,)) == 1

    def history_in(self, schema):
        return self.table_exists("indexer_history", schema)

    def failed_rows(self):
        return self.scalar("SELECT count(*) FROM public.indexer_history WHERE action = 'failed'")


class FromFileAndEnvironmentTest(SettingsTestCase):

    def test_record_schema_and_create_schema_from_the_file(self):
        cfg = self.config([definition("idx_h_a", "h", "a")],
                          '  record_schema = "ops";\n  create_schema = true;')
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertTrue(self.schema_exists("ops"))
        self.assertEqual([x[2] for x in self.rows("ops")], ["built"])
        self.assertFalse(self.history_in("public"))
        # history reads the file's schema too
        h = self.run_indexer("history", "-c", cfg)
        self.assertExit(h, 0)
        self.assertRegex(h.stdout, r"idx_h_a +public\.h +built")

    def test_record_schema_from_the_file_without_create_schema_must_exist(self):
        cfg = self.config([definition("idx_h_a", "h", "a")], '  record_schema = "ops";')
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'schema "ops" of the history table does not exist')
        self.assertFalse(self.schema_exists("ops"))
        self.assertIsNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))

    def test_record_schema_and_create_schema_from_the_environment(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("build", "-c", cfg,
                             env={"INDEXER_RECORD_SCHEMA": "ops_env", "INDEXER_CREATE_SCHEMA": "true"})
        self.assertExit(r, 0)
        self.assertEqual([x[2] for x in self.rows("ops_env")], ["built"])
        self.assertFalse(self.history_in("public"))
        h = self.run_indexer("history", "-c", cfg, env={"INDEXER_RECORD_SCHEMA": "ops_env"})
        self.assertRegex(h.stdout, r"idx_h_a +public\.h +built")

    def test_no_record_from_the_file_and_from_the_environment(self):
        cfg = self.config([definition("idx_h_a", "h", "a")], "  no_record = true;")
        self.assertExit(self.run_indexer("build", "-c", cfg), 0)
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))
        self.assertFalse(self.history_in("public"))
        self.query("DROP INDEX idx_h_a")
        cfg = self.config([definition("idx_h_a", "h", "a")])
        self.assertExit(self.run_indexer("build", "-c", cfg, env={"INDEXER_NO_RECORD": "yes"}), 0)
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))
        self.assertFalse(self.history_in("public"))

    def test_keep_from_the_file_and_the_environment(self):
        cfg = self.config([definition("idx_h_a", "h", "a"), definition("idx_h_id", "h", "id")],
                          '  keep = "400d";')
        # a row 100 days old: the default (90 days) would delete it, 400d keeps it
        self.assertExit(self.run_at(at(days=-100), "build", "-c", cfg, "--only", "idx_h_a"), 0)
        self.assertExit(self.run_indexer("build", "-c", cfg, "--only", "idx_h_id"), 0)
        self.assertEqual([x[0] for x in self.rows()], ["idx_h_a", "idx_h_id"])
        # the environment wins over the file: 30d deletes it (with the run's first write: a
        # no-op run writes nothing, so this run must build something)
        self.query("DROP INDEX idx_h_id")
        self.assertExit(self.run_indexer("build", "-c", cfg, env={"INDEXER_KEEP": "30d"}), 0)
        self.assertEqual([x[0] for x in self.rows()], ["idx_h_id", "idx_h_id"])

    def test_backoff_after_and_retry_failed_from_the_file_and_the_environment(self):
        dup = definition("idx_h_dup", "h", "dup", unique=True)
        cfg = self.config([dup], "  backoff_after = 2;")
        for i in range(2):
            self.assertExit(self.run_at(at(hours=i * 0.01), "build", "-c", cfg), 0)
        self.assertEqual(self.failed_rows(), 2)
        # the file's 2 (the default is 3): the third run backs off
        r = self.run_at(at(hours=0.05), "build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"not tried: it is backing off until .* \(failed 2 runs in a row")
        self.assertEqual(self.failed_rows(), 2)
        # INDEXER_RETRY_FAILED forces it
        r = self.run_at_env(at(hours=0.06), {"INDEXER_RETRY_FAILED": "true"}, "build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"backing off")
        self.assertEqual(self.failed_rows(), 3)
        # INDEXER_BACKOFF_AFTER=0 (never) wins over the file
        r = self.run_at_env(at(hours=0.07), {"INDEXER_BACKOFF_AFTER": "0"}, "build", "-c", cfg)
        self.assertEqual(self.failed_rows(), 4)
        # retry_failed in the file
        cfg = self.config([dup], "  backoff_after = 2;\n  retry_failed = true;")
        self.assertExit(self.run_at(at(hours=0.08), "build", "-c", cfg), 0)
        self.assertEqual(self.failed_rows(), 5)


class PrecedenceTest(SettingsTestCase):

    def test_command_line_over_environment_over_file(self):
        cfg = self.config([definition("idx_h_a", "h", "a")],
                          '  record_schema = "s_file";\n  create_schema = true;')
        env = {"INDEXER_RECORD_SCHEMA": "s_env"}
        self.assertExit(self.run_indexer("build", "-c", cfg, "--record-schema", "s_cli", env=env), 0)
        self.assertTrue(self.history_in("s_cli"))
        self.assertFalse(self.schema_exists("s_env"))
        self.assertFalse(self.schema_exists("s_file"))
        self.assertExit(self.run_indexer("build", "-c", cfg, env=env), 0)
        self.assertTrue(self.history_in("s_env"))
        self.assertFalse(self.schema_exists("s_file"))
        self.assertExit(self.run_indexer("build", "-c", cfg), 0)
        self.assertTrue(self.history_in("s_file"))

    def test_a_flag_in_the_environment_turns_off_the_files(self):
        cfg = self.config([definition("idx_h_a", "h", "a")], "  no_record = true;")
        self.assertExit(self.run_indexer("build", "-c", cfg, env={"INDEXER_NO_RECORD": "false"}), 0)
        self.assertEqual([x[2] for x in self.rows()], ["built"])
        # and --no-record on the command line wins over INDEXER_NO_RECORD=false
        self.query("DROP TABLE indexer_history")
        self.query("DROP INDEX idx_h_a")
        self.assertExit(self.run_indexer("build", "-c", cfg, "--no-record",
                                         env={"INDEXER_NO_RECORD": "false"}), 0)
        self.assertFalse(self.history_in("public"))

    def test_create_schema_from_the_environment_for_the_files_schema(self):
        cfg = self.config([definition("idx_h_a", "h", "a")], '  record_schema = "ops";')
        self.assertExit(self.run_indexer("build", "-c", cfg, env={"INDEXER_CREATE_SCHEMA": "1"}), 0)
        self.assertEqual([x[2] for x in self.rows("ops")], ["built"])


class BadValueTest(SettingsTestCase):

    def assertUntouched(self):
        self.assertFalse(self.history_in("public"))
        self.assertIsNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'bad%%'"), 0)

    def test_bad_values_in_the_file_name_file_line_and_field(self):
        cases = [
            ('backoff_after = "3";', r'field "backoff_after" must be an integer, not a string'),
            ("backoff_after = 5000;", r'field "backoff_after": 5000 is out of range \(0 to 1000\)'),
            ("backoff_after = -1;", r'field "backoff_after": -1 is out of range'),
            ('keep = "3 weeks";', r'field "keep": invalid duration "3 weeks"'),
            ('keep = "40000d";', r'field "keep": 40000 is out of range'),
            ("keep = 30;", r'field "keep" must be a string, not an integer'),
            ('no_record = "yes";', r'field "no_record" must be a boolean \(true or false\), not a string'),
            ("create_schema = 1;", r'field "create_schema" must be a boolean'),
            ("retry_failed = 0;", r'field "retry_failed" must be a boolean'),
            ('record_schema = "";', r'field "record_schema": empty schema name'),
            ('record_schema = "%s";' % ("b" * 64), r'field "record_schema": schema name "b+" is longer than 63'),
            ("record_schema = true;", r'field "record_schema" must be a string'),
        ]
        for line, message in cases:
            with self.subTest(line=line):
                cfg = self.config([definition("idx_h_a", "h", "a")], "  retries = 3;\n  " + line)
                with open(cfg) as f:
                    lineno = f.read().splitlines().index("  " + line) + 1
                r = self.run_indexer("build", "-c", cfg)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, ERROR + re.escape(cfg) + r":%d: settings: %s" % (lineno, message))
                self.assertEqual(len([x for x in r.stderr.splitlines() if "error" in x]), 1, r.describe())
                self.assertUntouched()

    def test_bad_values_in_the_environment(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        cases = [
            ("INDEXER_KEEP", "forever", r'invalid duration "forever"'),
            ("INDEXER_BACKOFF_AFTER", "three", r'invalid number "three"'),
            ("INDEXER_BACKOFF_AFTER", "1001", r"1001 is out of range \(0 to 1000\)"),
            ("INDEXER_NO_RECORD", "maybe", r'invalid value "maybe" \(use true or false\)'),
            ("INDEXER_CREATE_SCHEMA", "2", r'invalid value "2"'),
            ("INDEXER_RETRY_FAILED", "sometimes", r'invalid value "sometimes"'),
            ("INDEXER_RECORD_SCHEMA", "b" * 64, r'schema name "b+" is longer than 63 bytes'),
        ]
        for var, value, message in cases:
            with self.subTest(var=var, value=value):
                r = self.run_indexer("build", "-c", cfg, env={var: value})
                self.assertExit(r, 2)
                self.assertStderrMatches(r, ERROR + r"environment %s: %s" % (var, message))
                self.assertUntouched()

    def test_bad_values_on_the_command_line(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        for args, message in ((["--keep", "forever"], r'option --keep: invalid duration "forever"'),
                              (["--backoff-after", "x"], r'option --backoff-after: invalid number "x"'),
                              (["--record-schema", ""], r"option --record-schema: empty schema name")):
            with self.subTest(args=args):
                r = self.run_indexer("build", "-c", cfg, *args)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, ERROR + message)
                self.assertUntouched()

    def test_unknown_setting_names_the_history_settings(self):
        cfg = self.config([definition("idx_h_a", "h", "a")], "  keep_days = 3;")
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'unknown setting "keep_days" \(known: .*record_schema, create_schema, '
                                    r'no_record, keep, backoff_after, retry_failed[,)]')
        self.assertUntouched()


class PlanBackoffTest(SettingsTestCase):

    def fail_runs(self, cfg, n, critical=False):
        for i in range(n):
            self.assertExit(self.run_at(at(hours=i * 0.01), "build", "-c", cfg), 1 if critical else 0)
        self.assertEqual(self.failed_rows(), n)

    def expected_until(self, hours=1):
        last = self.scalar("SELECT max(finished_at) FROM public.indexer_history WHERE action = 'failed'")
        return last + datetime.timedelta(hours=hours)

    def test_plan_lists_a_definition_that_backs_off(self):
        cfg = self.config([definition("idx_h_dup", "h", "dup", unique=True), definition("idx_h_a", "h", "a")])
        self.fail_runs(self.config([definition("idx_h_dup", "h", "dup", unique=True)]), 3)
        rows = self.scalar("SELECT count(*) FROM public.indexer_history")
        until = self.expected_until()
        r = self.run_at(at(hours=0.1), "plan", "-c", cfg)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^build +idx_h_dup on public\.h.*; deferred: it is backing off until "
                                   r"%s UTC \(failed 3 runs in a row; --retry-failed forces it\)$"
                         % until.strftime("%a %Y-%m-%d %H:%M"))
        self.assertRegex(r.stdout, r"(?m)^build +idx_h_a on public\.h: missing \(estimated [^;]*\)$")
        # plan writes nothing
        self.assertEqual(self.scalar("SELECT count(*) FROM public.indexer_history"), rows)
        # JSON: the same, and the time and the count as data
        r = self.run_at(at(hours=0.1), "plan", "-c", cfg, "--log-format", "json")
        self.assertExit(r, 0)
        items = {x["name"]: x for x in map(json.loads, r.stdout.splitlines())}
        dup = items["idx_h_dup"]
        self.assertRegex(dup["deferred"], r"^is backing off until .* \(failed 3 runs in a row; "
                                          r"--retry-failed forces it\)$")
        got = datetime.datetime.strptime(dup["backing_off_until"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        self.assertLessEqual(abs((got - until).total_seconds()), 1.0)
        self.assertEqual(dup["failed_runs"], 3)
        self.assertIsNone(items["idx_h_a"]["backing_off_until"])
        self.assertIsNone(items["idx_h_a"]["deferred"])
        # as build decides it: --retry-failed, --backoff-after 4 and --no-record show no backoff
        for args in (["--retry-failed"], ["--backoff-after", "4"], ["--no-record"]):
            r = self.run_at(at(hours=0.1), "plan", "-c", cfg, *args)
            self.assertExit(r, 0)
            self.assertNotIn("backing off", r.stdout, args)
        # the time zone of the windows
        r = self.run_at(at(hours=0.1), "plan", "-c", cfg, "--time-zone", "Asia/Tokyo")
        self.assertIn("backing off until %s JST" % (until + datetime.timedelta(hours=9)).strftime(
            "%a %Y-%m-%d %H:%M"), r.stdout)
        # after the hour it is due again
        r = self.run_at(at(hours=1.2), "plan", "-c", cfg)
        self.assertNotIn("backing off", r.stdout)

    def test_plan_exits_1_when_a_critical_definition_backs_off(self):
        cfg = self.config([definition("idx_h_dup", "h", "dup", critical=True, unique=True)],
                          "  backoff_after = 2;")
        self.fail_runs(cfg, 2, critical=True)
        r = self.run_at(at(hours=0.1), "plan", "-c", cfg)
        self.assertExit(r, 1)
        self.assertRegex(r.stdout, r"idx_h_dup on public\.h \(critical\).*backing off until")
        self.assertStderrMatches(r, r"plan: 1 critical index is backing off after repeated failures: "
                                    r"build would exit 1")
        self.assertNoLine(r, r"not tried")
        # build agrees
        self.assertExit(self.run_at(at(hours=0.1), "build", "-c", cfg), 1)
        self.assertEqual(self.failed_rows(), 2)

    def test_plan_creates_no_history_table(self):
        cfg = self.config([definition("idx_h_a", "h", "a")], '  record_schema = "ops";\n  create_schema = true;')
        r = self.run_indexer("plan", "-c", cfg)
        self.assertExit(r, 0)
        self.assertFalse(self.schema_exists("ops"))
        self.assertFalse(self.history_in("public"))

    def test_plan_refuses_a_history_table_it_cannot_trust(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        self.query("CREATE TABLE public.indexer_history (id int, definition text, action text, "
                   "started_at timestamptz, finished_at timestamptz)")
        self.query("ALTER TABLE public.indexer_history ENABLE ROW LEVEL SECURITY")
        r = self.run_indexer("plan", "-c", cfg)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"indexer_history")

    def _admin_drop_role(self, role):
        with self._admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.ident(self.dbname))
            cur.execute("DROP ROLE IF EXISTS %s" % role)

    def test_plan_by_a_role_that_may_not_read_the_history(self):
        """A monitoring role's plan: no SELECT on the history, so no backoff shown, but the plan works."""
        cfg = self.config([definition("idx_h_dup", "h", "dup", unique=True)])
        self.fail_runs(cfg, 3)
        role = "plan_%s" % self.dbname[2:]
        self.query("DROP ROLE IF EXISTS %s" % role)
        self.query("CREATE ROLE %s LOGIN" % role)
        self.addCleanup(self._admin_drop_role, role)
        self.query("GRANT SELECT ON h TO %s" % role)
        dsn = "host=%s port=%d dbname=%s user=%s" % (self.host, self.port, self.dbname, role)
        r = self.run_indexer("plan", "-c", cfg, dsn=dsn)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'warning: the history table "public\.indexer_history" is not readable by '
                                    r'this role: the failure backoff is not shown')
        self.assertRegex(r.stdout, r"(?m)^build +idx_h_dup on public\.h")
        self.assertNotIn("backing off", r.stdout)
        # once it may read it, it sees the backoff
        self.query("GRANT SELECT ON public.indexer_history TO %s" % role)
        r = self.run_indexer("plan", "-c", cfg, dsn=dsn)
        self.assertIn("backing off until", r.stdout)
