"""
test_index_gaps.py
    Small gaps of the indexer's history (issue 15): a critical definition a
    guard refuses (the size guard, the replica guard) writes a "refused" row
    that names the guard and that the failure backoff ignores; a run that
    exits 1 only because a critical index backs off says so in its last
    line; a run on an existing history table logs no "already exists,
    skipping" NOTICE; `indexer history` escapes control characters of the
    stored values in its text output.

tests/integration/test_index_gaps.py
"""

import datetime
import json
import os

from toolkit_test import ToolkitTestCase, _DEFAULT


def definition(name, table, column, critical=False, unique=False):
    return ('  { name = "%s"; table = "%s"; critical = %s;\n'
            '    sql = "CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)"; }'
            % (name, table, "true" if critical else "false", "UNIQUE " if unique else "", name, table, column))


def at(hours=0.0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return t.strftime("%Y-%m-%d %H:%M:%S")


class GapsTestCase(ToolkitTestCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE s (id int, v bigint, dup int)")
        self.query("INSERT INTO s SELECT g, g * 7, 1 FROM generate_series(1, 100000) g")
        self.query("ANALYZE s")

    def config(self, defs):
        d = self.make_dir({"indexes.cfg": "indexes = (\n%s\n);\n" % ",\n".join(defs)})
        return os.path.join(d, "indexes.cfg")

    def run_at(self, when, *args):
        return self.run_program(self._argv("INDEXER", args, _DEFAULT), env=self.clock_at(when))

    def index_valid(self, name):
        rows = self.query("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "WHERE c.relname = %s", (name,))
        return rows[0][0] if rows else None

    def rows(self):
        return self.query("SELECT definition, table_name, action, planned, message FROM public.indexer_history "
                          "ORDER BY id")


class GuardRefusal(GapsTestCase):

    def test_the_size_guard_refusal_is_recorded_and_not_backed_off(self):
        cfg = self.config([definition("idx_s_v", "s", "v", critical=True)])
        for i in range(3):
            r = self.run_at(at(hours=i * 0.01), "build", "-c", cfg, "--max-index-size", "1MB",
                            "--backoff-after", "2")
            self.assertExit(r, 1)
            self.assertStderrMatches(r, r'critical index "idx_s_v" on "public.s" cannot be built: size guard: ')
            self.assertNoLine(r, r"backing off")
        rows = self.rows()
        self.assertEqual([x[:4] for x in rows], [("idx_s_v", "public.s", "refused", "build")] * 3)
        self.assertRegex(rows[0][4], r"^refused by the size guard: estimated \d\.\d MB exceeds "
                                     r"--max-index-size 1\.0 MB$")
        h = self.run_indexer("history", "-c", cfg, "--log-format", "json")
        self.assertExit(h, 0)
        got = [json.loads(x) for x in h.stdout.splitlines()]
        self.assertEqual([(x["definition"], x["action"]) for x in got], [("idx_s_v", "refused")] * 3)
        self.assertTrue(got[0]["message"].startswith("refused by the size guard: "))
        # the refusals were not the definition's fault: with room, the next run builds it at once
        r = self.run_at(at(hours=0.05), "build", "-c", cfg, "--max-index-size", "1GB", "--backoff-after", "2")
        self.assertExit(r, 0)
        self.assertNoLine(r, r"backing off")
        self.assertTrue(self.index_valid("idx_s_v"))
        self.assertEqual([x[2] for x in self.rows()], ["refused"] * 3 + ["built"])

    def test_refusals_neither_count_nor_end_a_failure_streak(self):
        cfg = self.config([definition("idx_s_dup", "s", "dup", critical=True, unique=True)])
        self.assertExit(self.run_at(at(), "build", "-c", cfg), 1)
        self.assertExit(self.run_at(at(hours=0.01), "build", "-c", cfg, "--max-index-size", "1kB"), 1)
        self.assertExit(self.run_at(at(hours=0.02), "build", "-c", cfg), 1)
        self.assertEqual([x[2] for x in self.rows()], ["failed", "refused", "failed"])
        r = self.run_at(at(hours=0.03), "build", "-c", cfg, "--backoff-after", "2")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r"backing off until .* \(failed 2 runs in a row")

    def test_the_replica_guard_refusal_is_recorded(self):
        slot = "tk_gaps_" + self.dbname
        self.query("SELECT pg_create_physical_replication_slot(%s, true) IS NULL", (slot,))
        self.addCleanup(self.query, "SELECT pg_drop_replication_slot(%s) IS NULL", (slot,))
        self.query("INSERT INTO s SELECT g, g, 1 FROM generate_series(1, 40000) g")
        cfg = self.config([definition("idx_s_v", "s", "v", critical=True)])
        r = self.run_indexer("build", "-c", cfg, "--max-slot-wal", "1MB", "--replica-lag-wait", "0")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r'critical index "idx_s_v" on "public.s" not built: refused by the replica '
                                    r'guard after waiting ')
        self.assertIsNone(self.index_valid("idx_s_v"))
        rows = self.rows()
        self.assertEqual([x[:4] for x in rows], [("idx_s_v", "public.s", "refused", "build")])
        self.assertRegex(rows[0][4], r'^refused by the replica guard after waiting [^:]+: inactive replication '
                                     r'slot "%s" \(physical\) retains ' % slot)
        h = self.run_indexer("history", "-c", cfg)
        self.assertExit(h, 0)
        self.assertRegex(h.stdout, r"(?m)^.*idx_s_v +public\.s +refused .*refused by the replica guard")


class BackoffLastLine(GapsTestCase):

    def test_a_critical_index_backing_off_says_so_last(self):
        cfg = self.config([definition("idx_s_dup", "s", "dup", critical=True, unique=True)])
        for i in range(2):
            self.assertExit(self.run_at(at(hours=i * 0.01), "build", "-c", cfg), 1)
        r = self.run_at(at(hours=0.05), "build", "-c", cfg, "--backoff-after", "2")
        self.assertExit(r, 1)
        self.assertNoLine(r, r"the run stopped before its work was done")
        self.assertLastLineMatches(r, r'critical index "idx_s_dup" is backing off until \w{3} '
                                      r'\d{4}-\d\d-\d\d \d\d:\d\d UTC \(failed 2 runs in a row; '
                                      r'--retry-failed forces it\)$')


class CreateNotice(GapsTestCase):

    def test_a_second_run_logs_no_already_exists_notice(self):
        cfg = self.config([definition("idx_s_v", "s", "v")])
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("indexer_history"))
        self.query("DROP INDEX idx_s_v")
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertNotIn("already exists", r.stderr, r.describe())
        self.assertEqual([x[2] for x in self.rows()], ["built", "built"])


class HistoryEscapes(GapsTestCase):

    def test_control_characters_are_escaped_in_text_output(self):
        cfg = self.config([definition("idx_s_v", "s", "v")])
        self.assertExit(self.run_indexer("build", "-c", cfg), 0)
        evil = "boom\x1b[2J\x1b]0;pwned\x07\r\nforged row\tx\\y\u009b31m"
        self.query("UPDATE public.indexer_history SET message = %s, definition = %s", (evil, "idx\x1b[1m"))
        h = self.run_indexer("history", "-c", cfg)
        self.assertExit(h, 0)
        for c in ("\x1b", "\x07", "\r", "\t", "\u009b"):
            self.assertNotIn(c, h.stdout, h.describe())
        lines = h.stdout.splitlines()
        self.assertEqual(len(lines), 3, h.describe())  # header, the row, "(1 row)"
        self.assertTrue(lines[1].endswith("boom\\x1b[2J\\x1b]0;pwned\\x07\\r\\nforged row\\tx\\\\y\\u009b31m"),
                        h.describe())
        self.assertIn("idx\\x1b[1m", lines[1])
        self.assertEqual(lines[2], "(1 row)")
        # JSON quotes them as JSON does: the value read back is the stored one
        j = self.run_indexer("history", "-c", cfg, "--log-format", "json")
        self.assertExit(j, 0)
        self.assertEqual(json.loads(j.stdout.splitlines()[0])["message"], evil)
