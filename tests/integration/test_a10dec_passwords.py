"""
test_a10dec_passwords.py
    Issue 10, "Passwords", attacked on the outputs added since it was built:
    the metrics file and --metrics-push (a Pushgateway URL that carries
    user:password), the indexer's history and status (text and
    JSON), the replica guard, the --wait retry messages, the INDEXER_* and
    MIGRATOR_* variables, DATABASE_URL and PGPASSWORD.  A password never
    shows in a message, a file the tools write, a history row, or (after
    parsing) the process list.

    Everything is on loopback: a small HTTP server that records what it is
    sent and answers what it is told to, and the test cluster.

tests/integration/test_a10dec_passwords.py
"""

import base64
import http.server
import json
import os
import socket
import threading
import time
import unittest

from toolkit_test import PASSWORD, PASSWORD_ROLE, ToolkitTestCase

PUSH_SECRET = "PushS3cret-9xQ"
PUSH_USER = "pushuser"
BOUND = 30
NO_PROXY = {"http_proxy": None, "HTTP_PROXY": None, "https_proxy": None, "HTTPS_PROXY": None,
            "all_proxy": None, "ALL_PROXY": None, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
ERROR = r"(?m)^(migrator|indexer): error: "


class Gateway:
    """127.0.0.1:port answering every PUT/POST with status; records the
    Authorization header of each request."""

    def __init__(self, status=500):
        gateway = self
        self.auth = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                gateway.auth.append(self.headers.get("Authorization"))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                body = b"gateway says no\n" if status >= 300 else b""
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_PUT = _answer
            do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/metrics/job/x"):
        return "http://%s:%s@127.0.0.1:%d%s" % (PUSH_USER, PUSH_SECRET, self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cfg_text(settings=""):
    text = ('indexes = (\n  { name = "idx_pw_a"; table = "pw_t"; '
            'sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_pw_a ON pw_t (a)"; }\n);\n')
    if settings:
        text += "settings = {\n%s\n};\n" % settings
    return text


class PasswordCase(ToolkitTestCase):

    def gateway(self, status=500):
        g = Gateway(status)
        self.addCleanup(g.close)
        return g

    def assertNoSecret(self, r, *secrets):
        for s in secrets or (PUSH_SECRET, PASSWORD):
            self.assertNotIn(s, r.stdout + r.stderr, r.describe())

    def assertJsonLines(self, r):
        for line in r.stderr.splitlines():
            json.loads(line)

    def migrations(self):
        return self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})

    def indexer_cfg(self, settings=""):
        self.query("CREATE TABLE IF NOT EXISTS pw_t (id int, a int)")
        d = self.make_dir({"indexes.cfg": cfg_text(settings)})
        return os.path.join(d, "indexes.cfg")


class PushUrlTest(PasswordCase):
    """--metrics-push http://user:password@host/...: the credentials reach
    the gateway and no message."""

    MASKED = r'"http://%s:\*\*\*@127\.0\.0\.1:%d/metrics/job/x"'

    def test_migrator_push_refused_by_the_gateway(self):
        g = self.gateway(500)
        d = self.migrations()
        for fmt in ("text", "json"):
            with self.subTest(log_format=fmt):
                r = self.run_migrator("up", "--dir", d, "--metrics-push", g.url(), "--log-format", fmt,
                                      env=NO_PROXY, timeout=BOUND)
                self.assertExit(r, 1)
                self.assertNoSecret(r)
                if fmt == "json":
                    self.assertJsonLines(r)
                else:
                    self.assertStderrMatches(r, ERROR + r"could not push the metrics to " + self.MASKED % (
                        PUSH_USER, g.port) + r": PUT http://%s:\*\*\*@127\.0\.0\.1:%d/metrics/job/x answered "
                        r"HTTP 500: gateway says no$" % (PUSH_USER, g.port))
        # the credentials themselves went to the gateway, unmasked
        expected = "Basic " + base64.b64encode(("%s:%s" % (PUSH_USER, PUSH_SECRET)).encode()).decode()
        self.assertEqual(set(g.auth), {expected})
        self.assertTrue(self.table_exists("a"))

    def test_indexer_push_to_a_closed_port_from_every_source(self):
        port = closed_port()
        url = "http://%s:%s@127.0.0.1:%d/metrics/job/x" % (PUSH_USER, PUSH_SECRET, port)
        sources = (
            ("option", ("--metrics-push", url), {}, ""),
            ("environment", (), {"INDEXER_METRICS_PUSH": url}, ""),
            ("file", (), {}, '  metrics_push = "%s";' % url),
        )
        for label, args, env, settings in sources:
            for fmt in ("text", "json"):
                with self.subTest(source=label, log_format=fmt):
                    cfg = self.indexer_cfg(settings)
                    e = dict(NO_PROXY)
                    e.update(env)
                    r = self.run_indexer("build", "-c", cfg, "--log-format", fmt, *args, env=e, timeout=BOUND)
                    self.assertExit(r, 1)
                    self.assertNoSecret(r)
                    if fmt == "text":
                        self.assertStderrMatches(r, ERROR + r"could not push the metrics to " + self.MASKED % (
                            PUSH_USER, port) + ": ")
                    else:
                        self.assertJsonLines(r)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_pw_a'"), 1)

    def test_a_push_url_that_is_not_http_is_refused_without_its_password(self):
        bad = "htp://%s:%s@127.0.0.1:9091/metrics/job/x" % (PUSH_USER, PUSH_SECRET)
        d = self.migrations()
        cases = (
            ("migrator option", lambda: self.run_migrator("up", "--dir", d, "--metrics-push", bad)),
            ("migrator environment", lambda: self.run_migrator("up", "--dir", d,
                                                               env={"MIGRATOR_METRICS_PUSH": bad})),
            ("indexer option", lambda: self.run_indexer("build", "-c", self.indexer_cfg(), "--metrics-push", bad)),
            ("indexer environment", lambda: self.run_indexer("build", "-c", self.indexer_cfg(),
                                                             env={"INDEXER_METRICS_PUSH": bad})),
            ("indexer file", lambda: self.run_indexer(
                "build", "-c", self.indexer_cfg('  metrics_push = "%s";' % bad))),
        )
        for label, run in cases:
            with self.subTest(case=label):
                r = run()
                self.assertExit(r, 2)
                self.assertNoSecret(r)
                self.assertStderrMatches(r, r'"htp://%s:\*\*\*@127\.0\.0\.1:9091/metrics/job/x" is not an '
                                            r'http:// or https:// URL' % PUSH_USER)
        self.assertFalse(self.table_exists("a"))
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_pw_a'"), 0)

    def test_a_push_password_with_an_unencoded_at_or_slash_is_refused(self):
        d = self.migrations()
        for secret in ("Pu@shS3cret", "Pu/shS3cret"):
            url = "http://%s:%s@127.0.0.1:9091/metrics/job/x" % (PUSH_USER, secret)
            for label, r in (
                    ("migrator", self.run_migrator("up", "--dir", d, "--metrics-push", url)),
                    ("migrator environment", self.run_migrator("check", "--dir", d,
                                                               env={"MIGRATOR_METRICS_PUSH": url})),
                    ("indexer", self.run_indexer("check", "-c", self.indexer_cfg(), "--metrics-push", url)),
                    ("indexer environment", self.run_indexer("build", "-c", self.indexer_cfg(),
                                                             env={"INDEXER_METRICS_PUSH": url}))):
                with self.subTest(password=secret, case=label):
                    self.assertExit(r, 2)
                    self.assertStderrMatches(r, r"(--metrics-push|_METRICS_PUSH): percent-encode @ and / in the "
                                                r"password: %40, %2F$")
                    for part in (secret, "shS3cret"):
                        self.assertNotIn(part, r.stdout + r.stderr, r.describe())
        self.assertFalse(self.table_exists("a"))
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_pw_a'"), 0)

    def test_push_password_is_overwritten_in_the_process_list(self):
        if os.environ.get("TOOLKIT_TEST_WRAPPER"):
            self.skipTest("under a wrapper the process list shows the wrapper's command line")
        g = self.gateway(200)
        d = self.make_dir({"1_slow.sql": "-- migrator:allow dml\nDO $$ BEGIN PERFORM pg_catalog.pg_sleep(2); "
                                         "END $$;\n"})
        proc = self.start_migrator("up", "--dir", d, "--metrics-push", g.url(), env=NO_PROXY)
        deadline = time.monotonic() + BOUND
        while not self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND query LIKE '%%pg_sleep(2)%%' AND pid <> pg_backend_pid()"):
            self.assertLess(time.monotonic(), deadline, "the migration never started")
            time.sleep(0.05)
        with open("/proc/%d/cmdline" % proc.pid, "rb") as f:
            cmdline = f.read().decode("utf-8", "replace")
        r = self.finish(proc, timeout=BOUND)
        self.assertNotIn(PUSH_SECRET, cmdline)
        self.assertIn("%s:%s@127.0.0.1" % (PUSH_USER, "*" * len(PUSH_SECRET)), cmdline)
        self.assertExit(r, 0)
        # the copy the run pushes with still holds the password
        expected = "Basic " + base64.b64encode(("%s:%s" % (PUSH_USER, PUSH_SECRET)).encode()).decode()
        self.assertEqual(g.auth, [expected])


class OutputsTest(PasswordCase):
    """A run connected with a password writes it nowhere."""

    def test_metrics_files_hold_no_password(self):
        self.query("GRANT CREATE ON SCHEMA public TO %s" % PASSWORD_ROLE)
        dsn = self.tcp_dsn(PASSWORD_ROLE, PASSWORD)
        out = self.make_dir()
        mig = os.path.join(out, "migrator.prom")
        idx = os.path.join(out, "indexer.prom")
        self.assertExit(self.run_migrator("up", "--dir", self.migrations(), "--metrics-file", mig, dsn=dsn), 0)
        cfg = self.indexer_cfg()
        self.query("ALTER TABLE pw_t OWNER TO %s" % PASSWORD_ROLE)
        self.assertExit(self.run_indexer("build", "-c", cfg, "--metrics-file", idx, dsn=dsn), 0)
        for path in (mig, idx):
            with open(path, encoding="utf-8") as f:
                text = f.read()
            self.assertIn("last_run_exit_code", text)
            self.assertNotIn(PASSWORD, text)
        rows = self.query("SELECT row_to_json(h)::text FROM public.schema_migrations h")
        self.assertEqual(len(rows), 1)
        self.assertNotIn(PASSWORD, rows[0][0])

    def test_indexer_history_status_and_replica_guard(self):
        self.query("GRANT CREATE ON SCHEMA public TO %s" % PASSWORD_ROLE)
        cfg = self.indexer_cfg()
        self.query("ALTER TABLE pw_t OWNER TO %s" % PASSWORD_ROLE)
        for dsn in (self.tcp_dsn(PASSWORD_ROLE, PASSWORD), self.tcp_uri(PASSWORD_ROLE, PASSWORD)):
            r = self.run_indexer("build", "-c", cfg, "-v", "--max-replica-lag", "10s", dsn=dsn)
            self.assertExit(r, 0)
            self.assertNoSecret(r, PASSWORD)
            for args in (("status",), ("status", "--log-format", "json"), ("history",),
                         ("history", "--log-format", "json"),
                         ("check", "-v"), ("plan", "--log-format", "json")):
                with self.subTest(command=args):
                    r = self.run_indexer(args[0], "-c", cfg, *args[1:], dsn=dsn)
                    self.assertIn(r.rc, (0, 5), r.describe())
                    self.assertNoSecret(r, PASSWORD)
            self.query("DROP INDEX idx_pw_a")
        rows = self.query("SELECT row_to_json(h)::text FROM public.indexer_history h")
        self.assertTrue(rows)
        for (row,) in rows:
            self.assertNotIn(PASSWORD, row)

    def test_wait_retry_messages_are_masked(self):
        port = closed_port()
        for dsn in ("host=127.0.0.1 port=%d user=%s password=%s dbname=x" % (port, PASSWORD_ROLE, PASSWORD),
                    # libpq quotes the value back: invalid integer value "..." for connection option "port"
                    "host=127.0.0.1 port=%s user=%s password=%s" % (PASSWORD, PASSWORD_ROLE, PASSWORD),
                    "postgresql://%s:%s@127.0.0.1:%d/x" % (PASSWORD_ROLE, PASSWORD, port)):
            for program in ("migrator", "indexer"):
                for fmt in ("text", "json"):
                    with self.subTest(dsn=dsn.replace(PASSWORD, "<pw>"), program=program, log_format=fmt):
                        if program == "migrator":
                            r = self.run_migrator("up", "--dir", self.migrations(), "--wait", "2s",
                                                  "--log-format", fmt, dsn=dsn, timeout=BOUND)
                        else:
                            r = self.run_indexer("build", "-c", self.indexer_cfg(), "--wait", "2s",
                                                 "--log-format", fmt, dsn=dsn, timeout=BOUND)
                        self.assertExit(r, 3)
                        self.assertNoSecret(r, PASSWORD)
                        if fmt == "json":
                            self.assertJsonLines(r)

    def test_pgpassword_never_shows(self):
        env = {"PGPASSWORD": PASSWORD + "x", "PGHOST": self.tcp_host, "PGPORT": str(self.port),
               "PGUSER": PASSWORD_ROLE, "PGDATABASE": self.dbname}
        for fmt in ("text", "json"):
            with self.subTest(log_format=fmt):
                r = self.run_migrator("up", "--dir", self.migrations(), "--log-format", fmt, "--wait", "2s",
                                      env=env, dsn=None, timeout=BOUND)
                self.assertExit(r, 3)
                self.assertNoSecret(r, PASSWORD)
                # no password in the DSN: libpq's own reason is shown
                self.assertIn("password authentication failed", r.stderr)
                r = self.run_indexer("check", "-c", self.indexer_cfg(), "--log-format", fmt, env=env, dsn=None,
                                     timeout=BOUND)
                self.assertExit(r, 3)
                self.assertNoSecret(r, PASSWORD)
        self.assertFalse(self.table_exists("a"))

    def test_unencoded_uri_from_database_url_and_for_the_indexer(self):
        port = closed_port()
        secret = "Xy9Kq@Zw7Tr/Pm4"
        uri = "postgresql://%s:%s@127.0.0.1:%d/%s" % (PASSWORD_ROLE, secret, port, self.dbname)
        cases = (
            ("migrator DATABASE_URL", lambda fmt: self.run_migrator(
                "up", "--dir", self.migrations(), "--log-format", fmt, env={"DATABASE_URL": uri}, dsn=None)),
            ("indexer --dsn", lambda fmt: self.run_indexer(
                "build", "-c", self.indexer_cfg(), "--log-format", fmt, dsn=uri)),
            ("indexer DATABASE_URL", lambda fmt: self.run_indexer(
                "check", "-c", self.indexer_cfg(), "--log-format", fmt, env={"DATABASE_URL": uri}, dsn=None)),
            ("migrator check --wait-current", lambda fmt: self.run_migrator(
                "check", "--dir", self.migrations(), "--wait-current", "2s", "--log-format", fmt, dsn=uri)),
        )
        for label, run in cases:
            for fmt in ("text", "json"):
                with self.subTest(case=label, log_format=fmt):
                    r = run(fmt)
                    self.assertExit(r, 2)
                    self.assertIn("percent-encode @ and / in the password: %40, %2F", r.stderr)
                    for part in [secret] + secret.replace("/", "@").split("@"):
                        self.assertNotIn(part, r.stdout + r.stderr, r.describe())
                    if fmt == "json":
                        self.assertJsonLines(r)


if __name__ == "__main__":
    unittest.main()
