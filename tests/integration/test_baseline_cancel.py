"""
test_baseline_cancel.py
    The toolkit's own cancel (SIGINT/SIGTERM) during `migrator baseline`
    exits 130/143 as everywhere else (common/exitcodes.h), never 1, records
    nothing, and its last line says it was interrupted: while a verify file
    waits on a lock the test holds, and while the history row waits on one.

tests/integration/test_baseline_cancel.py
"""

import signal
import time

import psycopg2

from toolkit_test import ToolkitTestCase

FILES = {
    "1_users.sql": "CREATE TABLE users (id int);\n",
    "1_users.verify.sql": "SELECT count(*) >= 0 FROM users;\n",
    "2_orders.sql": "CREATE TABLE orders (id int);\n",
}


class BaselineCancel(ToolkitTestCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE users (id int); CREATE TABLE orders (id int)")

    def hold(self, sql):
        conn = psycopg2.connect(self.dsn)
        self.addCleanup(conn.close)
        with conn.cursor() as cur:
            cur.execute(sql)
        return conn

    def wait_blocked(self, proc, like):
        deadline = time.monotonic() + 60
        while not self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND wait_event_type = 'Lock' AND query LIKE %s", (like,)):
            if proc.poll() is not None:
                self.fail("baseline exited early\n" + self.finish(proc).describe())
            self.assertLess(time.monotonic(), deadline, "baseline never waited on the lock")
            time.sleep(0.05)

    def history(self):
        if not self.table_exists("schema_migrations"):
            return []
        return self.query("SELECT version, status FROM schema_migrations ORDER BY 1")

    def interrupt(self, proc, sig):
        proc.send_signal(sig)
        return self.finish(proc)

    def test_sigterm_while_a_verify_waits_exits_143(self):
        self.hold("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        d = self.make_dir(FILES)
        proc = self.start_migrator("baseline", "--version", "2", "--dir", d, "--lock-timeout", "60s")
        self.wait_blocked(proc, "%FROM users%")
        r = self.interrupt(proc, signal.SIGTERM)
        self.assertExit(r, 143)
        self.assertLastLineMatches(r, r"^migrator: error: interrupted by SIGTERM: baseline stopped, "
                                   r"nothing recorded$")
        self.assertNoLine(r, r"baseline refused")
        self.assertEqual(self.history(), [])

    def test_sigint_while_a_verify_waits_exits_130(self):
        self.hold("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        d = self.make_dir(FILES)
        proc = self.start_migrator("baseline", "--version", "2", "--dir", d, "--lock-timeout", "60s")
        self.wait_blocked(proc, "%FROM users%")
        r = self.interrupt(proc, signal.SIGINT)
        self.assertExit(r, 130)
        self.assertLastLineMatches(r, r"^migrator: error: interrupted by SIGINT: baseline stopped, "
                                   r"nothing recorded$")
        self.assertEqual(self.history(), [])

    def test_sigterm_while_the_history_row_waits_exits_143(self):
        # an empty history table of ours, then held: the lock of the baseline's write (its
        # LOCK TABLE, which comes before the guard and the INSERT) waits
        d = self.make_dir({k: v for k, v in FILES.items() if "verify" not in k})
        self.query("DROP TABLE users, orders")
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        self.query("DELETE FROM schema_migrations")
        self.hold("BEGIN; LOCK TABLE schema_migrations IN SHARE MODE")
        proc = self.start_migrator("baseline", "--version", "2", "--dir", d, "--lock-timeout", "60s")
        # the LOCK names the run's view of the table (pg_temp."toolkit migrator history")
        self.wait_blocked(proc, "LOCK TABLE %history% IN ROW EXCLUSIVE MODE")
        r = self.interrupt(proc, signal.SIGTERM)
        self.assertExit(r, 143)
        self.assertLastLineMatches(r, r"^migrator: error: interrupted by SIGTERM: baseline stopped, "
                                   r"nothing recorded$")
        self.assertEqual(self.history(), [])
