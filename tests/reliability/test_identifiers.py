"""
test_identifiers.py
    Identifiers with quotes, spaces, unicode and SQL in the options and
    config fields that name database objects, and in migration file names:
    harmless — quoted exactly (the object gets exactly that name) or refused
    (exit 2, nothing touched).  A sentinel table that the embedded SQL would
    drop must survive every run.

    File names: every form the migrator reads (<version>_<name>.sql, its
    <version>_<name>.verify.sql; a no-transaction migration is a directive,
    not a name), the names it ignores (hidden, not *.sql), the names `new`
    writes, the directory they sit in, and the index a requires-index
    directive names.  Definitions file: every field of a definition (name,
    schema, table, sql, description, state, critical), every field of the
    settings group, the file's own path, and the --schema, --only and
    --table options that select by name.

tests/reliability/test_identifiers.py
"""

import os
import re
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


def rx(text):
    """text as a regular expression that matches it literally."""
    return re.escape(text)


# Valid migration names (letters, digits, "_", "-") that read like SQL.
SQL_LOOKING = ["DROP-TABLE-sentinel--", "x--DROP_TABLE_public_sentinel", "select-1-or-1"]
# Refused as a migration name by every form (and by `new`).
BAD_NAMES = ['we"ird', "it's", "sp ace", "é", "x;DROP TABLE sentinel", "../up", "a/b", "a.b"]
# Directory names: anything the file system allows.
DIR_NAMES = ['we"ird', "it's", "sp ace", "schéma ü 表", "x'); DROP TABLE public.sentinel; --", "$(touch x)"]


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


    def test_verify_file_names_are_refused(self):
        """The verify form: a hostile <name> in <version>_<name>.verify.sql is
        refused like a migration's, before anything connects."""
        for name in BAD_NAMES:
            with self.subTest(name=name):
                if "/" in name:
                    continue  # no such file can exist in one directory
                verify = "1_%s.verify.sql" % name
                d = self.make_dir({"1_a.sql": "CREATE TABLE f (id int);\n",
                                   verify: "SELECT 1 FROM public.sentinel WHERE false;\n"})
                r = self.run_migrator("up", "--dir", d)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, r"^migrator: error: .*" + rx(verify)
                                         + r": invalid migration file name: ")
                self.assertSentinel(r)
                self.assertFalse(self.table_exists("f"))
                self.assertFalse(self.table_exists("schema_migrations"))

    def test_names_that_read_like_sql_are_only_names(self):
        """Valid names made of SQL words, every form (migration, verify,
        no-transaction migration): applied, recorded with exactly that name,
        and never executed as SQL."""
        files = {}
        for i, name in enumerate(SQL_LOOKING, start=1):
            files["%d_%s.sql" % (i, name)] = "CREATE TABLE t%d (id int);\n" % i
            files["%d_%s.verify.sql" % (i, name)] = "SELECT count(*) = 0 FROM t%d;\n" % i
        n = len(SQL_LOOKING) + 1
        files["%d_%s.sql" % (n, SQL_LOOKING[0])] = ("-- migrator:no-transaction\n"
                                                    "CREATE TABLE IF NOT EXISTS t%d (id int);\n" % n)
        d = self.make_dir(files)
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertSentinel(r)
        self.assertEqual(self.query("SELECT version, name, status FROM schema_migrations ORDER BY version"),
                         [(i, name, "applied") for i, name in enumerate(SQL_LOOKING + SQL_LOOKING[:1], start=1)])
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        for name in SQL_LOOKING:
            self.assertIn(name, r.stdout + r.stderr)
        self.assertExit(self.run_migrator("check", "--dir", d), 0)

    def test_ignored_names_stay_ignored(self):
        """Hidden *.sql files and files that are not *.sql, whatever their
        names: never read, never run."""
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n",
                           '.1_we"ird.sql': "DROP TABLE public.sentinel;\n",
                           ".2_b.sql": "DROP TABLE public.sentinel;\n",
                           "2_x'); DROP TABLE public.sentinel; --.txt": "DROP TABLE public.sentinel;\n",
                           "3_c.sql.orig": "DROP TABLE public.sentinel;\n",
                           "4_d.SQL~": "DROP TABLE public.sentinel;\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertSentinel(r)
        self.assertEqual(self.query("SELECT version FROM schema_migrations"), [(1,)])

    def test_directory_names(self):
        """The directory may be called anything: its files are found, run
        and named in messages, and `new` writes into it."""
        for i, dname in enumerate(DIR_NAMES):
            with self.subTest(dir=dname):
                parent = self.make_dir()
                d = os.path.join(parent, dname)
                os.makedirs(d)
                files = {"1_a%d.sql" % i: "CREATE TABLE a%d (id int);\n" % i,
                         "1_a%d.verify.sql" % i: "SELECT count(*) = 0 FROM a%d;\n" % i,
                         "2_n%d.sql" % i: "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS n%d (id int);\n" % i}
                for name, text in files.items():
                    with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                        f.write(text)
                history = "h%d" % i
                r = self.run_migrator("up", "--dir", d, "--history-table", history)
                self.assertExit(r, 0)
                self.assertSentinel(r)
                self.assertTrue(self.table_exists("a%d" % i) and self.table_exists("n%d" % i))
                r = self.run_migrator("new", "next", "--verify", "--dir", d)
                self.assertExit(r, 0)
                self.assertEqual(r.stdout.splitlines(), [os.path.join(d, "3_next.sql"),
                                                         os.path.join(d, "3_next.verify.sql")])
                # the new, still empty file is refused, named with the directory
                r = self.run_migrator("up", "--dir", d, "--history-table", history)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, rx(os.path.join(d, "3_next.sql")))
                self.assertSentinel(r)
                self.assertEqual(self.query("SELECT version FROM %s ORDER BY 1" % history), [(1,), (2,)])

    def test_new_refuses_names_the_loader_would_refuse(self):
        d = self.make_dir({"1_a.sql": "CREATE TABLE a (id int);\n"})
        for name in BAD_NAMES + ["x.verify"]:
            with self.subTest(name=name):
                r = self.run_migrator("new", name, "--dir", d)
                self.assertExit(r, 2)
                self.assertLastLineMatches(r, r"^migrator: error: invalid migration name " + rx('"%s"' % name))
                self.assertEqual(sorted(os.listdir(d)), ["1_a.sql"])
        r = self.run_migrator("new", SQL_LOOKING[0], "--dir", d)
        self.assertExit(r, 0)
        self.assertIn("2_%s.sql" % SQL_LOOKING[0], os.listdir(d))

    def test_requires_index_names(self):
        """requires-index NAME: a hostile name (no spaces: the directive's
        word) that the definitions file does not define is refused before
        anything runs; one it defines is built under exactly that name."""
        self.query("CREATE TABLE t (id int, a int)")
        index = 'we"ird-i\'x;DROP'
        cfg = ("indexes = ( { name = %s; table = \"t\"; critical = true; sql = %s; } );\n"
               % (cfg_str(index), cfg_str("CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON t (a)" % q(index))))
        cfg_path = os.path.join(self.make_dir({"indexes.cfg": cfg}), "indexes.cfg")
        for name in ['we"ird', "it's", "schéma", "x\";DROP-TABLE-public.sentinel;--"]:
            with self.subTest(name=name):
                d = self.make_dir({"1_r.sql": "-- migrator:requires-index %s\nCREATE TABLE r (id int);\n" % name})
                r = self.run_migrator("up", "--dir", d, "--index-config", cfg_path)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, rx('requires-index "%s": no definition of that name' % name))
                self.assertSentinel(r)
                self.assertFalse(self.table_exists("r"))
        d = self.make_dir({"1_r.sql": "-- migrator:requires-index %s\nCREATE TABLE r (id int);\n" % index})
        r = self.run_migrator("up", "--dir", d, "--index-config", cfg_path)
        self.assertExit(r, 0)
        self.assertSentinel(r)
        self.assertEqual(self.relation_in("public", index), "i", r.describe())
        self.assertTrue(self.table_exists("r"))


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

    def test_default_schema_and_selection_by_name(self):
        """A definition without a schema of its own lands in the default
        schema, from the settings group, INDEXER_SCHEMA or --schema; --only
        and --table select by the exact name."""
        for i, name in enumerate(HOSTILE):
            with self.subTest(name=name):
                table, index = name + " t", name + " i"
                self.query("CREATE SCHEMA IF NOT EXISTS %s" % q(name))
                self.query("CREATE TABLE %s.%s (a int)" % (q(name), q(table)))
                other = 'other"%d' % i
                sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (a)"
                defs = ("{ name = %s; table = %s; sql = %s; }, { name = %s; table = %s; sql = %s; }"
                        % (cfg_str(index), cfg_str(table), cfg_str(sql % (q(index), q(table))),
                           cfg_str(other), cfg_str(table), cfg_str(sql % (q(other), q(table)))))
                with_settings = "settings = { schema = %s; };\nindexes = ( %s );\n" % (cfg_str(name), defs)
                plain = "indexes = ( %s );\n" % defs
                d = self.make_dir({"s.cfg": with_settings, "p.cfg": plain})
                r = self.run_indexer("build", "-c", os.path.join(d, "s.cfg"), "--only", index)
                self.assertExit(r, 0)
                self.assertSentinel(r)
                self.assertEqual(self.relation_in(name, index), "i", r.describe())
                self.assertIsNone(self.relation_in(name, other), r.describe())
                r = self.run_indexer("build", "-c", os.path.join(d, "p.cfg"), "--schema", name,
                                     "--table", table)
                self.assertExit(r, 0)
                self.assertEqual(self.relation_in(name, other), "i", r.describe())
                r = self.run_indexer("check", "-c", os.path.join(d, "p.cfg"), env={"INDEXER_SCHEMA": name})
                self.assertExit(r, 0)
                self.assertSentinel(r)

    def test_hostile_values_in_the_other_fields_are_refused(self):
        """Fields that name no object (state, critical, the settings group)
        take no SQL: a hostile value is refused with one line naming the
        file, the line and the field, before anything connects."""
        self.query("CREATE TABLE t (a int)")
        evil = "x'); DROP TABLE public.sentinel; --"
        good = 'name = "i"; table = "t"; sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)";'
        cases = [("state", "indexes = ( { %s state = %s; } );\n" % (good, cfg_str(evil))),
                 ("critical", "indexes = ( { %s critical = %s; } );\n" % (good, cfg_str(evil)))]
        for key in ("lock_timeout", "statement_timeout", "lock_wait", "wait", "maintenance_work_mem",
                    "log_format", "jobs", "retries", "max_parallel_maintenance_workers", "progress"):
            cases.append((key, "indexes = ( { %s } );\nsettings = { %s = %s; };\n" % (good, key, cfg_str(evil))))
        for field, text in cases:
            with self.subTest(field=field):
                d = self.make_dir({"indexes.cfg": text})
                path = os.path.join(d, "indexes.cfg")
                r = self.run_indexer("build", "-c", path)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, r"^indexer: error: " + rx(path) + r":\d+: .*" + rx('"%s"' % field))
                self.assertSentinel(r)
                self.assertIsNone(self.relation_in("public", "i"))

    def test_sql_that_does_more_than_its_index_is_refused(self):
        """The sql field is SQL by design: anything but exactly the named
        index's CREATE INDEX on its table is refused, nothing run."""
        self.query("CREATE TABLE t (a int)")
        create = "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)"
        for sql in (create + "; DROP TABLE public.sentinel",
                    "DROP TABLE public.sentinel; " + create,
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"i; DROP TABLE public.sentinel\" ON t (a)",
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON public.sentinel (id)"):
            with self.subTest(sql=sql):
                cfg = 'indexes = ( { name = "i"; table = "t"; sql = %s; } );\n' % cfg_str(sql)
                path = os.path.join(self.make_dir({"indexes.cfg": cfg}), "indexes.cfg")
                r = self.run_indexer("build", "-c", path)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, r"^indexer: error: " + rx(path) + r':\d+: index "i": ')
                self.assertSentinel(r)
                self.assertIsNone(self.relation_in("public", "i"))
                self.assertEqual(self.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 'public.sentinel'::regclass"), 0)

    def test_the_file_may_be_called_anything(self):
        self.query("CREATE TABLE t (a int)")
        cfg = 'indexes = ( { name = "i"; table = "t"; sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a)"; } );\n'
        for fname in DIR_NAMES:
            with self.subTest(file=fname):
                path = os.path.join(self.make_dir({fname: cfg}), fname)
                r = self.run_indexer("build", "-c", path)
                self.assertExit(r, 0)
                self.assertSentinel(r)
                self.assertEqual(self.relation_in("public", "i"), "i")
                # and a mistake in it is reported under exactly that path
                with open(path, "a", encoding="utf-8") as f:
                    f.write("bogus = 1;\n")
                r = self.run_indexer("check", "-c", path)
                self.assertExit(r, 2)
                self.assertStderrMatches(r, r"^indexer: error: " + rx(path) + r":\d+: ")


if __name__ == "__main__":
    unittest.main()
