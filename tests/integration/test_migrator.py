"""
test_migrator.py
    Integration tests of the migrator command line against a real server.

Each test asserts the exit code, the message and the catalog state together:
a run that says it failed must also have left nothing behind, a run that says
it succeeded must have left exactly what the files describe.

tests/integration/test_migrator.py
"""

import json
import os
import re
import signal
import socket
import time
import unittest

from toolkit_test import PASSWORD, PASSWORD_ROLE, ToolkitTestCase

HISTORY = "schema_migrations"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
SUCCESS = r"applied \d+ migrations?\b"
ERROR_PREFIX = r"^migrator: error: "
# how long a started migrator may take to reach a statement ("not hanging"):
# under TOOLKIT_TEST_WRAPPER (valgrind) a start alone took 20 s on a loaded
# 2-core machine
BACKEND_WAIT = 300 if os.environ.get("TOOLKIT_TEST_WRAPPER") else 30


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (at this moment)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MigratorTestCase(ToolkitTestCase):
    """Helpers shared by the migrator tests."""

    def up(self, d, *args, **kw):
        return self.run_migrator("up", "--dir", d, *args, **kw)

    def write(self, d, name, content):
        with open(os.path.join(d, name), "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)

    def history_exists(self, table=HISTORY, schema="public"):
        return self.table_exists(table, schema)

    def history(self, table=HISTORY, schema="public"):
        """[(version, name, checksum, status)] by version; None if no table."""
        if not self.history_exists(table, schema):
            return None
        return self.query("SELECT version, name, checksum, status FROM %s.%s ORDER BY version"
                          % (self.ident(schema), self.ident(table)))

    def versions(self, status=None, table=HISTORY, schema="public"):
        """Versions recorded in the history ([] if the table does not exist)."""
        rows = self.history(table, schema) or []
        return [r[0] for r in rows if status is None or r[3] == status]

    def assertNothingCreated(self, result, *tables):
        """The run left the database as it found it: no history, no tables."""
        if self.history_exists():
            self.fail("the history table exists after the run\n" + result.describe())
        for t in tables:
            if self.table_exists(t):
                self.fail("table %r exists after the run\n%s" % (t, result.describe()))

    def failure_line(self, version, path, line, sqlstate):
        """The regex of the last line of a run that failed at path:line."""
        return (ERROR_PREFIX + r"migration %d failed at %s:%d: %s: \S"
                % (version, re.escape(path), line, sqlstate))

    def wait_for_backend(self, proc, pattern, timeout=BACKEND_WAIT):
        """Poll pg_stat_activity until a backend of the test database runs a
        query matching the LIKE pattern; fails if proc exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                r = self.finish(proc)
                self.fail("the migrator exited before running %r\n%s"
                          % (pattern, r.describe()))
            if self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                           "AND pid <> pg_backend_pid() AND state = 'active' "
                           "AND query LIKE %s", (self.dbname, pattern)):
                return
            time.sleep(0.05)
        self.fail("no backend ran %r within %ss" % (pattern, timeout))


# --------------------------------------------------------------------------
# Command line: help, version, bad options.  Checked first, like PostgreSQL's
# own frontend tests: nothing here may touch the database.
# --------------------------------------------------------------------------

class CommandLineTest(MigratorTestCase):

    def test_help_lists_commands_and_exit_codes(self):
        r = self.run_migrator("--help", dsn=None)
        self.assertExit(r, 0)
        for command in ("up", "status", "check", "plan", "repair"):
            self.assertRegex(r.stdout, r"(?m)^\s+%s\s" % command)
        self.assertRegex(r.stdout, r"(?i)exit codes")
        for code in (0, 1, 2, 3, 4, 5, 6, 130, 143):
            self.assertRegex(r.stdout, r"(?m)^\s*%d\s+\S" % code,
                             "exit code %d is not listed" % code)
        for option in ("--dir", "--dsn", "--lock-timeout", "--retries", "--lock-wait",
                       "--wait", "--log-format", "--out-of-order"):
            self.assertIn(option, r.stdout)

    def test_version(self):
        r = self.run_migrator("--version", dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"migrator.*\d+\.\d+")

    def test_unknown_option(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.up(d, "--no-such-option")
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"no-such-option")
        self.assertNothingCreated(r, "a")

    def test_unknown_command(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("frobnicate", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"frobnicate")
        self.assertNothingCreated(r, "a")

    def test_duration_without_unit_is_refused(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        for option in ("--lock-timeout", "--statement-timeout", "--lock-wait", "--wait"):
            with self.subTest(option=option):
                r = self.up(d, option, "5")
                self.assertExit(r, 2)
                self.assertStderrMatches(r, r"(?i)\bunits?\b")
                self.assertStderrMatches(r, re.escape(option))
                self.assertNothingCreated(r, "a")

    def test_bad_numbers_are_refused(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        for args in (("--retries", "-1"), ("--retries", "many"), ("--retries", "3x"),
                     ("--lock-timeout", "5parsecs"), ("--log-format", "xml")):
            with self.subTest(args=args):
                r = self.up(d, *args)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, ERROR_PREFIX + ".*" + re.escape(args[0]))
                self.assertNothingCreated(r, "a")


# --------------------------------------------------------------------------
# Applying
# --------------------------------------------------------------------------

class UpTest(MigratorTestCase):

    FILES = {
        "1_create_users.sql": "-- the users\nCREATE TABLE users (id bigint PRIMARY KEY);\n",
        "2_add_email.sql": "ALTER TABLE users ADD COLUMN email text;\n"
                           "COMMENT ON COLUMN users.email IS 'login';\n",
        "3_create_orders.sql": "CREATE TABLE orders (id bigint PRIMARY KEY,\n"
                               "  user_id bigint REFERENCES users (id));\n",
        "3_create_orders.verify.sql": "SELECT count(*) = 0 FROM orders;\n"
                                      "SELECT col_description('users'::regclass, 2) = 'login';\n",
    }

    def test_clean_run(self):
        d = self.make_dir(self.FILES)
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"applied 3 migrations\b")
        self.assertNoLine(r, ERROR_PREFIX)
        self.assertTrue(self.table_exists("users"))
        self.assertTrue(self.table_exists("orders"))
        self.assertTrue(self.column_exists("users", "email"))
        self.assertEqual("login", self.scalar("SELECT col_description('users'::regclass, 2)"))
        rows = self.history()
        self.assertEqual([(v, n, s) for v, n, _, s in rows],
                         [(1, "create_users", "applied"), (2, "add_email", "applied"),
                          (3, "create_orders", "applied")])
        checksums = [c for _, _, c, _ in rows]
        for c in checksums:
            self.assertRegex(c, SHA256_HEX)
        self.assertEqual(len(set(checksums)), 3)
        # Every row says when, how long and by whom.
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM schema_migrations WHERE applied_at IS NOT NULL "
            "AND duration_ms >= 0 AND applied_by IS NOT NULL AND applied_by <> ''"), 3)

    def test_history_table_shape(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        self.assertExit(self.up(d), 0)
        columns = dict(self.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s", (HISTORY,)))
        for name in ("version", "name", "checksum", "status", "applied_at",
                     "duration_ms", "applied_by"):
            self.assertIn(name, columns)
        self.assertEqual(columns["version"], "bigint")
        self.assertEqual(self.scalar(
            "SELECT array_agg(a.attname::text) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
            "WHERE i.indrelid = 'public.schema_migrations'::regclass AND i.indisprimary"),
            ["version"])

    def test_default_command_is_up(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("--dir", d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"applied 1 migration\b")
        self.assertTrue(self.table_exists("a"))
        self.assertEqual(self.versions("applied"), [1])

    def test_second_run_is_a_no_op(self):
        d = self.make_dir(self.FILES)
        self.assertExit(self.up(d), 0)
        before = self.query("SELECT version, checksum, applied_at FROM schema_migrations "
                            "ORDER BY version")
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"nothing to apply")
        self.assertNoLine(r, SUCCESS)
        self.assertEqual(self.query("SELECT version, checksum, applied_at FROM "
                                    "schema_migrations ORDER BY version"), before)

    def test_new_file_applies_only_the_new_one(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        self.assertExit(self.up(d), 0)
        self.write(d, "2_b.sql", "CREATE TABLE b (id int);\n")
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"applied 1 migration\b")
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_failure_in_the_middle_stops_the_run(self):
        d = self.make_dir({
            "1_a.sql": "CREATE TABLE a (id int);\n",
            "2_b.sql": "-- line 1\nCREATE TABLE b (id int);\n\n"
                       "ALTER TABLE does_not_exist ADD COLUMN x int;\n",
            "3_c.sql": "CREATE TABLE c (id int);\n",
        })
        r = self.up(d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, self.failure_line(2, d + "/2_b.sql", 4, "42P01"))
        self.assertLastLineMatches(r, r'relation "does_not_exist" does not exist')
        self.assertNoLine(r, SUCCESS)
        self.assertTrue(self.table_exists("a"))
        self.assertFalse(self.table_exists("b"), "the failed migration was not rolled back")
        self.assertFalse(self.table_exists("c"), "a migration after the failure ran")
        self.assertEqual(self.versions(), [1], "the failed migration was recorded")

    def test_statement_timeout(self):
        d = self.make_dir({
            "1_slow.sql": "CREATE TABLE slow (id int);\n"
                          "DO $$ BEGIN PERFORM pg_sleep(5); END $$;\n",
        })
        r = self.up(d, "--statement-timeout", "200ms", "--retries", "0")
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, self.failure_line(1, d + "/1_slow.sql", 2, "57014"))
        self.assertFalse(self.table_exists("slow"))
        self.assertEqual(self.versions(), [])

    def test_schema_option(self):
        self.query("CREATE SCHEMA app")
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.up(d, "--schema", "app")
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("a", schema="app"))
        self.assertFalse(self.table_exists("a"))
        self.assertEqual(self.versions(schema="app"), [1])
        self.assertFalse(self.history_exists())

    def test_history_table_option(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.up(d, "--history-table", "my_history")
        self.assertExit(r, 0)
        self.assertEqual(self.versions(table="my_history"), [1])
        self.assertFalse(self.history_exists())
        # The other table is another history: version 1 is pending there.
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 5)

    def test_environment_supplies_defaults_and_the_command_line_wins(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", dsn=None,
                              env={"MIGRATIONS_DIR": d,
                                   "DATABASE_URL": self.tcp_uri(self.superuser)})
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1])
        self.write(d, "2_b.sql", "CREATE TABLE b (id int);\n")
        unreachable = "postgresql://postgres@127.0.0.1:%d/%s" % (free_port(), self.dbname)
        r = self.up(d, env={"DATABASE_URL": unreachable, "MIGRATIONS_DIR": "/nonexistent"})
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_json_log_format(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.up(d, "--log-format", "json")
        self.assertExit(r, 0)
        events = []
        for line in r.lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                self.fail("not a JSON line: %r\n%s" % (line, r.describe()))
        self.assertTrue(events)
        for e in events:
            self.assertIn("level", e)
            self.assertIn("msg", e)
        self.assertRegex(events[-1]["msg"], SUCCESS)
        self.assertTrue(self.table_exists("a"))


# --------------------------------------------------------------------------
# Verify files
# --------------------------------------------------------------------------

class VerifyTest(MigratorTestCase):

    def run_with_verify(self, verify_sql):
        d = self.make_dir({
            "1_base.sql": "CREATE TABLE t (id int);\n",
            "2_add_col.sql": "ALTER TABLE t ADD COLUMN c int;\n",
            "2_add_col.verify.sql": verify_sql,
        })
        return d, self.up(d)

    def assertVerifyFailed(self, d, r):
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 2 failed at "
                                   + re.escape(d + "/2_add_col.verify.sql") + r":\d+: ")
        self.assertNoLine(r, SUCCESS)
        self.assertTrue(self.table_exists("t"))
        self.assertFalse(self.column_exists("t", "c"), "the migration was not rolled back")
        self.assertEqual(self.versions(), [1])

    def test_verify_passes(self):
        d, r = self.run_with_verify(
            "SELECT count(*) = 1 FROM information_schema.columns\n"
            " WHERE table_name = 't' AND column_name = 'c';\n"
            "SELECT x FROM (VALUES (true), (true)) v(x);\n")
        self.assertExit(r, 0)
        self.assertTrue(self.column_exists("t", "c"))
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_verify_returning_false(self):
        d, r = self.run_with_verify(
            "SELECT true;\n"
            "SELECT count(*) = 1 FROM information_schema.columns\n"
            " WHERE table_name = 't' AND column_name = 'no_such_column';\n")
        self.assertVerifyFailed(d, r)
        self.assertLastLineMatches(r, r"false")

    def test_verify_returning_no_rows(self):
        d, r = self.run_with_verify("SELECT true WHERE false;\n")
        self.assertVerifyFailed(d, r)

    def test_verify_with_one_false_row_among_true_ones(self):
        d, r = self.run_with_verify("SELECT x FROM (VALUES (true), (false), (true)) v(x);\n")
        self.assertVerifyFailed(d, r)

    def test_verify_must_only_select(self):
        d = self.make_dir({
            "1_base.sql": "CREATE TABLE t (id int);\n",
            "1_base.verify.sql": "DROP TABLE t;\n",
        })
        r = self.up(d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, re.escape("1_base.verify.sql"))
        self.assertNothingCreated(r, "t")


# --------------------------------------------------------------------------
# Locks: another session holds what a migration needs
# --------------------------------------------------------------------------

class LockTest(MigratorTestCase):

    def prepare(self):
        d = self.make_dir({"1_base.sql": "CREATE TABLE t (id int);\n"})
        self.assertExit(self.up(d), 0)
        self.write(d, "2_add_col.sql", "-- needs ACCESS EXCLUSIVE on t\n"
                                       "ALTER TABLE t ADD COLUMN c int;\n")
        holder = self.hold_lock("LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
                                application_name="blocking_app")
        return d, holder

    def test_lock_timeout_fails_hard_naming_the_blocker(self):
        d, holder = self.prepare()
        pid = holder.get_backend_pid()
        r = self.up(d, "--lock-timeout", "300ms", "--retries", "1")
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, self.failure_line(2, d + "/2_add_col.sql", 2, "55P03"))
        self.assertTrue(any(re.search(r"\bpid=%d\b" % pid, ln) and "blocking_app" in ln
                            for ln in r.lines),
                        "no line names the blocker pid=%d and its application\n%s"
                        % (pid, r.describe()))
        self.assertNoLine(r, SUCCESS)
        holder.rollback()
        self.assertFalse(self.column_exists("t", "c"))
        self.assertEqual(self.versions(), [1])

    def test_lock_released_during_retries(self):
        d, holder = self.prepare()
        proc = self.start_migrator("up", "--dir", d, "--lock-timeout", "300ms",
                                   "--retries", "3")
        # Release once the first attempt has timed out, however slowly the
        # program runs (valgrind): then a retry, not the first attempt, wins.
        self.wait_for_stderr(proc, r"(?i)retry")
        holder.rollback()
        r = self.finish(proc)
        self.assertExit(r, 0)
        self.assertNoLine(r, ERROR_PREFIX)
        self.assertLastLineMatches(r, r"applied 1 migration\b")
        self.assertTrue(self.column_exists("t", "c"))
        self.assertEqual(self.versions("applied"), [1, 2])


# --------------------------------------------------------------------------
# no-transaction migrations
# --------------------------------------------------------------------------

class NoTransactionTest(MigratorTestCase):

    def test_failure_leaves_earlier_statements_and_rerun_completes(self):
        d = self.make_dir({
            # a plain CREATE INDEX on a table created in the same file is allowed
            "1_base.sql": "CREATE TABLE t (id int, v int);\n"
                          "CREATE INDEX t_id_idx ON t (id);\n"
                          "CREATE INDEX t_v_idx ON t (v);\n",
            "2_indexes.sql": "-- migrator:no-transaction\n"
                             "DROP INDEX CONCURRENTLY t_id_idx;\n"
                             "DROP INDEX CONCURRENTLY t_nope_idx;\n",
        })
        r = self.up(d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, self.failure_line(2, d + "/2_indexes.sql", 3, "42704"))
        self.assertNoLine(r, SUCCESS)
        # DROP INDEX CONCURRENTLY runs only outside a transaction block: the
        # first index gone proves the directive was honoured.
        self.assertFalse(self.table_exists("t_id_idx"))
        self.assertTrue(self.table_exists("t_v_idx"))
        self.assertEqual([(v, s) for v, _, _, s in self.history()],
                         [(1, "applied"), (2, "failed")])

        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 5)
        self.assertStderrMatches(r, r"schema out of date: 1 pending")

        self.write(d, "2_indexes.sql",
                   "-- migrator:no-transaction\n"
                   "DROP INDEX CONCURRENTLY IF EXISTS t_id_idx;\n"
                   "DROP INDEX CONCURRENTLY IF EXISTS t_v_idx;\n")
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"applied 1 migration\b")
        self.assertFalse(self.table_exists("t_v_idx"))
        self.assertEqual([(v, s) for v, _, _, s in self.history()],
                         [(1, "applied"), (2, "applied")])
        self.assertExit(self.run_migrator("check", "--dir", d), 0)

    def test_directive_outside_the_leading_comment_block_is_refused(self):
        d = self.make_dir({
            "1_idx.sql": "CREATE TABLE t (id int);\n"
                         "-- migrator:no-transaction\n"
                         "CREATE INDEX CONCURRENTLY t_id_idx ON t (id);\n",
        })
        r = self.up(d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, re.escape(d + "/1_idx.sql") + r":2\b")
        self.assertNothingCreated(r, "t")


# --------------------------------------------------------------------------
# Concurrent runs
# --------------------------------------------------------------------------

class ConcurrencyTest(MigratorTestCase):

    def test_concurrent_migrators_apply_each_version_once(self):
        d = self.make_dir({
            "1_slow.sql": "CREATE TABLE slow (id int);\n"
                          "DO $$ BEGIN PERFORM pg_sleep(1); END $$;\n",
            "2_next.sql": "CREATE TABLE next_t (id int);\n",
        })
        procs = [self.start_migrator("up", "--dir", d) for _ in range(5)]
        results = [self.finish(p, timeout=120) for p in procs]
        applied = 0
        for r in results:
            self.assertExit(r, 0)
            self.assertNoLine(r, ERROR_PREFIX)
            for line in r.lines:
                m = re.search(r"applied (\d+) migrations?\b", line)
                if m:
                    applied += int(m.group(1))
        self.assertEqual(applied, 2, "\n\n".join(r.describe() for r in results))
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations "
                                    "ORDER BY version"), [(1, "applied"), (2, "applied")])
        self.assertTrue(self.table_exists("slow"))
        self.assertTrue(self.table_exists("next_t"))

    def test_lock_wait_exceeded(self):
        d = self.make_dir({
            "1_slow.sql": "DO $$ BEGIN PERFORM pg_sleep(30); END $$;\n"
                          "CREATE TABLE slow (id int);\n",
        })
        first = self.start_migrator("up", "--dir", d)
        self.wait_for_backend(first, "%pg_sleep(30)%")
        r = self.up(d, "--lock-wait", "500ms")
        self.assertExit(r, 4)
        self.assertNoLine(r, SUCCESS)
        first.send_signal(signal.SIGTERM)
        self.assertExit(self.finish(first), 143)
        self.assertFalse(self.table_exists("slow"))
        self.assertEqual(self.versions(), [])


# --------------------------------------------------------------------------
# History against files
# --------------------------------------------------------------------------

class HistoryMismatchTest(MigratorTestCase):

    def test_changed_applied_file(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        self.assertExit(self.up(d), 0)
        checksum = self.scalar("SELECT checksum FROM schema_migrations WHERE version = 1")
        self.write(d, "1_a.sql", "CREATE TABLE a (id int, extra int);\n")
        self.write(d, "2_b.sql", "CREATE TABLE b (id int);\n")
        for command in ("up", "check"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d)
                self.assertExit(r, 6)
                self.assertTrue(any("1_a.sql" in ln and re.search(r"checksum|changed", ln)
                                    for ln in r.lines),
                                "no line names the changed file\n" + r.describe())
                self.assertNoLine(r, SUCCESS)
                self.assertFalse(self.table_exists("b"), "a pending migration ran")
                self.assertEqual(self.history()[0][2:], (checksum, "applied"))
                self.assertEqual(self.versions(), [1])

    def test_missing_applied_file(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_b.sql": "CREATE TABLE b (id int);\n"})
        self.assertExit(self.up(d), 0)
        os.unlink(os.path.join(d, "2_b.sql"))
        self.write(d, "3_c.sql", "CREATE TABLE c (id int);\n")
        r = self.up(d)
        self.assertExit(r, 6)
        self.assertTrue(any(re.search(r"\b2\b", ln) and "missing" in ln for ln in r.lines),
                        "no line names missing version 2\n" + r.describe())
        self.assertNoLine(r, SUCCESS)
        self.assertFalse(self.table_exists("c"))
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_foreign_history_table_is_refused(self):
        # dbmate's shape: one varchar column.
        self.query("CREATE TABLE schema_migrations (version varchar PRIMARY KEY)")
        self.query("INSERT INTO schema_migrations VALUES ('20200101000000')")
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        for command in ("up", "check", "status"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, HISTORY)
                self.assertFalse(self.table_exists("a"))
                self.assertEqual(self.query(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'schema_migrations'"), [("version",)])
                self.assertEqual(self.query("SELECT * FROM schema_migrations"),
                                 [("20200101000000",)])


# --------------------------------------------------------------------------
# Bad input files: refused before anything touches the database
# --------------------------------------------------------------------------

class BadFilesTest(MigratorTestCase):

    GOOD = "CREATE TABLE should_not_exist (id int);\n"

    CASES = {
        "name without version": ({"1_ok.sql": GOOD, "abc.sql": GOOD}, "abc.sql"),
        "dash instead of underscore": ({"1_ok.sql": GOOD, "1-foo.sql": GOOD}, "1-foo.sql"),
        "version zero": ({"0_zero.sql": GOOD}, "0_zero.sql"),
        "version without name": ({"1_ok.sql": GOOD, "2.sql": GOOD}, "2.sql"),
        "duplicate version": ({"1_a.sql": GOOD, "1_b.sql": GOOD}, r"1_[ab]\.sql"),
        "zero-padded duplicate": ({"0109_a.sql": GOOD, "109_b.sql": GOOD},
                                  r"(0109_a|109_b)\.sql"),
        "orphan verify file": ({"1_ok.sql": GOOD, "2_b.verify.sql": "SELECT true;\n"},
                               r"2_b\.verify\.sql"),
        "verify file of another name": ({"1_ok.sql": GOOD, "1_other.verify.sql": "SELECT true;\n"},
                                        r"1_other\.verify\.sql"),
        "empty file": ({"1_ok.sql": GOOD, "2_empty.sql": ""}, r"2_empty\.sql"),
        "comments only": ({"1_ok.sql": GOOD, "2_nothing.sql": "-- nothing here\n"},
                          r"2_nothing\.sql"),
        "empty verify file": ({"1_ok.sql": GOOD, "1_ok.verify.sql": ""}, r"1_ok\.verify\.sql"),
        "syntax error": ({"1_ok.sql": GOOD, "2_bad.sql": "CREATE TABLE x (id int;\n"},
                         r"2_bad\.sql:1\b"),
        "version beyond int64": ({"1_ok.sql": GOOD, "99999999999999999999_big.sql": GOOD},
                                 r"99999999999999999999_big\.sql"),
    }

    # Found only by parsing the SQL: up and plan parse every pending file
    # before doing anything; check, the start-up gate, need not parse.
    PARSE_LEVEL = {"comments only", "syntax error"}

    def test_bad_files_are_refused_before_connecting_changes_anything(self):
        for case, (files, names) in self.CASES.items():
            with self.subTest(case=case):
                d = self.make_dir(files)
                commands = ("up", "plan") if case in self.PARSE_LEVEL else ("up", "check", "plan")
                for command in commands:
                    r = self.run_migrator(command, "--dir", d)
                    self.assertExit(r, 2, "%s: %s" % (case, command))
                    self.assertStderrMatches(r, ERROR_PREFIX + r".*" + names)
                    self.assertNothingCreated(r, "should_not_exist")

    def test_missing_directory(self):
        r = self.up("/nonexistent/migrations")
        self.assertExit(r, 2)
        self.assertStderrMatches(r, re.escape("/nonexistent/migrations"))
        self.assertNothingCreated(r)

    def test_out_of_order_version(self):
        d = self.make_dir({"2_b.sql": "CREATE TABLE b (id int);\n"})
        self.assertExit(self.up(d), 0)
        self.write(d, "1_a.sql", "CREATE TABLE a (id int);\n")
        r = self.up(d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"1_a\.sql")
        self.assertFalse(self.table_exists("a"))
        r = self.up(d, "--out-of-order")
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("a"))
        self.assertEqual(self.versions("applied"), [1, 2])


# --------------------------------------------------------------------------
# Connecting
# --------------------------------------------------------------------------

class ConnectionTest(MigratorTestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})

    def test_unreachable_server(self):
        dsn = "host=127.0.0.1 port=%d dbname=%s user=postgres" % (free_port(), self.dbname)
        r = self.up(self.dir, dsn=dsn)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX)
        self.assertNothingCreated(r, "a")

    def test_unreachable_socket_directory(self):
        r = self.up(self.dir, dsn="host=/nonexistent/socket/dir dbname=%s user=postgres"
                    % self.dbname)
        self.assertExit(r, 3)
        self.assertNothingCreated(r, "a")

    def test_wait_gives_up(self):
        dsn = "host=127.0.0.1 port=%d dbname=%s user=postgres" % (free_port(), self.dbname)
        r = self.up(self.dir, "--wait", "1s", dsn=dsn)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX)
        self.assertNothingCreated(r, "a")

    def test_wait_succeeds_when_server_is_up(self):
        r = self.up(self.dir, "--wait", "3s")
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("a"))

    def test_wrong_password_is_not_retried(self):
        r = self.up(self.dir, "--wait", "10s", dsn=self.tcp_dsn(PASSWORD_ROLE, "wrong"))
        self.assertExit(r, 3)
        self.assertNoLine(r, r"(?i)retrying|waiting")
        self.assertStderrMatches(r, r"password authentication failed")
        self.assertNothingCreated(r, "a")

    def test_missing_database(self):
        dsn = "host=%s port=%d dbname=no_such_db_%s user=postgres" % (
            self.host, self.port, self.dbname)
        r = self.up(self.dir, "--wait", "10s", dsn=dsn)
        self.assertExit(r, 3)
        self.assertNoLine(r, r"(?i)retrying|waiting")
        self.assertStderrMatches(r, r"no_such_db_")

    def test_invalid_dsn(self):
        for dsn in ("host=x nonsense_keyword=1", "postgresql://[::1", "host='unterminated"):
            with self.subTest(dsn=dsn):
                r = self.up(self.dir, dsn=dsn)
                self.assertExit(r, 2)
                self.assertLastLineMatches(r, ERROR_PREFIX)


class PasswordSecrecyTest(MigratorTestCase):
    """The password never appears in any output, whatever form it came in."""

    def setUp(self):
        super().setUp()
        # Database-local rights only: another test module may run at the same
        # time and expects pwuser to be an ordinary role.
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname),
                                                          PASSWORD_ROLE))
        self.query("GRANT CREATE ON SCHEMA public TO %s" % PASSWORD_ROLE)
        self.dir = self.make_dir({
            "1_a.sql": "CREATE TABLE pw_t (id int);\n",
            "2_fails.sql": "ALTER TABLE does_not_exist ADD COLUMN x int;\n",
        })

    def check(self, r, expected_rc):
        self.assertExit(r, expected_rc)
        self.assertNotInOutput(r, PASSWORD)
        if expected_rc != 0:
            self.assertStderrMatches(r, r'^migrator: error: |"level": ?"error"')

    def test_keyword_form(self):
        r = self.up(self.dir, "-v", dsn=self.tcp_dsn(PASSWORD_ROLE, PASSWORD))
        self.check(r, 1)
        self.assertLastLineMatches(r, self.failure_line(2, self.dir + "/2_fails.sql", 1, "42P01"))
        self.assertEqual(self.scalar("SELECT tableowner FROM pg_tables WHERE tablename = 'pw_t'"),
                         PASSWORD_ROLE)
        self.assertEqual(self.versions(), [1])

    def test_uri_form(self):
        for fmt in ("text", "json"):
            with self.subTest(log_format=fmt):
                r = self.up(self.dir, "-v", "--log-format", fmt,
                            dsn=self.tcp_uri(PASSWORD_ROLE, PASSWORD))
                self.check(r, 1)
                self.assertEqual(self.versions(), [1])

    def test_database_url(self):
        r = self.up(self.dir, "-v", dsn=None,
                    env={"DATABASE_URL": self.tcp_uri(PASSWORD_ROLE, PASSWORD)})
        self.check(r, 1)
        self.assertEqual(self.versions(), [1])

    def test_status_and_check(self):
        dsn = self.tcp_uri(PASSWORD_ROLE, PASSWORD)
        for command, rc in (("status", 0), ("check", 5), ("plan", 0)):
            with self.subTest(command=command):
                r = self.run_migrator(command, "-v", "--dir", self.dir, dsn=dsn)
                self.check(r, rc)

    def test_unreachable_server_with_password(self):
        port = free_port()
        for dsn in ("host=127.0.0.1 port=%d dbname=x user=%s password=%s"
                    % (port, PASSWORD_ROLE, PASSWORD),
                    "postgresql://%s:%s@127.0.0.1:%d/x" % (PASSWORD_ROLE, PASSWORD, port)):
            with self.subTest(form="uri" if dsn.startswith("postgresql:") else "keyword"):
                r = self.up(self.dir, "-v", "--wait", "1s", dsn=dsn)
                self.check(r, 3)

    def test_invalid_dsn_with_password(self):
        for dsn in ("host=127.0.0.1 password=%s bogus_keyword=1" % PASSWORD,
                    "postgresql://%s:%s@[::1/x" % (PASSWORD_ROLE, PASSWORD)):
            with self.subTest(form="uri" if dsn.startswith("postgresql:") else "keyword"):
                r = self.up(self.dir, "-v", dsn=dsn)
                self.check(r, 2)

    def test_bad_option_with_password_in_dsn(self):
        r = self.up(self.dir, "--lock-timeout", "5", dsn=self.tcp_uri(PASSWORD_ROLE, PASSWORD))
        self.check(r, 2)


# --------------------------------------------------------------------------
# check, plan, status
# --------------------------------------------------------------------------

class ReportTest(MigratorTestCase):

    FILES = {"1_a.sql": "CREATE TABLE a (id int);\n",
             "2_b.sql": "CREATE TABLE b (id int);\n"}

    def test_check_before_and_after_up(self):
        d = self.make_dir(self.FILES)
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 5)
        self.assertLastLineMatches(
            r, r"schema out of date: 2 pending \(first: 1_a\) \u2014 run \"migrator up\"")
        self.assertFalse(self.table_exists("a"))
        self.assertExit(self.up(d), 0)
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 0)
        self.assertNoLine(r, ERROR_PREFIX)

    def test_plan_creates_nothing(self):
        d = self.make_dir(self.FILES)
        r = self.run_migrator("plan", "--dir", d)
        self.assertExit(r, 0)
        output = r.stdout + r.stderr
        self.assertIn("1_a", output)
        self.assertIn("2_b", output)
        self.assertNothingCreated(r, "a", "b")

    def test_plan_after_partial_apply(self):
        d = self.make_dir({"1_a.sql": self.FILES["1_a.sql"]})
        self.assertExit(self.up(d), 0)
        self.write(d, "2_b.sql", self.FILES["2_b.sql"])
        r = self.run_migrator("plan", "--dir", d)
        self.assertExit(r, 0)
        self.assertIn("2_b", r.stdout + r.stderr)
        self.assertFalse(self.table_exists("b"))
        self.assertEqual(self.versions(), [1])

    def test_status(self):
        d = self.make_dir({"1_a.sql": self.FILES["1_a.sql"]})
        self.assertExit(self.up(d), 0)
        self.write(d, "2_b.sql", self.FILES["2_b.sql"])
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        output = r.stdout + r.stderr
        self.assertRegex(output, r"(?m)^.*\b1\b.*applied")
        self.assertRegex(output, r"(?m)^.*\b2\b.*pending")
        self.assertFalse(self.table_exists("b"))

    def test_status_on_a_fresh_database_creates_nothing(self):
        d = self.make_dir(self.FILES)
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        output = r.stdout + r.stderr
        self.assertRegex(output, r"(?m)^.*\b1\b.*pending")
        self.assertRegex(output, r"(?m)^.*\b2\b.*pending")
        self.assertNothingCreated(r, "a", "b")


# --------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------

class SignalTest(MigratorTestCase):

    def interrupt(self, sig, expected_rc):
        d = self.make_dir({
            "1_slow.sql": "CREATE TABLE before_sleep (id int);\n"
                          "DO $$ BEGIN PERFORM pg_sleep(30); END $$;\n"
                          "CREATE TABLE after_sleep (id int);\n",
        })
        proc = self.start_migrator("up", "--dir", d)
        self.wait_for_backend(proc, "%pg_sleep(30)%")
        proc.send_signal(sig)
        r = self.finish(proc, timeout=60)
        self.assertExit(r, expected_rc)
        self.assertNoLine(r, SUCCESS)
        self.assertLastLineMatches(r, ERROR_PREFIX)
        self.assertFalse(self.table_exists("before_sleep"), "the migration was not rolled back")
        self.assertFalse(self.table_exists("after_sleep"))
        self.assertEqual(self.versions(), [])
        # The server stopped working on it too (the query was cancelled, not
        # left sleeping behind a dead client).
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() AND query LIKE %s",
                (self.dbname, "%pg_sleep(30)%")):
            time.sleep(0.1)
        self.assertEqual(self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE %s",
            (self.dbname, "%pg_sleep(30)%")), 0)

    def test_sigterm_during_a_migration(self):
        self.interrupt(signal.SIGTERM, 143)

    def test_sigint_during_a_migration(self):
        self.interrupt(signal.SIGINT, 130)


if __name__ == "__main__":
    unittest.main()
