"""
test_audit9_run.py
    Issue 9, sections 4 to 7, proved on every path of today's "up": the
    pipelined batch (apply_pipeline.c), a COMMIT held and sent in front of the
    next batch, the one-statement-at-a-time apply (a file over the pipeline's
    16 kB), no-transaction files, allow-dml files, requires-index files, the
    no-op fast path and check.  Each test names the paths it drives and
    asserts, from the migrator's debug log, that they were taken.

tests/integration/test_audit9_run.py
"""

import os
import re
import uuid

from test_migrator import ERROR_PREFIX, MigratorTestCase
from test_trust_files import SHIM_C, re_escape
from toolkit_test import NOLOGIN_ROLE, compile_preload

import shutil

SCHEMA = "app"

# a statement over the pipeline's 16 kB: the file goes one statement at a time
BIG = "COMMENT ON TABLE %s IS '" + "x" * 17000 + "';\n"


def piped(r, stem):
    """Did the debug log say that stem went in one pipeline?"""
    return re.search(r"(?m)%s: \d+ statements in one pipeline" % re.escape(stem), r.stderr) is not None


class Audit9Case(MigratorTestCase):

    def up_v(self, d, *args, **kw):
        return self.run_migrator("up", "--dir", d, "-v", *args, **kw)

    def assertPiped(self, r, stem, expected=True):
        self.assertEqual(piped(r, stem), expected,
                         "%s %s pipelined\n%s" % (stem, "was not" if expected else "was", r.describe()))


# ---------------------------------------------------------------------------
# Section 4: every migration file is read, or the run stops -- on the no-op
# fast path (nothing pending: applied files are not parsed) and in check
# ---------------------------------------------------------------------------

class FilesOnTheFastPath(Audit9Case):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shim_dir, cls.shim = compile_preload(SHIM_C)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.shim_dir, True)
        super().tearDownClass()

    def current_dir(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "1_a.verify.sql": "SELECT to_regclass('a') IS NOT NULL;\n",
                           "2_b.sql": "CREATE TABLE b (id int);\n"})
        self.assertExit(self.up(d), 0)
        return d

    def assertStops(self, d, path, reason, env=None):
        for cmd in ("up", "check", "plan"):
            with self.subTest(command=cmd, path=path):
                r = self.run_migrator(cmd, "--dir", d, env=env, timeout=30)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, "^migrator: error: %s: could not read: %s"
                                         % (re_escape(path), reason))
                self.assertNoLine(r, r"schema is current")
                self.assertEqual(self.versions("applied"), [1, 2])

    def test_applied_file_replaced_by_a_fifo_stops_up_and_check(self):
        d = self.current_dir()
        for name in ("1_a.sql", "1_a.verify.sql"):
            path = os.path.join(d, name)
            with open(path) as f:
                keep = f.read()
            os.unlink(path)
            os.mkfifo(path)
            # a blocking open would hang: the 30 s timeout fails the test
            self.assertStops(d, path, r"a FIFO, not a migration file$")
            os.unlink(path)
            with open(path, "w") as f:
                f.write(keep)
        self.assertExit(self.run_migrator("check", "--dir", d), 0)

    def test_applied_file_that_is_a_dangling_link_or_directory_stops_up_and_check(self):
        d = self.current_dir()
        path = os.path.join(d, "2_b.sql")
        os.unlink(path)
        os.symlink("gone.sql", path)
        self.assertStops(d, path, r"dangling symbolic link")
        os.unlink(path)
        os.mkdir(path)
        self.assertStops(d, path, r"a directory, not a migration file$")

    def test_applied_file_vanishing_between_scan_and_read_stops_up_and_check(self):
        d = self.current_dir()
        path = os.path.join(d, "1_a.sql")
        for cmd in ("up", "check"):
            with self.subTest(command=cmd):
                with open(path, "w") as f:
                    f.write("CREATE TABLE a (id int);\n")
                r = self.run_migrator(cmd, "--dir", d, env={"LD_PRELOAD": self.shim, "TK_VANISH": path,
                                                            "ASAN_OPTIONS": "verify_asan_link_order=0"})
                self.assertExit(r, 2)
                self.assertStderrMatches(r, "^migrator: error: %s: could not read: the file vanished after "
                                         "the directory was read$" % re_escape(path))
                self.assertEqual(self.versions("applied"), [1, 2])

    def test_changed_bytes_of_an_applied_file_are_caught_on_the_fast_path(self):
        d = self.current_dir()
        path = os.path.join(d, "2_b.sql")
        # one byte, in a comment: parses the same, but is not the file applied
        with open(path, "w") as f:
            f.write("CREATE TABLE b (id int);\n--\n")
        for cmd in ("up", "check"):
            with self.subTest(command=cmd):
                r = self.run_migrator(cmd, "--dir", d)
                self.assertExit(r, 6)
                self.assertStderrMatches(r, re_escape(path))
                self.assertNoLine(r, r"schema is current")
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_each_file_is_read_once_on_the_fast_path_and_in_check(self):
        d = self.current_dir()
        for cmd in ("up", "check"):
            with self.subTest(command=cmd):
                log = os.path.join(self.make_dir(), "opens.log")
                r = self.run_migrator(cmd, "--dir", d, env={"LD_PRELOAD": self.shim, "TK_OPEN_LOG": log,
                                                            "ASAN_OPTIONS": "verify_asan_link_order=0"})
                self.assertExit(r, 0)
                self.assertStderrMatches(r, r"schema is current at version 2")
                with open(log) as f:
                    opened = sorted(os.path.basename(p) for p in f.read().split())
                self.assertEqual(opened, ["1_a.sql", "1_a.verify.sql", "2_b.sql"], "every file opened once")

    def test_lint_of_a_named_fifo_or_directory_is_refused(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        fifo = os.path.join(d, "2_b.sql")
        os.mkfifo(fifo)
        r = self.run_migrator("lint", fifo, dsn=None, timeout=30)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, "(?m)^%s: error unreadable-file: could not read: a FIFO, not a migration file"
                         % re_escape(fifo))
        os.unlink(fifo)
        os.mkdir(fifo)
        r = self.run_migrator("lint", fifo, dsn=None, timeout=30)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, "(?m)^%s: error unreadable-file: could not read: a directory, "
                         "not a migration file" % re_escape(fifo))


# ---------------------------------------------------------------------------
# Section 5: the run lock is held until the last commit; each version once
# ---------------------------------------------------------------------------

KILL_LOCK = ("-- migrator:allow dml\n"
             "DO $$ BEGIN PERFORM pg_catalog.pg_terminate_backend(l.pid, 5000) "
             "FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' "
             "AND l.pid <> pg_catalog.pg_backend_pid() AND l.database = (SELECT oid "
             "FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()); END $$;\n")

UNLOCK_ALL = ("-- migrator:allow advisory-unlock-all\n"
              "DO $$ BEGIN EXECUTE 'SELECT pg_advisory_unlock_all()'; END $$;\n")

LOCK_LOST = r'the run lock "migrator:.*" is no longer held by this run'


class RunLockOnEveryPath(Audit9Case):

    def test_lock_connection_terminated_fails_the_migration_on_every_path(self):
        cases = {
            # stem: (file, pipelined?, recorded as)
            "pipelined": ("CREATE TABLE k (id int);\n" + KILL_LOCK, True, []),
            "one_by_one": ("CREATE TABLE k (id int);\n" + BIG % "k" + KILL_LOCK, False, []),
            "no_transaction": ("-- migrator:no-transaction\n" + KILL_LOCK, False, ["failed"]),
            "verify": ("CREATE TABLE k (id int);\n", True, []),
        }
        for stem, (sql, pipelined, recorded) in cases.items():
            with self.subTest(path=stem):
                files = {"1_quiet.sql": "CREATE TABLE q (id int);\n", "2_%s.sql" % stem: sql,
                         "3_after.sql": "CREATE TABLE after (id int);\n"}
                if stem == "verify":
                    # with a verify file the confirmation still comes last, after the verify
                    files["2_%s.sql" % stem] = sql + KILL_LOCK
                    files["2_%s.verify.sql" % stem] = "SELECT to_regclass('k') IS NOT NULL;\n"
                d = self.make_dir(files)
                r = self.up_v(d)
                self.assertExit(r, 1)
                self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 2 failed at .*2_%s\.sql:\d+: %s"
                                           % (stem, LOCK_LOST))
                self.assertPiped(r, "2_" + stem, pipelined)
                # the quiet migration before it was held, and committed in front of it
                self.assertEqual(self.query("SELECT version, status FROM schema_migrations ORDER BY 1"),
                                 [(1, "applied")] + [(2, s) for s in recorded])
                self.assertFalse(self.table_exists("k"), r.describe())
                self.assertFalse(self.table_exists("after"), r.describe())
                self.query("DROP TABLE schema_migrations, q")

    def test_unlock_all_through_execute_cannot_release_the_lock_on_any_path(self):
        d = self.make_dir({
            "1_pipelined.sql": "CREATE TABLE p (id int);\n" + UNLOCK_ALL,
            "2_one_by_one.sql": "CREATE TABLE o (id int);\n" + BIG % "o" + UNLOCK_ALL,
            "3_no_transaction.sql": "-- migrator:no-transaction\n" + UNLOCK_ALL,
            "4_dml.sql": "-- migrator:allow-dml\nCREATE TABLE m (id int);\nINSERT INTO m VALUES (1);\n"
                         + UNLOCK_ALL,
            "5_last.sql": "CREATE TABLE last (id int);\n",
        })
        r = self.up_v(d)
        self.assertExit(r, 0)
        self.assertPiped(r, "1_pipelined")
        self.assertPiped(r, "2_one_by_one", False)
        self.assertEqual(self.versions("applied"), [1, 2, 3, 4, 5])

    def test_each_transaction_confirms_the_lock_after_its_history_row_and_before_its_commit(self):
        """The server's log of the migrations' connection: in every transaction that writes a
        history row, the run lock is looked up in pg_locks after the row and before COMMIT, on
        every path (pipelined, held COMMIT riding in front of the next batch, one statement at a
        time, no-transaction, allow-dml, requires-index)."""
        self.query("CREATE SCHEMA %s" % SCHEMA)
        d = self.make_dir({
            "1_quiet.sql": "CREATE TABLE w (id int PRIMARY KEY, name text);\n",
            "2_quiet_rides.sql": "ALTER TABLE w ADD COLUMN note text;\n",
            "3_pipelined.sql": "CREATE TABLE p (id int);\nDO $$ BEGIN PERFORM 1; END $$;\n",
            "3_pipelined.verify.sql": "SELECT to_regclass('p') IS NOT NULL;\n",
            "4_one_by_one.sql": "CREATE TABLE o (id int);\n" + BIG % "o",
            "5_no_transaction.sql": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS n (id int);\n",
            "6_dml.sql": "-- migrator:allow-dml\nINSERT INTO w VALUES (1, 'a');\n",
            "7_requires.sql": "-- migrator:requires-index w_name_idx\nALTER TABLE w ADD COLUMN r int;\n",
            "8_quiet_last.sql": "CREATE TABLE z (id int);\n",
        })
        cfg = self.make_dir({"indexes.cfg": 'indexes = (\n  { name = "w_name_idx"; table = "w"; '
                             'sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS w_name_idx ON w (name)"; '
                             'critical = true; }\n);\n'})
        self.query("ALTER DATABASE %s SET log_statement = 'all'" % self.ident(self.dbname))
        marker = self.log_marker()
        r = self.up_v(d, "--schema", SCHEMA, "--index-config", os.path.join(cfg, "indexes.cfg"))
        self.assertExit(r, 0)
        self.assertPiped(r, "2_quiet_rides")
        self.assertRegex(r.stderr, r"2_quiet_rides: \d+ statements in one pipeline, behind the COMMIT of 1_quiet")
        self.assertPiped(r, "4_one_by_one", False)
        self.assertEqual(self.versions("applied", schema=SCHEMA), list(range(1, 9)))
        txs = self.history_transactions(marker)
        # the lock's connection ran none of the migrations' statements
        # (the backend every confirmation names: $2 of the pg_locks check)
        with open(self.cluster["logfile"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        text = text[text.rfind(marker):]
        lock_pids = set(re.findall(r"AND l\.objid::pg_catalog\.int8 = \(k\.key & 4294967295\)\n"
                                   r"\S+ \S+ \S+ \[\d+\] DETAIL:  parameters: \$1 = '-?\d+', \$2 = '(\d+)'", text))
        self.assertEqual(len(lock_pids), 1, lock_pids)
        self.assertIn(next(iter(lock_pids)), self.statements_by_pid(marker, "pg_try_advisory_lock"))
        for pid in lock_pids:
            ran = "\n".join(self.statements_by_pid(marker)[pid])
            for needle in ("CREATE TABLE", "ALTER TABLE", "INSERT INTO w", "COMMENT ON", "PERFORM 1"):
                self.assertNotIn(needle, ran)
        self.assertEqual(sorted(v for v, _ in txs), list(range(1, 9)), txs)
        for version, events in txs:
            with self.subTest(version=version):
                self.assertEqual(events[-1], "commit", events)
                after_row = events[events.index("history") + 1:]
                self.assertIn("lock", after_row, "no run-lock check after the history row of %d: %s"
                              % (version, events))

    # the server log ------------------------------------------------------------

    def log_marker(self):
        marker = "audit9-marker-" + uuid.uuid4().hex
        conn = self.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT %s", (marker,))
        conn.close()
        return marker

    def statements_by_pid(self, marker, containing=None):
        """{pid: [statement]} of the log after marker (only pids that ran one containing the text)."""
        with open(self.cluster["logfile"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        text = text[text.rfind(marker):]
        found = {}
        for m in re.finditer(r"(?m)^\S+ \S+ \S+ \[(\d+)\] LOG:  (?:statement|execute [^:]*): (.*)$", text):
            found.setdefault(m.group(1), []).append(m.group(2))
        return {p: v for p, v in found.items() if containing is None or any(containing in x for x in v)}

    def history_transactions(self, marker):
        """[(version, [events])] for each transaction in the log after marker that wrote a history
        row: events in order, of "begin", "history", "lock", "commit", "rollback"."""
        with open(self.cluster["logfile"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        at = text.rfind(marker)
        self.assertGreaterEqual(at, 0)
        head = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (LOG|DETAIL):  (.*)$")
        records = []  # [pid, kind, text]
        for line in text[at:].splitlines():
            m = head.match(line)
            if m:
                records.append([m.group(1), m.group(2), m.group(3)])
            elif records:
                records[-1][2] += "\n" + line
        open_tx = {}  # pid -> [version, events]
        txs = []
        last_history = {}
        for pid, kind, body in records:
            tx = open_tx.setdefault(pid, [None, []])
            if kind == "DETAIL":
                m = re.match(r"parameters: \$1 = '(\d+)'", body)
                if m and last_history.get(pid):
                    tx[0] = int(m.group(1))
                last_history[pid] = False
                continue
            last_history[pid] = False
            m = re.match(r"(?:statement|execute [^:]*): (.*)", body, re.S)
            if not m:
                continue
            s = m.group(1).strip()
            if re.match(r"(BEGIN|START)\b", s):
                open_tx[pid] = [None, ["begin"]]
            elif re.match(r"(COMMIT|ROLLBACK)$", s):
                tx[1].append(s.lower())
                if tx[0] is not None:
                    txs.append((tx[0], tx[1]))
                open_tx[pid] = [None, []]
            elif "WITH u AS (UPDATE" in s and "schema_migrations" in s:
                tx[1].append("history")
                last_history[pid] = True
            elif "pg_locks" in s and "advisory" in s and "classid" in s:
                tx[1].append("lock")
        return txs


class HistoryRowOnce(Audit9Case):
    """A pending version's row is a plain INSERT of exactly one row; only a failed row is updated."""

    # a row of the migration's own version, written behind the run's back
    ROW = ("INSERT INTO public.h_%s (version, name, checksum, status) "
           "VALUES (%d, 'x', 'x', '%s');\n")

    def rows(self, table):
        return self.query("SELECT version, status FROM %s ORDER BY 1" % table)

    def test_a_concurrent_failed_row_of_a_pending_version_fails_it_on_every_path(self):
        cases = {
            "pipelined": ("-- migrator:allow-dml\nCREATE TABLE k (id int);\n", True),
            "one_by_one": ("-- migrator:allow-dml\nCREATE TABLE k (id int);\n" + BIG % "k", False),
            "no_transaction": ("-- migrator:no-transaction\n-- migrator:allow-dml\n"
                               "CREATE TABLE IF NOT EXISTS k (id int);\n", False),
        }
        for stem, (sql, pipelined) in cases.items():
            with self.subTest(path=stem):
                d = self.make_dir({"1_a%s.sql" % stem: "CREATE TABLE a%s (id int);\n" % stem,
                                   "2_%s.sql" % stem: sql.replace(" k ", " k%s " % stem)
                                   + self.ROW % (stem, 2, "failed")})
                r = self.up_v(d, "--history-table", "h_" + stem)
                self.assertExit(r, 1)
                self.assertPiped(r, "2_" + stem, pipelined)
                self.assertStderrMatches(r, ERROR_PREFIX + r"migration 2 failed at .*2_%s\.sql:\d+: 23505: " % stem)
                self.assertLastLineMatches(r, r"^migrator: detail: Key \(version\)=\(2\) already exists\.$")
                if stem == "no_transaction":
                    # the row written behind its back stays what it was: not taken for its own
                    self.assertEqual(self.rows("h_" + stem), [(1, "applied"), (2, "failed")])
                    self.assertEqual(self.scalar("SELECT name FROM h_%s WHERE version = 2" % stem), "x")
                else:
                    # rolled back with the migration that wrote it
                    self.assertEqual(self.rows("h_" + stem), [(1, "applied")])
                # a transactional migration is rolled back; a no-transaction one's statements stay
                self.assertEqual(self.table_exists("k" + stem), stem == "no_transaction", r.describe())

    def test_a_trigger_the_migration_puts_on_the_history_table_fails_it_on_every_path(self):
        self.query("""CREATE FUNCTION public.swallow() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN RETURN NULL; END $$""")
        trig = ("CREATE TRIGGER swallow BEFORE INSERT OR UPDATE ON public.schema_migrations "
                "FOR EACH ROW EXECUTE FUNCTION public.swallow();\n")
        cases = {
            "pipelined": "CREATE TABLE k (id int);\n" + trig,
            "one_by_one": "CREATE TABLE k (id int);\n" + BIG % "k" + trig,
            "no_transaction": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS k (id int);\n" + trig,
        }
        for stem, sql in cases.items():
            with self.subTest(path=stem):
                d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n", "2_%s.sql" % stem: sql})
                r = self.up_v(d)
                self.assertExit(r, 1)
                self.assertStderrMatches(r, ERROR_PREFIX + r"migration 2 failed at .*2_%s\.sql:\d+: .*"
                                            r"(trigger|history)" % stem)
                self.assertNotIn((2, "applied"),
                                 self.query("SELECT version, status FROM schema_migrations ORDER BY 1"))
                if stem != "no_transaction":
                    self.assertEqual(self.versions(), [1])
                    self.assertFalse(self.table_exists("k"), r.describe())
                self.query("DROP TABLE schema_migrations, a; DROP TABLE IF EXISTS k")

    def test_only_a_failed_row_is_updated(self):
        # a failed no-transaction migration runs again: its row goes from failed to applied
        self.query("CREATE TABLE gate (ok boolean)")
        self.query("INSERT INTO gate VALUES (false)")
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_n.sql": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS n (id int);\n",
                           "2_n.verify.sql": "SELECT ok FROM gate;\n"})
        self.assertExit(self.up(d), 1)
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations ORDER BY 1"),
                         [(1, "applied"), (2, "failed")])
        self.query("UPDATE gate SET ok = true")
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations ORDER BY 1"),
                         [(1, "applied"), (2, "applied")])
        # a failed version whose row another writer made applied meanwhile is not written over
        self.query("UPDATE schema_migrations SET status = 'failed' WHERE version = 2")
        d2 = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                            "2_n.sql": "-- migrator:no-transaction\n-- migrator:allow-dml\n"
                                       "UPDATE public.schema_migrations SET status = 'applied', name = 'other' "
                                       "WHERE version = 2;\n"})
        r = self.up(d2)
        self.assertExit(r, 1)
        self.assertEqual(self.scalar("SELECT name FROM schema_migrations WHERE version = 2"), "other")


# ---------------------------------------------------------------------------
# Sections 6 and 7: the verify file after the history row, read-only, and the
# session re-established before every migration and its verify file
# ---------------------------------------------------------------------------

# what a migration (or a function it calls, out of lint's sight) can do to its session
LEAK_FN = """CREATE FUNCTION public.leak() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RESET ALL;
  PERFORM pg_catalog.set_config('search_path', 'public', false);
  PERFORM pg_catalog.set_config('application_name', 'leaked', false);
  PERFORM pg_catalog.set_config('lock_timeout', '1h', false);
  PERFORM pg_catalog.set_config('statement_timeout', '1h', false);
  PERFORM pg_catalog.set_config('client_min_messages', 'error', false);
  RETURN true;
END $$"""

# the session a migration (and its verify) must find, whatever ran before it
CHECK_FN = """CREATE FUNCTION public.same_session(want_schema text, want_role text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_catalog.current_schemas(false) <> ARRAY[want_schema]::name[]
     OR current_user <> want_role
     OR pg_catalog.current_setting('application_name') = 'leaked'
     OR pg_catalog.current_setting('lock_timeout') <> '7s'
     OR pg_catalog.current_setting('statement_timeout') <> '0'
     OR pg_catalog.current_setting('client_min_messages') = 'error' THEN
    RAISE EXCEPTION 'leaked session: search_path=% (%), user=%, application_name=%, lock_timeout=%, statement_timeout=%, client_min_messages=%',
      pg_catalog.current_setting('search_path'), pg_catalog.current_schemas(false), current_user, pg_catalog.current_setting('application_name'),
      pg_catalog.current_setting('lock_timeout'), pg_catalog.current_setting('statement_timeout'),
      pg_catalog.current_setting('client_min_messages');
  END IF;
  RETURN true;
END $$"""


class SessionOnEveryPath(Audit9Case):

    def setUp(self):
        super().setUp()
        self.query("CREATE SCHEMA %s AUTHORIZATION %s" % (SCHEMA, NOLOGIN_ROLE))
        self.query(LEAK_FN)
        self.query(CHECK_FN)
        self.query("GRANT EXECUTE ON FUNCTION public.leak(), public.same_session(text, text) TO PUBLIC")
        self.query("CREATE TABLE %s.w (id int, name text)" % SCHEMA)
        self.query("ALTER TABLE %s.w OWNER TO %s" % (SCHEMA, NOLOGIN_ROLE))
        self.cfg = os.path.join(self.make_dir({"indexes.cfg": "indexes = (\n%s\n);\n" % ",\n".join(
            '  { name = "w_%d_idx"; table = "w"; sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS w_%d_idx '
            'ON w (name, id)"; critical = true; }' % (i, i) for i in range(1, 80))}), "indexes.cfg")

    CHECK = "DO $$ BEGIN PERFORM public.same_session('%s', '%s'); END $$;\n" % (SCHEMA, NOLOGIN_ROLE)
    VERIFY = "SELECT public.same_session('%s', '%s');\n" % (SCHEMA, NOLOGIN_ROLE)

    def leaker(self, kind, n):
        """A migration of the given path that leaks its session through public.leak()."""
        t = "leak%d" % n
        call = "DO $$ BEGIN PERFORM public.leak(); END $$;\n"
        return {
            "pipelined": "CREATE TABLE %s (id int);\n%s" % (t, call),
            "one_by_one": "CREATE TABLE %s (id int);\n%s%s" % (t, BIG % t, call),
            "no_transaction": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS %s (id int);\n%s" % (t, call),
            "dml": "-- migrator:allow-dml\nCREATE TABLE %s (id int);\nINSERT INTO %s SELECT 1 WHERE public.leak();\n"
                   % (t, t),
            # the verify file leaks (read-only does not stop set_config)
            "verify": "CREATE TABLE %s (id int);\n" % t,
        }[kind]

    def checker(self, kind, n):
        """A migration of the given path that fails unless it starts from the run's session."""
        t = "check%d" % n
        return {
            "pipelined": "CREATE TABLE %s (id int);\n%s" % (t, self.CHECK),
            "one_by_one": "CREATE TABLE %s (id int);\n%s%s" % (t, BIG % t, self.CHECK),
            "no_transaction": "-- migrator:no-transaction\n%s" % self.CHECK,
            "dml": "-- migrator:allow-dml\nCREATE TABLE %s (id int);\nINSERT INTO %s SELECT 1 WHERE "
                   "public.same_session('%s', '%s');\n" % (t, t, SCHEMA, NOLOGIN_ROLE),
            # a quiet migration, held; the next one rides behind its COMMIT
            "quiet_then_rider": "CREATE TABLE %s (id int);\n" % t,
            # its index is built on the migrations' connection first
            "requires": "-- migrator:requires-index w_%d_idx\nCREATE TABLE %s (id int);\n%s" % (n, t, self.CHECK),
        }[kind]

    def test_a_leaking_migration_or_verify_does_not_reach_the_next_on_any_path(self):
        leakers = ("pipelined", "one_by_one", "no_transaction", "dml", "verify")
        checkers = ("pipelined", "one_by_one", "no_transaction", "dml", "quiet_then_rider", "requires")
        files = {}
        n = 0
        for lk in leakers:
            for ck in checkers:
                n += 1
                files["%03d_leak_%s.sql" % (n, lk)] = self.leaker(lk, n)
                if lk == "verify":
                    files["%03d_leak_%s.verify.sql" % (n, lk)] = "SELECT public.leak();\n"
                n += 1
                files["%03d_check_%s.sql" % (n, ck)] = self.checker(ck, n)
                if ck != "quiet_then_rider":
                    # the verify file starts from the same session too
                    files["%03d_check_%s.verify.sql" % (n, ck)] = self.VERIFY
                else:
                    n += 1
                    files["%03d_rider.sql" % n] = "CREATE TABLE rider%d (id int);\n%s" % (n, self.CHECK)
                    files["%03d_rider.verify.sql" % n] = self.VERIFY
        d = self.make_dir(files)
        r = self.up_v(d, "--schema", SCHEMA, "--role", NOLOGIN_ROLE, "--lock-timeout", "7s",
                      "--index-config", self.cfg)
        self.assertExit(r, 0)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = %s AND indexname ~ '^w_'",
                                     (SCHEMA,)), len(leakers))
        self.assertRegex(r.stderr, r"_rider: \d+ statements in one pipeline, behind the COMMIT of \d+_check_quiet")
        self.assertPiped(r, "002_check_pipelined")
        self.assertPiped(r, "003_check_one_by_one", False)
        self.assertEqual(len(self.versions("applied", schema=SCHEMA)), n)
        self.assertNoLine(r, "leaked session")
        # every table of the run is in the schema, owned by the role
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                                     "AND tablename ~ '^(leak|check|rider)'"), 0)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = %s "
                                     "AND tablename ~ '^(leak|check|rider)' AND tableowner <> %s",
                                     (SCHEMA, NOLOGIN_ROLE)), 0)

    def test_the_check_fails_when_the_session_leaks(self):
        """The checker is not vacuous: run it right after a leak in the same transaction."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\nDO $$ BEGIN PERFORM public.leak(); END $$;\n"
                                      + self.CHECK})
        r = self.up(d, "--schema", SCHEMA, "--role", NOLOGIN_ROLE, "--lock-timeout", "7s")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"leaked session")


class VerifyAfterTheRow(Audit9Case):
    """Section 6 at run time, on every path: after the history row, read-only."""

    def test_verify_sees_its_history_row_and_cannot_write_on_every_path(self):
        self.query("CREATE TABLE keep (id int)")
        self.query("INSERT INTO keep SELECT generate_series(1, 5)")
        self.query("""CREATE FUNCTION public.wipe() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
                      BEGIN PERFORM pg_catalog.set_config('transaction_read_only', 'off', true);
                      EXECUTE 'DELETE FROM public.keep'; RETURN true; END $$""")
        row = ("SELECT EXISTS (SELECT FROM public.schema_migrations WHERE version = %d "
               "AND status = 'applied');\n")
        kinds = {
            "pipelined": "CREATE TABLE t%d (id int);\n",
            "one_by_one": "CREATE TABLE t%d (id int);\n" + BIG.replace("%s", "t%d"),
            "no_transaction": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS t%d (id int);\n",
            "dml": "-- migrator:allow-dml\nCREATE TABLE t%d (id int);\nINSERT INTO public.keep VALUES (6);\n",
        }
        files = {}
        for n, (kind, sql) in enumerate(kinds.items(), 1):
            files["%d_%s.sql" % (n, kind)] = sql.replace("%d", str(n))
            files["%d_%s.verify.sql" % (n, kind)] = row % n
        d = self.make_dir(files)
        r = self.up_v(d)
        self.assertExit(r, 0)
        self.assertPiped(r, "1_pipelined")
        self.assertPiped(r, "2_one_by_one", False)
        self.assertEqual(self.versions("applied"), [1, 2, 3, 4])
        for n, kind in enumerate(kinds, 5):
            with self.subTest(path=kind):
                sql = kinds[kind].replace("%d", str(n)).replace("VALUES (6)", "VALUES (%d)" % (n + 10))
                self.write(d, "%d_%s.sql" % (n, kind), sql)
                self.write(d, "%d_%s.verify.sql" % (n, kind), "SELECT public.wipe();\n")
                r = self.up_v(d)
                self.assertExit(r, 1)
                self.assertLastLineMatches(r, ERROR_PREFIX + r"migration %d failed at .*%d_%s\.verify\.sql:1: 25001: "
                                           % (n, n, kind))
                self.assertEqual(self.scalar("SELECT count(*) FROM keep"), 6, r.describe())
                self.assertNotIn(n, self.versions("applied"))
                os.unlink(os.path.join(d, "%d_%s.sql" % (n, kind)))
                os.unlink(os.path.join(d, "%d_%s.verify.sql" % (n, kind)))
                self.query("DELETE FROM schema_migrations WHERE version = %d" % n)


class FailedRowOnly(Audit9Case):
    """A version the run found failed is written by the UPDATE of that row, from failed, or not at all."""

    def test_a_failed_row_that_vanished_is_not_inserted_again(self):
        self.query("CREATE TABLE gate (ok boolean)")
        self.query("INSERT INTO gate VALUES (false)")
        for stem, head in (("tx", "-- migrator:allow-dml\n"),
                           ("notx", "-- migrator:no-transaction\n-- migrator:allow-dml\n")):
            with self.subTest(path=stem):
                table = "h_" + stem
                d = self.make_dir({"1_a.sql": "CREATE TABLE a_%s (id int);\n" % stem,
                                   "2_n.sql": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS n (id int);\n",
                                   "2_n.verify.sql": "SELECT ok FROM public.gate;\n"})
                self.assertExit(self.up(d, "--history-table", table), 1)
                self.assertEqual(self.query("SELECT version, status FROM %s ORDER BY 1" % table),
                                 [(1, "applied"), (2, "failed")])
                # the next attempt of version 2 removes its own failed row behind the run's back
                os.unlink(os.path.join(d, "2_n.verify.sql"))
                self.write(d, "2_n.sql", head + "DELETE FROM public.%s WHERE version = 2;\n" % table)
                r = self.up_v(d, "--history-table", table)
                self.assertExit(r, 1)
                self.assertStderrMatches(r, ERROR_PREFIX + r"migration 2 failed at .*2_n\.sql:\d+: the history row of "
                                            r"version 2 was not written \(0 updated, 0 inserted\)")
                self.assertNotIn((2, "applied"), self.query("SELECT version, status FROM %s" % table))


class VerifyOnlySelect(Audit9Case):
    """Section 6, lint's half: a verify file holds plain SELECTs only; anything else stops
    lint, plan and up (exit 2) before anything is applied."""

    def test_statements_that_are_not_a_select_are_refused(self):
        cases = [
            ("SELECT true;\nUPDATE keep SET id = 0;\n", 2, "UpdateStmt"),
            ("EXPLAIN ANALYZE DELETE FROM keep;\n", 1, "ExplainStmt"),
            ("SET transaction_read_only = off;\nSELECT true;\n", 1, "VariableSetStmt"),
            ("DO $$ BEGIN DELETE FROM keep; END $$;\n", 1, "DoStmt"),
            ("COMMIT;\nSELECT true;\n", 1, "TransactionStmt"),
        ]
        self.query("CREATE TABLE keep (id int)")
        self.query("INSERT INTO keep SELECT generate_series(1, 5)")
        for verify, line, kind in cases:
            with self.subTest(verify=verify):
                d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n", "1_a.verify.sql": verify})
                path = re.escape(os.path.join(d, "1_a.verify.sql"))
                r = self.run_migrator("lint", "--dir", d, dsn=None)
                self.assertExit(r, 2)
                self.assertRegex(r.stdout, r"(?m)^%s:%d:\d+: error invalid-verify: a verify file may hold only "
                                           r"SELECT statements \(found %s\)" % (path, line, kind))
                for cmd in ("plan", "up"):
                    r = self.run_migrator(cmd, "--dir", d)
                    self.assertExit(r, 2)
                    self.assertStderrMatches(r, r"%s:%d:\d+: a verify file may hold only SELECT statements "
                                                r"\(found %s\)" % (path, line, kind))
                self.assertFalse(self.table_exists("a"))
                self.assertFalse(self.table_exists("schema_migrations"))
                self.assertEqual(self.scalar("SELECT count(*) FROM keep"), 5)

    def test_an_operator_of_another_schema_is_unchecked_code(self):
        # an operator is a function call: OPERATOR(public.===) runs the user's function
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "1_a.verify.sql": "SELECT 1 OPERATOR(public.===) 1;\n"})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^%s:1:10: warning unchecked-sql: OPERATOR\(public\.===\) is not a built-in "
                                   r"operator" % re.escape(os.path.join(d, "1_a.verify.sql")))
        self.assertRegex(r.stdout, r"(?m)^1 file checked: 0 errors, 1 warning$")
