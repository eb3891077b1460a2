"""
test_identifiers.py
    Identifiers with quotes, spaces, unicode and SQL in the options and
    config fields that name database objects, and in migration file names:
    harmless — quoted exactly (the object gets exactly that name) or refused
    (exit 2, nothing touched).  A sentinel table that the embedded SQL would
    drop must survive every run.

tests/reliability/test_identifiers.py
"""

import os
import unittest

from reliability import ReliabilityCase

HOSTILE = [
    'we"ird',
    "it's",
    "sp ace",
    "schéma ü 表",
    'x"; DROP TABLE public.sentinel; --',
    "x'); DROP TABLE public.sentinel; --",
]


def q(name):
    return '"' + name.replace('"', '""') + '"'


def cfg_str(v):
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


class IdentifierCase(ReliabilityCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE public.sentinel (id int)")

    def assertSentinel(self, r=None):
        self.assertTrue(self.table_exists("sentinel"), r.describe() if r else "")

    def relation_in(self, schema, name):
        return self.scalar("SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = %s AND c.relname = %s", (schema, name))


class MigratorIdentifiers(IdentifierCase):

    def test_schema_and_history_table_names(self):
        for i, name in enumerate(HOSTILE):
            with self.subTest(name=name):
                d = self.make_dir({"1_t.sql": "CREATE TABLE t%d (id int);\n" % i})
                r = self.run_migrator("up", "--dir", d, "--schema", name, "--create-schema",
                                      "--history-table", name)
                self.assertExit(r, 0)
                self.assertSentinel(r)
                self.assertEqual(self.relation_in(name, name), "r", r.describe())
                self.assertEqual(self.relation_in(name, "t%d" % i), "r", r.describe())
                self.assertEqual(self.query("SELECT version, status FROM %s.%s" % (q(name), q(name))),
                                 [(1, "applied")])
                r = self.run_migrator("check", "--dir", d, "--schema", name, "--history-table", name)
                self.assertExit(r, 0)
                r = self.run_migrator("status", "--dir", d, "--schema", name, "--history-table", name)
                self.assertExit(r, 0)

    def test_role_names(self):
        for i, name in enumerate(HOSTILE[:3] + HOSTILE[4:5]):
            with self.subTest(name=name):
                self.query("CREATE ROLE %s NOLOGIN" % q(name))
                self.addCleanup(self._drop_role, name)
                self.query("GRANT CREATE ON SCHEMA public TO %s" % q(name))
                d = self.make_dir({"1_r.sql": "CREATE TABLE r%d (id int);\n" % i})
                r = self.run_migrator("up", "--dir", d, "--role", name, "--history-table", "h%d" % i)
                self.assertExit(r, 0)
                self.assertSentinel(r)
                self.assertEqual(self.scalar("SELECT pg_get_userbyid(relowner) FROM pg_class "
                                             "WHERE oid = %s::regclass", ("public.r%d" % i,)), name)

    def _drop_role(self, name):
        self.query("DROP OWNED BY %s; DROP ROLE %s" % (q(name), q(name)))

    def test_file_names_are_refused(self):
        bad = ['1_we"ird.sql', "1_it's.sql", "1_sp ace.sql", "1_é.sql", "1_x;DROP TABLE sentinel.sql"]
        for name in bad:
            with self.subTest(name=name):
                d = self.make_dir({name: "CREATE TABLE f (id int);\n"})
                r = self.run_migrator("up", "--dir", d)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, r"^migrator: error: .*" + "".join(
                    "\\" + c if not c.isalnum() else c for c in name))
                self.assertSentinel(r)
                self.assertFalse(self.table_exists("f"))
                self.assertFalse(self.table_exists("schema_migrations"))


class IndexerIdentifiers(IdentifierCase):

    def test_names_in_every_config_field(self):
        for i, name in enumerate(HOSTILE):
            with self.subTest(name=name):
                schema, table, index = name, name + " t", name + " i"
                self.query("CREATE SCHEMA IF NOT EXISTS %s" % q(schema))
                self.query("CREATE TABLE %s.%s (%s int)" % (q(schema), q(table), q(name)))
                sql = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s.%s (%s)"
                       % (q(index), q(schema), q(table), q(name)))
                for state in ("present", "absent"):
                    cfg = ("indexes = ( { name = %s; schema = %s; table = %s; state = %s; critical = true; "
                           "description = %s; sql = %s; } );\n"
                           % (cfg_str(index), cfg_str(schema), cfg_str(table), cfg_str(state),
                              cfg_str(name), cfg_str(sql)))
                    d = self.make_dir({"indexes.cfg": cfg})
                    path = os.path.join(d, "indexes.cfg")
                    r = self.run_indexer("-c", path)
                    self.assertExit(r, 0)
                    self.assertSentinel(r)
                    self.assertEqual(self.relation_in(schema, index), "i" if state == "present" else None,
                                     r.describe())
                    self.assertExit(self.run_indexer("check", "-c", path), 0)
                    self.assertExit(self.run_indexer("status", "-c", path), 0)


if __name__ == "__main__":
    unittest.main()
