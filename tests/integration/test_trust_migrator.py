"""
test_trust_migrator.py
    A hostile but realistic user against the migrator: each test reproduces an
    attack that once ended in exit 0 over a database that is not what the
    files ask for (or ran foreign code), and asserts exit code, last line and
    catalog state together.

tests/integration/test_trust_migrator.py
"""

import hashlib
import os
import re
import threading
import time
import unittest
import uuid

from test_migrator import ERROR_PREFIX, MigratorTestCase
from toolkit_test import HoldBeforeTheRead, LoopbackProxy, conninfo


class ArmedHistoryTable(MigratorTestCase):
    """Part 1: a history table another role could have armed is refused."""

    SHAPE = ("CREATE TABLE public.schema_migrations (version bigint PRIMARY KEY, "
             "name text NOT NULL, checksum text NOT NULL, status text NOT NULL, "
             "applied_at timestamp with time zone NOT NULL DEFAULT now(), "
             "duration_ms bigint, applied_by text, failure text)")

    def setUp(self):
        super().setUp()
        self.d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        self.query("CREATE TABLE public.stolen (who text)")
        self.query("GRANT INSERT ON public.stolen TO PUBLIC")
        self.query("""CREATE FUNCTION public.steal() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN INSERT INTO public.stolen VALUES (current_user); RETURN NEW; END $$""")

    def assertRefused(self, r, why):
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, ERROR_PREFIX + r'refusing to use table "public\.schema_migrations": ' + why)
        self.assertFalse(self.table_exists("a"), r.describe())
        self.assertEqual(self.scalar("SELECT count(*) FROM public.stolen"), 0, r.describe())

    def test_table_owned_by_another_role(self):
        mallory = "mallory_" + self.dbname
        self.query("CREATE ROLE %s NOLOGIN" % mallory)
        self.addCleanup(self._drop_role, mallory)
        self.query("GRANT CREATE ON SCHEMA public TO %s" % mallory)
        self.query("SET ROLE %s" % mallory)
        self.query(self.SHAPE)
        self.query("RESET ROLE")
        r = self.up(self.d)
        self.assertRefused(r, r'it is owned by role "%s", not by the current role "postgres"' % mallory)
        for cmd in ("status", "check"):
            r = self.run_migrator(cmd, "--dir", self.d)
            self.assertExit(r, 2)

    def test_table_with_trigger(self):
        self.query(self.SHAPE)
        self.query("CREATE TRIGGER t BEFORE INSERT ON public.schema_migrations "
                   "FOR EACH ROW EXECUTE FUNCTION public.steal()")
        self.assertRefused(self.up(self.d), r"it has triggers \(t\)")

    def test_table_with_rule(self):
        self.query(self.SHAPE)
        self.query("CREATE RULE r AS ON INSERT TO public.schema_migrations "
                   "DO ALSO INSERT INTO public.stolen VALUES (current_user)")
        self.assertRefused(self.up(self.d), r"it has rules \(r\)")

    def test_table_with_row_level_security(self):
        self.query(self.SHAPE)
        self.query("ALTER TABLE public.schema_migrations ENABLE ROW LEVEL SECURITY")
        self.assertRefused(self.up(self.d), r"it has row-level security or policies")

    def test_own_clean_table_is_used(self):
        r = self.up(self.d)
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1])

    def _drop_role(self, name):
        self.query("DROP OWNED BY %s" % name)
        with self._admin.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS %s" % self.ident(name))


class SwappedHistoryTable(MigratorTestCase):
    """The owner of the --schema may drop any table in it: mid-run, it swaps the history table the
    start-up check trusted for an armed one of its own.  The next history write must be refused
    before anything of that table runs (its trigger would run with the migrator's privileges)."""

    def up_waiting_on_busy(self):
        """A schema of mallory's; up into it, migration 2 waiting for public.busy:
        (mallory, the lock holder, the process)."""
        mallory = "mallory_" + self.dbname
        self.query("CREATE ROLE %s NOLOGIN" % mallory)
        self.addCleanup(ArmedHistoryTable._drop_role, self, mallory)
        self.query("CREATE SCHEMA app AUTHORIZATION %s" % mallory)
        self.query("CREATE TABLE public.busy (id int)")
        d = self.make_dir({"1_a.sql": "CREATE TABLE public.a (id int);\n",
                           "2_b.sql": "ALTER TABLE public.busy ADD COLUMN b int;\n"})
        holder = self.hold_lock("LOCK TABLE public.busy IN ACCESS EXCLUSIVE MODE")
        proc = self.start_migrator("up", "--dir", d, "--schema", "app", "--lock-timeout", "60s")
        return mallory, holder, proc

    def test_a_table_swapped_mid_run_is_refused_before_its_trigger_runs(self):
        self.query("CREATE TABLE public.stolen (who text)")
        self.query("GRANT INSERT ON public.stolen TO PUBLIC")
        mallory, holder, proc = self.up_waiting_on_busy()
        # migration 1 is recorded and migration 2 waits for public.busy
        self.wait_until_waiting("public.busy")
        self.assertEqual(self.versions("applied", schema="app"), [1])
        # the schema's owner swaps the table for an armed one of the same shape
        self.query("SET ROLE %s" % mallory)
        self.query("DROP TABLE app.schema_migrations CASCADE")  # CASCADE: the run's view of it too
        self.query(ArmedHistoryTable.SHAPE.replace("public.", "app."))
        self.query("""CREATE FUNCTION app.steal() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN INSERT INTO public.stolen VALUES (current_user); RETURN NEW; END $$""")
        self.query("CREATE TRIGGER t BEFORE INSERT OR UPDATE ON app.schema_migrations "
                   "FOR EACH STATEMENT EXECUTE FUNCTION app.steal()")
        self.query("RESET ROLE")
        holder.rollback()
        r = self.finish(proc)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"refusing to write the history table app\.schema_migrations: it is not the "
                                    r"table the run checked at start-up")
        self.assertEqual(self.scalar("SELECT count(*) FROM public.stolen"), 0, r.describe())
        self.assertEqual(self.scalar("SELECT count(*) FROM app.schema_migrations"), 0, r.describe())
        self.assertFalse(self.column_exists("busy", "b"), r.describe())

    def test_a_view_swapped_in_mid_run_is_never_planned_by_the_guard(self):
        # Planning a query that names a view evaluates the view's IMMUTABLE-declared functions
        # (constant folding), even under WHERE false: the guard once took its lock so, and ran
        # the function of a view swapped in mid-run with the run's privileges.  Now LOCK TABLE
        # takes the lock, and the guard reads only the catalogs.
        mallory, holder, proc = self.up_waiting_on_busy()
        self.wait_until_waiting("public.busy")
        self.assertEqual(self.versions("applied", schema="app"), [1])
        self.query("SET ROLE %s" % mallory)
        self.query("CREATE SEQUENCE app.hits")
        self.query("GRANT ALL ON SEQUENCE app.hits TO PUBLIC")
        self.query("CREATE FUNCTION app.folded() RETURNS boolean LANGUAGE plpgsql IMMUTABLE "
                   "AS $$ BEGIN PERFORM pg_catalog.nextval('app.hits'); RETURN true; END $$")
        self.query("DROP TABLE app.schema_migrations CASCADE")
        self.query("CREATE VIEW app.schema_migrations AS SELECT 1::bigint AS version WHERE app.folded()")
        self.query("RESET ROLE")
        holder.rollback()
        r = self.finish(proc)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"refusing to write the history table app\.schema_migrations")
        self.assertEqual(self.scalar("SELECT is_called FROM app.hits"), False, r.describe())
        self.assertFalse(self.column_exists("busy", "b"), r.describe())

    def test_the_guard_gives_the_start_up_checks_verdict(self):
        # The guard and the start-up check read the same catalog query
        # (relation_trust_guard_sql): a TRIGGER grant to another role, or a
        # child table, made while the run waits, is refused at the next write
        # as it would have been at start-up.  Before, the guard had its own
        # shorter list and recorded migration 2 over either.
        mallory = "mallory_" + self.dbname
        self.query("CREATE ROLE %s NOLOGIN" % mallory)
        self.addCleanup(ArmedHistoryTable._drop_role, self, mallory)
        self.query("CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
        for change, what in (("GRANT TRIGGER ON app.schema_migrations TO %s", "TRIGGER granted"),
                             ("CREATE TABLE app.child () INHERITS (app.schema_migrations)", "inheritance"),
                             ("CREATE TRIGGER t BEFORE INSERT ON app.schema_migrations FOR EACH ROW "
                              "EXECUTE FUNCTION public.noop()", "trigger"),
                             ("ALTER TABLE app.schema_migrations ENABLE ROW LEVEL SECURITY", "row-level security")):
            with self.subTest(what):
                self.query("DROP SCHEMA IF EXISTS app CASCADE")
                self.query("DROP TABLE IF EXISTS public.busy, public.a")
                self.query("CREATE SCHEMA app")
                holder, proc = self.up_into_app_waiting()
                self.assertEqual(self.versions("applied", schema="app"), [1])
                self.query(change.replace("%s", mallory))
                holder.rollback()
                r = self.finish(proc)
                self.assertExit(r, 1)
                self.assertStderrMatches(r, r"refusing to write the history table app\.schema_migrations")
                self.assertEqual(self.versions("applied", schema="app"), [1], r.describe())
                self.assertFalse(self.column_exists("busy", "b"), r.describe())

    def test_a_flag_left_by_a_dropped_trigger_goes_to_the_full_check(self):
        # The guard reads pg_class's flags first; relhastriggers stays set after the trigger is
        # dropped, so the full check decides: nothing is there, and migration 2 is recorded.
        self.query("CREATE SCHEMA app")
        holder, proc = self.up_into_app_waiting()
        self.query("CREATE FUNCTION public.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
        self.query("CREATE TRIGGER t BEFORE INSERT ON app.schema_migrations FOR EACH ROW "
                   "EXECUTE FUNCTION public.noop()")
        self.query("DROP TRIGGER t ON app.schema_migrations")
        self.assertTrue(self.scalar("SELECT relhastriggers FROM pg_class WHERE oid = 'app.schema_migrations'::regclass"))
        holder.rollback()
        r = self.finish(proc)
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied", schema="app"), [1, 2], r.describe())
        self.assertTrue(self.column_exists("busy", "b"), r.describe())

    def up_into_app_waiting(self):
        """up into schema app (the caller's), migration 1 recorded and migration 2 waiting for
        public.busy, which the returned holder locks: (holder, process)."""
        self.query("CREATE TABLE public.busy (id int)")
        d = self.make_dir({"1_a.sql": "CREATE TABLE public.a (id int);\n",
                           "2_b.sql": "ALTER TABLE public.busy ADD COLUMN b int;\n"})
        holder = self.hold_lock("LOCK TABLE public.busy IN ACCESS EXCLUSIVE MODE")
        proc = self.start_migrator("up", "--dir", d, "--schema", "app", "--lock-timeout", "60s")
        self.wait_until_waiting("public.busy")
        return holder, proc

    def wait_until_waiting(self, relation, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.scalar("SELECT count(*) FROM pg_catalog.pg_locks WHERE NOT granted "
                           "AND relation = %s::regclass", (relation,)):
                return
            time.sleep(0.1)
        self.fail("the migrator never waited for %s" % relation)


class SchemaOfAnotherOwner(MigratorTestCase):
    """Schema s belongs to role att; role mig runs the migrator there."""

    HIST = ("CREATE TABLE s.schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, "
            "checksum text NOT NULL, status text NOT NULL CHECK (status IN ('applied', 'failed')), "
            "applied_at timestamptz NOT NULL DEFAULT now(), duration_ms bigint, applied_by text, "
            "failure text, baseline text)")

    def setUp(self):
        super().setUp()
        self.att = "att_" + self.dbname   # owns the schema
        self.mig = "mig_" + self.dbname   # runs the migrator
        for role, how in ((self.att, "NOLOGIN"), (self.mig, "LOGIN")):
            self.query("CREATE ROLE %s %s" % (role, how))
            self.addCleanup(ArmedHistoryTable._drop_role, self, role)
        self.query("CREATE SCHEMA s AUTHORIZATION %s" % self.att)
        self.query("GRANT USAGE, CREATE ON SCHEMA s TO %s" % self.mig)
        self.d = self.make_dir({"1_a.sql": "CREATE TABLE IF NOT EXISTS s.a (id int);\n"})
        self.mig_dsn = conninfo(host=self.host, port=self.port, dbname=self.dbname, user=self.mig)

    def swap_schemas(self):
        """att swaps the names of its schemas s and s2 (ALTER SCHEMA ... RENAME locks no table)."""
        with self.connect() as c, c.cursor() as cur:
            cur.execute("SET ROLE %s" % self.att)
            for old_name, new_name in (("s", "s_tmp"), ("s2", "s"), ("s_tmp", "s2")):
                cur.execute("ALTER SCHEMA %s RENAME TO %s" % (old_name, new_name))

    def run_held(self, action, needle, *args):
        """The migrator as mig through a loopback proxy that runs action right before it
        forwards the client message holding needle; asserts that it did."""
        proxy = HoldBeforeTheRead(self.tcp_host, self.port, action, needles=(needle,))
        self.addCleanup(proxy.close)
        dsn = conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.mig, sslmode="disable")
        r = self.run_migrator(*args, "--dir", self.d, "--schema", "s", dsn=dsn)
        self.assertTrue(proxy.fired.is_set(), r.describe())
        return r


class SchemaRenamedBeforeTheWrite(SchemaOfAnotherOwner):
    """ALTER SCHEMA ... RENAME locks no table: the schema's owner, which may also create schemas,
    swaps the names of its schema and of another one of its own between the write's lock and guard
    and the write itself, which names the table again and would land in the owner's table, whose
    trigger then runs as the migrator (found in the second review of session 9: 4 runs of 15).
    Every write is pinned to the relation the start-up verdict trusted."""

    def test_a_write_lands_only_in_the_table_the_run_checked(self):
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.assertExit(self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn), 0)
        self.query("CREATE SCHEMA s2 AUTHORIZATION %s" % self.att)
        self.query("CREATE TABLE public.pwned (who name)")
        self.query("GRANT INSERT ON public.pwned TO PUBLIC")
        self.query(SwappedBeforeTheRead.HIST.replace("s.schema_migrations", "s2.schema_migrations"))
        self.query("INSERT INTO s2.schema_migrations (version, name, checksum, status) "
                   "VALUES (1, '1_a.sql', 'x', 'applied')")
        self.query("CREATE FUNCTION s2.steal() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN INSERT INTO public.pwned SELECT current_user; RETURN NEW; END $$")
        self.query("CREATE TRIGGER t BEFORE UPDATE ON s2.schema_migrations FOR EACH STATEMENT "
                   "EXECUTE FUNCTION s2.steal()")
        for obj in ("FUNCTION s2.steal()", "TABLE s2.schema_migrations"):
            self.query("ALTER %s OWNER TO %s" % (obj, self.att))
        self.query("GRANT USAGE ON SCHEMA s2 TO PUBLIC")
        self.query("GRANT ALL ON s2.schema_migrations TO PUBLIC")
        self.write(self.d, "1_a.sql", "CREATE TABLE IF NOT EXISTS s.a (id int); -- changed\n")
        # repair's checksum update travels with its lock and guard: the swap comes before all three
        r = self.run_held(self.swap_schemas, b"SET checksum = $2", "repair")
        self.assertEqual(self.scalar("SELECT count(*) FROM public.pwned"), 0, r.describe())
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"refusing to write the history table s\.schema_migrations")


class TriggerAddedAfterTheGuard(SchemaOfAnotherOwner):
    """The guard of a write reads the catalogs under the table's lock; a trigger created after the
    guard and before the write would still fire in the write, as the migrator.  The lock was ACCESS
    SHARE, which CREATE TRIGGER (SHARE ROW EXCLUSIVE) does not wait for, and repair sent its guard
    and its write in two round trips: a TRIGGER grant made in that instant (by an administrator, or
    a migration's GRANT ALL ON ALL TABLES) let its grantee arm the table between the two (session
    10; the trigger ran as the migrator and repair exited 0).  The lock is the write's own ROW
    EXCLUSIVE now, and the lock, the guard and the write go in one round trip: a grant and a
    trigger made right before them are seen by the guard."""

    def test_a_trigger_made_right_before_the_write_is_refused(self):
        self.assertExit(self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn), 0)
        self.query("CREATE TABLE public.pwned (who name)")
        self.query("GRANT INSERT ON public.pwned TO PUBLIC")
        self.query("CREATE FUNCTION s.steal() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN INSERT INTO public.pwned SELECT current_user; RETURN NEW; END $$")
        self.query("ALTER FUNCTION s.steal() OWNER TO %s" % self.att)
        before = self.scalar("SELECT checksum FROM s.schema_migrations WHERE version = 1")
        self.write(self.d, "1_a.sql", "CREATE TABLE IF NOT EXISTS s.a (id int); -- changed\n")

        def grant_and_arm():
            with self.connect() as c, c.cursor() as cur:
                cur.execute("GRANT TRIGGER ON s.schema_migrations TO %s" % self.att)
                cur.execute("SET ROLE %s" % self.att)
                cur.execute("CREATE TRIGGER t BEFORE UPDATE ON s.schema_migrations FOR EACH STATEMENT "
                            "EXECUTE FUNCTION s.steal()")

        # the checksum update travels with its lock and guard
        r = self.run_held(grant_and_arm, b"SET checksum = $2", "repair")
        self.assertEqual(self.scalar("SELECT count(*) FROM public.pwned"), 0, r.describe())
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"refusing to write the history table s\.schema_migrations")
        self.assertEqual(self.scalar("SELECT checksum FROM s.schema_migrations WHERE version = 1"), before)


class SwappedForAnArmedTableOfTheOwner(SchemaOfAnotherOwner):
    """The schema's owner swaps schema names (ALTER SCHEMA ... RENAME locks no table) so that the
    history table's name stands for a table of its own whose rules do the write's work: DO INSTEAD
    NOTHING made repair report a checksum recorded and a row removed while nothing changed, and a
    rule action with its IMMUTABLE function ran as the migrator when the write was planned (helper
    review of session 10, through the guard's first look, which read the trusted table's flags but
    no longer what its name stood for).  The guard checks the name again, in the write's round
    trip, and a repair write must change the one row the run read."""

    def prepare(self, ahead, *rules):
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.assertExit(self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn), 0)
        if ahead:  # a row for repair --forget-ahead to remove
            self.query("INSERT INTO s.schema_migrations (version, name, checksum, status) "
                       "VALUES (9, '9_ahead.sql', 'x', 'applied')")
        self.query("CREATE SCHEMA s2 AUTHORIZATION %s" % self.att)
        self.query("CREATE SEQUENCE public.hits")
        self.query("CREATE FUNCTION s2.folded(int) RETURNS int LANGUAGE plpgsql IMMUTABLE "
                   "AS $$ BEGIN PERFORM pg_catalog.nextval('public.hits'); RETURN $1; END $$")
        self.query("CREATE TABLE s2.sink (v int)")
        self.query(self.HIST.replace("s.schema_migrations", "s2.schema_migrations"))
        for rule in rules:
            self.query(rule)
        self.query("SELECT pg_catalog.setval('public.hits', 1, false)")
        for obj in ("SEQUENCE public.hits", "FUNCTION s2.folded(int)", "TABLE s2.sink",
                    "TABLE s2.schema_migrations"):
            self.query("ALTER %s OWNER TO %s" % (obj, self.att))
        self.query("GRANT USAGE ON SCHEMA s2 TO PUBLIC")
        self.query("GRANT CREATE ON SCHEMA s2 TO %s" % self.mig)  # as on s: the migration's own objects
        self.query("GRANT ALL ON s2.schema_migrations, s2.sink, public.hits TO PUBLIC")
        self.before = self.query("SELECT version, checksum FROM s.schema_migrations ORDER BY 1")

    def run_swapped(self, needle, *args):
        r = self.run_held(self.swap_schemas, needle, *args)
        self.swap_schemas()  # back: the run's table under its own name
        return r

    def assertNothingRanNorChanged(self, r):
        self.assertEqual(self.scalar("SELECT is_called FROM public.hits"), False, r.describe())
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"refusing to write the history table s\.schema_migrations")
        self.assertEqual(self.query("SELECT version, checksum FROM s.schema_migrations ORDER BY 1"), self.before)

    def test_repair_over_rules_that_do_nothing_is_no_success(self):
        self.prepare(True, "CREATE RULE n1 AS ON UPDATE TO s2.schema_migrations DO INSTEAD NOTHING",
                     "CREATE RULE n2 AS ON DELETE TO s2.schema_migrations DO INSTEAD NOTHING")
        self.write(self.d, "1_a.sql", "CREATE TABLE IF NOT EXISTS s.a (id int); -- changed\n")
        self.assertNothingRanNorChanged(self.run_swapped(b"SET checksum = $2", "repair", "--forget-ahead"))

    def test_a_rule_of_the_owner_never_runs_in_up(self):
        self.prepare(False, "CREATE RULE r AS ON UPDATE TO s2.schema_migrations DO INSTEAD UPDATE s2.sink "
                     "SET v = s2.folded(1) RETURNING NULL::bigint, NULL::text, NULL::text, NULL::text, "
                     "NULL::timestamptz, NULL::bigint, NULL::text, NULL::text, NULL::text")
        self.write(self.d, "2_b.sql", "CREATE TABLE s.b (id int);\n")
        r = self.run_swapped(b"WITH u AS (UPDATE", "up")
        self.assertNothingRanNorChanged(r)
        self.assertFalse(self.table_exists("b", schema="s"), r.describe())


class SwappedWithAFoldedDefault(SchemaOfAnotherOwner):
    """A write planned over the schema owner's table folds that table's IMMUTABLE column defaults
    into the INSERT's target list before the write's pin fails it: baseline and a no-transaction
    migration's record sent the lock, the guard and the write in round trips of their own, and a
    swap before the write ran the owner's function as the migrator (second helper review of
    session 10; a sequence only the migrator may use was advanced).  Every history write now
    travels with its lock and guard."""

    def arm(self):
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.query("CREATE SCHEMA s2 AUTHORIZATION %s" % self.att)
        self.query("CREATE SEQUENCE public.mig_only")  # nextval is never rolled back
        self.query("ALTER SEQUENCE public.mig_only OWNER TO %s" % self.mig)
        self.query("CREATE FUNCTION s2.folded(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS "
                   "$$ BEGIN PERFORM pg_catalog.nextval('public.mig_only'); RETURN $1; END $$")
        self.query(self.HIST.replace("s.schema_migrations", "s2.schema_migrations")
                   .replace("baseline text)", "baseline text, evil int DEFAULT s2.folded(1))"))
        for obj in ("FUNCTION s2.folded(int)", "TABLE s2.schema_migrations"):
            self.query("ALTER %s OWNER TO %s" % (obj, self.att))
        self.query("GRANT USAGE ON SCHEMA s2 TO PUBLIC")
        self.query("GRANT ALL ON s2.schema_migrations TO PUBLIC")

    def assertNothingOfTheOwnerRan(self, r):
        self.assertFalse(self.scalar("SELECT is_called FROM public.mig_only"), r.describe())
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"refusing to write the history table s\.schema_migrations")

    def test_baseline(self):
        self.arm()
        r = self.run_held(self.swap_schemas, b"WITH u AS (UPDATE", "baseline", "--baseline-version", "1",
                          "--no-verify")
        self.assertNothingOfTheOwnerRan(r)

    def test_the_record_of_a_no_transaction_migration(self):
        self.assertExit(self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn), 0)
        self.write(self.d, "2_idx.sql", "-- migrator:no-transaction\n-- migrator:allow create-index\n"
                                        "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_id_idx ON s.a (id);\n")
        self.arm()
        r = self.run_held(self.swap_schemas, b"WITH u AS (UPDATE", "up")
        self.assertNothingOfTheOwnerRan(r)


class SchemaCreatedBeforeTheRun(SchemaOfAnotherOwner):
    """--create-schema found the schema missing, then ran CREATE SCHEMA IF NOT EXISTS: a role with
    CREATE on the database that made the schema in between had the run say "created schema" over
    it and put the history table and the migrations in a schema whose owner may drop or rename
    whatever is in it (second helper review of session 10).  The create has no IF NOT EXISTS now:
    the run stops, and a run after it sees the schema as it is."""

    def test_a_schema_made_by_another_role_meanwhile_is_not_taken_for_the_run_s(self):
        self.query("GRANT CREATE ON DATABASE %s TO %s, %s" % (self.ident(self.dbname), self.att, self.mig))
        self.write(self.d, "1_a.sql", "CREATE TABLE IF NOT EXISTS app.a (id int);\n")

        def att_creates_it():
            with self.connect() as c, c.cursor() as cur:
                cur.execute("SET ROLE %s" % self.att)
                cur.execute("CREATE SCHEMA app")
                cur.execute("GRANT USAGE, CREATE ON SCHEMA app TO PUBLIC")

        proxy = HoldBeforeTheRead(self.tcp_host, self.port, att_creates_it, needles=(b"CREATE SCHEMA",))
        self.addCleanup(proxy.close)
        dsn = conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.mig, sslmode="disable")
        r = self.run_migrator("up", "--dir", self.d, "--schema", "app", "--create-schema", dsn=dsn)
        self.assertTrue(proxy.fired.is_set(), r.describe())
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'creating the schema "app": .*another session created it since it was found '
                                    r'missing')
        self.assertNoLine(r, r"created schema")
        self.assertFalse(self.table_exists("schema_migrations", schema="app"), r.describe())
        self.assertFalse(self.table_exists("a", schema="app"), r.describe())


class SwappedToolTableBeforeTheBaseline(SchemaOfAnotherOwner):
    """baseline --from flyway read the other tool's versions with a planned SELECT after its lock
    and verdict: a schema rename right before it read a view of the schema's owner, whose function
    ran as the migrator and whose forged versions were recorded as applied, exit 0 (third helper
    review of session 10).  That table is read as the history is: a COPY, then the check."""

    def test_a_view_put_under_the_tool_table_s_name_is_never_read(self):
        self.d = self.make_dir({"1_a.sql": "SELECT 1;\n", "2_b.sql": "CREATE TABLE s.b (id int);\n",
                                "3_c.sql": "CREATE TABLE s.c (id int);\n"})
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.query("CREATE TABLE s.flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), "
                   "description varchar(200), success boolean NOT NULL)")
        self.query("INSERT INTO s.flyway_schema_history VALUES (1, '1', 'a', true)")
        self.query("ALTER TABLE s.flyway_schema_history OWNER TO %s" % self.mig)
        self.query("CREATE TABLE public.pwned (who name)")
        self.query("ALTER TABLE public.pwned OWNER TO %s" % self.mig)  # only the migrator may write it
        self.query("CREATE SCHEMA s2 AUTHORIZATION %s" % self.att)
        self.query("CREATE FUNCTION s2.note() RETURNS boolean LANGUAGE plpgsql VOLATILE AS "
                   "$$ BEGIN INSERT INTO public.pwned SELECT current_user; RETURN true; END $$")
        self.query("CREATE VIEW s2.flyway_schema_history AS SELECT * FROM (VALUES (1, '1'::varchar, 'a'::varchar, "
                   "true), (2, '2', 'b', true), (3, '3', 'c', true)) v (installed_rank, version, description, success) "
                   "WHERE s2.note()")
        for obj in ("FUNCTION s2.note()", "VIEW s2.flyway_schema_history"):
            self.query("ALTER %s OWNER TO %s" % (obj, self.att))
        self.query("GRANT USAGE, CREATE ON SCHEMA s2 TO PUBLIC")
        self.query("GRANT SELECT ON s2.flyway_schema_history TO PUBLIC")
        proxy = HoldBeforeTheRead(self.tcp_host, self.port, self.swap_schemas,
                                  needles=(b'COPY "s"."flyway_schema_history"', b"SELECT version FROM"))
        self.addCleanup(proxy.close)
        dsn = conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.mig, sslmode="disable")
        r = self.run_migrator("baseline", "--from", "flyway", "--no-verify", "--dir", self.d, "--schema", "s",
                              dsn=dsn)
        self.assertTrue(proxy.fired.is_set(), r.describe())
        self.assertEqual(self.query("SELECT who FROM public.pwned"), [], r.describe())
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"cannot copy from view")
        self.assertNoLine(r, r"baselined")
        self.swap_schemas()  # back
        self.assertFalse(self.table_exists("schema_migrations", schema="s"), r.describe())


class RenamableSchema(SchemaOfAnotherOwner):
    """A writer is told when its history table's schema can be renamed by another role (its owner,
    not a superuser, with CREATE on the database) and it may not write through a temporary view
    bound by OID (no TEMPORARY privilege): writes by name cannot exclude a rename that lands inside
    one statement (third helper review of session 10 measured it: 1 to 3 times in 800 to 1,300
    runs of a tight rename loop).  With TEMPORARY the writes go through the view: no warning."""

    WARNING = (r'^migrator: warning: schema "s" can be renamed by att_\w+ \(its owner or a member, with '
               r'CREATE on the database\), and this role may not create temporary views here')

    def test_a_writer_without_temp_is_warned_a_reader_is_not(self):
        r = self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"can be renamed")  # att may not rename s: no CREATE on the database
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.write(self.d, "2_b.sql", "CREATE TABLE s.b (id int);\n")
        r = self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"can be renamed")  # it writes through its view, by OID
        self.assertEqual(self.versions("applied", schema="s"), [1, 2])
        self.query("REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC" % self.ident(self.dbname))
        self.write(self.d, "3_c.sql", "CREATE TABLE s.c (id int);\n")
        r = self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, self.WARNING)
        self.assertEqual(self.versions("applied", schema="s"), [1, 2, 3])
        r = self.run_migrator("check", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"can be renamed")


class WritesByOid(SchemaOfAnotherOwner):
    """Every history write goes through a temporary view of the table the run trusted, bound by
    OID, so that no rename of schemas can move it: the INSERT's target and its name pin were
    resolved at two moments of one parse analysis, and a rename in between ran the owner's column
    default as the migrator (third helper review of session 10: 1 to 3 times in about a thousand
    runs of a tight rename loop).  The view is made by name: the guard checks in pg_depend that it
    reads the trusted table and nothing else."""

    WRITE_BY_NAME = re.compile(r'(INSERT INTO|UPDATE|DELETE FROM|LOCK TABLE) "s"\."schema_migrations"')
    WRITE_BY_VIEW = re.compile(r'(INSERT INTO|UPDATE|DELETE FROM|LOCK TABLE) pg_temp\."toolkit migrator history"')

    def logged(self, *runs):
        """The statement lines the server logged for runs (each (args, exit code)) as mig."""
        self.query("ALTER DATABASE %s SET log_statement = 'all'" % self.ident(self.dbname))
        marker = "writes-marker-" + uuid.uuid4().hex
        with self.connect() as c, c.cursor() as cur:  # a new session: the setting applies
            cur.execute("SELECT %s", (marker,))
        for args, code in runs:
            r = self.run_migrator(*args, "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
            self.assertExit(r, code)
        with open(self.cluster["logfile"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        self.assertGreaterEqual(text.rfind(marker), 0, "the marker statement is not in the server log")
        return [l for l in text[text.rfind(marker):].splitlines() if "statement:" in l or "execute" in l]

    def test_every_history_write_goes_through_the_view(self):
        self.write(self.d, "2_b.sql", "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS s.b (id int);\n")
        # a no-transaction file that fails is recorded as failed
        self.write(self.d, "3_c.sql", "-- migrator:no-transaction\nCREATE TABLE s.a (id int);\n")
        lines = self.logged((("up",), 1))
        self.write(self.d, "1_a.sql", "CREATE TABLE IF NOT EXISTS s.a (id int); -- changed\n")
        os.remove(os.path.join(self.d, "3_c.sql"))
        lines += self.logged((("repair",), 0))
        text = "\n".join(lines)
        self.assertEqual([l for l in lines if self.WRITE_BY_NAME.search(l)], [], text)
        by_view = [l for l in lines if self.WRITE_BY_VIEW.search(l)]
        # the applied rows of 1 (pipelined) and 2 (no transaction), the failed row of 3, the
        # new checksum of 1: each behind a LOCK TABLE of the view
        self.assertGreaterEqual(len([l for l in by_view if "LOCK TABLE" in l]), 4, text)
        self.assertGreaterEqual(len([l for l in by_view if "LOCK TABLE" not in l]), 4, text)
        self.assertEqual(self.query("SELECT version, status FROM s.schema_migrations ORDER BY 1"),
                         [(1, "applied"), (2, "applied"), (3, "failed")])
        self.assertEqual(self.scalar("SELECT checksum FROM s.schema_migrations WHERE version = 1"),
                         hashlib.sha256(b"CREATE TABLE IF NOT EXISTS s.a (id int); -- changed\n").hexdigest())

    def test_baselines_rows_go_through_the_view(self):
        self.write(self.d, "2_b.sql", "CREATE TABLE s.b (id int);\n")
        lines = self.logged((("baseline", "--baseline-version", "2", "--no-verify"), 0))
        text = "\n".join(lines)
        self.assertEqual([l for l in lines if self.WRITE_BY_NAME.search(l)], [], text)
        # versions 1 and 2: each a lock, its row and the row's baseline note
        self.assertEqual(len([l for l in lines if self.WRITE_BY_VIEW.search(l) and "LOCK TABLE" in l]), 2, text)
        self.assertEqual(len([l for l in lines if self.WRITE_BY_VIEW.search(l) and "LOCK" not in l]), 4, text)
        self.assertEqual(self.versions("applied", schema="s"), [1, 2])

    def view_count(self, lines):
        return len([l for l in lines if "CREATE OR REPLACE TEMPORARY VIEW" in l])

    def test_the_view_is_made_once_per_session_reset(self):
        # made before the first write, and again only after a DISCARD ALL drops it: a baseline of
        # 30 versions in one transaction made it 30 times (its pg_depend rows piled up, and the
        # guard walked them: 4,000 versions took 64 s, 28 s before; adversarial review)
        for i in range(2, 31):
            self.write(self.d, "%d_m.sql" % i, "CREATE TABLE s.t%d (id int);\n" % i)
        lines = self.logged((("baseline", "--baseline-version", "30", "--no-verify"), 0))
        self.assertEqual(self.versions("applied", schema="s"), list(range(1, 31)))
        self.assertEqual(self.view_count(lines), 1, "\n".join(lines))
        # quiet migrations share one session: one view; a migration that may change its session
        # (here CREATE FUNCTION) is followed by DISCARD ALL, which drops it: made again once
        for i in range(31, 41):
            self.write(self.d, "%d_m.sql" % i, "CREATE TABLE s.t%d (id int);\n" % i)
        self.write(self.d, "41_f.sql", "CREATE FUNCTION s.f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n")
        self.write(self.d, "42_m.sql", "CREATE TABLE s.t42 (id int);\n")
        lines = self.logged((("up",), 0))
        self.assertEqual(self.versions("applied", schema="s"), list(range(1, 43)))
        self.assertEqual(self.view_count(lines), 2, "\n".join(lines))

    def test_an_event_trigger_that_refuses_views_leaves_the_writes_to_the_name(self):
        # a superuser's event trigger may refuse CREATE VIEW: the migration is not blamed for the
        # toolkit's own view; the writes name the table, as without TEMPORARY, and say so
        self.query("""CREATE FUNCTION public.no_views() RETURNS event_trigger LANGUAGE plpgsql AS $$
                      BEGIN IF tg_tag = 'CREATE VIEW' THEN
                        RAISE EXCEPTION 'views are reviewed by the DBA'; END IF; END $$""")
        self.query("CREATE EVENT TRIGGER no_views ON ddl_command_start EXECUTE FUNCTION public.no_views()")
        self.addCleanup(self.query, "DROP EVENT TRIGGER IF EXISTS no_views")
        r = self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'warning: could not make the temporary view pg_temp\."toolkit migrator '
                                    r'history" that the history writes go through \(P0001: views are reviewed '
                                    r'by the DBA\): they name the table s\.schema_migrations instead')
        self.assertNoLine(r, r"failed at")
        self.assertEqual(self.versions("applied", schema="s"), [1], r.describe())

    def test_temporary_revoked_before_the_first_view_leaves_the_writes_to_the_name(self):
        def revoke():
            self.query("REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC" % self.ident(self.dbname))

        r = self.run_held(revoke, b"CREATE OR REPLACE TEMPORARY VIEW", "up")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"could not make the temporary view .*42501: permission denied to create "
                                    r"temporary tables")
        self.assertNoLine(r, r"failed at")
        self.assertEqual(self.versions("applied", schema="s"), [1], r.describe())

    def up_while_the_schema_is_renamed_away(self):
        """up, while the schema's owner renames s away right when the view is made; then s back."""
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))

        def rename_away():
            with self.connect() as c, c.cursor() as cur:
                cur.execute("SET ROLE %s" % self.att)
                cur.execute("ALTER SCHEMA s RENAME TO s_away")

        r = self.run_held(rename_away, b"CREATE OR REPLACE TEMPORARY VIEW", "up")
        self.query("ALTER SCHEMA s_away RENAME TO s")
        return r

    def test_a_schema_renamed_away_while_the_view_is_made_is_no_way_back_to_names(self):
        # the schema's owner renames it away right when the view is made: CREATE VIEW fails on a
        # name that resolves to nothing, and falling back to writes by name (as for a refusal of
        # views) would hand the owner back the race the view closes
        r = self.up_while_the_schema_is_renamed_away()
        self.assertExit(r, 1)
        self.assertNoLine(r, r"they name the table")
        self.assertNoLine(r, r"nothing to apply|applied 1 migration")
        # the file never ran: the line says so and blames neither it nor its first line
        self.assertStderrMatches(r, r"migration 1 \(\S*1_a\.sql\) was not started: the session could not be "
                                    r"made ready for it: 42P01: .*none of it ran and nothing is recorded: "
                                    r"the file is not at fault")
        self.assertNoLine(r, r"failed at \S*1_a\.sql:1")
        self.assertEqual(self.versions("applied", schema="s"), [], r.describe())
        self.assertFalse(self.table_exists("a", schema="s"), r.describe())

    def test_a_no_transaction_file_whose_view_failed_is_neither_run_nor_recorded_as_failed(self):
        # the same moment in front of a no-transaction file: it was recorded as failed at its
        # line 1 and logged as stopped with "the statements before it stay applied"
        self.write(self.d, "1_a.sql", "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS s.a (id int);\n")
        r = self.up_while_the_schema_is_renamed_away()
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"migration 1 \(\S*1_a\.sql\) was not started: .*the file is not at fault")
        self.assertNoLine(r, r"stopped at|recorded as failed|failed at")
        self.assertEqual(self.scalar("SELECT count(*) FROM s.schema_migrations"), 0, r.describe())
        self.assertFalse(self.table_exists("a", schema="s"), r.describe())

    def test_a_view_bound_to_another_table_is_refused_before_the_write(self):
        # the session's own code (here a migration's) points the view at another table: the
        # guard reads the view's dependencies under the write lock and refuses
        self.query(self.HIST.replace("s.schema_migrations", "public.decoy"))
        self.query("GRANT ALL ON public.decoy TO %s" % self.mig)
        self.write(self.d, "2_b.sql", 'CREATE OR REPLACE TEMPORARY VIEW pg_temp."toolkit migrator history" '
                                      "AS SELECT * FROM public.decoy;\n")
        r = self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"refusing to write the history table s\.schema_migrations: it is not the "
                                    r"table the run checked at start-up")
        self.assertEqual(self.scalar("SELECT count(*) FROM public.decoy"), 0, r.describe())
        self.assertEqual(self.versions("applied", schema="s"), [1], r.describe())


class NoTransactionRecordFailureIsNotClaimed(SchemaOfAnotherOwner):
    """A no-transaction file whose history row cannot be written (the guard refused it: schemas
    swapped right before the write) logged 'could not record migration 1 as failed', then 'it is
    recorded as failed and the next run starts it again' (adversarial review of session 11)."""

    def test_the_run_does_not_claim_a_failure_row_it_could_not_write(self):
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.query("SET ROLE %s" % self.att)
        self.query("CREATE SCHEMA s2")
        self.query("GRANT USAGE, CREATE ON SCHEMA s2 TO PUBLIC")
        self.query(self.HIST.replace("s.schema_migrations", "s2.schema_migrations"))
        self.query("GRANT ALL ON s2.schema_migrations TO PUBLIC")
        self.query("RESET ROLE")
        self.write(self.d, "1_a.sql", "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS s.a (id int);\n")
        r = self.run_held(self.swap_schemas, b'LOCK TABLE pg_temp."toolkit migrator history"', "up")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"could not record migration 1 as failed")
        self.assertNoLine(r, r"it is recorded as failed")
        self.assertStderrMatches(r, r"it could not be recorded as failed \(see above\)")
        self.assertEqual(self.query("SELECT count(*) FROM s2.schema_migrations"), [(0,)])


class SchemaRenamedBeforeTheCopy(SchemaOfAnotherOwner):
    """The history is read by a COPY, which names the table again after the verdict under the
    read's lock: the schema's owner swaps schema names in between, and the copy read its own
    table, whose forged row said the pending migration 2 was applied with its right checksum: up
    exited 0, "nothing to apply" (helper review of session 10).  The copy is followed by a check,
    in its round trip, that the name stands for the relation judged; and, since the owner can
    stall the copy on its own table (a value stored out of line whose TOAST index it holds locked)
    and rename back meanwhile (second helper review), that the schema's row is the version the
    verdict saw."""

    def forge(self, stored_out_of_line=False):
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.assertExit(self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn), 0)
        b = "CREATE TABLE s.b (id int);\n"
        self.write(self.d, "2_b.sql", b)
        self.query("CREATE SCHEMA s2 AUTHORIZATION %s" % self.att)
        self.query(self.HIST.replace("s.schema_migrations", "s2.schema_migrations"))
        self.query("ALTER TABLE s2.schema_migrations ALTER COLUMN failure SET STORAGE EXTERNAL")
        self.query("INSERT INTO s2.schema_migrations SELECT * FROM s.schema_migrations")
        self.query("INSERT INTO s2.schema_migrations (version, name, checksum, status, duration_ms, applied_by, failure) "
                   "VALUES (2, 'b', %s, 'applied', 1, 'forged', %s)",
                   (hashlib.sha256(b.encode()).hexdigest(), "x" * 12000 if stored_out_of_line else None))
        self.query("ALTER TABLE s2.schema_migrations OWNER TO %s" % self.att)
        self.query("GRANT USAGE ON SCHEMA s2 TO PUBLIC")
        self.query("GRANT SELECT ON s2.schema_migrations TO PUBLIC")

    def assertRefusedNotApplied(self, r):
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'refusing to use table "s\.schema_migrations": its name stood for another '
                                    r'table while it was read')
        self.assertNoLine(r, r"nothing to apply")
        self.assertEqual(self.versions("applied", schema="s"), [1], r.describe())
        self.assertFalse(self.table_exists("b", schema="s"), r.describe())

    def test_a_forged_history_is_never_taken_for_the_run_s(self):
        self.forge()
        r = self.run_held(self.swap_schemas, b" TO STDOUT", "up")
        self.swap_schemas()  # back: the run's table under its own name
        self.assertRefusedNotApplied(r)

    def test_a_rename_back_while_the_copy_waits_is_seen(self):
        self.forge(stored_out_of_line=True)
        toast = self.scalar("SELECT reltoastrelid::regclass::text FROM pg_class "
                            "WHERE oid = 's2.schema_migrations'::regclass")
        holder = self.connect()  # att's REINDEX holds its TOAST index: the copy stalls on the forged row
        holder.autocommit = False
        self.addCleanup(holder.close)
        with holder.cursor() as cur:
            cur.execute("SET ROLE %s" % self.att)
            cur.execute("REINDEX TABLE s2.schema_migrations")

        def back_once_the_copy_waits():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self.scalar(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE NOT l.granted "
                    "AND l.relation = %s::regclass AND a.usename = %s", (toast + "_index", self.mig)):
                time.sleep(0.05)
            self.swap_schemas()  # the names back, then the copy goes on
            holder.commit()

        later = threading.Thread(target=back_once_the_copy_waits)

        def swap_then_wait():
            self.swap_schemas()
            later.start()

        r = self.run_held(swap_then_wait, b" TO STDOUT", "up")
        later.join()
        self.assertRefusedNotApplied(r)


class SwappedBeforeTheRead(SchemaOfAnotherOwner):
    """The schema's owner swaps the history table for a view of its own after the start-up checks
    read the catalogs and before the history is read: the read resolves the name again once it
    has its lock, and the view's function would run with the run's privileges (found by an
    adversarial review of session 8; the checks and the read were two transactions).  The read
    now locks the table first and checks it again under that lock, in one transaction."""

    VIEW = ("CREATE VIEW s.schema_migrations AS SELECT s.evil() AS version, 'x'::text AS name, "
            "'c'::text AS checksum, 'applied'::text AS status, now() AS applied_at, 0::bigint AS duration_ms, "
            "''::text AS applied_by, NULL::text AS failure, NULL::text AS baseline")

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE public.pwned (who name)")
        self.query("GRANT INSERT ON public.pwned TO PUBLIC")
        self.query("CREATE FUNCTION s.evil() RETURNS bigint LANGUAGE sql "
                   "AS $$ INSERT INTO public.pwned SELECT current_user RETURNING 1::bigint $$")
        self.query("ALTER FUNCTION s.evil() OWNER TO %s" % self.att)

    def att_holds(self, *statements):
        """A connection of the schema's owner with statements run in a transaction left open."""
        holder = self.connect()
        holder.autocommit = False
        self.addCleanup(holder.close)
        with holder.cursor() as cur:
            cur.execute("SET ROLE %s" % self.att)
            for sql in statements:
                cur.execute(sql)
        return holder

    def swap_while_waiting(self, holder, command, *args):
        """Start command as mig while holder (att, in a transaction) holds the table; once the
        migrator waits for the table, put the view in its place and commit."""
        proc = self.start_migrator(command, "--dir", self.d, "--schema", "s", "--lock-timeout", "60s", *args,
                                   dsn=self.mig_dsn)
        deadline = time.monotonic() + 60
        while not self.scalar("SELECT count(*) FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a "
                              "USING (pid) WHERE NOT l.granted AND a.usename = %s", (self.mig,)):
            if time.monotonic() > deadline or proc.poll() is not None:
                holder.rollback()
                self.fail("the migrator never waited for the history table: %s" % self.finish(proc).describe())
            time.sleep(0.05)
        with holder.cursor() as cur:
            cur.execute(self.VIEW)
            cur.execute("GRANT SELECT ON s.schema_migrations TO %s" % self.mig)
        holder.commit()
        return self.finish(proc)

    def assertNotRun(self, r):
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, ERROR_PREFIX + r'refusing to use table "s\.schema_migrations": '
                                      r'it is not a plain table \(a view\)')
        self.assertEqual(self.scalar("SELECT count(*) FROM public.pwned"), 0, r.describe())

    def test_a_reader_never_reads_a_view_swapped_in_before_its_read(self):
        # check trusts a table of the schema's owner; the owner renames it away under a lock
        self.query(self.HIST)
        self.query("ALTER TABLE s.schema_migrations OWNER TO %s" % self.att)
        self.query("GRANT SELECT ON s.schema_migrations TO %s" % self.mig)
        holder = self.att_holds("LOCK TABLE s.schema_migrations IN ACCESS EXCLUSIVE MODE",
                                "ALTER TABLE s.schema_migrations RENAME TO old_history")
        self.assertNotRun(self.swap_while_waiting(holder, "check"))

    def test_a_writer_never_reads_a_view_swapped_in_before_its_read(self):
        # up's own table; the schema's owner may drop any table in its schema
        r = self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 0)
        holder = self.att_holds("DROP TABLE s.schema_migrations")
        self.assertNotRun(self.swap_while_waiting(holder, "up"))

    def test_a_view_whose_function_planning_would_run_is_never_planned(self):
        # a function declared IMMUTABLE in the view's WHERE runs when a query over the view is
        # planned (constant folding), even under WHERE false: the read's lock is taken by a Parse
        self.query("CREATE SEQUENCE s.hits")
        self.query("ALTER SEQUENCE s.hits OWNER TO %s" % self.att)
        self.query("GRANT ALL ON SEQUENCE s.hits TO PUBLIC")
        self.query("CREATE FUNCTION s.folded() RETURNS boolean LANGUAGE plpgsql IMMUTABLE "
                   "AS $$ BEGIN PERFORM pg_catalog.nextval('s.hits'); RETURN true; END $$")
        self.query("ALTER FUNCTION s.folded() OWNER TO %s" % self.att)
        self.query(self.HIST)
        self.query("ALTER TABLE s.schema_migrations OWNER TO %s" % self.att)
        self.query("GRANT SELECT ON s.schema_migrations TO %s" % self.mig)
        holder = self.att_holds("LOCK TABLE s.schema_migrations IN ACCESS EXCLUSIVE MODE",
                                "ALTER TABLE s.schema_migrations RENAME TO old_history")
        self.VIEW = ("CREATE VIEW s.schema_migrations AS SELECT * FROM s.old_history WHERE s.folded()")
        r = self.swap_while_waiting(holder, "check")
        self.assertEqual(self.scalar("SELECT is_called FROM s.hits"), False, r.describe())
        self.assertNotRun(r)

    def test_a_reader_with_column_privileges_only_still_reads(self):
        # the read's lock is taken by a query, not LOCK TABLE, which wants the table's SELECT
        self.query(self.HIST)
        self.query("ALTER TABLE s.schema_migrations OWNER TO %s" % self.att)
        self.query("GRANT SELECT (version, name, checksum, status, failure) ON s.schema_migrations TO %s"
                   % self.mig)
        self.query("INSERT INTO s.schema_migrations (version, name, checksum, status) "
                   "VALUES (1, 'a', 'x', 'applied')")
        r = self.run_migrator("check", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 6)  # read, and the made-up checksum is drift: exit 6, not a refusal
        self.assertStderrMatches(r, r"1_a\.sql")

    def test_a_table_swapped_in_with_a_type_of_its_own_is_never_read(self):
        # the start-up shape check saw the toolkit's columns; the table swapped in while the read
        # waits has applied_at of the owner's enum with an implicit cast to timestamptz, which
        # status's applied_at AT TIME ZONE would call (found in the review of session 9)
        self.query("CREATE TYPE s.ts AS ENUM ('2024-01-01 00:00:00+00')")
        self.query("CREATE FUNCTION s.ts2tz(s.ts) RETURNS timestamptz LANGUAGE plpgsql AS "
                   "$$ BEGIN INSERT INTO public.pwned SELECT current_user; RETURN $1::text::timestamptz; END $$")
        self.query("CREATE CAST (s.ts AS timestamptz) WITH FUNCTION s.ts2tz(s.ts) AS IMPLICIT")
        self.addCleanup(self.query, "DROP CAST IF EXISTS (s.ts AS timestamptz)")
        for obj in ("TYPE s.ts", "FUNCTION s.ts2tz(s.ts)"):
            self.query("ALTER %s OWNER TO %s" % (obj, self.att))
        self.query(self.HIST)
        self.query("ALTER TABLE s.schema_migrations OWNER TO %s" % self.att)
        self.query("GRANT SELECT ON s.schema_migrations TO %s" % self.mig)
        holder = self.att_holds("LOCK TABLE s.schema_migrations IN ACCESS EXCLUSIVE MODE",
                                "DROP TABLE s.schema_migrations")
        self.VIEW = self.HIST.replace("applied_at timestamptz NOT NULL DEFAULT now()", "applied_at s.ts NOT NULL") + "; " + \
            ("INSERT INTO s.schema_migrations (version, name, checksum, status, applied_at) "
             "VALUES (1, '1_a.sql', 'x', 'applied', '2024-01-01 00:00:00+00')")
        r = self.swap_while_waiting(holder, "status")
        self.assertEqual(self.scalar("SELECT count(*) FROM public.pwned"), 0, r.describe())
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, ERROR_PREFIX + r'refusing to use table "s\.schema_migrations": its columns have '
                                      r'types that are not PostgreSQL.s own \(applied_at s\.ts\)')

    def test_baseline_never_reads_a_view_swapped_in_for_the_other_tools_table(self):
        # baseline --from imports the rows of another tool's table: read the same way
        with self.connect() as c, c.cursor() as cur:
            cur.execute("SET ROLE %s" % self.mig)
            cur.execute("CREATE TABLE s.schema_migrations (version varchar(128) PRIMARY KEY)")
            cur.execute("INSERT INTO s.schema_migrations VALUES ('1')")
        holder = self.att_holds("DROP TABLE s.schema_migrations")
        self.VIEW = "CREATE VIEW s.schema_migrations AS SELECT s.evil()::text AS version"
        self.assertNotRun(self.swap_while_waiting(holder, "baseline", "--from", "dbmate"))


class ComputingHistoryTable(SchemaOfAnotherOwner):
    """Planning any read of a table folds the constant calls in its indexes' expressions and
    predicates and in its statistics' expressions: a function the schema's owner declared
    IMMUTABLE ran with the privileges of check, which trusts that owner's table (found in the
    review of session 8).  Such a table is refused before it is read; CHECK constraints, which
    the planner folds only under constraint_exclusion = on, are read with it off."""

    def setUp(self):
        super().setUp()
        self.query("CREATE SEQUENCE s.hits")
        self.query("GRANT ALL ON SEQUENCE s.hits TO PUBLIC")
        self.query("CREATE FUNCTION s.folded(int) RETURNS int LANGUAGE plpgsql IMMUTABLE "
                   "AS $$ BEGIN PERFORM pg_catalog.nextval('s.hits'); RETURN $1; END $$")
        self.query(self.HIST)
        self.query("INSERT INTO s.schema_migrations (version, name, checksum, status) "
                   "VALUES (1, '1_a.sql', 'x', 'applied')")
        for obj in ("SEQUENCE s.hits", "FUNCTION s.folded(int)", "TABLE s.schema_migrations"):
            self.query("ALTER %s OWNER TO %s" % (obj, self.att))
        self.query("GRANT SELECT ON s.schema_migrations TO %s" % self.mig)

    def armed(self, sql):
        """The schema's owner adds sql to its table; what creating it ran is forgotten."""
        with self.connect() as c, c.cursor() as cur:
            cur.execute("SET ROLE %s" % self.att)
            cur.execute(sql)
            cur.execute("ANALYZE s.schema_migrations")
            cur.execute("SELECT pg_catalog.setval('s.hits', 1, false)")

    def assertRefusedUnrun(self, names):
        r = self.run_migrator("check", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertEqual(self.scalar("SELECT is_called FROM s.hits"), False, r.describe())
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, ERROR_PREFIX + r'refusing to use table "s\.schema_migrations": its indexes '
                                      r'or statistics compute expressions or predicates \(%s\), which planning a '
                                      r'read of it evaluates' % names)

    def test_a_partial_index_whose_predicate_would_run_is_refused(self):
        self.armed("CREATE INDEX part ON s.schema_migrations (version) WHERE s.folded(1) = 1")
        self.assertRefusedUnrun("part")

    def test_an_expression_index_is_refused(self):
        self.armed("CREATE INDEX expr ON s.schema_migrations ((version + s.folded(1)))")
        self.assertRefusedUnrun("expr")

    def test_statistics_on_an_expression_are_refused(self):
        self.armed("CREATE STATISTICS s.st ON (version + s.folded(1)) FROM s.schema_migrations")
        self.assertRefusedUnrun("st")

    def test_a_writer_refuses_an_index_that_computes_on_its_own_table(self):
        # the writer owns its table, so no one else can add one; refused all the same: the
        # toolkit's tables carry plain indexes, and the guard of every write says so too
        self.query("DROP TABLE s.schema_migrations")
        r = self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 0)
        with self.connect() as c, c.cursor() as cur:
            cur.execute("SET ROLE %s" % self.mig)
            cur.execute("CREATE INDEX own_expr ON s.schema_migrations ((lower(name)))")
        with open(os.path.join(self.d, "2_b.sql"), "w") as f:
            f.write("CREATE TABLE s.b (id int);\n")
        r = self.up(self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'.*its indexes or statistics compute expressions or predicates \(own_expr\)')
        self.assertFalse(self.table_exists("b", schema="s"), r.describe())

    def test_an_index_created_between_the_verdict_and_the_read_never_runs(self):
        # CREATE INDEX takes SHARE, which the read's ACCESS SHARE lets in: the owner commits a
        # partial index after the verdict under the lock and before the read (held back here by a
        # loopback proxy; in the review of session 9 a loop watching pg_locks won 4 runs of 20).
        # Planning a SELECT would fold its predicate as the reader; the read is a COPY, never planned
        proxy = HoldBeforeTheRead(self.tcp_host, self.port,
                                  lambda: self.armed("CREATE INDEX part ON s.schema_migrations (version) "
                                                     "WHERE s.folded(1) = 1"))
        self.addCleanup(proxy.close)
        dsn = conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.mig)
        r = self.run_migrator("check", "--dir", self.d, "--schema", "s", dsn=dsn)
        self.assertTrue(proxy.fired.is_set(), r.describe())
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_index WHERE indexrelid = 's.part'::regclass"), 1)
        self.assertEqual(self.scalar("SELECT is_called FROM s.hits"), False, r.describe())
        self.assertExit(r, 6)  # read: the made-up checksum is drift

    def test_a_schema_renamed_between_the_verdict_and_the_read_runs_no_policy(self):
        # ALTER SCHEMA ... RENAME locks no table: between the verdict under the read's lock and the
        # copy, which names the table again, the schema's owner swaps the names of its two schemas,
        # and the name now stands for a table with row-level security, whose policy a COPY runs as
        # the reader (found in the second review of session 9: 7 runs of 40 of status).  The read
        # runs with row_security off: that copy fails, nothing of the policy runs
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.query("CREATE SCHEMA s2 AUTHORIZATION %s" % self.att)
        self.query("GRANT USAGE ON SCHEMA s2 TO %s" % self.mig)
        self.query("CREATE TABLE public.pwned (who name)")
        self.query("GRANT INSERT ON public.pwned TO PUBLIC")
        self.query("CREATE FUNCTION s2.evil() RETURNS boolean LANGUAGE plpgsql AS "
                   "$$ BEGIN INSERT INTO public.pwned SELECT current_user; RETURN true; END $$")
        self.query(self.HIST.replace("s.schema_migrations", "s2.schema_migrations"))
        self.query("INSERT INTO s2.schema_migrations (version, name, checksum, status) "
                   "VALUES (1, '1_a.sql', 'x', 'applied')")
        self.query("ALTER TABLE s2.schema_migrations ENABLE ROW LEVEL SECURITY")
        self.query("CREATE POLICY p ON s2.schema_migrations FOR SELECT USING (s2.evil())")
        for obj in ("FUNCTION s2.evil()", "TABLE s2.schema_migrations"):
            self.query("ALTER %s OWNER TO %s" % (obj, self.att))
        self.query("GRANT SELECT ON s2.schema_migrations TO %s" % self.mig)
        r = self.run_held(self.swap_schemas, b" TO STDOUT", "check")
        self.assertEqual(self.scalar("SELECT count(*) FROM public.pwned"), 0, r.describe())
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r'reading the table "s\.schema_migrations": .*row-level security')

    def test_a_check_constraint_is_never_folded_whatever_constraint_exclusion_says(self):
        # the check is the toolkit's kind of object (its own table has one): kept, read with
        # constraint_exclusion at its default, though the database says on
        self.armed("ALTER TABLE s.schema_migrations ADD CONSTRAINT c CHECK (version + s.folded(1) > 0)")
        self.query("ALTER DATABASE %s SET constraint_exclusion = on" % self.ident(self.dbname))
        r = self.run_migrator("check", "--dir", self.d, "--schema", "s", dsn=self.mig_dsn)
        self.assertEqual(self.scalar("SELECT is_called FROM s.hits"), False, r.describe())
        self.assertExit(r, 6)  # read: the made-up checksum is drift


class SessionAndLock(MigratorTestCase):
    """Parts 5, 7, 8: the run lock, the session and the operator's bounds."""

    def test_lock_connection_ended_by_a_migration_fails_it(self):
        # the migration ends every other backend of this database that holds
        # an advisory lock: the run lock's connection (waiting until it is
        # gone; while it is dying it still holds the lock, and a check that
        # sees it held is right: no other run can hold it then)
        d = self.make_dir({
            "1_a.sql": "CREATE TABLE a (id int);\n",
            "2_kill.sql": ("CREATE TABLE b (id int);\n"
                           "-- migrator:allow dml\n"
                           "DO $$ BEGIN PERFORM pg_catalog.pg_terminate_backend(l.pid, 5000) "
                           "FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' "
                           "AND l.pid <> pg_catalog.pg_backend_pid() AND l.database = (SELECT oid "
                           "FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()); "
                           "END $$;\n"),
        })
        r = self.up(d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(
            r, ERROR_PREFIX + r'migration 2 failed at .*2_kill\.sql:\d+: the run lock "migrator:.*" '
               r"is no longer held by this run")
        self.assertEqual(self.versions(), [1])
        self.assertFalse(self.table_exists("b"), r.describe())

    def test_advisory_unlock_all_cannot_release_the_run_lock(self):
        d = self.make_dir({
            "1_a.sql": ("-- migrator:allow advisory-unlock-all\n"
                        "DO $$ BEGIN EXECUTE 'SELECT pg_advisory_unlock_all()'; END $$;\n"
                        "-- migrator:allow dml\n"
                        "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(1.5); END $$;\n"
                        "CREATE TABLE a (id int);\n"),
            "2_b.sql": "CREATE TABLE b (id int);\n",
        })
        proc = self.start_migrator("up", "--dir", d)
        self.wait_for_backend(proc, "%pg_sleep(1.5)%")
        # while the migration runs, after its unlock: the run lock is still held
        held = self.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                           "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        r = self.finish(proc)
        self.assertEqual(held, 1, r.describe())
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_history_row_written_by_the_migration_fails_it(self):
        # a concurrent row: the INSERT of the history row must insert one row
        d = self.make_dir({
            "1_a.sql": "CREATE TABLE a (id int);\n",
            "2_b.sql": ("CREATE TABLE b (id int);\n"
                        "-- migrator:allow dml\n"
                        "INSERT INTO public.schema_migrations (version, name, checksum, status) "
                        "VALUES (2, 'b', 'x', 'applied');\n"),
        })
        r = self.up(d)
        self.assertExit(r, 1)
        # the server's DETAIL follows its error, as its own line (issue 14)
        self.assertStderrMatches(r, ERROR_PREFIX + r"migration 2 failed at .*2_b\.sql:\d+: 23505: ")
        self.assertLastLineMatches(r, r"^migrator: detail: Key \(version\)=\(2\) already exists\.$")
        self.assertEqual(self.versions(), [1])
        self.assertFalse(self.table_exists("b"))

    def test_reset_all_does_not_move_later_migrations(self):
        self.query("CREATE SCHEMA app")
        # lint refuses RESET ALL in the migration itself; a function it
        # cannot see into is the run-time half's job
        self.query("CREATE FUNCTION public.reset_session() RETURNS void LANGUAGE plpgsql AS "
                   "$$ BEGIN RESET ALL; SET search_path = public; END $$")
        d = self.make_dir({
            "1_reset.sql": ("CREATE TABLE one (id int);\n"
                            "DO $$ BEGIN PERFORM public.reset_session(); END $$;\n"),
            "2_two.sql": "CREATE TABLE two (id int);\n",
        })
        r = self.up(d, "--schema", "app", "--history-table", "hist")
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("two", "app"), r.describe())
        self.assertFalse(self.table_exists("two", "public"), r.describe())

    def test_session_setting_does_not_leak(self):
        # a session-level setting made by one migration must not reach the next.  50ms, not 1ms:
        # PostgreSQL arms the statement timeout at each protocol message, so the run's own next
        # statement in the same transaction (the pin that restores the run's settings) runs under
        # the migration's value from its Bind to its Execute; under valgrind the client's gap
        # between the two outlasted 1ms and failed migration 1 itself (exit 1, nothing recorded:
        # the migration's own doing).  Migration 2 sleeps 0.2s: a leaked 50ms still fails it.
        d = self.make_dir({
            "1_a.sql": ("CREATE TABLE a (id int);\n"
                        "-- migrator:allow session-set\n"
                        "DO $$ BEGIN EXECUTE 'SET statement_timeout = 50'; END $$;\n"),
            "2_b.sql": ("-- migrator:allow dml\n"
                        "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(0.2); END $$;\n"
                        "CREATE TABLE b (id int);\n"),
        })
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_setting_made_through_a_function_does_not_reach_the_next(self):
        # client_min_messages = error would hide the next migration's notices
        self.query("CREATE FUNCTION public.quiet() RETURNS void LANGUAGE plpgsql AS "
                   "$$ BEGIN SET client_min_messages = error; END $$")
        self.query("CREATE TABLE public.existing (id int)")
        d = self.make_dir({
            "1_quiet.sql": "CREATE TABLE q (id int);\nDO $$ BEGIN PERFORM public.quiet(); END $$;\n",
            "2_loud.sql": "CREATE TABLE IF NOT EXISTS existing (id int);\n",
        })
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'^migrator: notice: migration 2 at .*2_loud\.sql:1: relation "existing" '
                                 r"already exists, skipping$")
        self.assertEqual(self.versions("applied"), [1, 2])

    def test_statement_timeout_of_the_session_is_kept(self):
        # the session's timeout also bounds the toolkit's own queries: under
        # TOOLKIT_TEST_WRAPPER (valgrind, a loaded machine) preflight's ran
        # out of 300 ms; both bounds grow there, the sleep stays 6x longer
        timeout_ms, sleep_s = (10000, 60) if os.environ.get("TOOLKIT_TEST_WRAPPER") else (300, 3)
        d = self.make_dir({
            "1_slow.sql": ("-- migrator:allow dml\n"
                           "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(%d); END $$;\n"
                           "CREATE TABLE slow (id int);\n") % sleep_s,
        })
        dsn = self.dsn + " options='-c statement_timeout=%d'" % timeout_ms
        r = self.run_migrator("up", "--dir", d, "--retries", "0", dsn=dsn)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1 failed at .*1_slow\.sql:2: 57014: ")
        self.assertFalse(self.table_exists("slow"))
        # an explicit 0 means none
        r = self.run_migrator("up", "--dir", d, "--statement-timeout", "0", dsn=dsn)
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("slow"))


class VerifyReadOnly(MigratorTestCase):
    """Part 6: a verify file cannot change anything, whatever it calls."""

    def test_verify_calling_a_writing_function_fails(self):
        self.query("CREATE TABLE keep (id int)")
        self.query("INSERT INTO keep SELECT generate_series(1, 5)")
        self.query("""CREATE FUNCTION public.wipe() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
                      BEGIN DELETE FROM public.keep; RETURN true; END $$""")
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           "1_a.verify.sql": "SELECT public.wipe();\n"})
        r = self.up(d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1 failed at .*1_a\.verify\.sql:1: 25006: ")
        self.assertEqual(self.scalar("SELECT count(*) FROM keep"), 5)
        self.assertFalse(self.table_exists("a"))
        self.assertEqual(self.versions(), [])

    def test_no_transaction_verify_is_read_only_too(self):
        self.query("CREATE TABLE keep (id int)")
        self.query("INSERT INTO keep SELECT generate_series(1, 5)")
        self.query("""CREATE FUNCTION public.wipe() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
                      BEGIN DELETE FROM public.keep; RETURN true; END $$""")
        d = self.make_dir({"1_a.sql": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS a (id int);\n",
                           "1_a.verify.sql": "SELECT public.wipe();\n"})
        r = self.up(d)
        self.assertExit(r, 1)
        self.assertEqual(self.scalar("SELECT count(*) FROM keep"), 5)
        self.assertEqual(self.versions("applied"), [])
        self.assertEqual(self.versions("failed"), [1])


class Notices(MigratorTestCase):
    """Part 2: the server's notices are attributed to the migration."""

    def test_notice_names_migration_and_line(self):
        d = self.make_dir({"1_a.sql": ("CREATE TABLE a (id int);\n"
                                       "CREATE TABLE IF NOT EXISTS a (id int);\n")})
        r = self.up(d)
        self.assertExit(r, 0)
        self.assertStderrMatches(
            r, r'^migrator: notice: migration 1 at .*1_a\.sql:2: relation "a" already exists, skipping$')


class LostConnection(MigratorTestCase):
    """Part 10: a lost connection is exit 3, not a failed migration."""

    def _terminate_when_running(self, proc, like):
        self.wait_for_backend(proc, like)
        self.assertTrue(self.scalar(
            "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s "
            "AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE %s", (self.dbname, like)))

    def test_backend_terminated_mid_migration(self):
        d = self.make_dir({"1_slow.sql": ("CREATE TABLE slow (id int);\n"
                                          "-- migrator:allow dml\n"
                                          "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(60); END $$;\n")})
        proc = self.start_migrator("up", "--dir", d)
        self._terminate_when_running(proc, "%pg_sleep(60)%")
        r = self.finish(proc)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection to the server lost at "
                                   r".*1_slow\.sql:3 .*it was not committed and nothing is recorded")
        self.assertNoLine(r, r"migration 1 failed")
        self.assertFalse(self.table_exists("slow"))
        self.assertExit(self.up(d, "--statement-timeout", "100ms", "--retries", "0"), 1)

    def test_backend_terminated_mid_no_transaction_migration(self):
        d = self.make_dir({"1_slow.sql": ("-- migrator:no-transaction\n"
                                          "CREATE TABLE IF NOT EXISTS first (id int);\n"
                                          "-- migrator:allow dml\n"
                                          "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(60); END $$;\n")})
        proc = self.start_migrator("up", "--dir", d)
        self._terminate_when_running(proc, "%pg_sleep(60)%")
        r = self.finish(proc)
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"no-transaction migration 1: connection to the server "
                                   r"lost at .*1_slow\.sql:4 .*the statements before it stay committed")
        self.assertTrue(self.table_exists("first"))
        self.assertEqual(self.versions("applied"), [])


class CommitReplyDropper(LoopbackProxy):
    """A loopback proxy that forwards to the server, and once it has passed on
    a COMMIT, cuts both sides without relaying the reply: the COMMIT reached
    the server, its answer never reached the client."""

    def __init__(self, target_host, target_port):
        self.dropped = threading.Event()
        super().__init__(target_host, target_port)

    def accepted(self, link):
        link.armed = not self.dropped.is_set()
        return True

    def from_client(self, link, data):
        link.server.sendall(data)
        if link.armed and b"COMMIT\x00" in data and not self.dropped.is_set():
            self.dropped.set()
            time.sleep(0.5)  # the server commits meanwhile
            return False
        return True


class LostCommitReply(MigratorTestCase):
    def test_lost_commit_reply_is_resolved_from_the_history(self):
        proxy = CommitReplyDropper(self.tcp_host, self.port)
        self.addCleanup(proxy.close)
        dsn = conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.superuser,
                       sslmode="disable")
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertTrue(proxy.dropped.is_set(), r.describe())
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection lost during COMMIT; "
                                   r"reconnected: it WAS committed and is recorded as applied")
        self.assertTrue(self.table_exists("a"))
        self.assertEqual(self.versions("applied"), [1])

    def test_lost_reply_to_a_no_transaction_files_record_is_resolved(self):
        # every statement ran; the reply to the COMMIT of its history row is lost
        proxy = CommitReplyDropper(self.tcp_host, self.port)
        self.addCleanup(proxy.close)
        dsn = conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.superuser,
                       sslmode="disable")
        d = self.make_dir({"1_a.sql": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS a (id int);\n"})
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertTrue(proxy.dropped.is_set(), r.describe())
        self.assertExit(r, 3)
        self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection lost during COMMIT; "
                                   r"reconnected: it WAS committed and is recorded as applied")
        self.assertNoLine(r, r"nothing is recorded")
        self.assertTrue(self.table_exists("a"))
        self.assertEqual(self.versions("applied"), [1])


class SwapAfterALostCommit(CommitReplyDropper):
    """CommitReplyDropper, and on the connection that asks for the outcome, action right before
    the read of the history row."""

    def __init__(self, target_host, target_port, action):
        self.action = action
        self.fired = threading.Event()
        super().__init__(target_host, target_port)

    def from_client(self, link, data):
        if not link.armed and not self.fired.is_set() and b" TO STDOUT" in data:
            self.action()
            self.fired.set()
        return super().from_client(link, data)


class SchemaRenamedBeforeTheOutcomeRead(SchemaOfAnotherOwner):
    """After a lost COMMIT reply the run reads its history row on a new connection, by name.  The
    schema's owner swaps its schema's name with another schema of its own right before that read:
    planning the read over the owner's table folded its partial index's IMMUTABLE function as the
    migrator, and the owner's row decided the outcome (found in the final review of session 9); a
    pin in the read's WHERE did not help against a view, whose columns are folded first (helper
    review of session 10).  The read is a COPY now, never planned, with the pin after it."""

    def arm_s2(self, table):
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.att))
        self.query("CREATE SCHEMA s2 AUTHORIZATION %s" % self.att)
        self.query("CREATE SEQUENCE public.hits")
        self.query("CREATE FUNCTION s2.folded(int) RETURNS int LANGUAGE plpgsql IMMUTABLE "
                   "AS $$ BEGIN PERFORM pg_catalog.nextval('public.hits'); RETURN $1; END $$")
        if table:
            self.query(SchemaOfAnotherOwner.HIST.replace("s.schema_migrations", "s2.schema_migrations"))
            self.query("INSERT INTO s2.schema_migrations (version, name, checksum, status) "
                       "VALUES (1, '1_a.sql', 'x', 'applied')")
            self.query("CREATE INDEX part ON s2.schema_migrations (version) WHERE s2.folded(1) = 1")
        else:
            self.query("CREATE VIEW s2.schema_migrations AS SELECT 1::bigint AS version, "
                       "s2.folded(1)::text AS status")
        self.query("SELECT pg_catalog.setval('public.hits', 1, false)")
        for obj in ("SEQUENCE public.hits", "FUNCTION s2.folded(int)",
                    "%s s2.schema_migrations" % ("TABLE" if table else "VIEW")):
            self.query("ALTER %s OWNER TO %s" % (obj, self.att))
        self.query("GRANT USAGE ON SCHEMA s2 TO PUBLIC")
        self.query("GRANT ALL ON s2.schema_migrations, public.hits TO PUBLIC")

    def test_the_outcome_is_read_only_from_the_table_the_run_checked(self):
        for table, why in ((True, r"refusing to use table \"s\.schema_migrations\": its name stood for another "
                                  r"table while it was read"),
                           (False, r"cannot copy from view")):
            with self.subTest(table=table):
                for name in ("s", "s2"):
                    self.query("DROP SCHEMA IF EXISTS %s CASCADE" % name)
                self.query("DROP SEQUENCE IF EXISTS public.hits")
                self.query("CREATE SCHEMA s AUTHORIZATION %s" % self.att)
                self.query("GRANT USAGE, CREATE ON SCHEMA s TO %s" % self.mig)
                self.arm_s2(table)
                proxy = SwapAfterALostCommit(self.tcp_host, self.port, self.swap_schemas)
                self.addCleanup(proxy.close)
                dsn = conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.mig,
                               sslmode="disable")
                r = self.run_migrator("up", "--dir", self.d, "--schema", "s", dsn=dsn)
                self.assertTrue(proxy.dropped.is_set() and proxy.fired.is_set(), r.describe())
                self.assertEqual(self.scalar("SELECT is_called FROM public.hits"), False, r.describe())
                self.assertExit(r, 3)
                self.assertStderrMatches(r, ERROR_PREFIX + r"reading the table \"s\.schema_migrations\": .*" + why)
                self.assertLastLineMatches(r, ERROR_PREFIX + r"migration 1: connection lost during COMMIT; the "
                                           r"history could not be read: the outcome is unknown")
                self.swap_schemas()  # back: the run's table under its own name again
                self.assertEqual(self.versions("applied", schema="s"), [1], r.describe())


if __name__ == "__main__":
    unittest.main()
