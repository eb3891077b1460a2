"""
test_trust_adoption.py
    Adoption and repair never record a lie (issue 9, part 9): baseline runs
    the verify files of what it records, read-only, before recording
    anything (--skip-verify and --no-verify are recorded in the history); a
    history with no file at all is a wrong --dir or database, never a reason
    to forget every row; --schema must exist unless --create-schema.

Each test asserts the exit code, the last line and the history/catalog state
together.

tests/integration/test_trust_adoption.py
"""

import os
import re

from toolkit_test import ToolkitTestCase

# a database another runner migrated: 1 and 2 applied, 3 not yet
FILES = {
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


class AdoptionTestCase(ToolkitTestCase):

    def migrator(self, *args, **kw):
        return self.run_migrator(*args, **kw)

    def history(self, schema="public"):
        if not self.table_exists("schema_migrations", schema=schema):
            return None
        return self.query("SELECT version, status FROM %s.schema_migrations ORDER BY 1"
                          % self.ident(schema))

    def baseline_notes(self):
        return self.query("SELECT version, baseline FROM schema_migrations ORDER BY 1")

    def target_re(self):
        return r"postgres@[^ ]*:%d/%s" % (self.port, re.escape(self.dbname))

    def schema_exists(self, name):
        return bool(self.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (name,)))

    def adopt_by_hand(self, with_name=True):
        """What the other runner left: users, with or without its name column."""
        self.query("CREATE TABLE users (id int, email text)")
        if with_name:
            self.query("ALTER TABLE users ADD COLUMN name text")


class BaselineVerifyTest(AdoptionTestCase):

    def test_version_must_be_a_files_version(self):
        d = self.make_dir(FILES)
        self.adopt_by_hand()
        r = self.migrator("baseline", "--version", "4", "--dir", d)
        self.assertExit(r, 2)
        self.assertLastLineMatches(
            r, r'^migrator: error: --baseline-version 4: no migration file in "%s" has that version; '
               r'give the version of the last file the database has applied$' % re.escape(d))
        self.assertIsNone(self.history())

    def test_verify_files_hold_then_recorded_with_how(self):
        d = self.make_dir(FILES)
        self.adopt_by_hand()
        r = self.migrator("baseline", "--version", "2", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"verify of migration 2 holds")
        self.assertLastLineMatches(r, r"baselined 2 migrations as applied without running them$")
        self.assertEqual(self.baseline_notes(), [(1, "--baseline-version 2; verify passed"),
                                                 (2, "--baseline-version 2; verify passed")])
        self.assertFalse(self.table_exists("orders"))
        # the verify ran read-only in a transaction that was rolled back: nothing else changed
        self.assertEqual(self.scalar("SELECT count(*) FROM users"), 0)

    def test_failing_verify_refuses_the_whole_baseline(self):
        d = self.make_dir(FILES)
        self.adopt_by_hand(with_name=False)  # the wrong database, or 2 never ran here
        r = self.migrator("baseline", "--version", "2", "--dir", d)
        self.assertExit(r, 1)
        verify = os.path.join(d, "2_users_name.verify.sql")
        self.assertStderrMatches(
            r, r"^migrator: error: verify of migration 2 failed at %s:2: verify query returned false "
               r"in row 1$" % re.escape(verify))
        self.assertLastLineMatches(
            r, r"^migrator: error: baseline refused, nothing recorded: the verify of migration 2 failed "
               r"at %s:2: verify query returned false in row 1; .* or pass --skip-verify VERSION "
               % re.escape(verify))
        self.assertIsNone(self.history())

    def test_verify_error_names_the_statement(self):
        files = dict(FILES)
        files["1_users.verify.sql"] = "SELECT true;\nSELECT count(*) >= 0 FROM no_such_table;\n"
        d = self.make_dir(files)
        self.adopt_by_hand()
        r = self.migrator("baseline", "--version", "1", "--dir", d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(
            r, r"the verify of migration 1 failed at %s:2: 42P01: relation \"no_such_table\" "
               r"does not exist; " % re.escape(os.path.join(d, "1_users.verify.sql")))
        self.assertIsNone(self.history())

    def test_verify_runs_read_only(self):
        # a verify with a data-modifying CTE parses as a SELECT: the server must refuse it
        files = dict(FILES)
        files["1_users.verify.sql"] = ("WITH gone AS (DELETE FROM users RETURNING 1)\n"
                                       "SELECT count(*) >= 0 FROM gone;\n")
        d = self.make_dir(files)
        self.adopt_by_hand()
        self.query("INSERT INTO users (id) VALUES (1), (2)")
        r = self.migrator("baseline", "--version", "2", "--dir", d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, r"failed at .*1_users.verify.sql:1: 25006: cannot execute \w+ "
                                      r"in a read-only transaction")
        self.assertEqual(self.scalar("SELECT count(*) FROM users"), 2)
        self.assertIsNone(self.history())

    def test_up_runs_verify_files_read_only_too(self):
        d = self.make_dir({
            "1_users.sql": "-- migrator:allow-dml\nCREATE TABLE users (id int);\nINSERT INTO users VALUES (1), (2);\n",
            "2_more.sql": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS more (id int);\n",
            # lint refuses a data-modifying WITH in a verify file; a user
            # function it cannot see into is the run-time half's job
            "2_more.verify.sql": "SELECT public.wipe_users();\n",
        })
        self.query("CREATE FUNCTION public.wipe_users() RETURNS boolean LANGUAGE plpgsql AS "
                   "$$ BEGIN DELETE FROM public.users; RETURN true; END $$")
        r = self.migrator("up", "--dir", d, "--target", "1")
        self.assertExit(r, 0)
        r = self.migrator("up", "--dir", d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, r"migration 2 failed at .*2_more.verify.sql:1: 25006: cannot execute")
        self.assertEqual(self.scalar("SELECT count(*) FROM users"), 2)
        self.assertEqual(self.history(), [(1, "applied"), (2, "failed")])

    def test_verify_runs_in_the_schema(self):
        self.query("CREATE SCHEMA app")
        self.query("CREATE TABLE app.users (id int, email text, name text)")
        d = self.make_dir({
            "1_users.sql": FILES["1_users.sql"],
            "1_users.verify.sql": "SELECT count(*) = 0 FROM users;\n"
                                  "SELECT current_schema() = 'app';\n",
        })
        r = self.migrator("baseline", "--version", "1", "--dir", d, "--schema", "app")
        self.assertExit(r, 0)
        self.assertEqual(self.history("app"), [(1, "applied")])

    def test_skip_verify_is_recorded(self):
        d = self.make_dir(FILES)
        self.adopt_by_hand(with_name=False)  # 2's column was dropped later, say
        r = self.migrator("baseline", "--version", "3", "--dir", d, "--skip-verify", "2")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"baselined 3 migrations as applied without running them "
                                      r"\(some verify files skipped: see the history's baseline column\)$")
        self.assertEqual(self.baseline_notes(), [(1, "--baseline-version 3; verify passed"),
                                                 (2, "--baseline-version 3; verify skipped (--skip-verify)"),
                                                 (3, "--baseline-version 3; no verify file")])

    def test_skip_verify_must_name_a_recorded_verify_file(self):
        d = self.make_dir(FILES)
        self.adopt_by_hand()
        for version, why in (("3", "that migration has no verify file"),
                             ("7", "no migration file has that version")):
            with self.subTest(version=version):
                r = self.migrator("baseline", "--version", "3", "--dir", d, "--skip-verify", version)
                self.assertExit(r, 2)
                self.assertLastLineMatches(r, r"--skip-verify %s: %s$" % (version, why))
                self.assertIsNone(self.history())
        r = self.migrator("baseline", "--version", "1", "--dir", d, "--skip-verify", "2")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r"--skip-verify 2: that migration is not among those this "
                                      r"baseline records$")
        self.assertIsNone(self.history())

    def test_no_verify_warns_and_is_recorded(self):
        d = self.make_dir(FILES)
        r = self.migrator("baseline", "--version", "2", "--dir", d, "--no-verify")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"^migrator: warning: --no-verify: recording 2 migrations without "
                                    r"running 2 verify files; the history will say so$")
        self.assertEqual(self.baseline_notes(), [(1, "--baseline-version 2; verify skipped (--no-verify)"),
                                                 (2, "--baseline-version 2; verify skipped (--no-verify)")])

    def test_verify_options_belong_to_baseline(self):
        d = self.make_dir(FILES)
        for args in (("up", "--no-verify"), ("up", "--skip-verify", "1"),
                     ("baseline", "--version", "2", "--no-verify", "--skip-verify", "1")):
            with self.subTest(args=args):
                r = self.migrator(*args, "--dir", d)
                self.assertExit(r, 2)
                self.assertIsNone(self.history())
                self.assertFalse(self.table_exists("users"))

    def test_from_dbmate_runs_the_verify_files_too(self):
        d = self.make_dir({"20230101000000_users.sql": FILES["1_users.sql"],
                           "20230101000000_users.verify.sql": "SELECT false;\n"})
        self.adopt_by_hand()
        self.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
        self.query("INSERT INTO schema_migrations VALUES ('20230101000000')")
        r = self.migrator("baseline", "--from", "dbmate", "--dir", d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, r"the verify of migration 20230101000000 failed at "
                                      r".*20230101000000_users.verify.sql:1: verify query returned false")
        # theirs untouched, ours not created
        self.assertFalse(self.table_exists("schema_migrations_dbmate"))
        self.assertEqual(self.query("SELECT version FROM schema_migrations"), [("20230101000000",)])
        r = self.migrator("baseline", "--from", "dbmate", "--dir", d, "--skip-verify", "20230101000000")
        self.assertExit(r, 0)
        self.assertEqual(self.baseline_notes(),
                         [(20230101000000, "from dbmate; verify skipped (--skip-verify)")])

    def test_from_golang_migrate_version_without_a_file(self):
        # golang-migrate's one version must be a file's, as every import's are
        d = self.make_dir({"1_users.sql": FILES["1_users.sql"], "3_orders.sql": FILES["3_orders.sql"]})
        self.query("CREATE TABLE schema_migrations (version bigint NOT NULL, dirty boolean NOT NULL)")
        self.query("INSERT INTO schema_migrations VALUES (2, false)")
        r = self.migrator("baseline", "--from", "golang-migrate", "--dir", d)
        self.assertExit(r, 6)
        self.assertLastLineMatches(r, r'golang-migrate applied version 2 but "%s" has no file for it '
                                      r'\(database %s\)' % (re.escape(d), self.target_re()))
        self.assertEqual(self.query("SELECT version, dirty FROM schema_migrations"), [(2, False)])
        self.assertFalse(self.table_exists("schema_migrations_golang_migrate"))

    def test_history_table_of_the_first_shape_is_upgraded(self):
        # the history as the first release created it: no baseline column
        self.query("CREATE TABLE schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, "
                   "checksum text NOT NULL, status text NOT NULL CHECK (status IN ('applied', 'failed')), "
                   "applied_at timestamp with time zone NOT NULL DEFAULT now(), duration_ms bigint, "
                   "applied_by text, failure text)")
        d = self.make_dir(FILES)
        self.adopt_by_hand()
        self.assertExit(self.migrator("status", "--dir", d), 0)
        r = self.migrator("baseline", "--version", "2", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'added column "baseline" to history table "public.schema_migrations"')
        self.assertEqual(self.baseline_notes(), [(1, "--baseline-version 2; verify passed"),
                                                 (2, "--baseline-version 2; verify passed")])
        r = self.migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertEqual(self.baseline_notes()[2], (3, None))  # up ran it: no baseline note


class WrongTargetTest(AdoptionTestCase):

    def applied(self):
        d = self.make_dir(FILES)
        self.assertExit(self.migrator("up", "--dir", d), 0)
        return d

    def test_no_applied_version_has_a_file(self):
        self.applied()
        other = self.make_dir({"100_other_app.sql": "CREATE TABLE other (id int);\n"})
        for cmd in ("check", "up", "plan"):
            with self.subTest(command=cmd):
                r = self.migrator(cmd, "--dir", other)
                self.assertExit(r, 6)
                self.assertLastLineMatches(
                    r, r'^migrator: error: none of the 3 versions recorded in "public.schema_migrations" of '
                       r'%s \(1 to 3\) has a file in "%s" \(1 file there\): this is the wrong --dir or the '
                       r'wrong database; nothing was changed$' % (self.target_re(), re.escape(other)))
                self.assertNoLine(r, r"forget-missing")
                self.assertEqual(self.history(), [(1, "applied"), (2, "applied"), (3, "applied")])
                self.assertFalse(self.table_exists("other"))

    def test_repair_forget_missing_refuses_to_drop_every_row(self):
        self.applied()
        empty = self.make_dir({})
        r = self.migrator("repair", "--forget-missing", "--dir", empty)
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r"^migrator: error: repair --forget-missing refuses to drop every "
                                      r"row of the history; nothing was changed$")
        self.assertStderrMatches(r, r"this is the wrong --dir or the wrong database")
        self.assertEqual(self.history(), [(1, "applied"), (2, "applied"), (3, "applied")])
        r = self.migrator("repair", "--dir", empty)
        self.assertExit(r, 6)
        self.assertLastLineMatches(r, r"this is the wrong --dir or the wrong database; nothing was changed$")

    def test_mismatch_messages_name_the_database(self):
        d = self.applied()
        with open(os.path.join(d, "2_users_name.sql"), "a") as f:
            f.write("-- edited\n")
        os.unlink(os.path.join(d, "1_users.sql"))
        os.unlink(os.path.join(d, "1_users.verify.sql"))
        r = self.migrator("check", "--dir", d)
        self.assertExit(r, 6)
        self.assertStderrMatches(r, r"2_users_name.sql: applied migration 2 changed since it was applied to %s "
                                 % self.target_re())
        self.assertStderrMatches(r, r'applied migration 1 \(users\) is missing from "%s" \(applied to %s\)'
                                 % (re.escape(d), self.target_re()))
        self.assertLastLineMatches(r, r'the history disagrees with the files: 2 mismatches \(history '
                                      r'"public.schema_migrations" of %s, files in "%s"\)$'
                                   % (self.target_re(), re.escape(d)))


class SchemaMustExistTest(AdoptionTestCase):

    def assertSchemaMissing(self, r, how):
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'^migrator: error: schema "app" does not exist in %s; %s$'
                                   % (self.target_re(), how))
        self.assertFalse(self.schema_exists("app"))

    def test_up_and_baseline_need_create_schema(self):
        d = self.make_dir(FILES)
        for args in (("up",), ("baseline", "--version", "1", "--no-verify")):
            with self.subTest(command=args[0]):
                r = self.migrator(*args, "--dir", d, "--schema", "app")
                self.assertSchemaMissing(r, r"create it, or pass --create-schema")
                self.assertFalse(self.table_exists("users", schema="app"))
                self.assertFalse(self.table_exists("users"))

    def test_read_only_commands_never_create_it(self):
        d = self.make_dir(FILES)
        for cmd in ("status", "check", "repair"):
            with self.subTest(command=cmd):
                r = self.migrator(cmd, "--dir", d, "--schema", "app")
                self.assertSchemaMissing(r, r"check --schema and --dsn \(this command creates nothing\)")
                r = self.migrator(cmd, "--dir", d, "--schema", "app", "--create-schema")
                self.assertExit(r, 2)
                self.assertLastLineMatches(r, r"option --create-schema belongs to up and baseline \(and plan\); "
                                              r"%s creates nothing$" % cmd)
                self.assertFalse(self.schema_exists("app"))

    def test_create_schema(self):
        d = self.make_dir(FILES)
        r = self.migrator("plan", "--dir", d, "--schema", "app", "--create-schema")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'schema "app" does not exist: up --create-schema would create it')
        self.assertFalse(self.schema_exists("app"))
        r = self.migrator("up", "--dir", d, "--schema", "app", "--create-schema")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'created schema "app" \(--create-schema\)')
        self.assertEqual(self.history("app"), [(1, "applied"), (2, "applied"), (3, "applied")])
        self.assertTrue(self.table_exists("orders", schema="app"))
        self.assertExit(self.migrator("check", "--dir", d, "--schema", "app"), 0)

    def test_baseline_create_schema(self):
        d = self.make_dir(FILES)
        r = self.migrator("baseline", "--version", "1", "--dir", d, "--schema", "app", "--create-schema",
                          "--skip-verify", "1")
        self.assertExit(r, 0)
        self.assertTrue(self.schema_exists("app"))
        self.assertEqual(self.history("app"), [(1, "applied")])
