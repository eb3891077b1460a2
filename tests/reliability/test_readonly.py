"""
test_readonly.py
    A read-only target.

    - default_transaction_read_only = on for the database: only a default,
      which the programs must respect (never BEGIN READ WRITE around it):
      writing commands connect with target_session_attrs=read-write, so the
      session is refused at once (exit 3, "the server is read-only (a
      standby?)"); with target_session_attrs=any in the DSN the write is
      refused by the server (25006), exit 1; nothing recorded either way.
    - a hot standby started from a base backup (pg_basebackup -R) of a
      cluster of the class's own (one primary and one standby for all the
      tests, each test in a database of its own): commands that write
      connect with target_session_attrs=read-write unless the DSN (or
      PGTARGETSESSIONATTRS) says otherwise, so the standby is refused before
      anything is attempted: exit 3 with "the server is read-only (a
      standby?)", at once even with --wait; a multi-host DSN moves on past
      the standby to the primary; with target_session_attrs=any the server
      refuses the first write (25006, exit 1); reading commands (check,
      status, plan) work there.

tests/reliability/test_readonly.py
"""

import os
import re
import shutil
import tempfile
import unittest

import psycopg2

from reliability import DEADLINE, ERROR_INDEXER, ERROR_MIGRATOR, ReliabilityCase, harness
from toolkit_test import conninfo

READ_ONLY = r"the server is read-only \(a standby\?\)"
CONFIG = ('indexes = ( { name = "idx_r_a"; table = "r"; critical = true; '
          'sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_r_a ON r (a)"; } );\n')


class DefaultReadOnlyDatabase(ReliabilityCase):
    """Writing commands connect with target_session_attrs=read-write: libpq
    refuses the session at once (the server reports
    default_transaction_read_only at startup), exit 3.  With
    target_session_attrs=any in the DSN the server refuses the first write
    (25006, exit 1).  Either way nothing is written and the default is never
    overridden."""

    def any_dsn(self):
        return self.dsn + " target_session_attrs=any"

    def assertRefused(self, r, server_line, any_server=False):
        if any_server:
            self.assertExit(r, 1)
            self.assertStderrMatches(r, server_line)
            self.assertNoLine(r, READ_ONLY)
        else:
            self.assertExit(r, 3)
            self.assertLastLineMatches(r, READ_ONLY + ": default_transaction_read_only is on$")
            self.assertNoLine(r, r"25006")

    def set_read_only(self):
        self._admin.cursor().execute("ALTER DATABASE %s SET default_transaction_read_only = on"
                                     % self.ident(self.dbname))
        self.reset_query_conn()

    def test_migrator_respects_the_default(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        self.set_read_only()
        with open(os.path.join(d, "2_b.sql"), "w", encoding="utf-8") as f:
            f.write("CREATE TABLE b (id int);\n")
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, None)
        r = self.run_migrator("up", "--dir", d, dsn=self.any_dsn())
        self.assertRefused(r, ERROR_MIGRATOR + r"migration 2 failed at .*2_b\.sql:1: 25006: "
                           r"cannot execute CREATE TABLE in a read-only transaction$", any_server=True)
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations"), [(1, "applied")])
        self.assertFalse(self.table_exists("b"))
        # a reading command is not refused
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        self.assertNoLine(r, READ_ONLY)

    def test_migrator_creates_no_history_there(self):
        self.set_read_only()
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, None)
        r = self.run_migrator("up", "--dir", d, dsn=self.any_dsn())
        self.assertRefused(r, ERROR_MIGRATOR + r"creating the history table: 25006: ", any_server=True)
        self.assertFalse(self.table_exists("schema_migrations"))
        self.assertFalse(self.table_exists("a"))

    def test_indexer_respects_the_default(self):
        self.query("CREATE TABLE r (id int, a int)")
        self.set_read_only()
        d = self.make_dir({"indexes.cfg": CONFIG})
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"))
        self.assertRefused(r, None)
        # the first write is the history table's creation (issue 15) ...
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"), dsn=self.any_dsn())
        self.assertRefused(r, ERROR_INDEXER + r'could not create the history table "public\.indexer_history": '
                                 r"25006: cannot execute CREATE TABLE in a read-only transaction; nothing built$",
                           any_server=True)
        self.assertFalse(self.table_exists("indexer_history"))
        # ... and without it, the build
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"), "--no-record", dsn=self.any_dsn())
        self.assertRefused(r, ERROR_INDEXER + r'critical index "idx_r_a" on "public.r" failed: 25006: '
                                 r"cannot execute CREATE INDEX in a read-only transaction", any_server=True)
        self.assertEqual(self.query("SELECT count(*) FROM pg_class WHERE relname = 'idx_r_a'"), [(0,)])


class HotStandby(ReliabilityCase):
    """One primary of the class's own and one hot standby of it, shared by
    the tests (starting them is most of the time); each test has its own
    database, created on the primary and replayed by the standby, so that
    no test sees another's tables or indexes."""

    class_cluster = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cl = cls.cl
        with open(os.path.join(cl.datadir, "pg_hba.conf"), "a", encoding="utf-8") as f:
            f.write("local replication all trust\n")
        r = cl.pg_ctl("reload")
        if r.returncode != 0:
            raise RuntimeError("pg_ctl reload failed: %s" % r.stdout)
        cls.standby_port = harness.free_port()
        cls.standby_dir = tempfile.mkdtemp(prefix="tkstandby.", dir="/tmp")
        cls.addClassCleanup(shutil.rmtree, cls.standby_dir, True)
        cl.runas.chown(cls.standby_dir)
        os.chmod(cls.standby_dir, 0o700)
        data = os.path.join(cls.standby_dir, "data")
        # Registered before the server can exist: a start that fails half-way
        # (a timeout with the postmaster up) still gets it stopped; it runs
        # before the primary's stop and the directory's removal (LIFO).
        cls.addClassCleanup(harness.stop_server, cl.runas, cl.bindir, data)
        r = cl.runas.run([os.path.join(cl.bindir, "pg_basebackup"), "-D", data, "-R", "-c", "fast",
                          "-X", "stream", "-h", cl.host, "-p", str(cl.port), "-U", cls.superuser],
                         capture_output=True, text=True, timeout=DEADLINE)
        if r.returncode != 0:
            raise RuntimeError("pg_basebackup failed: %s" % r.stderr)
        with open(os.path.join(data, "postgresql.conf"), "a", encoding="utf-8") as f:
            f.write("port = %d\nunix_socket_directories = '%s'\nhot_standby = on\n"
                    % (cls.standby_port, cls.standby_dir))
        log = os.path.join(cls.standby_dir, "standby.log")
        cl.runas.chown(cls.standby_dir)
        r = cl.runas.run([os.path.join(cl.bindir, "pg_ctl"), "start", "-D", data, "-l", log,
                          "-w", "-t", "120"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("the standby did not start: %s%s" % (r.stdout, r.stderr))

    def setUp(self):
        super().setUp()  # this test's database, on the primary
        self.query("CREATE TABLE r (id int, a int)")
        self.standby_dsn = conninfo(host=self.standby_dir, port=self.standby_port,
                                    dbname=self.dbname, user=self.superuser)
        self.wait_until(self.standby_has_r, "the standby to replay the test database and table")

    def standby_has_r(self):
        return self.standby_query("SELECT pg_is_in_recovery() AND to_regclass('public.r') IS NOT NULL")

    def test_migrator_up_is_refused_by_a_standby(self):
        """Writing commands connect with target_session_attrs=read-write."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d, dsn=self.standby_dsn)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_MIGRATOR + r"could not connect to .* for writing: " + READ_ONLY
                                   + r": in_hot_standby is on$")
        self.assertNoLine(r, r"25006|history table")
        self.assertFalse(self.table_exists("schema_migrations"))
        # the other writing commands too
        for args in (("repair",), ("baseline", "--version", "1")):
            r = self.run_migrator(*args, "--dir", d, dsn=self.standby_dsn)
            self.assertExit(r, 3)
            self.assertLastLineMatches(r, ERROR_MIGRATOR + r".*" + READ_ONLY)
        self.assertFalse(self.table_exists("schema_migrations"))

    def test_every_host_read_only_is_refused_without_waiting(self):
        """A multi-host DSN whose every host is read-only: each is named, and
        --wait does not wait (a standby may stay one for ever)."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        dsn = conninfo(host="%s,%s" % (self.standby_dir, self.standby_dir),
                       port="%d,%d" % (self.standby_port, self.standby_port),
                       dbname=self.dbname, user=self.superuser)
        r = self.run_migrator("up", "--dir", d, "--wait", "60s", dsn=dsn)
        self.assertExit(r, 3)
        host = re.escape("%s:%d: " % (self.standby_dir, self.standby_port))
        self.assertLastLineMatches(r, ERROR_MIGRATOR + r"could not connect to .* for writing: "
                                   + host + READ_ONLY + r": in_hot_standby is on; "
                                   + host + READ_ONLY + r": in_hot_standby is on$")
        self.assertNoLine(r, r"waiting for the server")
        self.assertFalse(self.table_exists("schema_migrations"))

    def test_a_multi_host_dsn_moves_on_past_the_standby(self):
        """Standby first, primary second: the writing commands land on the
        primary, as libpq's own target_session_attrs=read-write would."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n", "indexes.cfg": CONFIG})
        dsn = conninfo(host="%s,%s" % (self.standby_dir, self.cl.host),
                       port="%d,%d" % (self.standby_port, self.cl.port),
                       dbname=self.dbname, user=self.superuser)
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations"), [(1, "applied")])
        self.assertTrue(self.table_exists("a"))
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"), dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(self.query("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                                    "WHERE c.relname = 'idx_r_a' AND i.indisvalid"), [(1,)])

    def test_the_dsn_may_ask_for_any_server(self):
        """target_session_attrs=any in the DSN, or PGTARGETSESSIONATTRS=any,
        is the user's word: the standby's session is opened and the server
        refuses the first write (25006, exit 1); nothing is recorded."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n", "indexes.cfg": CONFIG})
        history = ERROR_MIGRATOR + (r"creating the history table: 25006: "
                                    r"cannot execute CREATE TABLE in a read-only transaction$")
        r = self.run_migrator("up", "--dir", d, dsn=self.standby_dsn + " target_session_attrs=any")
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, history)
        self.assertNoLine(r, READ_ONLY)
        r = self.run_migrator("up", "--dir", d, dsn=self.standby_dsn, env={"PGTARGETSESSIONATTRS": "any"})
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, history)
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"),
                             dsn=self.standby_dsn + " target_session_attrs=any")
        self.assertExit(r, 1)
        self.assertNoLine(r, READ_ONLY)
        self.assertNoLine(r, r"^indexer: built ")
        self.assertFalse(self.table_exists("schema_migrations"))
        self.assertEqual(self.query("SELECT count(*) FROM pg_class WHERE relname = 'idx_r_a'"), [(0,)])

    def test_migrator_up_on_a_standby_writes_nothing(self):
        """What holds already: whatever the message, nothing is written."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d, dsn=self.standby_dsn)
        self.assertIn(r.rc, (1, 3), r.describe())
        self.assertNoLine(r, r"applied \d+ migration")
        self.assertFalse(self.table_exists("schema_migrations"))
        self.assertFalse(self.table_exists("a"))

    def test_read_only_commands_work_on_a_standby(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        self.wait_until(lambda: self.standby_query("SELECT to_regclass('public.a') IS NOT NULL"),
                        "the standby to replay migration 1")
        r = self.run_migrator("check", "--dir", d, dsn=self.standby_dsn)
        self.assertExit(r, 0)
        self.assertExit(self.run_migrator("status", "--dir", d, dsn=self.standby_dsn), 0)
        self.assertExit(self.run_migrator("plan", "--dir", d, dsn=self.standby_dsn), 0)
        cfg = os.path.join(self.make_dir({"indexes.cfg": CONFIG}), "indexes.cfg")
        self.assertExit(self.run_indexer("build", "-c", cfg), 0)
        self.wait_until(lambda: self.standby_query("SELECT to_regclass('public.idx_r_a') IS NOT NULL"),
                        "the standby to replay the index")
        for command in ("check", "status", "plan"):
            r = self.run_indexer(command, "-c", cfg, dsn=self.standby_dsn)
            self.assertExit(r, 0)
            self.assertNoLine(r, READ_ONLY)

    def test_indexer_build_is_refused_by_a_standby(self):
        """As for the migrator."""
        d = self.make_dir({"indexes.cfg": CONFIG})
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"), dsn=self.standby_dsn)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_INDEXER + r".*" + READ_ONLY)
        self.assertNoLine(r, r"25006")

    def test_indexer_build_is_refused_by_a_standby_whatever_its_limits(self):
        """Windows, budgets and the size guard come after the connection: a standby is exit 3 first."""
        d = self.make_dir({"indexes.cfg": CONFIG})
        for limits in (("--window", "any"), ("--window", "Sat-Sun 01:00-05:00", "--window", "Mon-Fri 01:00-05:00"),
                       ("--max-builds", "1", "--max-runtime", "1h", "--max-index-size", "1MB")):
            r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"), *limits, dsn=self.standby_dsn)
            self.assertExit(r, 3)
            self.assertLastLineMatches(r, ERROR_INDEXER + r".*" + READ_ONLY)
            self.assertNoLine(r, r"waits for the window|deferred|size guard")

    def test_indexer_build_on_a_standby_builds_nothing(self):
        d = self.make_dir({"indexes.cfg": CONFIG})
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"), dsn=self.standby_dsn)
        self.assertIn(r.rc, (1, 3), r.describe())
        self.assertNoLine(r, r"^indexer: built ")
        self.assertEqual(self.query("SELECT count(*) FROM pg_class WHERE relname = 'idx_r_a'"), [(0,)])
        # The standby's gate says the index is missing, as it should.
        self.assertExit(self.run_indexer("check", "-c", os.path.join(d, "indexes.cfg"),
                                         dsn=self.standby_dsn), 5)

    def test_the_gate_compares_definitions_on_a_standby(self):
        """The readiness gate writes nothing (no temporary table: a standby refuses one) and
        compares normalised parse trees: on the standby a definition written differently from
        the server's spelling is in line, a drifted one is not (exit 5), and neither is
        "cannot compare"."""
        self.query("CREATE INDEX idx_r_a ON r USING btree (a) WHERE (id > 0)")
        self.query("CREATE INDEX idx_r_b ON r (id)")  # the file says (a, id): drifted
        cfg = os.path.join(self.make_dir({"indexes.cfg": (
            'indexes = (\n'
            '  { name = "idx_r_a"; table = "r"; critical = true;\n'
            '    sql = "create index concurrently if not exists idx_r_a on public.r (a) where id>0"; },\n'
            '  { name = "idx_r_b"; table = "r"; critical = true;\n'
            '    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_r_b ON r (a, id)"; }\n);\n')}),
            "indexes.cfg")
        self.wait_until(lambda: self.standby_query("SELECT to_regclass('public.idx_r_b') IS NOT NULL"),
                        "the standby to replay the indexes")
        only_a = ("--only", "idx_r_a")
        r = self.run_indexer("check", "-c", cfg, *only_a, dsn=self.standby_dsn)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"cannot compare|drift")
        r = self.run_indexer("check", "-c", cfg, dsn=self.standby_dsn)
        self.assertExit(r, 5)
        self.assertStderrMatches(r, r"idx_r_b")
        self.assertNoLine(r, r"cannot compare")
        r = self.run_indexer("status", "-c", cfg, dsn=self.standby_dsn)
        self.assertRegex(r.stdout, r"idx_r_b\s+public\.r\s+drifted")
        self.assertRegex(r.stdout, r"idx_r_a\s+public\.r\s+present")
        # nothing was written on the primary either: no temporary relation was ever made
        self.assertEqual(self.query("SELECT count(*) FROM pg_class WHERE relpersistence = 't'"), [(0,)])

    def standby_query(self, sql):
        try:
            c = psycopg2.connect(self.standby_dsn)
        except psycopg2.OperationalError:
            return False
        try:
            with c.cursor() as cur:
                cur.execute(sql)
                return cur.fetchone()[0]
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main()
