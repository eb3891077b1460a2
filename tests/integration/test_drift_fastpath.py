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
