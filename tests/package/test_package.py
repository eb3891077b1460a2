"""
test_package.py
    The Debian package as a user gets it (ctest package.deb, label "package";
    scripts/test.sh --package).  Opt-in: it takes minutes and needs root.

    setUpClass builds the package with `cpack -G DEB` in the build directory.
    - test_contents: the package's control fields and files: Depends computed
      by dpkg-shlibdeps (libpq5, libconfig9, libpg-query...), both programs in
      /usr/bin, man pages, bash completions, copyright, changelog, examples;
    - test_lintian: lintian finds no error (its other findings are printed);
    - test_install_use_purge: in a fresh copy of a clean Debian 12 root
      (tests/package/debroot.sh, debootstrap, cached), `apt-get install
      ./PACKAGE.deb` pulls the dependencies; then migrator --help, man -w for
      both pages, the bash completion loaded, a demo apply of the packaged
      example migrations and index definitions against the test cluster
      (127.0.0.1: the chroot shares the network namespace) with both checks
      at 0 and the catalog asserted; then apt-get remove --purge leaves
      nothing of what dpkg -L listed.

Environment (tests/package/CMakeLists.txt): TOOLKIT_BUILD_DIR,
TOOLKIT_SOURCE_DIR, TOOLKIT_CLUSTER_DIR, TOOLKIT_PACKAGE_CACHE.
TOOLKIT_PACKAGE_KEEP=1 keeps the root of a run for inspection.

tests/package/test_package.py
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import toolkit_test  # noqa: E402  (the shared harness: cluster, fresh database)

PACKAGE = "pg-schema-toolkit"
DOCDIR = "/usr/share/doc/" + PACKAGE
# what dpkg-shlibdeps must have found in the binaries (a hand-kept Depends would not)
# no libssl3: the checksums are nettle's; libpq5 depends on it itself
DEPENDENCIES = ("libc6", "libpq5", "libconfig9", "libpg-query", "libjansson4", "libnettle8")
FILES = (
    "/usr/bin/migrator",
    "/usr/bin/indexer",
    "/usr/share/man/man1/migrator.1.gz",
    "/usr/share/man/man1/indexer.1.gz",
    "/usr/share/bash-completion/completions/migrator",
    "/usr/share/bash-completion/completions/indexer",
    DOCDIR + "/copyright",
    DOCDIR + "/changelog.Debian.gz",
    DOCDIR + "/README.md",
    DOCDIR + "/examples/migrations/101_create_businesses.sql",
    DOCDIR + "/examples/migrations/109_call_log_timestamps.verify.sql",
    DOCDIR + "/examples/conf/indexes.cfg",
)
# the environment of every command in the root: nothing of ours leaks in
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root",
              "DEBIAN_FRONTEND": "noninteractive"}


def run(argv, timeout=900, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, **kw)


def build_package(build_dir):
    """cpack -G DEB into a fresh directory; the path of the one .deb."""
    out = os.path.join(build_dir, "package")
    shutil.rmtree(out, ignore_errors=True)
    r = run(["cpack", "-G", "DEB", "-B", out], cwd=build_dir)
    if r.returncode != 0:
        raise AssertionError("cpack -G DEB failed (exit %d):\n%s%s" % (r.returncode, r.stdout, r.stderr))
    debs = glob.glob(os.path.join(out, "*.deb"))
    if len(debs) != 1:
        raise AssertionError("cpack made %r, not one .deb" % debs)
    return debs[0]


class DebRoot:
    """A throwaway copy of the cached clean root, with /proc mounted while in use."""

    def __init__(self, cache):
        r = run(["bash", os.path.join(HERE, "debroot.sh"), cache], timeout=1800)
        if r.returncode != 0:
            raise AssertionError("debroot.sh failed (exit %d):\n%s" % (r.returncode, r.stderr))
        pristine = r.stdout.strip()
        self.path = tempfile.mkdtemp(prefix="run.", dir=cache)
        # cp -a keeps owners, modes and device nodes; a second on a warm cache
        r = run(["cp", "-a", pristine + "/.", self.path])
        if r.returncode != 0:
            raise AssertionError("copying the root failed: %s" % r.stderr)
        shutil.copyfile("/etc/resolv.conf", os.path.join(self.path, "etc/resolv.conf"))
        self.proc = os.path.join(self.path, "proc")
        r = run(["mount", "-t", "proc", "proc", self.proc])
        if r.returncode != 0:
            raise AssertionError("mount proc in the root failed: %s" % r.stderr)

    def sh(self, script, timeout=900):
        """Run script with sh in the root; the CompletedProcess."""
        return run(["chroot", self.path, "/bin/sh", "-c", script], timeout=timeout, env=CHROOT_ENV)

    def remove(self):
        subprocess.run(["umount", self.proc], check=False)
        with open("/proc/mounts", encoding="utf-8") as f:
            if any((" " + self.path + "/") in line for line in f):
                raise AssertionError("something is still mounted in %s: not removed" % self.path)
        subprocess.run(["rm", "-rf", "--one-file-system", self.path], check=False)


class PackageTestCase(toolkit_test.ToolkitTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.build_dir = os.environ["TOOLKIT_BUILD_DIR"]
        cls.deb = build_package(cls.build_dir)
        print("package: %s" % cls.deb, file=sys.stderr)

    def assertOk(self, r, what):
        self.assertEqual(r.returncode, 0, "%s: exit %d\nstdout:\n%s\nstderr:\n%s"
                         % (what, r.returncode, r.stdout, r.stderr))

    def test_contents(self):
        r = run(["dpkg-deb", "--field", self.deb])
        self.assertOk(r, "dpkg-deb --field")
        fields = r.stdout
        self.assertRegex(fields, r"(?m)^Package: %s$" % PACKAGE)
        depends = re.search(r"(?m)^Depends: (.*)$", fields)
        self.assertIsNotNone(depends, fields)
        for dep in DEPENDENCIES:
            self.assertRegex(depends.group(1), r"(^|, )%s[0-9a-z.+-]*( \(|,|$)" % re.escape(dep))
        r = run(["dpkg-deb", "--contents", self.deb])
        self.assertOk(r, "dpkg-deb --contents")
        listed = {line.split()[5].lstrip(".") for line in r.stdout.splitlines()}
        for path in FILES:
            self.assertIn(path, listed)
        for line in r.stdout.splitlines():
            self.assertTrue(line.split()[1] == "root/root", "not owned by root: " + line)

    def test_lintian(self):
        if shutil.which("lintian") is None:
            self.fail("lintian is not installed (scripts/deps.sh --package installs it)")
        r = run(["lintian", "--info", "--display-info", self.deb])
        print("lintian findings:\n" + (r.stdout or "(none)\n") + r.stderr, file=sys.stderr)
        errors = [line for line in r.stdout.splitlines() if line.startswith("E:")]
        self.assertEqual(errors, [], "lintian errors")

    def test_install_use_purge(self):
        if os.geteuid() != 0:
            self.fail("needs root: debootstrap, chroot, mount")
        root = DebRoot(os.environ["TOOLKIT_PACKAGE_CACHE"])
        if os.environ.get("TOOLKIT_PACKAGE_KEEP") != "1":
            self.addCleanup(root.remove)
        else:
            print("package: the root stays at %s (umount %s when done)" % (root.path, root.proc),
                  file=sys.stderr)
        # nothing of the package nor of its libraries is in the clean root
        r = root.sh("dpkg -s libpq5 libconfig9 %s" % PACKAGE)
        self.assertNotEqual(r.returncode, 0, "the clean root already has them:\n" + r.stdout)

        shutil.copyfile(self.deb, os.path.join(root.path, "tmp", "package.deb"))
        os.chmod(os.path.join(root.path, "tmp", "package.deb"), 0o644)
        self.assertOk(root.sh("apt-get update -q"), "apt-get update in the root")
        r = root.sh("cd /tmp && apt-get install -y --no-install-recommends ./package.deb")
        self.assertOk(r, "apt-get install ./package.deb")
        pulled = re.search(r"The following NEW packages will be installed:\n((?:  .*\n)+)", r.stdout)
        print("package: apt-get install pulled: %s"
              % (" ".join(pulled.group(1).split()) if pulled else "(nothing?)"), file=sys.stderr)
        r = root.sh("dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' libpq5 libconfig9 "
                    "'libpg-query*' %s" % PACKAGE)
        self.assertOk(r, "dpkg-query after the install")
        for dep in ("libpq5", "libconfig9", "libpg-query", PACKAGE):
            self.assertRegex(r.stdout, r"(?m)^%s\S* ii" % re.escape(dep))

        self.check_installed_programs(root)
        self.demo_apply(root)

        r = root.sh("dpkg -L %s" % PACKAGE)
        self.assertOk(r, "dpkg -L")
        owned = [p for p in r.stdout.splitlines() if p.strip() and p != "/."]
        self.assertIn("/usr/bin/migrator", owned)
        r = root.sh("apt-get remove --purge -y %s" % PACKAGE)
        self.assertOk(r, "apt-get remove --purge")
        r = root.sh("dpkg-query -W -f='${db:Status-Abbrev}' %s" % PACKAGE)
        self.assertNotRegex(r.stdout, r"^[a-z]i", "still installed after the purge")
        left = self.left_over(root, owned)
        self.assertEqual(left, [], "left in the root after apt-get remove --purge")
        # and its dependencies were installed as such: autoremove takes them
        self.assertOk(root.sh("apt-get autoremove --purge -y"), "apt-get autoremove")
        r = root.sh("dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' 'libpg-query*'")
        self.assertNotRegex(r.stdout, r"(?m) ii", "libpg-query stayed after autoremove")

    def check_installed_programs(self, root):
        r = root.sh("migrator --help")
        self.assertOk(r, "migrator --help")
        self.assertRegex(r.stdout, r"(?m)^Usage: migrator ")
        r = root.sh("indexer --version")
        self.assertOk(r, "indexer --version")
        self.assertRegex(r.stdout, r"^indexer \d+\.\d+\.\d+\n$")
        for prog in ("migrator", "indexer"):
            r = root.sh("man -w %s" % prog)
            self.assertOk(r, "man -w " + prog)
            self.assertEqual(r.stdout.strip(), "/usr/share/man/man1/%s.1.gz" % prog)
            # the page renders, and it is the one made of --help
            r = root.sh("MANWIDTH=200 man %s 2>&1 | cat" % prog)
            self.assertOk(r, "man " + prog)
            for section in ("NAME", "SYNOPSIS", "COMMANDS", "OPTIONS", "EXIT STATUS", "SEE ALSO"):
                self.assertRegex(r.stdout, r"(?m)^%s$" % section)
            r = root.sh("bash -c 'source /usr/share/bash-completion/completions/%s; complete -p %s'"
                        % (prog, prog))
            self.assertOk(r, "the bash completion of " + prog)
            self.assertEqual(r.stdout.strip(), "complete -F _%s %s" % (prog, prog))
        # bash-completion itself finds it by the command's name (lazy loading)
        r = root.sh("bash -c '. /usr/share/bash-completion/bash_completion; "
                    "__load_completion migrator && complete -p migrator'")
        self.assertOk(r, "bash-completion loading the completion of migrator")

    def demo_apply(self, root):
        """The packaged examples against the test cluster, from inside the root."""
        dsn = self.tcp_dsn(self.superuser)
        examples = DOCDIR + "/examples"
        env = "DATABASE_URL=%s" % shlex.quote(dsn)
        for argv in ("migrator --dir %s/migrations up" % examples,
                     "indexer --config %s/conf/indexes.cfg build" % examples,
                     "migrator --dir %s/migrations check" % examples,
                     "indexer --config %s/conf/indexes.cfg check" % examples):
            r = root.sh("%s %s" % (env, argv))
            self.assertOk(r, argv)
        versions = sorted(f.split("_", 1)[0] for f in os.listdir(
            os.path.join(os.environ["TOOLKIT_SOURCE_DIR"], "migrations"))
            if f.endswith(".sql") and not f.endswith(".verify.sql"))
        applied = [str(v) for (v,) in self.query(
            "SELECT version FROM public.schema_migrations ORDER BY version")]
        self.assertEqual(applied, versions)
        self.assertTrue(self.column_exists("call_log", "started_at"))
        n_indexes = self.scalar("SELECT count(*) FROM pg_catalog.pg_index i "
                                "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
                                "WHERE c.relnamespace = 'public'::regnamespace AND NOT i.indisprimary "
                                "AND i.indisvalid")
        self.assertGreater(n_indexes, 0)

    @staticmethod
    def left_over(root, owned):
        """Paths dpkg -L listed that still exist and that no other package owns
        (directories such as /usr/share/man/man1 are shared)."""
        left = []
        for p in owned:
            if not os.path.lexists(os.path.join(root.path, p.lstrip("/"))):
                continue
            if root.sh("dpkg-query -S %s" % shlex.quote(p)).returncode != 0:
                left.append(p)
        return left

if __name__ == "__main__":
    unittest.main()
