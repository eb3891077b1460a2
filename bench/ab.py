#!/usr/bin/env python3
"""A/B benchmark of two revisions of the toolkit, run by hand (never by ctest).

Usage: bench/ab.py BASE_REV [HEAD_REV]   (HEAD_REV defaults to the work tree)

Builds both revisions (Release, no tests) in bench/ab-build/, starts one
throwaway PostgreSQL with tests/harness/cluster.py, and runs each workload
for both builds in alternating order, round after round, so that drift in a
shared machine's load hits both arms alike.  Reports, per workload, the
median wall time of each arm and the median of the per-round ratios
head/base (the figure to read: 1.05 is 5 % slower).  Writes the report to
bench/AB.md (BENCH_AB_OUT overrides) and prints it.

Workloads: `migrator up` of N trivial migrations into a fresh database; a
no-op `up` over them; `migrator lint` of the same files plus PL/pgSQL ones;
`indexer build -j 2` of four indexes on a 200 000-row table (dropped
between runs); a no-op `indexer build` over 200 valid definitions.
Environment: BENCH_AB_ROUNDS (default 9), BENCH_AB_N (migrations, default 300),
BENCH_AB_ONLY (run only the workloads whose name contains it, e.g. "lint").

Every arm connects over TCP on loopback (host=127.0.0.1, sslmode=disable),
the DSN of bench/run.sh.  The `up` workload has a third arm, the baseline of
issue 13: one psql session (the server package's psql, -X) running
`BEGIN; \\i file; COMMIT` per file, into a fresh database too, in the same
rotated order (BENCH_AB_PSQL=0 leaves it out).  For that workload the report
has a second table: each arm against psql (median of the per-round ratios),
with the client's CPU time and the server's (the CPU time of the backends
the run started, read from the postmaster's reaped-children counters in
/proc: what the server did for the arm, whatever the machine's load).
"""
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("BENCH_AB_ROUNDS", "9"))
N = int(os.environ.get("BENCH_AB_N", "300"))
OUT = os.environ.get("BENCH_AB_OUT", os.path.join(REPO, "bench", "AB.md"))
BUILD_ROOT = os.environ.get("BENCH_AB_BUILD", os.path.join(REPO, "bench", "ab-build"))
ONLY = os.environ.get("BENCH_AB_ONLY", "")
PSQL_ARM = os.environ.get("BENCH_AB_PSQL", "1") != "0"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if r.returncode != 0:
        sys.exit("ab: failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout[-3000:]))
    return r.stdout


def build(rev, name):
    """Build rev (a commit, or None for the work tree) into BUILD_ROOT/name."""
    src = REPO
    if rev is not None:
        src = os.path.join(BUILD_ROOT, name + "-src")
        shutil.rmtree(src, ignore_errors=True)
        os.makedirs(src)
        archive = subprocess.run(["git", "-C", REPO, "archive", rev], stdout=subprocess.PIPE, check=True)
        subprocess.run(["tar", "-x", "-C", src], input=archive.stdout, check=True)
    out = os.path.join(BUILD_ROOT, name)
    run(["cmake", "-S", src, "-B", out, "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_TESTING=OFF"])
    run(["cmake", "--build", out, "-j", str(os.cpu_count() or 2)])
    return {"migrator": os.path.join(out, "migrator", "migrator"),
            "indexer": os.path.join(out, "indexer", "indexer")}


def client_backends(ppid):
    """The postmaster's children that serve a client connection."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                state, parent = f.read().rsplit(")", 1)[1].split()[:2]
            if parent != ppid:
                continue
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        # a zombie's times reach the postmaster's only when it is reaped
        if state == "Z" or b"127.0.0.1(" in cmd or b"[local]" in cmd:
            found.append(d)
    return found


class Cluster:
    def __init__(self, work):
        self.dir = os.path.join(work, "cluster")
        run([sys.executable, os.path.join(REPO, "tests", "harness", "cluster.py"), "start", self.dir])
        with open(os.path.join(self.dir, "cluster.json")) as f:
            c = json.load(f)
        self.host, self.port, self.user = c.get("tcp_host", "127.0.0.1"), c["port"], c["superuser"]
        self.psql = os.path.join(c["bindir"], "psql")
        self.datadir = c["datadir"]
        self.seq = 0

    def stop(self):
        subprocess.run([sys.executable, os.path.join(REPO, "tests", "harness", "cluster.py"), "stop", self.dir])

    def dsn(self, db):
        return "host=%s port=%s user=%s dbname=%s sslmode=disable" % (self.host, self.port, self.user, db)

    def server_cpu_ms(self):
        """CPU ms of the postmaster's reaped children, once every client
        backend has ended and been reaped (autovacuum workers may add a
        little: they are the server's work too)."""
        with open(os.path.join(self.datadir, "postmaster.pid")) as f:
            pid = f.readline().strip()
        deadline = time.monotonic() + 10
        while client_backends(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        with open("/proc/%s/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3): cutime and cstime are fields 16 and 17
        return (int(fields[13]) + int(fields[14])) * 1000.0 / CLK_TCK


    def sql(self, db, text):
        return run([self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.dsn(db), "-c", text])

    def fresh_db(self):
        self.seq += 1
        name = "ab_%d" % self.seq
        self.sql("postgres", "CREATE DATABASE %s" % name)
        return name


def write_inputs(work):
    mig = os.path.join(work, "migrations")
    lint = os.path.join(work, "lint")
    os.makedirs(mig)
    os.makedirs(lint)
    for i in range(1, N + 1):
        with open(os.path.join(mig, "%04d_t_%d.sql" % (i, i)), "w") as f:
            f.write("CREATE TABLE t_%d (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                    "name text NOT NULL);\nALTER TABLE t_%d ADD COLUMN note text;\n" % (i, i))
        with open(os.path.join(lint, "%04d_l_%d.sql" % (i, i)), "w") as f:
            f.write("CREATE TABLE l_%d (id bigint PRIMARY KEY, status text NOT NULL DEFAULT 'new');\n"
                    "CREATE OR REPLACE FUNCTION l_%d_touch() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
                    "BEGIN\n  IF NEW.status IS NULL THEN NEW.status := 'new'; END IF;\n  RETURN NEW;\nEND\n$fn$;\n"
                    "DO $do$ BEGIN RAISE NOTICE 'file %d'; END $do$;\n" % (i, i, i))
    with open(os.path.join(work, "psql.script"), "w") as f:
        for i in range(1, N + 1):
            f.write("BEGIN;\n\\i %s\nCOMMIT;\n" % os.path.join(mig, "%04d_t_%d.sql" % (i, i)))
    build_cfg = os.path.join(work, "build.cfg")
    defs = []
    for col in ("a", "b", "c", "d"):
        defs.append('{ name = "big_%s"; table = "big"; critical = true;\n'
                    '  sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS big_%s ON big (%s)"; }' % (col, col, col))
    with open(build_cfg, "w") as f:
        f.write("indexes = (\n%s\n);\n" % ",\n".join(defs))
    noop_cfg = os.path.join(work, "noop.cfg")
    defs = ['{ name = "t_%d_name"; table = "t_%d"; critical = false;\n'
            '  sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_%d_name ON t_%d (name)"; }' % (i, i, i, i)
            for i in range(1, 201)]
    with open(noop_cfg, "w") as f:
        f.write("indexes = (\n%s\n);\n" % ",\n".join(defs))
    return mig, lint, build_cfg, noop_cfg


CPU_MS = []  # (workload run, CPU ms of the child: user + system), filled by timed()
SERVER_MS = []  # the server's CPU ms of the same run (timed with a cluster)


def timed(cmd, cluster=None):
    """Wall ms of cmd; its CPU ms (user + system) goes to CPU_MS[-1], the
    server's (when cluster is given) to SERVER_MS[-1]."""
    if cluster is not None:
        s0 = cluster.server_cpu_ms()  # the set-up's backends reaped
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    run(cmd)
    wall = (time.perf_counter() - t0) * 1000
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_MS.append(((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000)
    if cluster is not None:
        SERVER_MS.append(cluster.server_cpu_ms() - s0)  # the run's backends reaped
    return wall


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    base_rev = sys.argv[1]
    head_rev = sys.argv[2] if len(sys.argv) == 3 else None
    os.makedirs(BUILD_ROOT, exist_ok=True)
    arms = {"base": build(base_rev, "base"), "head": build(head_rev, "head")}
    work = tempfile.mkdtemp(prefix="bench_ab.")
    cluster = Cluster(work)
    try:
        results, cpu, vs_psql = measure(cluster, arms, work, *write_inputs(work))
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(results, cpu, vs_psql, base_rev, head_rev or "work tree")


def up_fresh(cluster, b, mig):
    """migrator up of every file into a fresh database, checked afterwards."""
    db = cluster.fresh_db()
    wall = timed([b["migrator"], "up", "--dir", mig, "--dsn", cluster.dsn(db)], cluster)
    check_applied(cluster, db)
    return wall


def psql_fresh(cluster, work):
    """The baseline: one psql session, BEGIN; \\i file; COMMIT per file."""
    db = cluster.fresh_db()
    wall = timed([cluster.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", cluster.dsn(db),
                  "-f", os.path.join(work, "psql.script")], cluster)
    check_applied(cluster, db)
    return wall


def check_applied(cluster, db):
    n = int(cluster.sql(db, "SELECT count(*) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c "
                            "ON c.oid = a.attrelid WHERE a.attname = 'note' AND c.relname LIKE 't\\_%'"))
    if n != N:
        sys.exit("ab: %s has %d of the %d tables" % (db, n, N))


def measure(cluster, arms, work, mig, lint, build_cfg, noop_cfg):
    # one database per arm, migrated once, holds the no-op workloads' state
    noop_db = {}
    for arm, b in arms.items():
        noop_db[arm] = cluster.fresh_db()
        run([b["migrator"], "up", "--dir", mig, "--dsn", cluster.dsn(noop_db[arm])])
        run([b["indexer"], "-c", noop_cfg, "--dsn", cluster.dsn(noop_db[arm]), "-j", "2"])
    big_db = cluster.fresh_db()
    cluster.sql(big_db, "CREATE TABLE big AS SELECT g AS a, g % 1000 AS b, md5(g::text) AS c, "
                "now() - g * interval '1 s' AS d FROM generate_series(1, 200000) g")
    cluster.sql(big_db, "VACUUM ANALYZE big")
    up_name = "up (%d migrations)" % N
    workloads = {
        up_name: lambda b, arm: up_fresh(cluster, b, mig),
        "up, nothing to do": lambda b, arm: timed(
            [b["migrator"], "up", "--dir", mig, "--dsn", cluster.dsn(noop_db[arm])]),
        "lint (%d files)" % N: lambda b, arm: timed([b["migrator"], "lint", "--dir", lint]),
        "lint, the plain migrations (%d files)" % N: lambda b, arm: timed([b["migrator"], "lint", "--dir", mig]),
        "indexer build -j 2 (4 x 200k rows)": lambda b, arm: build_big(cluster, big_db, b, build_cfg),
        "indexer build, 200 present": lambda b, arm: timed(
            [b["indexer"], "-c", noop_cfg, "--dsn", cluster.dsn(noop_db[arm]), "-j", "2"]),
    }
    workloads = {w: fn for w, fn in workloads.items() if ONLY in w}
    results = {w: {"base": [], "head": []} for w in workloads}
    cpu = {w: {"base": [], "head": []} for w in workloads}
    # the up workload's three arms: wall, client CPU, server CPU
    vs_psql = {a: {"wall": [], "cpu": [], "server": []} for a in ("psql", "base", "head")} \
        if PSQL_ARM and up_name in workloads else None
    for r in range(ROUNDS):
        order = ["base", "head"] if r % 2 == 0 else ["head", "base"]
        for w, fn in workloads.items():
            up_order = order
            if w == up_name and vs_psql is not None:
                # psql first, between or last: rotated over the rounds
                up_order = list(order)
                up_order.insert(r % 3, "psql")
            for arm in up_order:
                if arm == "psql":
                    wall = psql_fresh(cluster, work)
                else:
                    wall = fn(arms[arm], arm)
                    results[w][arm].append(wall)
                    cpu[w][arm].append(CPU_MS[-1])
                if w == up_name and vs_psql is not None:
                    vs_psql[arm]["wall"].append(wall)
                    vs_psql[arm]["cpu"].append(CPU_MS[-1])
                    vs_psql[arm]["server"].append(SERVER_MS[-1])
        print("ab: round %d of %d done" % (r + 1, ROUNDS), file=sys.stderr)
    return results, cpu, vs_psql


def build_big(cluster, db, b, cfg):
    cluster.sql(db, "DROP INDEX IF EXISTS big_a, big_b, big_c, big_d")
    return timed([b["indexer"], "-c", cfg, "--dsn", cluster.dsn(db), "-j", "2"])


def report(results, cpu, vs_psql, base_rev, head_rev):
    def sh(cmd):
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    load = open("/proc/loadavg").read().split()[:3]
    lines = ["# A/B: %s (base) vs %s (head)" % (base_rev, head_rev), "",
             "bench/ab.py, %s; %d rounds, arms alternating; %s, %d cores, load average %s at the end; %s; %s." % (
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), ROUNDS, platform.platform(),
                 os.cpu_count() or 0, " ".join(load), sh("gcc --version | head -1"),
                 sh("pg_config --version 2>/dev/null || true")),
             "", "Wall time, and the client's CPU time (user + system, from getrusage: what a loaded machine "
             "disturbs least).", "",
             "| workload | base median | head median | head/base (median of per-round ratios) | spread "
             "| CPU base | CPU head | CPU head/base (per-round) |",
             "|---|---|---|---|---|---|---|---|"]
    for w, arms in results.items():
        ratios = sorted(h / b for h, b in zip(arms["head"], arms["base"]))
        c = cpu[w]
        cpu_ratios = [h / b for h, b in zip(c["head"], c["base"]) if b > 0]
        lines.append("| %s | %.1f ms | %.1f ms | %.3f | %.3f–%.3f | %.1f ms | %.1f ms | %.3f |" % (
            w, statistics.median(arms["base"]), statistics.median(arms["head"]),
            statistics.median(ratios), ratios[0], ratios[-1], statistics.median(c["base"]),
            statistics.median(c["head"]), statistics.median(cpu_ratios) if cpu_ratios else float("nan")))
    if vs_psql is not None:
        lines += ["", "`up` of %d against the psql session (the same rounds, its arm rotated among them):" % N, "",
                  "| arm | wall median | ÷ psql (median of per-round ratios) | spread | client CPU median "
                  "| server CPU median (min) |", "|---|---|---|---|---|---|"]
        for arm in ("psql", "base", "head"):
            a = vs_psql[arm]
            ratios = sorted(x / p for x, p in zip(a["wall"], vs_psql["psql"]["wall"]))
            lines.append("| %s | %.1f ms | %.3f | %.3f–%.3f | %.1f ms | %.1f ms (%.1f) |" % (
                arm, statistics.median(a["wall"]), statistics.median(ratios), ratios[0], ratios[-1],
                statistics.median(a["cpu"]), statistics.median(a["server"]), min(a["server"])))
    text = "\n".join(lines) + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
