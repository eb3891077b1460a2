"""
toolkit_test.py
    The shared base of the integration tests: a fresh database per test on the
    throwaway cluster that tests/harness/cluster.py started, and helpers to run
    the programs and assert on exit code, messages and catalog state together.

Environment (set by the ctest registration in tests/CMakeLists.txt):
    TOOLKIT_CLUSTER_DIR   the directory cluster.py start wrote cluster.json to
    MIGRATOR, INDEXER     the programs under test
    TOOLKIT_TEST_WRAPPER  optional command prefix, e.g. "valgrind --quiet ..."

tests/integration/toolkit_test.py
"""

import glob
import hashlib
import json
import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import psycopg2
import psycopg2.extensions

# Stripped from the programs' environment so that nothing on the developer's
# machine leaks into a test; a test passes what it wants via env=.
SCRUBBED_ENV = (
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE",
    "PGSERVICEFILE", "PGPASSWORD", "PGPASSFILE", "PGOPTIONS", "PGAPPNAME",
    "PGSSLMODE", "PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS",
    "DATABASE_URL", "MIGRATIONS_DIR", "INDEXER_CONFIG",
)

PASSWORD_ROLE = "pwuser"
PASSWORD = "sekret-pw-123"
NOLOGIN_ROLE = "app_owner"

_DEFAULT = object()  # "use self.dsn" for the dsn= argument

_FAKETIME_OBJECT = re.compile(r"^(?:sem\.faketime_sem|faketime_shm)_(\d+)$")


def _faketime_objects():
    """libfaketime's /dev/shm objects: name -> the PID it is named after."""
    try:
        names = os.listdir("/dev/shm")
    except OSError:
        return {}
    return {n: int(m.group(1)) for n in names for m in [_FAKETIME_OBJECT.match(n)] if m}


def _remove_faketime_leftovers(before):
    """Unlink the libfaketime objects made since before whose process is gone."""
    for name, pid in _faketime_objects().items():
        if name in before:
            continue
        try:
            os.kill(pid, 0)
            continue  # still running: not a leftover yet
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        try:
            os.unlink(os.path.join("/dev/shm", name))
        except OSError:
            pass


def conninfo(**kw):
    """A keyword/value conninfo string, values quoted where libpq needs it."""
    parts = []
    for k, v in kw.items():
        v = str(v)
        if v == "" or re.search(r"[\s'\\]", v):
            v = "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
        parts.append("%s=%s" % (k, v))
    return " ".join(parts)


def compile_preload(source, name="shim"):
    """An LD_PRELOAD library built from C source with the system's cc, in a
    directory of its own: returns (directory, path of the .so); the caller
    removes the directory."""
    d = tempfile.mkdtemp(prefix="tk_%s_" % name)
    src = os.path.join(d, name + ".c")
    with open(src, "w") as f:
        f.write(source)
    so = os.path.join(d, name + ".so")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", so, src, "-ldl"], check=True)
    return d, so


class LoopbackProxy:
    """127.0.0.1:port in front of the server (target), for the network faults
    of the tests: every connection it accepts is relayed to the target, one
    write at a time, through hooks a subclass overrides.

    accepted(link) is called first (link.client is the accepted socket;
    False: the subclass dealt with it, nothing is relayed); then, for each
    write, from_client(link, data) and from_server(link, data), which relay
    it themselves (link.server, link.client) and return False to cut both
    sides there.  The defaults relay everything."""

    class Link:
        def __init__(self, client):
            self.client = client
            self.server = None

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.stop = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def accepted(self, link):
        return True

    def from_client(self, link, data):
        link.server.sendall(data)
        return True

    def from_server(self, link, data):
        link.client.sendall(data)
        return True

    def _accept(self):
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            link = self.Link(client)
            if self.accepted(link):
                threading.Thread(target=self._relay, args=(link,), daemon=True).start()

    def _relay(self, link):
        try:
            link.server = socket.create_connection(self.target)
            while not self.stop.is_set():
                ready, _, _ = select.select([link.client, link.server], [], [], 0.5)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    relay = self.from_client if s is link.client else self.from_server
                    if not relay(link, data):
                        return
        finally:
            link.client.close()
            if link.server is not None:
                link.server.close()

    def close(self):
        self.stop.set()
        self.listener.close()


class HoldBeforeTheRead(LoopbackProxy):
    """A loopback proxy that, before it passes on the history read (after the verdict under the
    read's lock), or the first write that contains one of needles, runs action once: what the
    table's owner could commit in that instant."""

    # the read: a copy now; the SELECTs of the versions before it, for the tests' "fails before"
    READS = (b" TO STDOUT", b"ORDER BY version", b"ORDER BY started_at")

    def __init__(self, target_host, target_port, action, needles=READS):
        self.action = action
        self.needles = needles
        self.fired = threading.Event()
        super().__init__(target_host, target_port)

    def from_client(self, link, data):
        if not self.fired.is_set() and any(n in data for n in self.needles):
            self.action()
            self.fired.set()
        link.server.sendall(data)
        return True


def _load_cluster():
    d = os.environ.get("TOOLKIT_CLUSTER_DIR")
    if not d:
        raise RuntimeError("TOOLKIT_CLUSTER_DIR is not set: run through ctest, or "
                           "start a cluster with tests/harness/cluster.py start DIR "
                           "and export TOOLKIT_CLUSTER_DIR=DIR")
    path = os.path.join(d, "cluster.json")
    try:
        with open(path, encoding="utf-8") as f:
            c = json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeError("cannot read %s (is the cluster started?): %s" % (path, e))
    if "port" not in c or "host" not in c:
        raise RuntimeError("%s describes a cluster that did not start" % path)
    return c


class Result:
    """What a finished program run left: exit status, output, stderr lines."""

    def __init__(self, argv, rc, stdout, stderr):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.lines = stderr.splitlines()

    def __repr__(self):
        return "Result(rc=%r, argv=%r)" % (self.rc, self.argv)

    def describe(self):
        return ("command: %s\nexit code: %r\n--- stdout ---\n%s\n--- stderr ---\n%s"
                "\n--------------" % (shlex.join(self.argv), self.rc,
                                      self.stdout.rstrip("\n"),
                                      self.stderr.rstrip("\n")))


def _text(b):
    if b is None:
        return ""
    if isinstance(b, str):
        return b
    return b.decode("utf-8", errors="replace")


class ToolkitTestCase(unittest.TestCase):
    """Base class: one fresh, empty database per test, dropped afterwards."""

    maxDiff = None
    cluster = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.cluster = _load_cluster()
        cls.host = cls.cluster["host"]
        cls.port = int(cls.cluster["port"])
        cls.tcp_host = cls.cluster.get("tcp_host", "127.0.0.1")
        cls.superuser = cls.cluster.get("superuser", "postgres")

    # ---- per-test database ------------------------------------------------

    def setUp(self):
        super().setUp()
        # The test id names the database; the pid keeps two runs of the same
        # module against one cluster apart.
        key = "%d:%s" % (os.getpid(), self.id())
        self.dbname = "t_" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]
        self._admin = psycopg2.connect(self.admin_dsn())
        self._admin.autocommit = True
        # Cleanups run last-in first-out: registering the drop first makes it
        # run after every connection and process of the test is gone.
        self.addCleanup(self._drop_database)
        self._drop_database(close=False)  # left over by an aborted earlier run
        with self._admin.cursor() as cur:
            cur.execute("CREATE DATABASE %s TEMPLATE template0 ENCODING 'UTF8'"
                        % self.ident(self.dbname))
        self.dsn = conninfo(host=self.host, port=self.port, dbname=self.dbname,
                            user=self.superuser)
        self._conn = None

    def _drop_database(self, close=True):
        admin = self._admin
        try:
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()",
                            (self.dbname,))
                cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)"
                            % self.ident(self.dbname))
        finally:
            if close:
                admin.close()

    def admin_dsn(self, dbname="postgres"):
        return conninfo(host=self.host, port=self.port, dbname=dbname,
                        user=self.superuser)

    def tcp_dsn(self, user, password=None, dbname=None):
        """A keyword/value conninfo to the test database over TCP."""
        kw = dict(host=self.tcp_host, port=self.port, dbname=dbname or self.dbname,
                  user=user)
        if password is not None:
            kw["password"] = password
        return conninfo(**kw)

    def tcp_uri(self, user, password=None, dbname=None):
        """The same as tcp_dsn, in postgresql:// URI form."""
        auth = urllib.parse.quote(user, safe="")
        if password is not None:
            auth += ":" + urllib.parse.quote(password, safe="")
        return "postgresql://%s@%s:%d/%s" % (
            auth, self.tcp_host, self.port,
            urllib.parse.quote(dbname or self.dbname, safe=""))

    @staticmethod
    def ident(name):
        return '"' + name.replace('"', '""') + '"'

    # ---- SQL ----------------------------------------------------------------

    def connect(self, autocommit=True, dsn=None, **kw):
        """A new connection to the test database, closed after the test."""
        conn = psycopg2.connect(dsn or self.dsn, **kw)
        conn.autocommit = autocommit
        self.addCleanup(conn.close)
        return conn

    def _query_conn(self):
        if self._conn is None or self._conn.closed:
            self._conn = self.connect(autocommit=True)
        return self._conn

    def query(self, sql, params=None):
        """Rows of sql run on the test database (autocommit); [] if none."""
        with self._query_conn().cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description is not None else []

    def scalar(self, sql, params=None):
        """First column of the first row, or None when there is no row."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def table_exists(self, name, schema="public"):
        return self.scalar("SELECT to_regclass(%s) IS NOT NULL",
                           (self.ident(schema) + "." + self.ident(name),))

    def column_exists(self, table, column, schema="public"):
        return bool(self.scalar(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND column_name = %s",
            (schema, table, column)))

    def hold_lock(self, sql_statements, application_name="toolkit_lock_holder"):
        """Run statements in an open transaction on a separate connection.

        Returns the connection with its transaction still open: the caller
        commits or rolls back; it is closed after the test in any case.
        """
        if isinstance(sql_statements, str):
            sql_statements = [sql_statements]
        conn = self.connect(autocommit=False, application_name=application_name)
        with conn.cursor() as cur:
            for stmt in sql_statements:
                cur.execute(stmt)
        return conn

    @staticmethod
    def backend_pid(conn):
        return conn.get_backend_pid()

    # ---- files --------------------------------------------------------------

    def make_dir(self, files=None):
        """A fresh temp directory with files {name: str|bytes}, exactly as given.

        Names may contain "/" to create subdirectories.  Removed after the test.
        """
        d = tempfile.mkdtemp(prefix="tk_")
        self.addCleanup(shutil.rmtree, d, True)
        for name, content in (files or {}).items():
            path = os.path.join(d, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            data = content.encode("utf-8") if isinstance(content, str) else content
            with open(path, "wb") as f:
                f.write(data)
        return d

    # ---- running the programs -------------------------------------------------

    @staticmethod
    def program_env(env=None):
        """os.environ without libpq/toolkit variables, then env applied.

        A value of None in env removes that variable.
        """
        e = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        # libfaketime (the window and history tests) is preloaded ahead of the
        # ASan runtime, which then refuses to start; the order does not matter
        # to either (only the check is off), and other builds ignore it
        asan = e.get("ASAN_OPTIONS", "")
        if "verify_asan_link_order" not in asan:
            e["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        for k, v in (env or {}).items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        return e

    def clock_at(self, when):
        """The environment that starts a program's clock at when (UTC,
        'YYYY-MM-DD HH:MM:SS') and lets it run: libfaketime preloaded.

        Never through Debian's faketime wrapper: it keeps a semaphore and a
        shared memory object named after its own PID in /dev/shm and leaves
        both behind when it is killed; a later wrapper that gets the same
        PID then refuses to start ("faketime: sem_open: File exists", exit 1).
        The wrapper also forks, so a signal sent to it never reaches the
        program.  Preloaded, the library makes the same pair for a process's
        children, gives up sharing (and nothing else) when the names are
        taken, and leaves the pair behind when the process execs (the
        compose files' shell wrappers) or is killed: the test removes what
        its processes left.
        """
        libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
        if not libs:
            raise AssertionError("libfaketime.so.1 is not installed (scripts/deps.sh installs Debian's faketime)")
        self.addCleanup(_remove_faketime_leftovers, set(_faketime_objects()))
        return {"TZ": "UTC", "LD_PRELOAD": libs[0], "FAKETIME": "@" + when}

    def _argv(self, program_var, args, dsn):
        program = os.environ.get(program_var)
        if not program:
            self.fail("%s is not set (path of the program under test)" % program_var)
        wrapper = shlex.split(os.environ.get("TOOLKIT_TEST_WRAPPER", ""))
        argv = wrapper + [program] + [str(a) for a in args]
        if dsn is _DEFAULT:
            dsn = self.dsn
        if dsn is not None:
            argv += ["--dsn", dsn]
        return argv

    def run_program(self, argv, env=None, timeout=120, input=None):
        """Run argv to completion; a Result.  Fails the test on timeout."""
        if isinstance(input, str):
            input = input.encode("utf-8")
        proc = subprocess.Popen(argv, env=self.program_env(env),
                                stdin=subprocess.PIPE if input is not None
                                else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self._reap, proc)
        return self.finish(proc, timeout=timeout, input=input, argv=argv)

    def run_migrator(self, *args, env=None, dsn=_DEFAULT, timeout=120, input=None):
        return self.run_program(self._argv("MIGRATOR", args, dsn), env=env,
                                timeout=timeout, input=input)

    def run_indexer(self, *args, env=None, dsn=_DEFAULT, timeout=120, input=None):
        return self.run_program(self._argv("INDEXER", args, dsn), env=env,
                                timeout=timeout, input=input)

    def _start(self, argv, env):
        proc = subprocess.Popen(argv, env=self.program_env(env),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.toolkit_argv = argv
        proc.toolkit_stderr_head = b""
        self.addCleanup(self._reap, proc)
        return proc

    def start_migrator(self, *args, env=None, dsn=_DEFAULT):
        """Start the migrator in the background; finish it with self.finish."""
        return self._start(self._argv("MIGRATOR", args, dsn), env)

    def start_indexer(self, *args, env=None, dsn=_DEFAULT):
        return self._start(self._argv("INDEXER", args, dsn), env)

    def wait_for_stderr(self, proc, regex, timeout=60):
        """Read a started program's stderr until a line matches regex.

        Returns the matching line.  What was read is kept, so finish() still
        reports the whole of stderr.  Fails if the program ends first or
        nothing matches within timeout seconds.
        """
        fd = proc.stderr.fileno()
        deadline = time.monotonic() + timeout
        pattern = re.compile(regex)
        while True:
            for line in _text(proc.toolkit_stderr_head).splitlines():
                if pattern.search(line):
                    return line
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break  # the program closed stderr: it has ended
            proc.toolkit_stderr_head += chunk
        r = self.finish(proc, timeout=30)
        self.fail("no stderr line matched %r\n%s" % (regex, r.describe()))

    def finish(self, proc, timeout=120, input=None, argv=None):
        """Wait for a started program; a Result.  Kills it and fails on timeout."""
        argv = argv or getattr(proc, "toolkit_argv", None) or proc.args
        head = getattr(proc, "toolkit_stderr_head", b"")
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            r = Result(argv, None, _text(out), _text(head + (err or b"")))
            self.fail("timed out after %ss\n%s" % (timeout, r.describe()))
        return Result(argv, proc.returncode, _text(out), _text(head + (err or b"")))

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.kill()
        try:
            proc.communicate(timeout=30)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass

    # ---- assertions ------------------------------------------------------------

    def assertExit(self, result, code, msg=None):
        if result.rc != code:
            text = "expected exit code %r, got %r\n%s" % (code, result.rc,
                                                         result.describe())
            if msg:
                text = msg + "\n" + text
            self.fail(text)

    def assertStderrMatches(self, result, regex, msg=None):
        if not re.search(regex, result.stderr, re.MULTILINE):
            self.fail("%sstderr does not match %r\n%s"
                      % (msg + "\n" if msg else "", regex, result.describe()))

    def assertNoLine(self, result, regex, msg=None):
        """No stderr line matches regex (re.search)."""
        bad = [ln for ln in result.lines if re.search(regex, ln)]
        if bad:
            self.fail("%sstderr has lines matching %r: %r\n%s"
                      % (msg + "\n" if msg else "", regex, bad, result.describe()))

    def assertLastLineMatches(self, result, regex, msg=None):
        """The last non-empty stderr line matches regex (re.search)."""
        lines = [ln for ln in result.lines if ln.strip()]
        last = lines[-1] if lines else ""
        if not re.search(regex, last):
            self.fail("%slast stderr line %r does not match %r\n%s"
                      % (msg + "\n" if msg else "", last, regex, result.describe()))

    def assertNotInOutput(self, result, needle, msg=None):
        """needle appears in neither stdout nor stderr."""
        if needle in result.stdout or needle in result.stderr:
            self.fail("%s%r appears in the output\n%s"
                      % (msg + "\n" if msg else "", needle, result.describe()))
