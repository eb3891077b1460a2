"""
test_tarball.py
    scripts/test.sh in a downloaded tarball: a "git archive" export of the
    source tree (the working tree's tracked files, via "git stash create"),
    no .git, and a PATH whose "git" fails as on a machine without git.  The
    static checks ("scripts/test.sh --lint", the part that used "git
    ls-files") find the same files git lists, pass without calling git, and
    when a check fails the last line names that check, not another one.

tests/image/test_tarball.py
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE_DIR = os.environ.get("TOOLKIT_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def git(*args):
    return subprocess.run(["git", "-C", SOURCE_DIR] + list(args), check=True,
                          stdout=subprocess.PIPE, universal_newlines=True).stdout


@unittest.skipUnless(shutil.which("git") and os.path.isdir(os.path.join(SOURCE_DIR, ".git"))
                     or os.path.isfile(os.path.join(SOURCE_DIR, ".git")),
                     "needs a git checkout to make the export from")
class TarballWithoutGitTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="tk_tarball_")
        # the tracked files as they are now, committed or not
        cls.rev = git("stash", "create").strip() or "HEAD"
        cls.export = os.path.join(cls.tmp, "pg-schema-toolkit")
        os.makedirs(cls.export)
        archive = subprocess.run(["git", "-C", SOURCE_DIR, "archive", cls.rev],
                                 check=True, stdout=subprocess.PIPE).stdout
        subprocess.run(["tar", "-x", "-C", cls.export], input=archive, check=True)
        # "git" as on a machine without it; every call is recorded
        cls.bin = os.path.join(cls.tmp, "bin")
        os.makedirs(cls.bin)
        cls.git_calls = os.path.join(cls.tmp, "git-calls")
        with open(os.path.join(cls.bin, "git"), "w") as f:
            f.write('#!/bin/sh\necho "$*" >> %s\necho "git: command not found" >&2\nexit 127\n'
                    % cls.git_calls)
        os.chmod(os.path.join(cls.bin, "git"), 0o755)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, True)

    def env(self):
        return dict(os.environ, PATH=self.bin + os.pathsep + os.environ["PATH"])

    def lint(self):
        return subprocess.run([os.path.join(self.export, "scripts", "test.sh"), "--lint"],
                              cwd=self.tmp, env=self.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=900)

    def test_export_has_no_git(self):
        self.assertFalse(os.path.exists(os.path.join(self.export, ".git")))
        self.assertNotEqual(0, subprocess.run(["git", "--version"], env=self.env(),
                                              stderr=subprocess.DEVNULL).returncode)

    def test_finds_exactly_the_files_git_lists(self):
        listed = sorted(n for n in git("ls-tree", "-r", "--name-only", self.rev).splitlines()
                        if n.endswith((".c", ".h")))
        self.assertGreater(len(listed), 50)
        # build directories and caches are what .gitignore excludes
        for junk in ("build/gen.c", "build-asan/x.h", "tests/__pycache__/y.c"):
            path = os.path.join(self.export, junk)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("int  junk ;\n")
            self.addCleanup(os.unlink, path)
        script = ('source <(sed -n "/^source_files()/,/^}/p" scripts/test.sh); '
                  'source_files "*.c" "*.h" | tr "\\0" "\\n"')
        r = subprocess.run(["bash", "-c", script], cwd=self.export, env=self.env(),
                           stdout=subprocess.PIPE, universal_newlines=True, check=True)
        found = [p[2:] if p.startswith("./") else p for p in r.stdout.splitlines()]
        self.assertEqual(listed, found)

    def test_lint_passes_without_git_then_names_the_failed_step(self):
        if os.path.exists(self.git_calls):
            os.unlink(self.git_calls)
        r = self.lint()
        self.assertEqual(0, r.returncode, r.stderr[-4000:])
        if shutil.which("clang-format"):
            self.assertIn("test.sh: clang-format --dry-run", r.stderr)
        self.assertNotIn("git", r.stderr.lower().replace("github", ""))
        self.assertFalse(os.path.exists(self.git_calls), "test.sh called git")

        # a badly formatted C file: the last line names clang-format, not shellcheck
        bad_c = os.path.join(self.export, "common", "zz_badly_formatted.c")
        with open(bad_c, "w") as f:
            f.write("int  zz_bad( void ){return 0;}\n")
        self.addCleanup(os.unlink, bad_c)
        if shutil.which("clang-format"):
            r = self.lint()
            self.assertNotEqual(0, r.returncode)
            self.assertEqual("test.sh: failed: clang-format (see above)", r.stderr.splitlines()[-1])
            self.assertIn("zz_badly_formatted.c", r.stderr)
        # and a script shellcheck rejects: both named, in the order they ran
        bad_sh = os.path.join(self.export, "scripts", "zz_bad.sh")
        with open(bad_sh, "w") as f:
            f.write("#!/bin/sh\necho $1\n")
        self.addCleanup(os.unlink, bad_sh)
        r = self.lint()
        self.assertNotEqual(0, r.returncode)
        want = "shellcheck, clang-format" if shutil.which("clang-format") else "shellcheck"
        self.assertEqual("test.sh: failed: %s (see above)" % want, r.stderr.splitlines()[-1])
        self.assertTrue(re.search(r"zz_bad\.sh", r.stdout + r.stderr))
        self.assertFalse(os.path.exists(self.git_calls), "test.sh called git")


if __name__ == "__main__":
    unittest.main()
