"""
test_adversarial.py
    Attacks of a hostile but realistic user on the landed fixes of issues 9
    and 10, each against the real cluster.  A test that fails here is an open
    finding (see the docstring for the attack and the suggested fix); a test
    that passes guards an attack that is defended today and not covered by
    the test_trust_* modules.

Threat model (README, Security): migration, verify and index definition
files are trusted; any role that can create objects in the target schema is
hostile.  Here that role is "mallory": NOLOGIN, with USAGE and CREATE on
schema "app" only.  Her planted code leaves a row, with current_user, in a
world-writable log table.

tests/integration/test_adversarial.py
"""

import os
import time

import psycopg2

from toolkit_test import NOLOGIN_ROLE, ToolkitTestCase, conninfo

MALLORY = "mallory"
SCHEMA = "app"
DEADLINE = 60

# The history table of our shape, as mallory would make it.
HISTORY_SHAPE = ("(version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
                 "status text NOT NULL, applied_at timestamp with time zone NOT NULL DEFAULT pg_catalog.now(), "
                 "duration_ms bigint, applied_by text, failure text, baseline text)")


class AdversarialTestCase(ToolkitTestCase):
    """A database with schema "app", hostile role mallory and her trace log."""

    def setUp(self):
        super().setUp()
        with self._admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (MALLORY,))
            if cur.fetchone() is None:
                try:
                    cur.execute("CREATE ROLE %s NOLOGIN" % MALLORY)
                except psycopg2.errors.DuplicateObject:
                    pass
            cur.execute("ALTER ROLE %s NOSUPERUSER NOCREATEROLE NOCREATEDB NOLOGIN" % MALLORY)
        self.su = self.connect(options="-c search_path=")
        self.sql("""
            CREATE SCHEMA app;
            GRANT USAGE, CREATE ON SCHEMA app TO mallory;
            CREATE SCHEMA tk_log;
            CREATE TABLE tk_log.hits (id bigserial PRIMARY KEY, who text, what text);
            GRANT USAGE ON SCHEMA tk_log TO PUBLIC;
            GRANT INSERT ON tk_log.hits TO PUBLIC;
            GRANT USAGE ON SEQUENCE tk_log.hits_id_seq TO PUBLIC;
        """)

    def sql(self, text, params=None):
        with self.su.cursor() as cur:
            cur.execute(text, params)
            return cur.fetchall() if cur.description is not None else []

    def as_mallory(self, text, conn=None):
        with (conn or self.su).cursor() as cur:
            cur.execute("SET ROLE %s" % MALLORY)
            try:
                cur.execute(text)
            finally:
                cur.execute("RESET ROLE")

    def plant_trigger_function(self):
        """app.tk_evil(): a trigger function that logs who ran it."""
        self.as_mallory(
            "CREATE FUNCTION app.tk_evil() RETURNS trigger LANGUAGE plpgsql AS $tk$\n"
            "BEGIN\n"
            "  INSERT INTO tk_log.hits (who, what) VALUES (pg_catalog.current_user(), TG_TABLE_NAME);\n"
            "  RETURN NEW;\n"
            "END\n$tk$")

    def plant_history_table(self, proc):
        """mallory's history table, of our shape, with her trigger."""
        try:
            self.as_mallory("CREATE TABLE app.schema_migrations " + HISTORY_SHAPE + "; "
                            "CREATE TRIGGER t BEFORE INSERT OR UPDATE ON app.schema_migrations "
                            "FOR EACH ROW EXECUTE FUNCTION app.tk_evil()")
        except psycopg2.errors.DuplicateTable:
            self.finish(proc, timeout=DEADLINE)
            self.skipTest("the migrator created the history table before mallory could: no attack made")

    def hits(self):
        return self.sql("SELECT who, what FROM tk_log.hits ORDER BY id")

    def wait_for_backend(self, proc, query_like, state="idle"):
        """Until a backend of this database last ran a query LIKE query_like
        and is now in state (None: any); False if proc ended first."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and proc.poll() is None:
            found = self.sql(
                "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = pg_catalog.current_database() "
                "AND pid <> pg_catalog.pg_backend_pid() AND (%s IS NULL OR state = %s) AND query LIKE %s",
                (state, state, query_like))
            if found[0][0] > 0:
                return True
        return False


# A pending migration whose lint takes a while (a second or so): the first
# `up` of a real adoption lints 100+ files between reading the history and
# creating it.  It runs in a fraction of that.
def slow_to_lint_migration(n=6000):
    body = "\n".join("  PERFORM %d;" % i for i in range(n))
    return ("CREATE TABLE widgets (id bigint PRIMARY KEY);\n"
            "DO $$\nBEGIN\n%s\nEND\n$$;\n" % body)


class HistoryRaceTest(AdversarialTestCase):

    def test_history_table_planted_between_read_and_create_is_refused(self):
        """FINDING (b, c).  `up` reads the history (absent: nothing to trust-
        check), lints and preflights the pending files, then history_ensure()
        (migrator/history.c) finds a table of that name WITH a "baseline"
        column and returns EXIT_OK without relation_trust_check(): the trust
        check only follows its own CREATE TABLE IF NOT EXISTS.  mallory
        creates the table, with a trigger, in that window (she sees it open
        in pg_stat_activity: the migrator's connection idle after the
        history inspection).  Today: exit 0, her trigger runs as the
        migrator (a superuser here) on the history insert, and the history
        lives in her table, where she can rewrite it.  baseline has the same
        window (history_inspect ... run_verifies ... history_ensure).
        Fix: history_ensure() runs relation_trust_check() whenever the table
        exists (both the "have_table" branches), not only after creating."""
        mdir = self.make_dir({"1_widgets.sql": slow_to_lint_migration()})
        self.plant_trigger_function()
        proc = self.start_migrator("up", "-d", mdir, "--schema", SCHEMA, "--lock-timeout", "5s")
        seen = self.wait_for_backend(proc, "%c.relkind, a.attname%")
        self.plant_history_table(proc)
        r = self.finish(proc, timeout=DEADLINE)
        self.assertTrue(seen, "the migrator never inspected the history\n" + r.describe())
        self.assertEqual(self.hits(), [], "mallory's trigger ran as the migrator\n" + r.describe())
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r"schema_migrations.*own")
        self.assertIsNone(self.sql("SELECT pg_catalog.to_regclass('app.widgets')")[0][0])
        self.assertEqual(self.sql("SELECT count(*) FROM app.schema_migrations"), [(0,)])


    def test_history_table_planted_while_baseline_verifies_is_refused(self):
        """FINDING (b, c), the same hole in baseline: history_inspect()
        finds no table, the verify files run (minutes on a real database),
        then history_ensure() adopts the table mallory created meanwhile and
        records every version into it through her trigger.  Same fix."""
        mdir = self.make_dir({
            "1_widgets.sql": "CREATE TABLE widgets (id bigint PRIMARY KEY);\n",
            "1_widgets.verify.sql": "SELECT true;\n" * 3000,
        })
        self.sql("CREATE TABLE app.widgets (id bigint PRIMARY KEY)")
        self.plant_trigger_function()
        proc = self.start_migrator("baseline", "--version", "1", "-d", mdir, "--schema", SCHEMA)
        seen = self.wait_for_backend(proc, "SELECT true%", state=None)
        self.plant_history_table(proc)
        r = self.finish(proc, timeout=DEADLINE)
        self.assertTrue(seen, "the verify files never ran\n" + r.describe())
        self.assertEqual(self.hits(), [], "mallory's trigger ran as the migrator\n" + r.describe())
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r"schema_migrations.*own")
        self.assertEqual(self.sql("SELECT count(*) FROM app.schema_migrations"), [(0,)])


class ConnectionRoleTest(AdversarialTestCase):

    def test_role_set_by_the_dsn_is_kept_for_every_migration(self):
        """FINDING (a; privilege).  An operator who connects as a superuser
        but sets the role in the DSN (options=-c role=app_owner, or PGOPTIONS,
        or ALTER ROLE ... SET role) to run migrations with fewer privileges:
        the history table is created as app_owner (no SET ROLE yet), but
        session_reestablish() and pin_local() (now apply_session_reestablish()
        and apply_session_pin_local(), migrator/apply_session.c) set the
        role to "none" when --role is not given, i.e. back to the login
        role, so every migration runs as the superuser and its objects are
        owned by it: a later migration run as app_owner cannot ALTER them,
        and any planted overload a migration binds to runs as a superuser.
        Fix: when --role is not given, leave the role that DISCARD ALL
        restores (the connection's own: DSN options, role and database
        settings) and pin CURRENT_USER as read right after connecting,
        instead of "none"."""
        mdir = self.make_dir({
            "1_widgets.sql": "CREATE TABLE widgets (id bigint PRIMARY KEY);\n",
            "2_gadgets.sql": "CREATE TABLE gadgets (id bigint PRIMARY KEY);\n",
        })
        self.sql("GRANT USAGE, CREATE ON SCHEMA app TO %s" % NOLOGIN_ROLE)
        dsn = conninfo(host=self.host, port=self.port, dbname=self.dbname, user=self.superuser,
                       options="-c role=%s" % NOLOGIN_ROLE)
        r = self.run_migrator("up", "-d", mdir, "--schema", SCHEMA, dsn=dsn)
        self.assertExit(r, 0)
        owners = self.sql("SELECT c.relname::text, pg_catalog.pg_get_userbyid(c.relowner)::text "
                          "FROM pg_catalog.pg_class c WHERE c.relnamespace = 'app'::pg_catalog.regnamespace "
                          "AND c.relkind = 'r' ORDER BY 1")
        self.assertEqual(owners, [("gadgets", NOLOGIN_ROLE), ("schema_migrations", NOLOGIN_ROLE),
                                  ("widgets", NOLOGIN_ROLE)])


    def test_start_up_gate_as_the_application_role_reads_the_owners_history(self):
        """FINDING (availability of the gate).  README: run `up --role
        app_owner`, and `migrator check` before starting the application.
        The application's own login role (least privilege: USAGE on the
        schema, SELECT on its tables, not a member of app_owner) runs the
        gate; history_load() refuses the history table because its owner is
        not CURRENT_USER (relation_trust.c) and advises --role, which that
        role cannot use: exit 2 for ever, the application never starts (the
        k8s example's init container does exactly this).  A SELECT fires no
        trigger or rule; only row-level security (refused anyway) and forged
        rows matter to a read-only command.
        Fix: for check/status/plan, also trust a table owned by the schema's
        owner (or by a role named with --role / a new --history-owner),
        still refusing row-level security and another owner."""
        mdir = self.make_dir({"1_widgets.sql": "CREATE TABLE widgets (id bigint PRIMARY KEY);\n"})
        app = "tk_adv_app"
        with self._admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (app,))
            if cur.fetchone() is None:
                try:
                    cur.execute("CREATE ROLE %s LOGIN" % app)
                except psycopg2.errors.DuplicateObject:
                    pass
        self.sql("ALTER SCHEMA app OWNER TO %s" % NOLOGIN_ROLE)
        self.sql("GRANT USAGE ON SCHEMA app TO %s" % app)
        self.sql("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA app GRANT SELECT ON TABLES TO %s"
                 % (NOLOGIN_ROLE, app))
        self.assertExit(self.run_migrator("up", "-d", mdir, "--schema", SCHEMA, "--role", NOLOGIN_ROLE), 0)
        dsn = conninfo(host=self.host, port=self.port, dbname=self.dbname, user=app)
        r = self.run_migrator("check", "-d", mdir, "--schema", SCHEMA, dsn=dsn)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"schema is current at version 1")


    def test_routed_index_build_runs_as_the_role(self):
        """FINDING (a correct file fails; privilege).  --role app_owner with
        the usual deploy login (NOINHERIT, member of app_owner, so that it
        has no rights until SET ROLE): the migrations run as app_owner, but
        a no-transaction CREATE INDEX CONCURRENTLY routed through the
        indexer's engine (statement_index.c) builds on connections from
        conn_open_for_build() that never SET ROLE, so the build runs as the
        login role: "permission denied for schema app", exit 1, recorded
        failed; with an INHERIT or superuser login it silently builds with
        the login's privileges instead.  requires-index builds
        (required_index.c) share the path.
        Fix: carry --role into conn_options and set it in
        conn_setup_session() for every connection of the run (build slots,
        watchdog), or SET ROLE in the engine's slot setup."""
        login = "tk_adv_deploy"
        with self._admin.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", (login,))
            if cur.fetchone() is None:
                try:
                    cur.execute("CREATE ROLE %s LOGIN NOINHERIT IN ROLE %s" % (login, NOLOGIN_ROLE))
                except psycopg2.errors.DuplicateObject:
                    pass
        self.sql("ALTER SCHEMA app OWNER TO %s" % NOLOGIN_ROLE)
        mdir = self.make_dir({
            "1_widgets.sql": "CREATE TABLE widgets (id bigint PRIMARY KEY, email text);\n",
            "2_idx.sql": ("-- migrator:no-transaction\n-- migrator:allow create-index\n"
                          "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_email_idx ON widgets (email);\n"),
        })
        dsn = conninfo(host=self.host, port=self.port, dbname=self.dbname, user=login)
        r = self.run_migrator("up", "-d", mdir, "--schema", SCHEMA, "--role", NOLOGIN_ROLE, dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(self.sql("SELECT i.indisvalid FROM pg_catalog.pg_index i "
                                  "WHERE i.indexrelid = 'app.widgets_email_idx'::pg_catalog.regclass"), [(True,)])
        self.assertEqual(self.sql("SELECT version, status FROM app.schema_migrations ORDER BY 1"),
                         [(1, "applied"), (2, "applied")])


class RoutedIndexDecoyTest(AdversarialTestCase):

    def test_index_name_taken_on_her_table_fails_the_migration(self):
        """GUARD (a).  mallory creates, on a table of her own in the schema,
        an index with the name a no-transaction migration's CREATE INDEX
        CONCURRENTLY IF NOT EXISTS uses: the server's IF NOT EXISTS would
        skip it and exit 0 with no index on widgets.  The engine must see
        that the name is taken on another table and fail the migration
        (exit 1, recorded failed), and check must not pass."""
        mdir = self.make_dir({
            "1_widgets.sql": "CREATE TABLE widgets (id bigint PRIMARY KEY, email text);\n",
            "2_idx.sql": ("-- migrator:no-transaction\n-- migrator:allow create-index\n"
                          "CREATE INDEX CONCURRENTLY IF NOT EXISTS widgets_email_idx ON widgets (email);\n"),
        })
        self.as_mallory("CREATE TABLE app.decoy (email text); "
                        "CREATE INDEX widgets_email_idx ON app.decoy (email)")
        r = self.run_migrator("up", "-d", mdir, "--schema", SCHEMA)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, r"^migrator: error: migration 2 failed at .*2_idx\.sql:3: .*widgets_email_idx.*"
                                      r"(another table|decoy)")
        self.assertEqual(self.sql("SELECT version, status FROM app.schema_migrations ORDER BY 1"),
                         [(1, "applied"), (2, "failed")])
        self.assertEqual(self.sql("SELECT count(*) FROM pg_catalog.pg_index "
                                  "WHERE indrelid = 'app.widgets'::pg_catalog.regclass AND NOT indisprimary"),
                         [(0,)])
        c = self.run_migrator("check", "-d", mdir, "--schema", SCHEMA)
        self.assertExit(c, 5)


class IfNotExistsCaptureTest(AdversarialTestCase):
    """FINDING (a, b).  CREATE ... IF NOT EXISTS in a transactional
    migration (the README recommends the IF NOT EXISTS shape, and lint
    passes it) skips an object of that name that mallory created first: the
    server says "already exists, skipping" as a NOTICE, the migrator prints
    it as a notice line, records the migration as applied and exits 0, and
    check says current.  This is the class PostgreSQL closed for extension
    scripts (CVE-2020-14350): the object exists, but it is hers.
    Fix (migrator/apply.c, run_statement/migration_notice, or a check
    before COMMIT): a statement the server skipped (NOTICE 42P07, 42710,
    42P06) fails the migration (exit 1, named, rolled back) unless the
    existing object is owned by the current role and, for an index, is on
    the statement's table, as statement_index.c already does for routed
    concurrent builds."""

    def test_table_she_created_first_is_not_adopted(self):
        """Her table, with her trigger, becomes "our" table: the next
        migration's seed INSERT runs her trigger as the migrator (a
        superuser here), and the application would write into her table."""
        mdir = self.make_dir({
            "1_things.sql": "CREATE TABLE IF NOT EXISTS things (id bigint PRIMARY KEY, name text NOT NULL);\n",
            "2_seed.sql": "-- migrator:allow-dml\n"
                          "INSERT INTO things (id, name) VALUES (1, 'seed');\n",
        })
        self.plant_trigger_function()
        self.as_mallory("CREATE TABLE app.things (id bigint, name text); "
                        "CREATE TRIGGER t BEFORE INSERT ON app.things FOR EACH ROW EXECUTE FUNCTION app.tk_evil()")
        r = self.run_migrator("up", "-d", mdir, "--schema", SCHEMA)
        self.assertEqual(self.hits(), [], "mallory's trigger ran as the migrator\n" + r.describe())
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, r"^migrator: error: migration 1 failed at .*1_things\.sql:1: .*things.*mallory")
        self.assertEqual(self.sql("SELECT count(*) FROM app.schema_migrations WHERE status = 'applied'"), [(0,)])
        self.assertExit(self.run_migrator("check", "-d", mdir, "--schema", SCHEMA), 5)

    def test_index_name_she_took_on_her_table_is_not_skipped(self):
        """The transactional twin of RoutedIndexDecoyTest: a plain CREATE
        INDEX IF NOT EXISTS on a table the same migration creates (no lint
        finding) is skipped because the name is taken by an index on her
        table; widgets ends up without the index, and check passes."""
        mdir = self.make_dir({
            "1_widgets.sql": ("CREATE TABLE widgets (id bigint PRIMARY KEY, email text);\n"
                              "CREATE INDEX IF NOT EXISTS widgets_email_idx ON widgets (email);\n"),
        })
        self.as_mallory("CREATE TABLE app.decoy (email text); "
                        "CREATE INDEX widgets_email_idx ON app.decoy (email)")
        r = self.run_migrator("up", "-d", mdir, "--schema", SCHEMA)
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, r"^migrator: error: migration 1 failed at .*1_widgets\.sql:2: .*widgets_email_idx")
        self.assertIsNone(self.sql("SELECT pg_catalog.to_regclass('app.widgets')")[0][0])
        self.assertEqual(self.sql("SELECT count(*) FROM app.schema_migrations"), [(0,)])
        self.assertExit(self.run_migrator("check", "-d", mdir, "--schema", SCHEMA), 5)


    def test_function_she_created_first_is_not_replaced_and_kept_hers(self):
        """The OR REPLACE twin, when the migrator runs as a superuser (the
        README advises against it; the test suite and many deployments do
        it): CREATE OR REPLACE FUNCTION over her function passes the owner
        check, replaces the body and leaves her the owner, and the same
        migration attaches it as the trigger of widgets.  Exit 0, check
        passes; she then replaces the body at will and it runs on every
        insert into widgets.  Fix: the same owner check as above, for every
        object a statement creates or replaces (or refuse to run as a
        superuser without an explicit --role)."""
        mdir = self.make_dir({
            "1_widgets.sql": (
                "CREATE TABLE widgets (id bigint PRIMARY KEY, touched timestamptz);\n"
                "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                "BEGIN NEW.touched := pg_catalog.now(); RETURN NEW; END\n$$;\n"
                "CREATE TRIGGER touch BEFORE INSERT OR UPDATE ON widgets "
                "FOR EACH ROW EXECUTE FUNCTION touch();\n"),
        })
        self.as_mallory("CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ "
                        "BEGIN RETURN NEW; END $$")
        r = self.run_migrator("up", "-d", mdir, "--schema", SCHEMA)
        owner = self.sql("SELECT pg_catalog.pg_get_userbyid(proowner)::text FROM pg_catalog.pg_proc "
                         "WHERE oid = 'app.touch()'::pg_catalog.regprocedure")
        self.assertExit(r, 1, "the migration adopted mallory's function (owner now: %s)" % owner)
        self.assertLastLineMatches(r, r"^migrator: error: migration 1 failed at .*1_widgets\.sql:2: .*touch.*mallory")
        self.assertIsNone(self.sql("SELECT pg_catalog.to_regclass('app.widgets')")[0][0])
        self.assertEqual(self.sql("SELECT count(*) FROM app.schema_migrations"), [(0,)])


class IdleSessionTimeoutTest(AdversarialTestCase):

    def test_run_lock_connection_survives_idle_session_timeout(self):
        """FINDING (operator control).  A DBA reaps leaked sessions with
        idle_session_timeout on the role (or database).  The run lock's
        connection (migrator/main.c run_command, conn_open_like) is idle for
        the whole run, so the server ends it after that timeout; the next
        confirm_run_lock() (now apply_session_confirm_run_lock(),
        migrator/apply_session.c) finds the lock gone and fails
        the migration, blaming its last line and suggesting that "another run
        may be applying migrations": any migration longer than the timeout
        can never be applied.  (The same holds for the main connection,
        idle while it holds the indexer's run lock during a routed
        concurrent build.)
        Fix: set idle_session_timeout = 0 on every connection the tools open
        (conn_setup_session, next to search_path), or keep the lock
        connection busy; say "idle_session_timeout" when the server's FATAL
        57P05 is what ended it."""
        mdir = self.make_dir({"1_things.sql": "CREATE TABLE things (id bigint PRIMARY KEY);\n"
                                              "SELECT pg_catalog.pg_sleep(2.5);\n"})
        # every new session of this database, as the login role (self.su is already open)
        self.sql("ALTER ROLE %s IN DATABASE %s SET idle_session_timeout = '1s'"
                 % (self.ident(self.superuser), self.ident(self.dbname)))
        r = self.run_migrator("up", "-d", mdir, "--schema", SCHEMA)
        self.assertExit(r, 0)
        self.assertEqual(self.sql("SELECT version, status FROM app.schema_migrations"), [(1, "applied")])


class IndexerNameRaceTest(AdversarialTestCase):

    def test_index_name_taken_while_the_build_waits_is_not_success(self):
        """GUARD (a).  indexer build plans "missing", then its CREATE INDEX
        CONCURRENTLY IF NOT EXISTS waits for the table lock; meanwhile
        mallory creates an index of that name on a table of her own.  The
        server then skips the build ("already exists, skipping"): the run
        must not count it as built (exit 1, critical failed), check must
        not pass, and her index is not ours to drop."""
        self.sql("CREATE TABLE app.things (id bigint, name text)")
        cfg = os.path.join(self.make_dir({"indexes.cfg": (
            'indexes = (\n'
            '  { name = "things_name_idx"; table = "things"; critical = true;\n'
            '    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS things_name_idx ON things (name)"; }\n'
            ');\n')}), "indexes.cfg")
        holder = self.connect(autocommit=False)
        holder.cursor().execute("LOCK TABLE app.things IN SHARE MODE")
        proc = self.start_indexer("-c", cfg, "build", "--schema", SCHEMA, "--lock-timeout", "20s")
        deadline = time.monotonic() + DEADLINE
        waiting = False
        while not waiting and time.monotonic() < deadline and proc.poll() is None:
            waiting = self.sql("SELECT count(*) > 0 FROM pg_catalog.pg_locks WHERE NOT granted "
                               "AND relation = 'app.things'::pg_catalog.regclass")[0][0]
        self.as_mallory("CREATE TABLE app.decoy (name text); CREATE INDEX things_name_idx ON app.decoy (name)")
        holder.commit()
        r = self.finish(proc, timeout=DEADLINE)
        self.assertTrue(waiting, "the build never waited for the table\n" + r.describe())
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"(?m)^indexer: error: .*things_name_idx")
        self.assertEqual(self.sql("SELECT c.relname::text, t.relname::text FROM pg_catalog.pg_index i "
                                  "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
                                  "JOIN pg_catalog.pg_class t ON t.oid = i.indrelid "
                                  "WHERE c.relname = 'things_name_idx'"), [("things_name_idx", "decoy")])
        self.assertExit(self.run_indexer("-c", cfg, "check", "--schema", SCHEMA), 5)


class GrantedTriggerTest(AdversarialTestCase):

    def test_data_migration_does_not_fire_her_trigger(self):
        """FINDING (b).  A real deployment gives a reporting or support role
        "GRANT ALL ON ALL TABLES IN SCHEMA app", which includes TRIGGER.
        That role adds a trigger to an application table; the next data
        migration (-- migrator:allow-dml, a seed or backfill) runs her
        function as the migrator (a superuser here).  The toolkit refuses
        exactly this for its own history table (relation_trust.c: TRIGGER
        granted to other roles), but not for the tables a migration writes.
        Fix (migrator/preflight.c or apply.c): before a migration with DML,
        refuse (exit 2, naming table and trigger) a table it writes whose
        triggers call a function owned by a role other than the table's
        owner, or log the triggers that will fire and who owns their code;
        and say in README's Security section that TRIGGER must not be
        granted on tables that migrations write."""
        mdir = self.make_dir({"1_widgets.sql": "CREATE TABLE widgets (id bigint PRIMARY KEY, qty int);\n"})
        self.assertExit(self.run_migrator("up", "-d", mdir, "--schema", SCHEMA), 0)
        # on the history table too, the run is refused today (relation_trust.c); the
        # message tells the operator to revoke it there, which leaves widgets armed
        self.sql("GRANT ALL ON ALL TABLES IN SCHEMA app TO mallory")
        self.sql("REVOKE TRIGGER ON app.schema_migrations FROM mallory")
        self.plant_trigger_function()
        self.as_mallory("CREATE TRIGGER t BEFORE INSERT OR UPDATE ON app.widgets "
                        "FOR EACH ROW EXECUTE FUNCTION app.tk_evil()")
        with open(os.path.join(mdir, "2_seed.sql"), "w", encoding="utf-8") as f:
            f.write("-- migrator:allow-dml\nINSERT INTO widgets (id, qty) VALUES (1, 0);\n")
        r = self.run_migrator("up", "-d", mdir, "--schema", SCHEMA)
        self.assertEqual(self.hits(), [], "mallory's trigger ran as the migrator\n" + r.describe())
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"(?m)^migrator: error: .*widgets.*trigger")
        self.assertEqual(self.sql("SELECT version FROM app.schema_migrations ORDER BY 1"), [(1,)])


class RepairAheadTest(AdversarialTestCase):

    def test_repair_from_an_older_release_keeps_the_newer_releases_rows(self):
        """FINDING (c).  README: a database ahead of the files (a newer
        release migrated it; the application was rolled back) passes check
        and up.  repair does not agree: run from the older release's
        directory (to record a deliberate edit of an old file) it calls the
        newer versions "missing", advises --forget-missing, and
        --forget-missing deletes their rows (cmd_repair in migrator/main.c
        treats VS_AHEAD like VS_MISSING).  The history now says the newer
        migrations never ran: the newer release's next up runs its data
        migration a second time.
        Fix: cmd_repair leaves VS_AHEAD rows alone (an info line saying the
        database is ahead), exactly as check and up do; --forget-missing
        drops only versions below the newest file."""
        new = self.make_dir({
            "1_widgets.sql": "CREATE TABLE widgets (id bigserial PRIMARY KEY, name text);\n",
            "2_seed.sql": "-- migrator:allow-dml\nINSERT INTO widgets (name) VALUES ('default');\n",
        })
        self.assertExit(self.run_migrator("up", "-d", new, "--schema", SCHEMA), 0)
        # the older release: no 2 yet, and 1 edited deliberately (a comment)
        old = self.make_dir({
            "1_widgets.sql": "-- widgets\nCREATE TABLE widgets (id bigserial PRIMARY KEY, name text);\n",
        })
        self.assertExit(self.run_migrator("check", "-d", old, "--schema", SCHEMA), 6)  # 1 changed
        r = self.run_migrator("repair", "--forget-missing", "-d", old, "--schema", SCHEMA)
        self.assertExit(r, 0)
        self.assertEqual(self.sql("SELECT version, status FROM app.schema_migrations ORDER BY 1"),
                         [(1, "applied"), (2, "applied")], r.describe())
        self.assertExit(self.run_migrator("check", "-d", old, "--schema", SCHEMA), 0)
        # back on the newer release: 1 differs again (repair it), 2 is still applied
        self.assertExit(self.run_migrator("repair", "-d", new, "--schema", SCHEMA), 0)
        self.assertExit(self.run_migrator("up", "-d", new, "--schema", SCHEMA), 0)
        self.assertEqual(self.sql("SELECT count(*) FROM app.widgets"), [(1,)])


if __name__ == "__main__":
    import unittest
    unittest.main()
