"""
test_trust_files.py
    Every file that looks like a migration is read, or the run stops (issue 9,
    part 4): a dangling symbolic link, an unreadable file, a directory, FIFO,
    socket or device named *.sql, and a file that vanishes between the scan
    and the read are exit 2 naming the path, from lint, plan, up and check
    alike, with nothing applied.  Each file is read once, and the checksum
    recorded is that of the bytes parsed and applied.

Two cases need a hand on the process: a small LD_PRELOAD library, built here
with cc, unlinks a named file when the migrator opens it (the race of a file
vanishing between scan and read, made deterministic) and logs every *.sql
path opened (to count reads).  As root, "unreadable" runs the migrator as
nobody: root reads a mode-000 file.

tests/integration/test_trust_files.py
"""

import hashlib
import os
import shutil
import socket
import stat

from toolkit_test import ToolkitTestCase, compile_preload

GOOD = "CREATE TABLE a (id int);\n"
COMMANDS = ("lint", "plan", "up", "check")

SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

static void
seen(const char *path)
{
    const char *vanish = getenv("TK_VANISH");
    const char *log = getenv("TK_OPEN_LOG");
    size_t len = strlen(path);

    if (len < 4 || strcmp(path + len - 4, ".sql") != 0)
        return;
    if (vanish && strcmp(path, vanish) == 0)
        unlink(path);
    if (log)
    {
        open_fn real = (open_fn) dlsym(RTLD_NEXT, "open");
        int fd = real(log, O_WRONLY | O_APPEND | O_CREAT, 0644);

        if (fd >= 0)
        {
            if (write(fd, path, len) < 0 || write(fd, "\n", 1) < 0)
                ;
            close(fd);
        }
    }
}

#define MODE_ARG(flags, mode) \
    mode_t mode = 0; \
    if ((flags) & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); }

int open(const char *path, int flags, ...)
{ MODE_ARG(flags, mode); seen(path); return ((open_fn) dlsym(RTLD_NEXT, "open"))(path, flags, mode); }
int open64(const char *path, int flags, ...)
{ MODE_ARG(flags, mode); seen(path); return ((open_fn) dlsym(RTLD_NEXT, "open64"))(path, flags, mode); }
int openat(int dirfd, const char *path, int flags, ...)
{ MODE_ARG(flags, mode); seen(path); return ((openat_fn) dlsym(RTLD_NEXT, "openat"))(dirfd, path, flags, mode); }
int openat64(int dirfd, const char *path, int flags, ...)
{ MODE_ARG(flags, mode); seen(path); return ((openat_fn) dlsym(RTLD_NEXT, "openat64"))(dirfd, path, flags, mode); }
"""


class TrustFilesTest(ToolkitTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shim_dir, cls.shim = compile_preload(SHIM_C)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.shim_dir, True)
        super().tearDownClass()

    def shim_env(self, **kw):
        env = {"LD_PRELOAD": self.shim,
               # an ASan build wants its runtime first; the shim only wraps open
               "ASAN_OPTIONS": "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", "")}
        env.update(kw)
        return env

    # ---- assertions ------------------------------------------------------

    def assertNothingApplied(self):
        self.assertFalse(self.table_exists("schema_migrations"), "a history table was created")
        self.assertFalse(self.table_exists("a"), "a migration was applied")

    def assertRefusedEverywhere(self, d, path, reason, env=None, runner=None):
        """lint, plan, up and check: exit 2, "<path>: could not read: <reason>"."""
        runner = runner or self.run_migrator
        for cmd in COMMANDS:
            with self.subTest(command=cmd):
                r = runner(cmd, "--dir", d, env=env, timeout=30)
                self.assertExit(r, 2)
                if cmd == "lint":
                    # lint reports file problems on stdout among its findings, in their format
                    self.assertRegex(r.stdout, "(?m)^%s: error unreadable-file: could not read: %s"
                                     % (re_escape(path), reason))
                else:
                    self.assertStderrMatches(r, "^migrator: error: %s: could not read: %s"
                                             % (re_escape(path), reason))
                self.assertNothingApplied()

    # ---- one case per kind -------------------------------------------------

    def test_dangling_symlink(self):
        d = self.make_dir({"1_a.sql": GOOD})
        os.symlink("gone.sql", os.path.join(d, "2_b.sql"))
        self.assertRefusedEverywhere(d, os.path.join(d, "2_b.sql"),
                                     r'dangling symbolic link \(to "gone.sql", which does not exist\)$')

    def test_dangling_symlink_as_verify_file(self):
        d = self.make_dir({"1_a.sql": GOOD})
        os.symlink("gone.sql", os.path.join(d, "1_a.verify.sql"))
        self.assertRefusedEverywhere(d, os.path.join(d, "1_a.verify.sql"),
                                     r"dangling symbolic link")

    def test_symlink_to_a_file_is_followed(self):
        d = self.make_dir({"1_a.sql.txt": GOOD})
        os.symlink("1_a.sql.txt", os.path.join(d, "1_a.sql"))
        r = self.run_migrator("up", "--dir", d)
        self.assertExit(r, 0)
        self.assertTrue(self.table_exists("a"))
        self.assertEqual(self.scalar("SELECT checksum FROM schema_migrations WHERE version = 1"),
                         hashlib.sha256(GOOD.encode()).hexdigest())

    def test_directory(self):
        d = self.make_dir({"1_a.sql": GOOD})
        os.mkdir(os.path.join(d, "2_b.sql"))
        self.assertRefusedEverywhere(d, os.path.join(d, "2_b.sql"),
                                     r"a directory, not a migration file$")

    def test_fifo_is_refused_without_hanging(self):
        d = self.make_dir({"1_a.sql": GOOD})
        os.mkfifo(os.path.join(d, "2_b.sql"))
        # a blocking open of a FIFO without a writer hangs: the 30s timeout fails the test
        self.assertRefusedEverywhere(d, os.path.join(d, "2_b.sql"), r"a FIFO, not a migration file$")

    def test_socket(self):
        d = self.make_dir({"1_a.sql": GOOD})
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.bind(os.path.join(d, "2_b.sql"))
        self.assertRefusedEverywhere(d, os.path.join(d, "2_b.sql"), r"a socket, not a migration file$")

    def test_device(self):
        d = self.make_dir({"1_a.sql": GOOD})
        os.symlink("/dev/null", os.path.join(d, "2_b.sql"))
        self.assertRefusedEverywhere(d, os.path.join(d, "2_b.sql"),
                                     r"a symbolic link to a character device, not a migration file$")
        if os.geteuid() == 0:
            os.unlink(os.path.join(d, "2_b.sql"))
            try:
                os.mknod(os.path.join(d, "2_b.sql"), 0o600 | stat.S_IFCHR, os.makedev(1, 3))
            except OSError:
                return  # no CAP_MKNOD here: the link above covers the kind
            self.assertRefusedEverywhere(d, os.path.join(d, "2_b.sql"),
                                         r"a character device, not a migration file$")

    def test_unreadable_file(self):
        d = self.make_dir({"1_a.sql": GOOD, "2_b.sql": "CREATE TABLE b (id int);\n"})
        path = os.path.join(d, "2_b.sql")
        os.chmod(path, 0)
        runner = None
        if os.geteuid() == 0:
            # root reads a mode-000 file: run as nobody, over TCP (trust)
            os.chmod(d, 0o755)
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            dsn = self.tcp_dsn(self.superuser)

            def runner(*args, env=None, timeout=30):
                argv = prefix + self._argv("MIGRATOR", args, dsn)
                return self.run_program(argv, env=env, timeout=timeout)
        self.assertRefusedEverywhere(d, path, r"Permission denied$", runner=runner)

    def test_file_vanishing_between_scan_and_read(self):
        d = self.make_dir({"1_a.sql": GOOD, "2_b.sql": "CREATE TABLE b (id int);\n"})
        path = os.path.join(d, "2_b.sql")
        for cmd in COMMANDS:
            with self.subTest(command=cmd):
                with open(path, "w") as f:
                    f.write("CREATE TABLE b (id int);\n")
                r = self.run_migrator(cmd, "--dir", d, env=self.shim_env(TK_VANISH=path))
                self.assertExit(r, 2)
                # lint: on stdout among its findings, in their format
                self.assertRegex(
                    r.stdout if cmd == "lint" else r.stderr,
                    "(?m)^%s%s: %scould not read: the file vanished after the directory was read$"
                    % ("" if cmd == "lint" else "migrator: error: ", re_escape(path),
                       "error unreadable-file: " if cmd == "lint" else ""))
                self.assertFalse(os.path.exists(path), "the shim did not remove the file")
                self.assertNothingApplied()

    def test_check_of_a_current_database_stops_on_a_broken_entry(self):
        # the database is current; a dangling link appears: the gate must not pass
        d = self.make_dir({"1_a.sql": GOOD})
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        os.symlink("gone.sql", os.path.join(d, "2_b.sql"))
        r = self.run_migrator("check", "--dir", d)
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, "%s: could not read: dangling symbolic link"
                                   % re_escape(os.path.join(d, "2_b.sql")))
        self.assertEqual(self.query("SELECT version FROM schema_migrations"), [(1,)])

    # ---- read once -------------------------------------------------------------

    def test_each_file_is_read_once_and_the_checksum_is_of_those_bytes(self):
        files = {"1_a.sql": "-- one\r\nCREATE TABLE a (id int);\r\n",
                 "1_a.verify.sql": "SELECT to_regclass('a') IS NOT NULL;\n",
                 "2_b.sql": "CREATE TABLE b (id int);\n"}
        d = self.make_dir(files)
        log = os.path.join(d, "opens.log")
        r = self.run_migrator("up", "--dir", d, env=self.shim_env(TK_OPEN_LOG=log))
        self.assertExit(r, 0)
        with open(log) as f:
            opened = sorted(os.path.basename(p) for p in f.read().split())
        self.assertEqual(opened, sorted(files), "every file opened exactly once")
        normalized = files["1_a.sql"].replace("\r\n", "\n").encode()
        self.assertEqual(self.query("SELECT version, checksum FROM schema_migrations ORDER BY 1"),
                         [(1, hashlib.sha256(normalized).hexdigest()),
                          (2, hashlib.sha256(files["2_b.sql"].encode()).hexdigest())])
        self.assertTrue(self.table_exists("a") and self.table_exists("b"))


def re_escape(s):
    import re
    return re.escape(s)
