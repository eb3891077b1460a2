#!/usr/bin/python3
"""Stress: a schema owner swapping schema names under `migrator up`.

What it measures
----------------
The history table lives in schema ``s``, which a non-superuser role ``att``
owns (with CREATE on the database, so att may rename it at any moment; a
schema rename takes no table lock).  The migrator runs as role ``mig``,
which owns the real history table ``s.schema_migrations`` and has CREATE on
``s``; its migrations create tables in schema ``app`` (owned by mig).

att keeps a second schema ``s2`` holding a look-alike ``schema_migrations``
(same columns) whose ``baseline`` column (the one column the history INSERT
leaves to its default) defaults to ``attlog.hit()``: an att-owned function
declared IMMUTABLE (so the planner folds it) whose side effect is
``nextval('attlog.hits_<current_user>')`` on sequences granted to PUBLIC
(non-transactional: a rolled-back write still counts).  A thread as att
swaps the two schema names in a tight loop (three renames in one message:
s->s_tmp, s2->s, s_tmp->s2; twice, then a 2 ms pause, in the real state).

Meanwhile ``migrator up`` runs again and again over --migrations tiny
migrations (``CREATE TABLE app.tN (id int)``).  A run may fail (exit 1 or 2)
when a guard sees a rename: that is expected.  When every migration is
applied, the swap loop is paused and the database reset (app tables
dropped, real history truncated).

Bad outcomes (the script exits 1 if any is seen):
  * any hit of att's function (per role: mig, att, postgres);
  * any history row in att's table;
  * a run that exited 0 while the real history lacks a version whose table
    exists in app (or a table exists without its history row after any run:
    reported separately, as "orphans", since the next run would then fail).

Variants (--variant):
  plain      the above (default)
  notx       every 7th migration is a no-transaction file
  failing    every 11th migration fails at run time (its failure is written
             to the history as a 'failed' row); after a failed run the
             script replaces the file by a working one, so a later run
             retries it (and rewrites the failed row)
  notemp     mig lacks TEMPORARY on the database (the old write path; the
             migrator warns that the race stays)

How to run (a throwaway cluster; only its Unix socket is used):
  /usr/bin/python3 tests/harness/cluster.py start /tmp/rr-cluster
  /usr/bin/python3 tests/stress/rename_race.py --migrator build/migrator/migrator \\
      --cluster-dir /tmp/rr-cluster --seconds 60 --migrations 400
  /usr/bin/python3 tests/harness/cluster.py stop /tmp/rr-cluster

It is not part of ctest.  It connects only to the cluster described by
<cluster-dir>/cluster.json, through its Unix socket directory ("host").
"""

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

HIT_ROLES = ("mig", "att", "postgres")


def connect(cl, db, user):
    host = cl["host"]
    if not host.startswith("/"):
        raise SystemExit("rename_race: cluster.json's host is not a Unix socket directory: %r" % host)
    c = psycopg2.connect(host=host, port=cl["port"], dbname=db, user=user)
    c.autocommit = True
    return c


def q(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        if cur.description is not None:
            return cur.fetchall()
        return None


class Swapper(threading.Thread):
    """att's loop: swap s and s2, twice, then 2 ms in the real state."""

    SWAP = "ALTER SCHEMA s RENAME TO s_tmp; ALTER SCHEMA s2 RENAME TO s; ALTER SCHEMA s_tmp RENAME TO s2"

    def __init__(self, conn):
        super().__init__(daemon=True)
        self.conn = conn
        self.run_flag = threading.Event()  # set: swapping
        self.idle = threading.Event()  # set: paused, names in the real state
        self.stop_flag = False
        self.swaps = 0
        self.errors = collections.Counter()

    def run(self):
        while not self.stop_flag:
            if not self.run_flag.is_set():
                self.idle.set()
                self.run_flag.wait(0.05)
                continue
            self.idle.clear()
            for _ in range(2):
                try:
                    q(self.conn, self.SWAP)
                    self.swaps += 1
                except psycopg2.Error as e:  # e.g. a concurrent catalog update
                    self.errors[(e.pgcode or "?") + " " + str(e).splitlines()[0][:80]] += 1
            time.sleep(0.002)
        self.idle.set()

    def pause(self, su, real_ns):
        self.run_flag.clear()
        self.idle.wait()
        # a failed swap may have left the names odd: put them back by OID
        names = dict(q(su, "SELECT oid::int8, nspname FROM pg_namespace WHERE nspname IN ('s','s2','s_tmp')"))
        if names.get(real_ns) != "s":
            raise SystemExit("rename_race: the real schema is named %r after a pause" % names.get(real_ns))

    def resume(self):
        self.run_flag.set()


def write_migrations(d, n, variant):
    os.makedirs(d, exist_ok=True)
    for i in range(1, n + 1):
        path = os.path.join(d, "%d_t%d.sql" % (i, i))
        with open(path, "w") as f:
            if variant == "notx" and i % 7 == 0:
                f.write("-- migrator:no-transaction\nCREATE TABLE IF NOT EXISTS app.t%d (id int);\n" % i)
            elif variant == "failing" and i % 11 == 0:
                # fails at run time (division by zero in a CHECK on a new table's default? no:
                # a plain failing statement): the failure is recorded in the history
                f.write("CREATE TABLE app.t%d (id int);\nALTER TABLE app.t%d ADD CONSTRAINT c CHECK (id > 0);\n"
                        "ALTER TABLE app.no_such_table_%d ADD COLUMN x int;\n" % (i, i, i))
            else:
                f.write("CREATE TABLE app.t%d (id int);\n" % i)


def fix_migration(d, i):
    with open(os.path.join(d, "%d_t%d.sql" % (i, i)), "w") as f:
        f.write("CREATE TABLE app.t%d (id int);\n" % i)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--migrator", required=True)
    ap.add_argument("--cluster-dir", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--migrations", type=int, default=400)
    ap.add_argument("--variant", choices=("plain", "notx", "failing", "notemp"), default="plain")
    ap.add_argument("--run-timeout", type=float, default=120)
    ap.add_argument("--keep", action="store_true", help="keep the database and the migrations dir")
    a = ap.parse_args()

    with open(os.path.join(a.cluster_dir, "cluster.json")) as f:
        cl = json.load(f)
    su_user = cl.get("superuser", "postgres")
    db = "rename_race_%d" % os.getpid()
    work = tempfile.mkdtemp(prefix="rename_race.")
    mdir = os.path.join(work, "migrations")
    write_migrations(mdir, a.migrations, a.variant)

    admin = connect(cl, "postgres", su_user)
    q(admin, "CREATE DATABASE %s" % db)
    for r in ("att", "mig"):
        if not q(admin, "SELECT 1 FROM pg_roles WHERE rolname = %s", (r,)):
            q(admin, "CREATE ROLE %s LOGIN" % r)
    q(admin, "GRANT CREATE ON DATABASE %s TO att" % db)
    if a.variant == "notemp":
        q(admin, "REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC" % db)
    su = connect(cl, db, su_user)
    setup = """
    CREATE SCHEMA s AUTHORIZATION att;
    CREATE SCHEMA s2 AUTHORIZATION att;
    CREATE SCHEMA attlog AUTHORIZATION att;
    CREATE SCHEMA app AUTHORIZATION mig;
    GRANT USAGE, CREATE ON SCHEMA s TO mig;
    GRANT USAGE ON SCHEMA s2 TO mig;
    GRANT USAGE ON SCHEMA attlog TO PUBLIC;
    """
    for r in HIT_ROLES:
        setup += "CREATE SEQUENCE attlog.hits_%s; GRANT USAGE, SELECT ON SEQUENCE attlog.hits_%s TO PUBLIC;\n" % (r, r)
    setup += """
    CREATE FUNCTION attlog.hit() RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
    BEGIN
      PERFORM pg_catalog.nextval(('attlog.hits_' || current_user)::pg_catalog.regclass);
      RAISE WARNING 'ATT-HIT as %', current_user;
      RETURN 'att';
    END $f$;
    ALTER FUNCTION attlog.hit() OWNER TO att;
    ALTER SEQUENCE attlog.hits_mig OWNER TO att;
    ALTER SEQUENCE attlog.hits_att OWNER TO att;
    ALTER SEQUENCE attlog.hits_postgres OWNER TO att;
    """
    q(su, setup)
    base = ["--dsn", "host=%s port=%s dbname=%s user=mig" % (cl["host"], cl["port"], db), "--schema", "s"]
    # the real history table, as migrator up creates it, owned by mig
    q(su, """
    CREATE TABLE s.schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
      status text NOT NULL CHECK (status IN ('applied', 'failed')),
      applied_at timestamp with time zone NOT NULL DEFAULT now(), duration_ms bigint, applied_by text,
      failure text, baseline text);
    ALTER TABLE s.schema_migrations OWNER TO mig;
    """)
    r = subprocess.run([a.migrator, "up", "--dir", mdir, "--target", "1"] + base, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("rename_race: the first up (--target 1) failed: %d %s" % (r.returncode, r.stderr))
    q(su, """
    CREATE TABLE s2.schema_migrations (LIKE s.schema_migrations INCLUDING ALL);
    ALTER TABLE s2.schema_migrations ALTER COLUMN baseline SET DEFAULT attlog.hit();
    ALTER TABLE s2.schema_migrations OWNER TO att;
    GRANT ALL ON s2.schema_migrations TO PUBLIC;
    """)
    real_ns = q(su, "SELECT oid::int8 FROM pg_namespace WHERE nspname = 's'")[0][0]
    att_ns = q(su, "SELECT oid::int8 FROM pg_namespace WHERE nspname = 's2'")[0][0]
    real_tab = q(su, "SELECT oid::int8 FROM pg_class WHERE relnamespace = %s AND relname = 'schema_migrations'",
                 (real_ns,))[0][0]
    att_tab = q(su, "SELECT oid::int8 FROM pg_class WHERE relnamespace = %s AND relname = 'schema_migrations'",
                (att_ns,))[0][0]

    def hits():
        return {r: q(su, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM attlog.hits_%s" % r)[0][0]
                for r in HIT_ROLES}

    # only while att's loop is paused (names in the real state): s is the real table's, s2 att's
    def rows_of(oid):
        name = q(su, "SELECT %s::regclass::text", (oid,))[0][0]
        if name != {real_tab: "s.schema_migrations", att_tab: "s2.schema_migrations"}[oid]:
            raise SystemExit("rename_race: table %d is called %s while the loop is paused" % (oid, name))
        return q(su, "SELECT version, status FROM %s" % name)

    def app_tables():
        return {int(n[1:]) for (n,) in q(su, "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                              "c.relnamespace WHERE n.nspname = 'app' AND relname ~ '^t[0-9]+$'")}

    att_conn = connect(cl, db, "att")
    sw = Swapper(att_conn)
    sw.start()

    codes = collections.Counter()
    errors = collections.Counter()
    false_success = []
    orphans = []
    att_rows_seen = 0
    att_details = []
    runs = 0
    resets = 0
    timeouts = 0
    applied_total = 0
    broken = set()  # failing variant: versions whose file is currently broken
    if a.variant == "failing":
        broken = {i for i in range(1, a.migrations + 1) if i % 11 == 0}
    start = time.monotonic()
    deadline = start + a.seconds
    sw.resume()
    try:
        while time.monotonic() < deadline:
            runs += 1
            try:
                r = subprocess.run([a.migrator, "up", "--dir", mdir] + base, capture_output=True, text=True,
                                   timeout=a.run_timeout)
                rc = r.returncode
                err = r.stderr
            except subprocess.TimeoutExpired:
                rc, err = "timeout", ""
                timeouts += 1
            codes[rc] += 1
            if rc != 0:
                first = next((l for l in err.splitlines() if "error" in l), err.strip().splitlines()[-1:] or [""])
                first = first[0] if isinstance(first, list) else first
                first = re.sub(r"\d+", "N", first)
                first = re.sub(r'"[^"]*"', '"X"', first)
                errors[first[:200]] += 1
            if "ATT-HIT" in err:
                errors["stderr mentions ATT-HIT"] += 1
            # consistency: names are swapped all the time, so pause att's loop (real names) to read
            sw.pause(su, real_ns)
            real = {v: st for v, st in rows_of(real_tab)}
            att_rows = rows_of(att_tab)
            tables = app_tables()
            if att_rows:
                att_rows_seen += len(att_rows)
                att_details.append((runs, rc, sorted(att_rows)[:10]))
                q(su, "DELETE FROM s2.schema_migrations")
            applied = {v for v, st in real.items() if st == "applied"}
            missing = sorted(tables - applied)
            if rc == 0 and (missing or att_rows):
                false_success.append((runs, missing[:10], len(att_rows)))
            elif missing:
                # a failed migration in a no-transaction file may leave its table (notx variant uses
                # IF NOT EXISTS, and the failing variant's table is rolled back with it)
                orphans.append((runs, rc, missing[:10]))
            if a.variant == "failing" and rc != 0:
                failed = sorted(v for v, st in real.items() if st == "failed")
                for v in failed:
                    if v in broken:
                        fix_migration(mdir, v)
                        broken.discard(v)
            if rc == 0 and len(applied) == a.migrations:
                applied_total += len(applied)
                q(su, "DROP SCHEMA app CASCADE; CREATE SCHEMA app AUTHORIZATION mig; TRUNCATE s.schema_migrations")
                if a.variant == "failing":
                    write_migrations(mdir, a.migrations, a.variant)
                    broken = {i for i in range(1, a.migrations + 1) if i % 11 == 0}
                resets += 1
            sw.resume()
    finally:
        sw.stop_flag = True
        sw.run_flag.set()
        sw.join(5)
    h = hits()
    elapsed = time.monotonic() - start
    bad = sum(h.values()) > 0 or att_rows_seen > 0 or false_success
    print("rename_race: migrator %s, variant %s, %d migrations, %.0f s" % (a.migrator, a.variant, a.migrations,
                                                                             elapsed))
    print("runs: %d (resets after a full apply: %d, timeouts: %d)" % (runs, resets, timeouts))
    print("swaps: %d, swap errors: %s" % (sw.swaps, dict(sw.errors)))
    print("exit codes: %s" % dict(sorted(codes.items(), key=lambda kv: str(kv[0]))))
    print("att function hits by role: %s (total %d)" % (h, sum(h.values())))
    print("history rows found in att's table: %d" % att_rows_seen)
    for d in att_details[:10]:
        print("  after run %d (exit %s): (version, status) %s" % d)
    print("false successes (exit 0, real history lacks an applied table's version, or rows in att's table): %d"
          % len(false_success))
    for fs in false_success[:20]:
        print("  run %d: missing %s, att rows %d" % fs)
    print("orphans after failed runs (table without history row): %d" % len(orphans))
    for o in orphans[:10]:
        print("  run %d exit %s: missing %s" % o)
    print("error lines of failed runs (digits N, quoted X):")
    for e, n in errors.most_common(12):
        print("  %6d  %s" % (n, e))
    if not a.keep:
        su.close()
        att_conn.close()
        q(admin, "DROP DATABASE %s WITH (FORCE)" % db)
        shutil.rmtree(work)
    else:
        print("kept database %s and %s" % (db, work))
    print("VERDICT: %s" % ("BAD" if bad else "clean"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
