"""
test_readonly.py
    A read-only target.

    - default_transaction_read_only = on for the database: only a default,
      which the programs must respect (never BEGIN READ WRITE around it): the
      write is refused by the server (25006), exit 1, nothing recorded.
    - a hot standby started from a base backup (pg_basebackup -R) of a
      cluster of the test's own: commands that write connect with
      target_session_attrs=read-write unless the DSN says otherwise, so the
      standby is refused before anything is attempted: exit 3 with "the
      server is read-only (a standby?)"; read-only commands (check, status,
      plan) still work there.

tests/reliability/test_readonly.py
"""

import os
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
    """Today the server refuses the first write (25006, exit 1).  Once writing
    commands connect with target_session_attrs=read-write, libpq refuses the
    session at once ("session is read-only": the server reports
    default_transaction_read_only), exit 3.  Either way nothing is written
    and the default is never overridden."""

    def assertRefused(self, r, server_line):
        if r.rc == 3:
            self.assertLastLineMatches(r, READ_ONLY)
        else:
            self.assertExit(r, 1)
            self.assertStderrMatches(r, server_line)

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
        self.assertRefused(r, ERROR_MIGRATOR + r"migration 2 failed at .*2_b\.sql:1: 25006: "
                           r"cannot execute CREATE TABLE in a read-only transaction$")
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations"), [(1, "applied")])
        self.assertFalse(self.table_exists("b"))

    def test_migrator_creates_no_history_there(self):
        self.set_read_only()
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, ERROR_MIGRATOR + r"creating the history table: 25006: ")
        self.assertFalse(self.table_exists("schema_migrations"))
        self.assertFalse(self.table_exists("a"))

    def test_indexer_respects_the_default(self):
        self.query("CREATE TABLE r (id int, a int)")
        self.set_read_only()
        d = self.make_dir({"indexes.cfg": CONFIG})
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"))
        self.assertRefused(r, ERROR_INDEXER + r'critical index "idx_r_a" on "public.r" failed: 25006: '
                                 r"cannot execute CREATE INDEX in a read-only transaction")
        self.assertEqual(self.query("SELECT count(*) FROM pg_class WHERE relname = 'idx_r_a'"), [(0,)])


class HotStandby(ReliabilityCase):
    own_cluster = True

    def setUp(self):
        super().setUp()
        with open(os.path.join(self.cl.datadir, "pg_hba.conf"), "a", encoding="utf-8") as f:
            f.write("local replication all trust\n")
        self.assertEqual(self.cl.pg_ctl("reload").returncode, 0)
        self.query("CREATE TABLE r (id int, a int)")
        self.query("CHECKPOINT")
        self.standby_port = harness.free_port()
        self.standby_dir = tempfile.mkdtemp(prefix="tkstandby.", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.standby_dir, True)
        self.cl.runas.chown(self.standby_dir)
        os.chmod(self.standby_dir, 0o700)
        data = os.path.join(self.standby_dir, "data")
        r = self.cl.runas.run([os.path.join(self.cl.bindir, "pg_basebackup"), "-D", data, "-R",
                               "-X", "stream", "-h", self.cl.host, "-p", str(self.cl.port),
                               "-U", self.superuser], capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(data, "postgresql.conf"), "a", encoding="utf-8") as f:
            f.write("port = %d\nunix_socket_directories = '%s'\nhot_standby = on\n"
                    % (self.standby_port, self.standby_dir))
        log = os.path.join(self.standby_dir, "standby.log")
        self.cl.runas.chown(self.standby_dir)
        r = self.cl.runas.run([os.path.join(self.cl.bindir, "pg_ctl"), "start", "-D", data, "-l", log,
                               "-w", "-t", "120"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.addCleanup(harness.stop_server, self.cl.runas, self.cl.bindir, data)
        self.standby_dsn = conninfo(host=self.standby_dir, port=self.standby_port,
                                    dbname=self.dbname, user=self.superuser)
        self.wait_until(self.standby_has_r, "the standby to replay the test table")

    def standby_has_r(self):
        return self.standby_query("SELECT pg_is_in_recovery() AND to_regclass('public.r') IS NOT NULL")

    @unittest.expectedFailure
    def test_migrator_up_is_refused_by_a_standby(self):
        """NOT YET: common/conn.c must connect writing commands with
        target_session_attrs=read-write (see docs/RELIABILITY.md)."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d, dsn=self.standby_dsn)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_MIGRATOR + r".*" + READ_ONLY)
        self.assertNoLine(r, r"25006|history table")
        self.assertFalse(self.table_exists("schema_migrations"))

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

    @unittest.expectedFailure
    def test_indexer_build_is_refused_by_a_standby(self):
        """NOT YET: as for the migrator (common/conn.c)."""
        d = self.make_dir({"indexes.cfg": CONFIG})
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"), dsn=self.standby_dsn)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_INDEXER + r".*" + READ_ONLY)
        self.assertNoLine(r, r"25006")

    def test_indexer_build_on_a_standby_builds_nothing(self):
        d = self.make_dir({"indexes.cfg": CONFIG})
        r = self.run_indexer("-c", os.path.join(d, "indexes.cfg"), dsn=self.standby_dsn)
        self.assertIn(r.rc, (1, 3), r.describe())
        self.assertNoLine(r, r"^indexer: built ")
        self.assertEqual(self.query("SELECT count(*) FROM pg_class WHERE relname = 'idx_r_a'"), [(0,)])
        # The standby's gate says the index is missing, as it should.
        self.assertExit(self.run_indexer("check", "-c", os.path.join(d, "indexes.cfg"),
                                         dsn=self.standby_dsn), 5)

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
