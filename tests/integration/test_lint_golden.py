"""
test_lint_golden.py
    The findings of "migrator lint" over a mixed directory, byte for byte
    and in order, against golden output checked in under tests/lint_golden/
    (written by the lint before it parsed ahead on several threads and
    skipped the lexer for small files; see common/parser_pool.h).  The
    directory (tests/lint_golden/make_migrations.py) holds findings of every
    kind, files that do not parse or break the parser's limits, verify files,
    DO blocks, allow comments, a BOM, CRLF, form feeds and comments around
    statements.  Also: the same directory copied many times over, so that
    files finish parsing out of order across the parser's threads, must give
    the same findings copy after copy; and the exit code and the summary.

    When a rule's message changes on purpose, rewrite the golden files with
    TOOLKIT_UPDATE_GOLDEN=1 (this test then passes and says so) and review
    the diff.

tests/integration/test_lint_golden.py
"""

import json
import os
import re
import subprocess
import sys

from toolkit_test import ToolkitTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(HERE), "lint_golden")
COPIES = 60  # copies of the directory in the big run: about 1,700 files


def golden_path(name):
    return os.path.join(GOLDEN, name)


class LintGoldenTest(ToolkitTestCase):

    def make_migrations(self, d):
        subprocess.run([sys.executable, golden_path("make_migrations.py"), d], check=True)

    def lint(self, d, *args):
        r = self.run_migrator("lint", "--dir", d, *args, dsn=None)
        # the directory's path, wherever the test made it, reads "DIR"
        return r, r.stdout.replace(d, "DIR"), r.stderr.replace(d, "DIR")

    def check_golden(self, name, text):
        path = golden_path(name)
        if os.environ.get("TOOLKIT_UPDATE_GOLDEN") == "1":
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            return
        with open(path, encoding="utf-8") as f:
            want = f.read()
        self.assertEqual(want, text, "lint output differs from %s" % path)

    def test_text_output_is_the_golden_one(self):
        d = self.make_dir()
        self.make_migrations(d)
        r, out, err = self.lint(d)
        self.assertExit(r, 2)
        self.check_golden("expected.stdout", out)
        self.check_golden("expected.stderr", err)
        self.assertEqual("25 files checked: 54 errors, 25 warnings", out.splitlines()[-1])

    def test_strict_output_is_the_golden_one(self):
        d = self.make_dir()
        self.make_migrations(d)
        r, out, err = self.lint(d, "--strict")
        self.assertExit(r, 2)
        self.check_golden("expected_strict.stdout", out)
        self.check_golden("expected.stderr", err)

    def test_json_output_is_the_golden_one(self):
        d = self.make_dir()
        self.make_migrations(d)
        r, out, err = self.lint(d, "--log-format", "json")
        self.assertExit(r, 2)
        self.check_golden("expected.json", out)
        # the log lines carry a time stamp: compare what they say
        events = [json.loads(line) for line in err.splitlines()]
        for e in events:
            del e["ts"]
        self.check_golden("expected_log.json", "".join(json.dumps(e, sort_keys=True) + "\n" for e in events))

    def test_many_copies_give_the_same_findings_in_order(self):
        """The copies lint as one directory: what a file carries to later
        ones (a CHECK validated earlier accepts a later SET NOT NULL) reaches
        the later copies, so copy k's findings are not copy 1's.  What must
        hold is that the threads change nothing: the run with every CPU
        gives, byte for byte, what the run pinned to one CPU gives (no
        parsing thread: parse, lint, report, file after file), and the first
        copy gives the base directory's findings."""
        base = self.make_dir()
        self.make_migrations(base)
        _, base_out, base_err = self.lint(base)
        names = sorted(os.listdir(base))

        d = self.make_dir()
        first_copy = {}
        for k in range(COPIES):
            for name in names:
                version, rest = name.split("_", 1)
                new = "%d%s_%s" % (k + 1, version, rest)
                if k == 0:
                    first_copy[name] = new
                with open(os.path.join(base, name), "rb") as src, open(os.path.join(d, new), "wb") as dst:
                    dst.write(src.read())
        r, out, err = self.lint(d)
        self.assertExit(r, 2)
        serial = self.run_program(["taskset", "-c", "0"] + self._argv("MIGRATOR", ("lint", "--dir", d), None),
                                  timeout=600)
        self.assertExit(serial, r.rc)
        self.assertEqual(serial.stdout.replace(d, "DIR"), out)
        self.assertEqual(serial.stderr.replace(d, "DIR"), err)

        pattern = re.compile(r"DIR/(%s)" % "|".join(re.escape(n) for n in names))
        want_first = "".join(pattern.sub(lambda m: "DIR/" + first_copy[m.group(1)], line)
                             for line in base_out.splitlines(True)[:-1])
        self.assertEqual(want_first, out[:len(want_first)], "the first copy lints as the base directory")
        lines = out.splitlines(True)
        self.assertRegex(lines[-1], r"^%d files checked: \d+ errors, \d+ warnings\n$" % (25 * COPIES))
        self.assertEqual(base_err, "", "findings and problems are on one stream (stdout)")

    def test_clean_directory_exits_zero(self):
        d = self.make_dir({"%04d_t.sql" % i: "CREATE TABLE t_%d (id int);\n" % i for i in range(1, 201)})
        r, out, err = self.lint(d)
        self.assertExit(r, 0)
        self.assertEqual("200 files checked: 0 errors, 0 warnings\n", out)
        self.assertEqual("", err)
