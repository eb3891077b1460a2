"""
test_trust_search_path.py
    The operator's own connection settings cannot put a hostile schema on
    the path of the toolkit's own SQL (issue 13: the start-up now sets the
    session up in a pipeline, or in the start-up packet).

PGOPTIONS='-c search_path=app,pg_catalog' and a DSN with
options='-c search_path=app,pg_catalog' both reach every libpq session the
programs open: the first connection (whose settings ride in its first
batch), the lock connection, the main connection of up (opened only when
there is work), the build connections of the indexer.  With "app" listed
before pg_catalog even an exact copy of a pg_catalog function wins, so
this is the strongest form of the attack.  mallory's overloads of every
function and operator of the toolkit's SQL are planted in "app" (the
machinery of test_trust_capture.py); every command must succeed and no
planted body may run.

tests/integration/test_trust_search_path.py
"""

import os
import subprocess

import test_trust_capture as capture

HOSTILE_PATH = "-c search_path=app,pg_catalog"


class SearchPathOverrideTest(capture.TrustTestCase):

    def setUp(self):
        super().setUp()
        # only the vectors under test put "app" on the path here
        self.sql("ALTER DATABASE %s RESET search_path" % self.ident(self.dbname))
        capture.PlantedOverloadsTest.plant_everything(self)

    def files(self):
        return {
            "1_widgets.sql": "CREATE TABLE widgets (id bigint PRIMARY KEY, name text NOT NULL, qty integer);\n",
            "1_widgets.verify.sql": "SELECT pg_catalog.to_regclass('widgets') IS NOT NULL;\n",
            "2_note.sql": "ALTER TABLE widgets ADD COLUMN note text;\n",
        }

    def index_config(self):
        defs = []
        for name, cols in (("widgets_name_idx", "name"), ("widgets_qty_idx", "qty")):
            defs.append('{ name = "%s"; table = "widgets"; critical = true;\n'
                        '  sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON widgets (%s)"; }'
                        % (name, name, cols))
        path = os.path.join(self.make_dir(), "indexes.cfg")
        with open(path, "w") as f:
            f.write('indexes = (\n%s\n);\n' % ",\n".join(defs))
        return path

    def assert_clean(self, label, r, expect=0):
        self.assertExit(r, expect, label)
        t = self.traces()
        self.assertEqual(t, self.clean_traces(), "%s ran planted code:\n%s" % (label, self.describe_traces(t)))

    def test_the_vectors_reach_a_libpq_session(self):
        """Control: both vectors do put "app" first on a plain libpq client's path."""
        psql = os.path.join(self.cluster["bindir"], "psql")
        env = self.program_env({"PGOPTIONS": HOSTILE_PATH})
        out = subprocess.run([psql, "-X", "-A", "-t", "-d", self.dsn, "-c", "SHOW search_path"], env=env,
                             stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
        self.assertEqual(out.replace(" ", ""), "app,pg_catalog")
        out = subprocess.run([psql, "-X", "-A", "-t", "-d", self.dsn + " options='%s'" % HOSTILE_PATH,
                              "-c", "SHOW search_path"], env=self.program_env(),
                             stdout=subprocess.PIPE, text=True, check=True).stdout.strip()
        self.assertEqual(out.replace(" ", ""), "app,pg_catalog")

    def run_all(self, schema, env, dsn):
        """up (applying), up (no-op), check, status, plan, indexer build twice: nothing planted runs."""
        self.sql("CREATE SCHEMA %s" % self.ident(schema))
        d = self.make_dir(self.files())
        common = ("--dir", d, "--schema", schema)
        self.assert_clean("up", self.run_migrator("up", *common, env=env, dsn=dsn))
        self.assert_clean("up (no-op)", self.run_migrator("up", *common, env=env, dsn=dsn))
        self.assert_clean("check", self.run_migrator("check", *common, env=env, dsn=dsn))
        self.assert_clean("status", self.run_migrator("status", *common, env=env, dsn=dsn))
        self.assert_clean("plan", self.run_migrator("plan", *common, env=env, dsn=dsn))
        cfg = self.index_config()
        self.assert_clean("indexer build", self.run_indexer("build", "-c", cfg, "--schema", schema, "-j", "2",
                                                                  env=env, dsn=dsn))
        self.assert_clean("indexer build (no-op)", self.run_indexer("build", "-c", cfg, "--schema", schema,
                                                                          env=env, dsn=dsn))
        # the history table's default was bound with pg_catalog's now(), not app's
        default = self.sql(
            "SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = %s::pg_catalog.regclass AND a.attname = 'applied_at'",
            ("%s.schema_migrations" % self.ident(schema),))
        self.assertEqual(default, [("now()",)])
        self.assertEqual(self.sql("SELECT count(*) FROM %s.schema_migrations WHERE status = 'applied'"
                                  % self.ident(schema)), [(2,)])
        self.assertEqual(self.sql("SELECT count(*) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c "
                                  "ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                                  "WHERE n.nspname = %s AND i.indisvalid AND c.relname LIKE 'widgets_%%_idx'",
                                  (schema,)), [(2,)])

    def test_pgoptions_cannot_override_the_tools_search_path(self):
        self.run_all("s_env", {"PGOPTIONS": HOSTILE_PATH}, self.dsn)

    def test_dsn_options_cannot_override_the_tools_search_path(self):
        self.run_all("s_dsn", None, self.dsn + " options='%s'" % HOSTILE_PATH)
