"""
test_kill.py
    The migrator killed with SIGKILL at random points, RELIABILITY_KILLS times
    (50 by default): after every kill the history and the schema agree for
    the transactional migrations, a no-transaction file keeps only a prefix of
    its statements, nothing is recorded half, and the next run completes.

tests/reliability/test_kill.py
"""

import os
import random
import signal
import time
import unittest

from reliability import DEADLINE, KILLS, ReliabilityCase, report

ALLOW = "-- migrator:allow dml\n"
SLEEP = ALLOW + "DO $$ BEGIN PERFORM pg_catalog.pg_sleep(0.03); END $$;\n"

FILES = {
    "1_a.sql": "CREATE TABLE k1 (id int);\n" + SLEEP + "ALTER TABLE k1 ADD COLUMN a int;\n",
    "2_b.sql": "CREATE TABLE k2 (id int);\n" + SLEEP,
    "3_c.sql": ("-- migrator:no-transaction\n"
                "CREATE TABLE IF NOT EXISTS n3a (id int);\n" + SLEEP +
                "CREATE TABLE IF NOT EXISTS n3b (id int);\n" + SLEEP +
                "CREATE TABLE IF NOT EXISTS n3c (id int);\n"),
    "4_d.sql": SLEEP + "CREATE TABLE k4 (id int);\nALTER TABLE k2 ADD COLUMN d int;\n",
    "5_e.sql": "CREATE TABLE k5 (id int);\n" + SLEEP,
    "5_e.verify.sql": "SELECT to_regclass('k5') IS NOT NULL;\n",
}
# What each transactional version leaves: all of it, or none of it.
TRANSACTIONAL = {1: [("k1", "a")], 2: [("k2", None)], 4: [("k4", None), ("k2", "d")],
                 5: [("k5", None)]}
NO_TRANSACTION = ["n3a", "n3b", "n3c"]  # in statement order


class SigkillTest(ReliabilityCase):

    def setUp(self):
        super().setUp()
        self.dir = self.make_dir(FILES)
        seed = os.environ.get("RELIABILITY_SEED")
        self.seed = int(seed) if seed else random.randrange(1 << 30)
        self.rng = random.Random(self.seed)

    def up(self, *args):
        return self.run_migrator("up", "--dir", self.dir, *args, timeout=DEADLINE)

    def present(self, table, column):
        if column is None:
            return self.table_exists(table)
        return self.table_exists(table) and self.column_exists(table, column)

    def history(self):
        if not self.table_exists("schema_migrations"):
            return {}
        return dict(self.query("SELECT version, status FROM schema_migrations"))

    def assertAgree(self, where):
        """History and schema agree; returns the versions recorded applied."""
        self.wait_until(lambda: self.other_backends() == 0,
                        "the killed migrator's backends to end")
        hist = self.history()
        msg = "%s (seed %d): history %r" % (where, self.seed, hist)
        for v, objs in TRANSACTIONAL.items():
            present = [self.present(t, c) for t, c in objs]
            self.assertNotEqual(hist.get(v), "failed", msg)
            if v in hist:
                self.assertEqual(hist[v], "applied", msg)
                self.assertTrue(all(present), "%s: version %d applied without its objects" % (msg, v))
            else:
                self.assertFalse(any(present), "%s: version %d not recorded but changed the schema"
                                 % (msg, v))
        kept = [self.table_exists(t) for t in NO_TRANSACTION]
        # A no-transaction file keeps the statements it committed: a prefix.
        self.assertEqual(kept, sorted(kept, reverse=True), msg)
        if hist.get(3) == "applied":
            self.assertTrue(all(kept), msg)
        self.assertEqual(self.invalid_indexes(), [], msg)
        return sorted(v for v, s in hist.items() if s == "applied")

    def reset(self):
        self.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public")

    def test_sigkill_at_random_points(self):
        # Calibrate the window on an uninterrupted run, so kills land from
        # before the connection to after the last COMMIT.
        t0 = time.monotonic()
        self.assertExit(self.up(), 0)
        window = time.monotonic() - t0
        self.reset()
        landed = {}  # applied versions at the kill -> how many times
        partial_notx = 0
        kills = finished_first = 0
        while kills < KILLS:
            for _ in range(min(self.rng.choice((1, 1, 2)), KILLS - kills)):  # sometimes the resumed run too
                proc = self.start_migrator("up", "--dir", self.dir)
                time.sleep(self.rng.uniform(0, window))
                proc.send_signal(signal.SIGKILL)
                r = self.finish(proc, timeout=DEADLINE)
                self.assertIn(r.rc, (-signal.SIGKILL, 0), r.describe())
                if r.rc == 0:  # the run ended before the signal: not a kill
                    finished_first += 1
                    self.assertAgree("after a run the signal missed")
                    continue
                kills += 1
                applied = self.assertAgree("after kill %d" % kills)
                key = ",".join(map(str, applied)) or "none"
                landed[key] = landed.get(key, 0) + 1
                if self.history().get(3) is None and self.table_exists("n3a"):
                    partial_notx += 1
            r = self.up()
            self.assertExit(r, 0, "the run after kill %d (seed %d)" % (kills, self.seed))
            self.assertEqual(self.assertAgree("after the run after kill %d" % kills), [1, 2, 3, 4, 5])
            self.assertExit(self.run_migrator("check", "--dir", self.dir), 0)
            self.reset()
        report("sigkill", kills=kills, runs_finished_before_the_signal=finished_first,
               seed=self.seed, window_s=round(window, 3),
               applied_at_kill=landed, notx_partial=partial_notx)
        # The kills must have landed at different points, not all before the
        # connection: some with nothing applied, some in the middle.
        self.assertGreater(len(landed), 1 if KILLS < 10 else 2, landed)


if __name__ == "__main__":
    unittest.main()
