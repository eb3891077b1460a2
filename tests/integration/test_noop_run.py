"""
test_noop_run.py
    The no-op path of up (issue 13): the migration files are read while the
    server starts the session and answers the start-up batch, yet judged
    first (a bad file is exit 2 and the only error, whatever the server
    does); the run lock and the history read go
    to the server in one round trip (libpq pipeline mode), but as two
    statements, the lock first: a statement's snapshot is taken before a
    lock it takes is granted, so one merged statement could read the history
    as it was before a run that just released the lock.  A history read
    while another run held the lock is discarded, never used.

tests/integration/test_noop_run.py
"""

import os
import re
import socket
import time
import uuid

from test_operator_control import SilentListener
from toolkit_test import ToolkitTestCase

DEADLINE = 60


# the history read: copied out, never planned (relation_trust_copy)
READ = 'COPY "public"."%s" (version, name, checksum, status, failure) TO STDOUT'


class NoopRunTest(ToolkitTestCase):

    def server_log_since(self, marker):
        with open(self.cluster["logfile"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        at = text.rfind(marker)
        self.assertGreaterEqual(at, 0, "the marker statement is not in the server log")
        return text[at:].splitlines()

    def logged_noop_up(self, table, *changes):
        """Apply one file, make changes (SQL, %s: the history table), then
        log every statement of a second (no-op) up: the statement lines the
        server logged for it."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        self.assertExit(self.run_migrator("up", "--dir", d, "--history-table", table), 0)
        for change in changes:
            self.query(change.replace("%s", "public." + self.ident(table)))
        self.query("ALTER DATABASE %s SET log_statement = 'all'" % self.ident(self.dbname))
        marker = "noop-marker-" + uuid.uuid4().hex
        conn = self.connect()
        with conn.cursor() as cur:
            cur.execute("SELECT %s", (marker,))
        conn.close()
        r = self.run_migrator("up", "--dir", d, "--history-table", table)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"nothing to apply: schema is current at version 1")
        return [l for l in self.server_log_since(marker) if "statement:" in l or "execute" in l]

    def test_lock_then_history_as_two_statements(self):
        """The server log shows the try-lock, then the history SELECT, as two statements."""
        table = "hist_noop_%d" % os.getpid()
        lines = self.logged_noop_up(table)
        select = READ % table
        locks = [i for i, l in enumerate(lines) if "pg_try_advisory_lock" in l]
        reads = [i for i, l in enumerate(lines) if select in l]
        self.assertEqual(len(locks), 1, "\n".join(lines))
        self.assertEqual(len(reads), 1, "\n".join(lines))
        self.assertNotIn(select, lines[locks[0]], "the lock and the history read are one statement")
        self.assertNotIn("pg_try_advisory_lock", lines[reads[0]])
        self.assertLess(locks[0], reads[0], "the history was read before the lock was asked for")
        self.assertEqual(self.scalar("SELECT count(*) FROM %s" % self.ident(table)), 1)

    def test_history_read_while_another_run_holds_the_lock_is_discarded(self):
        """A run that finds the lock taken reads the history again once it holds it."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_slow.sql": "CREATE TABLE b (id int);\n"
                                         "DO $$ BEGIN PERFORM pg_sleep(4); END $$;\n"})
        os.rename(os.path.join(d, "2_slow.sql"), os.path.join(d, "2_slow.sql.off"))
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        os.rename(os.path.join(d, "2_slow.sql.off"), os.path.join(d, "2_slow.sql"))
        first = self.start_migrator("up", "--dir", d)
        deadline = time.monotonic() + DEADLINE
        running = None
        while running is None and time.monotonic() < deadline:
            running = self.scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND pid <> pg_backend_pid() AND query LIKE %s", ("%pg_sleep(4)%",))
            time.sleep(0.05)
        self.assertIsNotNone(running, "the first run never started version 2")
        # the second run's pipelined read sees version 2 pending; it must not use it
        second = self.run_migrator("up", "--dir", d, "--lock-wait", "60s")
        self.assertExit(self.finish(first), 0)
        self.assertExit(second, 0)
        self.assertStderrMatches(second, r"nothing to apply: schema is current at version 2")
        self.assertEqual(self.scalar("SELECT count(*) FROM schema_migrations WHERE status = 'applied'"), 2)

    def test_changed_applied_file_still_detected(self):
        """No parse of applied files, but their bytes are still checksummed: exit 6."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        with open(os.path.join(d, "1_a.sql"), "w", encoding="utf-8") as f:
            f.write("CREATE TABLE a (id int, this is not SQL;\n")
        for command in ("up", "check"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d)
                self.assertExit(r, 6)
                self.assertStderrMatches(r, re.escape(os.path.join(d, "1_a.sql")))
                self.assertNotInOutput(r, "syntax")
        self.assertEqual(self.scalar("SELECT checksum <> '' FROM schema_migrations WHERE version = 1"), True)

    # ---- the start-up batch (issue 13): one connection, the session settings,
    # --role, --schema, the history table's shape and trust and the run lock in
    # one round trip, the history read after it; every check still stops the run

    def test_startup_batch_then_history_read_on_one_connection(self):
        """A no-op up sends the checks and the try-lock, then the read, on the lock's connection."""
        table = "hist_batch_%d" % os.getpid()
        lines = self.logged_noop_up(table)
        text = "\n".join(lines)

        def first(needle):
            at = [i for i, l in enumerate(lines) if needle in l]
            self.assertTrue(at, "%r was not sent:\n%s" % (needle, text))
            return at[0]

        # the schema's row (the roles that may rename it are asked only by a writer that cannot
        # write through its view: relation_trust.h)
        order = [first("set_config('search_path', '', false)"), first("FROM pg_catalog.pg_namespace WHERE nspname"),
                 first("pg_catalog.format_type(a.atttypid"), first("AND NOT c.relhastriggers"),
                 first("pg_try_advisory_lock"), first(READ % table)]
        self.assertEqual(order, sorted(order), "the start-up statements came out of order:\n" + text)
        # a clean table is cleared by the first look: the full check is never planned
        self.assertFalse([l for l in lines if "pg_catalog.pg_trigger" in l], text)
        self.assertFalse([l for l in lines if "pg_has_role" in l], text)
        # nothing was sent on a second (main) connection: a no-op never opens it
        self.assertEqual(len([l for l in lines if "set_config('search_path', '', false)" in l]), 1, text)

    def test_flags_the_first_look_cannot_clear_go_to_the_full_check(self):
        """pg_class keeps relhastriggers and relhasrules set after the last trigger or rule is
        dropped (until VACUUM), and any grant sets relacl: the first look cannot clear such a
        table, the full check reads the catalogs and clears it, and the no-op goes on."""
        table = "hist_flags_%d" % os.getpid()
        lines = self.logged_noop_up(
            table,
            "CREATE FUNCTION public.noop_trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
            "CREATE TRIGGER t BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION public.noop_trg()",
            "DROP TRIGGER t ON %s",
            "CREATE RULE r AS ON DELETE TO %s DO INSTEAD NOTHING", "DROP RULE r ON %s",
            "GRANT SELECT ON %s TO PUBLIC")
        text = "\n".join(lines)
        flags = self.query("SELECT relhastriggers, relhasrules, relacl IS NOT NULL FROM pg_class "
                           "WHERE oid = %s::regclass", ("public." + table,))
        self.assertEqual(flags, [(True, True, True)], "the flags this test is about were cleared")
        full = [i for i, l in enumerate(lines) if "pg_catalog.pg_trigger" in l]
        # the read's transaction (its lock is a Parse, which log_statement does not show)
        locked = [i for i, l in enumerate(lines) if l.endswith(": BEGIN")]
        read = [i for i, l in enumerate(lines) if READ % table in l]
        self.assertTrue(locked and read, text)
        # the full check decides at start-up, and again under the read's own lock
        self.assertTrue([i for i in full if i < locked[0]], text)
        self.assertTrue([i for i in full if locked[0] < i < read[0]], "no full check under the lock:\n" + text)

    def test_what_the_first_look_reads_itself_is_still_refused(self):
        """Policies (even with row-level security off) and inheritance, either way, have no flag
        in pg_class: the first look reads them, and a no-op up and check refuse the table."""
        self.query("CREATE TABLE public.parent_of_history ()")
        cases = (("a policy, row-level security off", "CREATE POLICY p ON %s USING (true)",
                  "row-level security or policies"),
                 ("a child", "CREATE TABLE public.child_of_history () INHERITS (%s)", "inheritance"),
                 ("a parent", "ALTER TABLE %s INHERIT public.parent_of_history", "inheritance"))
        for i, (what, change, why) in enumerate(cases):
            with self.subTest(what):
                table = "hist_look_%d_%d" % (i, os.getpid())
                d = self.make_dir({"1_a.sql": "CREATE TABLE IF NOT EXISTS a (id int);\n"})
                self.assertExit(self.run_migrator("up", "--dir", d, "--history-table", table), 0)
                self.query(change.replace("%s", "public." + self.ident(table)))
                for command in ("up", "check"):
                    r = self.run_migrator(command, "--dir", d, "--history-table", table)
                    self.assertExit(r, 2)
                    self.assertLastLineMatches(r, r'refusing to use table "public\.%s": .*%s' % (table, why))
                self.query("DROP TABLE IF EXISTS public.child_of_history")

    def test_missing_history_table_is_seen_under_the_lock(self):
        """A dropped history table: up runs everything again, check says the database is behind."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE IF NOT EXISTS a (id int);\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        self.query("DROP TABLE schema_migrations")
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 5)
        self.assertFalse(self.table_exists("schema_migrations"), "check created the history table")
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"applied 1 migration")
        self.assertEqual(self.scalar("SELECT count(*) FROM schema_migrations WHERE status = 'applied'"), 1)

    def test_planted_trigger_stops_a_noop(self):
        """A trigger added to the history table after a run: the no-op refuses it, runs nothing, exit 2."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        self.query("CREATE TABLE captured (what text);"
                   "CREATE FUNCTION capture() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN INSERT INTO public.captured VALUES (TG_OP); RETURN NULL; END $$;"
                   "CREATE TRIGGER armed AFTER INSERT OR UPDATE OR DELETE ON schema_migrations "
                   "FOR EACH ROW EXECUTE FUNCTION capture()")
        for command in ("up", "check", "status"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d)
                self.assertExit(r, 2)
                self.assertLastLineMatches(r, r'refusing to use table "public\.schema_migrations": '
                                              r'it has triggers \(armed\)')
        self.assertEqual(self.scalar("SELECT count(*) FROM captured"), 0)
        self.assertEqual(self.scalar("SELECT count(*) FROM schema_migrations"), 1)

    def test_bad_role_in_the_startup_batch_is_a_usage_error(self):
        """--role rides in the start-up batch: a role that does not exist is exit 2, nothing read or locked."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d, "--role", "no_such_role_%d" % os.getpid())
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'option --role: could not SET ROLE "no_such_role_\d+"')
        self.assertFalse(self.table_exists("schema_migrations"))
        self.assertFalse(self.table_exists("a"))


class FilesWhileConnectingTest(ToolkitTestCase):
    """The files are read while the connection is made (conn.h's conn_work):
    a bad file is still the run's one verdict, exit 2, before any word about
    the server, and nothing on the server is touched."""

    BAD = {"1_a.sql": "CREATE TABLE a (id int);\n", "2_b.sql": "-- migrator:no-such-directive\nSELECT 1;\n"}
    BAD_LINE = r"2_b\.sql:1: unknown directive"

    def assertOnlyTheFileError(self, r):
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, self.BAD_LINE)
        self.assertNoLine(r, r"(?i)could not connect|waiting for the server|connect_timeout|interrupted")
        self.assertEqual(len([l for l in r.lines if ": error: " in l]), 1, r.describe())

    def free_port(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def test_a_bad_file_wins_over_a_refusing_server_and_is_not_waited_on(self):
        """Nothing listens and --wait is 60s: exit 2 at the first attempt, the file named, no wait."""
        d = self.make_dir(self.BAD)
        for command in ("up", "check", "status", "plan", "repair"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d, "--wait", "60s", timeout=40,
                                      dsn="host=127.0.0.1 port=%d dbname=x user=postgres" % self.free_port())
                self.assertOnlyTheFileError(r)

    def test_a_bad_file_wins_over_a_silent_server(self):
        """A server that accepts and never answers (connect_timeout 90s): the files are read
        while it is awaited, and the bad one ends the attempt at once, exit 2."""
        listener = SilentListener()
        self.addCleanup(listener.close)
        d = self.make_dir(self.BAD)
        r = self.run_migrator("up", "--dir", d, timeout=60,
                              dsn="host=127.0.0.1 port=%d dbname=x user=postgres connect_timeout=90" % listener.port)
        self.assertOnlyTheFileError(r)
        self.assertGreaterEqual(len(listener.accepted), 1, "the run did not connect while reading its files")

    def test_a_bad_file_with_the_server_up_touches_nothing(self):
        """The server answers the start-up batch (and grants the run lock) while the files are
        read: the bad file is exit 2, nothing is created, and the lock went with the session."""
        d = self.make_dir(self.BAD)
        for command in ("up", "check"):
            with self.subTest(command=command):
                self.assertOnlyTheFileError(self.run_migrator(command, "--dir", d))
        self.assertFalse(self.table_exists("schema_migrations"))
        self.assertFalse(self.table_exists("a"))
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                                     "WHERE l.locktype = 'advisory' AND d.datname = current_database()"), 0)
        os.remove(os.path.join(d, "2_b.sql"))
        r = self.run_migrator("up", "--dir", d, "--lock-wait", "0")
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("a"))

    def test_status_and_plan_still_show_what_the_history_records(self):
        """up and check read the history without its dates (issue 13); status and plan read them."""
        # a failed no-transaction file is the one failure the history records
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_b.sql": "-- migrator:no-transaction\nSELECT 1/0;\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 1)
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^1\s+a\s+applied\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d+ms\s+\S+@")
        self.assertRegex(r.stdout, r"(?m)^2\s+b\s+failed\s+\d{4}-\d\d-\d\dT\S+Z\s+\d+ms")
        self.assertRegex(r.stdout, r"failed at .*division by zero")
        r = self.run_migrator("plan", "--dir", d, "--log-format", "json")
        self.assertExit(r, 0)
        failed = [l for l in r.stdout.splitlines() if '"version":2' in l]
        self.assertEqual(len(failed), 1, r.stdout)
        self.assertRegex(failed[0], r'"applied_at":"\d{4}-\d\d-\d\dT[^"]+Z".*"failure":".*division by zero')
