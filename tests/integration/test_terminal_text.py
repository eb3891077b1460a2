"""
test_terminal_text.py
    Text another party wrote never reaches the operator's terminal raw.

    An application user stores a value; a migration's error quotes it ("Key
    (k)=(...) is duplicated"), the history keeps that text, and `migrator
    status` prints it again.  A role with CREATE on a table's schema names an
    index as it likes, and `indexer status` lists it.  An ESC sequence in such
    text could clear the screen or rewrite the line the operator reads (hide
    the error); so both programs show every control character escaped
    (\\x1b), on stderr and on stdout alike, while --log-format json keeps the
    exact text (JSON-escaped).

Each test asserts exit code, message and catalog state together.

tests/integration/test_terminal_text.py
"""

import json
import os
import re

from toolkit_test import ToolkitTestCase

# clear the screen, set the terminal title, ring the bell, and a C1 CSI (U+009B)
HOSTILE = "\x1b[2J\x1b]0;deploy ok\x07\u009b31m"
RAW = ("\x1b", "\x07", "\u009b")
# the server's error quotes the value: invalid input syntax for type integer: "..."
ALTER = "-- migrator:allow alter-column-type\nALTER TABLE u ALTER COLUMN k TYPE int USING k::int;\n"


class TerminalTextTest(ToolkitTestCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE u (k text)")
        self.query("INSERT INTO u VALUES (%s), (%s)", (HOSTILE, HOSTILE))

    def assertNoRawControl(self, text):
        for c in RAW:
            self.assertNotIn(c, text, "a raw control character reached the terminal: %r" % text)

    def test_a_failed_migration_quoting_a_row_is_shown_escaped(self):
        d = self.make_dir({"001_u.sql": ALTER})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 1)
        self.assertNoRawControl(r.stderr)
        self.assertIn("\\x1b[2J\\x1b]0;deploy ok\\x07\\u009b31m", r.stderr)
        self.assertStderrMatches(r, r"migration 1 .*failed")
        self.assertEqual(self.scalar("SELECT format_type(atttypid, NULL) FROM pg_attribute "
                                     "WHERE attrelid = 'u'::regclass AND attname = 'k'"), "text")
        self.assertEqual(self.scalar("SELECT count(*) FROM schema_migrations"), 0)
        # the JSON form keeps the exact text, JSON-escaped
        r = self.run_migrator("up", "--dir", d, "--log-format", "json")
        self.assertExit(r, 1)
        self.assertNotIn("\x1b", r.stderr)
        msgs = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
        self.assertTrue(any(HOSTILE in m["msg"] for m in msgs), r.stderr)

    def test_a_recorded_failure_is_shown_escaped_by_status(self):
        d = self.make_dir({"001_u.sql": "-- migrator:no-transaction\n" + ALTER})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 1)
        self.assertNoRawControl(r.stderr)
        self.assertEqual(self.scalar("SELECT status FROM schema_migrations WHERE version = 1"), "failed")
        self.assertIn(HOSTILE, self.scalar("SELECT failure FROM schema_migrations WHERE version = 1"))
        r = self.run_migrator("status", "--dir", d)
        self.assertNoRawControl(r.stdout + r.stderr)
        self.assertIn("\\x1b[2J", r.stdout)
        self.assertIn("failed at", r.stdout)

    def test_names_and_roles_from_history_rows_are_shown_escaped_and_aligned(self):
        # a version ahead of the files is named by its row, as applied_by is: text of the table
        d = self.make_dir({"001_a.sql": "CREATE TABLE a (id int);\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        self.query("INSERT INTO schema_migrations (version, name, checksum, status, applied_by) "
                   "VALUES (5, %s, 'c', 'applied', %s), (6, %s, 'c', 'applied', 'x')",
                   ("5_e" + HOSTILE + "\t\r", "me" + HOSTILE, "6_a\u00f1adir_gr\u00f6\u00dfe"))
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        self.assertNoRawControl(r.stdout + r.stderr)
        self.assertNotIn("\r", r.stdout)
        self.assertIn("5_e\\x1b[2J", r.stdout)
        self.assertIn("me\\x1b[2J", r.stdout)
        # the state column starts at the same character whether the name is ASCII or not
        lines = {ln.split()[0]: ln for ln in r.stdout.splitlines() if re.match(r"\d+ {2,}", ln)}
        self.assertEqual(lines["1"].index(" applied  "), lines["6"].index(" ahead  "), r.stdout)
        self.assertEqual(self.scalar("SELECT count(*) FROM schema_migrations"), 3)

    def test_an_index_named_by_another_role_is_shown_escaped(self):
        name = "evil" + HOSTILE
        self.query('CREATE INDEX "%s" ON u (k)' % name)
        cfg = self.make_dir({"indexes.cfg": 'indexes = (\n  { name = "u_k2"; table = "u"; critical = false;\n'
                                            '    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS u_k2 ON u (k)"; }\n);\n'})
        path = os.path.join(cfg, "indexes.cfg")
        r = self.run_indexer("status", "-c", path)
        self.assertExit(r, 0)
        self.assertNoRawControl(r.stdout + r.stderr)
        self.assertIn("evil\\x1b[2J", r.stdout)
        r = self.run_indexer("build", "-c", path)
        self.assertExit(r, 0)
        self.assertNoRawControl(r.stdout + r.stderr)
        self.assertTrue(self.table_exists("u_k2"))
        self.assertTrue(self.table_exists(name))
