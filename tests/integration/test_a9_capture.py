"""
test_a9_capture.py
    Issue 9, sections 1, 2 and 3 re-proved on today's code (task a9-capture):
    the capture test's extractor really reads every query of the sources;
    swallowed-error in every spelling; the server's notices attributed to
    the statement that raised them on the pipelined path too; concurrent
    index builds of a no-transaction migration never leave an invalid index
    behind, and never drop a build in progress.

tests/integration/test_a9_capture.py
"""

import glob
import os
import re
import threading
import time
import unittest

import test_trust_capture as capture
from toolkit_test import ToolkitTestCase

NOTHING_APPLIED = r"lint: \d+ errors? in the pending migrations; nothing applied"


# ---------------------------------------------------------------------------
class ExtractorTest(unittest.TestCase):
    """Section 1: the planted overloads come from every query of the sources.

    A query the extractor misses is a query whose functions and operators
    are never planted: it could then be captured without the capture test
    noticing.  These tests need no server."""

    def sources(self):
        paths = []
        for d in ("common", "migrator", "indexer"):
            paths += sorted(glob.glob(os.path.join(capture.SOURCE_DIR, d, "*.c")))
        return [p for p in paths if os.path.relpath(p, capture.SOURCE_DIR) not in capture._EXCLUDED]

    def test_every_literal_that_reads_as_sql_is_in_an_extracted_statement(self):
        # a literal is certainly SQL when it qualifies a name or a cast with
        # pg_catalog, names an operator, or takes a parameter with a cast
        certain = re.compile(r"\bpg_catalog\.\w|\bOPERATOR\s*\(|\$\d+::")
        missed = []
        for path in self.sources():
            statements = "\n".join(s for _, s in capture.c_sql_strings(path))
            for line, text in capture.c_string_literals(path):
                if certain.search(text) and text not in statements:
                    missed.append("%s:%d: %s" % (os.path.relpath(path, capture.SOURCE_DIR), line, text.strip()))
        self.assertEqual(missed, [], "SQL the capture test does not plant for:\n" + "\n".join(missed))

    def test_macros_fragments_and_new_modules_are_read(self):
        funcs, ops, statements = capture.toolkit_sql_usage()
        files = {w.split(":")[0] for w, _ in statements}
        # modules added after the capture test was written
        for rel in ("indexer/replica_guard.c", "indexer/record.c", "indexer/cmd_history.c",
                    "indexer/index_metrics.c", "indexer/drift.c", "migrator/history.c",
                    "migrator/apply_pipeline.c", "migrator/startup.c", "migrator/apply_session.c",
                    "common/advlock.c"):
            self.assertIn(rel, files, "no SQL read from %s" % rel)
        text = "\n".join(s for _, s in statements)
        # backslash-continued macros, a macro inside a macro (advlock's HELD_SQL)
        self.assertIn("l.classid::pg_catalog.int8 = ((k.key >> 32) & 4294967295)", text)
        self.assertIn("WITH k AS (SELECT $1::pg_catalog.int8 AS key)", text)
        # apply_session's PIN_SQL and event-trigger probe
        self.assertIn("pg_catalog.set_config('statement_timeout', $3, true)", text)
        self.assertIn("pg_catalog.pg_event_trigger WHERE evtenabled", text)
        # the history write's update-or-insert, with its macro in the middle
        self.assertIn("applied_by = pg_catalog.concat(SESSION_USER", text)
        self.assertIn("EXTRACT(epoch FROM pg_catalog.clock_timestamp()", text)
        # a fragment appended with textbuf_append (indexer history)
        self.assertIn("pg_catalog.to_timestamp($1::pg_catalog.float8)", text)
        for f in ("concat", "to_timestamp", "transaction_timestamp", "set_config", "count"):
            self.assertIn(f, funcs)
        for o in (">>", "&", "||", "="):
            self.assertIn(o, ops)


# ---------------------------------------------------------------------------
class SwallowedErrorFormsTest(ToolkitTestCase):
    """Section 2: every spelling of a handler that can catch the run's
    errors and does not end in RAISE is a lint error, at the WHEN line,
    from lint (offline), plan and up (exit 2, nothing applied); handlers
    that cannot catch them, or that end in RAISE, are not."""

    def lint(self, body):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int);\n", "2_b.sql": body})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        return d, r

    def findings(self, d, r):
        path = re.escape(os.path.join(d, "2_b.sql"))
        return [int(m.group(1)) for m in re.finditer(r"(?m)^%s:(\d+):\d+: error swallowed-error: " % path,
                                                    r.stdout)]

    REFUSED = [
        # (condition, handler body)
        ("OTHERS", "RAISE NOTICE 'x';"),
        ("lock_not_available", "NULL;"),
        ("LOCK_NOT_AVAILABLE", "NULL;"),
        ("SQLSTATE '55P03'", "NULL;"),
        ("object_not_in_prerequisite_state", "NULL;"),   # class 55: catches 55P03
        ("SQLSTATE '55000'", "NULL;"),
        ("deadlock_detected", "NULL;"),
        ("serialization_failure", "NULL;"),
        ("transaction_rollback", "NULL;"),                # class 40
        ("SQLSTATE '40P01'", "NULL;"),
        ("SQLSTATE '40000'", "NULL;"),
        ("query_canceled", "NULL;"),
        ("admin_shutdown", "NULL;"),
        ("operator_intervention", "NULL;"),               # class 57
        ("SQLSTATE '57014'", "NULL;"),
        ("SQLSTATE '57000'", "NULL;"),
        ("division_by_zero OR lock_not_available", "NULL;"),
        ("OTHERS", "RAISE WARNING 'x';"),                 # not at ERROR level
        ("OTHERS", "RAISE; RAISE NOTICE 'after';"),       # does not END in RAISE
        ("OTHERS", "IF true THEN RAISE; END IF;"),        # ends in IF, not RAISE
        # a RAISE at the end that is never reached: RETURN leaves the DO
        # block, EXIT/CONTINUE its loop, before it
        ("OTHERS", "RETURN; RAISE;"),
        ("lock_not_available", "IF SQLERRM <> '' THEN RETURN; END IF; RAISE;"),
        ("SQLSTATE '40P01'", "CONTINUE; RAISE;"),
        ("query_canceled", "EXIT; RAISE;"),
    ]

    ACCEPTED = [
        ("division_by_zero", "NULL;"),
        ("duplicate_column", "RAISE NOTICE 'exists';"),
        ("SQLSTATE '42701'", "NULL;"),
        ("SQLSTATE '42000'", "NULL;"),                     # class 42: not the run's
        ("OTHERS", "RAISE NOTICE 'failed: %', SQLERRM; RAISE;"),
        ("lock_not_available", "RAISE EXCEPTION 'gave up: %', SQLERRM;"),
        ("OTHERS", "RAISE USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM;"),
    ]

    @staticmethod
    def body(condition, handler):
        if re.search(r"\b(EXIT|CONTINUE)\b", handler):  # inside a loop, the WHEN still on line 5
            return ("DO $$ BEGIN LOOP\n"                   # 1
                    "BEGIN\n"                              # 2
                    "  ALTER TABLE t ADD COLUMN b int;\n"  # 3
                    "EXCEPTION\n"                          # 4
                    "  WHEN %s THEN\n"                     # 5
                    "    %s\n"                             # 6
                    "END; EXIT; END LOOP; END $$;\n" % (condition, handler))
        return ("DO $$\n"                                  # 1
                "BEGIN\n"                                  # 2
                "  ALTER TABLE t ADD COLUMN b int;\n"      # 3
                "EXCEPTION\n"                              # 4
                "  WHEN %s THEN\n"                         # 5
                "    %s\n"                                 # 6
                "END $$;\n" % (condition, handler))

    def test_every_spelling_that_can_catch_the_runs_errors_is_refused(self):
        for condition, handler in self.REFUSED:
            with self.subTest(condition=condition, handler=handler):
                d, r = self.lint(self.body(condition, handler))
                self.assertExit(r, 2)
                self.assertEqual(self.findings(d, r), [5], r.describe())
                self.assertRegex(r.stdout, r"WHEN .* catches .*but does not end in RAISE.*IF NOT EXISTS.*"
                                           r"end the handler with RAISE; to re-raise it")

    def test_handlers_that_cannot_catch_them_or_reraise_are_accepted(self):
        for condition, handler in self.ACCEPTED:
            with self.subTest(condition=condition, handler=handler):
                d, r = self.lint(self.body(condition, handler))
                self.assertEqual(self.findings(d, r), [], r.describe())
                self.assertExit(r, 0)

    def test_nested_blocks_each_handler_at_its_line(self):
        body = ("DO $$\n"                                          # 1
                "BEGIN\n"                                          # 2
                "  BEGIN\n"                                        # 3
                "    ALTER TABLE t ADD COLUMN b int;\n"            # 4
                "  EXCEPTION\n"                                    # 5
                "    WHEN duplicate_column THEN NULL;\n"           # 6  fine
                "    WHEN lock_not_available THEN NULL;\n"         # 7  refused
                "  END;\n"                                         # 8
                "  BEGIN\n"                                        # 9
                "    ALTER TABLE t ADD COLUMN c int;\n"            # 10
                "  EXCEPTION WHEN OTHERS THEN\n"                   # 11 re-raises: fine
                "    RAISE;\n"                                     # 12
                "  END;\n"                                         # 13
                "EXCEPTION\n"                                      # 14
                "  WHEN SQLSTATE '40001' THEN\n"                   # 15 refused
                "    RAISE NOTICE 'serialization';\n"              # 16
                "END $$;\n")
        d, r = self.lint(body)
        self.assertExit(r, 2)
        self.assertEqual(sorted(self.findings(d, r)), [7, 15], r.describe())

    def test_up_refuses_before_anything_runs(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int);\n",
                           "2_b.sql": self.body("SQLSTATE '57000'", "NULL;")})
        path = re.escape(os.path.join(d, "2_b.sql"))
        for command in ("plan", "up"):
            r = self.run_migrator(command, "--dir", d)
            self.assertExit(r, 2)
            self.assertStderrMatches(r, r"^migrator: error: %s:5:\d+: swallowed-error: " % path)
            self.assertLastLineMatches(r, NOTHING_APPLIED)
        self.assertFalse(self.table_exists("t"))
        self.assertFalse(self.table_exists("schema_migrations"))


# ---------------------------------------------------------------------------
class PipelinedNoticesTest(ToolkitTestCase):
    """Section 2: the server's NOTICE and WARNING are `notice:` lines (and
    warnings) naming the migration and the file:line of the statement that
    raised them, on the pipelined path as on the statement-by-statement one."""

    FILE = ("CREATE TABLE a (id int);\n"                                       # 1
            "CREATE TABLE b (id int);\n"                                       # 2
            "DO $$ BEGIN RAISE NOTICE 'third statement speaks'; END $$;\n"     # 3
            "CREATE TABLE c (id int);\n"                                       # 4
            "\n"                                                               # 5
            "DO $$ BEGIN RAISE WARNING 'fifth line warns'; END $$;\n"          # 6
            "CREATE TABLE e (id int);\n")                                      # 7

    def check(self, r, d, stem):
        path = re.escape(os.path.join(d, stem + ".sql"))
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"^migrator: notice: migration 1 at %s:3: third statement speaks$" % path)
        self.assertStderrMatches(r, r"^migrator: warning: migration 1 at %s:6: fifth line warns$" % path)
        notices = [ln for ln in r.stderr.splitlines() if "speaks" in ln or "warns" in ln]
        self.assertEqual(len(notices), 2, r.describe())
        self.assertEqual(self.query("SELECT version FROM schema_migrations ORDER BY 1"), [(1,)])

    def test_pipelined_notice_names_the_statement_line(self):
        d = self.make_dir({"1_talk.sql": self.FILE})
        r = self.run_migrator("up", "--dir", d, "--verbose")
        self.assertTrue(any(re.search(r"\b1_talk: \d+ statements in one pipeline", ln) for ln in r.lines),
                        "not pipelined\n" + r.describe())
        self.check(r, d, "1_talk")

    def test_pipelined_notice_of_a_later_migration_behind_a_riding_commit(self):
        # two migrations: the first's COMMIT rides in front of the second's batch
        d = self.make_dir({"1_talk.sql": self.FILE,
                           "2_more.sql": "CREATE TABLE d (id int);\n"
                                         "DO $$ BEGIN RAISE NOTICE 'second file speaks'; END $$;\n"})
        r = self.run_migrator("up", "--dir", d, "--verbose")
        self.assertExit(r, 0)
        for stem in ("1_talk", "2_more"):
            self.assertTrue(any(re.search(r"\b%s: \d+ statements in one pipeline" % stem, ln) for ln in r.lines),
                            "%s not pipelined\n%s" % (stem, r.describe()))
        self.assertStderrMatches(r, r"^migrator: notice: migration 2 at %s:2: second file speaks$"
                                 % re.escape(os.path.join(d, "2_more.sql")))
        self.assertStderrMatches(r, r"^migrator: notice: migration 1 at %s:3: third statement speaks$"
                                 % re.escape(os.path.join(d, "1_talk.sql")))

    def test_a_verify_files_notice_names_the_verify_line(self):
        # before: a plain "server notice:" line, naming no migration and no file
        # migration 1 (a function: statement by statement) and 2 (pipelined) each have a verify
        # file whose function raises a NOTICE: the migration's, at the verify file's line on both
        # paths (statement by statement, it once named the file only)
        verify = "SELECT true;\n\nSELECT a_ok(%d);\n"
        d = self.make_dir({
            "1_talk.sql": ("CREATE TABLE a (id int);\n"
                           "CREATE FUNCTION a_ok(n int) RETURNS boolean STABLE LANGUAGE plpgsql AS $$\n"
                           "BEGIN RAISE NOTICE 'verify % speaks', n; RETURN true; END $$;\n"),
            "1_talk.verify.sql": verify % 1,
            "2_more.sql": "CREATE TABLE b (id int);\n",
            "2_more.verify.sql": verify % 2})
        r = self.run_migrator("up", "--dir", d, "--verbose")
        self.assertExit(r, 0)
        self.assertTrue(any(re.search(r"\b2_more: \d+ statements in one pipeline", ln) for ln in r.lines),
                        "not pipelined\n" + r.describe())
        self.assertStderrMatches(r, r"^migrator: notice: migration 1 at %s:3: verify 1 speaks$"
                                 % re.escape(os.path.join(d, "1_talk.verify.sql")))
        self.assertStderrMatches(r, r"^migrator: notice: migration 2 at %s:3: verify 2 speaks$"
                                 % re.escape(os.path.join(d, "2_more.verify.sql")))
        self.assertNotIn("server notice", r.stderr)
        self.assertEqual(self.query("SELECT version FROM schema_migrations ORDER BY 1"), [(1,), (2,)])

    def test_no_transaction_notice_names_the_statement_line(self):
        d = self.make_dir({"1_talk.sql": "-- migrator:no-transaction\n" + self.FILE.replace(
            "CREATE TABLE a (id int);\n", "")})
        path = re.escape(os.path.join(d, "1_talk.sql"))
        self.query("CREATE TABLE a (id int)")
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"^migrator: notice: migration 1 at %s:3: third statement speaks$" % path)
        self.assertStderrMatches(r, r"^migrator: warning: migration 1 at %s:6: fifth line warns$" % path)


# ---------------------------------------------------------------------------
class NoTransactionBuildInProgressTest(ToolkitTestCase):
    """Section 3: an INVALID index that another session is still building
    (it is in pg_stat_progress_create_index) is not a leftover: the routed
    build never drops it; the migration fails (exit 1, recorded failed, so
    check fails too) and passes once that build has finished."""

    HEADER = "-- migrator:no-transaction\n-- migrator:allow create-index\n"

    def index_oid(self):
        return self.scalar("SELECT to_regclass('public.t_a')::oid")

    def test_a_build_in_progress_is_never_dropped(self):
        self.query("CREATE TABLE t (a int); INSERT INTO t SELECT generate_series(1, 100)")
        writer = self.hold_lock("INSERT INTO t VALUES (0)")  # an older transaction
        builder = self.connect(autocommit=True, application_name="a9_other_build")
        errors = []

        def build():
            try:
                builder.cursor().execute("CREATE INDEX CONCURRENTLY t_a ON t (a)")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        thread = threading.Thread(target=build)
        thread.start()
        self.addCleanup(thread.join, 60)
        self.addCleanup(writer.rollback)
        deadline = time.monotonic() + 30
        while not self.scalar("SELECT count(*) FROM pg_stat_progress_create_index p "
                              "WHERE p.index_relid = to_regclass('public.t_a')"):
            self.assertLess(time.monotonic(), deadline, "the other build never showed in progress")
            time.sleep(0.05)
        oid = self.index_oid()
        self.assertFalse(self.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = %s", (oid,)))
        other_pid = self.scalar("SELECT pid FROM pg_stat_activity WHERE application_name = 'a9_other_build'")

        d = self.make_dir({"1_idx.sql": self.HEADER + "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a ON t (a);\n"})
        path = os.path.join(d, "1_idx.sql")
        r = self.run_migrator("up", "--dir", d, "--lock-timeout", "1s", "--retries", "0")
        self.assertExit(r, 1)
        self.assertLastLineMatches(
            r, r"^migrator: error: migration 1 failed at %s:3: .*backend %d is building it right now"
               % (re.escape(path), other_pid))
        self.assertNoLine(r, r"DROP INDEX|dropped")
        # the other build goes on, untouched
        self.assertEqual(self.index_oid(), oid)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_stat_progress_create_index WHERE pid = %s",
                                     (other_pid,)), 1)
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations"), [(1, "failed")])
        self.assertExit(self.run_migrator("check", "--dir", d), 5)

        writer.commit()
        thread.join(60)
        self.assertEqual(errors, [])
        self.assertTrue(self.scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = %s", (oid,)))
        r = self.run_migrator("up", "--dir", d, "--lock-timeout", "1s")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'index "t_a" on "public\.t" exists and is valid; IF NOT EXISTS leaves it')
        self.assertEqual(self.index_oid(), oid)
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations"), [(1, "applied")])
        self.assertExit(self.run_migrator("check", "--dir", d), 0)


# ---------------------------------------------------------------------------
class IndexerArmedHistoryTest(capture.TrustTestCase):
    """Section 1: the indexer's history table, ours but armed (a rule, a
    row-level security policy calling a hostile function, TRIGGER granted
    to the hostile role), is refused with exit 2 and the reason by every
    command that writes or reads it; nothing of the arming runs."""

    def config(self, *names):
        body = ",\n".join('  { name = "%s"; table = "t"; critical = false; '
                          'sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON t (id)"; }' % (n, n)
                          for n in names)
        d = self.make_dir({"indexes.cfg": "indexes = (\n%s\n);\n" % body})
        return os.path.join(d, "indexes.cfg")

    def test_armed_indexer_history_is_refused(self):
        self.as_mallory("CREATE FUNCTION app.tk_hit() RETURNS boolean LANGUAGE plpgsql AS $tk$\nBEGIN%s\n"
                        "  RETURN true;\nEND\n$tk$" % capture._trace_block("'app.tk_hit()'",
                                                                         capture._lit(self.trace_dir)))
        self.sql("CREATE TABLE app.t (id bigint)")
        first = self.config("t_first_idx")
        r = self.run_indexer("build", "-c", first, "--schema", "app")
        self.assertExit(r, 0)
        self.assertEqual(self.sql("SELECT count(*) FROM app.indexer_history WHERE action = 'built'"), [(1,)])
        arms = [
            ("rule", ["CREATE RULE r AS ON INSERT TO app.indexer_history DO ALSO SELECT app.tk_hit()"],
             r"rule"),
            ("policy", ["ALTER TABLE app.indexer_history ENABLE ROW LEVEL SECURITY",
                        "ALTER TABLE app.indexer_history FORCE ROW LEVEL SECURITY",
                        "CREATE POLICY p ON app.indexer_history USING (app.tk_hit()) WITH CHECK (app.tk_hit())"],
             r"row.level security|polic"),
            ("trigger granted", ["GRANT TRIGGER ON app.indexer_history TO mallory"], r"trigger|grant|privilege"),
        ]
        cfg = self.config("t_first_idx", "t_second_idx")
        for arm, statements, why in arms:
            for st in statements:
                self.sql(st)
            for cmd in (["build"], ["plan"], ["history"]):
                with self.subTest(arm=arm, command=cmd[0]):
                    r = self.run_indexer(*(cmd + ["-c", cfg, "--schema", "app"]))
                    self.assertExit(r, 2)
                    self.assertStderrMatches(r, r"(?i)^indexer: error: .*indexer_history.*(%s)" % why)
                    self.assertIsNone(self.sql("SELECT pg_catalog.to_regclass('app.t_second_idx')")[0][0])
                    self.assertEqual(self.traces(), self.clean_traces(), self.describe_traces(self.traces()))
            # disarm for the next case
            self.sql("DROP RULE IF EXISTS r ON app.indexer_history; "
                     "DROP POLICY IF EXISTS p ON app.indexer_history; "
                     "ALTER TABLE app.indexer_history NO FORCE ROW LEVEL SECURITY; "
                     "ALTER TABLE app.indexer_history DISABLE ROW LEVEL SECURITY; "
                     "REVOKE ALL ON app.indexer_history FROM mallory")
        self.assertEqual(self.sql("SELECT count(*) FROM app.indexer_history"), [(1,)])


if __name__ == "__main__":
    unittest.main()
