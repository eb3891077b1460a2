"""
test_a10_signals.py
    Issue 10, "Signals and connecting" on the waits added after it was built
    (issue 13: pipelined batches, the COMMIT that rides in front of the next
    batch; issue 15: the replica guard's lag wait, the metrics push, retry
    backoff; the --wait start-up loop): SIGTERM during each ends the run
    within a few seconds, with 143 and a message that says what happened,
    and the catalog shows nothing half-done.

    Networks that misbehave are simulated on loopback only (a listener that
    accepts and never answers; a proxy that goes silent), with the helpers of
    test_operator_control.  PROMPT is the bound asserted from the signal to
    the exit: "a few seconds", well below the 12s backstop, so that a wait
    that only the backstop ends fails here.

tests/integration/test_a10_signals.py
"""

import os
import re
import signal
import socket
import sys
import time
import unittest

from test_operator_control import ERROR, OperatorControlCase, kv
from test_wait_startup import StartupDropper

PROMPT = 8  # seconds from SIGTERM to exit: CANCEL_CONFIRM_MS (3s) plus slack on a loaded machine
WARN = r"(?m)^(migrator|indexer): warning: "
NO_PROXY = {"http_proxy": None, "HTTP_PROXY": None, "https_proxy": None, "HTTPS_PROXY": None,
            "all_proxy": None, "ALL_PROXY": None, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}


def definition(name, table, column, critical=False):
    return ('  { name = "%s"; table = "%s"; critical = %s;\n'
            '    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)"; }'
            % (name, table, "true" if critical else "false", name, table, column))


class SignalCase(OperatorControlCase):

    def config(self, *defs):
        d = self.make_dir({"indexes.cfg": "indexes = (\n%s\n);\n" % ",\n".join(defs)})
        return os.path.join(d, "indexes.cfg")

    def sigterm(self, proc):
        """SIGTERM, then the result and the seconds the program took to exit."""
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        r = self.finish(proc, timeout=30)
        return r, time.monotonic() - started

    def assertPrompt(self, r, took, bound=PROMPT):
        sys.stderr.write("[%s: exit %.1fs after SIGTERM] " % (self._testMethodName, took))
        self.assertLess(took, bound, "exit took %.1fs after SIGTERM\n%s" % (took, r.describe()))
        self.assertNoLine(r, r"still running 12s after the signal")

    def index_exists(self, name):
        return self.scalar("SELECT count(*) FROM pg_class WHERE relname = %s", (name,)) > 0


# --------------------------------------------------------------------------
# the metrics push (issue 15): a Pushgateway that accepts and never answers
# --------------------------------------------------------------------------

class MetricsPushTest(SignalCase):

    def push_url(self, listener):
        return "http://127.0.0.1:%d/metrics/job/a10" % listener.port

    def test_migrator_sigterm_during_a_push_to_a_silent_gateway(self):
        listener = self.listener()
        d = self.migrations()
        proc = self.start_migrator("up", "--dir", d, "--metrics-push", self.push_url(listener), env=NO_PROXY)
        self.assertTrue(listener.wait_accepted(), "the push never connected")
        time.sleep(0.3)
        r, took = self.sigterm(proc)
        self.assertExit(r, 143)
        self.assertPrompt(r, took)
        self.assertLastLineMatches(r, ERROR + r"interrupted by SIGTERM while pushing the metrics to "
                                          r"\"http://127\.0\.0\.1:\d+/metrics/job/a10\"")
        # the run's own work was done before the push, and stays done
        self.assertTrue(self.table_exists("a"))
        self.assertEqual(self.history_versions(), [1])

    def test_indexer_sigterm_during_a_push_to_a_silent_gateway(self):
        listener = self.listener()
        self.query("CREATE TABLE t (a int)")
        cfg = self.config(definition("t_a", "t", "a"))
        proc = self.start_indexer("build", "-c", cfg, "--metrics-push", self.push_url(listener), env=NO_PROXY)
        self.assertTrue(listener.wait_accepted(), "the push never connected")
        time.sleep(0.3)
        r, took = self.sigterm(proc)
        self.assertExit(r, 143)
        self.assertPrompt(r, took)
        self.assertLastLineMatches(r, ERROR + r"interrupted by SIGTERM while pushing the metrics")
        self.assertTrue(self.index_exists("t_a"))

    def test_a_push_to_a_silent_gateway_is_bounded(self):
        """No signal at all: the push gives up at its own timeout (30s), exit 1."""
        listener = self.listener()
        d = self.migrations()
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        started = time.monotonic()
        r = self.run_migrator("check", "--dir", d, "--metrics-push", self.push_url(listener), env=NO_PROXY,
                              timeout=60)
        took = time.monotonic() - started
        self.assertExit(r, 1)
        self.assertTrue(listener.accepted)
        self.assertGreater(took, 25, r.describe())
        self.assertLess(took, 45, r.describe())
        self.assertStderrMatches(r, ERROR + r"could not push the metrics to \"http://127\.0\.0\.1:\d+/metrics/"
                                         r"job/a10\": .*timed out after 30\d\d\d milliseconds")
        self.assertLastLineMatches(r, ERROR + r"exit 1: the run succeeded but its metrics were not delivered")


# --------------------------------------------------------------------------
# the replica guard's wait (--replica-lag-wait, default 5 minutes)
# --------------------------------------------------------------------------

class ReplicaGuardWaitTest(SignalCase):

    def test_sigterm_while_the_guard_waits(self):
        slot = "tk_a10_" + self.dbname
        self.query("SELECT pg_create_physical_replication_slot(%s, true) IS NULL", (slot,))
        self.addCleanup(self.query, "SELECT pg_drop_replication_slot(%s) IS NULL", (slot,))
        self.query("CREATE TABLE s (id int, v int)")
        self.query("INSERT INTO s SELECT g, g FROM generate_series(1, 40000) g")
        cfg = self.config(definition("idx_s_v", "s", "v", critical=True))
        proc = self.start_indexer("build", "-c", cfg, "--max-slot-wal", "1MB", "--max-runtime", "1h")
        self.wait_for_stderr(proc, r'"idx_s_v" waits for the replicas: inactive replication slot')
        time.sleep(0.5)
        r, took = self.sigterm(proc)
        self.assertExit(r, 143)
        self.assertPrompt(r, took)
        self.assertStderrMatches(r, WARN + r'"idx_s_v" on "public.s" not started: interrupted by SIGTERM while it '
                                    r'waited for the replicas \(replica guard, waited [^)]+\)$')
        self.assertStderrMatches(r, r"summary: .* 0 skipped, 1 interrupted, ")
        self.assertFalse(self.index_exists("idx_s_v"))


# --------------------------------------------------------------------------
# retry backoff
# --------------------------------------------------------------------------

class BackoffTest(SignalCase):

    def test_migrator_sigterm_during_the_backoff(self):
        self.query("CREATE TABLE t (id int)")
        d = self.migrations({"1_add.sql": "ALTER TABLE t ADD COLUMN c int;\n"})
        holder = self.hold_lock(["LOCK TABLE t IN ACCESS SHARE MODE"])
        proc = self.start_migrator("up", "--dir", d, "--lock-timeout", "1s", "--retries", "10")
        self.wait_for_stderr(proc, r"rolled back, retrying in ")
        r, took = self.sigterm(proc)
        holder.rollback()
        self.assertExit(r, 143)
        self.assertPrompt(r, took)
        self.assertStderrMatches(r, ERROR + r"interrupted by SIGTERM")
        self.assertFalse(self.column_exists("t", "c"))
        self.assertEqual(self.history_versions(), [])

    def test_indexer_sigterm_during_the_backoff(self):
        self.query("CREATE TABLE t (a int)")
        cfg = self.config(definition("idx_t", "t", "a"))
        holder = self.hold_lock(["LOCK TABLE t IN SHARE MODE"])
        proc = self.start_indexer("build", "-c", cfg, "--lock-timeout", "1s", "--retries", "20")
        self.wait_for_stderr(proc, r'"idx_t" on "public.t": gave up waiting for a lock .*; retrying in ')
        r, took = self.sigterm(proc)
        holder.rollback()
        self.assertExit(r, 143)
        self.assertPrompt(r, took)
        self.assertFalse(self.index_exists("idx_t"))


# --------------------------------------------------------------------------
# the pipelined batch and the riding COMMIT on a network gone silent
# --------------------------------------------------------------------------

class PipelineSilentTest(SignalCase):

    def start_frozen(self, files, pattern):
        proxy = self.proxy()
        dsn = kv(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user="postgres")
        proc = self.start_migrator("up", "--dir", self.migrations(files), "--verbose", dsn=dsn)
        self.wait_for_backend(proc, pattern)
        proxy.freeze()
        time.sleep(0.2)
        return proc

    def test_sigterm_during_a_pipelined_batch_on_a_silent_network(self):
        proc = self.start_frozen({"1_slow.sql": "CREATE TABLE pbefore (id int);\n"
                                                "CREATE TABLE pmiddle (id int);\n"
                                                "DO $$ BEGIN PERFORM pg_sleep(60); END $$;\n"
                                                "CREATE TABLE pafter (id int);\n"}, "%pg_sleep(60)%")
        r, took = self.sigterm(proc)
        self.assertExit(r, 143)
        self.assertPrompt(r, took)
        self.assertTrue(any(re.search(r"1_slow: \d+ statements in one pipeline", ln) for ln in r.lines),
                        r.describe())
        self.assertLastLineMatches(r, ERROR + r"interrupted by SIGTERM during migration 1 .*"
                                          r"cancel not confirmed; nothing was committed")
        self.assertNoLine(r, r"rolled back")
        # the server ends the abandoned session and rolls it back
        self.wait_until_no_backend("%pg_sleep(60)%")
        for t in ("pbefore", "pmiddle", "pafter"):
            self.assertFalse(self.table_exists(t), t)
        self.assertEqual(self.history_versions(), [])

    def test_sigterm_during_a_batch_that_rides_a_commit_on_a_silent_network(self):
        proc = self.start_frozen({"1_q.sql": "CREATE TABLE rq1 (id int);\n",
                                  "2_slow.sql": "CREATE TABLE rbefore (id int);\n"
                                                "DO $$ BEGIN PERFORM pg_sleep(60); END $$;\n"
                                                "CREATE TABLE rafter (id int);\n"}, "%pg_sleep(60)%")
        r, took = self.sigterm(proc)
        self.assertExit(r, 143)
        self.assertPrompt(r, took)
        self.assertRides(r, "2_slow", "1_q")
        self.assertLastLineMatches(r, ERROR + r"interrupted by SIGTERM during migration 2 .*"
                                          r"cancel not confirmed; nothing was committed")
        # the blocker sampler's side connection, cut short by the signal, is no error of the run
        self.assertNoLine(r, r"^migrator: (error|warning): .*(while connecting|could not open a second connection)")
        self.wait_until_no_backend("%pg_sleep(60)%")
        self.assertFalse(self.table_exists("rbefore"))
        self.assertFalse(self.table_exists("rafter"))
        # 1's COMMIT ran on the server before 2's statements: whatever the
        # client heard of it, the message must not claim that nothing of
        # this run was committed unless 1 was reported applied first
        committed = self.history_versions()
        self.assertEqual(committed, [1])
        self.assertTrue(self.table_exists("rq1"))
        heard = any(re.search(r"applied 1_q in \d+ms", ln) for ln in r.lines)
        if not heard:
            self.assertStderrMatches(r, r"1_q.*(may|not known|unknown)", r.describe())

    SLOW_TRIGGER = ("CREATE FUNCTION public.c1_sleep() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN PERFORM pg_catalog.pg_sleep(4); RETURN NULL; END $$;\n"
                    "CREATE CONSTRAINT TRIGGER c1_t AFTER INSERT ON c1 DEFERRABLE INITIALLY DEFERRED "
                    "FOR EACH ROW EXECUTE FUNCTION public.c1_sleep();\n")

    def assertCommitUnknown(self, r):
        """The network went silent while 1's COMMIT (slowed by a deferred
        trigger) was in flight: the run cannot know whether 1 committed and
        must not say that nothing was; the server then finishes it."""
        self.assertExit(r, 143)
        self.assertNoLine(r, r"applied 1_slowcommit")
        self.assertNoLine(r, r"nothing was committed")
        self.assertNoLine(r, r"while connecting")
        self.assertLastLineMatches(r, ERROR + r"interrupted by SIGTERM: migration 1: the server did not answer while "
                                          r"its COMMIT was in flight \(cancel not confirmed\): the outcome is "
                                          r"unknown; run \"migrator status\"")
        self.wait_until(lambda: self.history_versions() == [1], "1's COMMIT to finish on the server")
        self.assertEqual(self.scalar("SELECT count(*) FROM c1"), 1)
        self.assertFalse(self.table_exists("c2"))

    def test_sigterm_while_a_commit_is_unanswered(self):
        """The statement-by-statement path: COMMIT and the session reset in one round trip."""
        proc = self.start_frozen({
            "1_slowcommit.sql": "-- migrator:allow-dml\nCREATE TABLE c1 (id int);\n" + self.SLOW_TRIGGER
                                + "INSERT INTO c1 VALUES (1);\n",
            "2_q.sql": "CREATE TABLE c2 (id int);\n"}, "COMMIT%")
        r, took = self.sigterm(proc)
        self.assertPrompt(r, took)
        self.assertCommitUnknown(r)

    def assertRides(self, r, stem, behind):
        self.assertTrue(any(re.search(r"\b%s: \d+ statements in one pipeline, behind the COMMIT of %s$"
                                      % (re.escape(stem), re.escape(behind)), ln) for ln in r.lines),
                        "%s did not ride behind %s\n%s" % (stem, behind, r.describe()))

    def wait_until(self, cond, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.2)
        self.fail("timed out waiting for %s" % what)

    def wait_until_no_backend(self, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                               "AND pid <> pg_backend_pid() AND query LIKE %s", (self.dbname, pattern)):
                return
            self.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                       "AND pid <> pg_backend_pid() AND query LIKE %s", (self.dbname, pattern))
            time.sleep(0.1)
        self.fail("a backend still runs %r" % pattern)


class IndexerSilentTest(SignalCase):

    def test_indexer_sigterm_on_a_silent_network_is_prompt(self):
        """test_operator_control's case under the tighter bound: no clean-up or
        history write after the signal may wait for the silent server."""
        self.query("CREATE TABLE t (a int)")
        self.hold_lock(["SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", "SELECT count(*) FROM t"])
        cfg = self.config(definition("t_a", "t", "a"))
        proxy = self.proxy()
        dsn = kv(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user="postgres")
        proc = self.start_indexer("build", "-c", cfg, dsn=dsn)
        self.wait_for_backend(proc, "CREATE INDEX CONCURRENTLY%")
        proxy.freeze()
        time.sleep(0.2)
        r, took = self.sigterm(proc)
        self.assertExit(r, 143)
        self.assertPrompt(r, took, bound=10.5)
        self.assertStderrMatches(r, WARN + r'"t_a" on "public.t" interrupted: ')
        self.assertStderrMatches(r, r"summary: .* 1 interrupted, ")


class SamplerReuseTest(SignalCase):

    def test_the_sampler_opens_one_side_connection_per_run(self):
        """Three attempts, each waiting on a lock with blockers sampled: the
        run's backends are its main connection, its run lock's and one
        sampler connection, the same all along."""
        self.query("CREATE TABLE t (id int)")
        d = self.migrations({"1_add.sql": "ALTER TABLE t ADD COLUMN c int;\n"})
        holder = self.hold_lock(["LOCK TABLE t IN ACCESS SHARE MODE"], application_name="sampled_holder")
        proc = self.start_migrator("up", "--dir", d, "--lock-timeout", "2s", "--retries", "2")
        pids = set()
        while proc.poll() is None:
            pids.update(r[0] for r in self.query(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = 'migrator'",
                (self.dbname,)))
            time.sleep(0.05)
        r = self.finish(proc)
        holder.rollback()
        self.assertExit(r, 1)
        self.assertEqual(len([ln for ln in r.lines if "retrying in" in ln]), 2, r.describe())
        self.assertStderrMatches(r, r"sampled_holder")
        self.assertEqual(len(pids), 3, "backends of the run: %r\n%s" % (sorted(pids), r.describe()))
        self.assertFalse(self.column_exists("t", "c"))


# --------------------------------------------------------------------------
# catalog reads under a lock, on the drift fast path and in plan
# --------------------------------------------------------------------------

class CatalogLockTest(SignalCase):

    def test_locked_table_on_the_fast_path_and_in_plan(self):
        """Definitions written as the server prints them (drift's fast path)
        on two tables, one locked ACCESS EXCLUSIVE: check, plan and status end
        within --lock-timeout, name the holder, and count that table's
        definition as unknown (check: exit 5), the other in line."""
        defs = []
        for t in ("t1", "t2"):
            self.query("CREATE TABLE %s (id int, a int)" % t)
            self.query("CREATE INDEX idx_%s ON %s USING btree (a)" % (t, t))
            defs.append('  { name = "idx_%s"; table = "%s"; critical = true;\n'
                        '    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_%s ON %s USING btree (a)"; }'
                        % (t, t, t, t))
        cfg = self.config(*defs)
        r = self.run_indexer("check", "-c", cfg)
        self.assertExit(r, 0)
        holder = self.hold_lock("LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE", application_name="migration")
        pid = self.backend_pid(holder)
        holder_re = r'pid %d \(application "migration", idle in transaction: LOCK TABLE t1 IN ACCESS ' \
                    r'EXCLUSIVE MODE\) holds ACCESS EXCLUSIVE' % pid
        # plan says what build would do: a critical definition whose state is unknown fails it (exit 1)
        for command, rc in (("check", 5), ("plan", 1), ("status", 0)):
            with self.subTest(command=command):
                started = time.monotonic()
                r = self.run_indexer(command, "-c", cfg, "--lock-timeout", "1s", timeout=60)
                self.assertLess(time.monotonic() - started, 20, r.describe())
                self.assertExit(r, rc)
                self.assertStderrMatches(r, WARN + r'could not read the definitions on "public.t1" within '
                                            r'--lock-timeout: ' + holder_re)
                if command == "check":
                    self.assertLastLineMatches(r, r"check: 1 of 2 defined indexes are not in line")
                    self.assertNoLine(r, r'"idx_t2"')
                elif command == "plan":
                    self.assertRegex(r.stdout, r"(?m)^unknown +idx_t1 on public\.t1 \(critical\): cannot compare: "
                                     r"pid %d " % pid)
                    self.assertRegex(r.stdout, r"(?m)^present +idx_t2 on public\.t2 ")
                    self.assertLastLineMatches(r, ERROR + r"plan: 1 critical index cannot be built: build would "
                                                          r"exit 1")
                else:
                    self.assertRegex(r.stdout, r"(?m)^.*unknown.*idx_t1|^idx_t1 .*unknown")
                    self.assertNotRegex(r.stdout, r"(?m)^.*unknown.*idx_t2|^idx_t2 .*unknown")
        holder.rollback()
        self.assertExit(self.run_indexer("check", "-c", cfg), 0)


# --------------------------------------------------------------------------
# the --wait start-up loops
# --------------------------------------------------------------------------

class WaitLoopTest(SignalCase):

    def closed_port(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def test_sigterm_while_waiting_for_a_server_that_is_down(self):
        dsn = kv(host="127.0.0.1", port=self.closed_port(), dbname=self.dbname, user="postgres")
        cfg = self.config(definition("i", "t", "a"))
        for program in ("migrator", "indexer"):
            with self.subTest(program=program):
                if program == "migrator":
                    proc = self.start_migrator("up", "--dir", self.migrations(), "--wait", "5min", dsn=dsn)
                else:
                    proc = self.start_indexer("build", "-c", cfg, "--wait", "5min", dsn=dsn)
                self.wait_for_stderr(proc, r"waiting for the server at ")
                r, took = self.sigterm(proc)
                self.assertExit(r, 143)
                self.assertPrompt(r, took)
                self.assertLastLineMatches(r, ERROR + r"interrupted by SIGTERM while waiting for the server")
        self.assertFalse(self.table_exists("a"))

    def test_sigterm_while_retrying_a_lost_start_up_batch(self):
        proxy = StartupDropper(self.tcp_host, self.port, 1000)
        self.addCleanup(proxy.close)
        dsn = kv(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.superuser,
                 sslmode="disable", gssencmode="disable")
        proc = self.start_migrator("up", "--dir", self.migrations(), "--wait", "5min", dsn=dsn)
        self.wait_for_stderr(proc, r"waiting for the server at ")
        r, took = self.sigterm(proc)
        self.assertExit(r, 143)
        self.assertPrompt(r, took)
        self.assertLastLineMatches(r, ERROR + r"interrupted by SIGTERM while waiting for the server")
        self.assertGreaterEqual(proxy.dropped, 1)
        self.assertFalse(self.table_exists("a"))
        self.assertEqual(self.history_versions(), [])


if __name__ == "__main__":
    unittest.main()
