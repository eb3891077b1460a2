"""
test_concurrency.py
    Ten migrators and ten indexers started at once on the same database: each
    migration applied exactly once, each index built exactly once, every
    other run waits (migrator, --lock-wait) or exits 4 (indexer, --lock-wait 0)
    as documented, and nothing invalid is left.

tests/reliability/test_concurrency.py
"""

import os
import re
import unittest

from reliability import DEADLINE, ERROR_INDEXER, ERROR_MIGRATOR, ReliabilityCase, report

RUNS = 10
ALLOW = "-- migrator:allow dml\n"
# Not idempotent on purpose: a second application of any file fails (42P07).
FILES = {"%d_m%d.sql" % (v, v): "CREATE TABLE m%d (id int);\n%sDO $$ BEGIN PERFORM "
         "pg_catalog.pg_sleep(0.2); END $$;\n" % (v, ALLOW) for v in range(1, 6)}
INDEXES = [("idx_c_a", "a"), ("idx_c_b", "b"), ("idx_c_ab", "a, b"), ("idx_c_email", "email")]


def config_text():
    groups = ['  { name = "%s"; table = "c"; sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON c (%s)"; }'
              % (n, n, cols) for n, cols in INDEXES]
    return "indexes = (\n" + ",\n".join(groups) + "\n);\n"


class TenAndTenTest(ReliabilityCase):

    def test_ten_migrators_and_ten_indexers_at_once(self):
        self.query("CREATE TABLE c (id bigint PRIMARY KEY, a int, b int, email text)")
        self.query("INSERT INTO c SELECT g, g % 10, g % 7, 'u' || g FROM generate_series(1, 50000) g")
        d = self.make_dir({"indexes.cfg": config_text()})
        mdir = self.make_dir(FILES)
        cfg = os.path.join(d, "indexes.cfg")
        procs = []
        for _ in range(RUNS):  # interleaved, so both kinds start together
            procs.append(("m", self.start_migrator("up", "--dir", mdir)))
            procs.append(("i", self.start_indexer("-c", cfg)))
        results = [(kind, self.finish(p, timeout=DEADLINE)) for kind, p in procs]
        everything = "\n\n".join(r.describe() for _, r in results)

        applied = 0
        for kind, r in (x for x in results if x[0] == "m"):
            self.assertExit(r, 0)
            self.assertNoLine(r, ERROR_MIGRATOR)
            for line in r.lines:
                m = re.search(r"applied (\d+) migrations?\b", line)
                if m:
                    applied += int(m.group(1))
        self.assertEqual(applied, len(FILES), everything)
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations ORDER BY 1"),
                         [(v, "applied") for v in range(1, 6)])

        codes = {}
        built = {}
        for kind, r in (x for x in results if x[0] == "i"):
            codes[r.rc] = codes.get(r.rc, 0) + 1
            if r.rc == 4:
                self.assertLastLineMatches(r, ERROR_INDEXER + r'another indexer run holds the lock '
                                           r'"indexer:%s"; gave up after --lock-wait 0$' % self.dbname)
                continue
            self.assertExit(r, 0)
            self.assertNoLine(r, ERROR_INDEXER)
            for line in r.lines:
                m = re.search(r'^indexer: built "([^"]+)" on ', line)
                if m:
                    built[m.group(1)] = built.get(m.group(1), 0) + 1
        self.assertEqual(set(codes) - {0, 4}, set(), everything)
        self.assertGreaterEqual(codes.get(0, 0), 1, everything)
        self.assertEqual(built, {n: 1 for n, _ in INDEXES}, everything)
        for name, _ in INDEXES:
            self.assertTrue(self.scalar("SELECT indisvalid AND indisready FROM pg_index "
                                        "WHERE indexrelid = %s::regclass", (name,)), name)
        self.assertEqual(self.invalid_indexes(), [])
        # Afterwards both gates pass.
        self.assertExit(self.run_migrator("check", "--dir", mdir), 0)
        self.assertExit(self.run_indexer("check", "-c", cfg), 0)
        report("ten_and_ten", migrators=RUNS, indexers=RUNS, migrations_applied=applied,
               indexer_exit_codes={str(k): v for k, v in sorted(codes.items())}, builds=built)


if __name__ == "__main__":
    unittest.main()
