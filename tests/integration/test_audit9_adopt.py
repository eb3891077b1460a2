"""
test_audit9_adopt.py
    Issue 9, parts 8 and 10, on the paths added after they were built: the
    operator's statement_timeout (DSN options, ALTER ROLE, ALTER DATABASE) on
    the riding batch, no-transaction files and requires-index builds; and a
    connection lost while the COMMIT of a held migration rides in front of
    the next migration's batch (a loopback proxy that forwards or withholds
    that write and cuts the connection), or while a slow COMMIT is still
    running on the server.

Each test asserts the exit code, the last line and the catalog/history state
together.

tests/integration/test_audit9_adopt.py
"""

import os
import re
import threading
import time
import unittest

from test_migrator import ERROR_PREFIX, MigratorTestCase
from toolkit_test import LoopbackProxy, conninfo


class CommitCutter(LoopbackProxy):
    """A loopback proxy in front of the server.  On the first write from the
    client that carries a COMMIT (and, with riding=True, a BEGIN in the same
    write: the held migration's COMMIT riding in front of the next batch),
    it either forwards that write (forward=True) or withholds it, waits
    `linger` seconds, then cuts both sides without relaying any reply."""

    def __init__(self, target_host, target_port, forward=True, riding=False, linger=0.5, down_for=0):
        self.forward = forward
        self.riding = riding
        self.linger = linger
        self.down_for = down_for  # after the cut, new connections are closed at once this long
        self.down_until = 0.0
        self.cut = threading.Event()
        self.cut_write = b""
        super().__init__(target_host, target_port)

    def accepted(self, link):
        if time.monotonic() < self.down_until:
            link.client.close()  # as a server that is down
            return False
        return True

    def _hit(self, data):
        if self.cut.is_set() or b"COMMIT\x00" not in data:
            return False
        return not self.riding or data.find(b"BEGIN\x00", data.find(b"COMMIT\x00")) >= 0

    def from_client(self, link, data):
        if not self._hit(data):
            link.server.sendall(data)
            return True
        self.cut_write = data
        self.down_until = time.monotonic() + self.down_for
        self.cut.set()
        if self.forward:
            link.server.sendall(data)
        time.sleep(self.linger)
        return False


class AuditCase(MigratorTestCase):

    def proxy(self, **kw):
        p = CommitCutter(self.tcp_host, self.port, **kw)
        self.addCleanup(p.close)
        dsn = conninfo(host="127.0.0.1", port=p.port, dbname=self.dbname, user=self.superuser,
                       sslmode="disable")
        return p, dsn

    def end_other_sessions(self):
        self.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                   "AND pid <> pg_backend_pid()", (self.dbname,))


# --------------------------------------------------------------------------
# Part 10: the COMMIT that rides in front of the next batch
# --------------------------------------------------------------------------

QUIET = {
    "1_a.sql": "CREATE TABLE a (id int);\n",
    "2_b.sql": "CREATE TABLE b (id int);\n",
    "3_c.sql": "CREATE TABLE c (id int);\n",
}


class RidingCommitLost(AuditCase):
    """Migration 1 is quiet and held; its COMMIT goes first in 2's write."""

    def test_reply_lost_after_the_riding_commit_reached_the_server(self):
        p, dsn = self.proxy(forward=True, riding=True)
        d = self.make_dir(QUIET)
        r = self.run_migrator("up", "--dir", d, "-v", dsn=dsn)
        self.assertTrue(p.cut.is_set(), r.describe())
        # the path claimed: 2's batch went behind 1's COMMIT, in one write
        self.assertStderrMatches(r, r"2_b: \d+ statements in one pipeline, behind the COMMIT of 1_a")
        self.assertIn(b"CREATE TABLE b", p.cut_write)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection lost during COMMIT; "
                                   r"reconnected: it WAS committed and is recorded as applied; "
                                   r"migration 2, queued behind that COMMIT, was not committed")
        self.assertNoLine(r, r"migration \d+ failed")
        self.assertNoLine(r, r"applied 2_b")
        self.assertEqual(self.versions(), [1])
        self.assertTrue(self.table_exists("a"))
        self.assertFalse(self.table_exists("b"))
        self.assertFalse(self.table_exists("c"))
        # the rerun applies 2 and 3 only
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1, 2, 3])

    def test_riding_commit_never_reached_the_server(self):
        p, dsn = self.proxy(forward=False, riding=True)
        d = self.make_dir(QUIET)
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertTrue(p.cut.is_set(), r.describe())
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection lost during COMMIT; "
                                   r"reconnected: it was NOT committed .*nothing of it is applied; "
                                   r"migration 2, queued behind that COMMIT, was not committed")
        self.assertNoLine(r, r"migration \d+ failed")
        self.assertNoLine(r, r"applied 1_a")
        self.assertEqual(self.versions(), [])
        for t in ("a", "b", "c"):
            self.assertFalse(self.table_exists(t), t)

    def test_reconnect_waits_up_to_wait(self):
        # the server "is down" for 3s after the cut: only --wait reaches it again
        p, dsn = self.proxy(forward=True, riding=True, down_for=3)
        d = self.make_dir(QUIET)
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertTrue(p.cut.is_set(), r.describe())
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection lost during COMMIT, and the server "
                                   r"could not be reached again: the outcome is unknown; migration 2, queued "
                                   r"behind that COMMIT, was not committed; run \"migrator status\"")
        self.assertNoLine(r, r"migration \d+ failed")
        self.assertEqual(self.versions(), [1])  # it was, in fact
        self.assertFalse(self.table_exists("b"))

        self.query("DROP TABLE a, schema_migrations")
        p, dsn = self.proxy(forward=True, riding=True, down_for=3)
        r = self.run_migrator("up", "--dir", d, "--wait", "30s", dsn=dsn)
        self.assertTrue(p.cut.is_set(), r.describe())
        self.assertExit(r, 3)
        self.assertStderrMatches(r, r"waiting for the server")
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection lost during COMMIT; "
                                   r"reconnected: it WAS committed and is recorded as applied; "
                                   r"migration 2, queued behind that COMMIT, was not committed")
        self.assertEqual(self.versions(), [1])
        self.assertFalse(self.table_exists("b"))

    def test_backend_terminated_in_the_riding_batch_after_the_commit_answered(self):
        # 1's COMMIT answers with 2's first statement; the second sleeps
        d = self.make_dir({
            "1_a.sql": "CREATE TABLE a (id int);\n",
            "2_b.sql": ("CREATE TABLE b (id int);\n"
                        "-- migrator:allow dml\n"
                        "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(60); END $$;\n"),
            "3_c.sql": "CREATE TABLE c (id int);\n",
        })
        proc = self.start_migrator("up", "--dir", d, "-v")
        self.wait_for_backend(proc, "%pg_sleep(60)%")
        self.end_other_sessions()
        r = self.finish(proc)
        self.assertStderrMatches(r, r"2_b: \d+ statements in one pipeline, behind the COMMIT of 1_a")
        self.assertExit(r, 3)
        self.assertStderrMatches(r, r"applied 1_a in \d+ms")
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 2: connection to the server lost at "
                                   r".*2_b\.sql:3 .*it was not committed and nothing is recorded")
        self.assertNoLine(r, r"migration \d+ failed")
        self.assertEqual(self.versions(), [1])
        self.assertTrue(self.table_exists("a"))
        self.assertFalse(self.table_exists("b"))


SLOW_COMMIT = (
    "-- migrator:allow-dml\n"
    "CREATE TABLE t (id int);\n"
    "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS\n"
    "  $$ BEGIN PERFORM pg_catalog.pg_sleep(2); RETURN NULL; END $$;\n"
    "CREATE CONSTRAINT TRIGGER t_slow AFTER INSERT ON t DEFERRABLE INITIALLY DEFERRED\n"
    "  FOR EACH ROW EXECUTE FUNCTION slow_commit();\n"
    "INSERT INTO t VALUES (1);\n"
)


class SlowCommitLost(AuditCase):
    """The COMMIT reached the server, which is still running it (a deferred
    trigger) when the client has reconnected: no row yet is not "NOT
    committed" while the old session is still there."""

    def test_commit_still_running_is_not_reported_as_not_committed(self):
        p, dsn = self.proxy(forward=True, linger=0)
        d = self.make_dir({"1_slow.sql": SLOW_COMMIT})
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertTrue(p.cut.is_set(), r.describe())
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection lost during COMMIT; "
                                   r"reconnected: it WAS committed and is recorded as applied")
        self.assertNoLine(r, r"NOT committed")
        self.assertEqual(self.versions("applied"), [1])
        self.assertEqual(self.scalar("SELECT count(*) FROM t"), 1)


# --------------------------------------------------------------------------
# Part 8: the operator's statement_timeout, on every path
# --------------------------------------------------------------------------

SLEEPER = "-- migrator:allow dml\nDO $$ BEGIN PERFORM pg_catalog.pg_sleep(3); END $$;\n"


class OperatorStatementTimeout(AuditCase):

    def role_bound(self):
        role = "bounded_" + self.dbname  # roles are the cluster's: one per test
        self.query("CREATE ROLE %s LOGIN SUPERUSER" % role)
        self.addCleanup(self.query, "DROP ROLE IF EXISTS %s" % role)
        self.addCleanup(self.query, "DROP OWNED BY %s" % role)
        self.query("ALTER ROLE %s SET statement_timeout = '1s'" % role)
        return conninfo(host=self.host, port=self.port, dbname=self.dbname, user=role)

    def test_role_setting_bounds_a_riding_batch(self):
        dsn = self.role_bound()
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_slow.sql": "CREATE TABLE slow (id int);\n" + SLEEPER})
        r = self.run_migrator("up", "--dir", d, "--retries", "0", "-v", dsn=dsn)
        self.assertStderrMatches(r, r"2_slow: \d+ statements in one pipeline, behind the COMMIT of 1_a")
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 2 failed at .*2_slow\.sql:3: 57014: ")
        self.assertEqual(self.versions("applied"), [1])
        self.assertFalse(self.table_exists("slow"))
        # only an explicit 0 lifts it
        r = self.run_migrator("up", "--dir", d, "--statement-timeout", "0", dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_database_setting_bounds_a_no_transaction_file(self):
        self.query("ALTER DATABASE %s SET statement_timeout = '1s'" % self.ident(self.dbname))
        d = self.make_dir({"1_slow.sql": ("-- migrator:no-transaction\n"
                                          "CREATE TABLE IF NOT EXISTS first (id int);\n" + SLEEPER)})
        r = self.run_migrator("up", "--dir", d, "--retries", "0")
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1 failed at .*1_slow\.sql:4: 57014: ")
        self.assertTrue(self.table_exists("first"))
        self.assertEqual(self.versions("applied"), [])
        self.assertEqual(self.versions("failed"), [1])
        r = self.run_migrator("up", "--dir", d, "--statement-timeout", "0")
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1])

    def test_dsn_options_bound_a_requires_index_build(self):
        # each row of the index costs 0.2s: the build takes about 4s
        self.query("CREATE FUNCTION slow_id(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS "
                   "$$ BEGIN PERFORM pg_catalog.pg_sleep(0.2); RETURN $1; END $$")
        self.query("CREATE TABLE w (id int)")
        self.query("INSERT INTO w SELECT g FROM generate_series(1, 20) g")
        cfg_dir = self.make_dir({"indexes.cfg": (
            'indexes = (\n  { name = "w_slow"; table = "w"; critical = true;\n'
            '    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS w_slow ON w (slow_id(id))"; }\n);\n')})
        cfg = os.path.join(cfg_dir, "indexes.cfg")
        d = self.make_dir({"1_req.sql": "-- migrator:requires-index w_slow\n"
                                        "COMMENT ON INDEX w_slow IS 'needed';\n"})
        dsn = self.dsn + " options='-c statement_timeout=1000'"
        r = self.run_migrator("up", "--dir", d, "--index-config", cfg, "--retries", "0", dsn=dsn)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"57014")
        self.assertEqual(self.versions("applied"), [])
        self.assertFalse(self.scalar("SELECT count(*) FROM pg_class WHERE relname = 'w_slow'"))
        # an explicit 0 means none
        r = self.run_migrator("up", "--dir", d, "--index-config", cfg, "--statement-timeout", "0", dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1])
        self.assertTrue(self.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'w_slow'::regclass"))


    def test_baseline_verify_keeps_the_bound(self):
        # a verify that takes seconds (bounds of 1s: the toolkit's own SQL runs under them too)
        d = self.make_dir({"1_u.sql": "CREATE TABLE u (id int);\n",
                           "1_u.verify.sql": "SELECT count(*) > 0 FROM generate_series(1, 20000000);\n"})
        self.query("CREATE TABLE u (id int)")
        for args, dsn in ((("--statement-timeout", "1s"), self.dsn),
                          ((), self.dsn + " options='-c statement_timeout=1000'")):
            with self.subTest(args=args, dsn=dsn):
                r = self.run_migrator("baseline", "--baseline-version", "1", "--dir", d, *args, dsn=dsn)
                self.assertExit(r, 1)
                self.assertLastLineMatches(r, r"^migrator: error: baseline refused, nothing recorded: the verify "
                                              r"of migration 1 failed at .*1_u\.verify\.sql:1: 57014: ")
                self.assertFalse(self.history_exists())
        r = self.run_migrator("baseline", "--baseline-version", "1", "--dir", d, "--statement-timeout", "0",
                              dsn=self.dsn + " options='-c statement_timeout=1000'")
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1])

class TimeoutOverrideLint(AuditCase):
    """Part 8's lint, through set_config with a computed setting name."""

    def test_computed_setting_name_is_a_timeout_override(self):
        d = self.make_dir({"1_t.sql": ("CREATE TABLE t (id int);\n"
                                       "SELECT pg_catalog.set_config(n, '0', true)\n"
                                       "  FROM (VALUES ('lock_timeout')) AS v(n);\n")})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"1_t.sql:2:1: warning timeout-override: set_config\(\.\.\., true\) of a "
                                   r"setting whose name cannot be read before it runs may remove or raise")
        r = self.run_migrator("up", "--dir", d, "--strict")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r"lint: \d+ errors? in the pending migrations; nothing applied")
        self.assertFalse(self.table_exists("t"))
        self.assertFalse(self.history_exists())

    def test_zero_through_execute_is_refused(self):
        for body in ("EXECUTE 'SET LOCAL lock_timeout = 0'",
                     "EXECUTE format('SELECT set_config(%L, %L, true)', 'statement_timeout', '0')"):
            with self.subTest(body=body):
                d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int);\nDO $$ BEGIN %s; END $$;\n" % body})
                r = self.run_migrator("up", "--dir", d)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, r"1_t.sql:2:1: (error )?timeout-override: in a DO block, .* to 0 "
                                            r"removes the bound")
                self.assertLastLineMatches(r, r"lint: \d+ errors? in the pending migrations; nothing applied")
                self.assertFalse(self.table_exists("t"))
                self.assertFalse(self.history_exists())


# --------------------------------------------------------------------------
# Part 9: baseline --from runs the verify files as --baseline-version does
# --------------------------------------------------------------------------

ADOPT = {
    "1_users.sql": "CREATE TABLE users (id int, email text);\n",
    "1_users.verify.sql": "SELECT count(*) = 1 FROM pg_catalog.pg_tables\n"
                          "WHERE schemaname = current_schema() AND tablename = 'users';\n",
    "2_users_name.sql": "ALTER TABLE users ADD COLUMN name text;\n",
    "2_users_name.verify.sql": "-- the column the application reads\n"
                               "SELECT count(*) = 1 FROM information_schema.columns\n"
                               "WHERE table_schema = current_schema() AND table_name = 'users'\n"
                               "  AND column_name = 'name';\n",
    "3_orders.sql": "CREATE TABLE orders (id int);\n",
}

FLYWAY_TABLE = ("CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), "
                "description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL, "
                "checksum int, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(), "
                "execution_time int NOT NULL, success boolean NOT NULL)")


class BaselineFromVerify(AuditCase):

    def target_re(self):
        return r"postgres@[^ ]*:%d/%s" % (self.port, re.escape(self.dbname))

    def notes(self):
        return self.query("SELECT version, status, baseline FROM schema_migrations ORDER BY 1")

    def flyway(self, *rows):
        self.query(FLYWAY_TABLE)
        for rank, version, ok in rows:
            self.query("INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, "
                       "installed_by, execution_time, success) VALUES (%s, %s, 'x', 'SQL', 'V.sql', 'me', 1, %s)",
                       (rank, version, ok))

    def test_from_flyway_failing_verify_refuses_and_skip_verify_is_recorded(self):
        d = self.make_dir(ADOPT)
        self.query("CREATE TABLE users (id int, email text)")  # 2's column is not here
        self.flyway((1, "1", True), (2, "2", True))
        r = self.run_migrator("baseline", "--from", "flyway", "--dir", d)
        self.assertExit(r, 1)
        verify = os.path.join(d, "2_users_name.verify.sql")
        self.assertLastLineMatches(r, r"^migrator: error: baseline refused, nothing recorded: the verify of "
                                      r"migration 2 failed at %s:2: verify query returned false in row 1; "
                                   % re.escape(verify))
        self.assertFalse(self.history_exists())
        self.assertEqual(self.scalar("SELECT count(*) FROM flyway_schema_history"), 2)
        r = self.run_migrator("baseline", "--from", "flyway", "--dir", d, "--skip-verify", "2")
        self.assertExit(r, 0)
        self.assertEqual(self.notes(), [(1, "applied", "from flyway; verify passed"),
                                        (2, "applied", "from flyway; verify skipped (--skip-verify)")])
        self.assertFalse(self.column_exists("users", "name"))

    def test_from_flyway_a_failed_row_is_not_recorded(self):
        d = self.make_dir(ADOPT)
        self.query("CREATE TABLE users (id int, email text)")
        self.flyway((1, "1", True), (2, "2", False))
        r = self.run_migrator("baseline", "--from", "flyway", "--dir", d)
        self.assertExit(r, 0)
        self.assertEqual(self.notes(), [(1, "applied", "from flyway; verify passed")])
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 5)
        self.assertLastLineMatches(r, r"schema out of date: 2 pending \(first: 2_users_name\)")

    def test_from_golang_migrate_no_verify_warns_and_is_recorded(self):
        d = self.make_dir(ADOPT)
        self.query("CREATE TABLE schema_migrations (version bigint NOT NULL, dirty boolean NOT NULL)")
        self.query("INSERT INTO schema_migrations VALUES (2, false)")
        r = self.run_migrator("baseline", "--from", "golang-migrate", "--dir", d)
        self.assertExit(r, 1)  # users is not there at all: the verify of 1 fails first
        self.assertLastLineMatches(r, r"baseline refused, nothing recorded: the verify of migration 1 failed")
        self.assertEqual(self.query("SELECT version, dirty FROM schema_migrations"), [(2, False)])
        self.assertFalse(self.table_exists("schema_migrations_golang_migrate"))
        r = self.run_migrator("baseline", "--from", "golang-migrate", "--dir", d, "--no-verify")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"^migrator: warning: --no-verify: recording 2 migrations without running "
                                    r"2 verify files; the history will say so$")
        self.assertEqual(self.notes(), [(1, "applied", "from golang-migrate; verify skipped (--no-verify)"),
                                        (2, "applied", "from golang-migrate; verify skipped (--no-verify)")])
        self.assertTrue(self.table_exists("schema_migrations_golang_migrate"))


if __name__ == "__main__":
    unittest.main()
