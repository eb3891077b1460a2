"""
test_indexer.py
    Integration tests of the indexer against a real server.

Every test asserts the exit code, the message and the catalog state together
(pg_index.indisvalid/indisready, pg_class, pg_inherits): a run that says it
built an index must have left a valid one, a run that says it failed must
have left nothing half-built behind (or name what it left).

Nothing here measures time: when a test needs the program to be at a given
point (waiting for a lock, blocked by a transaction), it waits for the line
that says so on stderr, or for the catalog to show it, with a generous
deadline that only guards against a hang.

tests/integration/test_indexer.py
"""

import json
import os
import re
import signal
import time
import unittest

from toolkit_test import ToolkitTestCase

SOURCE_DIR = os.environ.get("TOOLKIT_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
WARN = r"^indexer: warning: "
ERROR = r"^indexer: error: "
DEADLINE = 120  # seconds; only a guard against a hang, never an assertion


def cic(name, table, cols, unique=False, where=None, schema=None):
    """The statement a definition carries."""
    rel = "%s.%s" % (schema, table) if schema else table
    return "CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)%s" % (
        "UNIQUE " if unique else "", name, rel, cols,
        " WHERE " + where if where else "")


def cfg_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')


def cfg_text(defs, settings=None):
    """A definitions file: one group per line, so each index is on its own line."""
    lines = ["indexes = ("]
    for i, d in enumerate(defs):
        body = " ".join("%s = %s;" % (k, cfg_value(v)) for k, v in d.items())
        lines.append("  { %s }%s" % (body, "," if i < len(defs) - 1 else ""))
    lines.append(");")
    if settings:
        lines.append("settings = { %s };" % " ".join(
            "%s = %s;" % (k, cfg_value(v)) for k, v in settings.items()))
    return "\n".join(lines) + "\n"


class IndexerTestCase(ToolkitTestCase):
    """Helpers shared by the indexer tests."""

    def config(self, defs, settings=None, name="indexes.cfg"):
        d = self.make_dir({name: cfg_text(defs, settings)})
        return os.path.join(d, name)

    def indexer(self, cfg, *args, **kw):
        return self.run_indexer("-c", cfg, *args, **kw)

    def start(self, cfg, *args, **kw):
        return self.start_indexer("-c", cfg, *args, **kw)

    def index(self, name, schema="public"):
        """(oid, valid, ready, table) of an index, or None."""
        rows = self.query(
            "SELECT c.oid, i.indisvalid, i.indisready, t.relname "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class t ON t.oid = i.indrelid "
            "WHERE n.nspname = %s AND c.relname = %s", (schema, name))
        return rows[0] if rows else None

    def assertValid(self, name, table, schema="public"):
        row = self.index(name, schema)
        self.assertIsNotNone(row, "index %s.%s does not exist" % (schema, name))
        self.assertEqual(row[1:], (True, True, table), "index %s.%s" % (schema, name))

    def assertNoRelation(self, name, schema="public"):
        self.assertIsNone(self.scalar(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s", (schema, name)),
            "relation %s.%s exists" % (schema, name))

    def indexdef(self, name, schema="public"):
        return self.scalar("SELECT pg_get_indexdef(%s::regclass)",
                           (self.ident(schema) + "." + self.ident(name),))

    def make_table(self, table, rows=100, schema="public"):
        q = self.ident(schema) + "." + self.ident(table)
        self.query("CREATE TABLE %s (id bigint PRIMARY KEY, a int, b int, email varchar(80))" % q)
        if rows:
            self.query("INSERT INTO %s SELECT g, g %% 10, g %% 7, 'u' || g || '@x' "
                       "FROM generate_series(1, %d) g" % (q, rows))
        self.query("ANALYZE %s" % q)

    def migrate_examples(self):
        """The example migrations that create the calendar tables."""
        mdir = os.path.join(SOURCE_DIR, "migrations")
        for f in sorted(os.listdir(mdir)):
            if re.match(r"^10[1-5]_.*\.sql$", f):
                with open(os.path.join(mdir, f), encoding="utf-8") as fh:
                    self.query(fh.read())

    def blocker(self, sql="SELECT 1", app="long_reader"):
        """An open REPEATABLE READ transaction holding a snapshot."""
        conn = self.connect(autocommit=False, application_name=app)
        conn.set_session(isolation_level="REPEATABLE READ")
        with conn.cursor() as cur:
            cur.execute(sql)
        return conn

    def wait_until(self, fn, what, timeout=DEADLINE):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = fn()
            if value:
                return value
            time.sleep(0.05)
        self.fail("gave up waiting for %s" % what)

    def no_indexer_backends(self):
        return self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'indexer'") == 0


# ---------------------------------------------------------------------------
class CommandLineTest(IndexerTestCase):

    def test_help_describes_options_commands_trade_off_and_exit_codes(self):
        r = self.run_indexer("--help", dsn=None)
        self.assertExit(r, 0)
        for opt in ("--config", "--dsn", "--schema", "--jobs", "--only", "--table",
                    "--critical-only", "--rebuild-drifted", "--lock-timeout",
                    "--statement-timeout", "--retries", "--maintenance-work-mem",
                    "--max-parallel-maintenance-workers", "--lock-wait", "--wait",
                    "--progress", "--no-progress", "--log-format", "--quiet",
                    "--verbose", "--version", "--help"):
            self.assertIn(opt, r.stdout, opt)
        for cmd in ("build", "plan", "check", "status"):
            self.assertRegex(r.stdout, r"(?m)^  %s " % cmd)
        self.assertIn("--lock-timeout bounds only the wait for the table lock", r.stdout)
        self.assertIn("only --statement-timeout bounds them", r.stdout)
        self.assertIn("Exit codes:", r.stdout)
        for code in ("0", "1", "2", "3", "4", "5", "130", "143"):
            self.assertRegex(r.stdout, r"(?m)^  %s +\S" % code)
        self.assertEqual(r.stderr, "")

    def test_version(self):
        r = self.run_indexer("--version", dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"^indexer \d+\.\d+\.\d+\n$")

    def test_bad_options(self):
        cases = [
            (("--bogus",), r'unknown option "--bogus"'),
            (("frobnicate",), r'unknown command "frobnicate"'),
            (("build", "extra"), r'unexpected argument "extra"'),
            (("-j", "0"), r"option --jobs: 0 is out of range \(1 to 64\)"),
            (("--lock-timeout", "5"), r'option --lock-timeout: invalid duration "5": a unit is required'),
            (("--retries", "x"), r'option --retries: invalid number "x"'),
            (("--maintenance-work-mem", "12"), r'option --maintenance-work-mem: invalid size "12": a unit is required'),
            (("--log-format", "xml"), r'option --log-format: invalid value "xml"'),
            (("check", "--rebuild-drifted"), r"--rebuild-drifted applies to build and plan only"),
        ]
        for args, msg in cases:
            r = self.run_indexer(*args)
            self.assertExit(r, 2, args)
            self.assertStderrMatches(r, ERROR + ".*" + msg)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_stat_activity "
                                     "WHERE application_name = 'indexer' AND datname = current_database()"), 0)

    def test_unreachable_server_exits_3(self):
        cfg = self.config([{"name": "idx_a", "table": "t", "sql": cic("idx_a", "t", "a")}])
        r = self.indexer(cfg, "build", dsn="host=/nonexistent/socket/dir dbname=x user=postgres")
        self.assertExit(r, 3)
        self.assertStderrMatches(r, ERROR + "could not connect to ")

    def test_json_log_format(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_a", "table": "t", "sql": cic("idx_a", "t", "a")}])
        r = self.indexer(cfg, "--log-format", "json")
        self.assertExit(r, 0)
        events = [json.loads(line) for line in r.lines]
        self.assertEqual([e["program"] for e in events], ["indexer"] * len(events))
        names = [e.get("event") for e in events]
        self.assertIn("build_start", names)
        self.assertIn("done", names)
        summary = events[names.index("summary")]
        self.assertEqual(summary["built"], "1")
        self.assertValid("idx_a", "t")


# ---------------------------------------------------------------------------
class ConfigTest(IndexerTestCase):
    """Bad input: one line naming file, line and field; exit 2; nothing touched."""

    GOOD = {"name": "idx_good", "table": "t", "sql": cic("idx_good", "t", "a")}

    def expect_bad(self, text, message):
        d = self.make_dir({"bad.cfg": text})
        path = os.path.join(d, "bad.cfg")
        # A server that does not exist: exit 2, not 3, proves the file is
        # refused before any connection is tried.
        r = self.run_indexer("-c", path, "build", dsn="host=/nonexistent/socket/dir dbname=x")
        self.assertExit(r, 2, text)
        self.assertIn("indexer: error: " + message.replace("@", path), r.lines, text)
        # and against the real database, nothing is built
        r = self.run_indexer("-c", path, "build")
        self.assertExit(r, 2, text)
        self.assertIsNone(self.index("idx_good"))

    def test_every_kind_of_bad_config(self):
        self.make_table("t")
        good = "  { name = \"idx_good\"; table = \"t\"; sql = \"%s\"; },\n" % self.GOOD["sql"]
        only = good.replace("},", "}")
        cases = [
            ("indexes = (\n" + good + "  { name = \"idx_b\"\n", "@:4: syntax error"),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; sql = \"%s\"; critcal = true; }\n);\n"
             % cic("idx_b", "t", "b"),
             '@:3: index "idx_b": unknown field "critcal" (known fields: name, table, sql, critical, description, schema, state, window)'),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; }\n);\n",
             '@:3: index "idx_b": missing field "sql"'),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; sql = \"%s\"; critical = \"yes\"; }\n);\n"
             % cic("idx_b", "t", "b"),
             '@:3: index "idx_b": field "critical" must be a boolean (true or false), not a string'),
            ("indexes = (\n" + good + "  { name = \"idx_good\"; table = \"t\"; sql = \"%s\"; }\n);\n"
             % self.GOOD["sql"],
             '@:3: index "idx_good": duplicate name "idx_good" in schema "public" (first defined at line 2)'),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; sql = \"CREATE INDEX idx_b ON t (b)\"; }\n);\n",
             '@:3: index "idx_b": field "sql": CREATE INDEX without CONCURRENTLY blocks writes to the table for the whole build; write CREATE INDEX CONCURRENTLY IF NOT EXISTS'),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; sql = \"%s\"; }\n);\n"
             % cic("idx_c", "t", "b"),
             '@:3: index "idx_b": field "sql": the statement creates index "idx_c", not "idx_b"'),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; sql = \"%s\"; }\n);\n"
             % cic("idx_b", "u", "b"),
             '@:3: index "idx_b": field "sql": the statement creates the index on "u", not on table "t"'),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; sql = \"%s; DROP TABLE t\"; }\n);\n"
             % cic("idx_b", "t", "b"),
             '@:3: index "idx_b": field "sql": 2 statements; exactly one CREATE INDEX statement is allowed'),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; sql = \"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_b ON t (\"; }\n);\n",
             '@:3: index "idx_b": field "sql": syntax error at end of input (line 1, column 53)'),
            ("indexes = (\n" + good + "  { name = \"idx_b\"; table = \"t\"; state = \"gone\"; }\n);\n",
             '@:3: index "idx_b": field "state" must be "present" or "absent", not "gone"'),
            ("indexes = (\n" + only + ");\nsettings = {\n  dsn = \"host=db password=secret\";\n};\n",
             '@:5: settings: "dsn" is not allowed in the file: no connection strings or passwords here; use --dsn, DATABASE_URL or libpq\'s PG* variables'),
            ("indexes = (\n" + only + ");\nsettings = {\n  jobs = 0;\n};\n",
             '@:5: settings: field "jobs": 0 is out of range (1 to 64)'),
            ("indexes = (\n" + only + ");\nsettings = {\n  lock_timeout = \"5\";\n};\n",
             '@:5: settings: field "lock_timeout": invalid duration "5": a unit is required, for example "5ms", "5s" or "5min"'),
            ("indexes = (\n" + only + ");\ncolour = true;\n",
             '@:4: unknown top-level setting "colour" (expected "indexes" and "settings")'),
        ]
        for text, message in cases:
            self.expect_bad(text, message)

    def test_missing_file_and_environment(self):
        r = self.run_indexer("-c", "/nonexistent/indexes.cfg")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'index definitions file "/nonexistent/indexes.cfg" not found \(set it with --config or INDEXER_CONFIG; the default is "conf/indexes.cfg" in the working directory\)$')
        # INDEXER_CONFIG names the file when -c does not
        self.make_table("t")
        cfg = self.config([self.GOOD])
        r = self.run_indexer("build", env={"INDEXER_CONFIG": cfg})
        self.assertExit(r, 0)
        self.assertValid("idx_good", "t")
        # a bad INDEXER_* value is bad input too
        r = self.run_indexer("build", env={"INDEXER_CONFIG": cfg, "INDEXER_JOBS": "many"})
        self.assertExit(r, 2)
        self.assertStderrMatches(r, ERROR + r'environment INDEXER_JOBS: invalid number "many"')

    def test_precedence_command_line_environment_file(self):
        for schema in ("s_file", "s_env", "s_cli"):
            self.query("CREATE SCHEMA %s" % schema)
            self.make_table("t", rows=10, schema=schema)
        cfg = self.config([{"name": "idx_p", "table": "t", "sql": cic("idx_p", "t", "a")}],
                          settings={"schema": "s_file"})
        self.assertExit(self.indexer(cfg), 0)
        self.assertValid("idx_p", "t", schema="s_file")
        self.assertIsNone(self.index("idx_p", schema="s_env"))
        self.assertExit(self.indexer(cfg, env={"INDEXER_SCHEMA": "s_env"}), 0)
        self.assertValid("idx_p", "t", schema="s_env")
        self.assertIsNone(self.index("idx_p", schema="s_cli"))
        self.assertExit(self.indexer(cfg, "--schema", "s_cli", env={"INDEXER_SCHEMA": "s_env"}), 0)
        self.assertValid("idx_p", "t", schema="s_cli")

    def test_filters(self):
        self.make_table("t")
        self.make_table("u")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")},
                           {"name": "idx_u", "table": "u", "sql": cic("idx_u", "u", "a"), "critical": True}])
        r = self.indexer(cfg, "--only", "nope")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'option --only: no index "nope" is defined in ')
        r = self.indexer(cfg, "--table", "v")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'option --table: no index is defined on table "v" in ')
        r = self.indexer(cfg, "--only", "idx_t")
        self.assertExit(r, 0)
        self.assertValid("idx_t", "t")
        self.assertIsNone(self.index("idx_u"))
        # the readiness gate looks at the critical ones only
        r = self.indexer(cfg, "check", "--critical-only")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'critical index "idx_u" on "public.u" is missing$')
        self.assertNoLine(r, r'"idx_t"')
        r = self.indexer(cfg, "--table", "public.u")
        self.assertExit(r, 0)
        self.assertValid("idx_u", "u")
        self.assertExit(self.indexer(cfg, "check", "--critical-only"), 0)


# ---------------------------------------------------------------------------
class BuildTest(IndexerTestCase):

    SHIPPED = os.path.join(SOURCE_DIR, "conf", "indexes.cfg")
    SHIPPED_INDEXES = {
        "idx_business_calendars_business_active": "business_calendars",
        "idx_business_calendars_priority": "business_calendars",
        "idx_calendar_routing_business_active": "calendar_routing_rules",
        "idx_calendar_routing_calendar": "calendar_routing_rules",
        "idx_appointments_calendar_id": "appointments",
    }

    def test_clean_build_of_the_shipped_definitions(self):
        self.migrate_examples()
        r = self.indexer(self.SHIPPED, "check")
        self.assertExit(r, 5)
        self.assertLastLineMatches(r, r"check: 5 of 5 defined indexes are not in line with ")
        r = self.indexer(self.SHIPPED, "plan")
        self.assertExit(r, 0)
        self.assertEqual(sorted(ln.split()[1] for ln in r.stdout.splitlines()),
                         sorted(self.SHIPPED_INDEXES))
        self.assertTrue(all(ln.startswith("build ") for ln in r.stdout.splitlines()), r.stdout)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'idx_%%'"), 0)

        r = self.indexer(self.SHIPPED, "build")
        self.assertExit(r, 0)
        for name, table in self.SHIPPED_INDEXES.items():
            self.assertValid(name, table)
            self.assertStderrMatches(r, r'^indexer: built "%s" on "public.%s" in ' % (name, table))
        self.assertLastLineMatches(r, r"summary: 5 built, 0 present, .* 0 failed \(0 critical, 0 non-critical\)")
        self.assertIn("(business_id, is_active)", self.indexdef("idx_business_calendars_business_active"))
        r = self.indexer(self.SHIPPED, "check")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"check: all 5 defined indexes checked are in line with ")
        r = self.indexer(self.SHIPPED, "check", "--critical-only")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"check: the 1 defined index checked is in line with ")

        r = self.indexer(self.SHIPPED, "status")
        self.assertExit(r, 0)
        for name in self.SHIPPED_INDEXES:
            self.assertRegex(r.stdout, r"(?m)^%s +public\.\w+ +present " % name)
        self.assertRegex(r.stdout, r"(?m)^not in .*:\n(  public\.\w+: \w+_pkey \(constraint \w+\)\n){3}")
        self.assertNotIn("duplicates", r.stdout)
        # an index made by hand that repeats a defined one
        self.query("CREATE INDEX dup_calendar ON appointments (calendar_id)")
        r = self.indexer(self.SHIPPED, "status")
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^  public\.appointments: dup_calendar$")
        self.assertRegex(r.stdout, r"(?m)^duplicates .*:\n  public\.appointments: dup_calendar, idx_appointments_calendar_id$")

    def test_second_run_is_a_no_op_with_one_catalog_query(self):
        self.migrate_examples()
        self.assertExit(self.indexer(self.SHIPPED), 0)
        before = self.query("SELECT indexrelid, indisvalid FROM pg_index ORDER BY 1")
        # the server logs every statement of this database from now on
        self.query("ALTER DATABASE %s SET log_statement = 'all'" % self.ident(self.dbname))
        logfile = self.cluster["logfile"]
        offset = os.path.getsize(logfile)
        r = self.indexer(self.SHIPPED)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"summary: 0 built, 5 present, 0 repaired, .*, 1 catalog query$")
        self.assertEqual(self.query("SELECT indexrelid, indisvalid FROM pg_index ORDER BY 1"), before)
        # what the server received: exactly one catalog query, no DDL, no probe
        self.wait_until(lambda: "indexer: catalog" in self._log_since(logfile, offset),
                        "the catalog query in the server log")
        log = self._log_since(logfile, offset)
        self.assertEqual(log.count("/* indexer: catalog */"), 1, log)
        self.assertEqual(log.count("/* indexer: "), 1, log)
        self.assertNotRegex(log, r"(?i)\b(CREATE|DROP|ALTER) INDEX\b")
        self.assertNotRegex(log, r"(?i)\bBEGIN\b")

    @staticmethod
    def _log_since(path, offset):
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def test_build_behind_a_long_repeatable_read_transaction(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        # unrelated to the table: it only holds an old snapshot
        holder = self.blocker("SELECT 1")
        pid = self.backend_pid(holder)
        proc = self.start(cfg, "--lock-timeout", "1s")
        self.wait_for_stderr(proc, r'"idx_t" on "public.t": blocked by pid=%d application="long_reader" '
                             r'state=idle in transaction xact_age=[0-9.]+s' % pid)
        # it waits, invalid, and is not cancelled however long that takes
        row = self.index("idx_t")
        self.assertIsNotNone(row)
        self.assertFalse(row[1])
        holder.commit()
        r = self.finish(proc)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_t" on "public.t": waiting [0-9.]+m?s so far for older transactions to finish \(virtualxid')
        self.assertNoLine(r, r"retrying|gave up|lock-timeout")
        self.assertStderrMatches(r, r'^indexer: built "idx_t" on "public.t" in ')
        self.assertValid("idx_t", "t")

    def test_progress_line_when_stderr_is_not_a_terminal(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        holder = self.blocker("SELECT 1")
        proc = self.start(cfg)
        # a log line every 10s while a build runs (a bar only on a terminal)
        line = self.wait_for_stderr(
            proc, r'^indexer: progress: "idx_t" on "public.t": waiting for old snapshots.*, [0-9.]+m?s$', timeout=60)
        self.assertNotIn("\r", line)
        holder.commit()
        r = self.finish(proc)
        self.assertExit(r, 0)
        self.assertValid("idx_t", "t")

    def test_held_table_lock_times_out_is_retried_and_succeeds(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        holder = self.hold_lock("LOCK TABLE t IN SHARE MODE")
        pid = self.backend_pid(holder)
        proc = self.start(cfg, "--lock-timeout", "1s", "--retries", "20")
        self.wait_for_stderr(proc, r'"idx_t" on "public.t": gave up waiting for a lock on "public.t" '
                             r'after --lock-timeout 1s \(lock_timeout\); retrying in ')
        # cancelled while waiting for the table lock: nothing was created
        self.assertIsNone(self.index("idx_t"))
        holder.rollback()
        r = self.finish(proc)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_t" on "public.t": waited longer than --lock-timeout 1s for a lock on the table; canceling$')
        self.assertStderrMatches(r, WARN + r'"idx_t" on "public.t": blocked by pid=%d application="toolkit_lock_holder"' % pid)
        self.assertStderrMatches(r, r'^indexer: built "idx_t" on "public.t" in ')
        self.assertLastLineMatches(r, r"summary: 1 built, .* 0 failed")
        self.assertValid("idx_t", "t")

    def test_lock_timeout_spent_on_a_non_critical_index(self):
        self.make_table("t")
        self.make_table("u")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")},
                           {"name": "idx_u", "table": "u", "sql": cic("idx_u", "u", "a")}])
        holder = self.hold_lock("LOCK TABLE t IN SHARE MODE")
        r = self.indexer(cfg, "--lock-timeout", "200ms", "--retries", "1")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'could not build "idx_t" on "public.t": gave up waiting for a lock '
                                 r'on "public.t" after --lock-timeout 200ms \(after 2 attempts\) \(not critical: the run goes on\)$')
        self.assertIsNone(self.index("idx_t"))
        self.assertValid("idx_u", "u")
        self.assertLastLineMatches(r, r"summary: 1 built, .* 1 failed \(0 critical, 1 non-critical\)")
        holder.rollback()

    def test_lost_connection_reconnects_drops_the_leftover_and_retries(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        holder = self.blocker("SELECT 1")
        proc = self.start(cfg, "--retries", "5")
        self.wait_for_stderr(proc, r'"idx_t" on "public.t": blocked by pid=')
        build_pid = self.scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                "AND application_name = 'indexer' AND query LIKE 'CREATE INDEX CONCURRENTLY%%'")
        self.assertIsNotNone(build_pid)
        self.assertTrue(self.scalar("SELECT pg_terminate_backend(%s)", (build_pid,)))
        self.wait_for_stderr(proc, r'"idx_t" on "public.t": dropped the invalid index the failed build left$')
        holder.commit()
        r = self.finish(proc)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_t" on "public.t": 57P01: terminating connection due to administrator command '
                                 r'\(admin_shutdown\); retrying in .* \(attempt 2 of 6\)$')
        self.assertStderrMatches(r, r'^indexer: built "idx_t" on "public.t" in ')
        self.assertValid("idx_t", "t")

    def test_statement_timeout_is_not_retried_and_leaves_nothing(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        holder = self.blocker("SELECT 1")
        r = self.indexer(cfg, "--statement-timeout", "1s")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'could not build "idx_t" on "public.t": 57014: canceling statement due to '
                                 r'statement timeout \(not critical: the run goes on\)$')
        self.assertNoLine(r, r"retrying")
        self.assertNoRelation("idx_t")
        holder.commit()

    def test_reindex_leftovers_are_named_and_our_own_dropped(self):
        # issue 10: only what is provably ours is dropped: an _ixnew that is the
        # definition with only the name changed; an unmarked _ixold is reported
        self.make_table("t")
        self.query("CREATE INDEX idx_t ON t (a)")
        self.query("CREATE INDEX idx_t_ccnew ON t (a)")
        self.query("CREATE INDEX idx_t_ixnew ON t (a)")
        self.query("CREATE INDEX idx_t_ixold ON t (b)")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        r = self.indexer(cfg, "plan")
        self.assertRegex(r.stdout, r"(?m)^cleanup +idx_t on public.t: leftovers of an interrupted rebuild$")
        self.assertRegex(r.stdout, r"(?m)^drop +idx_t_ixnew on public.t: leftover of an interrupted rebuild$")
        self.assertNotRegex(r.stdout, r"idx_t_ixold")
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"public.idx_t_ccnew" on "public.t" is a leftover of an interrupted '
                                 r'REINDEX CONCURRENTLY of "idx_t"; drop it with DROP INDEX CONCURRENTLY$')
        self.assertStderrMatches(r, WARN + r'"public.idx_t_ixold" on "public.t" is named like a leftover of a '
                                 r'rebuild of "idx_t", but is not provably the indexer\'s: it does not carry the mark')
        self.assertStderrMatches(r, r'^indexer: dropped the leftovers of "idx_t" on "public.t" in ')
        self.assertNoRelation("idx_t_ixnew")
        self.assertValid("idx_t_ixold", "t")
        self.assertValid("idx_t_ccnew", "t")
        self.assertValid("idx_t", "t")

    def test_the_leftover_of_a_long_name_ends_in_a_hash_and_is_found(self):
        # a name too long for "_ixnew" gets a hashed one (catalog_derived_name); the catalog
        # query's one pass over the leftovers must still find it
        name = "idx_" + "l" * 58
        full = (name + "_ixnew").encode()
        h = 2166136261
        for b in full:
            h = ((h ^ b) * 16777619) & 0xFFFFFFFF
        tmp = full[:54].decode() + "_%08x" % h
        self.make_table("t")
        self.query("CREATE INDEX %s ON t (a)" % name)
        self.query("CREATE INDEX %s ON t (a)" % tmp)
        cfg = self.config([{"name": name, "table": "t", "sql": cic(name, "t", "a")}])
        r = self.indexer(cfg, "plan")
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^drop +%s on public.t: leftover of an interrupted rebuild$" % tmp)
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertNoRelation(tmp)
        self.assertValid(name, "t")

    def test_memory_warning_for_parallel_builds(self):
        self.make_table("t")
        self.make_table("u")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")},
                           {"name": "idx_u", "table": "u", "sql": cic("idx_u", "u", "a")}])
        r = self.indexer(cfg, "-j", "2", "--maintenance-work-mem", "1GB")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r"2 builds at once with maintenance_work_mem 1024MB may use 2048MB of server memory")
        self.assertValid("idx_t", "t")
        self.assertValid("idx_u", "u")
        # below the threshold: the same builds, no warning
        self.query("DROP INDEX idx_t, idx_u")
        r = self.indexer(cfg, "-j", "2", "--maintenance-work-mem", "64MB")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"summary: 2 built, ")
        self.assertNoLine(r, r"server memory")

    def test_invalid_leftover_is_repaired(self):
        self.make_table("t")
        self.query("INSERT INTO t VALUES (1000, 1, 1, 'dup@x'), (1001, 1, 1, 'dup@x')")
        # a failed concurrent build leaves an invalid index behind
        with self.assertRaises(Exception):
            self.query("CREATE UNIQUE INDEX CONCURRENTLY idx_email ON t (email)")
        old = self.index("idx_email")
        self.assertFalse(old[1])
        self.query("DELETE FROM t WHERE id = 1001")
        cfg = self.config([{"name": "idx_email", "table": "t",
                            "sql": cic("idx_email", "t", "email", unique=True)}])
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'index "idx_email" on "public.t" is invalid \(left by a failed build\)$')
        r = self.indexer(cfg, "plan")
        self.assertRegex(r.stdout, r"(?m)^repair +idx_email on public.t: an invalid index")
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_email" on "public.t": dropping the invalid index left by an earlier build$')
        self.assertStderrMatches(r, r'^indexer: repaired "idx_email" on "public.t" in ')
        self.assertLastLineMatches(r, r"summary: 0 built, 0 present, 1 repaired,")
        self.assertValid("idx_email", "t")
        self.assertNotEqual(self.index("idx_email")[0], old[0])
        self.assertExit(self.indexer(cfg, "check"), 0)

    def test_non_critical_failure_exits_0_and_drops_its_leftover(self):
        self.make_table("t")
        self.make_table("u", rows=10)
        cfg = self.config([{"name": "idx_dup", "table": "t", "critical": False,
                            "sql": cic("idx_dup", "t", "a", unique=True)},
                           {"name": "idx_u", "table": "u", "sql": cic("idx_u", "u", "b")}])
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'could not build "idx_dup" on "public.t": 23505: could not create unique index "idx_dup"; '
                                 r'detail: Key \(a\)=\(\d+\) is duplicated\. \(not critical: the run goes on\)$')
        self.assertStderrMatches(r, r'"idx_dup" on "public.t": dropped the invalid index the failed build left$')
        # a unique violation is not retried
        self.assertNoLine(r, r"retrying")
        self.assertNoRelation("idx_dup")
        self.assertValid("idx_u", "u")
        self.assertLastLineMatches(r, r"summary: 1 built, .* 1 failed \(0 critical, 1 non-critical\)")

    def test_critical_failure_exits_1_and_starts_nothing_more(self):
        self.make_table("big", rows=20000)
        self.make_table("small", rows=10)
        cfg = self.config([{"name": "idx_small", "table": "small", "sql": cic("idx_small", "small", "a")},
                           {"name": "idx_dup", "table": "big", "critical": True,
                            "sql": cic("idx_dup", "big", "a", unique=True)}])
        r = self.indexer(cfg)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, ERROR + r'critical index "idx_dup" on "public.big" failed: 23505: ')
        self.assertLastLineMatches(r, ERROR + r"1 critical index could not be built$")
        self.assertStderrMatches(r, r"summary: 0 built, .* 1 failed \(1 critical, 0 non-critical\), 1 skipped,")
        # the leftover is gone, and the smaller table (after it) was not started
        self.assertNoRelation("idx_dup")
        self.assertIsNone(self.index("idx_small"))

    def test_missing_tables(self):
        self.make_table("t")
        defs = [{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")},
                {"name": "idx_gone", "table": "gone", "sql": cic("idx_gone", "gone", "a")}]
        r = self.indexer(self.config(defs))
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_gone" on "public.gone" skipped: table "public.gone" does not exist: '
                                 r'it must be created by a migration first \(migrator up\), then the index can be '
                                 r'built \(not critical: the run goes on\)$')
        self.assertValid("idx_t", "t")
        r = self.indexer(self.config(defs), "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'index "idx_gone" on "public.gone" cannot be built: table "public.gone" does not '
                                 r'exist: it must be created by a migration first \(migrator up\), then the index can '
                                 r'be built$')
        self.assertLastLineMatches(r, r'; run "migrator up" to create the missing tables, then "indexer build"$')

        defs[1]["critical"] = True
        defs.append({"name": "idx_t2", "table": "t", "sql": cic("idx_t2", "t", "b")})
        r = self.indexer(self.config(defs))
        self.assertExit(r, 1)
        self.assertStderrMatches(r, ERROR + r'critical index "idx_gone" on "public.gone" cannot be built: table "public.gone" '
                                 r'does not exist: it must be created by a migration first \(migrator up\), then the '
                                 r'index can be built$')
        self.assertIsNone(self.index("idx_t2"))

    def test_name_taken_by_a_table_or_another_tables_index(self):
        self.make_table("t")
        self.make_table("u", rows=10)
        self.query("CREATE TABLE idx_taken (x int)")
        self.query("CREATE INDEX idx_elsewhere ON u (a)")
        before = self.index("idx_elsewhere")
        defs = [{"name": "idx_taken", "table": "t", "sql": cic("idx_taken", "t", "a")},
                {"name": "idx_elsewhere", "table": "t", "sql": cic("idx_elsewhere", "t", "a")}]
        cfg = self.config(defs)
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_taken" on "public.t" skipped: the name is taken: "public.idx_taken" is a table, not an index')
        self.assertStderrMatches(r, WARN + r'"idx_elsewhere" on "public.t" skipped: the name is taken: index "public.idx_elsewhere" '
                                 r'exists on table "public.u", not on "public.t"')
        self.assertNoLine(r, r"already exists")
        self.assertLastLineMatches(r, r"summary: 0 built, 0 present, .* 2 failed \(0 critical, 2 non-critical\)")
        self.assertEqual(self.index("idx_elsewhere"), before)
        self.assertEqual(self.scalar("SELECT relkind FROM pg_class WHERE relname = 'idx_taken'"), "r")
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'index "idx_taken" on "public.t" cannot be built: the name is taken')

    def test_state_absent(self):
        self.make_table("t")
        self.query("CREATE INDEX idx_old ON t (b)")
        self.query("CREATE TABLE idx_notanindex (x int)")
        defs = [{"name": "idx_old", "table": "t", "state": "absent"},
                {"name": "idx_never", "table": "t", "state": "absent"},
                {"name": "idx_notanindex", "table": "t", "state": "absent"}]
        cfg = self.config(defs)
        r = self.indexer(cfg, "plan")
        self.assertRegex(r.stdout, r"(?m)^drop +idx_old on public.t")
        self.assertRegex(r.stdout, r"(?m)^absent +idx_never on public.t$")
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'index "idx_old" on "public.t" exists but should be absent')
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'^indexer: dropped "idx_old" on "public.t" in ')
        self.assertStderrMatches(r, WARN + r'"idx_notanindex" on "public.t" skipped: the name is taken: "public.idx_notanindex" is a table, not an index; not dropped')
        self.assertNoRelation("idx_old")
        self.assertEqual(self.scalar("SELECT relkind FROM pg_class WHERE relname = 'idx_notanindex'"), "r")
        r = self.indexer(self.config(defs[:2]))
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"summary: 0 built, 0 present, 0 repaired, 0 rebuilt, 0 dropped, 2 absent,")


# ---------------------------------------------------------------------------
class ParallelTest(IndexerTestCase):

    def test_jobs_2_builds_tables_in_parallel_never_two_on_one_table(self):
        defs = []
        for t in ("t1", "t2", "t3"):
            self.make_table(t, rows=2000)
            for col in ("a", "b"):
                name = "idx_%s_%s" % (t, col)
                defs.append({"name": name, "table": t, "sql": cic(name, t, col)})
        cfg = self.config(defs)
        # every build stops at "waiting for old snapshots" until this ends
        holder = self.blocker("SELECT 1")
        proc = self.start(cfg, "-j", "2", "--no-progress")
        samples = []

        def two_at_once():
            rows = self.query("SELECT relid::regclass::text, phase FROM pg_stat_progress_create_index "
                              "WHERE datid = (SELECT oid FROM pg_database WHERE datname = current_database())")
            samples.append(rows)
            return len(rows) == 2 and all(r[1] == "waiting for old snapshots" for r in rows)

        self.wait_until(two_at_once, "two builds waiting at once")
        holder.commit()
        r = self.finish(proc)
        self.assertExit(r, 0)
        for rows in samples:
            tables = [row[0] for row in rows]
            self.assertLessEqual(len(tables), 2, samples)
            self.assertEqual(len(tables), len(set(tables)), "two builds on one table: %r" % rows)
        for d in defs:
            self.assertValid(d["name"], d["table"])
        self.assertLastLineMatches(r, r"summary: 6 built, ")

    def test_overlapping_runs_exit_4(self):
        self.make_table("t")
        self.make_table("u")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        other = self.config([{"name": "idx_u", "table": "u", "sql": cic("idx_u", "u", "a")}])
        holder = self.blocker("SELECT 1")
        first = self.start(cfg)
        self.wait_for_stderr(first, r'"idx_t" on "public.t": blocked by pid=')
        r = self.indexer(other)
        self.assertExit(r, 4)
        self.assertLastLineMatches(r, ERROR + r'another indexer run holds the lock "indexer:%s"; gave up after --lock-wait 0$'
                                   % self.dbname)
        self.assertIsNone(self.index("idx_u"))
        # the read-only commands take no lock
        self.assertExit(self.indexer(other, "plan"), 0)
        holder.commit()
        r1 = self.finish(first)
        self.assertExit(r1, 0)
        self.assertValid("idx_t", "t")
        self.assertExit(self.indexer(other), 0)
        self.assertValid("idx_u", "u")


# ---------------------------------------------------------------------------
class PartialWaitTest(IndexerTestCase):

    def test_partial_index_builds_wait_for_each_other_and_say_so(self):
        # A predicate that takes 3s on one row keeps the first build busy;
        # PostgreSQL makes every other concurrent build of a partial or
        # expression index wait for it (they are not "safe" for each other).
        self.query("CREATE FUNCTION slow_pred(bigint) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS "
                   "$$ BEGIN IF $1 = 1 THEN PERFORM pg_sleep(3); END IF; RETURN true; END $$")
        self.make_table("t1", rows=5000)
        self.make_table("t2", rows=10)
        cfg = self.config([
            {"name": "idx_slow", "table": "t1", "sql": cic("idx_slow", "t1", "id", where="slow_pred(id)")},
            {"name": "idx_quick", "table": "t2", "sql": cic("idx_quick", "t2", "a", where="a > 0")},
        ])
        # a writer on t2 holds the quick build in its first phase until the
        # slow one is scanning, so that the order is certain
        writer = self.connect(autocommit=False, application_name="writer")
        with writer.cursor() as cur:
            cur.execute("LOCK TABLE t2 IN ROW EXCLUSIVE MODE")
        proc = self.start(cfg, "-j", "2", "--no-progress")
        self.wait_until(lambda: self.scalar(
            "SELECT count(*) FROM pg_stat_progress_create_index p JOIN pg_class c ON c.oid = p.relid "
            "WHERE c.relname = 't1' AND p.phase LIKE 'building index%'"), "the slow build scanning")
        writer.commit()
        r = self.finish(proc)
        self.assertExit(r, 0)
        self.assertStderrMatches(
            r, r'^indexer: "idx_quick" on "public.t2" waits for our own build of "idx_slow": '
               r"concurrent builds of expression and partial indexes wait for each other \(a PostgreSQL rule\)")
        self.assertValid("idx_slow", "t1")
        self.assertValid("idx_quick", "t2")


class DriftTest(IndexerTestCase):

    def test_drift_made_by_hand(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_ab", "table": "t", "sql": cic("idx_ab", "t", "a, b")}])
        self.assertExit(self.indexer(cfg), 0)
        # someone "fixes" the index by hand
        self.query("DROP INDEX idx_ab")
        self.query("CREATE INDEX idx_ab ON t (a)")
        by_hand = self.index("idx_ab")
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'index "idx_ab" on "public.t" drifted: the database has '
                                 r'"CREATE INDEX idx_ab ON public.t USING btree \(a\)"; the file defines "CREATE INDEX CONCURRENTLY')
        r = self.indexer(cfg, "status")
        self.assertRegex(r.stdout, r"(?m)^idx_ab +public.t +drifted ")
        # build reports it and leaves it alone without --rebuild-drifted
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_ab" on "public.t" drifted: .*; not replaced \(pass --rebuild-drifted\)$')
        self.assertEqual(self.index("idx_ab"), by_hand)
        r = self.indexer(cfg, "plan", "--rebuild-drifted")
        self.assertRegex(r.stdout, r"(?m)^rebuild +idx_ab on public.t: drifted")
        r = self.indexer(cfg, "--rebuild-drifted")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'^indexer: building "idx_ab_ixnew" on "public.t"$')
        self.assertStderrMatches(r, r'^indexer: rebuilt "idx_ab" on "public.t" in ')
        self.assertValid("idx_ab", "t")
        self.assertNotEqual(self.index("idx_ab")[0], by_hand[0])
        self.assertEqual(self.indexdef("idx_ab"), "CREATE INDEX idx_ab ON public.t USING btree (a, b)")
        self.assertNoRelation("idx_ab_ixnew")
        self.assertNoRelation("idx_ab_ixold")
        self.assertExit(self.indexer(cfg, "check"), 0)

    def test_spelling_is_not_drift(self):
        self.make_table("t")
        sql = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_email ON t (lower(email)) "
               "WHERE a IN (1, 2) AND email IS NOT NULL")
        cfg = self.config([{"name": "idx_email", "table": "t", "sql": sql}])
        self.assertExit(self.indexer(cfg), 0)
        # the server spells it differently (casts, = ANY (ARRAY[...]))
        self.assertIn("lower((email)::text)", self.indexdef("idx_email"))
        r = self.indexer(cfg, "check")
        self.assertExit(r, 0)
        # a real difference in the predicate is still drift
        self.query("DROP INDEX idx_email")
        self.query("CREATE INDEX idx_email ON t (lower(email)) WHERE a IN (1, 3) AND email IS NOT NULL")
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, r'index "idx_email" on "public.t" drifted')

    def test_rebuild_refuses_an_index_used_by_a_constraint(self):
        self.make_table("t")
        self.query("ALTER TABLE t ADD CONSTRAINT t_email_key UNIQUE (email)")
        before = self.index("t_email_key")
        cfg = self.config([{"name": "t_email_key", "table": "t",
                            "sql": cic("t_email_key", "t", "email, a", unique=True)}])
        r = self.indexer(cfg, "--rebuild-drifted")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"t_email_key" on "public.t" skipped: drifted \(the database has .*\), '
                                 r'but constraint t_email_key uses it: --rebuild-drifted does not replace it')
        self.assertEqual(self.index("t_email_key"), before)
        self.assertNoRelation("t_email_key_ixnew")


# ---------------------------------------------------------------------------
class PartitionTest(IndexerTestCase):

    def test_partitioned_table_partition_by_partition(self):
        self.query("CREATE TABLE events (id bigint, kind int, at date) PARTITION BY RANGE (at)")
        self.query("CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
        self.query("CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') "
                   "PARTITION BY LIST (kind)")
        self.query("CREATE TABLE events_2025_a PARTITION OF events_2025 FOR VALUES IN (1)")
        self.query("CREATE TABLE events_2025_rest PARTITION OF events_2025 DEFAULT")
        self.query("INSERT INTO events SELECT g, g % 3, date '2024-06-01' + (g % 400) FROM generate_series(1, 3000) g")
        cfg = self.config([{"name": "idx_events_kind", "table": "events",
                            "sql": cic("idx_events_kind", "events", "kind, id")}])
        r = self.indexer(cfg, "plan")
        self.assertRegex(r.stdout, r"(?m)^build +idx_events_kind on public.events \(partitioned: partition by partition\): missing \(estimated [^)]*(\)[^)]*)?\)$")
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_events_kind" on partitioned table "public.events": 4 partitions, ')
        self.assertStderrMatches(r, r'^indexer: building "idx_events_kind_events_2024" on "public.events_2024"$')
        self.assertStderrMatches(r, r'^indexer: built "idx_events_kind" on "public.events" in ')
        # the parent's index is valid, and every partition has an index in its tree
        self.assertValid("idx_events_kind", "events")
        tree = self.query(
            "WITH RECURSIVE t(oid) AS (SELECT 'idx_events_kind'::regclass::oid UNION ALL "
            "  SELECT inhrelid FROM pg_inherits JOIN t ON inhparent = t.oid) "
            "SELECT c.relname, tc.relname, i.indisvalid FROM t JOIN pg_class c ON c.oid = t.oid "
            "JOIN pg_index i ON i.indexrelid = c.oid JOIN pg_class tc ON tc.oid = i.indrelid ORDER BY 2")
        self.assertEqual([(row[1], row[2]) for row in tree],
                         [("events", True), ("events_2024", True), ("events_2025", True),
                          ("events_2025_a", True), ("events_2025_rest", True)])
        self.assertIn(("idx_events_kind_events_2024", "events_2024", True), tree)
        self.assertExit(self.indexer(cfg, "check"), 0)
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"summary: 0 built, 1 present,")

    def test_unfinished_partitioned_index_is_resumed(self):
        self.query("CREATE TABLE m (id bigint, k int) PARTITION BY LIST (k)")
        self.query("CREATE TABLE m1 PARTITION OF m FOR VALUES IN (1)")
        self.query("CREATE TABLE m2 PARTITION OF m FOR VALUES IN (2)")
        # as an interrupted run leaves it: the parent ON ONLY, one partition attached
        self.query("CREATE INDEX idx_m ON ONLY m (id)")
        self.query("CREATE INDEX idx_m_m1 ON m1 (id)")
        self.query("ALTER INDEX idx_m ATTACH PARTITION idx_m_m1")
        self.assertEqual(self.index("idx_m")[1], False)
        cfg = self.config([{"name": "idx_m", "table": "m", "sql": cic("idx_m", "m", "id")}])
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'index "idx_m" on "public.m" is not valid')
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertNoLine(r, r'building "idx_m_m1"')
        self.assertStderrMatches(r, r'building "idx_m_m2" on "public.m2"')
        self.assertValid("idx_m", "m")
        self.assertValid("idx_m_m2", "m2")


# ---------------------------------------------------------------------------
class SignalTest(IndexerTestCase):

    def test_sigterm_mid_build_names_what_remains_and_the_next_run_repairs_it(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        # reads the table: its lock keeps DROP INDEX CONCURRENTLY waiting too
        holder = self.blocker("SELECT count(*) FROM t")
        proc = self.start(cfg)
        self.wait_for_stderr(proc, r'"idx_t" on "public.t": blocked by pid=%d' % self.backend_pid(holder))
        proc.send_signal(signal.SIGTERM)
        r = self.finish(proc)
        self.assertExit(r, 143)
        self.assertStderrMatches(r, WARN + r"signal 15: canceling 1 statement in flight; dropping what they leave behind")
        self.assertStderrMatches(r, WARN + r'"idx_t" on "public.t" interrupted: .*the invalid index "public.idx_t" is left behind: '
                                 r'the next run repairs it$')
        row = self.index("idx_t")
        self.assertIsNotNone(row)
        self.assertFalse(row[1])
        # nothing of the run keeps going on the server
        self.wait_until(self.no_indexer_backends, "the indexer's backends to end")
        holder.commit()
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'^indexer: repaired "idx_t" on "public.t" in ')
        self.assertValid("idx_t", "t")

    def test_sigint_mid_build_drops_the_leftover(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        holder = self.blocker("SELECT 1")
        proc = self.start(cfg)
        self.wait_for_stderr(proc, r'"idx_t" on "public.t": blocked by pid=')
        proc.send_signal(signal.SIGINT)
        r = self.finish(proc)
        self.assertExit(r, 130)
        self.assertStderrMatches(r, r'"idx_t" on "public.t": dropped the invalid index the failed build left$')
        self.assertStderrMatches(r, WARN + r'"idx_t" on "public.t" interrupted: ')
        self.assertNoLine(r, r"left behind")
        self.assertNoRelation("idx_t")
        holder.commit()
        self.wait_until(self.no_indexer_backends, "the indexer's backends to end")


if __name__ == "__main__":
    unittest.main()
