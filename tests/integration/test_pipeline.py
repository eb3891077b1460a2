"""
test_pipeline.py
    A transactional migration runs up to COMMIT in one pipeline
    (migrator/apply_pipeline.c, common/pipeline.c), and it still fails hard:
    the first failing statement is named by file:line, a verify that returns
    false or a signal stops it before COMMIT, nothing is recorded, and a lock
    wait inside the pipeline is bounded, its blocker named and retried.  With
    --verbose the migrator says when a migration goes in one pipeline, so
    each test first proves that it took that path.  The session reset after
    COMMIT is skipped only for a migration that cannot change the session
    (migrator/apply_residue.h): temporary tables, prepared statements,
    session settings and event triggers still get it.

tests/integration/test_pipeline.py
"""

import re
import signal
import unittest

from test_migrator import ERROR_PREFIX, SUCCESS, MigratorTestCase

PIPELINED = r"in one pipeline"


class PipelineTest(MigratorTestCase):

    def assertPipelined(self, r, stem):
        self.assertTrue(any(stem in ln and re.search(PIPELINED, ln) for ln in r.lines),
                        "%s did not run in one pipeline\n%s" % (stem, r.describe()))

    def test_third_statement_fails_names_it_and_rolls_back_the_first_two(self):
        d = self.make_dir({
            "1_three.sql": ("CREATE TABLE first_one (id int);\n"
                            "CREATE TABLE second_one (id int);\n"
                            "\n"
                            "ALTER TABLE no_such_table ADD COLUMN x int;\n"
                            "CREATE TABLE fourth_one (id int);\n"),
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 1)
        self.assertPipelined(r, "1_three")
        self.assertLastLineMatches(r, self.failure_line(1, d + "/1_three.sql", 4, "42P01"))
        # the aborted statement after it is never the cause
        self.assertNoLine(r, r"1_three\.sql:5")
        self.assertNoLine(r, SUCCESS)
        for t in ("first_one", "second_one", "fourth_one"):
            self.assertFalse(self.table_exists(t), "%s survived\n%s" % (t, r.describe()))
        self.assertEqual(self.versions(), [])

    def test_verify_false_in_the_pipeline_is_not_committed(self):
        d = self.make_dir({
            "1_v.sql": "CREATE TABLE verified (id int);\n",
            "1_v.verify.sql": "SELECT true;\nSELECT count(*) = 1 FROM verified;\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 1)
        self.assertPipelined(r, "1_v")
        self.assertLastLineMatches(
            r, ERROR_PREFIX + r"migration 1 failed at %s:2: verify query returned false in row 1$"
            % re.escape(d + "/1_v.verify.sql"))
        self.assertFalse(self.table_exists("verified"))
        self.assertEqual(self.versions(), [])

    def test_lock_wait_in_the_pipeline_is_bounded_named_and_retried(self):
        d = self.make_dir({"1_base.sql": "CREATE TABLE t (id int);\n"})
        self.assertExit(self.up(d), 0)
        self.write(d, "2_add_col.sql", "CREATE TABLE before_lock (id int);\n"
                                       "ALTER TABLE t ADD COLUMN c int;\n")
        holder = self.hold_lock("LOCK TABLE t IN ACCESS EXCLUSIVE MODE",
                                application_name="pipeline_blocker")
        pid = holder.get_backend_pid()
        r = self.up(d, "--verbose", "--lock-timeout", "400ms", "--retries", "1")
        self.assertExit(r, 1)
        self.assertPipelined(r, "2_add_col")
        self.assertTrue(any(re.search(r"(?i)retry", ln) for ln in r.lines), r.describe())
        self.assertLastLineMatches(r, self.failure_line(2, d + "/2_add_col.sql", 2, "55P03")
                                   + r".*\(after 2 attempts\)")
        self.assertTrue(any(re.search(r"\bpid=%d\b" % pid, ln) and "pipeline_blocker" in ln
                            for ln in r.lines),
                        "no line names the blocker\n%s" % r.describe())
        holder.rollback()
        self.assertFalse(self.column_exists("t", "c"))
        self.assertFalse(self.table_exists("before_lock"))
        self.assertEqual(self.versions(), [1])

    def test_sigterm_during_a_pipelined_statement(self):
        d = self.make_dir({
            "1_slow.sql": "CREATE TABLE before_sleep (id int);\n"
                          "DO $$ BEGIN PERFORM pg_sleep(30); END $$;\n"
                          "CREATE TABLE after_sleep (id int);\n",
        })
        proc = self.start_migrator("up", "--dir", d, "--verbose")
        self.wait_for_backend(proc, "%pg_sleep(30)%")
        proc.send_signal(signal.SIGTERM)
        r = self.finish(proc, timeout=60)
        self.assertExit(r, 143)
        self.assertPipelined(r, "1_slow")
        self.assertLastLineMatches(r, ERROR_PREFIX + r"interrupted by SIGTERM during migration 1 at "
                                   + re.escape(d + "/1_slow.sql") + r":2: rolled back")
        self.assertFalse(self.table_exists("before_sleep"))
        self.assertFalse(self.table_exists("after_sleep"))
        self.assertEqual(self.versions(), [])

    def test_session_state_does_not_reach_the_next_pipelined_migration(self):
        # temporary table, a GUC and a session advisory lock left by one
        # migration: the reset that rides with its COMMIT clears them all
        d = self.make_dir({
            "1_dirty.sql": ("CREATE TABLE dirty (id int);\n"
                            "-- migrator:allow session-set\n"
                            "DO $$ BEGIN EXECUTE 'CREATE TEMP TABLE leak (id int)'; "
                            "EXECUTE 'SET application_name = ''leaked'''; "
                            "PERFORM pg_catalog.pg_advisory_lock(4242); END $$;\n"),
            "2_clean.sql": "CREATE TABLE clean (id int);\n",
            "2_clean.verify.sql": (
                "SELECT pg_catalog.to_regclass('pg_temp.leak') IS NULL;\n"
                "SELECT pg_catalog.current_setting('application_name') <> 'leaked';\n"
                "SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' "
                "AND objid = 4242 AND pid = pg_catalog.pg_backend_pid());\n"),
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertPipelined(r, "2_clean")
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_skipped_if_not_exists_is_checked_statement_by_statement(self):
        # another role's table of that name: the pipeline hands the migration
        # to the statement-by-statement path, which refuses to adopt it
        self.query("CREATE ROLE pipeline_other")
        self.addCleanup(self.query, "DROP ROLE IF EXISTS pipeline_other")
        self.query("CREATE TABLE public.adopted (id int)")
        self.query("ALTER TABLE public.adopted OWNER TO pipeline_other")
        self.addCleanup(self.query, "DROP TABLE IF EXISTS public.adopted")
        d = self.make_dir({
            "1_adopt.sql": ("CREATE TABLE mine (id int);\n"
                            "CREATE TABLE IF NOT EXISTS adopted (id int);\n"),
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1 failed at .*1_adopt\.sql:2: ")
        self.assertFalse(self.table_exists("mine"))
        self.assertEqual(self.versions(), [])

    # ---- the reset after COMMIT only where a migration may have changed the session
    # (migrator/apply_residue.h): every test first proves which path each file took

    QUIET = r"cannot change the session: COMMIT alone"
    RESET = r"may have changed the session: reset after its COMMIT"

    def assertSessionPath(self, r, stem, pattern):
        self.assertTrue(any(re.search(r"\b%s: %s" % (re.escape(stem), pattern), ln) for ln in r.lines),
                        "%s: no line matches %r\n%s" % (stem, pattern, r.describe()))

    def test_quiet_migrations_commit_alone_and_a_failure_still_stops_the_run(self):
        d = self.make_dir({
            "1_a.sql": "CREATE TABLE qa (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
                       "  at timestamptz NOT NULL DEFAULT now());\nCOMMENT ON TABLE qa IS 'a';\n",
            "2_b.sql": "CREATE TABLE qb (id int);\nALTER TABLE qb ADD COLUMN note text;\n",
            "3_c.sql": "CREATE TABLE qc (id int);\nALTER TABLE no_such_table ADD COLUMN x int;\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 1)
        self.assertSessionPath(r, "1_a", self.QUIET)
        self.assertSessionPath(r, "2_b", self.QUIET)
        self.assertPipelined(r, "3_c")
        # BEGIN, the SET LOCALs, 2 statements, the SET LOCALs, the history
        # row, the run lock: no savepoint guard (nothing here can end the
        # transaction), and the failure still stops the run before COMMIT;
        # the first quiet batch also carries the Parses of the toolkit's
        # three prepared statements
        self.assertTrue(any(re.search(r"\b1_a: 10 statements in one pipeline", ln) for ln in r.lines),
                        r.describe())
        self.assertTrue(any(re.search(r"\b2_b: 7 statements in one pipeline", ln) for ln in r.lines),
                        r.describe())
        self.assertLastLineMatches(r, self.failure_line(3, d + "/3_c.sql", 2, "42P01"))
        self.assertNoLine(r, SUCCESS)
        self.assertTrue(self.table_exists("qa") and self.table_exists("qb"))
        self.assertFalse(self.table_exists("qc"))
        self.assertEqual(self.versions("applied"), [1, 2])
        self.assertEqual(self.versions("failed"), [])

    def test_temp_table_cannot_shadow_the_next_migrations_table(self):
        # without the reset, 2's ALTER would change the temporary "items"
        d = self.make_dir({
            "1_shadow.sql": "CREATE TABLE items (id int);\nCREATE TEMP TABLE items (id int);\n",
            "2_add.sql": "ALTER TABLE items ADD COLUMN note text;\n",
            "2_add.verify.sql": "SELECT pg_catalog.to_regclass('pg_temp.items') IS NULL;\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertSessionPath(r, "1_shadow", self.RESET)
        self.assertSessionPath(r, "2_add", self.QUIET)
        self.assertTrue(self.column_exists("items", "note"), r.describe())
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_prepared_statement_and_session_setting_do_not_reach_the_next_migration(self):
        d = self.make_dir({
            "1_prep.sql": "CREATE TABLE p1 (id int);\nPREPARE leak AS SELECT 1;\n",
            "2_prep.sql": "CREATE TABLE p2 (id int);\nPREPARE leak AS SELECT 2;\n",
            "3_set.sql": ("-- migrator:allow session-set\n"
                          "SELECT pg_catalog.set_config('application_name', 'leaked', false);\n"),
            "4_after.sql": "CREATE TABLE p4 (id int);\n",
            "4_after.verify.sql": "SELECT pg_catalog.current_setting('application_name') <> 'leaked';\n",
            # the toolkit's prepared statements (of the quiet 4) are gone
            # here: 5 runs its own unnamed, 6 prepares them again
            "5_dealloc.sql": "CREATE TABLE p5 (id int);\nDEALLOCATE ALL;\n",
            "6_quiet.sql": "CREATE TABLE p6 (id int);\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertSessionPath(r, "6_quiet", self.QUIET)
        self.assertEqual(self.versions("applied"), [1, 2, 3, 4, 5, 6])
        for stem in ("1_prep", "2_prep", "3_set", "5_dealloc"):
            self.assertSessionPath(r, stem, self.RESET)
        # a migration that may change its session keeps the savepoint guard
        self.assertTrue(any(re.search(r"\b1_prep: 9 statements in one pipeline", ln) for ln in r.lines),
                        r.describe())
        self.assertSessionPath(r, "4_after", self.QUIET)

    def test_event_trigger_makes_every_migration_reset(self):
        # an event trigger runs code on every DDL statement, here one that
        # leaves a session setting behind after a COMMENT
        self.query("CREATE FUNCTION public.leaky_evt() RETURNS event_trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN PERFORM pg_catalog.set_config('application_name', 'from_evt', false); END $$")
        self.addCleanup(self.query, "DROP FUNCTION IF EXISTS public.leaky_evt()")
        self.query("CREATE EVENT TRIGGER leaky_evt ON ddl_command_end WHEN TAG IN ('COMMENT') "
                   "EXECUTE FUNCTION public.leaky_evt()")
        self.addCleanup(self.query, "DROP EVENT TRIGGER IF EXISTS leaky_evt")
        d = self.make_dir({
            "1_c.sql": "CREATE TABLE ec (id int);\nCOMMENT ON TABLE ec IS 'x';\n",
            "2_d.sql": "CREATE TABLE ed (id int);\n",
            "2_d.verify.sql": "SELECT pg_catalog.current_setting('application_name') <> 'from_evt';\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertSessionPath(r, "1_c", self.RESET)
        self.assertSessionPath(r, "2_d", self.RESET)
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_lock_wait_on_the_history_row_is_bounded_named_and_nothing_recorded(self):
        # the history row is flushed on its own (the entries around it are
        # quick): its wait is watched and blamed on the file's last line
        d = self.make_dir({"1_base.sql": "CREATE TABLE hbase (id int);\n"})
        self.assertExit(self.up(d), 0)
        self.write(d, "2_row.sql", "CREATE TABLE hrow (id int);\nCOMMENT ON TABLE hrow IS 'x';\n")
        holder = self.hold_lock("INSERT INTO public.schema_migrations (version, name, checksum, status) "
                                "VALUES (2, 'other', 'x', 'applied')", application_name="history_blocker")
        pid = holder.get_backend_pid()
        r = self.up(d, "--verbose", "--lock-timeout", "1s", "--retries", "1")
        holder.rollback()
        self.assertExit(r, 1)
        self.assertPipelined(r, "2_row")
        self.assertLastLineMatches(r, self.failure_line(2, d + "/2_row.sql", 2, "55P03")
                                   + r".*\(after 2 attempts\)")
        self.assertTrue(any(re.search(r"\bpid=%d\b" % pid, ln) and "history_blocker" in ln
                            for ln in r.lines), "no line names the blocker\n%s" % r.describe())
        self.assertFalse(self.table_exists("hrow"))
        self.assertEqual(self.versions(), [1])


if __name__ == "__main__":
    unittest.main()
