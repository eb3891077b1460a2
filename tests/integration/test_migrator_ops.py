"""
test_migrator_ops.py
    Integration tests of operating the migrator in production: adoption
    (baseline, imports from dbmate, golang-migrate and Flyway), --target,
    new, check --wait-current, preflight, --role and status.

Each test asserts exit code, message and catalog state together.

tests/integration/test_migrator_ops.py
"""

import hashlib
import json
import os
import re
import threading
import time

from toolkit_test import NOLOGIN_ROLE, ToolkitTestCase

HISTORY = "schema_migrations"

THREE = {
    "1_a.sql": "CREATE TABLE a (id int);\n",
    "2_b.sql": "CREATE TABLE b (id int);\n",
    "3_c.sql": "CREATE TABLE c (id int);\n",
}


def sha256_of(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class OpsTestCase(ToolkitTestCase):

    def history(self, table=HISTORY):
        if not self.table_exists(table):
            return None
        return self.query("SELECT version, name, checksum, status FROM %s ORDER BY version"
                          % self.ident(table))

    def versions(self):
        return [r[0] for r in self.history() or []]


class BaselineTest(OpsTestCase):

    def test_baseline_version_on_empty_history(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("baseline", "--version", "2", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"baselined 2 migrations as applied without running them")
        rows = self.history()
        self.assertEqual([(1, "a", sha256_of(THREE["1_a.sql"]), "applied"),
                          (2, "b", sha256_of(THREE["2_b.sql"]), "applied")], rows)
        # baselined, not run
        self.assertFalse(self.table_exists("a"))
        self.assertFalse(self.table_exists("b"))
        # up runs only what is after the baseline
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"applied 1 migration in")
        self.assertTrue(self.table_exists("c"))
        self.assertFalse(self.table_exists("a"))
        self.assertEqual([1, 2, 3], self.versions())

    def test_baseline_refused_on_non_empty_history(self):
        d = self.make_dir(THREE)
        self.assertExit(self.run_migrator("up", "--dir", d, "--target", "1"), 0)
        r = self.run_migrator("baseline", "--version", "3", "--dir", d)
        self.assertExit(r, 2)
        self.assertLastLineMatches(
            r, r'^migrator: error: the history "public.schema_migrations" already has 1 row: '
               r"baseline only adopts a database with an empty history$")
        self.assertEqual([1], self.versions())

    def test_baseline_needs_version_or_from(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("baseline", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"baseline needs --baseline-version N or --from dbmate\|golang-migrate\|flyway")
        self.assertIsNone(self.history())
        r = self.run_migrator("baseline", "--from", "liquibase", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'option --from: invalid value "liquibase"')

    def test_baseline_version_below_every_file(self):
        d = self.make_dir({"5_e.sql": "CREATE TABLE e (id int);\n"})
        r = self.run_migrator("baseline", "--version", "4", "--dir", d)
        self.assertExit(r, 2)
        # --version must be a file's version (issue 9): 4 is none
        self.assertLastLineMatches(r, r'--baseline-version 4: no migration file in ".*" has that version')
        self.assertIsNone(self.history())

    # dbmate: CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) primary key)
    def create_dbmate(self, versions):
        self.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
        for v in versions:
            self.query("INSERT INTO schema_migrations (version) VALUES (%s)", (v,))

    def test_import_dbmate_renames_its_table(self):
        files = {"20230101000000_a.sql": "CREATE TABLE a (id int);\n",
                 "20230102000000_b.sql": "CREATE TABLE b (id int);\n",
                 "20230103000000_c.sql": "CREATE TABLE c (id int);\n"}
        d = self.make_dir(files)
        self.create_dbmate(["20230101000000", "20230102000000"])
        r = self.run_migrator("baseline", "--from", "dbmate", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'renamed dbmate\'s table "public.schema_migrations" to "public.schema_migrations_dbmate"')
        self.assertEqual([20230101000000, 20230102000000], self.versions())
        self.assertEqual(sha256_of(files["20230101000000_a.sql"]), self.history()[0][2])
        self.assertEqual(2, self.scalar("SELECT count(*) FROM schema_migrations_dbmate"))
        # the next up applies only the third
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("c"))
        self.assertFalse(self.table_exists("a"))

    def test_import_dbmate_version_without_file(self):
        d = self.make_dir({"20230101000000_a.sql": "CREATE TABLE a (id int);\n"})
        self.create_dbmate(["20230101000000", "20230105000000"])
        r = self.run_migrator("baseline", "--from", "dbmate", "--dir", d)
        self.assertExit(r, 6)
        self.assertStderrMatches(r, r"dbmate applied version 20230105000000 but .* has no file for it")
        # nothing changed: theirs keeps its name, ours does not exist
        self.assertEqual(2, self.scalar("SELECT count(*) FROM schema_migrations"))
        self.assertFalse(self.table_exists("schema_migrations_dbmate"))
        self.assertFalse(self.column_exists("schema_migrations", "checksum"))

    # golang-migrate: CREATE TABLE schema_migrations (version bigint not null primary key, dirty boolean not null)
    def create_golang_migrate(self, version, dirty):
        self.query("CREATE TABLE IF NOT EXISTS schema_migrations "
                   "(version bigint NOT NULL, dirty boolean NOT NULL)")
        self.query("CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version)")
        self.query("INSERT INTO schema_migrations (version, dirty) VALUES (%s, %s)", (version, dirty))

    def test_import_golang_migrate(self):
        d = self.make_dir(THREE)
        self.create_golang_migrate(2, False)
        r = self.run_migrator("baseline", "--from", "golang-migrate", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'to "public.schema_migrations_golang_migrate"')
        self.assertEqual([1, 2], self.versions())
        self.assertEqual([(2, False)], self.query("SELECT version, dirty FROM schema_migrations_golang_migrate"))

    def test_import_golang_migrate_dirty_is_refused(self):
        d = self.make_dir(THREE)
        self.create_golang_migrate(2, True)
        r = self.run_migrator("baseline", "--from", "golang-migrate", "--dir", d)
        self.assertExit(r, 6)
        self.assertStderrMatches(r, r"golang-migrate marks version 2 dirty")
        self.assertEqual([(2, True)], self.query("SELECT version, dirty FROM schema_migrations"))
        self.assertFalse(self.table_exists("schema_migrations_golang_migrate"))

    # Flyway's own DDL for PostgreSQL (createMetaDataTable.sql), simplified to its columns
    def create_flyway(self, rows):
        self.query("""
            CREATE TABLE flyway_schema_history (
                installed_rank INT NOT NULL,
                version VARCHAR(50),
                description VARCHAR(200) NOT NULL,
                type VARCHAR(20) NOT NULL,
                script VARCHAR(1000) NOT NULL,
                checksum INTEGER,
                installed_by VARCHAR(100) NOT NULL,
                installed_on TIMESTAMP NOT NULL DEFAULT now(),
                execution_time INTEGER NOT NULL,
                success BOOLEAN NOT NULL,
                CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank))""")
        for rank, version, script, success in rows:
            self.query("INSERT INTO flyway_schema_history (installed_rank, version, description, type, "
                       "script, checksum, installed_by, execution_time, success) "
                       "VALUES (%s, %s, 'x', 'SQL', %s, 1, 'me', 3, %s)", (rank, version, script, success))

    def test_import_flyway_successful_rows(self):
        d = self.make_dir(THREE)
        self.create_flyway([(1, "1", "V1__a.sql", True), (2, "2", "V2__b.sql", True),
                            (3, "3", "V3__c.sql", False), (4, None, "R__views.sql", True)])
        r = self.run_migrator("baseline", "--from", "flyway", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"baselined 2 migrations as applied without running them, imported from flyway")
        self.assertEqual([1, 2], self.versions())
        self.assertEqual(4, self.scalar("SELECT count(*) FROM flyway_schema_history"))

    def test_import_flyway_dotted_version(self):
        d = self.make_dir(THREE)
        self.create_flyway([(1, "1.1", "V1_1__a.sql", True)])
        r = self.run_migrator("baseline", "--from", "flyway", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'flyway version "1.1" is not a positive integer')
        self.assertIsNone(self.history())

    def test_import_without_the_tools_table(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("baseline", "--from", "flyway", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'no table "public.flyway_schema_history": nothing to import from flyway')
        self.assertIsNone(self.history())


class TargetTest(OpsTestCase):

    def test_up_and_plan_stop_at_target(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("plan", "--dir", d, "--target", "2")
        self.assertExit(r, 0)
        self.assertEqual(["%s/1_a.sql" % d, "%s/2_b.sql" % d],
                         [l.split(":")[0] for l in r.stdout.splitlines()])
        self.assertStderrMatches(r, r"2 migrations would be applied, up to --target 2 \(1 pending after it\)")
        self.assertIsNone(self.history())
        r = self.run_migrator("up", "--dir", d, "--target", "2")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"applied 2 migrations in \d+ms; stopped at --target 2 \(1 pending after it\)")
        self.assertEqual([1, 2], self.versions())
        self.assertFalse(self.table_exists("c"))
        r = self.run_migrator("up", "--dir", d, "--target", "2")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"nothing to apply up to --target 2")
        self.assertEqual([1, 2], self.versions())

    def test_target_without_file(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("up", "--dir", d, "--target", "7")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'--target 7: no migration file in ".*" has that version$')
        self.assertIsNone(self.history())
        r = self.run_migrator("up", "--dir", d, "--target", "x")
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'option --target: invalid number "x"')


class NewTest(OpsTestCase):

    def test_new_writes_next_version(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("new", "add_calendar_color", "--verify", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        path = os.path.join(d, "4_add_calendar_color.sql")
        vpath = os.path.join(d, "4_add_calendar_color.verify.sql")
        self.assertEqual([path, vpath], r.stdout.splitlines())
        with open(path) as f:
            text = f.read()
        self.assertIn("-- migrator:no-transaction", text)
        with open(vpath) as f:
            self.assertIn("SELECT", f.read())
        # written, not runnable until someone writes the change
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"4_add_calendar_color.sql: file contains no SQL statement")
        self.assertIsNone(self.history())

    def test_new_in_empty_dir_and_timestamp(self):
        d = self.make_dir({})
        r = self.run_migrator("new", "first", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        self.assertTrue(os.path.exists(os.path.join(d, "0001_first.sql")))
        r = self.run_migrator("new", "second", "--timestamp", "--dir", d, dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout.splitlines()[0], r"/\d{14}_second\.sql$")

    def test_new_refuses_bad_names_and_existing_files(self):
        d = self.make_dir({})
        r = self.run_migrator("new", "bad name", "--dir", d, dsn=None)
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'invalid migration name "bad name": the name may hold only letters')
        self.assertEqual([], os.listdir(d))
        r = self.run_migrator("new", "--dir", d, dsn=None)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"new needs an argument")
        # a timestamp version below an existing one is refused
        self.make_file(d, "99999999999999_future.sql", "SELECT 1;\n")
        r = self.run_migrator("new", "late", "--timestamp", "--dir", d, dsn=None)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"is not above the highest version 99999999999999")

    def make_file(self, d, name, text):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


class WaitCurrentTest(OpsTestCase):

    def test_check_wait_current_while_another_process_applies(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_slow.sql": "SELECT pg_sleep(2);\nCREATE TABLE slow (id int);\n"})
        up = self.start_migrator("up", "--dir", d)
        self.wait_for_stderr(up, r"applying 2_slow")
        r = self.run_migrator("check", "--dir", d, "--wait-current", "60s")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"schema is current at version 2")
        self.assertTrue(self.table_exists("slow"))
        self.assertExit(self.finish(up), 0)

    def test_check_wait_current_times_out(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("check", "--dir", d, "--wait-current", "1s")
        self.assertExit(r, 5)
        self.assertLastLineMatches(r, r"schema out of date: 3 pending \(first: 1_a\) \u2014 run \"migrator up\"$")
        self.assertIsNone(self.history())  # never creates anything

    def test_check_wait_current_waits_for_the_server_too(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("check", "--dir", d, "--wait-current", "1s",
                              dsn="host=127.0.0.1 port=1 dbname=x user=postgres connect_timeout=2")
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, r"could not connect to postgres@127.0.0.1:1/x \(gave up waiting\)")


class PreflightTest(OpsTestCase):

    def setUp(self):
        super().setUp()
        self.d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int);\n",
                                "2_other.sql": "CREATE TABLE other (id int);\n"})
        self.assertExit(self.run_migrator("up", "--dir", self.d), 0)
        with open(os.path.join(self.d, "3_alter_t.sql"), "w") as f:
            f.write("ALTER TABLE t ADD COLUMN x int;\n")

    def test_preflight_fail_names_an_old_transaction(self):
        holder = self.hold_lock(["SELECT * FROM t"], application_name="long-report")
        pid = self.backend_pid(holder)
        time.sleep(0.6)  # older than the --lock-timeout below
        r = self.run_migrator("up", "--dir", self.d, "--preflight", "fail", "--lock-timeout", "300ms")
        self.assertExit(r, 1)
        self.assertStderrMatches(
            r, r'preflight: pid=%d application="long-report" state=idle in transaction '
               r'xact_age=\d+\.\ds holds AccessShareLock on "public.t"' % pid)
        self.assertLastLineMatches(r, r"preflight: 1 session is in the way of the pending migrations; nothing applied")
        self.assertFalse(self.column_exists("t", "x"))
        self.assertEqual([1, 2], self.versions())
        holder.rollback()
        r = self.run_migrator("up", "--dir", self.d, "--preflight", "fail", "--lock-timeout", "300ms")
        self.assertExit(r, 0)
        self.assertTrue(self.column_exists("t", "x"))

    def test_preflight_ignores_young_transactions_and_other_tables(self):
        holder = self.hold_lock(["SELECT * FROM other"], application_name="busy-elsewhere")
        time.sleep(0.6)
        r = self.run_migrator("up", "--dir", self.d, "--preflight", "fail", "--lock-timeout", "300ms")
        self.assertExit(r, 0)
        self.assertNoLine(r, r"preflight")
        self.assertTrue(self.column_exists("t", "x"))
        holder.rollback()

    def test_preflight_warn_then_lock_timeout(self):
        holder = self.hold_lock(["SELECT * FROM t"], application_name="long-report")
        time.sleep(0.6)
        r = self.run_migrator("up", "--dir", self.d, "--lock-timeout", "300ms", "--retries", "0")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r'^migrator: warning: preflight: pid=\d+ application="long-report"')
        self.assertStderrMatches(r, r"preflight: 1 session is in the way; applying anyway")
        self.assertLastLineMatches(r, r"migration 3 failed at .*3_alter_t.sql:1: 55P03: ")
        self.assertFalse(self.column_exists("t", "x"))
        holder.rollback()

    def test_preflight_names_a_concurrent_index_build(self):
        self.query("INSERT INTO t SELECT generate_series(1, 1000)")
        # An old snapshot elsewhere makes the concurrent build wait in a
        # virtualxid phase, holding SHARE UPDATE EXCLUSIVE on t meanwhile.
        snap = self.connect(autocommit=False, application_name="old-snapshot")
        snap.set_session(isolation_level="REPEATABLE READ")
        with snap.cursor() as cur:
            cur.execute("SELECT count(*) FROM other")
        builder = self.connect(autocommit=True, application_name="index-builder")
        errors = []

        def build():
            try:
                with builder.cursor() as cur:
                    cur.execute("CREATE INDEX CONCURRENTLY t_id ON t (id)")
            except Exception as e:  # reported below if the test reaches it
                errors.append(e)

        th = threading.Thread(target=build)
        th.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.scalar("SELECT count(*) FROM pg_stat_progress_create_index p "
                               "JOIN pg_class c ON c.oid = p.relid WHERE c.relname = 't'"):
                    break
                time.sleep(0.1)
            r = self.run_migrator("up", "--dir", self.d, "--preflight", "fail", "--lock-timeout", "300ms")
            self.assertExit(r, 1)
            self.assertStderrMatches(
                r, r'preflight: pid=%d application="index-builder" is building an index concurrently '
                   r'on "public.t" \(phase: [^)]+\): it holds SHARE UPDATE EXCLUSIVE' % builder.get_backend_pid())
            self.assertFalse(self.column_exists("t", "x"))
        finally:
            snap.rollback()
            th.join(60)
        self.assertEqual([], errors)


class RoleTest(OpsTestCase):

    def test_role_owns_objects_and_history(self):
        self.query("GRANT CREATE ON SCHEMA public TO %s" % NOLOGIN_ROLE)
        d = self.make_dir(THREE)
        r = self.run_migrator("up", "--dir", d, "--role", NOLOGIN_ROLE)
        self.assertExit(r, 0)
        owners = self.query("SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                            "WHERE c.relname IN ('a', 'b', 'c', 'schema_migrations') ORDER BY 1")
        self.assertEqual([("a", NOLOGIN_ROLE), ("b", NOLOGIN_ROLE), ("c", NOLOGIN_ROLE),
                          ("schema_migrations", NOLOGIN_ROLE)], owners)

    def test_unknown_role(self):
        d = self.make_dir(THREE)
        r = self.run_migrator("up", "--dir", d, "--role", "no_such_role")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'option --role: could not SET ROLE "no_such_role": ')
        self.assertIsNone(self.history())


class StatusTest(OpsTestCase):

    def test_status_shows_failed_statement(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_nt.sql": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS n1 (id int);\n"
                                       "ALTER TABLE nope ADD COLUMN x int;\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 1)
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^2\s+nt\s+failed\s")
        self.assertRegex(r.stdout, r'failed at .*2_nt.sql:3: 42P01: relation "nope" does not exist')
        r = self.run_migrator("status", "--dir", d, "--log-format", "json")
        self.assertExit(r, 0)
        items = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(["applied", "failed"], [i["state"] for i in items])
        self.assertRegex(items[1]["failure"], r"2_nt.sql:3: 42P01: ")
        self.assertRegex(items[0]["applied_by"], r"^postgres@")
        self.assertIsInstance(items[0]["duration_ms"], int)


class RepairTest(OpsTestCase):

    def test_repair_records_a_deliberate_change(self):
        d = self.make_dir(THREE)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        changed = "-- reworded comment\nCREATE TABLE b (id int);\n"
        with open(os.path.join(d, "2_b.sql"), "w") as f:
            f.write(changed)
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 6)
        self.assertStderrMatches(r, r"2_b.sql: applied migration 2 changed since it was applied")
        r = self.run_migrator("repair", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"recorded the current checksum of .*2_b.sql")
        self.assertEqual(sha256_of(changed), self.scalar("SELECT checksum FROM schema_migrations WHERE version = 2"))
        self.assertExit(self.run_migrator("check", "--dir", d), 0)

    def test_repair_forget_missing(self):
        d = self.make_dir(THREE)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        os.unlink(os.path.join(d, "2_b.sql"))
        r = self.run_migrator("repair", "--dir", d)
        self.assertExit(r, 6)
        self.assertLastLineMatches(r, r"applied migration 2 \(b\) is missing from .*; restore it, or pass --forget-missing")
        self.assertEqual([1, 2, 3], self.versions())
        r = self.run_migrator("repair", "--dir", d, "--forget-missing")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"removed version 2 \(b\) from the history: its file is gone")
        self.assertEqual([1, 3], self.versions())
        self.assertTrue(self.table_exists("b"))  # forgetting undoes nothing

    def test_repair_keeps_rows_newer_than_every_file_unless_told(self):
        # the newest file gone looks exactly like an older release's directory:
        # --forget-missing never drops those rows (the newer release would run
        # its migration again); --forget-ahead does, deliberately
        d = self.make_dir(THREE)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        os.unlink(os.path.join(d, "3_c.sql"))
        r = self.run_migrator("repair", "--dir", d, "--forget-missing")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"version 3 \(c\) is newer than every file .*left alone; --forget-ahead drops it")
        self.assertEqual([1, 2, 3], self.versions())
        r = self.run_migrator("repair", "--dir", d, "--forget-ahead")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"removed version 3 \(c\) from the history")
        self.assertEqual([1, 2], self.versions())
        self.assertTrue(self.table_exists("c"))  # forgetting undoes nothing


class DatabaseAheadTest(OpsTestCase):
    """A newer release migrated the database; an older one must still start."""

    def test_versions_above_the_newest_file_are_ahead_not_missing(self):
        d = self.make_dir(THREE)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        os.unlink(os.path.join(d, "3_c.sql"))  # the older release's files: 1 and 2
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(
            r, r'^migrator: warning: the database is ahead of these files: 1 newer version applied '
               r'\(up to 3, "c"\), newest file here 2; a newer release migrated it, nothing to do$')
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"nothing to apply")
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^3\s+c\s+ahead\s")
        self.assertIn("2 applied, 0 pending, 0 mismatched, 1 ahead of these files", r.stdout)
        self.assertEqual([1, 2, 3], self.versions())

    def test_a_failed_version_ahead_is_not_called_applied(self):
        # a newer release's no-transaction file stopped part-way, and the release was rolled
        # back: the older release's gate passes, but never says that version was applied
        # (session 12's review: "1 newer version applied" over a row recorded as failed)
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "2_b.sql": "-- migrator:no-transaction\nCREATE TABLE b (id int);\n"
                                      "ALTER TABLE nope ADD COLUMN IF NOT EXISTS x int;\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 1)
        self.assertEqual(self.scalar("SELECT status FROM schema_migrations WHERE version = 2"), "failed")
        os.unlink(os.path.join(d, "2_b.sql"))
        for command in ("check", "up"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", d)
                self.assertExit(r, 0)
                self.assertStderrMatches(
                    r, r'^migrator: warning: the database is ahead of these files: 1 newer version recorded '
                       r'\(up to 2, "b"\) \(1 of them recorded as failed: a newer release\'s no-transaction '
                       r'migration stopped part-way, and the statements before its failure stay applied; that '
                       r'release\'s next run starts it again\), newest file here 1; ')
                self.assertNoLine(r, r"newer version applied")
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^2\s+b\s+ahead\s")
        self.assertRegex(r.stdout, r"(?m)^\s+failed at \S*2_b\.sql:3: 42P01: ")
        self.assertIn("1 applied, 0 pending, 0 mismatched, 1 ahead of these files (1 of them failed)", r.stdout)
        self.assertTrue(self.table_exists("b"))  # the statement before the failure stays

    def test_a_gap_below_the_newest_file_is_still_missing(self):
        d = self.make_dir(THREE)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        os.unlink(os.path.join(d, "2_b.sql"))
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 6)
        self.assertStderrMatches(r, r"applied migration 2 \(b\) is missing from")

    def test_no_files_at_all_is_missing_not_ahead(self):
        d = self.make_dir(THREE)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        empty = self.make_dir({})
        r = self.run_migrator("check", "--dir", empty)
        self.assertExit(r, 6)
        # no applied version has a file: the wrong --dir (or database), not three missing files
        self.assertLastLineMatches(
            r, r'none of the 3 versions recorded in "public.schema_migrations" of postgres@.*/%s '
               r'\(1 to 3\) has a file in "%s" \(0 files there\): this is the wrong --dir or the wrong '
               r'database; nothing was changed$' % (self.dbname, re.escape(empty)))
        self.assertNoLine(r, r"forget-missing")


class SessionTest(OpsTestCase):

    def test_session_names_the_program_and_fixes_the_search_path(self):
        # the verify file runs in the migrator's own session
        d = self.make_dir({
            "1_a.sql": "CREATE SCHEMA app;\n",
            "2_b.sql": "CREATE TABLE b (id int);\n",
            "2_b.verify.sql": "SELECT current_setting('application_name') = 'migrator';\n"
                              "SELECT current_setting('search_path') = '\"public\"';\n"
                              "SELECT to_regclass('public.b') IS NOT NULL;\n",
        })
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertEqual([1, 2], self.versions())
        # an explicit application_name in the DSN wins over the fallback
        d2 = self.make_dir({
            "1_x.sql": "CREATE TABLE x (id int);\n",
            "1_x.verify.sql": "SELECT current_setting('application_name') = 'deploy-42';\n",
        })
        r = self.run_migrator("up", "--dir", d2, "--history-table", "h2",
                              dsn=self.dsn + " application_name=deploy-42")
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("x"))
