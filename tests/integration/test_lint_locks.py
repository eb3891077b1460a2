"""
test_lint_locks.py
    The lock-safety advice must be true: every lock that a lint rule's
    message names is the lock the server takes.

    Table-driven from the registry: every rule of migrator/lint_rules.c with
    a ".lock" claim ("case:Mode ...", pg_locks' mode names) must have an
    example of each case below, or this test fails, so a new rule cannot
    slip by.  For each example: migrator lint must report the rule on it
    (the statement measured is the shape the rule judges), its message must
    name the lock in words, and the statement, run in a transaction on the
    real cluster, must hold that mode in pg_locks on each table named.

tests/integration/test_lint_locks.py
"""

import os
import re
import threading
import time

import psycopg2

from toolkit_test import ToolkitTestCase

SOURCE_DIR = os.environ.get("TOOLKIT_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
REGISTRY = os.path.join(SOURCE_DIR, "migrator", "lint_rules.c")

SETUP = ("CREATE TABLE p (id int PRIMARY KEY);\n"
         "CREATE TABLE t (id int PRIMARY KEY, a int, p_id int);\n"
         "CREATE INDEX t_a_idx ON t (a);\n"
         "INSERT INTO p VALUES (1);\n"
         "INSERT INTO t SELECT g, g, 1 FROM generate_series(1, 100) g;\n")

# (rule, case) -> statements (one migration, one transaction), {table: mode};
# transaction=False: the statement cannot run in a transaction block, its
# lock is read while a reader's ACCESS SHARE lock makes it wait.
EXAMPLES = {
    ("create-index", "plain"): (["CREATE INDEX t_a2 ON t (a)"], {"t": "ShareLock"}),
    ("reindex", "table"): (["REINDEX TABLE t"], {"t": "ShareLock"}),
    ("vacuum-full", "full"): (["VACUUM FULL t"], {"t": "AccessExclusiveLock"}, False),
    ("cluster", "using"): (["CLUSTER t USING t_pkey"], {"t": "AccessExclusiveLock"}),
    ("volatile-default", "default"): (["ALTER TABLE t ADD COLUMN r float8 DEFAULT random()"],
                                      {"t": "AccessExclusiveLock"}),
    ("alter-column-type", "type"): (["ALTER TABLE t ALTER COLUMN a TYPE bigint"],
                                    {"t": "AccessExclusiveLock"}),
    ("set-not-null", "scan"): (["ALTER TABLE t ALTER COLUMN a SET NOT NULL"],
                               {"t": "AccessExclusiveLock"}),
    ("constraint-not-valid", "check"): (["ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)"],
                                        {"t": "AccessExclusiveLock"}),
    ("constraint-not-valid", "fk"): (["ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (p_id) REFERENCES p (id)"],
                                     {"t": "ShareRowExclusiveLock", "p": "ShareRowExclusiveLock"}),
    ("validate-same-migration", "check"): (["ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID",
                                            "ALTER TABLE t VALIDATE CONSTRAINT c"],
                                           {"t": "AccessExclusiveLock"}),
    ("validate-same-migration", "fk"): (["ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (p_id) "
                                         "REFERENCES p (id) NOT VALID",
                                         "ALTER TABLE t VALIDATE CONSTRAINT f"],
                                        {"t": "ShareRowExclusiveLock", "p": "ShareRowExclusiveLock"}),
    ("unique-without-index", "unique"): (["ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)"],
                                         {"t": "AccessExclusiveLock"}),
    ("drop-index", "drop"): (["DROP INDEX t_a_idx"], {"t": "AccessExclusiveLock"}),
    ("set-tablespace", "move"): (["ALTER TABLE t SET TABLESPACE pg_default"], {"t": "AccessExclusiveLock"}),
}

# How a message names a mode (ShareLock is the weakest mode that blocks writes).
IN_WORDS = {
    "AccessExclusiveLock": "ACCESS EXCLUSIVE",
    "ShareRowExclusiveLock": "SHARE ROW EXCLUSIVE",
    "ShareLock": "blocks writes",
}

# Modes that conflict with the ROW EXCLUSIVE lock of INSERT, UPDATE, DELETE.
BLOCKS_WRITES = {"ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"}


def registry_claims():
    """{rule: {case: mode}} of every rule with a .lock claim in lint_rules.c."""
    with open(REGISTRY) as f:
        text = f.read()
    claims = {}
    for entry in re.split(r"\n\t\[LINT_R_\w+\]\s*=", text)[1:]:
        name = re.search(r'"([a-z-]+)"', entry).group(1)
        lock = re.search(r'\.lock\s*=\s*"([^"]*)"', entry.split("\n\t[", 1)[0])
        if lock:
            claims[name] = dict(c.split(":", 1) for c in lock.group(1).split())
    return claims


class LintLockClaimsTest(ToolkitTestCase):

    def test_registry_is_read(self):
        claims = registry_claims()
        # the parser of the registry works: the rules known to claim locks are there
        self.assertEqual(claims["constraint-not-valid"],
                         {"check": "AccessExclusiveLock", "fk": "ShareRowExclusiveLock"})
        self.assertIn("set-not-null", claims)

    def test_every_claim_has_an_example(self):
        claims = registry_claims()
        wanted = {(rule, case) for rule, cases in claims.items() for case in cases}
        self.assertEqual(set(), wanted - set(EXAMPLES),
                         "rules of lint_rules.c claim a lock without an example here")
        self.assertEqual(set(), set(EXAMPLES) - wanted, "examples of claims the registry does not make")
        for (rule, case), example in EXAMPLES.items():
            for table, mode in example[1].items():
                self.assertEqual(mode, claims[rule][case], "%s %s on %s" % (rule, case, table))

    def lint_message(self, rule, statements):
        """The message lint reports for rule on the statements (an existing table's file)."""
        d = self.make_dir({"1_setup.sql": "-- migrator:allow-dml\n" + SETUP,
                           "2_stmt.sql": "".join(s + ";\n" for s in statements)})
        r = self.run_migrator("lint", os.path.join(d, "2_stmt.sql"), dsn=None)
        found = [l for l in r.stdout.splitlines() if re.search(r" (error|warning) %s: " % re.escape(rule), l)]
        self.assertTrue(found, "lint does not report %s on %r\n%s" % (rule, statements, r.describe()))
        return found[-1]

    def held_locks(self, statements):
        """{table: {modes}} this backend holds after running statements in one transaction."""
        conn = self.connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                for s in statements:
                    cur.execute(s)
                cur.execute("SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                            "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted")
                held = {}
                for rel, mode in cur.fetchall():
                    held.setdefault(rel, set()).add(mode)
                return held
        finally:
            conn.rollback()
            conn.close()

    def requested_lock(self, statement):
        """{table: {mode}} statement (outside a transaction) waits for behind a reader."""
        reader = self.hold_lock("SELECT count(*) FROM t")
        box = {}

        def run():
            c = self.connect(autocommit=True, application_name="lock_probe")
            box["pid"] = c.get_backend_pid()
            try:
                with c.cursor() as cur:
                    cur.execute(statement)
            except psycopg2.Error as e:
                box["error"] = e
            finally:
                c.close()

        th = threading.Thread(target=run)
        th.start()
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                rows = self.query("SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                                  "JOIN pg_stat_activity a ON a.pid = l.pid "
                                  "WHERE a.application_name = 'lock_probe' AND NOT l.granted")
                if rows:
                    return {rel: {mode} for rel, mode in rows}
                time.sleep(0.05)
            self.fail("%s never waited for the reader" % statement)
        finally:
            reader.rollback()
            reader.close()
            th.join(30)

    def test_each_claim_is_the_servers_lock(self):
        for (rule, case), example in sorted(EXAMPLES.items()):
            statements, expected = example[0], example[1]
            in_tx = example[2] if len(example) > 2 else True
            with self.subTest(rule=rule, case=case):
                self.query("DROP TABLE IF EXISTS t, p CASCADE")
                self.connect().cursor().execute(SETUP)
                message = self.lint_message(rule, statements)
                held = self.held_locks(statements) if in_tx else self.requested_lock(statements[0])
                for table, mode in expected.items():
                    self.assertIn(mode, held.get(table, set()),
                                  "%s (%s): %s holds %s on %s" % (rule, case, statements, held, table))
                    self.assertIn(mode, BLOCKS_WRITES)
                    self.assertIn(IN_WORDS[mode], message, "%s: the message names another lock" % rule)

    def test_validate_in_a_later_migration_lets_writes_go_on(self):
        # the advice of validate-same-migration: VALIDATE alone takes SHARE UPDATE EXCLUSIVE
        self.connect().cursor().execute(SETUP + "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;"
                                        "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (p_id) REFERENCES p (id) "
                                        "NOT VALID;")
        held = self.held_locks(["ALTER TABLE t VALIDATE CONSTRAINT c"])
        self.assertEqual({"ShareUpdateExclusiveLock"}, held["t"] & (BLOCKS_WRITES | {"ShareUpdateExclusiveLock"}))
        held = self.held_locks(["ALTER TABLE t VALIDATE CONSTRAINT f"])
        self.assertFalse(held["t"] & BLOCKS_WRITES, held)
        self.assertFalse(held.get("p", set()) & BLOCKS_WRITES, held)
