"""
test_messages.py
    Integration tests of the messages that point at the real fix (issue 14):
    the command a message names exists and works, a server HINT is a hint
    after its error, counts read naturally, --version is the program's
    version only, unknown words get the nearest name, a missing file is
    "not found" with what sets its path, the indexer's advice works when
    followed, plan predicts build's exit code, status shows sizes as psql
    does and durations as the history recorded them, and colour follows
    --color, NO_COLOR and the terminal.

Each test asserts exit code, message and catalog state together.

tests/integration/test_messages.py
"""

import json
import os
import pty
import re
import subprocess

from toolkit_test import ToolkitTestCase

TWO = {
    "1_a.sql": "CREATE TABLE a (id int);\n",
    "2_b.sql": "CREATE TABLE b (id int);\n",
}

ESC = "\x1b["


def cic(name, table, cols):
    return "CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s (%s)" % (name, table, cols)


def cfg_text(defs):
    lines = ["indexes = ("]
    for i, d in enumerate(defs):
        body = " ".join("%s = %s;" % (k, ("true" if v else "false") if isinstance(v, bool)
                                      else '"%s"' % v.replace('"', '\\"'))
                        for k, v in d.items())
        lines.append("  { %s }%s" % (body, "," if i < len(defs) - 1 else ""))
    lines.append(");")
    return "\n".join(lines) + "\n"


class MessagesTestCase(ToolkitTestCase):

    def versions(self, table="schema_migrations"):
        if not self.table_exists(table):
            return None
        return [r[0] for r in self.query("SELECT version FROM %s WHERE status = 'applied' ORDER BY 1"
                                         % self.ident(table))]

    def config(self, defs):
        d = self.make_dir({"indexes.cfg": cfg_text(defs)})
        return os.path.join(d, "indexes.cfg")

    def make_table(self, table, rows=100, schema="public"):
        q = self.ident(schema) + "." + self.ident(table)
        self.query("CREATE TABLE %s (id bigint PRIMARY KEY, a int, b int)" % q)
        if rows:
            self.query("INSERT INTO %s SELECT g, g %% 10, g %% 7 FROM generate_series(1, %d) g" % (q, rows))
        self.query("ANALYZE %s" % q)

    def index_exists(self, name, schema="public"):
        return self.scalar("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'i'", (schema, name)) == 1


class CheckAndRepairMessages(MessagesTestCase):

    def test_check_names_migrator_up_and_the_advice_works(self):
        d = self.make_dir(TWO)
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 5)
        self.assertLastLineMatches(
            r, r'^migrator: error: schema out of date: 2 pending \(first: 1_a\) \u2014 run "migrator up"$')
        self.assertIsNone(self.versions())  # check creates nothing
        # the advice, followed, makes check pass
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        self.assertExit(self.run_migrator("check", "--dir", d), 0)
        self.assertEqual([1, 2], self.versions())

    def test_repair_counts_read_naturally(self):
        d = self.make_dir(TWO)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        r = self.run_migrator("repair", "--dir", d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(
            r, r"^migrator: nothing to repair: every applied file matches its recorded checksum$")
        self.assertNoLine(r, r"repaired 0")
        with open(os.path.join(d, "1_a.sql"), "a") as f:
            f.write("-- reviewed\n")
        r = self.run_migrator("repair", "--dir", d)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"^migrator: repaired 1 version$")
        for name in ("1_a.sql", "2_b.sql"):
            with open(os.path.join(d, name), "a") as f:
                f.write("-- again\n")
        r = self.run_migrator("repair", "--dir", d)
        self.assertLastLineMatches(r, r"^migrator: repaired 2 versions$")
        self.assertExit(self.run_migrator("check", "--dir", d), 0)


class ServerHints(MessagesTestCase):

    def test_hint_is_a_hint_after_the_error(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int DEFAULT no_such_fn(1));\n"})
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 1)
        lines = [ln for ln in r.lines if ln.strip()]
        self.assertRegex(lines[-2], r"^migrator: error: migration 1 failed at .*1_t\.sql:1: 42883: "
                                    r"function no_such_fn\(integer\) does not exist$")
        self.assertEqual(lines[-1], "migrator: hint: No function matches the given name and argument types. "
                                    "You might need to add explicit type casts.")
        self.assertNoLine(r, r"error: hint:")
        self.assertFalse(self.table_exists("t"))
        self.assertEqual([], self.versions())

    def test_hint_in_json_is_its_own_level(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int DEFAULT no_such_fn(1));\n"})
        r = self.run_migrator("up", "--dir", d, "--log-format", "json")
        self.assertExit(r, 1)
        events = [json.loads(ln) for ln in r.lines if ln.strip()]
        self.assertEqual(("error", "migration_failed"), (events[-2]["level"], events[-2]["event"]))
        self.assertEqual(("hint", "error_hint"), (events[-1]["level"], events[-1]["event"]))
        self.assertNotIn(ESC, r.stderr)
        self.assertFalse(self.table_exists("t"))


class NoDoubledWarning(MessagesTestCase):

    def test_lint_and_server_warnings_say_warning_once(self):
        d = self.make_dir({
            "1_t.sql": "CREATE TABLE t (id int, a int);\n",
            "2_drop.sql": "ALTER TABLE t DROP COLUMN a;\n",
            "3_warn.sql": "DO $$BEGIN RAISE WARNING 'careful now'; END$$;\n",
        })
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"^migrator: warning: .*2_drop\.sql:1:1: drop-column: ")
        self.assertStderrMatches(r, r"^migrator: warning: .*careful now$")
        self.assertNoLine(r, r"warning: .*\bwarning\b")
        self.assertEqual([1, 2, 3], self.versions())
        self.assertFalse(self.column_exists("t", "a"))


class VersionOption(MessagesTestCase):

    def test_version_with_a_value_is_refused_and_suggests_target(self):
        d = self.make_dir(TWO)
        for args in (("up", "--version", "1"), ("up", "--version=1"), ("--version", "1", "up")):
            with self.subTest(args=args):
                r = self.run_migrator(*(args + ("--dir", d)))
                self.assertExit(r, 2)
                self.assertEqual("", r.stdout)
                self.assertLastLineMatches(
                    r, r"^migrator: error: option --version takes no value: it prints the program's version; "
                       r"to stop at version 1, use --target 1 \(baseline: --baseline-version\)$")
        self.assertIsNone(self.versions())
        # the suggestion works
        self.assertExit(self.run_migrator("up", "--dir", d, "--target", "1"), 0)
        self.assertEqual([1], self.versions())
        r = self.run_migrator("--version", dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"^migrator \d+\.\d+\.\d+\n$")
        r = self.run_indexer("plan", "--version", "3", dsn=None)
        self.assertExit(r, 2)
        self.assertLastLineMatches(
            r, r'^indexer: error: option --version takes no value: it prints the program\'s version '
               r'\("3" is left over\)$')

    def test_baseline_version_and_the_deprecated_spelling(self):
        d = self.make_dir(TWO)
        r = self.run_migrator("baseline", "--baseline-version", "1", "--dir", d)
        self.assertExit(r, 0)
        self.assertNoLine(r, r"deprecated")
        self.assertEqual([1], self.versions())
        self.assertEqual("--baseline-version 1; no verify file",
                         self.scalar("SELECT baseline FROM schema_migrations WHERE version = 1"))
        self.assertFalse(self.table_exists("a"))  # recorded, not run

        self.query("DROP TABLE schema_migrations")
        r = self.run_migrator("baseline", "--version", "2", "--dir", d)
        self.assertExit(r, 0)
        self.assertStderrMatches(
            r, r'^migrator: warning: "baseline --version 2" is deprecated: use "baseline --baseline-version 2"$')
        self.assertEqual([1, 2], self.versions())

        r = self.run_migrator("up", "--baseline-version", "2", "--dir", d)
        self.assertExit(r, 2)
        self.assertLastLineMatches(
            r, r"^migrator: error: option --baseline-version belongs to baseline \(up: use --target to stop "
               r"at a version\)$")


class Suggestions(MessagesTestCase):

    def test_unknown_commands_suggest_the_nearest(self):
        cases = [
            (("stauts",), "migrator", r'unknown command "stauts": did you mean "status"\? '
                                      r'\(try "migrator --help"\)'),
            (("chekc",), "migrator", r'unknown command "chekc": did you mean "check"\?'),
            (("frobnicate",), "migrator", r'unknown command "frobnicate" \(try "migrator --help"\)$'),
            (("biuld",), "indexer", r'unknown command "biuld": did you mean "build"\? '
                                    r'\(try "indexer --help"\)'),
            (("stat",), "indexer", r'unknown command "stat": did you mean "status"\?'),
        ]
        for args, prog, message in cases:
            with self.subTest(args=args):
                run = self.run_migrator if prog == "migrator" else self.run_indexer
                r = run(*args, dsn=None)
                self.assertExit(r, 2)
                self.assertLastLineMatches(r, r"^%s: error: %s" % (prog, message))
                self.assertEqual("", r.stdout)

    def test_unknown_options_suggest_the_nearest(self):
        cases = [
            (self.run_migrator, ("up", "--dri", "x"), r'^migrator: error: unknown option "--dri": did you mean '
                                                     r'"--dir"\? \(try "migrator --help"\)$'),
            (self.run_migrator, ("up", "--taget=3"), r'unknown option "--taget": did you mean "--target"\?'),
            (self.run_migrator, ("--colour=never",), r'unknown option "--colour": did you mean "--color"\?'),
            (self.run_indexer, ("build", "--rebuild-drifed"), r'^indexer: error: unknown option '
                                                             r'"--rebuild-drifed": did you mean '
                                                             r'"--rebuild-drifted"\?'),
            (self.run_indexer, ("--bogus",), r'^indexer: error: unknown option "--bogus" '
                                             r'\(try "indexer --help"\)$'),
        ]
        for run, args, message in cases:
            with self.subTest(args=args):
                r = run(*args, dsn=None)
                self.assertExit(r, 2)
                self.assertLastLineMatches(r, message)
        self.assertIsNone(self.versions())


class MissingFiles(MessagesTestCase):

    def test_missing_migrations_dir_names_dir_and_variable(self):
        missing = os.path.join(self.make_dir(), "nope")
        for command in ("up", "status", "check", "lint"):
            with self.subTest(command=command):
                r = self.run_migrator(command, "--dir", missing)
                self.assertExit(r, 2)
                self.assertLastLineMatches(
                    r, r'^migrator: error: migrations directory "%s" not found \(set it with --dir or '
                       r'MIGRATIONS_DIR; the default is "migrations" in the working directory\)$'
                       % re.escape(missing))
                self.assertNoLine(r, r"not valid")
        r = self.run_migrator("up", env={"MIGRATIONS_DIR": missing})
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'migrations directory "%s" not found' % re.escape(missing))
        self.assertIsNone(self.versions())

    def test_missing_index_definitions_file(self):
        missing = os.path.join(self.make_dir(), "indexes.cfg")
        for command in ("build", "plan", "check", "status"):
            with self.subTest(command=command):
                r = self.run_indexer(command, "-c", missing)
                self.assertExit(r, 2)
                self.assertLastLineMatches(
                    r, r'^indexer: error: index definitions file "%s" not found \(set it with --config or '
                       r'INDEXER_CONFIG; the default is "conf/indexes.cfg" in the working directory\)$'
                       % re.escape(missing))
        r = self.run_indexer("plan", env={"INDEXER_CONFIG": missing})
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'index definitions file "%s" not found' % re.escape(missing))

    def test_missing_index_config_of_requires_index(self):
        missing = os.path.join(self.make_dir(), "indexes.cfg")
        d = self.make_dir({"1_t.sql": "-- migrator:requires-index t_a_idx\nCREATE TABLE t2 (id int);\n"})
        r = self.run_migrator("up", "--dir", d, "--index-config", missing)
        self.assertExit(r, 2)
        self.assertLastLineMatches(
            r, r'^migrator: error: a pending migration requires an index, and the index definitions file "%s" '
               r'was not found \(set it with --index-config or INDEXER_CONFIG\); nothing applied$'
               % re.escape(missing))
        self.assertNoLine(r, r"not valid")
        self.assertFalse(self.table_exists("t2"))


class IndexerAdvice(MessagesTestCase):

    def test_drifted_advice_works_when_followed(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_ab", "table": "t", "sql": cic("idx_ab", "t", "a, b")}])
        self.assertExit(self.run_indexer("-c", cfg), 0)
        self.query("DROP INDEX idx_ab")
        self.query("CREATE INDEX idx_ab ON t (a)")
        r = self.run_indexer("-c", cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, r'^indexer: error: index "idx_ab" on "public.t" drifted: .*; '
                                    r'rebuild it with "indexer build --rebuild-drifted"$')
        self.assertLastLineMatches(r, r'^indexer: error: check: 1 of 1 defined index is not in line with .*; '
                                      r'run "indexer build --rebuild-drifted"$')
        r = self.run_indexer("-c", cfg, "plan")
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r'(?m)^drifted +idx_ab on public.t: .*; rebuild it with '
                                   r'"indexer build --rebuild-drifted"$')
        # run the advice, exactly as printed
        self.assertExit(self.run_indexer("-c", cfg, "build", "--rebuild-drifted"), 0)
        self.assertEqual("CREATE INDEX idx_ab ON public.t USING btree (a, b)",
                         self.scalar("SELECT pg_get_indexdef('public.idx_ab'::regclass)"))
        self.assertExit(self.run_indexer("-c", cfg, "check"), 0)

    def test_missing_table_names_it_and_plan_predicts_build(self):
        cfg = self.config([{"name": "t_a_idx", "table": "t", "sql": cic("t_a_idx", "t", "a"),
                            "critical": True}])
        plan = self.run_indexer("-c", cfg, "plan")
        build = self.run_indexer("-c", cfg, "build")
        self.assertExit(plan, 1)
        self.assertExit(build, 1)
        why = (r'table "public.t" does not exist: it must be created by a migration first \(migrator up\), '
               r'then the index can be built')
        self.assertRegex(plan.stdout, r"(?m)^error +t_a_idx on public.t \(critical\): %s$" % why)
        self.assertStderrMatches(plan, r'^indexer: error: critical index "t_a_idx" on "public.t" cannot be '
                                       r'built: %s$' % why)
        self.assertLastLineMatches(plan, r"^indexer: error: plan: 1 critical index cannot be built: "
                                         r"build would exit 1$")
        self.assertStderrMatches(build, r'^indexer: error: critical index "t_a_idx" on "public.t" cannot be '
                                        r'built: %s$' % why)
        self.assertFalse(self.table_exists("t"))
        r = self.run_indexer("-c", cfg, "check")
        self.assertExit(r, 5)
        self.assertLastLineMatches(r, r'^indexer: error: check: 1 of 1 defined index is not in line with .*; '
                                      r'run "migrator up" to create the missing tables, then "indexer build"$')
        # not critical: both go on, exit 0
        cfg = self.config([{"name": "t_a_idx", "table": "t", "sql": cic("t_a_idx", "t", "a"),
                            "critical": False}])
        self.assertExit(self.run_indexer("-c", cfg, "plan"), 0)
        self.assertExit(self.run_indexer("-c", cfg, "build"), 0)
        # the advice followed: the table from a migration, then the index
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int, a int);\n"})
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        cfg = self.config([{"name": "t_a_idx", "table": "t", "sql": cic("t_a_idx", "t", "a"),
                            "critical": True}])
        self.assertExit(self.run_indexer("-c", cfg, "plan"), 0)
        self.assertExit(self.run_indexer("-c", cfg, "build"), 0)
        self.assertTrue(self.index_exists("t_a_idx"))

    def test_status_sizes_as_psql_and_none_for_a_missing_index(self):
        self.make_table("small", rows=0)
        self.make_table("big", rows=700000)
        self.query("CREATE SCHEMA other")
        # a relation named like the missing index, in another schema
        self.query("CREATE TABLE other.missing_idx (x int)")
        self.query("INSERT INTO other.missing_idx SELECT generate_series(1, 50000)")
        self.query("ANALYZE other.missing_idx")
        cfg = self.config([
            {"name": "small_a_idx", "table": "small", "sql": cic("small_a_idx", "small", "a")},
            {"name": "big_a_idx", "table": "big", "sql": cic("big_a_idx", "big", "id")},
            {"name": "missing_idx", "table": "small", "sql": cic("missing_idx", "small", "b")},
        ])
        self.assertExit(self.run_indexer("-c", cfg, "--only", "small_a_idx,big_a_idx"), 0)
        self.query("ANALYZE big")
        r = self.run_indexer("-c", cfg, "status")
        self.assertExit(r, 0)
        expected = {}
        for name in ("small_a_idx", "big_a_idx"):
            expected[name] = self.scalar(
                "SELECT pg_size_pretty(relpages::bigint * current_setting('block_size')::bigint) "
                "FROM pg_class WHERE oid = %s::regclass", ("public." + name,))
        self.assertEqual("8192 bytes", expected["small_a_idx"])
        self.assertRegex(expected["big_a_idx"], r"^\d+ MB$")
        for name, size in expected.items():
            self.assertRegex(r.stdout, r"(?m)^%s +public\.\w+ +present +no +%s$" % (name, re.escape(size)))
        self.assertRegex(r.stdout, r"(?m)^missing_idx +public\.small +missing +no *$")
        self.assertNotIn("kB", r.stdout.split("missing_idx", 1)[1].splitlines()[0])
        # a same-named table in the index's own schema is not its size either
        self.query("CREATE TABLE public.missing_idx (x int)")
        self.query("INSERT INTO public.missing_idx SELECT generate_series(1, 50000)")
        self.query("ANALYZE public.missing_idx")
        r = self.run_indexer("-c", cfg, "status", "--log-format", "json")
        rows = {j["name"]: j for j in (json.loads(ln) for ln in r.stdout.splitlines()) if "state" in j}
        self.assertIsNone(rows["missing_idx"]["size_bytes"])
        self.assertEqual("conflict", rows["missing_idx"]["state"])
        self.assertGreater(rows["big_a_idx"]["size_bytes"], 1 << 20)
        self.assertFalse(self.index_exists("missing_idx"))


class StatusDurations(MessagesTestCase):

    def durations(self):
        return dict(self.query("SELECT version, duration_ms FROM schema_migrations"))

    def test_pending_has_no_duration_and_log_agrees_with_status(self):
        d = self.make_dir({
            "1_a.sql": "CREATE TABLE a (id int);\nSELECT pg_sleep(0.05);\n",
            "2_b.sql": "-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS b (id int);\n",
            "3_c.sql": "CREATE TABLE c (id int);\n",
        })
        r = self.run_migrator("up", "--dir", d, "--target", "2")
        self.assertExit(r, 0)
        logged = {int(m.group(1)): int(m.group(2))
                  for m in re.finditer(r"(?m)^migrator: applied (\d+)_\w+ in (\d+)ms$", r.stderr)}
        recorded = self.durations()
        self.assertEqual(recorded, logged)
        self.assertGreaterEqual(recorded[1], 50)  # the server's time since BEGIN includes the sleep
        r = self.run_migrator("status", "--dir", d)
        self.assertExit(r, 0)
        for version, ms in recorded.items():
            self.assertRegex(r.stdout, r"(?m)^%d +\w+ +applied +\S+ +%dms  " % (version, ms))
        # pending: no duration, no applied at, no applied by
        self.assertRegex(r.stdout, r"(?m)^3 +c +pending +- {20} {9}  -$")
        self.assertNotIn("0ms", r.stdout.splitlines()[3])
        self.assertEqual(r.stdout.splitlines()[-1], "2 applied, 1 pending, 0 mismatched")


class Colour(MessagesTestCase):

    RED_ERROR = ESC + "1;31merror:" + ESC + "0m"

    def test_always_never_and_no_color(self):
        d = self.make_dir(TWO)
        r = self.run_migrator("stauts", "--color=always", dsn=None)
        self.assertExit(r, 2)
        self.assertIn("migrator: " + self.RED_ERROR + ' unknown command "stauts"', r.stderr)
        # NO_COLOR does not beat --color=always
        r = self.run_migrator("stauts", "--color", "always", dsn=None, env={"NO_COLOR": "1"})
        self.assertIn(self.RED_ERROR, r.stderr)
        # a pipe (auto), never, and JSON are plain
        for args, env in ((("stauts",), None), (("stauts", "--color=never"), None),
                          (("stauts", "--color=always", "--log-format", "json"), None)):
            with self.subTest(args=args):
                r = self.run_migrator(*args, dsn=None, env=env)
                self.assertExit(r, 2)
                self.assertNotIn(ESC, r.stderr)
        r = self.run_migrator("--color=sometimes", dsn=None)
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'^migrator: error: option --color: invalid value "sometimes" '
                                      r'\(use auto, always or never\)$')
        # states on stdout
        self.assertExit(self.run_migrator("up", "--dir", d, "--target", "1"), 0)
        r = self.run_migrator("status", "--dir", d, "--color=always")
        self.assertExit(r, 0)
        self.assertIn(ESC + "32mapplied " + ESC + "0m", r.stdout)
        self.assertIn(ESC + "1;33mpending " + ESC + "0m", r.stdout)
        r = self.run_migrator("status", "--dir", d)
        self.assertNotIn(ESC, r.stdout)
        self.assertEqual([1], self.versions())

    def run_on_terminal(self, argv, env):
        """argv with stdout and stderr on a pseudo-terminal: (rc, output)."""
        master, slave = pty.openpty()
        proc = subprocess.Popen(argv, env=self.program_env(env), stdin=subprocess.DEVNULL,
                                stdout=slave, stderr=slave)
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return proc.wait(timeout=60), out.decode("utf-8", "replace")

    def test_auto_on_a_terminal_and_no_color(self):
        program = os.environ["MIGRATOR"]
        rc, out = self.run_on_terminal([program, "stauts"], {"TERM": "xterm"})
        self.assertEqual(2, rc)
        self.assertIn(self.RED_ERROR, out)
        rc, out = self.run_on_terminal([program, "stauts"], {"TERM": "xterm", "NO_COLOR": "1"})
        self.assertEqual(2, rc)
        self.assertNotIn(ESC, out)
        self.assertIn('migrator: error: unknown command "stauts"', out)
        # an empty NO_COLOR does not disable it (no-color.org)
        rc, out = self.run_on_terminal([program, "stauts"], {"TERM": "xterm", "NO_COLOR": ""})
        self.assertIn(self.RED_ERROR, out)
        rc, out = self.run_on_terminal([os.environ["INDEXER"], "biuld", "--color=never"], {"TERM": "xterm"})
        self.assertEqual(2, rc)
        self.assertNotIn(ESC, out)
