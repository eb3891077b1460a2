"""
test_traffic.py
    Live traffic: pgbench (TPC-B, read/write) runs on the test database while

    - a long transaction holds ROW EXCLUSIVE on pgbench_accounts (an open
      UPDATE of a row pgbench never touches) and the migrator alters that
      table: sampled from pg_locks, each of the migrator's lock waits is one
      attempt that ends (no more waits than attempts, each blocked by the
      holder, each ended by a lock timeout), pgbench backends only ever wait
      behind the migrator's queued request while it waits, the migrator
      fails hard (exit 1, nothing recorded) or succeeds (exit 0, the column
      there), and no pgbench transaction fails;
    - the indexer builds and drops indexes on pgbench_accounts concurrently:
      no pgbench backend ever waits on a lock an indexer backend holds, and
      amcheck's bt_index_check(idx, heapallindexed => true) passes on every
      index built.

The latency figures (p50, p99, max of pgbench's per-transaction log, with
and without the program) are reported, never asserted: see reliability.py.

tests/reliability/test_traffic.py
"""

import os
import time
import unittest

from reliability import (DEADLINE, SECONDS, ERROR_MIGRATOR, LockSampler, ReliabilityCase,
                         percentiles, report)

LOCK_TIMEOUT = "200ms"
TABLE = "pgbench_accounts"


def figures(lat):
    p = percentiles(lat)
    return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in p.items()}


class TrafficCase(ReliabilityCase):

    def setUp(self):
        super().setUp()
        self.pgbench_init()
        self.addCleanup(self.reset_query_conn)

    def sampler(self, extra=None):
        s = LockSampler(self.dsn, extra)
        self.addCleanup(s.stop)
        return s


class MigratorUnderTraffic(TrafficCase):

    def migrator_waiting(self):
        return self.scalar("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                           "WHERE NOT l.granted AND a.application_name = 'migrator' "
                           "AND a.datname = current_database() AND l.relation = %s::regclass", (TABLE,))

    def test_alter_behind_a_row_exclusive_holder(self):
        self.query("INSERT INTO pgbench_accounts (aid, bid, abalance, filler) VALUES (0, 1, 0, '')")
        holder = self.hold_lock("UPDATE pgbench_accounts SET abalance = abalance WHERE aid = 0",
                                application_name="row_exclusive_holder")
        holder_pid = holder.get_backend_pid()
        d = self.make_dir({"1_note.sql": "ALTER TABLE pgbench_accounts ADD COLUMN note text;\n"})

        # Without the migrator: the holder alone stalls nobody.
        bench = self.start_pgbench()
        baseline = self.finish_pgbench(bench)

        sampler = self.sampler("SELECT pid FROM pg_stat_activity WHERE application_name = 'migrator' "
                               "AND datname = current_database()")
        bench = self.start_pgbench()
        time.sleep(1)  # staging only: let pgbench reach its stride
        t_start = time.time()
        fail = self.run_migrator("up", "--dir", d, "--lock-timeout", LOCK_TIMEOUT, "--retries", "2",
                                 timeout=DEADLINE)
        fail_samples = len(sampler.samples)
        # The second run succeeds: the holder commits while it waits.
        ok_proc = self.start_migrator("up", "--dir", d, "--lock-timeout", LOCK_TIMEOUT, "--retries", "10")
        self.wait_until(self.migrator_waiting, "the second migrator to wait for its lock")
        holder.commit()
        ok = self.finish(ok_proc, timeout=DEADLINE)
        t_end = time.time()
        with_migrator = self.finish_pgbench(bench)
        # The transactions that ended while a migrator ran (wall clock of
        # this machine, which pgbench's log uses too): the stalls it caused.
        during = [lat for end, lat in bench.ends if t_start <= end <= t_end + 1]
        samples = sampler.stop()

        self.assertExit(fail, 1)
        self.assertLastLineMatches(fail, ERROR_MIGRATOR + r"migration 1 failed at .*1_note\.sql:1: 55P03: "
                                   r".*lock timeout \(after 3 attempts\)")
        self.assertExit(ok, 0)
        self.assertTrue(self.column_exists(TABLE, "note"))
        self.assertEqual(self.query("SELECT version, status FROM schema_migrations"), [(1, "applied")])

        episodes = {}  # waitstart of a migrator lock wait -> (blockers seen, samples, max wait)
        pgbench_waits = pgbench_waits_being_granted = 0
        for i, (rows, extra) in enumerate(samples):
            migrator = {r[0] for r in extra}  # waiting, or granted and altering
            for pid, app, locktype, mode, rel, waitstart, blockers, now in rows:
                if app == "migrator" and rel == TABLE:
                    self.assertEqual(mode, "AccessExclusiveLock")
                    e = episodes.setdefault((i < fail_samples, waitstart), [set(), 0, 0.0])
                    e[0].update(blockers)
                    e[1] += 1
                    e[2] = max(e[2], (now - waitstart).total_seconds())
                elif app == "pgbench" and locktype == "relation" and rel == TABLE:
                    # pgbench waits on the table only behind the migrator (its
                    # queued request, or the lock it was granted), never
                    # behind the holder's ROW EXCLUSIVE.  pg_locks and
                    # pg_blocking_pids() are not read at one instant: a
                    # wait whose migrator request just timed out can show
                    # no blocker at all (it is being granted); that is
                    # behind nobody, which the rule allows, and is counted.
                    pgbench_waits += 1
                    self.assertNotIn(holder_pid, blockers)
                    self.assertTrue(set(blockers) <= migrator,
                                    "pgbench waits on %s behind %r, migrator %r" % (TABLE, blockers, migrator))
                    if not blockers:
                        pgbench_waits_being_granted += 1
        failed_run = [e for (first, _), e in episodes.items() if first]
        self.assertTrue(failed_run, "no lock wait of the first migrator was sampled")
        # One wait per attempt at most (3 attempts, the last line says so),
        # each blocked by the holder: every wait ended with its attempt's
        # lock timeout, never one wait spanning attempts.
        self.assertLessEqual(len(failed_run), 3)
        for blockers, _, _ in failed_run:
            self.assertIn(holder_pid, blockers)
        # Nothing of the migrator waits or holds a lock on the table now (in this
        # database: ctest -j runs other modules' migrators on the same cluster).
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
                                     "ON a.pid = l.pid WHERE a.application_name = 'migrator' "
                                     "AND a.datname = current_database()"), 0)
        report("migrator_under_pgbench", seconds=SECONDS, lock_timeout=LOCK_TIMEOUT,
               without_migrator_ms=figures(baseline), with_migrator_ms=figures(with_migrator),
               while_a_migrator_ran_ms=figures(during), migrator_runs_s=round(t_end - t_start, 2),
               transactions=[len(baseline), len(with_migrator)],
               lock_wait_episodes=len(episodes), first_run_episodes=len(failed_run),
               max_sampled_wait_s=round(max(e[2] for e in episodes.values()), 3),
               pgbench_relation_waits_sampled=pgbench_waits,
               pgbench_waits_sampled_as_being_granted=pgbench_waits_being_granted, samples=len(samples))


class BuildsUnderTraffic(TrafficCase):

    def config(self, state):
        defs = [("idx_bench_bid_abalance", "bid, abalance"), ("idx_bench_abalance", "abalance")]
        body = ",\n".join('  { name = "%s"; table = "pgbench_accounts"; critical = true; state = "%s"; '
                          'sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON pgbench_accounts (%s)"; }'
                          % (n, state, n, cols) for n, cols in defs)
        d = self.make_dir({"indexes.cfg": "indexes = (\n" + body + "\n);\n"})
        return os.path.join(d, "indexes.cfg"), [n for n, _ in defs]

    def test_concurrent_builds_under_write_load(self):
        present, names = self.config("present")
        absent, _ = self.config("absent")
        self.query("CREATE EXTENSION amcheck")

        bench = self.start_pgbench()
        baseline = self.finish_pgbench(bench)

        # Every indexer backend at sample time, waiting or not.
        sampler = self.sampler("SELECT pid FROM pg_stat_activity WHERE application_name = 'indexer' "
                               "AND datname = current_database()")
        bench = self.start_pgbench()
        builds = checks = 0
        while bench.poll() is None or builds == 0:
            r = self.run_indexer("-c", present, timeout=DEADLINE)
            self.assertExit(r, 0)
            builds += 1
            for name in names:
                self.assertTrue(self.scalar("SELECT indisvalid AND indisready FROM pg_index "
                                            "WHERE indexrelid = %s::regclass", (name,)), name)
                self.query("SELECT bt_index_check(%s::regclass, heapallindexed => true)", (name,))
                checks += 1
            if bench.poll() is None:
                self.assertExit(self.run_indexer("-c", absent, timeout=DEADLINE), 0)
        with_builds = self.finish_pgbench(bench)
        samples = sampler.stop()

        indexer_blocking = []
        pgbench_waits = 0
        with_indexer = 0
        for rows, extra in samples:
            indexer_pids = {r[0] for r in extra}
            with_indexer += bool(indexer_pids)
            for pid, app, locktype, mode, rel, waitstart, blockers, now in rows:
                if app != "pgbench":
                    continue
                pgbench_waits += 1
                # pg_blocking_pids names the holders and the requests queued
                # ahead alike: neither may be a build.
                if set(blockers) & indexer_pids:
                    indexer_blocking.append((pid, locktype, mode, rel, blockers))
        self.assertGreater(with_indexer, 0, "no sample saw an indexer backend")
        self.assertEqual(indexer_blocking, [], "pgbench waited on an indexer backend")
        self.assertEqual(self.invalid_indexes(), [])
        self.query("SELECT bt_index_check('pgbench_accounts_pkey'::regclass, heapallindexed => true)")
        report("builds_under_pgbench", seconds=SECONDS, builds=builds, amcheck_passes=checks,
               without_builds_ms=figures(baseline), with_builds_ms=figures(with_builds),
               transactions=[len(baseline), len(with_builds)],
               pgbench_lock_waits_sampled=pgbench_waits, samples=len(samples),
               samples_with_an_indexer=with_indexer)


if __name__ == "__main__":
    unittest.main()
