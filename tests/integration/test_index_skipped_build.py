"""
test_index_skipped_build.py
    A build whose CREATE INDEX CONCURRENTLY IF NOT EXISTS was skipped did
    not build anything: another session made an index of that name while
    the build waited for its table (adversarial review of session 12: the
    indexer said "built", exit 0, for a critical definition, over an index
    with another definition, which its own check then called drifted).  The
    index found is counted only when it compares as the file's definition;
    otherwise the definition fails and the other session's index is left as
    it is, never dropped.

tests/integration/test_index_skipped_build.py
"""

import threading
import time

from test_indexer import ERROR, IndexerTestCase, WARN, cic
from toolkit_test import conninfo


class SkippedBuild(IndexerTestCase):

    def race(self, holders_index):
        """The indexer builds idx_t on t (a) while a session holding t in SHARE mode makes
        holders_index and commits; returns the finished run."""
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "critical": True, "sql": cic("idx_t", "t", "a")}])
        holder = self.hold_lock("LOCK TABLE t IN SHARE MODE")
        proc = self.start(cfg, "--lock-timeout", "60s", "--no-record")
        self.wait_for_stderr(proc, r'^indexer: building "idx_t" on "public.t"$')
        self.wait_until_waiting_for_a_lock()
        with holder.cursor() as cur:
            cur.execute(holders_index)
        holder.commit()
        return self.finish(proc)

    def wait_until_waiting_for_a_lock(self):
        for _ in range(600):
            if self.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                           "AND query LIKE 'CREATE INDEX CONCURRENTLY IF NOT EXISTS%%'"):
                return
            time.sleep(0.05)
        self.fail("the build never waited for the table's lock")

    def test_another_definition_made_while_the_build_waited_fails_it(self):
        r = self.race("CREATE INDEX idx_t ON t (id) WHERE a = 99")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, ERROR + r'.*"idx_t" on "public.t".*another session made an index of that name '
                                            r'while this build waited \(CREATE INDEX IF NOT EXISTS skipped\), and it '
                                            r'is not the file\'s definition: the database has "CREATE INDEX idx_t ON '
                                            r'public.t USING btree \(id\) WHERE \(a = 99\)"')
        self.assertNoLine(r, r'built "idx_t"')
        # the other session's index, left as it is
        self.assertEqual(self.indexdef("idx_t"), "CREATE INDEX idx_t ON public.t USING btree (id) WHERE (a = 99)")
        self.assertValid("idx_t", "t")

    def test_a_database_that_hides_notices_does_not_hide_the_skip(self):
        # the skip is known by its notice; client_min_messages = warning hid it, and the build
        # said "built", exit 0 (second review of session 12)
        self.query("ALTER DATABASE %s SET client_min_messages = warning" % self.ident(self.dbname))
        r = self.race("CREATE INDEX idx_t ON t (id) WHERE a = 99")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"another session made an index of that name while this build waited")
        self.assertEqual(self.indexdef("idx_t"), "CREATE INDEX idx_t ON public.t USING btree (id) WHERE (a = 99)")

    def test_the_files_definition_made_while_the_build_waited_counts(self):
        r = self.race("CREATE INDEX idx_t ON t (a)")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_t" on "public.t": another session made it while this build '
                                           r'waited \(CREATE INDEX IF NOT EXISTS skipped\); it is the file\'s '
                                           r'definition: counted as built$')
        self.assertEqual(self.indexdef("idx_t"), "CREATE INDEX idx_t ON public.t USING btree (a)")
        self.assertValid("idx_t", "t")


class AnotherRolesBuild(IndexerTestCase):
    """A build by another role shows no relation in pg_stat_progress_create_index to a role
    without pg_read_all_stats, so its index, invalid while it is built, looked like a leftover
    to an indexer run as the table's owner: it was dropped as a repair under the other
    session's feet (adversarial review of session 12).  Its lock on the table shows it."""

    def test_an_index_another_role_is_building_is_busy_not_a_leftover(self):
        self.make_table("t")
        app = "app_" + self.dbname
        self.query("CREATE ROLE %s LOGIN" % self.ident(app))
        self.addCleanup(self.query, "DROP ROLE IF EXISTS %s" % self.ident(app))
        self.addCleanup(self.query, "DROP OWNED BY %s" % self.ident(app))
        self.query("ALTER TABLE t OWNER TO %s" % self.ident(app))
        self.query("GRANT CREATE ON SCHEMA public TO %s" % self.ident(app))
        reader = self.blocker("SELECT 1")  # the DBA's build waits for its snapshot
        dba = self.connect(autocommit=True, application_name="dba_build")
        self.addCleanup(dba.close)
        self.addCleanup(reader.rollback)  # first: the DBA's build then ends
        build = threading.Thread(target=lambda: dba.cursor().execute(
            "CREATE INDEX CONCURRENTLY idx_t ON t (a)"), daemon=True)
        build.start()
        for _ in range(600):
            row = self.index("idx_t")
            if row is not None and self.scalar("SELECT count(*) FROM pg_stat_progress_create_index"):
                break
            time.sleep(0.05)
        self.assertIsNotNone(self.index("idx_t"))
        oid = self.index("idx_t")[0]
        cfg = self.config([{"name": "idx_t", "table": "t", "critical": True, "sql": cic("idx_t", "t", "a")}])
        dsn = conninfo(host=self.host, port=self.port, dbname=self.dbname, user=app)
        r = self.run_indexer("plan", "-c", cfg, dsn=dsn)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^busy +idx_t on public\.t \(critical\): backend [0-9]+ is building it "
                                   r"right now$")
        r = self.run_indexer("build", "-c", cfg, "--no-record", dsn=dsn)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_t" on "public.t" skipped: backend [0-9]+ is building it right now$')
        self.assertNoLine(r, r"dropping the invalid index|repaired \"")
        reader.commit()
        build.join(60)
        self.assertFalse(build.is_alive())
        # the DBA's own index, built to its end and never dropped
        self.assertEqual(self.index("idx_t")[0], oid)
        self.assertValid("idx_t", "t")
