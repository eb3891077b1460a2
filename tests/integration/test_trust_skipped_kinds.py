"""
test_trust_skipped_kinds.py
    Another role's object is never adopted, whatever its kind: when the
    server skips a CREATE ... IF NOT EXISTS of a collation, a statistics
    object, an extension, a foreign server or a foreign table (or an ALTER
    TABLE ... ADD COLUMN IF NOT EXISTS, an ALTER TYPE ... ADD VALUE IF NOT
    EXISTS), the object that was there must be the current role's, and a
    statistics object must be on the statement's table, as an index must.
    Only tables, sequences, indexes, schemas and functions were checked: a
    role with CREATE on the schema (or the database) planted the object
    first and `up` exited 0 over a schema that is not the file's, with that
    role owning something our tables depend on.

Each test plants the object as a less privileged role and asserts the exit
code, the last line (object and owner named) and the history together; then
drops it, as the message advises, makes the migrator's own one and runs
again: the same statement over the role's own object applies (exit 0).

tests/integration/test_trust_skipped_kinds.py
"""

import re

from toolkit_test import NOLOGIN_ROLE, ToolkitTestCase, conninfo

ERROR_PREFIX = r"^migrator: error: "


class SkippedKindTestCase(ToolkitTestCase):

    def setUp(self):
        super().setUp()
        # a role of its own per test: DROP OWNED BY clears it out of this database
        self.evil = "evil_" + self.dbname
        self.query("CREATE ROLE %s NOLOGIN NOSUPERUSER" % self.ident(self.evil))
        self.addCleanup(self._drop_role, self.evil)
        self.query("GRANT CREATE ON SCHEMA public TO %s" % self.ident(self.evil))

    def _drop_role(self, name):
        self.query("DROP OWNED BY %s CASCADE" % self.ident(name))
        self.query("DROP ROLE IF EXISTS %s" % self.ident(name))

    def as_evil(self, sql):
        self.query("SET ROLE %s" % self.ident(self.evil))
        try:
            self.query(sql)
        finally:
            self.query("RESET ROLE")

    def applied(self):
        if not self.table_exists("schema_migrations"):
            return []
        return self.query("SELECT version FROM public.schema_migrations WHERE status = 'applied' ORDER BY 1")

    def assertRefused(self, r, statement, shown, line=1):
        """exit 1, the statement's line, the object and its owner named, nothing applied"""
        self.assertExit(r, 1)
        self.assertLastLineMatches(
            r, ERROR_PREFIX + r'migration 1 failed at .*1_\w+\.sql:%d: %s skipped %s, which exists but is '
               r'owned by role "%s", not by "%s": another role\'s object is never adopted'
               % (line, re.escape(statement), shown, re.escape(self.evil), re.escape(self.superuser)))
        self.assertEqual(self.applied(), [], r.describe())

    def assertApplies(self, d):
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertEqual(self.applied(), [(1,)], r.describe())
        return r

    def owner(self, sql):
        return self.scalar("SELECT pg_get_userbyid((%s))::text" % sql)


class SkippedKindsTest(SkippedKindTestCase):

    def test_collation(self):
        d = self.make_dir({"1_ci.sql": "CREATE COLLATION IF NOT EXISTS ci (provider = icu, locale = 'und');\n"
                                       "CREATE TABLE users (email text COLLATE ci);\n"})
        self.as_evil("CREATE COLLATION public.ci (provider = icu, locale = 'und-u-ks-level2', "
                     "deterministic = false)")
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, "CREATE COLLATION IF NOT EXISTS", r'"public\.ci"')
        self.assertFalse(self.table_exists("users"))
        self.assertEqual(self.owner("SELECT collowner FROM pg_collation WHERE collname = 'ci'"), self.evil)

        self.query("DROP COLLATION public.ci")
        self.query("CREATE COLLATION public.ci (provider = icu, locale = 'und')")
        self.assertApplies(d)
        self.assertTrue(self.table_exists("users"))

    def test_statistics(self):
        d = self.make_dir({"1_users.sql": "CREATE TABLE IF NOT EXISTS users (a int, b int);\n"
                                          "CREATE STATISTICS IF NOT EXISTS users_ab ON a, b FROM users;\n"})
        self.as_evil("CREATE TABLE public.evil_t (a int, b int); "
                     "CREATE STATISTICS public.users_ab ON a, b FROM public.evil_t")
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, "CREATE STATISTICS IF NOT EXISTS", r'"public\.users_ab"', line=2)
        self.assertFalse(self.table_exists("users"))

        self.query("DROP STATISTICS public.users_ab")
        self.query("CREATE TABLE public.users (a int, b int)")
        self.query("CREATE STATISTICS public.users_ab ON a, b FROM public.users")
        self.assertApplies(d)
        self.assertEqual(self.scalar("SELECT stxrelid::regclass::text FROM pg_statistic_ext "
                                     "WHERE stxname = 'users_ab'"), "users")

    def test_statistics_of_another_table(self):
        # the role's own statistics object, but on another table: the file's table has none
        d = self.make_dir({"1_users.sql": "CREATE TABLE users (a int, b int);\n"
                                          "CREATE STATISTICS IF NOT EXISTS users_ab ON a, b FROM users;\n"})
        self.query("CREATE TABLE public.other (a int, b int)")
        self.query("CREATE STATISTICS public.users_ab ON a, b FROM public.other")
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 1)
        self.assertLastLineMatches(
            r, ERROR_PREFIX + r'migration 1 failed at .*1_users\.sql:2: CREATE STATISTICS IF NOT EXISTS '
               r'skipped "public\.users_ab", which exists on another table, not on "users": the table has '
               r'no such statistics object$')
        self.assertFalse(self.table_exists("users"))
        self.assertEqual(self.applied(), [])

    def test_extension(self):
        d = self.make_dir({"1_crypto.sql": "CREATE EXTENSION IF NOT EXISTS pgcrypto;\n"})
        # pgcrypto is trusted: CREATE on the database is enough
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.ident(self.evil)))
        self.as_evil("CREATE EXTENSION pgcrypto")
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, "CREATE EXTENSION IF NOT EXISTS", r'"pgcrypto"')
        self.assertEqual(self.owner("SELECT extowner FROM pg_extension WHERE extname = 'pgcrypto'"), self.evil)

        self.query("DROP EXTENSION pgcrypto")
        self.query("CREATE EXTENSION pgcrypto")
        self.assertApplies(d)

    def test_foreign_server(self):
        d = self.make_dir({"1_srv.sql": "CREATE SERVER IF NOT EXISTS tk_srv FOREIGN DATA WRAPPER tk_fdw;\n"})
        self.query("CREATE FOREIGN DATA WRAPPER tk_fdw")
        self.query("GRANT USAGE ON FOREIGN DATA WRAPPER tk_fdw TO %s" % self.ident(self.evil))
        self.as_evil("CREATE SERVER tk_srv FOREIGN DATA WRAPPER tk_fdw")
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, "CREATE SERVER IF NOT EXISTS", r'"tk_srv"')

        self.query("DROP SERVER tk_srv")
        self.query("CREATE SERVER tk_srv FOREIGN DATA WRAPPER tk_fdw")
        self.assertApplies(d)

    def test_foreign_table(self):
        d = self.make_dir({"1_remote.sql": "CREATE FOREIGN TABLE IF NOT EXISTS remote_users "
                                           "(id int, email text) SERVER tk_srv;\n"
                                           "CREATE VIEW users AS SELECT id, email FROM remote_users;\n"})
        self.query("CREATE FOREIGN DATA WRAPPER tk_fdw")
        self.query("CREATE SERVER tk_srv FOREIGN DATA WRAPPER tk_fdw")
        self.query("GRANT USAGE ON FOREIGN SERVER tk_srv TO %s" % self.ident(self.evil))
        self.as_evil("CREATE FOREIGN TABLE public.remote_users (id int, email text) SERVER tk_srv")
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, "CREATE ... IF NOT EXISTS", r'"public\.remote_users"')
        self.assertFalse(self.table_exists("users"))

        self.query("DROP FOREIGN TABLE public.remote_users")
        self.query("CREATE FOREIGN TABLE public.remote_users (id int, email text) SERVER tk_srv")
        self.assertApplies(d)
        self.assertTrue(self.table_exists("users"))

    def test_add_column(self):
        # the column is the table's owner's: ADD COLUMN IF NOT EXISTS over hers adopts it
        d = self.make_dir({"1_email.sql": "ALTER TABLE accounts ADD COLUMN IF NOT EXISTS email text;\n"})
        self.as_evil("CREATE TABLE public.accounts (id int, email text)")
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, "ALTER TABLE ... ADD COLUMN IF NOT EXISTS", r'a column of table "public\.accounts"')

        self.query("DROP TABLE public.accounts")
        self.query("CREATE TABLE public.accounts (id int, email text)")
        self.assertApplies(d)

    def test_enum_value(self):
        d = self.make_dir({"1_mood.sql": "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';\n"})
        self.as_evil("CREATE TYPE public.mood AS ENUM ('sad', 'happy')")
        r = self.run_migrator("up", "--dir", d)
        self.assertRefused(r, "ALTER TYPE ... ADD VALUE IF NOT EXISTS", r'a value of type "public\.mood"')

        self.query("DROP TYPE public.mood")
        self.query("CREATE TYPE public.mood AS ENUM ('sad', 'happy')")
        self.assertApplies(d)

    def test_qualified_name_is_checked_where_written(self):
        # --schema app, the collation named in public: looked up in public, not in app
        self.query("CREATE SCHEMA app")
        d = self.make_dir({"1_ci.sql": "CREATE COLLATION IF NOT EXISTS public.ci (provider = icu, "
                                       "locale = 'und');\n"})
        self.as_evil("CREATE COLLATION public.ci (provider = icu, locale = 'und')")
        r = self.run_migrator("up", "--dir", d, "--schema", "app")
        self.assertExit(r, 1)
        self.assertLastLineMatches(r, r'CREATE COLLATION IF NOT EXISTS skipped "public\.ci", which exists but '
                                      r'is owned by role "%s"' % re.escape(self.evil))
        self.assertEqual(self.query("SELECT version FROM app.schema_migrations WHERE status = 'applied'"), [])


class HiddenNoticesTest(SkippedKindTestCase):
    """The skip is known by its notice: a client_min_messages above NOTICE (the database's, the
    role's, or the migration's own SET LOCAL) hid it, and another role's table was adopted with
    exit 0 (second review of session 12).  Notices are brought back for every statement that may
    skip, which runs on its own."""

    PLANT = "CREATE TABLE public.accounts (id int PRIMARY KEY, secret text)"

    def test_a_database_that_hides_notices(self):
        self.query("ALTER DATABASE %s SET client_min_messages = warning" % self.ident(self.dbname))
        d = self.make_dir({"1_accounts.sql": "CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY);\n"})
        self.as_evil(self.PLANT)
        self.assertRefused(self.run_migrator("up", "--dir", d), "CREATE ... IF NOT EXISTS", r'"public\.accounts"')

    def test_a_migration_that_hides_its_own_notices(self):
        for name, sql in (("1_local.sql", "SET LOCAL client_min_messages = warning;\n"),
                          ("1_config.sql", "SELECT set_config('client_min_messages', 'error', true);\n")):
            with self.subTest(file=name):
                d = self.make_dir({name: sql + "CREATE TABLE IF NOT EXISTS accounts (id int PRIMARY KEY);\n"})
                self.as_evil("DROP TABLE IF EXISTS public.accounts; " + self.PLANT)
                self.assertRefused(self.run_migrator("up", "--dir", d), "CREATE ... IF NOT EXISTS",
                                   r'"public\.accounts"', line=2)

    def test_a_schema_named_by_its_authorization(self):
        # CREATE SCHEMA IF NOT EXISTS AUTHORIZATION r names the schema r: the other role's
        # schema of that name was adopted, and the next statement's table went into it
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.ident(self.evil)))
        self.as_evil("CREATE SCHEMA %s" % self.ident(self.superuser))
        d = self.make_dir({"1_s.sql": "CREATE SCHEMA IF NOT EXISTS AUTHORIZATION %s;\n"
                                      "CREATE TABLE %s.accounts (id int);\n"
                                      % (self.ident(self.superuser), self.ident(self.superuser))})
        self.assertRefused(self.run_migrator("up", "--dir", d), "CREATE SCHEMA IF NOT EXISTS",
                           r'"%s"' % re.escape(self.superuser))
        self.assertFalse(self.table_exists("accounts", schema=self.superuser))


class WhereTheNameWentTest(SkippedKindTestCase):
    """The check looks where the server looked: in the migration's own search_path (it looked in
    --schema, found nothing and accepted), and puts that path back afterwards (it set --schema,
    so the migration's later statements went elsewhere); and no false refusal where the object
    is the one the file asks for (third review of session 12)."""

    def setUp(self):
        super().setUp()
        self.query("CREATE SCHEMA app")
        self.query("GRANT CREATE, USAGE ON SCHEMA app TO %s" % self.ident(self.evil))

    def test_a_name_the_migrations_own_search_path_resolves(self):
        d = self.make_dir({"1_t.sql": "SET LOCAL search_path = app;\n"
                                      "CREATE TABLE IF NOT EXISTS t (id int);\n"})
        self.as_evil("CREATE TABLE app.t (id int)")
        self.assertRefused(self.run_migrator("up", "--dir", d), "CREATE ... IF NOT EXISTS", r'"app\.t"', line=2)

    def test_the_migrations_search_path_stays_after_a_check(self):
        self.query("CREATE TABLE app.t (id int)")  # its own: the skip is accepted
        d = self.make_dir({"1_t.sql": "SET LOCAL search_path = app;\n"
                                      "CREATE TABLE IF NOT EXISTS t (id int);\n"
                                      "CREATE TABLE IF NOT EXISTS v (id int);\n"})
        self.assertApplies(d)
        self.assertTrue(self.table_exists("v", schema="app"))
        self.assertFalse(self.table_exists("v"))

    def test_authorization_current_user_names_the_schema(self):
        self.query("GRANT CREATE ON DATABASE %s TO %s" % (self.ident(self.dbname), self.ident(self.evil)))
        self.as_evil("CREATE SCHEMA %s" % self.ident(self.superuser))
        d = self.make_dir({"1_s.sql": "CREATE SCHEMA IF NOT EXISTS AUTHORIZATION CURRENT_USER;\n"})
        self.assertRefused(self.run_migrator("up", "--dir", d), "CREATE SCHEMA IF NOT EXISTS",
                           r'"%s"' % re.escape(self.superuser))

    def test_the_owner_the_file_names_is_no_other_role(self):
        # a superuser's run: the schema the file gives to another role, and an index on a table
        # of that role (an index is always its table's owner's), are what the file asks for
        owner = "owner_" + self.dbname
        self.query("CREATE ROLE %s NOLOGIN" % self.ident(owner))
        self.addCleanup(self._drop_role, owner)
        self.query("CREATE SCHEMA s AUTHORIZATION %s" % self.ident(owner))
        self.query("CREATE TABLE app.t (c int)")
        self.query("ALTER TABLE app.t OWNER TO %s" % self.ident(owner))
        d = self.make_dir({"1_s.sql": "CREATE SCHEMA IF NOT EXISTS s AUTHORIZATION %s;\n" % self.ident(owner),
                           "2_i.sql": "-- migrator:allow create-index\nCREATE INDEX IF NOT EXISTS ti ON app.t (c);\n",
                           "3_i.sql": "-- migrator:allow create-index\nCREATE INDEX IF NOT EXISTS ti ON app.t (c);\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertEqual(self.query("SELECT version FROM public.schema_migrations WHERE status = 'applied' "
                                    "ORDER BY 1"), [(1,), (2,), (3,)], r.describe())


class SuperuserExtensionTest(SkippedKindTestCase):

    def test_extension_of_a_superuser_is_accepted(self):
        """No false refusal: plpgsql (the bootstrap superuser's) and the extensions a
        DBA installs before the application's role runs CREATE EXTENSION IF NOT EXISTS
        (untrusted ones need a superuser) are not another role's trap."""
        self.query("GRANT CREATE ON SCHEMA public TO %s" % NOLOGIN_ROLE)
        d = self.make_dir({"1_ext.sql": "CREATE EXTENSION IF NOT EXISTS plpgsql;\n"
                                        "CREATE EXTENSION IF NOT EXISTS pgcrypto;\n"})
        self.query("CREATE EXTENSION pgcrypto")
        dsn = conninfo(host=self.host, port=self.port, dbname=self.dbname, user=self.superuser,
                       options="-c role=%s" % NOLOGIN_ROLE)
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(self.applied(), [(1,)], r.describe())
