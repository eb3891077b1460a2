"""
test_metrics.py
    --metrics-file and --metrics-push of both programs (issue 15, Metrics):
    the Prometheus text each run leaves, parsed back and checked against the
    catalog (a missing index, a built one and its pg_relation_size, a failed
    migration), `promtool check metrics` on every file, the last success
    kept across a failed run, the atomic replacement (a read-only directory
    leaves the old file whole, with an error and exit 1), the two alert
    rules of docs/deployment.md run by `promtool test rules` (taken from the
    document, so it cannot drift), and a real prometheus-pushgateway on
    127.0.0.1 (PUT, and POST when a failed run knows no last success).

tests/integration/test_metrics.py
"""

import os
import re
import shutil
import socket
import stat
import subprocess
import time
import urllib.request

from toolkit_test import ToolkitTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOYMENT_MD = os.path.join(HERE, "..", "..", "docs", "deployment.md")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')

# no proxy of the machine may stand between the programs and 127.0.0.1
NO_PROXY = {"http_proxy": None, "HTTP_PROXY": None, "https_proxy": None, "HTTPS_PROXY": None,
            "all_proxy": None, "ALL_PROXY": None, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}


def unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(text):
    """{(name, frozenset of label pairs): value}, and {name: type}; fails on anything else."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if m is None:
            raise AssertionError("not a sample line: %r" % line)
        labels = {}
        if m.group(2):
            rest = m.group(2)
            for lm in LABEL.finditer(rest):
                labels[lm.group(1)] = unescape(lm.group(2))
        key = (m.group(1), frozenset(labels.items()))
        if key in samples:
            raise AssertionError("series twice: %r" % line)
        samples[key] = float(m.group(3))
    return samples, types


def value(samples, metric, /, **labels):
    """The value of the one series of metric whose labels include labels; None if none."""
    found = [v for (n, ls), v in samples.items() if n == metric and set(labels.items()) <= set(ls)]
    if len(found) > 1:
        raise AssertionError("%d series of %s match %r" % (len(found), metric, labels))
    return found[0] if found else None


def definition(name, table, column, critical=False):
    return ('  { name = "%s"; table = "%s"; critical = %s;\n'
            '    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)"; }'
            % (name, table, "true" if critical else "false", name, table, column))


def rules_block():
    """The ```yaml block of docs/deployment.md's Metrics section."""
    with open(DEPLOYMENT_MD, encoding="utf-8") as f:
        doc = f.read()
    section = doc.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    m = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert m, "docs/deployment.md: no ```yaml block in the Metrics section"
    return m.group(1)


class MetricsTestCase(ToolkitTestCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE m (id int, a int, b int)")
        self.query("INSERT INTO m SELECT g, g, g FROM generate_series(1, 5000) g")
        self.out = self.make_dir()

    def config(self, defs):
        d = self.make_dir({"indexes.cfg": "indexes = (\n%s\n);\n" % ",\n".join(defs)})
        return os.path.join(d, "indexes.cfg")

    def read(self, path):
        """The file parsed, after promtool check metrics accepted it."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.promtool_check(text)
        return parse(text)[0]

    def promtool_check(self, text):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool is not installed (Debian's prometheus package; scripts/deps.sh)")
        r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, "promtool check metrics: %s%s\n%s"
                         % (r.stdout.decode(), r.stderr.decode(), text))


class IndexerMetricsTest(MetricsTestCase):

    def test_check_reports_a_missing_critical_index(self):
        cfg = self.config([definition("idx_m_a", "m", "a", critical=True),
                           definition("idx_m_b", "m", "b")])
        self.query("CREATE INDEX idx_m_b ON m (b)")
        path = os.path.join(self.out, "indexer-check.prom")
        r = self.run_indexer("check", "-c", cfg, "--metrics-file", path)
        self.assertExit(r, 5)
        s = self.read(path)
        st = "pg_schema_indexer_index_state"
        self.assertEqual(value(s, st, name="idx_m_a", state="missing", critical="true", table="m",
                              schema="public", command="check"), 1)
        for other in ("present", "invalid", "drifted", "building", "unknown", "absent", "unwanted"):
            self.assertEqual(value(s, st, name="idx_m_a", state=other), 0, other)
        self.assertEqual(value(s, st, name="idx_m_b", state="present", critical="false"), 1)
        self.assertEqual(value(s, st, name="idx_m_b", state="missing"), 0)
        self.assertEqual(value(s, "pg_schema_indexer_last_run_exit_code", command="check"), 5)
        self.assertAlmostEqual(value(s, "pg_schema_indexer_last_run_timestamp_seconds"), time.time(), delta=60)
        # 5 is no success, and no earlier file knew one
        self.assertIsNone(value(s, "pg_schema_indexer_last_success_timestamp_seconds"))
        self.assertFalse([f for f in os.listdir(self.out) if f != "indexer-check.prom"], "a temporary file stayed")

    def test_build_reports_the_built_index_and_its_size(self):
        cfg = self.config([definition("idx_m_a", "m", "a", critical=True)])
        path = os.path.join(self.out, "indexer.prom")
        r = self.run_indexer("build", "-c", cfg, "--metrics-file", path)
        self.assertExit(r, 0)
        s = self.read(path)
        self.assertEqual(value(s, "pg_schema_indexer_index_state", name="idx_m_a", state="present",
                               command="build"), 1)
        self.assertEqual(value(s, "pg_schema_indexer_index_state", name="idx_m_a", state="missing"), 0)
        size = self.scalar("SELECT pg_relation_size('public.idx_m_a')")
        self.assertGreater(size, 0)
        self.assertEqual(value(s, "pg_schema_indexer_index_size_bytes", name="idx_m_a", table="m"), size)
        duration = value(s, "pg_schema_indexer_index_build_duration_seconds", name="idx_m_a", action="build",
                         outcome="done")
        self.assertIsNotNone(duration)
        self.assertGreater(duration, 0)
        self.assertEqual(value(s, "pg_schema_indexer_builds", outcome="done"), 1)
        self.assertEqual(value(s, "pg_schema_indexer_builds", outcome="failed"), 0)
        for reason in ("window", "budget", "max_builds", "backoff", "lag", "size"):
            self.assertEqual(value(s, "pg_schema_indexer_deferred_builds", reason=reason), 0, reason)
        self.assertEqual(value(s, "pg_schema_indexer_last_run_exit_code"), 0)
        self.assertAlmostEqual(value(s, "pg_schema_indexer_last_success_timestamp_seconds"), time.time(),
                               delta=60)

    def test_deferred_builds_are_counted_by_reason(self):
        cfg = self.config([definition("idx_m_a", "m", "a"), definition("idx_m_b", "m", "b")])
        path = os.path.join(self.out, "indexer.prom")
        r = self.run_indexer("build", "-c", cfg, "--max-builds", "1", "--metrics-file", path)
        self.assertExit(r, 0)
        s = self.read(path)
        self.assertEqual(value(s, "pg_schema_indexer_deferred_builds", reason="max_builds"), 1)
        self.assertEqual(value(s, "pg_schema_indexer_builds", outcome="done"), 1)
        self.assertEqual(value(s, "pg_schema_indexer_builds", outcome="deferred"), 1)
        # the catalog after the run: one built, one still missing
        states = sorted(dict(ls)["name"] + ":" + dict(ls)["state"]
                        for (n, ls), v in s.items() if n == "pg_schema_indexer_index_state" and v == 1)
        built = self.scalar("SELECT string_agg(indexname, ',') FROM pg_indexes WHERE tablename = 'm'")
        self.assertEqual(states, sorted(["%s:%s" % (n, "present" if n == built else "missing")
                                         for n in ("idx_m_a", "idx_m_b")]))

    def test_last_success_survives_a_failed_run(self):
        path = os.path.join(self.out, "indexer.prom")
        r = self.run_indexer("build", "-c", self.config([definition("idx_m_a", "m", "a")]),
                             "--metrics-file", path)
        self.assertExit(r, 0)
        first = self.read(path)
        success = value(first, "pg_schema_indexer_last_success_timestamp_seconds", command="build")
        self.assertIsNotNone(success)
        time.sleep(1.1)
        # a critical definition on a table that does not exist: exit 1
        r = self.run_indexer("build", "-c", self.config([definition("idx_m_a", "m", "a"),
                                                         definition("idx_gone", "gone", "a", critical=True)]),
                             "--metrics-file", path)
        self.assertExit(r, 1)
        s = self.read(path)
        self.assertEqual(value(s, "pg_schema_indexer_last_run_exit_code"), 1)
        self.assertEqual(value(s, "pg_schema_indexer_last_success_timestamp_seconds", command="build"), success)
        self.assertGreater(value(s, "pg_schema_indexer_last_run_timestamp_seconds"), success)
        self.assertEqual(value(s, "pg_schema_indexer_index_state", name="idx_gone", state="missing",
                               critical="true"), 1)

    def test_the_file_is_replaced_never_rewritten(self):
        cfg = self.config([definition("idx_m_a", "m", "a")])
        path = os.path.join(self.out, "indexer.prom")
        self.assertExit(self.run_indexer("check", "-c", cfg, "--metrics-file", path), 5)
        before = os.stat(path)
        self.assertEqual(stat.S_IMODE(before.st_mode), 0o644, "the collector runs as another user")
        self.assertExit(self.run_indexer("check", "-c", cfg, "--metrics-file", path), 5)
        # a new inode: written elsewhere and renamed over it, never truncated in place
        self.assertNotEqual(os.stat(path).st_ino, before.st_ino)
        self.assertEqual(os.listdir(self.out), ["indexer.prom"])

    def test_a_run_that_finds_the_lock_held_writes_nothing(self):
        cfg = self.config([definition("idx_m_a", "m", "a", critical=True)])
        path = os.path.join(self.out, "indexer.prom")
        self.assertExit(self.run_indexer("check", "-c", cfg, "--metrics-file", path), 5)
        with open(path, encoding="utf-8") as f:
            before = f.read()
        # a build that waits for an open transaction holds the run lock
        blocker = self.connect(autocommit=False)
        with blocker.cursor() as cur:
            cur.execute("UPDATE m SET a = a WHERE id = 1")
        proc = self.start_indexer("build", "-c", cfg, "--no-record")
        deadline = time.monotonic() + 60
        while self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND query LIKE '%%CREATE INDEX CONCURRENTLY%%' AND wait_event = 'virtualxid'") != 1:
            self.assertLess(time.monotonic(), deadline, "the build never waited")
            time.sleep(0.05)
        r = self.run_indexer("build", "-c", cfg, "--no-record", "--metrics-file", path)
        self.assertExit(r, 4)
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), before, "a busy run replaced the metrics of the run holding the lock")
        blocker.rollback()
        self.assertExit(self.finish(proc), 0)

    def test_a_directory_that_cannot_be_written_leaves_the_old_file(self):
        cfg = self.config([definition("idx_m_a", "m", "a")])
        self.query("CREATE INDEX idx_m_a ON m (a)")
        d = os.path.join(self.out, "ro")
        os.mkdir(d)
        path = os.path.join(d, "indexer.prom")
        with open(path, "w", encoding="utf-8") as f:
            f.write("# old\n")
        os.chmod(path, 0o644)
        os.chmod(self.out, 0o755)
        os.chmod(d, 0o555)
        self.addCleanup(os.chmod, d, 0o755)
        argv = self._argv("INDEXER", ["check", "-c", cfg, "--metrics-file", path], self.tcp_dsn(self.superuser))
        if os.geteuid() == 0:
            # root writes anywhere: run as nobody, for whom the directory is read-only (a copy
            # of the program and the file where nobody reaches them, whatever the checkout's modes)
            shared = self.make_dir()
            os.chmod(shared, 0o755)
            program = os.path.join(shared, "indexer")
            shutil.copy(os.environ["INDEXER"], program)
            os.chmod(program, 0o755)
            shutil.copy(cfg, os.path.join(shared, "indexes.cfg"))
            os.chmod(os.path.join(shared, "indexes.cfg"), 0o644)
            argv[argv.index(os.environ["INDEXER"])] = program
            argv[argv.index(cfg)] = os.path.join(shared, "indexes.cfg")
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv
        r = self.run_program(argv)
        # found before the run does anything: a usage error, not a run that succeeded and then exits 1
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'setting metrics_file \(--metrics-file, INDEXER_METRICS_FILE or the definitions '
                                    r'file\): cannot write ".*indexer\.prom": could not create a temporary file in '
                                    r'".*ro": Permission denied; nothing was done')
        self.assertNotIn("not delivered", r.stderr)
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), "# old\n")
        self.assertEqual(os.listdir(d), ["indexer.prom"])

    def test_a_metrics_file_that_can_never_be_written_stops_the_build_before_it_starts(self):
        # Before, the build ran, the index was built, and the run then exited 1 at the end:
        # a deploy that had done its work reported a failure.  Now nothing is built: exit 2.
        missing = os.path.join(self.out, "no", "such", "dir", "indexer.prom")
        cases = [("option", ["--metrics-file", missing], {}, missing),
                 ("environment", [], {"INDEXER_METRICS_FILE": missing}, missing),
                 ("a directory", ["--metrics-file", self.out], {}, self.out)]
        for what, extra, env, shown in cases:
            with self.subTest(what):
                d = self.make_dir({"indexes.cfg": "indexes = (\n%s\n);\n" % definition("idx_m_a", "m", "a", True)})
                r = self.run_indexer("build", "-c", os.path.join(d, "indexes.cfg"), *extra, env=env)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, r'setting metrics_file .*: cannot write "%s": .*; nothing was done'
                                         % re.escape(shown))
                self.assertFalse(self.table_exists("idx_m_a"))
        # the definitions file's own setting is checked as well, and names the same setting
        d = self.make_dir({"indexes.cfg": 'settings = { metrics_file = "%s"; };\nindexes = (\n%s\n);\n'
                           % (missing, definition("idx_m_a", "m", "a", True))})
        r = self.run_indexer("build", "-c", os.path.join(d, "indexes.cfg"))
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'setting metrics_file .*: cannot write ".*dir/indexer\.prom": could not '
                                    r'create a temporary file in ".*dir": No such file or directory')
        self.assertFalse(self.table_exists("idx_m_a"))
        self.assertEqual(os.listdir(self.out), [])

    def test_metrics_file_from_the_environment_and_the_settings(self):
        env_path = os.path.join(self.out, "env.prom")
        cfg = self.config([definition("idx_m_a", "m", "a")])
        r = self.run_indexer("status", "-c", cfg, env={"INDEXER_METRICS_FILE": env_path})
        self.assertExit(r, 0)
        self.assertEqual(value(self.read(env_path), "pg_schema_indexer_index_state", name="idx_m_a",
                               state="missing", command="status"), 1)
        file_path = os.path.join(self.out, "settings.prom")
        d = self.make_dir({"indexes.cfg": 'settings = { metrics_file = "%s"; };\nindexes = (\n%s\n);\n'
                           % (file_path, definition("idx_m_a", "m", "a"))})
        r = self.run_indexer("plan", "-c", os.path.join(d, "indexes.cfg"))
        self.assertExit(r, 0)
        self.assertEqual(value(self.read(file_path), "pg_schema_indexer_last_run_exit_code", command="plan"), 0)

    def test_a_file_that_cannot_be_read_is_reported_too(self):
        path = os.path.join(self.out, "indexer.prom")
        r = self.run_indexer("build", "-c", os.path.join(self.out, "missing.cfg"), "--metrics-file", path)
        self.assertExit(r, 2)
        s = self.read(path)
        self.assertEqual(value(s, "pg_schema_indexer_last_run_exit_code", command="build"), 2)
        self.assertIsNone(value(s, "pg_schema_indexer_index_state"))

    def test_a_command_without_metrics_refuses_the_option(self):
        path = os.path.join(self.out, "indexer.prom")
        r = self.run_indexer("history", "-c", self.config([definition("idx_m_a", "m", "a")]),
                             "--metrics-file", path)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"options --metrics-file and --metrics-push belong to build, plan, check and "
                                    r"status \(history writes no metrics\)")
        self.assertFalse(os.path.exists(path))
        d = self.make_dir({"001_t.sql": "CREATE TABLE t1 (id int);\n"})
        r = self.run_migrator("status", "--dir", d, "--metrics-push", "http://127.0.0.1:1/metrics/job/x")
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"options --metrics-file and --metrics-push belong to up and check \(status "
                                    r"writes no metrics\)")
        # from the environment, it applies where it can and is ignored elsewhere
        r = self.run_migrator("status", "--dir", d, env={"MIGRATOR_METRICS_FILE": path})
        self.assertExit(r, 0)
        self.assertFalse(os.path.exists(path))

    def test_bad_push_url_is_a_usage_error(self):
        r = self.run_indexer("check", "-c", self.config([definition("idx_m_a", "m", "a")]),
                             "--metrics-push", "pushgateway:9091/metrics/job/x")
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'option --metrics-push: "pushgateway:9091/metrics/job/x" is not an '
                                    r'http:// or https:// URL')

    def test_libcurl_is_not_linked(self):
        # loaded with dlopen only for --metrics-push: start-up pays nothing for it (issue 13)
        for var in ("INDEXER", "MIGRATOR"):
            out = subprocess.run(["ldd", os.environ[var]], capture_output=True, text=True).stdout
            self.assertNotIn("libcurl", out, var)


class MigratorMetricsTest(MetricsTestCase):

    def test_a_failed_migration_is_counted_and_the_last_success_kept(self):
        d = self.make_dir({"001_t.sql": "CREATE TABLE t1 (id int);\n"})
        path = os.path.join(self.out, "migrator.prom")
        r = self.run_migrator("up", "--dir", d, "--metrics-file", path)
        self.assertExit(r, 0)
        s = self.read(path)
        self.assertEqual(value(s, "pg_schema_migrator_current_version", command="up"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_pending_migrations"), 0)
        self.assertEqual(value(s, "pg_schema_migrator_failed_migrations"), 0)
        self.assertEqual(value(s, "pg_schema_migrator_applied_migrations"), 1)
        success = value(s, "pg_schema_migrator_last_success_timestamp_seconds")
        self.assertAlmostEqual(success, time.time(), delta=60)
        time.sleep(1.1)

        with open(os.path.join(d, "002_bad.sql"), "w", encoding="utf-8") as f:
            f.write("CREATE TABLE t2 (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n")
        r = self.run_migrator("up", "--dir", d, "--metrics-file", path)
        self.assertExit(r, 1)
        self.assertFalse(self.table_exists("t2"))
        s = self.read(path)
        self.assertEqual(value(s, "pg_schema_migrator_last_run_exit_code"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_failed_migrations"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_pending_migrations"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_current_version"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_applied_migrations"), 0)
        self.assertEqual(value(s, "pg_schema_migrator_last_success_timestamp_seconds"), success)

        # check: rolled back, so the history shows it pending, not failed
        check = os.path.join(self.out, "migrator-check.prom")
        r = self.run_migrator("check", "--dir", d, "--metrics-file", check)
        self.assertExit(r, 5)
        s = self.read(check)
        self.assertEqual(value(s, "pg_schema_migrator_last_run_exit_code", command="check"), 5)
        self.assertEqual(value(s, "pg_schema_migrator_pending_migrations"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_failed_migrations"), 0)
        self.assertEqual(value(s, "pg_schema_migrator_current_version"), 1)
        self.assertIsNone(value(s, "pg_schema_migrator_applied_migrations"))

    def test_a_recorded_failure_is_counted_by_check(self):
        d = self.make_dir({"001_t.sql": "CREATE TABLE t1 (id int);\n",
                           "002_notx.sql": "-- migrator:no-transaction\nALTER TABLE no_such_table ADD COLUMN x int;\n"})
        path = os.path.join(self.out, "migrator.prom")
        r = self.run_migrator("up", "--dir", d, "--metrics-file", path)
        self.assertExit(r, 1)
        self.assertEqual(self.scalar("SELECT count(*) FROM schema_migrations WHERE status = 'failed'"), 1)
        s = self.read(path)
        self.assertEqual(value(s, "pg_schema_migrator_failed_migrations", command="up"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_applied_migrations"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_current_version"), 1)
        check = os.path.join(self.out, "migrator-check.prom")
        self.assertExit(self.run_migrator("check", "--dir", d, "--metrics-file", check), 5)
        s = self.read(check)
        self.assertEqual(value(s, "pg_schema_migrator_failed_migrations", command="check"), 1)
        self.assertEqual(value(s, "pg_schema_migrator_pending_migrations"), 1)

    def test_a_metrics_file_that_can_never_be_written_applies_nothing(self):
        # Before, up applied the migration and then exited 1 for the file: the deploy stopped
        # over a schema change that had been made.  Now it is refused first: exit 2, nothing applied.
        d = self.make_dir({"001_t.sql": "CREATE TABLE t1 (id int);\n"})
        missing = os.path.join(self.out, "gone", "migrator.prom")
        for command in ("up", "check"):
            for extra, env in ((["--metrics-file", missing], {}), ([], {"MIGRATOR_METRICS_FILE": missing})):
                with self.subTest(command=command, env=bool(env)):
                    r = self.run_migrator(command, "--dir", d, *extra, env=env)
                    self.assertExit(r, 2)
                    self.assertLastLineMatches(r, r'option --metrics-file \(or MIGRATOR_METRICS_FILE\): cannot write '
                                           r'"%s": could not create a temporary file in ".*gone": No such file or '
                                           r'directory; nothing was done' % re.escape(missing))
                    self.assertFalse(self.table_exists("t1"))
                    self.assertFalse(self.table_exists("schema_migrations"))
        r = self.run_migrator("up", "--dir", d, "--metrics-file", self.out)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'cannot write "%s": "%s" is a directory, not a file'
                                 % (re.escape(self.out), re.escape(self.out)))
        self.assertFalse(self.table_exists("t1"))
        # lint and plan write no metrics: the option is theirs to ignore
        self.assertExit(self.run_migrator("plan", "--dir", d, env={"MIGRATOR_METRICS_FILE": missing}), 0)
        self.assertEqual(os.listdir(self.out), [])

    def test_an_unreachable_database_reports_the_run_only(self):
        d = self.make_dir({"001_t.sql": "CREATE TABLE t1 (id int);\n"})
        path = os.path.join(self.out, "migrator.prom")
        r = self.run_migrator("check", "--dir", d, dsn="host=%s port=1 dbname=x connect_timeout=2" % self.tcp_host,
                              env={"MIGRATOR_METRICS_FILE": path})
        self.assertExit(r, 3)
        s = self.read(path)
        self.assertEqual(value(s, "pg_schema_migrator_last_run_exit_code"), 3)
        self.assertIsNone(value(s, "pg_schema_migrator_pending_migrations"))


class AlertRulesTest(MetricsTestCase):
    """docs/deployment.md's two rules, on series a real run wrote."""

    def test_the_documented_alerts_fire_on_the_right_series(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool is not installed (Debian's prometheus package; scripts/deps.sh)")
        cfg = self.config([definition("idx_m_a", "m", "a", critical=True),
                           definition("idx_m_b", "m", "b"),
                           definition("idx_m_id", "m", "id", critical=True)])
        self.query("CREATE INDEX idx_m_id ON m (id)")
        path = os.path.join(self.out, "check.prom")
        self.assertExit(self.run_indexer("check", "-c", cfg, "--metrics-file", path), 5)
        s = self.read(path)
        d = self.make_dir({"rules.yml": rules_block()})

        def series(name, labels):
            return "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in sorted(labels)))

        critical_inputs, expected = [], []
        for (name, labels), v in sorted(s.items(), key=lambda kv: str(kv[0])):
            if name != "pg_schema_indexer_index_state":
                continue
            critical_inputs.append({"series": series(name, labels), "values": "%dx180" % v})
            ls = dict(labels)
            if v == 1 and ls["critical"] == "true" and ls["state"] in ("missing", "invalid"):
                expected.append(dict(ls, alertname="CriticalIndexNotUsable", severity="critical"))
        # what the run says: idx_m_a (critical) is missing; idx_m_b is missing but not critical
        self.assertEqual([(e["name"], e["state"]) for e in expected], [("idx_m_a", "missing")])
        # the last success: one stale since time 0, one renewed every hour (value = the time)
        success_inputs = [
            {"series": 'pg_schema_indexer_last_success_timestamp_seconds{command="build",instance="stale"}',
             "values": "0x30"},
            {"series": 'pg_schema_indexer_last_success_timestamp_seconds{command="build",instance="fresh"}',
             "values": "0+3600x30"},
            {"series": 'pg_schema_indexer_last_success_timestamp_seconds{command="check",instance="stale"}',
             "values": "0x30"}]

        def critical_alert(e):
            return {"exp_labels": e, "exp_annotations": {
                "summary": "critical index %s.%s on %s is %s" % (e["schema"], e["name"], e["table"], e["state"])}}

        tests = {"rule_files": [os.path.join(d, "rules.yml")], "evaluation_interval": "1m", "tests": [
            {"interval": "1m", "input_series": critical_inputs, "alert_rule_test": [
                # for: 10m: not yet after 5 minutes, then for the critical one only
                {"eval_time": "5m", "alertname": "CriticalIndexNotUsable", "exp_alerts": []},
                {"eval_time": "15m", "alertname": "CriticalIndexNotUsable",
                 "exp_alerts": [critical_alert(e) for e in expected]},
            ]},
            {"interval": "1h", "input_series": success_inputs, "alert_rule_test": [
                {"eval_time": "23h", "alertname": "IndexReconciliationNotSucceeding", "exp_alerts": []},
                {"eval_time": "25h", "alertname": "IndexReconciliationNotSucceeding", "exp_alerts": [
                    {"exp_labels": {"alertname": "IndexReconciliationNotSucceeding", "severity": "warning",
                                    "command": "build", "instance": "stale"},
                     "exp_annotations": {"summary": "no successful indexer build for a day (stale)"}}]},
            ]}]}
        import yaml
        test_path = os.path.join(d, "rules_test.yml")
        with open(test_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(tests, f)
        r = subprocess.run([promtool, "check", "rules", os.path.join(d, "rules.yml")], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run([promtool, "test", "rules", test_path], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        # and the test is not vacuous: expecting no alert where one fires fails
        tests["tests"][0]["alert_rule_test"][1]["exp_alerts"] = []
        with open(test_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(tests, f)
        r = subprocess.run([promtool, "test", "rules", test_path], capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0, "promtool accepted a test that expects no alert")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PushgatewayTest(MetricsTestCase):

    def setUp(self):
        super().setUp()
        binary = shutil.which("prometheus-pushgateway")
        if binary is None:
            self.skipTest("prometheus-pushgateway is not installed (Debian's package; scripts/deps.sh)")
        self.port = free_port()
        # Debian's default persists to /var/lib/prometheus: off, nothing is kept between runs
        self.gateway = subprocess.Popen([binary, "--web.listen-address=127.0.0.1:%d" % self.port,
                                         "--persistence.file="],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_gateway)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url("/-/ready"), timeout=2):
                    break
            except OSError:
                self.assertLess(time.monotonic(), deadline, "the pushgateway did not start")
                time.sleep(0.1)

    def stop_gateway(self):
        self.gateway.terminate()
        try:
            self.gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.gateway.kill()
            self.gateway.wait()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def scrape(self):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url("/metrics"), timeout=10) as f:
            return parse(f.read().decode())[0]

    def test_push_puts_the_same_series(self):
        cfg = self.config([definition("idx_m_a", "m", "a", critical=True)])
        path = os.path.join(self.out, "indexer.prom")
        push = self.url("/metrics/job/indexer/instance/t1")
        r = self.run_indexer("build", "-c", cfg, "--metrics-file", path, "--metrics-push", push, env=NO_PROXY)
        self.assertExit(r, 0)
        s = self.scrape()
        self.assertEqual(value(s, "pg_schema_indexer_index_state", name="idx_m_a", state="present",
                               job="indexer", instance="t1", command="build"), 1)
        self.assertEqual(value(s, "pg_schema_indexer_index_size_bytes", name="idx_m_a", job="indexer"),
                         self.scalar("SELECT pg_relation_size('public.idx_m_a')"))
        # the same text as the file
        filed = self.read(path)
        for (name, labels), v in filed.items():
            if "timestamp" in name or "duration" in name:
                continue
            self.assertEqual(value(s, name, job="indexer", instance="t1", **dict(labels)), v, name)

    def test_a_failed_run_without_a_file_keeps_the_gateway_last_success(self):
        push = self.url("/metrics/job/indexer/instance/t2")
        cfg = self.config([definition("idx_m_a", "m", "a")])
        self.assertExit(self.run_indexer("build", "-c", cfg, "--metrics-push", push, env=NO_PROXY), 0)
        success = value(self.scrape(), "pg_schema_indexer_last_success_timestamp_seconds", instance="t2")
        self.assertIsNotNone(success)
        bad = self.config([definition("idx_m_a", "m", "a"), definition("idx_gone", "gone", "a", critical=True)])
        self.assertExit(self.run_indexer("build", "-c", bad, "--metrics-push", push, env=NO_PROXY), 1)
        s = self.scrape()
        self.assertEqual(value(s, "pg_schema_indexer_last_run_exit_code", instance="t2"), 1)
        self.assertEqual(value(s, "pg_schema_indexer_last_success_timestamp_seconds", instance="t2"), success)
        self.assertEqual(value(s, "pg_schema_indexer_index_state", name="idx_gone", state="missing",
                               instance="t2"), 1)

    def test_migrator_push(self):
        d = self.make_dir({"001_t.sql": "CREATE TABLE t1 (id int);\n"})
        push = self.url("/metrics/job/migrator/instance/t3")
        r = self.run_migrator("check", "--dir", d, "--metrics-push", push, env=NO_PROXY)
        self.assertExit(r, 5)
        s = self.scrape()
        self.assertEqual(value(s, "pg_schema_migrator_pending_migrations", job="migrator", command="check"), 1)

    def test_a_push_that_fails_is_an_error_not_a_new_outcome(self):
        self.stop_gateway()
        cfg = self.config([definition("idx_m_a", "m", "a")])
        self.query("CREATE INDEX idx_m_a ON m (a)")
        push = self.url("/metrics/job/indexer")
        r = self.run_indexer("check", "-c", cfg, "--metrics-push", push, env=NO_PROXY)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r'could not push the metrics to "http://127\.0\.0\.1:\d+/metrics/job/indexer": '
                                    r'.*(refused|connect)')
        # a failed check keeps its own exit code
        self.query("DROP INDEX idx_m_a")
        r = self.run_indexer("check", "-c", cfg, "--metrics-push", push, env=NO_PROXY)
        self.assertExit(r, 5)
        self.assertStderrMatches(r, r"could not push the metrics")
