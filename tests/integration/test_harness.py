"""
test_harness.py
    Tests of the integration harness itself: the throwaway cluster, the
    per-test database, the password role, and the helpers of toolkit_test.

tests/integration/test_harness.py
"""

import os
import re
import unittest

import psycopg2
import psycopg2.errors

from toolkit_test import PASSWORD, PASSWORD_ROLE, NOLOGIN_ROLE, ToolkitTestCase


class HarnessTest(ToolkitTestCase):

    def test_cluster_answers_and_is_version_15(self):
        self.assertEqual(self.scalar("SELECT 1"), 1)
        version = int(self.scalar("SHOW server_version_num"))
        self.assertTrue(150000 <= version < 160000, version)
        self.assertEqual(self.scalar("SHOW server_encoding"), "UTF8")
        self.assertEqual(self.scalar("SHOW lc_messages"), "C")

    def test_database_is_fresh_and_empty(self):
        self.assertEqual(self.scalar("SELECT current_database()"), self.dbname)
        self.assertRegex(self.dbname, r"^t_[0-9a-f]+$")
        self.assertLessEqual(len(self.dbname), 20)
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%'"), 0)
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg_%%' "
            "AND nspname NOT IN ('information_schema', 'public')"), 0)

    def test_database_differs_per_test(self):
        self.query("CREATE TABLE marker (id int)")
        self.assertTrue(self.table_exists("marker"))
        self.assertTrue(self.column_exists("marker", "id"))
        self.assertFalse(self.column_exists("marker", "nope"))

    def test_roles(self):
        rows = self.query("SELECT rolname, rolcanlogin, rolsuper FROM pg_roles "
                          "WHERE rolname IN (%s, %s) ORDER BY rolname",
                          (NOLOGIN_ROLE, PASSWORD_ROLE))
        self.assertEqual(rows, [(NOLOGIN_ROLE, False, False),
                                (PASSWORD_ROLE, True, False)])

    def test_password_login_over_tcp(self):
        conn = self.connect(dsn=self.tcp_dsn(PASSWORD_ROLE, PASSWORD))
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database(), "
                        "inet_server_addr() IS NOT NULL")
            self.assertEqual(cur.fetchone(), (PASSWORD_ROLE, self.dbname, True))
        # The URI form reaches the same place.
        conn = self.connect(dsn=self.tcp_uri(PASSWORD_ROLE, PASSWORD))
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            self.assertEqual(cur.fetchone()[0], PASSWORD_ROLE)

    def test_wrong_or_missing_password_is_refused(self):
        with self.assertRaises(psycopg2.OperationalError) as cm:
            psycopg2.connect(self.tcp_dsn(PASSWORD_ROLE, "wrong"))
        self.assertIn("password authentication failed", str(cm.exception))
        with self.assertRaises(psycopg2.OperationalError):
            psycopg2.connect(self.tcp_dsn(PASSWORD_ROLE, None) + " passfile="
                             + os.path.join(self.make_dir(), "none"))

    def test_superuser_over_tcp_is_trusted(self):
        conn = self.connect(dsn=self.tcp_dsn(self.superuser))
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            self.assertEqual(cur.fetchone()[0], "postgres")

    def test_make_dir_writes_exact_bytes(self):
        d = self.make_dir({"1_a.sql": "SELECT 'é';", "sub/2_b.sql": b"\xff\x00",
                           "empty.sql": ""})
        with open(os.path.join(d, "1_a.sql"), "rb") as f:
            self.assertEqual(f.read(), "SELECT 'é';".encode("utf-8"))
        with open(os.path.join(d, "sub", "2_b.sql"), "rb") as f:
            self.assertEqual(f.read(), b"\xff\x00")
        self.assertEqual(os.path.getsize(os.path.join(d, "empty.sql")), 0)
        self.assertEqual(sorted(os.listdir(d)), ["1_a.sql", "empty.sql", "sub"])

    def test_program_environment_is_scrubbed(self):
        os.environ["PGHOST"] = "/nonexistent"
        os.environ["DATABASE_URL"] = "postgresql://x@y/z"
        try:
            r = self.run_program(["/usr/bin/env"], env={"MIGRATIONS_DIR": "kept",
                                                          "HOME": None})
        finally:
            del os.environ["PGHOST"]
            del os.environ["DATABASE_URL"]
        self.assertExit(r, 0)
        names = {line.split("=", 1)[0] for line in r.stdout.splitlines()}
        self.assertNotIn("PGHOST", names)
        self.assertNotIn("DATABASE_URL", names)
        self.assertNotIn("HOME", names)
        self.assertIn("MIGRATIONS_DIR=kept", r.stdout.splitlines())

    def test_run_migrator_passes_dsn_last(self):
        # The programs may not be built yet: run a stand-in that echoes argv.
        r = self.run_program(["/bin/sh", "-c", 'printf "%s\\n" "$@" >&2; exit 3',
                              "sh", "up", "--dsn", self.dsn])
        self.assertExit(r, 3)
        self.assertEqual(r.lines, ["up", "--dsn", self.dsn])
        self.assertLastLineMatches(r, re.escape(self.dsn))
        self.assertStderrMatches(r, r"^up$")
        self.assertNoLine(r, r"^down$")
        argv = self._argv("MIGRATOR", ("status", "-v"), self.dsn)
        self.assertEqual(argv[-4:], ["status", "-v", "--dsn", self.dsn])
        self.assertEqual(self._argv("MIGRATOR", ("--help",), None)[-1], "--help")

    def test_assertions_report_failures(self):
        r = self.run_program(["/bin/sh", "-c", "echo out; echo 'err one' >&2; "
                              "echo >&2; exit 1"])
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, r"^err one$")
        with self.assertRaises(AssertionError) as cm:
            self.assertExit(r, 0)
        self.assertIn("err one", str(cm.exception))
        self.assertIn("out", str(cm.exception))
        with self.assertRaises(AssertionError):
            self.assertNoLine(r, "one")
        with self.assertRaises(AssertionError):
            self.assertStderrMatches(r, "two")

    def test_start_and_finish(self):
        proc = self._start(["/bin/sh", "-c", "read x; echo done >&2"], None)
        r = self.finish(proc, timeout=30)
        self.assertExit(r, 0)
        self.assertEqual(r.lines, ["done"])

    def test_wait_for_stderr_keeps_what_it_read(self):
        proc = self._start(["/bin/sh", "-c", "echo one >&2; echo two >&2; sleep 0.2; "
                            "echo three >&2; echo out"], None)
        self.assertEqual(self.wait_for_stderr(proc, r"^tw"), "two")
        r = self.finish(proc, timeout=30)
        self.assertExit(r, 0)
        self.assertEqual(r.lines, ["one", "two", "three"])
        self.assertEqual(r.stdout, "out\n")
        proc = self._start(["/bin/sh", "-c", "echo only >&2"], None)
        with self.assertRaises(AssertionError) as cm:
            self.wait_for_stderr(proc, r"never", timeout=10)
        self.assertIn("only", str(cm.exception))

    def test_hold_lock_blocks_other_sessions(self):
        self.query("CREATE TABLE locked (id int)")
        holder = self.hold_lock("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE")
        pid = self.backend_pid(holder)
        self.assertEqual(self.scalar(
            "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)),
            "toolkit_lock_holder")
        other = self.connect()
        with other.cursor() as cur:
            cur.execute("SET lock_timeout = '100ms'")
            with self.assertRaises(psycopg2.errors.LockNotAvailable):
                cur.execute("SELECT * FROM locked")
        holder.rollback()
        self.assertEqual(self.query("SELECT * FROM locked"), [])


if __name__ == "__main__":
    unittest.main()
