"""
test_index_window.py
    When and how much the indexer builds (issue 15), against the real
    cluster: build windows (--window, --time-zone, the file's settings, a
    definition's own window), --max-builds, --max-runtime, the size
    estimate and --max-index-size.

    Windows are tested with a fixed clock from libfaketime (Debian's
    faketime, preloaded with FAKETIME='@DATE': toolkit_test.clock_at), never
    with a hook in the binary.  It starts the clock at DATE and lets it run,
    monotonic clocks included (offset, not frozen), so the engine's
    deadlines and backoffs keep working; test_budget_under_faketime proves it.

tests/integration/test_index_window.py
"""

import json
import os
import signal
import threading
import time

import psycopg2

from toolkit_test import ToolkitTestCase, _DEFAULT

# The budget tests' bounds: a 4s budget and a blocker that holds for 10s.  Under
# TOOLKIT_TEST_WRAPPER (valgrind) a run's start-up alone can outlast 4s (it did,
# under libfaketime), and a budget spent before the first build defers both, which
# is right but not what they test: there, 40s and 60s.
WRAPPED = bool(os.environ.get("TOOLKIT_TEST_WRAPPER"))
BUDGET_S, BLOCKER_S = (40, 60.0) if WRAPPED else (4, 10.0)
# the clock's start for the window test: the window closes 5s (40s under a wrapper) into the run, while
# the first build still waits for the blocker (under valgrind the start-up alone takes over 5s)
WINDOW_CLOSING_AT = "2026-12-05 04:59:20" if WRAPPED else "2026-12-05 04:59:55"

# 2026-12-01 is a Tuesday, 2026-12-05 a Saturday.
TUESDAY_NOON = "2026-12-01 12:00:00"
SATURDAY_2AM = "2026-12-05 02:00:00"


def definition(name, table, column, critical=False, extra=""):
    return ('  { name = "%s"; table = "%s"; critical = %s;%s\n'
            '    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)"; }'
            % (name, table, "true" if critical else "false", extra, name, table, column))


class WindowTestCase(ToolkitTestCase):

    def setUp(self):
        super().setUp()

    def config(self, defs, settings=""):
        text = "indexes = (\n%s\n);\n" % ",\n".join(defs)
        if settings:
            text += "settings = { %s };\n" % settings
        d = self.make_dir({"indexes.cfg": text})
        return os.path.join(d, "indexes.cfg")

    def run_at(self, when, *args, env=None, timeout=120):
        """The indexer with the clock starting at when (UTC), under libfaketime."""
        argv = self._argv("INDEXER", args, _DEFAULT)
        e = self.clock_at(when)
        e.update(env or {})
        return self.run_program(argv, env=e, timeout=timeout)

    def wait_until(self, fn, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if fn():
                return
            time.sleep(0.05)
        self.fail("gave up waiting for %s" % what)

    def index_valid(self, name):
        rows = self.query("SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                          "WHERE c.relname = %s", (name,))
        return rows[0][0] if rows else None


class WindowTest(WindowTestCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE w (id int, a int, b int)")
        self.query("INSERT INTO w SELECT g, g, g FROM generate_series(1, 1000) g")

    def test_inside_the_window_builds(self):
        cfg = self.config([definition("idx_w_a", "w", "a")])
        r = self.run_at(SATURDAY_2AM, "build", "-c", cfg, "--window", "Sat-Sun 01:00-05:00")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"summary: 1 built, .* 0 deferred")
        self.assertTrue(self.index_valid("idx_w_a"))

    def test_outside_the_window_plans_and_waits(self):
        cfg = self.config([definition("idx_w_a", "w", "a")])
        r = self.run_at(TUESDAY_NOON, "build", "-c", cfg, "--window", "Sat-Sun 01:00-05:00")
        self.assertExit(r, 0)
        self.assertStderrMatches(
            r, r'"idx_w_a" on "public.w" waits for the window \(it opens Sat 2026-12-05 01:00 UTC\)')
        self.assertStderrMatches(r, r"1 build deferred to a later run; the window next opens Sat 2026-12-05 01:00 UTC")
        self.assertStderrMatches(r, r"summary: 0 built, .* 1 deferred")
        self.assertIsNone(self.index_valid("idx_w_a"))
        p = self.run_at(TUESDAY_NOON, "plan", "-c", cfg, "--window", "Sat-Sun 01:00-05:00")
        self.assertExit(p, 0)
        self.assertRegex(p.stdout, r"build +idx_w_a on public\.w: missing \(estimated .*\); deferred: it waits for the "
                                   r"window \(it opens Sat 2026-12-05 01:00 UTC\)")

    def test_a_window_across_midnight_starts_on_the_day_named(self):
        cfg = self.config([definition("idx_w_a", "w", "a")])
        # Monday 22:00 to Tuesday 02:00: Tuesday 01:30 is inside
        r = self.run_at("2026-12-01 01:30:00", "build", "-c", cfg, "--window", "Mon,Wed 22:00-02:00")
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_w_a"))
        # Tuesday 22:30 is not: Tuesday is not listed
        cfg = self.config([definition("idx_w_b", "w", "b")])
        r = self.run_at("2026-12-01 22:30:00", "build", "-c", cfg, "--window", "Mon,Wed 22:00-02:00")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_w_b" on "public.w" waits for the window \(it opens Wed 2026-12-02 '
                                    r'22:00 UTC\)')
        self.assertIsNone(self.index_valid("idx_w_b"))

    def test_windows_repeat_into_a_union(self):
        cfg = self.config([definition("idx_w_a", "w", "a")])
        r = self.run_at(TUESDAY_NOON, "build", "-c", cfg, "--window", "Sat-Sun 01:00-05:00",
                        "--window", "Tue 11:00-13:00")
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_w_a"))

    def test_time_zone(self):
        cfg = self.config([definition("idx_w_a", "w", "a")])
        # 01:30 UTC is 02:30 in Berlin in December: past a 01:00-02:00 window there
        r = self.run_at("2026-12-01 01:30:00", "build", "-c", cfg, "--window", "01:00-02:00",
                        "--time-zone", "Europe/Berlin")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"waits for the window \(it opens Wed 2026-12-02 01:00 CET\)")
        self.assertIsNone(self.index_valid("idx_w_a"))
        r = self.run_at("2026-12-01 00:30:00", "build", "-c", cfg, "--window", "01:00-02:00",
                        "--time-zone", "Europe/Berlin")
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_w_a"))

    def test_spring_forward_does_not_lose_the_window(self):
        """2026-03-29 01:30 UTC is 03:30 CEST: the clock jumped over 02:00-03:00, which opened at 03:00."""
        cfg = self.config([definition("idx_w_a", "w", "a")])
        r = self.run_at("2026-03-29 01:30:00", "build", "-c", cfg, "--window", "02:00-03:00",
                        "--time-zone", "Europe/Berlin")
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_w_a"))

    def test_fall_back_covers_both_passes_of_the_hour(self):
        """2026-11-01 06:30 UTC is the second 01:30 in New York (EST)."""
        cfg = self.config([definition("idx_w_a", "w", "a")])
        r = self.run_at("2026-11-01 06:30:00", "build", "-c", cfg, "--window", "01:00-02:00",
                        "--time-zone", "America/New_York")
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_w_a"))

    def test_file_settings_and_the_command_line_over_them(self):
        cfg = self.config([definition("idx_w_a", "w", "a")],
                          'window = "Sat-Sun 01:00-05:00"; time_zone = "Europe/Berlin";')
        r = self.run_at(TUESDAY_NOON, "build", "-c", cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"waits for the window \(it opens Sat 2026-12-05 01:00 CET\)")
        self.assertIsNone(self.index_valid("idx_w_a"))
        r = self.run_at(TUESDAY_NOON, "build", "-c", cfg, "--window", "any")
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_w_a"))

    def test_a_definition_overrides_the_window(self):
        cfg = self.config([definition("idx_w_a", "w", "a", extra=' window = "any";'),
                           definition("idx_w_b", "w", "b", extra=' window = "Tue 11:00-13:00";'),
                           definition("idx_w_id", "w", "id")])
        r = self.run_at(TUESDAY_NOON, "build", "-c", cfg, "--window", "Sat-Sun 01:00-05:00")
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_w_a"))
        self.assertTrue(self.index_valid("idx_w_b"))
        self.assertIsNone(self.index_valid("idx_w_id"))
        self.assertStderrMatches(r, r"summary: 2 built, .* 1 deferred")

    def test_a_deferred_critical_index_exits_0_and_says_so(self):
        cfg = self.config([definition("idx_w_a", "w", "a", critical=True)])
        r = self.run_at(TUESDAY_NOON, "build", "-c", cfg, "--window", "Sat-Sun 01:00-05:00")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'warning: critical index "idx_w_a" on "public.w" is not built on this run: '
                                    r'it waits for the window')
        # the readiness gate still says it is missing
        self.assertExit(self.run_indexer("check", "-c", cfg), 5)

    def test_a_drop_is_not_a_build_and_runs_outside_the_window(self):
        self.query("CREATE INDEX idx_w_old ON w (a)")
        cfg = self.config(['  { name = "idx_w_old"; table = "w"; state = "absent"; }',
                           definition("idx_w_b", "w", "b")])
        r = self.run_at(TUESDAY_NOON, "build", "-c", cfg, "--window", "Sat-Sun 01:00-05:00")
        self.assertExit(r, 0)
        self.assertIsNone(self.index_valid("idx_w_old"))
        self.assertIsNone(self.index_valid("idx_w_b"))
        self.assertStderrMatches(r, r"summary: 0 built, .* 1 dropped, .* 1 deferred")

    def test_requires_index_ignores_the_window_and_budgets(self):
        cfg = self.config([definition("idx_w_a", "w", "a", critical=True)],
                          'window = "Sat-Sun 01:00-05:00"; max_builds = 1; max_runtime = "1ms";')
        d = self.make_dir({"1_req.sql": "-- migrator:requires-index idx_w_a\n"
                                        "COMMENT ON INDEX idx_w_a IS 'needed';\n"})
        argv = self._argv("MIGRATOR", ["up", "--dir", d, "--index-config", cfg], _DEFAULT)
        r = self.run_program(argv, env=self.clock_at(TUESDAY_NOON))
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_w_a"))
        self.assertEqual(self.scalar("SELECT obj_description('idx_w_a'::regclass, 'pg_class')"), "needed")

    def test_bad_windows_and_zones(self):
        cfg = self.config([definition("idx_w_a", "w", "a")])
        r = self.run_indexer("build", "-c", cfg, "--window", "25:00-01:00")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'option --window: invalid window "25:00-01:00" \(use \[DAYS \]HH:MM-HH:MM')
        r = self.run_indexer("build", "-c", cfg, "--window", "Xyz 01:00-02:00")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'option --window: unknown day "Xyz"')
        r = self.run_indexer("build", "-c", cfg, "--time-zone", "Mars/Olympus")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'option --time-zone: unknown time zone "Mars/Olympus"')
        bad = self.config([definition("idx_w_a", "w", "a", extra=' window = "Mon 9:00-10:00";')])
        r = self.run_indexer("build", "-c", bad)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'indexes\.cfg:2: index "idx_w_a": field "window": invalid window')
        bad = self.config([definition("idx_w_a", "w", "a")], 'window = "Sat-Sun";')
        r = self.run_indexer("build", "-c", bad)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'indexes\.cfg:\d+: .*window.*invalid window "Sat-Sun"')
        self.assertIsNone(self.index_valid("idx_w_a"))


class BudgetTest(WindowTestCase):

    def test_max_builds(self):
        for t in ("m1", "m2", "m3"):
            self.query("CREATE TABLE %s (a int)" % t)
        cfg = self.config([definition("idx_m1", "m1", "a"), definition("idx_m2", "m2", "a"),
                           definition("idx_m3", "m3", "a")])
        r = self.run_indexer("build", "-c", cfg, "--max-builds", "2")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_m3" on "public.m3" waits for the next run \(--max-builds 2 reached\)')
        self.assertStderrMatches(r, r"summary: 2 built, .* 1 deferred")
        self.assertEqual([self.index_valid(n) for n in ("idx_m1", "idx_m2", "idx_m3")], [True, True, None])
        r = self.run_indexer("build", "-c", cfg, "--max-builds", "2")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"summary: 1 built, 2 present, .* 0 deferred")
        self.assertTrue(self.index_valid("idx_m3"))

    def budget_run(self, runner, *limits, expect=r"waits for the next run \(--max-runtime %ds spent\)" % BUDGET_S):
        """A budget that expires while the first build waits: it finishes, the next is deferred.
        The blocker holds for 10s and the budget is 4s: on a loaded machine the run's start-up
        (connecting, reading the catalog, the guards) alone can take more than a second, and a
        budget spent before the first build starts defers both builds (which is right, but not
        what this test is about)."""
        self.query("CREATE TABLE big (id int, a int, b int)")
        self.query("INSERT INTO big SELECT g, g, g FROM generate_series(1, 200000) g")
        cfg = self.config([definition("idx_big_a", "big", "a"), definition("idx_big_b", "big", "b")])
        # an open writing transaction the first concurrent build must wait for, ended after 3s
        blocker = psycopg2.connect(self.dsn)
        self.addCleanup(blocker.close)
        with blocker.cursor() as cur:
            cur.execute("UPDATE big SET a = a WHERE id = 1")
        timer = threading.Timer(BLOCKER_S, blocker.rollback)
        timer.start()
        self.addCleanup(timer.cancel)
        started = time.monotonic()
        r = runner("build", "-c", cfg, *(limits or ("--max-runtime", "%ds" % BUDGET_S)))
        elapsed = time.monotonic() - started
        self.assertExit(r, 0)
        self.assertGreaterEqual(elapsed, BLOCKER_S - 0.5, "the first build did not wait for the open transaction: %s" % r.stderr)
        self.assertStderrMatches(r, r'"idx_big_b" on "public.big" not started: it ' + expect)
        self.assertStderrMatches(r, r"summary: 1 built, .* 1 deferred")
        self.assertTrue(self.index_valid("idx_big_a"))
        self.assertIsNone(self.index_valid("idx_big_b"))

    def test_max_runtime(self):
        self.budget_run(self.run_indexer)

    def test_budget_under_faketime(self):
        """libfaketime offsets the monotonic clock too, but lets it run: the deadline still works."""
        self.budget_run(lambda *a: self.run_at(TUESDAY_NOON, *a))


    def test_no_build_starts_after_the_window_closes(self):
        """The window closes 5s into the run (40s under a wrapper), while the first build waits: the
        second is not started."""
        self.budget_run(lambda *a: self.run_at(WINDOW_CLOSING_AT, *a), "--window", "Sat-Sun 01:00-05:00",
                        expect=r"waits for the window \(it closed during this run\)")


    def test_sigterm_under_faketime(self):
        """The cancel thread and its deadline work under libfaketime: SIGTERM mid-build is 143, at once."""
        self.query("CREATE TABLE big (id int, a int)")
        self.query("INSERT INTO big SELECT g, g FROM generate_series(1, 1000) g")
        cfg = self.config([definition("idx_big_a", "big", "a")])
        blocker = psycopg2.connect(self.dsn)
        self.addCleanup(blocker.close)
        with blocker.cursor() as cur:
            cur.execute("UPDATE big SET a = a WHERE id = 1")
        argv = self._argv("INDEXER", ["build", "-c", cfg, "--window", "Sat 01:00-05:00"], _DEFAULT)
        proc = self._start(argv, self.clock_at(SATURDAY_2AM))
        self.wait_until(lambda: self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query LIKE '%%CREATE INDEX CONCURRENTLY%%' AND wait_event = 'virtualxid'") == 1,
            "the build to wait for the open transaction")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        r = self.finish(proc)
        self.assertExit(r, 143)
        self.assertLess(time.monotonic() - started, 15)
        self.assertStderrMatches(r, r"signal 15: canceling 1 statement in flight")
        # the window was open: the clock was faked (a closed window would have deferred the build)
        self.assertStderrMatches(r, r'building "idx_big_a" on "public.big"')
        blocker.rollback()


class SizeTest(WindowTestCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE s (id int, v bigint, t text)")
        self.query("INSERT INTO s SELECT g, g * 7, md5(g::text) FROM generate_series(1, 100000) g")
        self.query("ANALYZE s")

    def plan_json(self, cfg, *args):
        r = self.run_indexer("plan", "-c", cfg, "--log-format", "json", *args)
        self.assertExit(r, 0)
        return {o["name"]: o for o in map(json.loads, r.stdout.splitlines())}

    def test_the_estimate_is_within_a_factor_of_two_of_the_real_size(self):
        cfg = self.config([definition("idx_s_v", "s", "v"), definition("idx_s_t", "s", "t"),
                           definition("idx_s_id_v", "s", "id, v")])
        plan = self.plan_json(cfg)
        r = self.run_indexer("build", "-c", cfg)
        self.assertExit(r, 0)
        for name in ("idx_s_v", "idx_s_t", "idx_s_id_v"):
            est = plan[name]["estimated_bytes"]
            real = self.scalar("SELECT pg_relation_size(%s::regclass)", (name,))
            self.assertIsNotNone(est, name)
            self.assertTrue(0.5 * real <= est <= 2 * real, "%s: estimated %d, built %d" % (name, est, real))
        p = self.run_indexer("plan", "-c", cfg)
        self.assertRegex(p.stdout, r"present +idx_s_v on public\.s\n")

    def test_plan_prints_the_estimate_and_unknown_never_0(self):
        self.query("CREATE TABLE fresh (a int)")  # never analyzed: reltuples = -1
        cfg = self.config([definition("idx_s_v", "s", "v"), definition("idx_s_lower", "s", "lower(t)"),
                           definition("idx_fresh_a", "fresh", "a")])
        r = self.run_indexer("plan", "-c", cfg)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"build +idx_s_v on public\.s: missing \(estimated \d+\.\d MB\)\n")
        self.assertRegex(r.stdout, r"build +idx_s_lower on public\.s: missing \(estimated unknown: an expression has no "
                                   r"statistics\)")
        self.assertRegex(r.stdout, r"build +idx_fresh_a on public\.fresh: missing \(estimated unknown: the table has not "
                                   r"been analyzed \(reltuples = -1\)\)")
        plan = self.plan_json(cfg)
        self.assertIsNone(plan["idx_s_lower"]["estimated_bytes"])
        self.assertIsNone(plan["idx_fresh_a"]["estimated_bytes"])

    def test_size_guard_non_critical_is_a_warning(self):
        cfg = self.config([definition("idx_s_v", "s", "v")])
        r = self.run_indexer("build", "-c", cfg, "--max-index-size", "1MB")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'warning: "idx_s_v" on "public.s" skipped: size guard: estimated \d\.\d MB '
                                    r'exceeds --max-index-size 1\.0 MB \(not critical')
        self.assertIsNone(self.index_valid("idx_s_v"))
        r = self.run_indexer("build", "-c", cfg, "--max-index-size", "10MB")
        self.assertExit(r, 0)
        self.assertTrue(self.index_valid("idx_s_v"))

    def test_size_guard_critical_is_exit_1(self):
        cfg = self.config([definition("idx_s_v", "s", "v", critical=True)])
        r = self.run_indexer("build", "-c", cfg, "--max-index-size", "1MB")
        self.assertExit(r, 1)
        self.assertStderrMatches(r, r'error: critical index "idx_s_v" on "public.s" cannot be built: size guard: '
                                    r'estimated \d\.\d MB exceeds --max-index-size 1\.0 MB')
        self.assertIsNone(self.index_valid("idx_s_v"))

    def test_unknown_size_is_refused_unless_allowed(self):
        cfg = self.config([definition("idx_s_lower", "s", "lower(t)")])
        r = self.run_indexer("build", "-c", cfg, "--max-index-size", "1GB")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'"idx_s_lower" on "public.s" skipped: size guard: the size is unknown '
                                    r'\(an expression has no statistics\) and --max-index-size 1\.0 GB is set; '
                                    r'pass --allow-unknown-size')
        self.assertIsNone(self.index_valid("idx_s_lower"))
        r = self.run_indexer("build", "-c", cfg, "--max-index-size", "1GB", "--allow-unknown-size")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'warning: "idx_s_lower" on "public.s": size unknown')
        self.assertTrue(self.index_valid("idx_s_lower"))
