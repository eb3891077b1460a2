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
        # table's lock and guard, the history row, the run lock: no savepoint guard
        # (nothing here can end the transaction), and the failure still stops
        # the run before COMMIT; the first quiet batch also carries the Parses
        # of the toolkit's four prepared statements
        self.assertTrue(any(re.search(r"\b1_a: 13 statements in one pipeline", ln) for ln in r.lines),
                        r.describe())
        self.assertTrue(any(re.search(r"\b2_b: 9 statements in one pipeline", ln) for ln in r.lines),
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
        self.assertTrue(any(re.search(r"\b1_prep: 11 statements in one pipeline", ln) for ln in r.lines),
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


class RidingCommitTest(MigratorTestCase):
    """One round trip per migration (migrator/apply.h, apply_pipeline.h): a
    quiet migration's COMMIT rides in front of the next migration's batch,
    read before any of it, and still fails hard."""

    def assertRides(self, r, stem, behind):
        self.assertTrue(any(re.search(r"\b%s: \d+ statements in one pipeline, behind the COMMIT of %s$"
                                      % (re.escape(stem), re.escape(behind)), ln) for ln in r.lines),
                        "%s did not ride behind %s\n%s" % (stem, behind, r.describe()))

    def assertAlone(self, r, stem):
        self.assertTrue(any(re.search(r"\b%s: \d+ statements in one pipeline$" % re.escape(stem), ln)
                            for ln in r.lines), "%s: not a batch of its own\n%s" % (stem, r.describe()))

    def index_of(self, r, regex):
        return next(i for i, ln in enumerate(r.lines) if re.search(regex, ln))

    def durations(self):
        return dict(self.query("SELECT version, duration_ms FROM public.schema_migrations ORDER BY 1"))

    def test_a_reset_is_never_overtaken_by_the_next_batch(self):
        # 2 may change its session: its COMMIT goes with the reset, and 3's
        # batch only after it (3's verify sees a clean session); 1 and 3 are
        # quiet: 2 rides behind 1, 4 behind 3
        d = self.make_dir({
            "1_q.sql": "CREATE TABLE rq1 (id int);\n",
            "2_dirty.sql": ("CREATE TABLE rdirty (id int);\n"
                            "-- migrator:allow session-set\n"
                            "DO $$ BEGIN EXECUTE 'CREATE TEMP TABLE rleak (id int)'; "
                            "EXECUTE 'SET application_name = ''leaked'''; END $$;\n"),
            "3_after.sql": "CREATE TABLE rafter (id int);\n",
            "3_after.verify.sql": (
                "SELECT pg_catalog.to_regclass('pg_temp.rleak') IS NULL;\n"
                "SELECT pg_catalog.current_setting('application_name') <> 'leaked';\n"),
            "4_last.sql": "CREATE TABLE rlast (id int);\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertRides(r, "2_dirty", "1_q")
        self.assertAlone(r, "3_after")
        self.assertRides(r, "4_last", "3_after")
        # the log keeps its order: 1 applied before 2 starts
        self.assertLess(self.index_of(r, r"applied 1_q in"), self.index_of(r, r"applying 2_dirty$"))
        self.assertLess(self.index_of(r, r"applied 3_after in"), self.index_of(r, r"applying 4_last$"))
        self.assertEqual(self.versions("applied"), [1, 2, 3, 4])
        for t in ("rq1", "rdirty", "rafter", "rlast"):
            self.assertTrue(self.table_exists(t), t)

    def test_b_a_no_transaction_file_is_never_pipelined_and_its_failure_stops_the_run(self):
        d = self.make_dir({
            "1_q.sql": "CREATE TABLE nq (id int);\nCREATE INDEX nq_id_idx ON nq (id);\n",
            "2_notx.sql": ("-- migrator:no-transaction\n"
                           "DROP INDEX CONCURRENTLY nq_id_idx;\n"
                           "DROP INDEX CONCURRENTLY nq_nope_idx;\n"),
            "3_q.sql": "CREATE TABLE nq3 (id int);\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 1)
        # 1's COMMIT went alone, before 2's first statement
        self.assertFalse(any(re.search(r"\b2_notx: .*in one pipeline", ln) for ln in r.lines), r.describe())
        self.assertLess(self.index_of(r, r"applied 1_q in"),
                        self.index_of(r, r"2_notx runs without a transaction"))
        self.assertLastLineMatches(r, self.failure_line(2, d + "/2_notx.sql", 3, "42704"))
        self.assertNoLine(r, r"applying 3_q")
        self.assertEqual([(v, s) for v, _, _, s in self.history()], [(1, "applied"), (2, "failed")])
        # DROP INDEX CONCURRENTLY runs only outside a transaction block
        self.assertTrue(self.table_exists("nq"))
        self.assertFalse(self.table_exists("nq_id_idx"))
        self.assertFalse(self.table_exists("nq3"))

    def test_c_deferred_constraint_failing_at_commit_stops_the_run(self):
        # 1 is quiet and held; 2 writes data (never rides: it needs its own
        # checks first), so 1 commits alone; 2's deferred foreign key fails
        # only at its COMMIT, which names its last statement
        d = self.make_dir({
            "1_base.sql": ("CREATE TABLE dparent (id int PRIMARY KEY);\n"
                           "CREATE TABLE dchild (pid int REFERENCES dparent DEFERRABLE INITIALLY DEFERRED);\n"),
            "2_seed.sql": ("-- migrator:allow-dml\n"
                           "INSERT INTO dparent VALUES (1);\n"
                           "INSERT INTO dchild VALUES (1);\n"
                           "INSERT INTO dchild VALUES (99);\n"),
            "3_after.sql": "CREATE TABLE dafter (id int);\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 1)
        # the error, then the server's detail, end the run
        self.assertEqual(len(r.lines) - 2, self.index_of(r, self.failure_line(2, d + "/2_seed.sql", 4, "23503")
                                                         + r".*\(at COMMIT\)$"), r.describe())
        self.assertLastLineMatches(r, r"detail: Key \(pid\)=\(99\) is not present")
        self.assertNoLine(r, r"applying 3_after")
        self.assertNoLine(r, SUCCESS)
        self.assertEqual(self.versions(), [1])
        self.assertEqual(self.scalar("SELECT count(*) FROM dparent"), 0)
        self.assertEqual(self.scalar("SELECT count(*) FROM dchild"), 0)
        self.assertFalse(self.table_exists("dafter"))

    def test_d_lock_wait_in_a_riding_batch_is_bounded_named_and_blamed_on_its_line(self):
        d = self.make_dir({"1_base.sql": "CREATE TABLE rt (id int);\n"})
        self.assertExit(self.up(d), 0)
        self.write(d, "2_q.sql", "CREATE TABLE rq2 (id int);\n")
        self.write(d, "3_add.sql", "CREATE TABLE rbefore (id int);\nALTER TABLE rt ADD COLUMN c int;\n")
        holder = self.hold_lock("LOCK TABLE rt IN ACCESS EXCLUSIVE MODE", application_name="riding_blocker")
        pid = holder.get_backend_pid()
        r = self.up(d, "--verbose", "--lock-timeout", "400ms", "--retries", "1")
        holder.rollback()
        self.assertExit(r, 1)
        self.assertRides(r, "3_add", "2_q")
        self.assertTrue(any(re.search(r"3_add\.sql:2 \(attempt 1 of 2\)", ln) for ln in r.lines), r.describe())
        self.assertLastLineMatches(r, self.failure_line(3, d + "/3_add.sql", 2, "55P03")
                                   + r".*\(after 2 attempts\)")
        self.assertTrue(any(re.search(r"\bpid=%d\b" % pid, ln) and "riding_blocker" in ln for ln in r.lines),
                        "no line names the blocker\n%s" % r.describe())
        # 2 committed in front of 3's first attempt; nothing of 3
        self.assertEqual(self.versions(), [1, 2])
        self.assertTrue(self.table_exists("rq2"))
        self.assertFalse(self.table_exists("rbefore"))
        self.assertFalse(self.column_exists("rt", "c"))

    def test_e_sigterm_during_a_riding_batch(self):
        d = self.make_dir({
            "1_q.sql": "CREATE TABLE sq1 (id int);\n",
            "2_slow.sql": "CREATE TABLE sbefore (id int);\n"
                          "DO $$ BEGIN PERFORM pg_sleep(30); END $$;\n"
                          "CREATE TABLE safter (id int);\n",
        })
        proc = self.start_migrator("up", "--dir", d, "--verbose")
        self.wait_for_backend(proc, "%pg_sleep(30)%")
        proc.send_signal(signal.SIGTERM)
        r = self.finish(proc, timeout=60)
        self.assertExit(r, 143)
        self.assertRides(r, "2_slow", "1_q")
        self.assertTrue(any(re.search(r"applied 1_q in \d+ms", ln) for ln in r.lines), r.describe())
        self.assertLastLineMatches(r, ERROR_PREFIX + r"interrupted by SIGTERM during migration 2 at "
                                   + re.escape(d + "/2_slow.sql") + r":2: rolled back, nothing recorded$")
        self.assertEqual(self.versions(), [1])
        self.assertTrue(self.table_exists("sq1"))
        self.assertFalse(self.table_exists("sbefore"))
        self.assertFalse(self.table_exists("safter"))

    def test_f_each_duration_is_its_own_migration(self):
        # 2 rides behind 1 and 3 behind 2 (2 is not quiet, but its batch may
        # carry 1's COMMIT); each row's duration is its own BEGIN to its row
        d = self.make_dir({
            "1_q.sql": "CREATE TABLE fq1 (id int);\n",
            "2_slow.sql": "CREATE TABLE fslow (id int);\nDO $$ BEGIN PERFORM pg_sleep(0.5); END $$;\n",
            "3_q.sql": "CREATE TABLE fq3 (id int);\n",
        })
        r = self.up(d, "--verbose")
        self.assertExit(r, 0)
        self.assertRides(r, "2_slow", "1_q")
        dur = self.durations()
        self.assertGreaterEqual(dur[2], 500, dur)
        self.assertLess(dur[1], 500, dur)
        self.assertLess(dur[3], 500, dur)
        self.assertTrue(any(re.search(r"applied 2_slow in %dms$" % dur[2], ln) for ln in r.lines), r.describe())


if __name__ == "__main__":
    unittest.main()
