"""
test_new.py
    Integration tests of "migrator new NAME": the directory is created when
    missing (and the run says so), the version is padded to the width the
    directory already uses (4 digits in an empty one) so that "ls" sorts the
    files, a verify file is written only with --verify, and the header lists
    every directive the migrator understands, each of which works when its
    line is uncommented: lint accepts it and "up" applies the file against
    the test cluster, with the effect the directive promises.

Each test asserts exit code, message and catalog state together.

tests/integration/test_new.py
"""

import os
import re

from toolkit_test import ToolkitTestCase

# A commented-out directive of the header: "-- -- migrator:WORD [ARG]"
COMMENTED = re.compile(r"^-- (-- migrator:(\S+)(?: (\S+))?)$", re.M)


class NewTestCase(ToolkitTestCase):

    def new(self, d, name, *args):
        return self.run_migrator("new", name, "--dir", d, *args, dsn=None)

    def history(self):
        if not self.table_exists("schema_migrations"):
            return None
        return self.query("SELECT version, status FROM schema_migrations ORDER BY version")

    def read(self, path):
        with open(path) as f:
            return f.read()


class DirectoryAndVersionTest(NewTestCase):

    def test_creates_missing_directory_and_says_so(self):
        parent = self.make_dir()
        d = os.path.join(parent, "db", "migrations")
        r = self.new(d, "create_accounts")
        self.assertExit(r, 0)
        path = os.path.join(d, "0001_create_accounts.sql")
        self.assertEqual([path], r.stdout.splitlines())
        self.assertStderrMatches(r, r'created directory "%s"' % re.escape(d))
        self.assertLastLineMatches(r, r"wrote %s: write the change below its header" % re.escape(path))
        self.assertEqual(["0001_create_accounts.sql"], os.listdir(d))
        # an existing directory is not "created" again
        r = self.new(d, "second")
        self.assertExit(r, 0)
        self.assertNoLine(r, r"created directory")
        # a header alone is no migration: up refuses it and records nothing
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"0001_create_accounts.sql: file contains no SQL statement")
        self.assertIsNone(self.history())

    def test_bad_name_creates_no_directory(self):
        parent = self.make_dir()
        d = os.path.join(parent, "migrations")
        r = self.new(d, "bad name")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'invalid migration name "bad name"')
        self.assertFalse(os.path.exists(d))

    def test_directory_that_cannot_be_created(self):
        parent = self.make_dir({"file": "x"})
        r = self.new(os.path.join(parent, "file", "migrations"), "a")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'directory ".*/file/migrations": Not a directory$')

    def test_pads_to_the_width_the_directory_uses(self):
        cases = [
            ({}, "0001_x.sql"),                               # the default: 4 digits
            ({"0009_a.sql": "SELECT 1;\n"}, "0010_x.sql"),    # the directory's padding
            ({"000041_a.sql": "SELECT 1;\n"}, "000042_x.sql"),
            ({"109_a.sql": "SELECT 1;\n"}, "110_x.sql"),      # unpadded stays unpadded
            ({"7_a.sql": "SELECT 1;\n", "0003_b.sql": "SELECT 1;\n"}, "8_x.sql"),  # the highest file's
            ({"9999_a.sql": "SELECT 1;\n"}, "10000_x.sql"),   # grows past the width
        ]
        for files, expected in cases:
            with self.subTest(files=sorted(files)):
                d = self.make_dir(files)
                r = self.new(d, "x")
                self.assertExit(r, 0)
                self.assertEqual([os.path.join(d, expected)], r.stdout.splitlines())
                self.assertTrue(os.path.isfile(os.path.join(d, expected)))

    def test_ls_order_is_version_order(self):
        d = self.make_dir()
        for i in range(12):
            self.assertExit(self.new(d, "step%d" % i), 0)
        names = sorted(os.listdir(d))  # what ls shows
        self.assertEqual("0001_step0.sql", names[0])
        self.assertEqual("0012_step11.sql", names[-1])
        self.assertEqual(["step%d" % i for i in range(12)],
                         [n.split("_", 1)[1][:-4] for n in names])

    def test_timestamp_is_not_padded(self):
        d = self.make_dir({"0001_a.sql": "SELECT 1;\n"})
        r = self.new(d, "later", "--timestamp")
        self.assertExit(r, 0)
        self.assertRegex(r.stdout.strip(), r"/\d{14}_later\.sql$")


class VerifyFileTest(NewTestCase):

    def test_verify_file_only_with_verify(self):
        d = self.make_dir()
        r = self.new(d, "plain")
        self.assertExit(r, 0)
        self.assertEqual(["0001_plain.sql"], os.listdir(d))
        r = self.new(d, "checked", "--verify")
        self.assertExit(r, 0)
        path = os.path.join(d, "0002_checked.sql")
        vpath = os.path.join(d, "0002_checked.verify.sql")
        self.assertEqual([path, vpath], r.stdout.splitlines())
        self.assertLastLineMatches(r, r"wrote %s and %s:" % (re.escape(path), re.escape(vpath)))
        self.assertIn("SELECT count(*) = 1", self.read(vpath))
        # the migration's header points at the option
        self.assertIn("0001_plain.verify.sql", self.read(os.path.join(d, "0001_plain.sql")))
        self.assertIn('"migrator new NAME --verify"', self.read(os.path.join(d, "0001_plain.sql")))

    def test_verify_belongs_to_new(self):
        d = self.make_dir({"0001_a.sql": "CREATE TABLE a (id int);\n"})
        r = self.run_migrator("up", "--verify", "--dir", d)
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r"option --verify belongs to new \(up runs every verify file there is\)")
        self.assertIsNone(self.history())


# The statement each directive exists for, written right below the header,
# what fills the directive's placeholder, and what proves it took effect.
SETUP = ("CREATE TABLE t (id int NOT NULL, extra text);\n"
         "CREATE TYPE mood AS ENUM ('ok');\n")
INDEX_CONFIG = """indexes = (
  { name  = "t_id_key";
    table = "t";
    sql   = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_id_key ON t (id)"; }
);
"""
DIRECTIVES = {
    # VACUUM cannot run inside a transaction block (25001)
    "no-transaction": (None, "VACUUM t;\n"),
    "allow-dml": (None, "INSERT INTO t (id) VALUES (1);\n"),
    "requires-index": ("t_id_key", "ALTER TABLE t ADD CONSTRAINT t_id_key UNIQUE USING INDEX t_id_key;\n"),
    "allow": ("drop-column", "ALTER TABLE t DROP COLUMN extra;\n"),
}


class DirectivesTest(NewTestCase):

    def known_directives(self):
        """The directives the migrator itself names when it meets an unknown one."""
        d = self.make_dir({"0001_a.sql": "-- migrator:no-such-thing\nSELECT 1;\n"})
        r = self.run_migrator("lint", "--dir", d, dsn=None)
        self.assertExit(r, 2)
        # lint reports a file's problems with its findings, on stdout
        m = re.search(r"\(known: ([^)]*)\)", r.stdout)
        self.assertIsNotNone(m, r.describe())
        return {k.split()[0] for k in m.group(1).split(", ")}

    def generated(self, d):
        r = self.new(d, "change")
        self.assertExit(r, 0)
        path = r.stdout.strip()
        return path, self.read(path)

    def test_header_lists_every_directive(self):
        d = self.make_dir()
        _, text = self.generated(d)
        listed = {m.group(2): m.group(1) for m in COMMENTED.finditer(text)}
        self.assertEqual(self.known_directives(), set(listed), text)
        self.assertEqual(set(DIRECTIVES), set(listed))
        self.assertEqual("-- migrator:requires-index NAME", listed["requires-index"])
        self.assertEqual("-- migrator:allow RULE", listed["allow"])
        # commented out, every one is inert: the bare header with a statement is a plain migration
        with open(os.path.join(d, "0001_change.sql"), "a") as f:
            f.write("CREATE TABLE plain (id int);\n")
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertEqual([(1, "applied")], self.history())

    def uncomment(self, text, word, value):
        """text with the directive line of word uncommented, its placeholder replaced."""
        lines = text.split("\n")
        hits = [i for i, line in enumerate(lines) if COMMENTED.fullmatch(line) and
                COMMENTED.fullmatch(line).group(2) == word]
        self.assertEqual(1, len(hits), "one line for %s" % word)
        line = lines[hits[0]][3:]  # delete the first "-- "
        m = COMMENTED.fullmatch("-- " + line)
        if m.group(3) is not None:
            self.assertIsNotNone(value, "%s takes %s" % (word, m.group(3)))
            line = line.replace(" " + m.group(3), " " + value)
        lines[hits[0]] = line
        return "\n".join(lines)

    def setup_dir(self, word):
        """A directory with the setup applied, a generated file with word's statement below its header."""
        d = self.make_dir({"0001_setup.sql": SETUP})
        cfg = os.path.join(self.make_dir({"indexes.cfg": INDEX_CONFIG}), "indexes.cfg")
        r = self.run_migrator("up", "--dir", d, "--index-config", cfg)
        self.assertExit(r, 0)
        path, text = self.generated(d)
        self.assertTrue(path.endswith("/0002_change.sql"))
        value, statement = DIRECTIVES[word]
        self.statement_line = text.count("\n") + 1
        with open(path, "w") as f:
            f.write(text + statement)  # right below the header, as the header says
        return d, cfg, path, text, value, statement

    def assertFinding(self, r, rule):
        """lint's finding of rule at the statement below the header, on either stream."""
        self.assertRegex(r.stdout + r.stderr, r"0002_change\.sql:%d:1: error\W+%s\b"
                         % (self.statement_line, re.escape(rule)), r.describe())

    def lint(self, d, cfg):
        return self.run_migrator("lint", "--strict", "--dir", d, "--index-config", cfg, dsn=None)

    def up(self, d, cfg):
        return self.run_migrator("up", "--strict", "--dir", d, "--index-config", cfg)

    def enable(self, path, text, word, value, statement):
        with open(path, "w") as f:
            f.write(self.uncomment(text, word, value) + statement)

    def test_no_transaction_works_uncommented(self):
        d, cfg, path, text, value, statement = self.setup_dir("no-transaction")
        r = self.up(d, cfg)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"0002_change.sql:\d+: 25001: VACUUM cannot run inside a transaction block")
        self.assertEqual([(1, "applied")], [h for h in self.history() if h[1] == "applied"])
        self.enable(path, text, "no-transaction", value, statement)
        self.assertExit(self.lint(d, cfg), 0)
        r = self.up(d, cfg)
        self.assertExit(r, 0)
        self.assertEqual([(1, "applied"), (2, "applied")], self.history())

    def test_allow_dml_works_uncommented(self):
        d, cfg, path, text, value, statement = self.setup_dir("allow-dml")
        r = self.lint(d, cfg)
        self.assertExit(r, 2)
        self.assertFinding(r, "dml")
        self.enable(path, text, "allow-dml", value, statement)
        r = self.lint(d, cfg)
        self.assertExit(r, 0)
        r = self.up(d, cfg)
        self.assertExit(r, 0)
        self.assertEqual([(1, "applied"), (2, "applied")], self.history())
        self.assertEqual(1, self.scalar("SELECT count(*) FROM t"))

    def test_requires_index_works_uncommented(self):
        d, cfg, path, text, value, statement = self.setup_dir("requires-index")
        r = self.up(d, cfg)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r'index "t_id_key" does not exist')
        self.enable(path, text, "requires-index", value, statement)
        self.assertExit(self.lint(d, cfg), 0)
        r = self.up(d, cfg)
        self.assertExit(r, 0)
        self.assertEqual([(1, "applied"), (2, "applied")], self.history())
        self.assertEqual("u", self.scalar("SELECT contype FROM pg_constraint WHERE conname = 't_id_key'"))

    def test_allow_rule_works_uncommented(self):
        d, cfg, path, text, value, statement = self.setup_dir("allow")
        r = self.lint(d, cfg)
        self.assertExit(r, 2)
        self.assertFinding(r, "drop-column")
        self.enable(path, text, "allow", value, statement)
        r = self.lint(d, cfg)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"drop-column")
        r = self.up(d, cfg)
        self.assertExit(r, 0)
        self.assertEqual([(1, "applied"), (2, "applied")], self.history())
        self.assertFalse(self.column_exists("t", "extra"))
