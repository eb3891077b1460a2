"""
test_drift_fastpath.py
    Drift detection after the no-op's fast path (issue 13): a server text
    byte-identical to the one pg_get_indexdef() writes for the definition is
    "in line" without parsing; every other text, however close, still goes
    to the tree comparison and a drifted index is still reported.

Each case builds the index by hand with the smallest difference from the
file's definition (a DESC, an operator class, a WHERE clause, UNIQUE, an
INCLUDE column, the access method) and asserts that check exits 5 naming
it drifted and that build leaves it alone; then the same definitions
written exactly as the server prints them are in line (exit 0), which is
the fast path's own case.

tests/integration/test_drift_fastpath.py
"""

import re
import uuid

from test_indexer import ERROR, IndexerTestCase

TABLE = "CREATE TABLE t (id int, a int, b text, c int)"

# (file's column list and tail, what the database has after "ON t ")
CLOSE_PAIRS = [
    ("(a)", "(a DESC)"),
    ("(a DESC)", "(a)"),
    ("(a NULLS FIRST)", "(a)"),
    ("(b text_pattern_ops)", "(b)"),
    ("(b)", "(b text_pattern_ops)"),
    ("(a) WHERE c > 0", "(a) WHERE c > 1"),
    ("(a)", "(a) WHERE c > 0"),
    ("(a) WHERE c > 0", "(a)"),
    ("(a) INCLUDE (c)", "(a)"),
    ("(a)", "USING hash (a)"),
]


class DriftFastPathTest(IndexerTestCase):

    def test_the_smallest_difference_is_still_drift(self):
        for file_tail, db_tail in CLOSE_PAIRS:
            with self.subTest(file=file_tail, database=db_tail):
                self.query("DROP TABLE IF EXISTS t")
                self.query(TABLE)
                self.query("CREATE INDEX idx_x ON t " + db_tail)
                before = self.index("idx_x")
                cfg = self.config([{"name": "idx_x", "table": "t",
                                    "sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_x ON t " + file_tail}])
                r = self.indexer(cfg, "check")
                self.assertExit(r, 5)
                self.assertStderrMatches(r, ERROR + r'index "idx_x" on "public.t" drifted: the database has ')
                r = self.indexer(cfg)
                self.assertExit(r, 0)
                self.assertStderrMatches(r, r'"idx_x" on "public.t" drifted: .*not replaced')
                self.assertEqual(self.index("idx_x"), before)

    def test_unique_differs_from_plain(self):
        self.query(TABLE)
        self.query("CREATE INDEX idx_u ON t (a)")
        cfg = self.config([{"name": "idx_u", "table": "t",
                            "sql": "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_u ON t (a)"}])
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'index "idx_u" on "public.t" drifted: ')

    def test_the_servers_own_text_is_in_line(self):
        self.query(TABLE)
        self.query('CREATE TABLE "T x" (a int, b text)')
        defs = []
        for i, (tail, table) in enumerate([
                ("USING btree (a DESC)", "t"), ("USING btree (b text_pattern_ops)", "t"),
                ("USING btree (a) WHERE (c > 0)", "t"), ("USING hash (a)", "t"),
                ("USING btree (a) INCLUDE (c)", "t"), ("USING btree (a, b)", '"T x"')]):
            name = "idx_s%d" % i
            self.query("CREATE INDEX %s ON %s %s" % (name, table, tail))
            defs.append({"name": name, "table": table.strip('"'),
                         "sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s %s" % (name, table, tail)})
            # the file's text is the server's after its head
            self.assertTrue(self.indexdef(name).endswith(" " + tail), self.indexdef(name))
        r = self.indexer(self.config(defs), "check")
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"check: all 6 defined indexes checked are in line")


class CatalogJitTest(IndexerTestCase):

    def test_the_catalog_read_runs_with_jit_off(self):
        """The catalog query's estimated cost passes jit_above_cost with a few thousand definitions,
        and LLVM then compiled it for longer than it ran (issue 13's growth: 5,000 definitions,
        about 0.9 s of 1.3 s): the indexer's own session sets jit off before its first catalog read,
        whatever the database sets (here: every query worth compiling)."""
        self.query("CREATE TABLE t (id int, a int)")
        self.query("CREATE INDEX idx_a ON t (a)")
        db = self.ident(self.dbname)
        self.query("ALTER DATABASE %s SET jit_above_cost = 0" % db)
        self.query("ALTER DATABASE %s SET log_statement = 'all'" % db)
        marker = "jit-marker-" + uuid.uuid4().hex
        conn = self.connect()  # a new session: the database's log_statement applies to it
        with conn.cursor() as cur:
            cur.execute("SELECT %s", (marker,))
        conn.close()
        cfg = self.config([{"name": "idx_a", "table": "t",
                            "sql": "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_a ON t (a)"}])
        for command in ("check", "build"):
            with self.subTest(command=command):
                r = self.indexer(cfg, command)
                self.assertExit(r, 0)
        with open(self.cluster["logfile"], encoding="utf-8", errors="replace") as f:
            text = f.read()
        at = text.rfind(marker)
        self.assertGreaterEqual(at, 0, "the marker statement is not in the server log")
        lines = text[at:].splitlines()
        catalog = [l for l in lines if "/* indexer: catalog */" in l and ("execute" in l or "statement:" in l)]
        self.assertEqual(len(catalog), 2, "\n".join(lines))
        for line in catalog:
            pid = re.search(r"\[(\d+)\]", line).group(1)
            mine = [l for l in lines if "[%s]" % pid in l]
            jit_off = [i for i, l in enumerate(mine) if "set_config('jit', 'off', false)" in l]
            self.assertTrue(jit_off, "session %s read the catalog with jit on:\n%s" % (pid, "\n".join(mine)))
            self.assertLess(jit_off[0], mine.index(line), "jit was turned off after the catalog read")
