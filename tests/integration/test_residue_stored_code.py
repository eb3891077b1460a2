"""
test_residue_stored_code.py
    A migration whose text is "quiet" (migrator/apply_residue.h: listed DDL,
    no code of the user's in it) can still run the user's code that is
    already stored in the catalog: VALIDATE CONSTRAINT runs a CHECK,
    ALTER COLUMN ... TYPE rebuilds an expression index, ADD COLUMN of a
    domain runs the domain's CHECK.  When that code leaves session state
    behind (a session-level set_config, a temporary table, LISTEN, a
    prepared statement, a holdable cursor, an advisory lock), the NEXT
    migration must still run in the session the toolkit set up: those
    shapes are not quiet, the reset follows their COMMIT.  Each test proves
    the leak through a later migration: a CREATE FUNCTION that must fail
    (check_function_bodies left off would accept it), an unqualified name
    that must reach the schema's table (a temporary table would shadow it),
    or a verify file that reads the session.

tests/integration/test_residue_stored_code.py
"""

import re
import unittest

from test_migrator import SUCCESS, MigratorTestCase

QUIET = r"cannot change the session: COMMIT alone"
RESET = r"may have changed the session: reset after its COMMIT"

# stored code that leaves settings behind: the first matters to the next
# migration's CREATE FUNCTION, the others are the incident's (lock_timeout 0,
# a search_path of the user's)
LEAKY_BODY = ("BEGIN "
              "PERFORM pg_catalog.set_config('check_function_bodies', 'off', false); "
              "PERFORM pg_catalog.set_config('lock_timeout', '0', false); "
              "PERFORM pg_catalog.set_config('search_path', 'public, pg_temp', false); "
              "RETURN true; END")

# the later migration: a SQL function over a table that does not exist must
# fail at CREATE (check_function_bodies on, as the toolkit's session has it)
LATER = "CREATE FUNCTION later_fn() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM no_such_table';\n"


class StoredCodeResidueTest(MigratorTestCase):

    def assertPath(self, r, stem, pattern):
        self.assertTrue(any(re.search(r"\b%s: %s" % (re.escape(stem), pattern), ln) for ln in r.lines),
                        "%s: no line matches %r\n%s" % (stem, pattern, r.describe()))

    def function_exists(self, name):
        return self.scalar("SELECT count(*) FROM pg_proc WHERE proname = %s", (name,)) > 0

    def assertLaterFailed(self, r, d, first_stem):
        """The later CREATE FUNCTION failed as it must; the first migration
        stays applied and was followed by the reset."""
        self.assertExit(r, 1)
        self.assertPath(r, first_stem, RESET)
        self.assertLastLineMatches(r, self.failure_line(2, d + "/2_later.sql", 1, "42P01"))
        self.assertNoLine(r, SUCCESS)
        self.assertFalse(self.function_exists("later_fn"), r.describe())
        self.assertEqual(self.versions("applied"), [1])

    def leaky(self, argtype="int", volatility="VOLATILE"):
        self.query("CREATE FUNCTION public.leaky(x %s) RETURNS bool LANGUAGE plpgsql %s AS $$ %s $$"
                   % (argtype, volatility, LEAKY_BODY))

    def test_validate_constraint_runs_a_stored_check_that_leaks_settings(self):
        self.leaky()
        self.query("CREATE TABLE public.vc (id int)")
        self.query("INSERT INTO public.vc SELECT g FROM generate_series(1, 3) g")
        self.query("ALTER TABLE public.vc ADD CONSTRAINT vc_ok CHECK (public.leaky(id)) NOT VALID")
        d = self.make_dir({
            "1_validate.sql": "ALTER TABLE vc VALIDATE CONSTRAINT vc_ok;\n",
            "2_later.sql": LATER,
        })
        r = self.up(d, "--verbose")
        self.assertLaterFailed(r, d, "1_validate")
        self.assertTrue(self.scalar("SELECT convalidated FROM pg_constraint WHERE conname = 'vc_ok'"))

    def test_alter_column_type_rechecks_a_stored_check_that_leaks_settings(self):
        # the rewrite evaluates the column's CHECK for every row again (an
        # expression index rebuilt by it cannot leak: PostgreSQL builds
        # indexes in a GUC nest level of their own, as a restricted operation)
        self.leaky("numeric")
        self.query("CREATE TABLE public.ct (id int, v int CONSTRAINT ct_ok CHECK (public.leaky(v)))")
        self.query("INSERT INTO public.ct SELECT g, g FROM generate_series(1, 3) g")
        self.query("CREATE INDEX ct_v ON public.ct (v)")
        d = self.make_dir({
            "1_retype.sql": "-- migrator:allow alter-column-type\nALTER TABLE ct ALTER COLUMN v TYPE bigint;\n",
            "2_later.sql": LATER,
        })
        r = self.up(d, "--verbose")
        self.assertLaterFailed(r, d, "1_retype")
        self.assertEqual(self.scalar("SELECT data_type FROM information_schema.columns "
                                     "WHERE table_name = 'ct' AND column_name = 'v'"), "bigint")

    def test_add_column_of_a_domain_runs_its_check_that_leaks_settings(self):
        self.leaky()
        self.query("CREATE DOMAIN public.leaky_int AS int CHECK (public.leaky(VALUE))")
        self.query("CREATE TABLE public.dc (id int)")
        self.query("INSERT INTO public.dc SELECT g FROM generate_series(1, 3) g")
        d = self.make_dir({
            "1_domain.sql": "ALTER TABLE dc ADD COLUMN n leaky_int DEFAULT 1;\n",
            "2_later.sql": LATER,
        })
        r = self.up(d, "--verbose")
        self.assertLaterFailed(r, d, "1_domain")
        self.assertTrue(self.column_exists("dc", "n"))

    def test_stored_check_making_a_temp_table_cannot_shadow_the_next_migrations_table(self):
        # the CHECK makes a temporary "items": unreset, 2's unqualified
        # ALTER would change it instead of public.items and exit 0
        self.query("CREATE FUNCTION public.shadowing(x int) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN "
                   "IF pg_catalog.to_regclass('pg_temp.items') IS NULL THEN "
                   "EXECUTE 'CREATE TEMP TABLE items (id int)'; END IF; RETURN true; END $$")
        self.query("CREATE TABLE public.items (id int)")
        self.query("INSERT INTO public.items VALUES (1)")
        self.query("ALTER TABLE public.items ADD CONSTRAINT items_ok CHECK (public.shadowing(id)) NOT VALID")
        d = self.make_dir({
            "1_validate.sql": "ALTER TABLE items VALIDATE CONSTRAINT items_ok;\n",
            "2_add.sql": "ALTER TABLE items ADD COLUMN note text;\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertTrue(self.column_exists("items", "note"), r.describe())
        self.assertEqual(self.versions("applied"), [1, 2])
        self.assertPath(r, "1_validate", RESET)

    def test_other_session_state_left_by_stored_code_is_reset(self):
        # LISTEN, a prepared statement, a holdable cursor, an advisory lock
        # and a setting the toolkit also pins (search_path, SET after its SET
        # LOCAL: it outlives COMMIT) from one CHECK: the verify of the next
        # migration reads the session it ran in
        self.query("CREATE FUNCTION public.hoarder(x int) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN "
                   "EXECUTE 'LISTEN residue_channel'; "
                   "EXECUTE 'PREPARE residue_stmt AS SELECT 1'; "
                   "EXECUTE 'DECLARE residue_cur CURSOR WITH HOLD FOR SELECT 1'; "
                   "PERFORM pg_catalog.pg_advisory_lock(424242); "
                   "PERFORM pg_catalog.set_config('search_path', "
                   "pg_catalog.current_setting('search_path'), false); "
                   "RETURN true; END $$")
        self.query("CREATE TABLE public.hc (id int)")
        self.query("INSERT INTO public.hc VALUES (1)")
        self.query("ALTER TABLE public.hc ADD CONSTRAINT hc_ok CHECK (public.hoarder(id)) NOT VALID")
        d = self.make_dir({
            "1_validate.sql": "ALTER TABLE hc VALIDATE CONSTRAINT hc_ok;\n",
            "2_next.sql": "CREATE TABLE hc2 (id int);\n",
            "2_next.verify.sql": (
                "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_listening_channels());\n"
                "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_prepared_statements WHERE from_sql);\n"
                "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_cursors WHERE is_holdable);\n"
                "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_catalog.pg_backend_pid());\n"),
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertPath(r, "1_validate", RESET)
        self.assertPath(r, "2_next", QUIET)
        self.assertEqual(self.versions("applied"), [1, 2])
        self.assertTrue(self.table_exists("hc2"))

    def test_no_transaction_verify_running_stored_code_is_followed_by_a_reset(self):
        # a no-transaction migration's verify runs in a transaction of its
        # own; a savepoint undoes its settings but not a PREPARE, which here
        # takes the name of the toolkit's own statement of the next batch
        self.query("CREATE FUNCTION public.squat() RETURNS bool LANGUAGE plpgsql AS $$ BEGIN "
                   "EXECUTE 'PREPARE toolkit_pin_0 (text, text, text, text) AS SELECT 1'; "
                   "RETURN true; END $$")
        d = self.make_dir({
            "1_notx.sql": "-- migrator:no-transaction\nCREATE TABLE nt1 (id int);\n",
            "1_notx.verify.sql": "SELECT public.squat();\n",
            "2_quiet.sql": "CREATE TABLE nt2 (id int);\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1, 2])
        self.assertTrue(self.table_exists("nt2"))

    def test_event_trigger_made_by_a_migrations_code_makes_the_rest_reset(self):
        # the run looked for event triggers once, at its start; 1 makes one
        # through EXECUTE (no CREATE EVENT TRIGGER statement to see), which
        # runs the user's code on 2's COMMENT: 2 must still be reset after
        self.query("CREATE FUNCTION public.leaky_evt() RETURNS event_trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN PERFORM pg_catalog.set_config('check_function_bodies', 'off', false); END $$")
        self.addCleanup(self.query, "DROP EVENT TRIGGER IF EXISTS leaky_evt")
        d = self.make_dir({
            "1_evt.sql": ("-- migrator:allow session-set\n"
                          "DO $$ BEGIN EXECUTE 'CREATE EVENT TRIGGER leaky_evt ON ddl_command_end "
                          "WHEN TAG IN (''COMMENT'') EXECUTE FUNCTION public.leaky_evt()'; END $$;\n"),
            "2_comment.sql": "CREATE TABLE ev (id int);\nCOMMENT ON TABLE ev IS 'x';\n",
            "3_later.sql": LATER,
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, self.failure_line(3, d + "/3_later.sql", 1, "42P01"))
        self.assertFalse(self.function_exists("later_fn"), r.describe())
        self.assertEqual(self.versions("applied"), [1, 2])
        self.assertPath(r, "2_comment", RESET)

    def test_quiet_migrations_without_stored_code_still_commit_alone(self):
        # DDL that evaluates nothing of the user's over existing rows keeps
        # the COMMIT alone; the shapes that do reset
        self.query("CREATE DOMAIN public.pos AS int CHECK (VALUE > 0)")
        d = self.make_dir({
            "1_a.sql": "CREATE TABLE qa (id int);\n",
            "2_b.sql": ("ALTER TABLE qa ADD COLUMN note text DEFAULT '';\n"
                        "ALTER TABLE qa ADD COLUMN at timestamptz NOT NULL DEFAULT now();\n"
                        "ALTER TABLE qa ADD COLUMN n bigint;\n"),
            "3_c.sql": ("ALTER TABLE qa ADD CONSTRAINT qa_id CHECK (id > 0) NOT VALID;\n"
                        "COMMENT ON COLUMN qa.note IS 'n';\n"),
            "4_d.sql": "ALTER TABLE qa VALIDATE CONSTRAINT qa_id;\n",
            "5_e.sql": "ALTER TABLE qa ADD COLUMN p pos;\n",
            "6_f.sql": "ALTER TABLE qa ADD CONSTRAINT qa_n CHECK (n > 0);\n",
            "7_g.sql": "-- migrator:allow alter-column-type\nALTER TABLE qa ALTER COLUMN n TYPE numeric;\n",
            "8_h.sql": "CREATE TABLE qh (id int);\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        for stem in ("1_a", "2_b", "3_c", "8_h"):
            self.assertPath(r, stem, QUIET)
        for stem in ("4_d", "5_e", "6_f", "7_g"):
            self.assertPath(r, stem, RESET)
        self.assertEqual(self.versions("applied"), [1, 2, 3, 4, 5, 6, 7, 8])


if __name__ == "__main__":
    unittest.main()
