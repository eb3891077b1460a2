"""
reliability.py
    The shared base of the reliability suite: the integration harness
    (toolkit_test.py) plus clusters of a test's own, pgbench runs, pg_locks
    sampling and the figures a run reports.

Nothing here asserts on time.  Deadlines only guard against a hang; the
figures (latency percentiles, counts) are printed and, when
RELIABILITY_REPORT names a file, appended to it as JSON lines so that
docs/RELIABILITY.md can quote a real run.

Environment knobs (defaults keep the whole label to a few minutes on 2 cores):
    RELIABILITY_KILLS     SIGKILLs of the migrator (50)
    RELIABILITY_SECONDS   duration of each pgbench phase (8)
    RELIABILITY_SCALE     pgbench scale factor (2)
    RELIABILITY_CLIENTS   pgbench clients (4)
    RELIABILITY_SEED      random seed of the kill test (random; printed)
    RELIABILITY_REPORT    file to append the figures to (JSON lines)

tests/reliability/reliability.py
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "harness"))

import psycopg2  # noqa: E402

import cluster as harness  # noqa: E402
from toolkit_test import ToolkitTestCase  # noqa: E402

ERROR_MIGRATOR = r"^migrator: error: "
ERROR_INDEXER = r"^indexer: error: "
DEADLINE = 180  # seconds; only a guard against a hang, never an assertion


def knob(name, default):
    v = os.environ.get(name)
    return int(v) if v else default


KILLS = knob("RELIABILITY_KILLS", 50)
SECONDS = knob("RELIABILITY_SECONDS", 8)
SCALE = knob("RELIABILITY_SCALE", 2)
CLIENTS = knob("RELIABILITY_CLIENTS", 4)


def report(kind, **figures):
    """Print figures and append them to $RELIABILITY_REPORT (JSON lines)."""
    figures = dict(kind=kind, **figures)
    line = json.dumps(figures, sort_keys=True)
    print("reliability: " + line, file=sys.stderr, flush=True)
    path = os.environ.get("RELIABILITY_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def percentiles(values):
    """p50, p99 and max of a list of numbers (nearest rank); Nones if empty."""
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    v = sorted(values)

    def rank(p):
        return v[min(len(v) - 1, max(0, int(round(p * len(v) + 0.5)) - 1))]

    return {"n": len(v), "p50": rank(0.50), "p99": rank(0.99), "max": v[-1]}


class OwnCluster:
    """A throwaway cluster of one test, started with the harness's own code
    (tests/harness/cluster.py) on a free loopback port; stop() removes it."""

    def __init__(self, extra_conf=None):
        self.dir = tempfile.mkdtemp(prefix="tkrel_")
        try:
            self._start(extra_conf)
        except BaseException as e:
            # Nobody holds this object yet to stop it: a server that came up
            # before the failure (a role, a restart) must not outlive us.
            self.stop()
            if isinstance(e, SystemExit):
                raise RuntimeError("could not start a cluster of our own (%s)" % e)
            raise

    def _start(self, extra_conf):
        harness.cmd_start(self.dir)
        self.state = harness.read_state(self.dir)
        self.host = self.state["host"]
        self.port = int(self.state["port"])
        self.datadir = self.state["datadir"]
        self.bindir = self.state["bindir"]
        self.runas = harness.RunAs()
        if extra_conf:
            self.configure(extra_conf)
            self.pg_ctl("restart", "-m", "fast")

    def configure(self, settings):
        with open(os.path.join(self.datadir, "postgresql.conf"), "a", encoding="utf-8") as f:
            for k, v in settings.items():
                f.write("%s = %s\n" % (k, v))

    def pg_ctl(self, *args):
        """Run pg_ctl on this cluster (waiting); returns the CompletedProcess."""
        argv = [os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-w", "-t", "120"]
        argv += list(args)
        if args and args[0] in ("start", "restart"):
            argv += ["-l", self.state["logfile"]]
        return self.runas.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        harness.cmd_stop(self.dir, quiet=True)
        harness.rmtree(self.dir)


class ReliabilityCase(ToolkitTestCase):
    """A ToolkitTestCase; with own_cluster = True (or a dict of settings) each
    test gets a cluster of its own, stopped and removed after the test.  With
    class_cluster = True (or a dict of settings) the class gets one cluster of
    its own, self.cl, shared by its tests (each still has its own database)
    and stopped after the last of them, or when the class's set-up fails."""

    own_cluster = False
    class_cluster = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.class_cluster:
            settings = cls.class_cluster if isinstance(cls.class_cluster, dict) else None
            cls.cl = OwnCluster(settings)
            # Class cleanups run after tearDownClass and also when
            # setUpClass raises later on (a subclass's extra set-up).
            cls.addClassCleanup(cls.cl.stop)
            cls.host, cls.port = cls.cl.host, cls.cl.port

    def setUp(self):
        if self.own_cluster:
            settings = self.own_cluster if isinstance(self.own_cluster, dict) else None
            self.cl = OwnCluster(settings)
            # Registered before the base class's cleanups, so it runs after
            # them all (last in, first out), even when setUp fails later.
            self.addCleanup(self.cl.stop)
            self.host, self.port = self.cl.host, self.cl.port
        super().setUp()

    def _drop_database(self, close=True):
        if self.own_cluster and close:
            # The whole cluster goes; its admin connection may be long dead.
            try:
                self._admin.close()
            except psycopg2.Error:
                pass
            return
        super()._drop_database(close)

    def reset_query_conn(self):
        """Forget the helper connection (after a restart or termination)."""
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
        self._conn = None

    def wait_until(self, fn, what, timeout=DEADLINE):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = fn()
            if value:
                return value
            time.sleep(0.05)
        self.fail("gave up waiting for %s" % what)

    def other_backends(self):
        """Client backends of the test database other than the helper's."""
        return self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                           "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                           (self.dbname,))

    def invalid_indexes(self):
        return self.query("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "WHERE NOT (i.indisvalid AND i.indisready) ORDER BY 1")

    # ---- pgbench ------------------------------------------------------------

    def pgbench_argv(self, *args):
        bindir = harness.find_bindir()
        return [os.path.join(bindir, "pgbench"), "-h", self.host, "-p", str(self.port),
                "-U", self.superuser] + list(args) + [self.dbname]

    def pgbench_init(self, scale=SCALE):
        r = subprocess.run(self.pgbench_argv("-i", "-q", "-s", str(scale)),
                           env=harness.clean_env(), capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)

    def start_pgbench(self, seconds=SECONDS, clients=CLIENTS, extra=()):
        """Start pgbench (TPC-B) logging every transaction; finish_pgbench."""
        logdir = tempfile.mkdtemp(prefix="tkbench_")
        self.addCleanup(harness.rmtree, logdir)
        argv = self.pgbench_argv("-n", "-c", str(clients), "-j", "2", "-T", str(seconds),
                                 "-l", "--log-prefix", os.path.join(logdir, "tx"),
                                 *extra)
        env = harness.clean_env()
        env["PGAPPNAME"] = "pgbench"
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(self._reap, proc)
        proc.logdir = logdir
        return proc

    def finish_pgbench(self, proc):
        """Wait for pgbench; assert it ran every transaction without an error.
        Returns the per-transaction latencies in milliseconds; proc.ends
        holds (end time, latency) pairs for figures over a time window."""
        out, err = proc.communicate(timeout=DEADLINE + SECONDS)
        text = out + err
        self.assertEqual(proc.returncode, 0, "pgbench failed:\n" + text)
        failed = re.search(r"number of failed transactions: (\d+)", text)
        self.assertIsNotNone(failed, text)
        self.assertEqual(int(failed.group(1)), 0, text)
        self.assertNotRegex(text, r"(?m)^pgbench: error", text)
        lat = []
        proc.ends = []
        for name in os.listdir(proc.logdir):
            with open(os.path.join(proc.logdir, name), encoding="utf-8") as f:
                for line in f:
                    fields = line.split()
                    # client tx_no latency_us script_no epoch_s epoch_us;
                    # a failed or skipped transaction has no number here.
                    self.assertRegex(fields[2], r"^\d+$", "pgbench logged a failure: " + line)
                    lat.append(int(fields[2]) / 1000.0)
                    proc.ends.append((int(fields[4]) + int(fields[5]) / 1e6, lat[-1]))
        self.assertTrue(lat, "pgbench logged no transaction:\n" + text)
        return lat


class LockSampler:
    """Samples pg_locks on a connection of its own until stopped: every
    ungranted lock of the database with the pids blocking it."""

    QUERY = ("SELECT l.pid, a.application_name, l.locktype, l.mode, "
             "l.relation::regclass::text, l.waitstart, pg_blocking_pids(l.pid), "
             "clock_timestamp() "
             "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
             "WHERE NOT l.granted AND a.datname = current_database()")

    def __init__(self, dsn, extra=None):
        self.conn = psycopg2.connect(dsn, application_name="lock_sampler")
        self.conn.autocommit = True
        self.extra = extra  # optional query run at each sample: rows kept too
        self.samples = []  # (rows, extra rows)
        self.error = None
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self._sample()
        except psycopg2.Error as e:  # reported by stop(): no silent gap
            self.error = e

    def _sample(self):
        with self.conn.cursor() as cur:
            while not self.stop_flag.is_set():
                # QUERY and extra in one transaction: PostgreSQL reads the
                # backends' status (pg_stat_activity) once per transaction,
                # so extra sees the same backends as QUERY's join.  Apart,
                # a migrator that committed and exited between the two
                # showed as a blocker that extra no longer listed.
                if self.extra:
                    cur.execute("BEGIN")
                cur.execute(self.QUERY)
                rows = cur.fetchall()
                extra = []
                if self.extra:
                    cur.execute(self.extra)
                    extra = cur.fetchall()
                    cur.execute("COMMIT")
                self.samples.append((rows, extra))
                time.sleep(0.01)

    def stop(self):
        """Stop sampling; the samples.  Raises if sampling failed midway."""
        if self.stop_flag.is_set():
            return self.samples
        self.stop_flag.set()
        self.thread.join(30)
        self.conn.close()
        if self.error is not None:
            raise RuntimeError("pg_locks sampling failed: %s" % self.error)
        return self.samples
