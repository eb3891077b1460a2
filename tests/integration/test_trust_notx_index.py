"""
test_trust_notx_index.py
    Issue 9, part 3: a CREATE INDEX CONCURRENTLY in a no-transaction
    migration runs through the indexer's engine, so no run reports success
    over an invalid index, and none leaves one behind.

Run as a plain statement under the session's lock_timeout, a concurrent
build that waits for an older transaction is killed after the index entry
exists: an INVALID index stays, and the retry's IF NOT EXISTS "skips" it,
so `up` exits 0 and `check` passes over an index the application cannot
use.  Each test asserts the exit code, the last line and the catalog state
(pg_index.indisvalid, the history row) together.

tests/integration/test_trust_notx_index.py
"""

import os
import re
import time
import unittest

from toolkit_test import ToolkitTestCase

ERROR_PREFIX = r"^migrator: error: "
SUCCESS = r"applied 1 migration in \d+ms; schema is current at version 1$"
HEADER = "-- migrator:no-transaction\n-- migrator:allow create-index\n"


class NoTransactionIndexTest(ToolkitTestCase):

    # ---- helpers -------------------------------------------------------------

    def index_dir(self, statement):
        """A migrations directory with 1_idx.sql; the statement is on line 3."""
        d = self.make_dir({"1_idx.sql": HEADER + statement + "\n"})
        return d, os.path.join(d, "1_idx.sql")

    def up(self, d, *args, **kw):
        return self.run_migrator("up", "--dir", d, "--lock-timeout", "1s", *args, **kw)

    def indexes(self, table="t", schema="public"):
        """{index name: indisvalid} of the indexes on schema.table."""
        return dict(self.query(
            "SELECT c.relname, i.indisvalid FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(%s) ORDER BY 1",
            (self.ident(schema) + "." + self.ident(table),)))

    def history(self, schema="public"):
        return self.query("SELECT version, status FROM %s.schema_migrations ORDER BY 1"
                          % self.ident(schema))

    def failed_line(self, path, rest):
        return ERROR_PREFIX + r"migration 1 failed at %s:3: %s" % (re.escape(path), rest)

    def assertCheck(self, d, code, *args):
        r = self.run_migrator("check", "--dir", d, *args)
        self.assertExit(r, code)
        return r

    def wait_for_build(self, proc, wait_event, timeout=30):
        """Poll until the engine's CREATE INDEX CONCURRENTLY waits on wait_event."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.fail("the migrator exited before its build waited\n"
                          + self.finish(proc).describe())
            if self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                           "AND query LIKE 'CREATE %%INDEX CONCURRENTLY%%' AND wait_event = %s",
                           (self.dbname, wait_event)):
                return
            time.sleep(0.05)
        self.fail("no build waited on %r within %ss\n%s"
                  % (wait_event, timeout, self.finish(proc).describe()))

    # ---- (a) a table lock past --lock-timeout ----------------------------------

    def test_table_lock_past_lock_timeout_fails_and_leaves_no_index(self):
        self.query("CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 100)")
        d, path = self.index_dir("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);")
        # what a plain CREATE INDEX holds: the build cannot even start
        holder = self.hold_lock("LOCK TABLE t IN SHARE MODE")

        r = self.up(d, "--retries", "0")
        self.assertExit(r, 1)
        self.assertEqual(self.history(), [(1, "failed")])
        self.assertEqual(self.indexes(), {})
        r2 = self.assertCheck(d, 5)
        self.assertLastLineMatches(r2, r"schema out of date: 1 pending")
        # the engine's watchdog, not a session lock_timeout, gave up
        self.assertStderrMatches(
            r, r'"t_a" on "public\.t": waited longer than --lock-timeout 1s for a lock on the table; canceling')
        self.assertLastLineMatches(
            r, self.failed_line(path, r'gave up waiting for a lock on "public\.t" after --lock-timeout 1s$'))

        holder.rollback()
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, SUCCESS)
        self.assertEqual(self.indexes(), {"t_a": True})
        self.assertEqual(self.history(), [(1, "applied")])
        self.assertCheck(d, 0)

    # ---- (a) a failed build: its invalid index is dropped --------------------

    def test_failed_build_leaves_no_invalid_index_and_the_next_run_builds_it(self):
        self.query("CREATE TABLE t (a int); INSERT INTO t VALUES (1), (1), (2)")
        d, path = self.index_dir("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_key ON t (a);")

        r = self.up(d)
        self.assertExit(r, 1)
        self.assertEqual(self.indexes(), {})
        self.assertLastLineMatches(
            r, self.failed_line(path, r'23505: could not create unique index "t_a_key"; '
                                      r'detail: Key \(a\)=\(1\) is duplicated\.$'))
        # a unique violation is not retried; its leftover is dropped at once
        self.assertStderrMatches(r, r'"t_a_key" on "public\.t": dropped the invalid index the failed build left')
        self.assertEqual(self.history(), [(1, "failed")])
        self.assertCheck(d, 5)

        self.query("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t WHERE a = 1)")
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, SUCCESS)
        self.assertEqual(self.indexes(), {"t_a_key": True})
        self.assertEqual(self.history(), [(1, "applied")])
        self.assertCheck(d, 0)

    # ---- (b) an invalid index of the name is repaired, not skipped -----------

    def make_invalid_unique_index(self):
        """t_a_key, INVALID: left by a concurrent unique build on duplicates."""
        self.query("CREATE TABLE t (a int); INSERT INTO t VALUES (1), (1), (2)")
        conn = self.connect()
        with conn.cursor() as cur:
            with self.assertRaises(Exception):
                cur.execute("CREATE UNIQUE INDEX CONCURRENTLY t_a_key ON t (a)")
        self.assertEqual(self.indexes(), {"t_a_key": False})

    def test_invalid_index_of_the_name_is_repaired_not_skipped(self):
        self.make_invalid_unique_index()
        self.query("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t WHERE a = 1)")
        d, path = self.index_dir("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_key ON t (a);")

        r = self.up(d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, SUCCESS)
        self.assertEqual(self.indexes(), {"t_a_key": True})
        self.assertStderrMatches(r, r'index "t_a_key" on "public\.t" exists but is not valid')
        self.assertStderrMatches(r, r'repaired "t_a_key" on "public\.t" in ')
        self.assertEqual(self.history(), [(1, "applied")])
        self.assertCheck(d, 0)

    def test_invalid_index_that_cannot_be_repaired_fails_the_migration(self):
        self.make_invalid_unique_index()  # the duplicates stay
        d, path = self.index_dir("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_key ON t (a);")

        r = self.up(d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, self.failed_line(path, r'23505: could not create unique index "t_a_key"'))
        self.assertEqual(self.indexes(), {})
        self.assertEqual(self.history(), [(1, "failed")])
        self.assertCheck(d, 5)

    # ---- (c) a wait for older transactions is not a lock timeout ------------

    def test_wait_for_an_older_transaction_is_not_killed_by_lock_timeout(self):
        self.query("CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 100)")
        d, path = self.index_dir("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);")
        # a writer's open transaction: the build waits for it (virtualxid),
        # holding no lock anybody else waits for
        writer = self.hold_lock("INSERT INTO t VALUES (0)")

        proc = self.start_migrator("up", "--dir", d, "--lock-timeout", "1s", "--retries", "0")
        self.wait_for_build(proc, "virtualxid")
        time.sleep(2.5)  # well past --lock-timeout
        self.assertIsNone(proc.poll(), "the build was stopped while it waited for an older transaction")
        self.assertEqual(self.indexes(), {"t_a": False})  # still being built
        writer.commit()

        r = self.finish(proc, timeout=60)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"t_a" on "public\.t": waiting [\d.]+s so far for older transactions to finish')
        self.assertNoLine(r, r"waited longer than --lock-timeout|gave up waiting for a lock|"
                             r"canceling statement due to lock timeout")
        self.assertLastLineMatches(r, SUCCESS)
        self.assertEqual(self.indexes(), {"t_a": True})
        self.assertEqual(self.history(), [(1, "applied")])
        self.assertCheck(d, 0)

    # ---- what IF NOT EXISTS means for a valid index -----------------------------

    def test_valid_index_is_left_alone_with_if_not_exists_and_refused_without(self):
        self.query("CREATE TABLE t (a int); CREATE INDEX t_a ON t (a)")
        oid = self.scalar("SELECT 't_a'::regclass::oid")
        d, path = self.index_dir("CREATE INDEX CONCURRENTLY t_a ON t (a);")

        r = self.up(d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, self.failed_line(path, r'42P07: relation "t_a" already exists$'))
        self.assertEqual(self.history(), [(1, "failed")])

        self.write_file(path, HEADER + "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\n")
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, SUCCESS)
        self.assertEqual(self.scalar("SELECT 't_a'::regclass::oid"), oid)
        self.assertEqual(self.history(), [(1, "applied")])
        self.assertStderrMatches(r, r'index "t_a" on "public\.t" exists and is valid; IF NOT EXISTS leaves it')

    # ---- a build that cannot be routed ------------------------------------------

    def test_unnamed_concurrent_index_is_refused_before_anything_runs(self):
        self.query("CREATE TABLE t (a int)")
        d = self.make_dir({
            "1_first.sql": "CREATE TABLE first_t (id int);\n",
            "2_idx.sql": HEADER + "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_ok ON t (a);\n"
                         "-- migrator:allow create-index\n"
                         "CREATE INDEX CONCURRENTLY ON t (a);\n",
        })
        path = os.path.join(d, "2_idx.sql")
        for command in ("plan", "up"):
            r = self.run_migrator(command, "--dir", d)
            self.assertExit(r, 2)
            self.assertLastLineMatches(
                r, ERROR_PREFIX + re.escape(path) + r":5: CREATE INDEX CONCURRENTLY without an index name: "
                   r".*name it .*; nothing applied$")
        self.assertFalse(self.table_exists("first_t"))
        self.assertFalse(self.table_exists("schema_migrations"))
        self.assertEqual(self.indexes(), {})

    # ---- names resolve in --schema ---------------------------------------------

    def test_unqualified_table_and_operator_class_resolve_in_the_schema(self):
        self.query("CREATE SCHEMA app; CREATE TABLE app.docs (body text); "
                   "CREATE TABLE public.docs (body int)")
        if self.scalar("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"):
            self.query("CREATE EXTENSION pg_trgm SCHEMA app")
            statement = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_body_trgm "
                         "ON docs USING gin (body gin_trgm_ops);")
        else:  # no contrib package: an operator class of our own, in the schema
            self.query("CREATE OPERATOR CLASS app.text_custom_ops FOR TYPE text USING btree AS "
                       "OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, "
                       "FUNCTION 1 bttextcmp(text, text)")
            statement = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS docs_body_trgm "
                         "ON docs (body text_custom_ops);")
        d, path = self.index_dir(statement)

        r = self.run_migrator("up", "--dir", d, "--schema", "app")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, SUCCESS)
        self.assertEqual(self.indexes("docs", "app"), {"docs_body_trgm": True})
        self.assertEqual(self.indexes("docs", "public"), {})
        self.assertEqual(self.history("app"), [(1, "applied")])
        self.assertStderrMatches(r, r'built "docs_body_trgm" on "app\.docs" in ')

    def write_file(self, path, content):
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)


if __name__ == "__main__":
    unittest.main()
