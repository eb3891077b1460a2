"""
test_lint_cli.py
    migrator lint where teams run it: the files named (pre-commit and CI pass
    the changed ones), each against its own directory; one stream and one
    format for findings, syntax errors and file problems; --log-format
    github; requires-index against the index definitions; the pre-commit
    hook of .pre-commit-hooks.yaml; set-not-null and validate-same-migration
    across files, in lint and in plan.

tests/integration/test_lint_cli.py
"""

import json
import os
import re
import shlex
import shutil
import subprocess

from toolkit_test import ToolkitTestCase

SOURCE_DIR = os.environ.get("TOOLKIT_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", ".."))

CONFIG = """indexes = (
  { name = "t_a_idx"; table = "t";
    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON t (a)"; },
  { name = "t_old_idx"; table = "t"; state = "absent";
    sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_old_idx ON t (a)"; }
);
"""


def github_unescape(s, prop=False):
    """What the Actions runner makes of an escaped value (ActionCommand.Unescape*)."""
    pairs = [("%0D", "\r"), ("%0A", "\n")]
    if prop:
        pairs += [("%3A", ":"), ("%2C", ",")]
    for k, v in pairs + [("%25", "%")]:
        s = s.replace(k, v)
    return s


def parse_command(line):
    """(command, {property: value}, message) of a workflow command line, unescaped."""
    m = re.match(r"^::(\w+)(?: ([^:]*))?::(.*)$", line)
    assert m, line
    props = {}
    for part in (m.group(2) or "").split(","):
        if part:
            k, v = part.split("=", 1)
            props[k] = github_unescape(v, prop=True)
    return m.group(1), props, github_unescape(m.group(3))


class LintFilesTest(ToolkitTestCase):

    def layout(self, extra=None):
        files = {
            "1_t.sql": "CREATE TABLE t (id int, a int);\n",
            "2_idx.sql": "CREATE INDEX t_a ON t (a);\n",
            "3_drop.sql": "ALTER TABLE t DROP COLUMN a;\n",
        }
        files.update(extra or {})
        return self.make_dir(files)

    def test_only_the_files_named(self):
        d = self.layout()
        r = self.run_migrator("lint", os.path.join(d, "3_drop.sql"), dsn=None)
        self.assertExit(r, 0)
        self.assertEqual(r.stdout.splitlines(), [
            "%s:1:1: warning drop-column: DROP COLUMN \"a\" of \"t\" destroys data and breaks code that still "
            "reads the column; stop using the column in the application and deploy first, then drop it with "
            "\"-- migrator:allow drop-column\" above the statement" % os.path.join(d, "3_drop.sql"),
            "1 file checked: 0 errors, 1 warning"])
        r = self.run_migrator("lint", os.path.join(d, "2_idx.sql"), os.path.join(d, "3_drop.sql"), "--strict",
                              dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r"2_idx\.sql:1:1: error create-index: ")
        self.assertRegex(r.stdout, r"3_drop\.sql:1:1: error drop-column: ")
        self.assertTrue(r.stdout.endswith("2 files checked: 2 errors, 0 warnings\n"), r.stdout)

    def test_no_argument_is_the_whole_dir_and_a_dir_argument_too(self):
        d = self.layout()
        for args in (("--dir", d), (d,), (d + "/",)):
            r = self.run_migrator("lint", *args, dsn=None)
            self.assertExit(r, 2)
            self.assertTrue(r.stdout.endswith("3 files checked: 1 error, 1 warning\n"), r.stdout)

    def test_a_file_is_checked_against_its_directory(self):
        d = self.layout({
            "0002_other.sql": "CREATE TABLE u (id int);\n",   # version 2 twice
            "4_bad.sql": "CREATE TABLE x (id int);\n\nON x (id);\n",
            "5_orphan.verify.sql": "SELECT true;\n",
        })
        # the clash involves 2_idx.sql: reported, naming both files; other files' problems are not
        r = self.run_migrator("lint", os.path.join(d, "2_idx.sql"), dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r"(?m)^%s: error duplicate-version: duplicate version 2: also used by %s$"
                         % (re.escape(os.path.join(d, "2_idx.sql")), re.escape(os.path.join(d, "0002_other.sql"))))
        self.assertNotIn("4_bad", r.stdout)
        self.assertNotIn("orphan", r.stdout)
        # a clean file of a directory with broken neighbours is clean
        r = self.run_migrator("lint", os.path.join(d, "1_t.sql"), dsn=None)
        self.assertExit(r, 0)
        self.assertEqual(r.stdout, "1 file checked: 0 errors, 0 warnings\n")
        self.assertEqual(r.stderr, "")
        # a verify file named without its migration
        r = self.run_migrator("lint", os.path.join(d, "5_orphan.verify.sql"), dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r"5_orphan\.verify\.sql: error orphan-verify: verify file without its migration")
        # a syntax error: same stream, same format, the line below it
        r = self.run_migrator("lint", os.path.join(d, "4_bad.sql"), dsn=None)
        self.assertExit(r, 2)
        self.assertEqual(r.stdout.splitlines(), [
            '%s:3:1: error syntax-error: syntax error at or near "ON"' % os.path.join(d, "4_bad.sql"),
            "    ON x (id);",
            "1 file checked: 1 error, 0 warnings"])
        self.assertEqual(r.stderr, "")

    def test_a_verify_file_named_lints_its_migration_and_itself(self):
        d = self.layout({"1_t.verify.sql": "SELECT pg_catalog.nextval('s') > 0;\n"})
        r = self.run_migrator("lint", os.path.join(d, "1_t.verify.sql"), dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r"1_t\.verify\.sql:1:\d+: error verify-read-only: ")
        self.assertIn("1 file checked", r.stdout)

    def test_not_found(self):
        d = self.layout()
        missing = os.path.join(d, "9_gone.sql")
        r = self.run_migrator("lint", missing, os.path.join(d, "3_drop.sql"), dsn=None)
        self.assertExit(r, 2)
        self.assertIn("%s: error not-found: not found: no such file or directory\n" % missing, r.stdout)
        self.assertIn("3_drop.sql:1:1: warning drop-column", r.stdout, "the other file is still linted")
        r = self.run_migrator("lint", os.path.join(d, "9_*.sql"), dsn=None)
        self.assertExit(r, 2)
        self.assertIn("error not-found: not found: no file matches this pattern", r.stdout)
        r = self.run_migrator("lint", os.path.join(d, "nodir", "1_t.sql"), dsn=None)
        self.assertExit(r, 2)
        self.assertIn("not-found", r.stdout)
        r = self.run_migrator("lint", "--dir", os.path.join(d, "nodir"), dsn=None)
        self.assertExit(r, 2)
        # as for every command: "not found", naming what sets the path (issue 14)
        self.assertIn('migrations directory "%s" not found (set it with --dir or MIGRATIONS_DIR'
                      % os.path.join(d, "nodir"), r.stderr)

    def test_not_a_migration(self):
        d = self.layout({"README.md": "# notes\n"})
        r = self.run_migrator("lint", os.path.join(d, "README.md"), dsn=None)
        self.assertExit(r, 2)
        self.assertIn("README.md: error not-a-migration: not a migration file", r.stdout)

    def test_glob_that_the_shell_did_not_expand(self):
        d = self.layout()
        r = self.run_migrator("lint", os.path.join(d, "[23]_*.sql"), dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r"2_idx\.sql:1:1: error create-index")
        self.assertRegex(r.stdout, r"3_drop\.sql:1:1: warning drop-column")
        self.assertTrue(r.stdout.endswith("2 files checked: 1 error, 1 warning\n"), r.stdout)

    def test_json_puts_syntax_errors_among_the_findings(self):
        d = self.layout({"4_bad.sql": "ON x (id);\n"})
        r = self.run_migrator("lint", "--log-format", "json", os.path.join(d, "4_bad.sql"),
                              os.path.join(d, "2_idx.sql"), dsn=None)
        self.assertExit(r, 2)
        items = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual([(i["rule"], i["line"], i["severity"]) for i in items],
                         [("create-index", 1, "error"), ("syntax-error", 1, "error")])
        self.assertEqual(items[1]["file"], os.path.join(d, "4_bad.sql"))
        self.assertEqual(json.loads(r.stderr.splitlines()[-1])["event"], "lint_done")


class LintGithubTest(ToolkitTestCase):

    def test_annotations_of_a_real_run(self):
        # a directory name with the characters property values must escape
        base = self.make_dir()
        d = os.path.join(base, "db:main,v2")
        os.mkdir(d)
        files = {
            "1_t.sql": 'CREATE TABLE "t%1" (id int, a int);\n',
            "2_idx.sql": '-- index\nCREATE INDEX t_a ON "t%1" (a);\n',
            "3_bad.sql": "CREATE TABLE x (id int);\nON x (id);\n",
            "4_drop.sql": 'ALTER TABLE "t%1" DROP COLUMN a;\n',
        }
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        text = self.run_migrator("lint", d, dsn=None)
        r = self.run_migrator("lint", "--log-format", "github", d, dsn=None)
        self.assertExit(r, 2)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[-1], "4 files checked: 2 errors, 1 warning")
        path = os.path.join(d, "2_idx.sql")
        esc_path = path.replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
        self.assertEqual(lines[0],
                         '::error file=%s,line=2,col=1,title=migrator lint%%3A create-index::CREATE INDEX on '
                         '"t%%251" blocks writes to the table for the whole build; indexes belong in the '
                         "indexer's config: add a definition to conf/indexes.cfg" % esc_path)
        self.assertTrue(lines[1].startswith("::error file=%s,line=2,col=1,title=migrator lint%%3A syntax-error::"
                                            % esc_path.replace("2_idx", "3_bad")), lines[1])
        self.assertTrue(lines[2].startswith("::warning "), lines[2])
        # what the runner shows is exactly what the text format says
        text_lines = text.stdout.splitlines()[:-1]
        text_lines = [l for l in text_lines if not l.startswith("    ")]
        for gh, tx in zip(lines[:-1], text_lines):
            command, props, message = parse_command(gh)
            self.assertEqual("%s:%s:%s: %s %s: %s" % (props["file"], props["line"], props["col"], command,
                                                      props["title"].split(": ")[1], message), tx)

    def test_newlines_and_percent_in_a_message_are_escaped(self):
        # a quoted identifier may hold a newline: one annotation stays one line
        d = self.make_dir({"1_t.sql": 'CREATE TABLE "a\nb" (id int, c int);\n',
                           "2_drop.sql": 'ALTER TABLE "a\nb" DROP COLUMN c;\n'})
        r = self.run_migrator("lint", "--log-format", "github", os.path.join(d, "2_drop.sql"), dsn=None)
        self.assertExit(r, 0)
        lines = r.stdout.splitlines()
        self.assertEqual(2, len(lines), r.stdout)
        self.assertIn('"a%0Ab"', lines[0])
        self.assertEqual(parse_command(lines[0])[2].count("\n"), 1)

    def test_only_lint_speaks_github(self):
        r = self.run_migrator("lint", "--log-format", "xml", dsn=None)
        self.assertExit(r, 2)
        self.assertIn("(use text, json or github)", r.stderr)


class LintRequiresIndexTest(ToolkitTestCase):

    def files(self, name):
        return self.make_dir({
            "indexes.cfg": CONFIG,
            "m/1_t.sql": "CREATE TABLE t (id int, a int);\n",
            "m/2_u.sql": "-- needs the index first\n-- migrator:requires-index %s\n"
                         "ALTER TABLE t ADD CONSTRAINT %s UNIQUE USING INDEX %s;\n" % (name, name, name),
        })

    def test_unknown_name_is_an_error_at_the_directive(self):
        d = self.files("t_a_idy")
        cfg = os.path.join(d, "indexes.cfg")
        r = self.run_migrator("lint", os.path.join(d, "m", "2_u.sql"), "--index-config", cfg, dsn=None)
        self.assertExit(r, 2)
        self.assertEqual(r.stdout.splitlines()[0],
                         '%s:2:28: error requires-index: requires-index "t_a_idy": no definition of that name in '
                         '"%s"; add it there (the indexer builds it), or fix the name'
                         % (os.path.join(d, "m", "2_u.sql"), cfg))
        # plan refuses the same file: lint said it first
        r = self.run_migrator("plan", "--dir", os.path.join(d, "m"), "--index-config", cfg)
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r'2_u\.sql:2: requires-index "t_a_idy": no definition')
        # $INDEXER_CONFIG is the same option
        r = self.run_migrator("lint", os.path.join(d, "m"), env={"INDEXER_CONFIG": cfg}, dsn=None)
        self.assertExit(r, 2)
        self.assertIn("error requires-index", r.stdout)

    def test_defined_absent_and_unchecked(self):
        d = self.files("t_a_idx")
        cfg = os.path.join(d, "indexes.cfg")
        r = self.run_migrator("lint", os.path.join(d, "m"), "--index-config", cfg, dsn=None)
        self.assertExit(r, 0)
        d = self.files("t_old_idx")
        r = self.run_migrator("lint", os.path.join(d, "m"), "--index-config", os.path.join(d, "indexes.cfg"),
                              dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r'2_u\.sql:2:28: error requires-index: requires-index "t_old_idx": its '
                                   r'definition in .*indexes\.cfg:\d+ has state "absent"')
        # a config named that does not exist is not found; the default one is read where it exists
        r = self.run_migrator("lint", os.path.join(d, "m"), "--index-config", os.path.join(d, "nope.cfg"),
                              dsn=None)
        self.assertExit(r, 2)
        self.assertIn("nope.cfg: error not-found: not found: the index definitions file", r.stdout)
        r = self.run_migrator("lint", os.path.join(d, "m"), dsn=None)  # cwd has no conf/indexes.cfg
        self.assertExit(r, 0)


class LintAcrossFilesTest(ToolkitTestCase):

    STEPS = {
        "1_t.sql": "CREATE TABLE t (id int, a int);\n",
        "2_check.sql": "ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;\n",
        "3_validate.sql": "ALTER TABLE t VALIDATE CONSTRAINT t_a_nn;\n",
        "4_not_null.sql": "ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n",
    }

    def test_set_not_null_follows_its_own_advice(self):
        d = self.make_dir(self.STEPS)
        for args in ((d,), (os.path.join(d, "4_not_null.sql"),), (os.path.join(d, "3_validate.sql"),)):
            r = self.run_migrator("lint", "--strict", *args, dsn=None)
            self.assertExit(r, 0)
        # without the VALIDATE the scan is still there
        os.unlink(os.path.join(d, "3_validate.sql"))
        r = self.run_migrator("lint", os.path.join(d, "4_not_null.sql"), dsn=None)
        self.assertRegex(r.stdout, r"4_not_null\.sql:1:1: warning set-not-null: ")

    def test_plan_and_up_see_earlier_files_too(self):
        d = self.make_dir(self.STEPS)
        r = self.run_migrator("up", "--dir", d, "--target", "3")
        self.assertExit(r, 0)
        # 4 alone is pending: the CHECK was validated by an applied migration
        r = self.run_migrator("plan", "--strict", "--dir", d)
        self.assertExit(r, 0)
        r = self.run_migrator("up", "--strict", "--dir", d)
        self.assertExit(r, 0)
        self.assertEqual(self.scalar("SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass "
                                     "AND attname = 'a'"), True)

    def test_validate_in_the_same_migration_warns(self):
        d = self.make_dir({"1_t.sql": "CREATE TABLE t (id int, a int);\n",
                           "2_both.sql": "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n"
                                         "ALTER TABLE t VALIDATE CONSTRAINT c;\n"})
        r = self.run_migrator("lint", os.path.join(d, "2_both.sql"), dsn=None)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"2_both\.sql:2:1: warning validate-same-migration: .*ACCESS EXCLUSIVE.*"
                                   r"validate in a later migration")
        r = self.run_migrator("up", "--strict", "--dir", d)
        self.assertExit(r, 2)
        self.assertFalse(self.table_exists("t"))


class PreCommitHookTest(ToolkitTestCase):
    """.pre-commit-hooks.yaml: the definition, and the command pre-commit builds from it."""

    def hook(self):
        import yaml
        with open(os.path.join(SOURCE_DIR, ".pre-commit-hooks.yaml")) as f:
            hooks = yaml.safe_load(f)
        self.assertIsInstance(hooks, list)
        by_id = {h["id"]: h for h in hooks}
        return by_id["migrator-lint"]

    def test_definition(self):
        h = self.hook()
        self.assertEqual(h["language"], "system")
        self.assertEqual(h["entry"], "migrator lint")
        self.assertIs(h.get("pass_filenames", True), True)
        rx = re.compile(h["files"])
        self.assertTrue(rx.search("migrations/0001_init.sql"))
        self.assertTrue(rx.search("migrations/0001_init.verify.sql"))
        self.assertFalse(rx.search("migrations/README.md"))
        self.assertFalse(rx.search("src/queries/report.sql"))
        for key in ("name", "description"):
            self.assertTrue(h[key])

    def git(self, repo, *args):
        subprocess.run(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org"] + list(args),
                       check=True, capture_output=True)

    def repo_with_changes(self):
        """A team's repository with one clean and two changed migrations staged."""
        repo = self.make_dir({
            "migrations/0001_t.sql": "CREATE TABLE t (id int, a int);\n",
            "migrations/0002_u.sql": "CREATE TABLE u (id int);\n",
            "README.md": "# app\n",
        })
        self.git(repo, "init", "-q")
        self.git(repo, "add", ".")
        self.git(repo, "commit", "-qm", "init")
        with open(os.path.join(repo, "migrations", "0003_idx.sql"), "w") as f:
            f.write("CREATE INDEX t_a ON t (a);\n")
        with open(os.path.join(repo, "README.md"), "a") as f:
            f.write("more\n")
        self.git(repo, "add", ".")
        return repo

    def path_env(self):
        bindir = os.path.dirname(os.path.abspath(os.environ["MIGRATOR"]))
        return {"PATH": bindir + os.pathsep + os.environ.get("PATH", "")}

    def test_the_command_pre_commit_builds(self):
        if shutil.which("git") is None:
            self.skipTest("git is not installed")
        h = self.hook()
        repo = self.repo_with_changes()
        staged = subprocess.run(["git", "-C", repo, "diff", "--cached", "--name-only"], check=True,
                                capture_output=True, text=True).stdout.split()
        files = [f for f in staged if re.search(h["files"], f)]
        self.assertEqual(files, ["migrations/0003_idx.sql"])
        # pre-commit runs shlex.split(entry) + args + filenames, in the repository's root
        argv = shlex.split(h["entry"]) + h.get("args", []) + files
        env = self.program_env(self.path_env())
        r = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertEqual(r.stdout.splitlines()[0].split(": error ")[0], "migrations/0003_idx.sql:1:1")
        self.assertIn("1 file checked: 1 error, 0 warnings", r.stdout)
        # the fixed file passes
        with open(os.path.join(repo, "migrations", "0003_idx.sql"), "w") as f:
            f.write("ALTER TABLE t ADD COLUMN b int;\n")
        r = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_pre_commit_itself(self):
        """With Debian's pre-commit installed: the hook through the framework (try-repo)."""
        if shutil.which("pre-commit") is None or shutil.which("git") is None:
            self.skipTest("pre-commit (Debian package pre-commit) is not installed")
        if not os.path.isdir(os.path.join(SOURCE_DIR, ".git")) and not os.path.isfile(
                os.path.join(SOURCE_DIR, ".git")):
            self.skipTest("the source tree is not a git checkout (try-repo clones it)")
        repo = self.repo_with_changes()
        env = self.program_env(self.path_env())
        env["PRE_COMMIT_HOME"] = self.make_dir()
        env["HOME"] = self.make_dir()
        argv = ["pre-commit", "try-repo", SOURCE_DIR, "migrator-lint", "--verbose"]
        r = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"migrator lint\.+Failed")
        self.assertIn("migrations/0003_idx.sql:1:1: error create-index", r.stdout)
        self.assertNotIn("0001_t.sql", r.stdout.split("Failed", 1)[1])
        with open(os.path.join(repo, "migrations", "0003_idx.sql"), "w") as f:
            f.write("ALTER TABLE t ADD COLUMN b int;\n")
        self.git(repo, "add", ".")
        r = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"migrator lint\.+Passed")
