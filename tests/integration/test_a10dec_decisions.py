"""
test_a10dec_decisions.py
    Issue 10, "The indexer's own decisions", attacked where today's code
    could break them: status on a server that refuses md5() (FIPS), a
    constraint's index named like a leftover, a constraint's index that
    drifted under --rebuild-drifted, maintenance_work_mem beyond the range
    from the environment and the file, the gate on the drift fast path.
    Each test asserts the exit code, the message and the catalog state.

tests/integration/test_a10dec_decisions.py
"""

import os
import unittest

from test_indexer import ERROR, WARN, IndexerTestCase, cic


class NoServerMd5Test(IndexerTestCase):
    """Where the server refuses md5() (FIPS mode), no command of the indexer
    needs it: the run lock's key and status's duplicate signatures are
    computed on the client."""

    def _drop_role(self, role):
        self._drop_database(close=False)
        with self._admin.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS %s" % self.ident(role))

    def test_status_check_plan_build_without_server_md5(self):
        role = "nomd5s_%d" % os.getpid()
        with self._admin.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS %s" % self.ident(role))
            cur.execute("CREATE ROLE %s LOGIN" % self.ident(role))
        self.addCleanup(self._drop_role, role)
        self.query("REVOKE EXECUTE ON FUNCTION pg_catalog.md5(text) FROM PUBLIC")
        self.query("REVOKE EXECUTE ON FUNCTION pg_catalog.md5(bytea) FROM PUBLIC")
        self.make_table("t")
        self.query("ALTER TABLE t OWNER TO %s" % self.ident(role))
        self.query("GRANT CREATE ON SCHEMA public TO %s" % self.ident(role))
        self.query("CREATE INDEX dup_t_a ON t (a)")
        dsn = self.dsn.replace("user=%s" % self.superuser, "user=%s" % role)
        cfg = self.config([{"name": "idx_t_a", "table": "t", "sql": cic("idx_t_a", "t", "a")}])
        r = self.indexer(cfg, "build", dsn=dsn)
        self.assertExit(r, 0)
        self.assertValid("idx_t_a", "t")
        for command in ("check", "plan"):
            self.assertExit(self.indexer(cfg, command, dsn=dsn), 0)
        r = self.indexer(cfg, "status", dsn=dsn)
        self.assertExit(r, 0)
        self.assertNotInOutput(r, "md5")
        self.assertRegex(r.stdout, r"(?m)^duplicates .*:\n  public\.t: dup_t_a, idx_t_a$")
        r = self.indexer(cfg, "status", "--log-format", "json", dsn=dsn)
        self.assertExit(r, 0)
        self.assertIn('"duplicates"', r.stdout)


class RequiresIndexLockTest(IndexerTestCase):
    """The migrator's requires-index takes the indexer's run lock by the same
    client-computed key: a lock held under the key the server's md5() gave
    (older versions, test_run_lock) keeps it from building."""

    OLD_KEY_SQL = "('x' || substr(md5(%s), 1, 16))::bit(64)::bigint"

    def test_requires_index_waits_for_the_indexers_lock(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_req", "table": "t", "sql": cic("idx_req", "t", "a")}])
        d = self.make_dir({"1_needs.sql": "-- migrator:requires-index idx_req\nCREATE TABLE after_t (id int);\n"})
        holder = self.connect()
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(" + self.OLD_KEY_SQL + ")", ("indexer:" + self.dbname,))
        r = self.run_migrator("up", "--dir", d, "--index-config", cfg, "--lock-wait", "1s")
        self.assertExit(r, 4)
        self.assertStderrMatches(r, r'could not take the indexer\'s run lock to build its required indexes')
        self.assertNoRelation("idx_req")
        self.assertFalse(self.table_exists("after_t"))
        holder.close()
        r = self.run_migrator("up", "--dir", d, "--index-config", cfg)
        self.assertExit(r, 0)
        self.assertValid("idx_req", "t")
        self.assertTrue(self.table_exists("after_t"))


class ConstraintIndexTest(IndexerTestCase):

    def test_constraint_index_named_like_a_leftover_is_never_dropped(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_u", "table": "t", "sql": cic("idx_u", "t", "email", unique=True)}])
        self.assertExit(self.indexer(cfg), 0)
        # the definition with only the name changed, then taken over by a constraint of that name
        self.query("CREATE UNIQUE INDEX idx_u_ixnew ON t (email)")
        self.query("ALTER TABLE t ADD CONSTRAINT idx_u_ixnew UNIQUE USING INDEX idx_u_ixnew")
        keep = self.index("idx_u_ixnew")
        r = self.indexer(cfg, "plan")
        self.assertNotRegex(r.stdout, r"(?m)^drop +idx_u_ixnew")
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"public.idx_u_ixnew" on "public.t" is named like a leftover of a rebuild '
                                 r'of "idx_u", but is not provably the indexer\'s: constraint idx_u_ixnew uses it '
                                 r'\(the indexer never drops a constraint\'s index\)')
        self.assertNoLine(r, r"dropped the leftovers")
        self.assertEqual(self.index("idx_u_ixnew"), keep)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_constraint WHERE conname = 'idx_u_ixnew'"), 1)
        self.assertValid("idx_u", "t")

    def test_drifted_constraint_index_is_never_swapped(self):
        self.make_table("t")
        self.query("CREATE UNIQUE INDEX idx_u ON t (email)")
        self.query("ALTER TABLE t ADD CONSTRAINT idx_u UNIQUE USING INDEX idx_u")
        before = self.index("idx_u")
        # the file now wants (email, a): drifted, but the constraint owns the index
        cfg = self.config([{"name": "idx_u", "table": "t", "sql": cic("idx_u", "t", "email, a", unique=True)}])
        r = self.indexer(cfg, "--rebuild-drifted")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_u" on "public.t" skipped: drifted \(the database has "CREATE UNIQUE '
                                 r'INDEX idx_u ON public.t USING btree \(email\)"\), but constraint idx_u uses it: '
                                 r'--rebuild-drifted does not replace it \(it never drops or swaps a constraint\'s '
                                 r'index\); .*REINDEX INDEX CONCURRENTLY')
        self.assertLastLineMatches(r, r"summary: 0 built, 0 present, 0 repaired, 0 rebuilt, 0 dropped")
        self.assertEqual(self.index("idx_u"), before)
        self.assertEqual(self.indexdef("idx_u"), "CREATE UNIQUE INDEX idx_u ON public.t USING btree (email)")
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass"), 2)
        self.assertNoRelation("idx_u_ixnew")
        self.assertNoRelation("idx_u_ixold")


class MaintenanceWorkMemTest(IndexerTestCase):

    def test_beyond_the_range_from_the_environment_and_the_file(self):
        self.make_table("t")
        defs = [{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}]
        cases = (
            ("environment", self.config(defs), {"INDEXER_MAINTENANCE_WORK_MEM": "2TB"},
             r"environment INDEXER_MAINTENANCE_WORK_MEM"),
            ("file", self.config(defs, settings={"maintenance_work_mem": "2TB"}), {}, r"the file's settings"),
        )
        for label, cfg, env, origin in cases:
            with self.subTest(source=label):
                r = self.indexer(cfg, env=env)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, ERROR + r".*%s.*maintenance_work_mem 2147483648kB is outside the "
                                         r"server's range 1024kB to 2147483647kB; nothing built$" % origin)
                self.assertNoRelation("idx_t")


if __name__ == "__main__":
    unittest.main()
