"""
test_trust_repair.py
    The migrator's writes of its history outside a migration (repair's
    checksum update and --forget-missing's DELETE, baseline's rows) are preceded, in their
    transaction, by the guard that locks the table the name stands for now
    and checks it again (migrator/history.h's history_guard_query), and the
    read before them locks the table and checks it again too
    (relation_trust_copy): the owner of the --schema may swap the
    table the start-up check trusted for an armed one while repair waits to
    read it.

tests/integration/test_trust_repair.py
"""

import os
import time

from test_migrator import MigratorTestCase


class SwappedHistoryTableOnRepair(MigratorTestCase):

    def setUp(self):
        super().setUp()
        self.mallory = "mallory_" + self.dbname
        self.query("CREATE ROLE %s NOLOGIN" % self.mallory)
        self.addCleanup(self._drop_role, self.mallory)
        self.query("CREATE SCHEMA app AUTHORIZATION %s" % self.mallory)
        self.query("CREATE TABLE public.stolen (who text)")
        self.query("GRANT INSERT ON public.stolen TO PUBLIC")
        self.d = self.make_dir({"1_a.sql": "CREATE TABLE public.a (id int);\n",
                                "2_b.sql": "CREATE TABLE public.b (id int);\n",
                                "3_c.sql": "CREATE TABLE public.c (id int);\n"})
        self.assertExit(self.up(self.d, "--schema", "app"), 0)

    def _drop_role(self, name):
        self.query("DROP SCHEMA IF EXISTS app CASCADE")
        self.query("DROP OWNED BY %s" % name)
        with self._admin.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS %s" % self.ident(name))

    def swap_while_repair_waits(self, *args):
        """Start repair while the schema's owner holds the dropped table; plant an armed copy; let it go."""
        # an armed copy of the history, the schema owner's
        self.query("CREATE TABLE app.armed AS SELECT * FROM app.schema_migrations")
        self.query("ALTER TABLE app.armed ADD PRIMARY KEY (version)")
        self.query("ALTER TABLE app.armed OWNER TO %s" % self.mallory)
        m = self.connect(autocommit=False)
        self.addCleanup(m.close)
        with m.cursor() as cur:
            cur.execute("SET ROLE %s" % self.mallory)
            cur.execute("DROP TABLE app.schema_migrations")
            cur.execute("ALTER TABLE app.armed RENAME TO schema_migrations")
            cur.execute("""CREATE FUNCTION app.steal() RETURNS trigger LANGUAGE plpgsql AS $$
                           BEGIN INSERT INTO public.stolen VALUES (current_user); RETURN NULL; END $$""")
            cur.execute("CREATE TRIGGER t BEFORE INSERT OR UPDATE OR DELETE ON app.schema_migrations "
                        "FOR EACH STATEMENT EXECUTE FUNCTION app.steal()")
        # repair checks the committed (trusted) table, then waits for the lock to read it
        proc = self.start_migrator("repair", "--dir", self.d, "--schema", "app", *args)
        deadline = time.monotonic() + 60
        while not self.scalar("SELECT count(*) FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a "
                              "ON a.pid = l.pid WHERE NOT l.granted AND a.query LIKE '%%schema_migrations%%' "
                              "AND a.datname = current_database()"):
            self.assertLess(time.monotonic(), deadline, "repair never waited for the history table")
            time.sleep(0.05)
        m.commit()
        return self.finish(proc)

    def assertGuarded(self, r):
        # Refused before anything of the armed table is read or written: the history read
        # locks the table the name stands for now and checks it again under that lock
        # (relation_trust_copy), so the swap made while repair waited for it is seen
        # there, before the write and its guard (exit 1, "refusing to write the history
        # table", before session 8).
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'refusing to use table "app\.schema_migrations": it is owned by role "%s"'
                                      % self.mallory)
        self.assertEqual(self.scalar("SELECT count(*) FROM public.stolen"), 0, r.describe())

    def test_a_checksum_update_is_guarded(self):
        self.write(self.d, "1_a.sql", "CREATE TABLE public.a (id int);  -- edited\n")
        old = self.scalar("SELECT checksum FROM app.schema_migrations WHERE version = 1")
        r = self.swap_while_repair_waits()
        self.assertGuarded(r)
        self.assertEqual(self.scalar("SELECT checksum FROM app.schema_migrations WHERE version = 1"), old)

    def test_forget_missing_is_guarded(self):
        os.unlink(os.path.join(self.d, "2_b.sql"))
        r = self.swap_while_repair_waits("--forget-missing")
        self.assertGuarded(r)
        self.assertEqual(self.scalar("SELECT count(*) FROM app.schema_migrations"), 3)

    def test_without_a_swap_repair_still_writes(self):
        self.write(self.d, "1_a.sql", "CREATE TABLE public.a (id int);  -- edited\n")
        r = self.run_migrator("repair", "--dir", self.d, "--schema", "app")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"recorded the current checksum of .*1_a\.sql")
        os.unlink(os.path.join(self.d, "2_b.sql"))
        r = self.run_migrator("repair", "--dir", self.d, "--schema", "app", "--forget-missing")
        self.assertExit(r, 0)
        self.assertEqual(self.scalar("SELECT array_agg(version ORDER BY version) FROM app.schema_migrations"), [1, 3])


class SwappedHistoryTableOnBaseline(MigratorTestCase):
    """baseline runs the verify files (which may wait for a lock), then
    records its rows: with an empty history table already there, the
    schema's owner swaps it while a verify file waits, and the rows must be
    refused before the armed table's trigger runs."""

    def setUp(self):
        super().setUp()
        self.mallory = "mallory_" + self.dbname
        self.query("CREATE ROLE %s NOLOGIN" % self.mallory)
        self.addCleanup(SwappedHistoryTableOnRepair._drop_role, self, self.mallory)
        self.query("CREATE SCHEMA app AUTHORIZATION %s" % self.mallory)
        self.query("CREATE TABLE public.stolen (who text)")
        self.query("GRANT INSERT ON public.stolen TO PUBLIC")
        # an empty history table of the migrator's own role (a run whose row was removed by hand)
        first = self.make_dir({"1_first.sql": "CREATE TABLE public.first (id int);\n"})
        self.assertExit(self.up(first, "--schema", "app"), 0)
        self.query("DELETE FROM app.schema_migrations")
        self.query("CREATE TABLE public.a (id int)")
        self.d = self.make_dir({"1_a.sql": "CREATE TABLE public.a (id int);\n",
                                "1_a.verify.sql": "SELECT count(*) >= 0 FROM public.a;\n"})

    def test_baseline_rows_are_guarded(self):
        holder = self.hold_lock("LOCK TABLE public.a IN ACCESS EXCLUSIVE MODE")
        proc = self.start_migrator("baseline", "--baseline-version", "1", "--dir", self.d, "--schema", "app",
                                   "--lock-timeout", "60s")
        deadline = time.monotonic() + 60
        while not self.scalar("SELECT count(*) FROM pg_catalog.pg_locks WHERE NOT granted "
                              "AND relation = 'public.a'::regclass"):
            self.assertLess(time.monotonic(), deadline, "the verify never waited for public.a")
            time.sleep(0.05)
        # an armed copy of the same shape, the schema owner's
        self.query("CREATE TABLE app.armed (LIKE app.schema_migrations INCLUDING ALL)")
        self.query("ALTER TABLE app.armed OWNER TO %s" % self.mallory)
        m = self.connect(autocommit=False)
        self.addCleanup(m.close)
        with m.cursor() as cur:
            cur.execute("SET ROLE %s" % self.mallory)
            cur.execute("DROP TABLE app.schema_migrations")
            cur.execute("ALTER TABLE app.armed RENAME TO schema_migrations")
            cur.execute("""CREATE FUNCTION app.steal() RETURNS trigger LANGUAGE plpgsql AS $$
                           BEGIN INSERT INTO public.stolen VALUES (current_user); RETURN NULL; END $$""")
            cur.execute("CREATE TRIGGER t BEFORE INSERT OR UPDATE OR DELETE ON app.schema_migrations "
                        "FOR EACH STATEMENT EXECUTE FUNCTION app.steal()")
        m.commit()
        holder.rollback()
        r = self.finish(proc)
        # the recording transaction checks the table again before its guard (history_ensure):
        # refused there, exit 2 naming the owner; the guard covers the instant after that check
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'refusing to use table "app\.schema_migrations": it is owned by role '
                                    r'"%s", not by the current role' % self.mallory)
        self.assertEqual(self.scalar("SELECT count(*) FROM public.stolen"), 0, r.describe())
        self.assertEqual(self.scalar("SELECT count(*) FROM app.schema_migrations"), 0)
