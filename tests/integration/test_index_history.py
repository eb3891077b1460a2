"""
test_index_history.py
    The indexer's record of every action (issue 15): the history table
    (created on first use under the run lock, in an existing schema, refused
    when armed or foreign), --no-record, started/outcome rows (interrupted
    builds show), failure rows with the SQLSTATE, `indexer history` with
    --since, --only and JSON, retention (--keep), one row a run for
    deferrals, and the failure backoff (--backoff-after, --retry-failed).
    The clock is moved with libfaketime (Debian's faketime), never with a
    hook in the binary.

tests/integration/test_index_history.py
"""

import datetime
import json
import os
import signal
import time

import psycopg2

from toolkit_test import ToolkitTestCase, _DEFAULT

COLS = "definition, table_name, action, sqlstate, message, index_bytes, duration_ms, host, application_name"


def definition(name, table, column, critical=False, unique=False):
    return ('  { name = "%s"; table = "%s"; critical = %s;\n'
            '    sql = "CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)"; }'
            % (name, table, "true" if critical else "false", "UNIQUE " if unique else "", name, table, column))


def at(hours=0.0, days=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours, days=days)
    return t.strftime("%Y-%m-%d %H:%M:%S")


class HistoryTestCase(ToolkitTestCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE h (id int, a int, dup int)")
        self.query("INSERT INTO h SELECT g, g, 1 FROM generate_series(1, 1000) g")

    def config(self, defs):
        d = self.make_dir({"indexes.cfg": "indexes = (\n%s\n);\n" % ",\n".join(defs)})
        return os.path.join(d, "indexes.cfg")

    def run_at(self, when, *args):
        return self.run_program(self._argv("INDEXER", args, _DEFAULT), env=self.clock_at(when))

    def rows(self, schema="public"):
        return self.query("SELECT %s FROM %s.indexer_history ORDER BY id" % (COLS, schema))

    def start_blocked_build(self, cfg):
        blocker = psycopg2.connect(self.dsn)
        self.addCleanup(blocker.close)
        with blocker.cursor() as cur:
            cur.execute("UPDATE h SET a = a WHERE id = 1")
        proc = self.start_indexer("build", "-c", cfg)
        deadline = time.monotonic() + 60
        while self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND query LIKE '%%CREATE INDEX CONCURRENTLY%%' AND wait_event = 'virtualxid'") != 1:
            self.assertLess(time.monotonic(), deadline, "the build never waited")
            time.sleep(0.05)
        self.assertEqual([x[2] for x in self.rows()], ["started"])
        return proc, blocker


class RecordTest(HistoryTestCase):

    def test_first_use_creates_the_table_and_records_the_build(self):
        self.assertFalse(self.table_exists("indexer_history"))
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("indexer_history"))
        rows = self.rows()
        self.assertEqual(len(rows), 1)
        name, table, action, sqlstate, message, size, dur, host, app = rows[0]
        self.assertEqual((name, table, action, sqlstate, message), ("idx_h_a", "public.h", "built", None, None))
        self.assertEqual(size, self.scalar("SELECT pg_relation_size('idx_h_a')"))
        self.assertGreater(size, 0)
        self.assertGreaterEqual(dur, 0)
        self.assertTrue(host)
        self.assertEqual(app, "indexer")
        self.assertEqual(self.scalar("SELECT pg_get_userbyid(relowner) FROM pg_class "
                                     "WHERE relname = 'indexer_history'"), self.superuser)
        # a run with nothing to do writes no row
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertEqual(len(self.rows()), 1)
        h = self.run_indexer("history", "-c", cfg)
        self.assertExit(h, 0)
        self.assertRegex(h.stdout, r"(?m)^started +definition +table +action +duration_ms +index_bytes")
        self.assertRegex(h.stdout, r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +idx_h_a +public\.h +built +\d+ +%d " % size)
        self.assertIn("(1 row)", h.stdout)

    def test_no_record_leaves_the_database_untouched(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("build", "-c", cfg, "--no-record")
        self.assertExit(r, 0)
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))
        self.assertFalse(self.table_exists("indexer_history"))
        h = self.run_indexer("history", "-c", cfg)
        self.assertExit(h, 0)
        self.assertStderrMatches(h, r'no history table "public\.indexer_history" yet')
        self.assertFalse(self.table_exists("indexer_history"))

    def test_record_schema_must_exist_unless_create_schema(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "ops")
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'schema "ops" of the history table does not exist: create it, pass '
                                    r'--create-schema')
        self.assertIsNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'ops'"), 0)
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "ops", "--create-schema")
        self.assertExit(r, 0)
        self.assertEqual([x[2] for x in self.rows("ops")], ["built"])
        self.assertFalse(self.table_exists("indexer_history"))
        h = self.run_indexer("history", "-c", cfg, "--record-schema", "ops")
        self.assertIn("idx_h_a", h.stdout)

    def test_a_planted_trigger_is_refused(self):
        self.query("CREATE TABLE public.indexer_history (id int)")
        self.query("CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$")
        self.query("CREATE TRIGGER t BEFORE INSERT ON public.indexer_history FOR EACH ROW EXECUTE FUNCTION f()")
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"indexer_history.*trigger")
        self.assertIsNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))
        h = self.run_indexer("history", "-c", cfg)
        self.assertExit(h, 2)

    def test_a_table_of_another_role_is_refused(self):
        self.query("DROP ROLE IF EXISTS hist_other")
        self.addCleanup(self._admin_query, "DROP ROLE IF EXISTS hist_other")
        self.query("CREATE ROLE hist_other")
        self.query("CREATE TABLE public.indexer_history (id int)")
        self.query("ALTER TABLE public.indexer_history OWNER TO hist_other")
        self.addCleanup(self.query, "DROP TABLE public.indexer_history")
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"indexer_history.*(owned|owner).*hist_other")
        self.assertIsNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))

    def _admin_query(self, sql):
        with self._admin.cursor() as cur:
            cur.execute(sql)

    def test_a_failure_is_recorded_with_its_sqlstate(self):
        cfg = self.config([definition("idx_h_dup", "h", "dup", unique=True)])
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 0)
        rows = self.rows()
        self.assertEqual(len(rows), 1)
        name, _, action, sqlstate, message, size, _, _, _ = rows[0]
        self.assertEqual((name, action, sqlstate, size), ("idx_h_dup", "failed", "23505", None))
        self.assertIn("could not create unique index", message)
        h = self.run_indexer("history", "-c", cfg, "--log-format", "json")
        self.assertExit(h, 0)
        objs = [json.loads(line) for line in h.stdout.splitlines()]
        self.assertEqual(len(objs), 1)
        self.assertEqual((objs[0]["definition"], objs[0]["action"], objs[0]["sqlstate"]),
                         ("idx_h_dup", "failed", "23505"))
        self.assertIsNone(objs[0]["index_bytes"])
        self.assertIsInstance(objs[0]["duration_ms"], int)

    def test_since_and_only(self):
        cfg = self.config([definition("idx_h_a", "h", "a"), definition("idx_h_id", "h", "id")])
        self.assertExit(self.run_at(at(days=-3), "build", "-c", cfg, "--only", "idx_h_a"), 0)
        self.assertExit(self.run_indexer("build", "-c", cfg), 0)
        h = self.run_indexer("history", "-c", cfg)
        self.assertIn("(2 rows)", h.stdout)
        h = self.run_indexer("history", "-c", cfg, "--since", "1d")
        self.assertIn("(1 row)", h.stdout)
        self.assertIn("idx_h_id", h.stdout)
        self.assertNotIn("idx_h_a", h.stdout)
        h = self.run_indexer("history", "-c", cfg, "--only", "idx_h_a", "--log-format", "json")
        self.assertEqual([json.loads(x)["definition"] for x in h.stdout.splitlines()], ["idx_h_a"])
        # a name the file no longer defines can still be asked about
        h = self.run_indexer("history", "-c", cfg, "--only", "idx_gone")
        self.assertExit(h, 0)
        self.assertIn("(0 rows)", h.stdout)
        h = self.run_indexer("history", "-c", cfg, "--since", "5")
        self.assertExit(h, 2)

    def test_retention_deletes_old_rows(self):
        cfg = self.config([definition("idx_h_a", "h", "a"), definition("idx_h_id", "h", "id")])
        self.assertExit(self.run_at(at(days=-100), "build", "-c", cfg, "--only", "idx_h_a"), 0)
        self.assertEqual(len(self.rows()), 1)
        self.query("DROP INDEX idx_h_a")
        # --keep 0 keeps everything
        self.assertExit(self.run_indexer("build", "-c", cfg, "--only", "idx_h_a", "--keep", "0"), 0)
        self.assertEqual(len(self.rows()), 2)
        # the default, 90 days, drops the 100-day-old row
        self.assertExit(self.run_indexer("build", "-c", cfg), 0)
        self.assertEqual([(x[0], x[2]) for x in self.rows()], [("idx_h_a", "built"), ("idx_h_id", "built")])
        self.assertExit(self.run_indexer("build", "-c", cfg, "--keep", "1h"), 0)
        self.assertEqual(len(self.rows()), 2)

    def test_deferrals_are_one_row_a_run_not_one_each_time(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        for _ in range(3):
            r = self.run_at("2026-12-01 12:00:00", "build", "-c", cfg, "--window", "Sat 01:00-05:00")
            self.assertExit(r, 0)
        rows = self.query("SELECT action, deferred, runs, definition FROM public.indexer_history")
        self.assertEqual(rows, [("deferred", 1, 3, None)])
        h = self.run_indexer("history", "-c", cfg)
        self.assertRegex(h.stdout, r"deferred +1 \(3 runs\)")


class InterruptTest(HistoryTestCase):

    def test_sigterm_during_a_build_is_recorded_interrupted(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        proc, blocker = self.start_blocked_build(cfg)
        proc.send_signal(signal.SIGTERM)
        r = self.finish(proc)
        self.assertExit(r, 143)
        blocker.rollback()
        rows = self.rows()
        self.assertEqual([(x[0], x[2]) for x in rows], [("idx_h_a", "interrupted")])

    def test_a_killed_run_reads_back_as_interrupted(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        proc, blocker = self.start_blocked_build(cfg)
        proc.send_signal(signal.SIGKILL)
        self.finish(proc)
        blocker.rollback()
        self.assertEqual([x[2] for x in self.rows()], ["started"])
        h = self.run_indexer("history", "-c", cfg, "--log-format", "json")
        self.assertEqual([json.loads(x)["action"] for x in h.stdout.splitlines()], ["interrupted"])


class BackoffTest(HistoryTestCase):

    def failed_rows(self):
        return self.scalar("SELECT count(*) FROM public.indexer_history WHERE action = 'failed'")

    def test_backoff_after_three_failures_doubling_and_retry_failed(self):
        cfg = self.config([definition("idx_h_dup", "h", "dup", unique=True), definition("idx_h_a", "h", "a")])
        for i in range(3):
            r = self.run_at(at(hours=i * 0.01), "build", "-c", cfg, "--only", "idx_h_dup")
            self.assertExit(r, 0)
        self.assertEqual(self.failed_rows(), 3)
        # the 4th run, minutes later: not tried, deferred, exit 0 (not critical)
        r = self.run_at(at(hours=0.1), "build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_h_dup" on "public.h" not tried: it is backing off until '
                                    r'\w{3} \d{4}-\d\d-\d\d \d\d:\d\d UTC \(failed 3 runs in a row; '
                                    r'--retry-failed forces it\)')
        self.assertStderrMatches(r, r"summary: 1 built,.* 1 deferred")
        self.assertEqual(self.failed_rows(), 3)
        # an hour later it is tried again (and fails a 4th time) ...
        self.assertExit(self.run_at(at(hours=1.1), "build", "-c", cfg), 0)
        self.assertEqual(self.failed_rows(), 4)
        # ... then waits two hours: not at +2.5h, yes at +3.2h
        r = self.run_at(at(hours=2.5), "build", "-c", cfg)
        self.assertStderrMatches(r, r"failed 4 runs in a row")
        self.assertEqual(self.failed_rows(), 4)
        self.assertExit(self.run_at(at(hours=3.2), "build", "-c", cfg), 0)
        self.assertEqual(self.failed_rows(), 5)
        # --retry-failed forces it at once
        r = self.run_at(at(hours=3.3), "build", "-c", cfg, "--retry-failed")
        self.assertExit(r, 0)
        self.assertEqual(self.failed_rows(), 6)
        # fixed data still waits out the backoff (8h after 6 failures) unless forced
        self.query("UPDATE h SET dup = id")
        r = self.run_at(at(hours=3.4), "build", "-c", cfg)
        self.assertStderrMatches(r, r"failed 6 runs in a row")
        self.assertIsNone(self.scalar("SELECT to_regclass('public.idx_h_dup')"))
        self.assertExit(self.run_at(at(hours=3.5), "build", "-c", cfg, "--retry-failed"), 0)
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_dup')"))
        self.assertEqual(self.failed_rows(), 6)
        # a success ends the streak: the next build of it is not held back
        self.query("DROP INDEX idx_h_dup")
        r = self.run_at(at(hours=3.6), "build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"backing off")
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_dup')"))

    def test_a_critical_definition_backs_off_with_exit_1(self):
        cfg = self.config([definition("idx_h_dup", "h", "dup", critical=True, unique=True)])
        for i in range(2):
            self.assertExit(self.run_at(at(hours=i * 0.01), "build", "-c", cfg), 1)
        r = self.run_at(at(hours=0.05), "build", "-c", cfg, "--backoff-after", "2")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r'critical index "idx_h_dup" on "public.h" not tried: it is backing off until '
                                    r'.* \(failed 2 runs in a row')
        self.assertStderrMatches(r, r"1 critical index is backing off after repeated failures")
        self.assertEqual(self.failed_rows(), 2)
        # --backoff-after 0: never
        self.assertExit(self.run_at(at(hours=0.06), "build", "-c", cfg, "--backoff-after", "0"), 1)
        self.assertEqual(self.failed_rows(), 3)


class UnderLockTest(HistoryTestCase):

    def test_nothing_is_created_without_the_run_lock(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        proc, blocker = self.start_blocked_build(cfg)
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "ops2", "--create-schema")
        self.assertExit(r, 4)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'ops2'"), 0)
        blocker.rollback()
        self.assertExit(self.finish(proc), 0)
        self.assertEqual([x[2] for x in self.rows()], ["built"])

    def test_a_record_that_cannot_be_written_is_said_and_exits_1(self):
        """The build succeeded, its outcome could not be recorded: stderr says so, exit 1, the index stays."""
        cfg = self.config([definition("idx_h_a", "h", "a")])
        proc, blocker = self.start_blocked_build(cfg)
        self.query("ALTER TABLE public.indexer_history ADD CONSTRAINT no_outcome CHECK (action = 'started') "
                   "NOT VALID")
        blocker.rollback()
        r = self.finish(proc)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r'could not write the history table "public\.indexer_history" \(recording a '
                                    r"build's outcome\): .*no_outcome")
        self.assertStderrMatches(r, r"the history table could not be written: exit 1 although the builds "
                                    r"succeeded")
        self.assertStderrMatches(r, r"summary: 1 built")
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))
        self.assertEqual([x[2] for x in self.rows()], ["started"])


class RoleTest(HistoryTestCase):

    def _admin_drop_role(self, role):
        with self._admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.ident(self.dbname))
            cur.execute("DROP ROLE IF EXISTS %s" % role)

    def test_a_role_that_may_not_create_in_the_record_schema_is_told_what_to_do(self):
        """Building an index needs CREATE on its table's schema; the history's schema may be another."""
        role = "hist_%s" % self.dbname[2:]
        self.query("DROP ROLE IF EXISTS %s" % role)
        self.query("CREATE ROLE %s LOGIN" % role)
        self.addCleanup(self._admin_drop_role, role)
        self.query("GRANT CREATE ON SCHEMA public TO %s" % role)
        self.query("ALTER TABLE h OWNER TO %s" % role)
        self.query("CREATE SCHEMA ops")
        self.query("GRANT USAGE ON SCHEMA ops TO %s" % role)
        dsn = "host=%s port=%d dbname=%s user=%s" % (self.host, self.port, self.dbname, role)
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "ops", dsn=dsn)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r'could not create the history table "ops\.indexer_history": .*permission '
                                    r'denied for schema ops.*; nothing built \(grant CREATE on the schema, '
                                    r'choose another with --record-schema, or pass --no-record\)')
        self.assertIsNone(self.scalar("SELECT to_regclass('public.idx_h_a')"))
        self.assertFalse(self.table_exists("indexer_history", schema="ops"))
        self.query("GRANT CREATE ON SCHEMA ops TO %s" % role)
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "ops", dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual([x[2] for x in self.rows("ops")], ["built"])
        self.assertEqual(self.scalar("SELECT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n "
                                     "ON n.oid = c.relnamespace WHERE relname = 'indexer_history' "
                                     "AND nspname = 'ops'"), role)
        h = self.run_indexer("history", "-c", cfg, "--record-schema", "ops", dsn=dsn)
        self.assertExit(h, 0)
        self.assertIn("idx_h_a", h.stdout)
