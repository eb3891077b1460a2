#!/usr/bin/env python3
"""
cluster.py
    Start and stop the throwaway PostgreSQL cluster the integration tests use.

    cluster.py start DIR   initdb a fresh cluster, start it, write DIR/cluster.json
    cluster.py stop DIR    stop it and remove its data; exit 0 even if it is gone

Both are idempotent: start first stops and removes whatever an earlier run left
in DIR (also after a crash), stop never fails because there is nothing to stop.
The ctest fixture runs start before and stop after all integration tests.

PostgreSQL refuses to run as root, so when we are root every server program
runs as the unprivileged "postgres" user, and the data directory moves to a
fresh directory under /tmp when DIR is not reachable by that user.  The server
listens on a Unix socket (short path, libpq's limit is ~107 bytes) and on
127.0.0.1 at a free port chosen here.

Only the standard library is used, so any python3 can run this file.

tests/harness/cluster.py
"""

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SERVER_USER = "postgres"  # OS user that runs the server when we are root
SUPERUSER = "postgres"  # database superuser created by initdb -U
PASSWORD_ROLE = "pwuser"
PASSWORD = "sekret-pw-123"  # also used to check that no password is printed
NOLOGIN_ROLE = "app_owner"
START_ATTEMPTS = 5  # a chosen port can be taken before the server binds it
SOCKET_DIR_MAX = 80  # leaves room for "/.s.PGSQL.NNNNN" below libpq's limit

# Environment variables libpq reads; our psql calls must not inherit them.
LIBPQ_ENV = (
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD",
    "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGAPPNAME",
    "PGSSLMODE", "PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS", "PGDATA",
)


def log(msg):
    print("cluster: " + msg, file=sys.stderr, flush=True)


def die(msg, code=1):
    log("error: " + msg)
    sys.exit(code)


class RunAs:
    """Who runs the server programs: ourselves, or "postgres" when we are root."""

    def __init__(self):
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam(SERVER_USER)
            except KeyError:
                die('running as root and there is no "%s" user to run the server'
                    % SERVER_USER)
            self.uid, self.gid, self.name, self.home = (
                pw.pw_uid, pw.pw_gid, pw.pw_name, pw.pw_dir)
        else:
            self.uid, self.gid = None, None
            self.name = pwd.getpwuid(os.geteuid()).pw_name
            self.home = os.environ.get("HOME", "/")

    @property
    def dropping(self):
        return self.uid is not None

    def chown(self, path):
        if self.dropping:
            os.chown(path, self.uid, self.gid)

    def run(self, argv, check=False, **kw):
        """Run argv as the server user, cwd "/", a libpq-free environment."""
        env = clean_env()
        if self.dropping:
            env["HOME"] = self.home
            env["USER"] = env["LOGNAME"] = self.name
            kw.update(user=self.uid, group=self.gid, extra_groups=[])
        kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(argv, env=env, cwd="/", check=check, **kw)

    def can_use_dir(self, path):
        """True if the server user can enter and write path (all ancestors too)."""
        if not self.dropping:
            return os.access(path, os.W_OK | os.X_OK)
        r = self.run(["test", "-w", path, "-a", "-x", path],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0


def clean_env():
    env = dict(os.environ)
    for k in LIBPQ_ENV:
        env.pop(k, None)
    env["LC_ALL"] = "C"
    env["LANG"] = "C"
    return env


def find_bindir():
    """PG_BINDIR, else PostgreSQL 15's, else the highest installed version's."""
    env = os.environ.get("PG_BINDIR")
    if env:
        if not os.access(os.path.join(env, "pg_ctl"), os.X_OK):
            die("PG_BINDIR=%s has no pg_ctl" % env)
        return env
    candidates = []
    pg15_config = "/usr/lib/postgresql/15/bin/pg_config"
    if os.access(pg15_config, os.X_OK):
        try:
            out = subprocess.run([pg15_config, "--bindir"], capture_output=True,
                                 text=True, check=True).stdout.strip()
            candidates.append(out)
        except (OSError, subprocess.CalledProcessError):
            pass

    def version_key(d):
        try:
            return float(os.path.basename(os.path.dirname(d)))
        except ValueError:
            return -1.0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version_key,
                         reverse=True)
    for d in candidates:
        if all(os.access(os.path.join(d, p), os.X_OK) for p in ("initdb", "pg_ctl")):
            return d
    die("no PostgreSQL server binaries found (install postgresql-15 or set PG_BINDIR)")
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_state(d):
    try:
        with open(os.path.join(d, "cluster.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_state(d, state):
    tmp = os.path.join(d, "cluster.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, os.path.join(d, "cluster.json"))


def tail(path, n=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(no server log: %s)\n" % e


def postmaster_pid(datadir):
    try:
        with open(os.path.join(datadir, "postmaster.pid"), encoding="utf-8") as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def is_our_postmaster(pid, datadir):
    """True if pid is alive and is a postgres process serving datadir."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    if not argv or b"postgres" not in os.path.basename(argv[0]):
        return False
    return os.fsencode(os.path.realpath(datadir)) in \
        [os.fsencode(os.path.realpath(os.fsdecode(a))) for a in argv if a]


def stop_server(runas, bindir, datadir):
    """Stop the server on datadir if one runs; never raises."""
    if not datadir or not os.path.exists(os.path.join(datadir, "postmaster.pid")):
        return
    pg_ctl = os.path.join(bindir or find_bindir(), "pg_ctl")
    try:
        runas.run([pg_ctl, "stop", "-D", datadir, "-m", "immediate", "-w", "-t", "60"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=90)
    except (OSError, subprocess.SubprocessError) as e:
        log("pg_ctl stop failed: %s" % e)
    # pg_ctl gives up on a hung server and a stale pid file lies; check the
    # process itself and kill it only if it really is this cluster's postmaster.
    pid = postmaster_pid(datadir)
    if pid and is_our_postmaster(pid, datadir):
        log("postmaster %d still running; killing it" % pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        for _ in range(100):
            if not is_our_postmaster(pid, datadir):
                break
            time.sleep(0.1)


def rmtree(path):
    if not path or not os.path.lexists(path):
        return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except OSError:
            pass


def cmd_stop(d, quiet=False):
    d = os.path.abspath(d)
    runas = RunAs()
    state = read_state(d) or {}
    datadirs = [state.get("datadir"), os.path.join(d, "data")]
    for datadir in dict.fromkeys(x for x in datadirs if x):
        stop_server(runas, state.get("bindir"), datadir)
    logfile = state.get("logfile")
    if logfile and os.path.isfile(logfile) and os.path.isdir(d):
        # Keep the server log next to the build for post-mortems.
        try:
            shutil.copyfile(logfile, os.path.join(d, "server.log"))
        except OSError:
            pass
    for p in state.get("tempdirs", []):
        rmtree(p)
    rmtree(os.path.join(d, "data"))
    for name in ("cluster.json", "cluster.json.tmp"):
        try:
            os.unlink(os.path.join(d, name))
        except OSError:
            pass
    if not quiet:
        log("stopped (%s)" % d)
    return 0


def psql(runas, bindir, host, port, sql):
    """Run sql as the superuser over the socket; as ourselves, trust auth."""
    argv = [os.path.join(bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", host, "-p", str(port), "-U", SUPERUSER, "-d", "postgres", "-c", sql]
    r = subprocess.run(argv, env=clean_env(), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        die("psql failed (%d): %s" % (r.returncode, r.stderr.strip()))


def cmd_start(d):
    d = os.path.abspath(d)
    runas = RunAs()
    bindir = find_bindir()

    if os.path.lexists(d):
        cmd_stop(d, quiet=True)
        rmtree(d)
    os.makedirs(d)

    state = {"tempdirs": [], "bindir": bindir, "superuser": SUPERUSER,
             "tcp_host": "127.0.0.1", "server_user": runas.name}
    # Record every temp dir before using it, so a stop after a failed start
    # still finds and removes it.
    write_state(d, state)

    runas.chown(d)
    if runas.can_use_dir(d):
        base = d
    else:
        base = tempfile.mkdtemp(prefix="tkpg.", dir="/tmp")
        state["tempdirs"].append(base)
        write_state(d, state)
        runas.chown(base)
        if not runas.can_use_dir(base):
            die("user %s cannot use %s either" % (runas.name, base))
    datadir = os.path.join(base, "data")
    logfile = os.path.join(datadir, "server.log")
    state.update(datadir=datadir, logfile=logfile)
    write_state(d, state)

    r = runas.run([os.path.join(bindir, "initdb"), "-D", datadir, "-U", SUPERUSER,
                   "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C",
                   "--no-instructions"],
                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout)
        die("initdb failed with exit code %d" % r.returncode)

    # The socket lives in the data dir when that path is short enough.
    sockdir = os.path.join(datadir, "sock")
    if len(sockdir) <= SOCKET_DIR_MAX:
        os.mkdir(sockdir, 0o700)
    else:
        sockdir = tempfile.mkdtemp(prefix="tks.", dir="/tmp")
        state["tempdirs"].append(sockdir)
        write_state(d, state)
    runas.chown(sockdir)
    state["host"] = sockdir

    with open(os.path.join(datadir, "pg_hba.conf"), "w", encoding="utf-8") as f:
        f.write("# written by tests/harness/cluster.py\n"
                "local all all                trust\n"
                "host  all %s 127.0.0.1/32 scram-sha-256\n"
                "host  all all    127.0.0.1/32 trust\n" % PASSWORD_ROLE)

    pg_ctl = os.path.join(bindir, "pg_ctl")
    started = False
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        with open(os.path.join(datadir, "postgresql.conf"), "a", encoding="utf-8") as f:
            f.write("\n# cluster.py attempt %d\n" % attempt)
            for k, v in (("listen_addresses", "'127.0.0.1'"),
                         ("port", str(port)),
                         ("unix_socket_directories", "'%s'" % sockdir),
                         ("fsync", "off"),
                         ("synchronous_commit", "off"),
                         ("full_page_writes", "off"),
                         ("max_connections", "200"),
                         ("shared_buffers", "32MB"),
                         ("password_encryption", "'scram-sha-256'"),
                         ("logging_collector", "off"),
                         ("log_min_messages", "warning"),
                         ("lc_messages", "'C'"),
                         ("timezone", "'UTC'")):
                f.write("%s = %s\n" % (k, v))
        r = runas.run([pg_ctl, "start", "-D", datadir, "-l", logfile, "-w", "-t", "60"],
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0:
            started = True
            break
        log_text = tail(logfile, 200)
        stop_server(runas, bindir, datadir)
        if "could not bind" in log_text or "Address already in use" in log_text:
            log("port %d was taken; retrying with another" % port)
            continue
        sys.stderr.write(r.stdout)
        break
    if not started:
        sys.stderr.write("---- server log tail (%s) ----\n%s" % (logfile, tail(logfile)))
        die("could not start the server")

    state["port"] = port
    write_state(d, state)
    psql(runas, bindir, sockdir, port,
         "CREATE ROLE %s LOGIN PASSWORD '%s'; CREATE ROLE %s NOLOGIN;"
         % (PASSWORD_ROLE, PASSWORD, NOLOGIN_ROLE))
    log("started PostgreSQL (%s) on %s port %d, data %s"
        % (os.path.basename(os.path.dirname(bindir)), sockdir, port, datadir))
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        print("usage: cluster.py start|stop DIR", file=sys.stderr)
        return 2
    if argv[1] == "start":
        return cmd_start(argv[2])
    return cmd_stop(argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
