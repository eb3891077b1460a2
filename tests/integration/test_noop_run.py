"""
test_noop_run.py
    The no-op path of up (issue 13): the run lock and the history read go
    to the server in one round trip (libpq pipeline mode), but as two
    statements, the lock first: a statement's snapshot is taken before a
    lock it takes is granted, so one merged statement could read the history
    as it was before a run that just released the lock.  A history read
    while another run held the lock is discarded, never used.

tests/integration/test_noop_run.py
"""

import os
import re
import time
import uuid

from toolkit_test import ToolkitTestCase

DEADLINE = 60


class NoopRunTest(ToolkitTestCase):

    def server_log_since(self, marker):
        with open(self.cluster["logfile"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        at = text.rfind(marker)
        self.assertGreaterEqual(at, 0, "the marker statement is not in the server log")
        return text[at:].splitlines()

    def test_lock_then_history_as_two_statements(self):
        """The server log shows the try-lock, then the history SELECT, as two statements."""
        table = "hist_noop_%d" % os.getpid()
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d, "--history-table", table)
        self.assertExit(r, 0)
        self.query("ALTER DATABASE %s SET log_statement = 'all'" % self.ident(self.dbname))
        marker = "noop-marker-" + uuid.uuid4().hex
        conn = self.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT %s", (marker,))
        conn.close()
        r = self.run_migrator("up", "--dir", d, "--history-table", table)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"nothing to apply: schema is current at version 1")
        lines = [l for l in self.server_log_since(marker) if "statement:" in l or "execute" in l]
        select = 'FROM "public"."%s" ORDER BY version' % table
        locks = [i for i, l in enumerate(lines) if "pg_try_advisory_lock" in l]
        reads = [i for i, l in enumerate(lines) if select in l]
        self.assertEqual(len(locks), 1, "\n".join(lines))
        self.assertEqual(len(reads), 1, "\n".join(lines))
        self.assertNotIn(select, lines[locks[0]], "the lock and the history read are one statement")
        self.assertNotIn("pg_try_advisory_lock", lines[reads[0]])
        self.assertLess(locks[0], reads[0], "the history was read before the lock was asked for")
        self.assertEqual(self.scalar("SELECT count(*) FROM %s" % self.ident(table)), 1)

    def test_history_read_while_another_run_holds_the_lock_is_discarded(self):
        """A run that finds the lock taken reads the history again once it holds it."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_slow.sql": "CREATE TABLE b (id int);\n"
                                         "DO $$ BEGIN PERFORM pg_sleep(4); END $$;\n"})
        os.rename(os.path.join(d, "2_slow.sql"), os.path.join(d, "2_slow.sql.off"))
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        os.rename(os.path.join(d, "2_slow.sql.off"), os.path.join(d, "2_slow.sql"))
        first = self.start_migrator("up", "--dir", d)
        deadline = time.monotonic() + DEADLINE
        running = None
        while running is None and time.monotonic() < deadline:
            running = self.scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND pid <> pg_backend_pid() AND query LIKE %s", ("%pg_sleep(4)%",))
            time.sleep(0.05)
        self.assertIsNotNone(running, "the first run never started version 2")
        # the second run's pipelined read sees version 2 pending; it must not use it
        second = self.run_migrator("up", "--dir", d, "--lock-wait", "60s")
        self.assertExit(self.finish(first), 0)
        self.assertExit(second, 0)
        self.assertStderrMatches(second, r"nothing to apply: schema is current at version 2")
        self.assertEqual(self.scalar("SELECT count(*) FROM schema_migrations WHERE status = 'applied'"), 2)

    def test_changed_applied_file_still_detected(self):
        """No parse of applied files, but their bytes are still checksummed: exit 6."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        with open(os.path.join(d, "1_a.sql"), "w", encoding="utf-8") as f:
            f.write("CREATE TABLE a (id int, this is not SQL;\n")
        for command in ("up", "check"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d)
                self.assertExit(r, 6)
                self.assertStderrMatches(r, re.escape(os.path.join(d, "1_a.sql")))
                self.assertNotInOutput(r, "syntax")
        self.assertEqual(self.scalar("SELECT checksum <> '' FROM schema_migrations WHERE version = 1"), True)
