"""
test_index_replica.py
    The replica guard of indexer build (issue 15, indexer/replica_guard.h),
    against a real streaming standby: a primary of the class's own and a hot
    standby started from its base backup (pg_basebackup -R), as in
    test_readonly.py; each test has its own database.

    - byte lag: replay paused on the standby (pg_wal_replay_pause()) and WAL
      written on the primary: a build waits --replica-lag-wait, then is
      deferred (exit 0) naming the replica and the bytes, counted in the
      history's run row, the index absent; a critical definition is refused
      (exit 1, the guard named); replay resumed, the build runs, also
      within the same run when the replica catches up during the wait.
    - time lag: with replay paused, replay_lag grows past --max-replica-lag.
    - NULL replay_lag: a caught-up idle standby (replay_lag NULL, replay_lsn
      the current LSN) does not hold builds back, even under the tightest
      bounds; a role without pg_monitor (pg_stat_replication shows NULL)
      fails closed with "the role needs pg_monitor"; granted, it builds.
    - an inactive physical slot retaining more WAL than --max-slot-wal
      defers builds, naming the slot; plan shows why; "off" in the file
      disables the check.
    The states a real standby shows only for a moment (replay_lag NULL while
    replay_lsn is behind, replay_lsn NULL, a lost slot) are judged in
    tests/unit/replica_guard_test.c.

tests/reliability/test_index_replica.py
"""

import os
import re
import shutil
import tempfile
import unittest

import psycopg2

from reliability import DEADLINE, ERROR_INDEXER, ReliabilityCase, harness
from toolkit_test import conninfo


def definition(name, critical):
    return ('{ name = "%s"; table = "r"; critical = %s; '
            'sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON r (a)"; }'
            % (name, "true" if critical else "false", name))


REPLICA = r'replica "walreceiver" \([^)]*\)'


class ReplicaGuard(ReliabilityCase):
    """One primary and one hot standby for the class; see the module."""

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
        cls.standby_dir = tempfile.mkdtemp(prefix="tklag.", dir="/tmp")
        cls.addClassCleanup(shutil.rmtree, cls.standby_dir, True)
        cl.runas.chown(cls.standby_dir)
        os.chmod(cls.standby_dir, 0o700)
        data = os.path.join(cls.standby_dir, "data")
        # registered before the server can exist (see test_readonly.py)
        cls.addClassCleanup(harness.stop_server, cl.runas, cl.bindir, data)
        r = cl.runas.run([os.path.join(cl.bindir, "pg_basebackup"), "-D", data, "-R", "-c", "fast",
                          "-X", "stream", "-h", cl.host, "-p", str(cl.port), "-U", cls.superuser],
                         capture_output=True, text=True, timeout=DEADLINE)
        if r.returncode != 0:
            raise RuntimeError("pg_basebackup failed: %s" % r.stderr)
        with open(os.path.join(data, "postgresql.conf"), "a", encoding="utf-8") as f:
            f.write("port = %d\nunix_socket_directories = '%s'\nhot_standby = on\n"
                    % (cls.standby_port, cls.standby_dir))
        cl.runas.chown(cls.standby_dir)
        r = cl.runas.run([os.path.join(cl.bindir, "pg_ctl"), "start", "-D", data,
                          "-l", os.path.join(cls.standby_dir, "standby.log"), "-w", "-t", "120"],
                         capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("the standby did not start: %s%s" % (r.stdout, r.stderr))

    def setUp(self):
        super().setUp()  # this test's database, on the primary
        self.query("CREATE TABLE r (id int, a int)")
        self.query("INSERT INTO r SELECT g, g FROM generate_series(1, 1000) g")
        self.standby_dsn = conninfo(host=self.standby_dir, port=self.standby_port,
                                    dbname=self.dbname, user=self.superuser)
        self.wait_until(lambda: self.standby_query("SELECT to_regclass('public.r') IS NOT NULL"),
                        "the standby to replay the test database and table")
        # whatever a test did, the next one starts with replay running
        self.addCleanup(self.standby_query, "SELECT pg_wal_replay_resume() IS NULL")
        self.cfg = os.path.join(self.make_dir({
            "indexes.cfg": "indexes = ( %s );\n" % definition("idx_r_a", False),
            "critical.cfg": "indexes = ( %s );\n" % definition("idx_r_c", True)}), "indexes.cfg")
        self.critical_cfg = os.path.join(os.path.dirname(self.cfg), "critical.cfg")

    # ---- helpers ---------------------------------------------------------------

    def standby_query(self, sql):
        try:
            c = psycopg2.connect(self.standby_dsn)
        except psycopg2.OperationalError:
            return False
        try:
            c.autocommit = True
            with c.cursor() as cur:
                cur.execute(sql)
                return cur.fetchone()[0]
        finally:
            c.close()

    def replica_state(self):
        """(replay_lag is NULL, bytes behind) of the one replica, as a superuser sees it."""
        rows = self.query("SELECT replay_lag IS NULL, "
                          "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
                          "FROM pg_stat_replication")
        self.assertEqual(len(rows), 1, rows)
        return rows[0]

    def pause_and_write(self, rows=20000):
        """Replay paused on the standby, WAL written on the primary: bytes behind."""
        self.standby_query("SELECT pg_wal_replay_pause() IS NULL")
        self.wait_until(lambda: self.standby_query("SELECT pg_get_wal_replay_pause_state() = 'paused'"),
                        "replay to pause")
        self.query("INSERT INTO r SELECT g, g FROM generate_series(1, %d) g" % rows)
        behind = self.replica_state()[1]
        self.assertGreater(behind, 256 * 1024)
        return behind

    def resume_and_catch_up(self):
        self.standby_query("SELECT pg_wal_replay_resume() IS NULL")
        self.wait_until(lambda: self.replica_state()[1] == 0, "the standby to catch up")

    def index_valid(self, name):
        return self.scalar("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                           "WHERE c.relname = %s", (name,))

    # ---- byte lag ----------------------------------------------------------------

    def test_byte_lag_defers_then_the_build_runs(self):
        behind = self.pause_and_write()
        r = self.run_indexer("build", "-c", self.cfg, "--max-replica-lag-bytes", "64kB",
                             "--replica-lag-wait", "2s")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_r_a" waits for the replicas: ' + REPLICA
                                 + r" is [0-9.]+ [kM]B \(\d+ bytes\) behind, over --max-replica-lag-bytes 64\.0 kB")
        m = re.search(r'"idx_r_a" on "public\.r" not started: it waits for the replicas \(replica guard, '
                      r"waited [^)]+\): " + REPLICA + r" is [0-9.]+ [kM]B \((\d+) bytes\) behind", r.stderr)
        self.assertIsNotNone(m, r.describe())
        self.assertGreaterEqual(int(m.group(1)), behind)
        self.assertStderrMatches(r, r"summary: 0 built, .* 1 deferred")
        self.assertIsNone(self.index_valid("idx_r_a"))
        self.assertEqual(self.query("SELECT action, deferred, runs FROM public.indexer_history"),
                         [("deferred", 1, 1)])

        # a critical definition refused by the guard: exit 1, the guard named
        r = self.run_indexer("build", "-c", self.critical_cfg, "--max-replica-lag-bytes", "64kB",
                             "--replica-lag-wait", "1s")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, ERROR_INDEXER + r'critical index "idx_r_c" on "public\.r" not built: '
                                 r"refused by the replica guard after waiting [^:]+: " + REPLICA
                                 + r" is .* behind, over --max-replica-lag-bytes 64\.0 kB$")
        self.assertIsNone(self.index_valid("idx_r_c"))

        # plan says why builds would wait
        r = self.run_indexer("plan", "-c", self.cfg, "--max-replica-lag-bytes", "64kB")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"builds would wait: " + REPLICA + r" is .* behind, over "
                                 r"--max-replica-lag-bytes 64\.0 kB")

        # replay resumed: the lag is gone and the build runs
        self.resume_and_catch_up()
        r = self.run_indexer("build", "-c", self.cfg, "--max-replica-lag-bytes", "64kB",
                             "--replica-lag-wait", "30s")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"summary: 1 built, ")
        self.assertTrue(self.index_valid("idx_r_a"))

    def test_the_wait_ends_when_the_replica_catches_up(self):
        """A build waits while the replica is behind and starts once it has
        caught up, on the same run."""
        self.pause_and_write()
        env = {"INDEXER_MAX_REPLICA_LAG_BYTES": "64kB", "INDEXER_REPLICA_LAG_WAIT": "2min"}
        p = self.start_indexer("build", "-c", self.cfg, env=env)
        self.wait_for_stderr(p, r'"idx_r_a" waits for the replicas: ' + REPLICA)
        self.assertIsNone(self.index_valid("idx_r_a"))
        self.standby_query("SELECT pg_wal_replay_resume() IS NULL")
        r = self.finish(p)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'the replicas caught up: building "idx_r_a"')
        self.assertStderrMatches(r, r"summary: 1 built, .* 0 deferred")
        self.assertTrue(self.index_valid("idx_r_a"))

    # ---- NULL replay_lag ----------------------------------------------------------

    def test_a_caught_up_idle_standby_does_not_block(self):
        """replay_lag NULL with replay_lsn the current LSN is no lag, even
        under bounds of 1ms and 1kB."""
        self.resume_and_catch_up()
        self.wait_until(lambda: self.replica_state() == (True, 0), "replay_lag to turn NULL (idle standby)")
        bounds = ("--max-replica-lag", "1ms", "--max-replica-lag-bytes", "1kB", "--replica-lag-wait", "30s")
        r = self.run_indexer("plan", "-c", self.cfg, *bounds)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, REPLICA + r" is 0 bytes \(0 bytes\) behind, replay_lag NULL: ok")
        r = self.run_indexer("build", "-c", self.cfg, "--no-record", *bounds)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"waits for the replicas|deferred:|lag unknown")
        self.assertStderrMatches(r, r"summary: 1 built, .* 0 deferred")
        self.assertTrue(self.index_valid("idx_r_a"))

    def test_time_lag_defers(self):
        """Replay paused: the walsender reports a replay_lag that grows
        (PostgreSQL interpolates it for a stuck replay position)."""
        self.pause_and_write()
        self.wait_until(lambda: self.scalar("SELECT replay_lag > interval '1.5s' FROM pg_stat_replication"),
                        "replay_lag to pass 1.5s")
        r = self.run_indexer("build", "-c", self.cfg, "--no-record", "--max-replica-lag", "1s",
                             "--replica-lag-wait", "0")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_r_a" on "public\.r" not started: it waits for the replicas '
                                 r"\(replica guard, waited [^)]+\): " + REPLICA
                                 + r" is \d+\.\ds behind \(replay_lag; [0-9.]+ [kM]B \(\d+ bytes\) of WAL\), "
                                 r"over --max-replica-lag 1s$")
        self.assertStderrMatches(r, r"summary: 0 built, .* 1 deferred")
        self.assertIsNone(self.index_valid("idx_r_a"))

    def test_a_role_without_pg_monitor_fails_closed(self):
        """pg_stat_replication shows another role's walsender as NULLs to a
        role without pg_monitor: the lag cannot be read, so builds wait and
        are deferred; with pg_monitor granted they run."""
        role = "lag_" + self.dbname
        self.query("CREATE ROLE %s LOGIN" % role)
        self.addCleanup(self.query, "DROP ROLE IF EXISTS %s" % role)
        self.addCleanup(self.query, "DROP OWNED BY %s" % role)
        self.query("ALTER TABLE r OWNER TO %s" % role)
        self.query("GRANT CREATE ON SCHEMA public TO %s" % role)  # the index goes there
        dsn = conninfo(host=self.host, port=self.port, dbname=self.dbname, user=role)
        # the superuser's view: caught up; the role's view: NULLs
        self.resume_and_catch_up()
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute("SELECT state IS NULL, replay_lsn IS NULL FROM pg_stat_replication")
            self.assertEqual(cur.fetchall(), [(True, True)])
        c.close()
        r = self.run_indexer("build", "-c", self.cfg, "--no-record", "--max-replica-lag", "10s",
                             "--replica-lag-wait", "1s", dsn=dsn)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_r_a" on "public\.r" not started: it waits for the replicas '
                                 r"\(replica guard, waited [^)]+\): cannot read replica lag: the role needs "
                                 r'pg_monitor \(replica "walreceiver" \(local socket\) shows NULL')
        self.assertStderrMatches(r, r"summary: 0 built, .* 1 deferred")
        self.assertIsNone(self.index_valid("idx_r_a"))

        self.query("GRANT pg_monitor TO %s" % role)
        r = self.run_indexer("build", "-c", self.cfg, "--no-record", "--max-replica-lag", "10s",
                             "--replica-lag-wait", "30s", dsn=dsn)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"pg_monitor")
        self.assertStderrMatches(r, r"summary: 1 built, .* 0 deferred")
        self.assertTrue(self.index_valid("idx_r_a"))

    # ---- inactive slots ------------------------------------------------------------

    def test_an_inactive_slot_retaining_wal_defers(self):
        slot = "tk_idle_" + self.dbname
        self.query("SELECT pg_create_physical_replication_slot(%s, true) IS NULL", (slot,))
        self.addCleanup(self.query, "SELECT pg_drop_replication_slot(%s) IS NULL", (slot,))
        self.query("INSERT INTO r SELECT g, g FROM generate_series(1, 40000) g")
        retained = self.scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                               "FROM pg_replication_slots WHERE slot_name = %s", (slot,))
        self.assertGreater(retained, 1024 * 1024)
        r = self.run_indexer("plan", "-c", self.cfg, "--max-slot-wal", "1MB")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'builds would wait: inactive replication slot "%s" \(physical\) retains '
                                 r"[0-9.]+ MB \(\d+ bytes\) of WAL, over --max-slot-wal 1\.0 MB" % slot)
        r = self.run_indexer("build", "-c", self.cfg, "--max-slot-wal", "1MB", "--replica-lag-wait", "0")
        self.assertExit(r, 0)
        m = re.search(r'"idx_r_a" on "public\.r" not started: it waits for the replicas \(replica guard, '
                      r'waited [^)]+\): inactive replication slot "%s" \(physical\) retains [0-9.]+ MB '
                      r"\((\d+) bytes\) of WAL, over --max-slot-wal 1\.0 MB" % slot, r.stderr)
        self.assertIsNotNone(m, r.describe())
        self.assertGreaterEqual(int(m.group(1)), retained)
        self.assertIsNone(self.index_valid("idx_r_a"))
        self.assertEqual(self.query("SELECT action, deferred FROM public.indexer_history"), [("deferred", 1)])
        # the file's setting "off" disables the check (the command line wins over it, so none there)
        with open(self.cfg, "a", encoding="utf-8") as f:
            f.write('settings = { max_slot_wal = "off"; };\n')
        r = self.run_indexer("build", "-c", self.cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"summary: 1 built, ")
        self.assertTrue(self.index_valid("idx_r_a"))

    # ---- bad values ------------------------------------------------------------------

    def test_bad_values_are_refused(self):
        cases = [
            (("--max-replica-lag", "5"), {}, r'option --max-replica-lag: invalid duration "5": a unit is required'),
            (("--max-replica-lag-bytes", "12"), {},
             r'option --max-replica-lag-bytes: invalid size "12": a unit is required'),
            (("--max-slot-wal", "lots"), {}, r'option --max-slot-wal: invalid size "lots"'),
            ((), {"INDEXER_REPLICA_LAG_WAIT": "forever"},
             r'environment INDEXER_REPLICA_LAG_WAIT: invalid duration "forever"'),
        ]
        for args, env, msg in cases:
            r = self.run_indexer("build", "-c", self.cfg, *args, env=env)
            self.assertExit(r, 2, args)
            self.assertStderrMatches(r, ERROR_INDEXER + msg)
        self.assertIsNone(self.index_valid("idx_r_a"))
        self.assertFalse(self.table_exists("indexer_history"))


if __name__ == "__main__":
    unittest.main()
