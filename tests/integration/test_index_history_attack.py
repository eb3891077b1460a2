"""
test_index_history_attack.py
    The indexer's history table against a role that may act on its schema
    while a run goes on (issue 15, adversarial review of indexer/record.c).
    The owner of the record schema may drop any table in it: between the
    trust check at the start of a run and a write at the end of a build
    (hours later), it can put an armed table of its own in place of ours.
    Every write re-checks the table under a lock taken in the write's own
    transaction, so the attacker's trigger never runs with the indexer's
    privileges; the run says so and exits non-zero although the builds
    succeeded.

tests/integration/test_index_history_attack.py
"""

import json
import re
import time
import uuid

import psycopg2

from test_index_history import HistoryTestCase, at, definition
from toolkit_test import HoldBeforeTheRead, conninfo

COLUMNS = ("(id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, run_id text NOT NULL, definition text, "
           "table_name text, action text NOT NULL, planned text, started_at timestamptz NOT NULL, "
           "finished_at timestamptz, duration_ms bigint, sqlstate text, message text, index_bytes bigint, "
           "deferred integer NOT NULL DEFAULT 0, runs integer NOT NULL DEFAULT 1, host text, "
           "application_name text)")


class SchemaOfMallory(HistoryTestCase):
    """Schema app belongs to a role of its own; the indexer runs as the superuser."""

    def setUp(self):
        super().setUp()
        self.mal = "mal_%s" % self.dbname[2:]
        self.query("DROP ROLE IF EXISTS %s" % self.mal)
        self.query("CREATE ROLE %s NOLOGIN" % self.mal)
        self.addCleanup(self._drop_role)
        self.query("CREATE SCHEMA app AUTHORIZATION %s" % self.mal)

    def _drop_role(self):
        # what the role owns lives in the test database: gone with it, or here
        try:
            with psycopg2.connect(self.dsn) as c, c.cursor() as cur:
                cur.execute("DROP OWNED BY %s CASCADE" % self.mal)
            c.close()
        except psycopg2.Error:
            pass
        with self._admin.cursor() as cur:
            cur.execute("DROP ROLE IF EXISTS %s" % self.mal)

    def assertRefused(self, r, why):
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'indexer: error: refusing to use table "app\.indexer_history": ' + why)
        self.assertEqual(r.stdout, "")

    def as_mallory(self, sql):
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SET ROLE %s" % self.mal)
                cur.execute(sql)
        finally:
            conn.close()


class SwappedTable(SchemaOfMallory):

    def start_blocked(self, cfg, *args):
        blocker = psycopg2.connect(self.dsn)
        self.addCleanup(blocker.close)
        with blocker.cursor() as cur:
            cur.execute("UPDATE h SET a = a WHERE id = 1")
        proc = self.start_indexer("build", "-c", cfg, *args)
        deadline = time.monotonic() + 60
        while self.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND query LIKE '%%CREATE INDEX CONCURRENTLY%%' AND wait_event = 'virtualxid'") != 1:
            if proc.poll() is not None:
                self.fail("the indexer exited early\n" + self.finish(proc).describe())
            self.assertLess(time.monotonic(), deadline, "the build never waited")
            time.sleep(0.05)
        return proc, blocker

    def test_a_table_swapped_in_by_the_schema_owner_mid_run_never_runs_its_trigger(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        proc, blocker = self.start_blocked(cfg, "--record-schema", "app")
        self.assertEqual(self.scalar("SELECT pg_get_userbyid(relowner) FROM pg_class "
                                     "WHERE oid = 'app.indexer_history'::regclass"), "postgres")
        # the schema's owner drops ours and arms one of its own, open to all
        self.as_mallory(
            "DROP TABLE app.indexer_history CASCADE; "
            "CREATE TABLE app.indexer_history " + COLUMNS + "; "
            "CREATE TABLE app.pwned (who text); "
            "GRANT ALL ON app.pwned, app.indexer_history TO PUBLIC; "
            "GRANT USAGE ON SCHEMA app TO PUBLIC; "
            "CREATE FUNCTION app.arm() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO app.pwned VALUES (current_user); RETURN NULL; END $$; "
            "CREATE TRIGGER arm BEFORE INSERT OR UPDATE OR DELETE ON app.indexer_history "
            "FOR EACH STATEMENT EXECUTE FUNCTION app.arm()")
        blocker.rollback()
        r = self.finish(proc)
        self.assertEqual(self.query("SELECT who FROM app.pwned"), [], r.describe())
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_a')"), r.describe())
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'indexer: error: refusing to use table "app\.indexer_history": it is owned '
                                    r'by role "%s", not by the current role "postgres"' % self.mal)
        # the CASCADE took the view the writes go through: the write says the table was dropped
        self.assertStderrMatches(r, r"could not write the history table \"app\.indexer_history\" "
                                    r"\(recording a build's outcome\): the table this run checked at its start "
                                    r"was dropped during the run \(DROP TABLE \.\.\. CASCADE")
        self.assertLastLineMatches(r, r"the history table could not be written: exit 2 although the builds "
                                      r"succeeded")
        self.assertEqual(self.query("SELECT count(*) FROM app.indexer_history"), [(0,)])

    def test_a_view_in_place_of_the_table_is_never_read(self):
        # a reader (indexer history) trusts a table of the schema's owner; never a view of it
        self.as_mallory(
            "CREATE TABLE app.real " + COLUMNS + "; "
            "INSERT INTO app.real (run_id, action, started_at) VALUES ('r', 'built', now()); "
            "CREATE TABLE app.pwned (who text); "
            "GRANT ALL ON app.pwned, app.real TO PUBLIC; "
            "GRANT USAGE ON SCHEMA app TO PUBLIC; "
            "CREATE FUNCTION app.evil() RETURNS boolean LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO app.pwned VALUES (current_user); RETURN true; END $$; "
            "CREATE VIEW app.indexer_history AS SELECT * FROM app.real WHERE app.evil(); "
            "GRANT SELECT ON app.indexer_history TO PUBLIC")
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("history", "-c", cfg, "--record-schema", "app")
        self.assertEqual(self.query("SELECT who FROM app.pwned"), [], r.describe())
        self.assertRefused(r, r'it is not a plain table \(a view\)')

    def test_a_view_swapped_in_while_the_reader_waits_is_never_read(self):
        # the table passes the check; the schema's owner holds it, renames it away and puts a view
        # in its place: the read, which resolves the name again after its lock wait, would run
        # the view's function.  Now the reader locks, checks again under the lock, then reads.
        self.swap_while_reading("history")

    def test_a_view_swapped_in_before_the_backoff_read_is_never_read(self):
        # plan reads the failures of earlier runs the same way; its refusal is exit 2, as every
        # refusal of a table (it was 3, "could not read", before session 9)
        self.swap_while_reading("plan")

    def swap_while_reading(self, command):
        self.as_mallory(
            "CREATE TABLE app.indexer_history " + COLUMNS + "; "
            "INSERT INTO app.indexer_history (run_id, action, started_at) VALUES ('r', 'built', now()); "
            "CREATE TABLE app.pwned (who text); "
            "GRANT ALL ON app.pwned TO PUBLIC; GRANT SELECT ON app.indexer_history TO PUBLIC; "
            "GRANT USAGE ON SCHEMA app TO PUBLIC; "
            "CREATE FUNCTION app.evil() RETURNS boolean LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO app.pwned VALUES (current_user); RETURN true; END $$")
        holder = psycopg2.connect(self.dsn)
        self.addCleanup(holder.close)
        with holder.cursor() as cur:
            cur.execute("SET ROLE %s" % self.mal)
            cur.execute("LOCK TABLE app.indexer_history IN ACCESS EXCLUSIVE MODE")
            cur.execute("ALTER TABLE app.indexer_history RENAME TO real")
        cfg = self.config([definition("idx_h_a", "h", "a")])
        proc = self.start_indexer(command, "-c", cfg, "--record-schema", "app")
        deadline = time.monotonic() + 60
        while not self.scalar("SELECT count(*) FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a "
                              "USING (pid) WHERE NOT l.granted AND a.datname = current_database() "
                              "AND a.pid <> pg_backend_pid()"):
            if proc.poll() is not None or time.monotonic() > deadline:
                holder.rollback()
                self.fail("the reader never waited for the table\n" + self.finish(proc).describe())
            time.sleep(0.05)
        with holder.cursor() as cur:
            cur.execute("CREATE VIEW app.indexer_history AS SELECT * FROM app.real WHERE app.evil()")
            cur.execute("GRANT SELECT ON app.indexer_history TO PUBLIC")
        holder.commit()
        r = self.finish(proc)
        self.assertEqual(self.query("SELECT who FROM app.pwned"), [], r.describe())
        self.assertRefused(r, r'it is not a plain table \(a view\)')

    def test_a_readers_json_lines_cannot_be_forged_through_a_number_column(self):
        # a table of the schema's owner is trusted for reading; its "numbers" may be text
        forged = '1,"x":0}\n{"started":"2020-01-01 00:00:00","definition":"forged","action":"built"'
        self.as_mallory(
            "CREATE TABLE app.indexer_history " + COLUMNS.replace("duration_ms bigint", "duration_ms text") + "; "
            "GRANT USAGE ON SCHEMA app TO PUBLIC; GRANT SELECT ON app.indexer_history TO PUBLIC")
        self.as_mallory("INSERT INTO app.indexer_history (run_id, definition, action, started_at, duration_ms) "
                        "VALUES ('r', 'idx_h_a', 'built', now(), %s)" % psycopg2.extensions.adapt(forged).getquoted()
                        .decode())
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("history", "-c", cfg, "--record-schema", "app", "--log-format", "json")
        self.assertExit(r, 0)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.describe())
        row = json.loads(lines[0])
        self.assertEqual(row["definition"], "idx_h_a")
        self.assertEqual(row["duration_ms"], forged)


class SchemaRenamedBeforeTheWrite(SchemaOfMallory):
    """The writer's side of a schema rename: the owner of the record schema swaps its name with
    another schema of its own between the write's lock and check and the write, which names the
    table again; the INSERT would land in the owner's table and run its trigger as the indexer
    (a superuser here).  Every write is pinned to the relation the run's start trusted."""

    def test_a_write_lands_only_in_the_table_the_run_checked(self):
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.dbname, self.mal))
        self.query("CREATE TABLE public.pwned (who text)")
        self.query("GRANT ALL ON public.pwned TO PUBLIC")
        self.as_mallory(
            "GRANT USAGE, CREATE ON SCHEMA app TO PUBLIC; CREATE SCHEMA app2; "
            "GRANT USAGE ON SCHEMA app2 TO PUBLIC; "
            "CREATE TABLE app2.indexer_history " + COLUMNS + "; "
            "GRANT ALL ON app2.indexer_history TO PUBLIC; "
            "CREATE FUNCTION app2.steal() RETURNS trigger LANGUAGE plpgsql AS "
            "  $$ BEGIN INSERT INTO public.pwned VALUES (current_user); RETURN NULL; END $$; "
            "CREATE TRIGGER t BEFORE INSERT ON app2.indexer_history FOR EACH STATEMENT "
            "  EXECUTE FUNCTION app2.steal()")
        r = self.build_swapped()
        self.assertEqual(self.query("SELECT who FROM public.pwned"), [], r.describe())
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"refusing to write the history table")

    def test_a_column_default_of_the_owner_is_never_folded(self):
        # a write planned over the owner's table folds its IMMUTABLE column defaults before the
        # write's pin fails it: the lock, the check and the write travel together now (second
        # helper review of session 10: the sequence only the indexer's role may use advanced)
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.dbname, self.mal))
        self.query("CREATE SEQUENCE public.indexer_only")
        self.as_mallory(
            "GRANT USAGE, CREATE ON SCHEMA app TO PUBLIC; CREATE SCHEMA app2; "
            "GRANT USAGE ON SCHEMA app2 TO PUBLIC; "
            "CREATE FUNCTION app2.folded(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS "
            "  $$ BEGIN PERFORM pg_catalog.nextval('public.indexer_only'); RETURN $1; END $$; "
            "CREATE TABLE app2.indexer_history " + COLUMNS.rstrip().rstrip(")") + ", evil int DEFAULT app2.folded(1)); "
            "GRANT ALL ON app2.indexer_history TO PUBLIC")
        r = self.build_swapped()
        self.assertFalse(self.scalar("SELECT is_called FROM public.indexer_only"), r.describe())
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"refusing to write the history table")

    def build_swapped(self):
        """indexer build as the superuser, mallory swapping app and app2 right before the build's
        first row ('started'), which travels with the write's lock and check."""
        cfg = self.config([definition("idx_h_a", "h", "a")])

        def swap_schemas():
            self.as_mallory("ALTER SCHEMA app RENAME TO app_tmp; ALTER SCHEMA app2 RENAME TO app; "
                            "ALTER SCHEMA app_tmp RENAME TO app2")

        proxy = HoldBeforeTheRead(self.tcp_host, self.port, swap_schemas, needles=(b"'started', $4",))
        self.addCleanup(proxy.close)
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "app",
                             dsn=conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.superuser))
        self.assertTrue(proxy.fired.is_set(), r.describe())
        return r


class WritesByOid(SchemaOfMallory):
    """Every write of the history goes through the session's temporary view of the table the run
    trusted, bound by OID (relation_trust.h): a rename that lands between the write's target and
    its name pin, inside one statement, cannot move it."""

    def test_every_history_write_goes_through_the_view(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        self.query("ALTER DATABASE %s SET log_statement = 'all'" % self.dbname)
        marker = "writes-marker-" + uuid.uuid4().hex
        with psycopg2.connect(self.dsn) as c, c.cursor() as cur:  # a new session: the setting applies
            cur.execute("SELECT %s", (marker,))
        c.close()
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "app")
        self.assertExit(r, 0)
        with open(self.cluster["logfile"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        self.assertGreaterEqual(text.rfind(marker), 0, "the marker statement is not in the server log")
        lines = [l for l in text[text.rfind(marker):].splitlines() if "statement:" in l or "execute" in l]
        by_name = re.compile(r'(INSERT INTO|UPDATE|DELETE FROM|LOCK TABLE) "app"\."indexer_history"')
        by_view = re.compile(r'(INSERT INTO|UPDATE|DELETE FROM|LOCK TABLE) pg_temp\."toolkit indexer history"')
        self.assertEqual([l for l in lines if by_name.search(l)], [], "\n".join(lines))
        # the build's "started" and "built" rows, each behind a LOCK TABLE of the view, made once
        self.assertGreaterEqual(len([l for l in lines if by_view.search(l) and "LOCK TABLE" in l]), 2)
        self.assertGreaterEqual(len([l for l in lines if by_view.search(l) and "LOCK TABLE" not in l]), 2)
        self.assertEqual(len([l for l in lines if "CREATE OR REPLACE TEMPORARY VIEW" in l]), 1, "\n".join(lines))
        self.assertEqual(self.query("SELECT action FROM app.indexer_history WHERE definition = 'idx_h_a' "
                                    "ORDER BY id"), [("built",)])

    def test_a_schema_renamed_away_while_the_view_is_made_is_no_way_back_to_names(self):
        # the owner of the record schema renames it away right when the view is made: the write
        # fails, never falls back to writing by name (which reopens the race the view closes)
        cfg = self.config([definition("idx_h_a", "h", "a")])
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.dbname, self.mal))

        def rename_away():
            self.as_mallory("ALTER SCHEMA app RENAME TO app_away")

        proxy = HoldBeforeTheRead(self.tcp_host, self.port, rename_away,
                                  needles=(b"CREATE OR REPLACE TEMPORARY VIEW",))
        self.addCleanup(proxy.close)
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "app",
                             dsn=conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname,
                                          user=self.superuser))
        self.assertTrue(proxy.fired.is_set(), r.describe())
        self.as_mallory("ALTER SCHEMA app_away RENAME TO app")
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertNoLine(r, r"they name the table")
        self.assertStderrMatches(r, r"could not write the history table")
        self.assertEqual(self.query("SELECT count(*) FROM app.indexer_history"), [(0,)], r.describe())

    def test_without_temporary_the_writes_name_the_table_and_a_renamable_schema_is_warned_of(self):
        ix = "ix_%s" % self.dbname[2:]
        self.query("CREATE ROLE %s LOGIN" % ix)

        def drop_ix():
            with psycopg2.connect(self.dsn) as c, c.cursor() as cur:
                cur.execute("DROP OWNED BY %s CASCADE" % ix)
            c.close()
            with self._admin.cursor() as cur:
                cur.execute("DROP ROLE IF EXISTS %s" % ix)
        self.addCleanup(drop_ix)
        self.query("ALTER TABLE h OWNER TO %s" % ix)
        self.query("GRANT CREATE ON SCHEMA public TO %s" % ix)  # the index goes beside its table
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.dbname, self.mal))
        self.as_mallory("GRANT USAGE, CREATE ON SCHEMA app TO %s" % ix)
        self.query("REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC" % self.dbname)
        cfg = self.config([definition("idx_h_a", "h", "a")])
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "app",
                             dsn=conninfo(host=self.host, port=self.port, dbname=self.dbname, user=ix))
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'indexer: warning: schema "app" can be renamed by %s \(its owner or a member, '
                                    r'with CREATE on the database\), and this role may not create temporary '
                                    r'views here' % self.mal)
        self.assertEqual(self.query("SELECT action FROM app.indexer_history WHERE definition = 'idx_h_a'"),
                         [("built",)], r.describe())
        self.query("GRANT TEMPORARY ON DATABASE %s TO %s" % (self.dbname, ix))
        r = self.run_indexer("build", "-c", cfg, "--record-schema", "app",
                             dsn=conninfo(host=self.host, port=self.port, dbname=self.dbname, user=ix))
        self.assertExit(r, 0)
        self.assertNoLine(r, r"can be renamed")


class ViewGoneWithItsTable(SchemaOfMallory):
    """The schema's owner drops the indexer's history table (CASCADE, which takes the run's view)
    mid-build and puts nothing back: the write says the table was dropped, not that it 'no longer
    passes the checks (see above)' with nothing above (adversarial review of session 11)."""

    start_blocked = SwappedTable.start_blocked

    def test_a_dropped_table_is_said_to_be_gone(self):
        cfg = self.config([definition("idx_h_a", "h", "a")])
        proc, blocker = self.start_blocked(cfg, "--record-schema", "app")
        self.as_mallory("DROP TABLE app.indexer_history CASCADE")
        blocker.rollback()
        r = self.finish(proc)
        self.assertExit(r, 2)
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_a')"), r.describe())
        self.assertNoLine(r, r"\(see above\)")
        self.assertStderrMatches(r, r"the table this run checked at its start was dropped during the run")
        self.assertIsNone(self.scalar("SELECT to_regclass('app.indexer_history')"))


class ComputingTable(SchemaOfMallory):
    """The schema's owner's table is trusted for reading, but planning a read of it folds the
    constant calls of its indexes' expressions and predicates (a function it declared
    IMMUTABLE ran as the reader, here a superuser), and of its CHECK constraints when
    constraint_exclusion is on."""

    def setUp(self):
        super().setUp()
        self.as_mallory(
            "CREATE TABLE app.indexer_history " + COLUMNS + "; "
            "INSERT INTO app.indexer_history (run_id, definition, action, started_at) "
            "  VALUES ('r', 'idx_h_a', 'built', now()); "
            "GRANT USAGE ON SCHEMA app TO PUBLIC; GRANT SELECT ON app.indexer_history TO PUBLIC; "
            "CREATE SEQUENCE app.hits; GRANT ALL ON SEQUENCE app.hits TO PUBLIC; "
            "CREATE FUNCTION app.folded(int) RETURNS int LANGUAGE plpgsql IMMUTABLE "
            "  AS $$ BEGIN PERFORM pg_catalog.nextval('app.hits'); RETURN $1; END $$")
        self.cfg = self.config([definition("idx_h_a", "h", "a")])

    def armed(self, sql):
        self.as_mallory(sql + "; SELECT pg_catalog.setval('app.hits', 1, false)")

    def history(self):
        r = self.run_indexer("history", "-c", self.cfg, "--record-schema", "app", "--since", "1h")
        self.assertEqual(self.scalar("SELECT is_called FROM app.hits"), False, r.describe())
        return r

    def test_a_partial_index_whose_predicate_would_run_is_refused(self):
        self.armed("CREATE INDEX part ON app.indexer_history (id) WHERE app.folded(1) = 1")
        r = self.history()
        self.assertRefused(r, r'its indexes or statistics compute expressions or predicates \(part\)')

    def test_a_column_of_a_type_of_its_own_is_refused(self):
        # a cast from the owner's enum to text is the owner's function; history's
        # duration_ms::text would call it for every row (found in the review of session 9)
        self.as_mallory(
            "CREATE TYPE app.num AS ENUM ('1', '2'); "
            "CREATE TABLE app.pwned (who text); GRANT ALL ON app.pwned TO PUBLIC; "
            "CREATE FUNCTION app.num2text(app.num) RETURNS text LANGUAGE plpgsql AS "
            "  $$ BEGIN INSERT INTO app.pwned VALUES (current_user); RETURN $1::name::text; END $$; "
            "CREATE CAST (app.num AS text) WITH FUNCTION app.num2text(app.num); "
            "DROP TABLE app.indexer_history; "
            "CREATE TABLE app.indexer_history " + COLUMNS.replace("duration_ms bigint", "duration_ms app.num") + "; "
            "INSERT INTO app.indexer_history (run_id, definition, action, started_at, duration_ms) "
            "  VALUES ('r', 'idx_h_a', 'built', now(), '1'); "
            "GRANT SELECT ON app.indexer_history TO PUBLIC")
        r = self.history()
        self.assertEqual(self.query("SELECT who FROM app.pwned"), [], r.describe())
        self.assertRefused(r, r'its columns have types that are not PostgreSQL.s own \(duration_ms app\.num\)')

    def test_an_index_created_between_the_verdict_and_the_read_never_runs(self):
        # CREATE INDEX (SHARE) gets in beside the read's ACCESS SHARE, after the verdict: held
        # back here by a loopback proxy.  The read is a COPY, never planned, so its predicate
        # never runs as the reader (a planned SELECT folded it: found in the review of session 9)
        proxy = HoldBeforeTheRead(self.tcp_host, self.port, lambda: self.armed(
            "CREATE INDEX part ON app.indexer_history (id) WHERE app.folded(1) = 1"))
        self.addCleanup(proxy.close)
        r = self.run_indexer("history", "-c", self.cfg, "--record-schema", "app", "--since", "1h",
                             dsn=conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.superuser))
        self.assertTrue(proxy.fired.is_set(), r.describe())
        self.assertEqual(self.scalar("SELECT is_called FROM app.hits"), False, r.describe())
        self.assertExit(r, 0)
        self.assertIn("idx_h_a", r.stdout)

    def test_a_check_constraint_is_never_folded_whatever_constraint_exclusion_says(self):
        self.armed("ALTER TABLE app.indexer_history ADD CONSTRAINT c CHECK (id + app.folded(1) > 0)")
        self.query("ALTER DATABASE %s SET constraint_exclusion = on" % self.dbname)
        r = self.history()
        self.assertExit(r, 0)
        self.assertIn("idx_h_a", r.stdout)


class ClockSkew(HistoryTestCase):

    def test_failures_dated_in_the_future_never_hold_a_critical_index_back(self):
        # a host whose clock runs a month ahead recorded the failures
        cfg = self.config([definition("idx_h_dup", "h", "dup", critical=True, unique=True)])
        for i in range(2):
            self.assertExit(self.run_at(at(days=30, hours=i * 0.01), "build", "-c", cfg), 1)
        self.query("UPDATE h SET dup = id")  # the data is fixed
        r = self.run_indexer("build", "-c", cfg, "--backoff-after", "2")
        self.assertExit(r, 0)
        self.assertNoLine(r, r"not tried: backing off")
        self.assertStderrMatches(r, r'warning: the last failure of "idx_h_dup" is dated \S+ ahead of this '
                                    r'host\'s clock \(a clock ahead\?\): not backing off')
        self.assertIsNotNone(self.scalar("SELECT to_regclass('public.idx_h_dup')"))
