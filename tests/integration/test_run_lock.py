"""
test_run_lock.py
    The run lock's key is computed on the client (common/advlock.c) and is
    the one older versions had the server compute with
    ('x' || substr(md5(name), 1, 16))::bit(64)::bigint, for ASCII and
    non-ASCII names: a lock taken the old way excludes a new run, and a new
    run holds the lock the old way finds (a rolling deploy of old and new).

tests/integration/test_run_lock.py
"""

import os
import re
import signal
import time

from toolkit_test import ToolkitTestCase

OLD_KEY_SQL = "('x' || substr(md5(%s), 1, 16))::bit(64)::bigint"
DEADLINE = 120


class RunLockKeyTest(ToolkitTestCase):
    """The key computed on the client is the one the server computed before."""

    def hold_old_style_lock(self, name, dbname=None):
        dsn = self.admin_dsn(dbname) if dbname else None
        conn = self.connect(dsn=dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(" + OLD_KEY_SQL + ")", (name,))
        return conn

    def lock_held_by(self, pid, name):
        """Does pid hold the advisory lock that the old SQL computes for name?"""
        return self.scalar(
            "SELECT count(*) FROM pg_locks l, (SELECT " + OLD_KEY_SQL + " AS k) key "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid = %s "
            "AND l.classid::bigint = ((key.k >> 32) & 4294967295) AND l.objid::bigint = (key.k & 4294967295)",
            (name, pid)) == 1

    def test_old_style_lock_excludes_a_new_migrator_run(self):
        for table in ("schema_migrations", "hist_\u00e9t\u00e9_\u65e5\u672c"):
            with self.subTest(table=table):
                name = 'migrator:"public"."%s"' % table
                holder = self.hold_old_style_lock(name)
                d = self.make_dir({"1_a.sql": "CREATE TABLE a_%d (id int);\n" % len(table)})
                r = self.run_migrator("up", "--dir", d, "--history-table", table, "--lock-wait", "500ms")
                self.assertExit(r, 4)
                self.assertStderrMatches(r, r'another migrator run holds the lock "%s"' % re.escape(name))
                self.assertFalse(self.table_exists("a_%d" % len(table)))
                holder.close()
                r = self.run_migrator("up", "--dir", d, "--history-table", table)
                self.assertExit(r, 0)
                self.assertTrue(self.table_exists("a_%d" % len(table)))

    def test_new_migrator_run_holds_the_old_style_key(self):
        table = "hist_\u00fcn\u00ef"
        name = 'migrator:"public"."%s"' % table
        d = self.make_dir({"1_slow.sql": "DO $$ BEGIN PERFORM pg_sleep(60); END $$;\n"})
        proc = self.start_migrator("up", "--dir", d, "--history-table", table)
        deadline = time.monotonic() + DEADLINE
        pid = None
        while pid is None and time.monotonic() < deadline:
            pid = self.scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                              "AND pid <> pg_backend_pid() AND query LIKE %s", ("%pg_sleep(60)%",))
            time.sleep(0.05)
        self.assertIsNotNone(pid, "the migration never started")
        # the run lock lives on the run's second connection (same client process)
        lock_pids = [r[0] for r in self.query(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'migrator' AND pid <> %s", (pid,))]
        self.assertFalse(self.lock_held_by(pid, name), "the migration's own session holds the run lock")
        self.assertEqual(len([p for p in lock_pids if self.lock_held_by(p, name)]), 1,
                         "the run does not hold the old-style key on its lock connection")
        proc.send_signal(signal.SIGTERM)
        self.assertExit(self.finish(proc), 143)

    def test_old_style_lock_excludes_a_new_indexer_run_on_a_non_ascii_database(self):
        dbname = "t_\u00e9t\u00e9_\u65e5\u672c_%d" % os.getpid()
        with self._admin.cursor() as cur:
            cur.execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'" % self.ident(dbname))
        self.addCleanup(self._drop_other, dbname)
        cfg_dir = self.make_dir({"indexes.cfg": "indexes = (\n  { name = \"idx_t\"; table = \"t\"; "
                                 "sql = \"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t ON t (a)\"; }\n);\n"})
        cfg = os.path.join(cfg_dir, "indexes.cfg")
        other_dsn = self.admin_dsn(dbname)
        conn = self.connect(dsn=other_dsn)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (a int)")
        holder = self.hold_old_style_lock("indexer:" + dbname, dbname=dbname)
        r = self.run_indexer("build", "-c", cfg, dsn=other_dsn)
        self.assertExit(r, 4)
        self.assertStderrMatches(r, r'another indexer run holds the lock "indexer:%s"' % re.escape(dbname))
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_t'")
            self.assertEqual(cur.fetchone()[0], 0)
        holder.close()
        r = self.run_indexer("build", "-c", cfg, dsn=other_dsn)
        self.assertExit(r, 0)
        conn.close()

    def test_no_server_md5(self):
        """Where the server refuses md5() (FIPS mode), both programs still lock."""
        role = "nomd5_%d" % os.getpid()
        with self._admin.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS %s" % self.ident(role))
            cur.execute("CREATE ROLE %s LOGIN" % self.ident(role))
        self.addCleanup(self._drop_role, role)
        # function privileges live in each database: only this one changes
        self.query("REVOKE EXECUTE ON FUNCTION pg_catalog.md5(text) FROM PUBLIC")
        self.query("GRANT CREATE ON SCHEMA public TO %s" % self.ident(role))
        self.query("CREATE TABLE t (a int)")
        self.query("ALTER TABLE t OWNER TO %s" % self.ident(role))
        dsn = self.dsn.replace("user=%s" % self.superuser, "user=%s" % role)
        self.assertIn("user=" + role, dsn)
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertExit(r, 0)
        self.assertNotInOutput(r, "md5")
        self.assertTrue(self.table_exists("a"))
        cfg_dir = self.make_dir({"indexes.cfg": "indexes = (\n  { name = \"idx_t\"; table = \"t\"; "
                                 "sql = \"CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t ON t (a)\"; }\n);\n"})
        r = self.run_indexer("build", "-c", os.path.join(cfg_dir, "indexes.cfg"), dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_t'"), 1)

    def test_no_client_md5_from_a_crypto_library(self):
        """A FIPS-mode client refuses a crypto library's MD5: the key is computed by the
        toolkit's own RFC 1321 code (common/md5.c), so neither program imports any MD5
        function from a shared library (libcrypto's MD5_*, nettle's nettle_md5_*, gcrypt ...)."""
        import shutil
        import subprocess
        nm = shutil.which("nm")
        if nm is None:
            self.skipTest("nm (binutils) is not installed")
        for program in (os.environ["MIGRATOR"], os.environ["INDEXER"]):
            out = subprocess.run([nm, "-D", "--undefined-only", program], capture_output=True, text=True,
                                 check=True).stdout
            self.assertTrue(out.strip(), "nm listed no imported symbol of %s" % program)
            imported_md5 = [ln for ln in out.splitlines() if "md5" in ln.lower()]
            self.assertEqual(imported_md5, [], "%s imports an MD5 function" % program)

    def _drop_role(self, role):
        self._drop_database(close=False)
        with self._admin.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS %s" % self.ident(role))

    def _drop_other(self, dbname):
        with self._admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.ident(dbname))
