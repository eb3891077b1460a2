"""
test_indexer_decisions.py
    The indexer's own decisions (issue 10), against a real server: what it
    drops, what the readiness gate says, what it counts as built, when it
    stops, and how long its catalog reads may wait.

Each test asserts the exit code, the message and the catalog state together
and reproduces a case the indexer got wrong before: a look-alike leftover
dropped, a gate that wrote a temporary table or passed what it could not
compare, a duplicate unique index next to a constraint's, a valid index
reported failed, a build started without the run lock, a check that waited
as long as an ACCESS EXCLUSIVE holder.

tests/integration/test_indexer_decisions.py
"""

import os
import re
import shutil
import time

from test_indexer import DEADLINE, ERROR, WARN, IndexerTestCase, cic
from toolkit_test import compile_preload

README = os.path.join(os.environ.get("TOOLKIT_SOURCE_DIR",
                                     os.path.join(os.path.dirname(__file__), "..", "..")),
                      "README.md")


class LeftoverTest(IndexerTestCase):

    def test_look_alike_ixnew_is_reported_and_kept_ours_is_dropped(self):
        self.make_table("t")
        self.query("CREATE INDEX idx_a ON t (a)")
        self.query("CREATE INDEX idx_a_ixnew ON t (a)")          # ours: the definition, renamed
        self.query("CREATE INDEX idx_b ON t (b)")
        self.query("CREATE INDEX idx_b_ixnew ON t (b, a)")       # somebody else's
        cfg = self.config([{"name": "idx_a", "table": "t", "sql": cic("idx_a", "t", "a")},
                           {"name": "idx_b", "table": "t", "sql": cic("idx_b", "t", "b")}])
        keep = self.index("idx_b_ixnew")
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"public.idx_b_ixnew" on "public.t" is named like a leftover of a '
                                 r'rebuild of "idx_b", but is not provably the indexer\'s: its definition '
                                 r'"CREATE INDEX idx_b_ixnew ON public.t USING btree \(b, a\)" is not the file\'s')
        self.assertStderrMatches(r, r'^indexer: dropped the leftovers of "idx_a" on "public.t" in ')
        self.assertNoRelation("idx_a_ixnew")
        self.assertEqual(self.index("idx_b_ixnew"), keep)
        self.assertValid("idx_a", "t")
        self.assertValid("idx_b", "t")

    def test_rebuild_marks_the_old_index_in_the_swap_transaction(self):
        self.make_table("t")
        self.query("CREATE INDEX idx_ab ON t (a)")               # drifted: the file says (a, b)
        cfg = self.config([{"name": "idx_ab", "table": "t", "sql": cic("idx_ab", "t", "a, b")}])
        # a reader that holds only ACCESS SHARE on t: the concurrent build does
        # not wait for it, the concurrent drop of the old index does
        reader = self.hold_lock("SELECT count(*) FROM t", application_name="reader")
        proc = self.start(cfg, "--rebuild-drifted", "-v")
        self.wait_until(lambda: self.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DROP INDEX CONCURRENTLY%%ixold%%' "
            "AND wait_event_type = 'Lock' AND datname = current_database()"), "the drop of the old index waiting for the reader")
        # the swap has committed, and the old index carries the mark with it
        self.assertEqual(self.scalar("SELECT obj_description('public.idx_ab_ixold'::regclass, 'pg_class')"),
                         'indexer: the old index of "idx_ab", replaced by a rebuild; the indexer drops it')
        self.assertEqual(self.indexdef("idx_ab"), "CREATE INDEX idx_ab ON public.t USING btree (a, b)")
        proc.kill()                                              # a crash before the drop ends
        self.finish(proc)
        # the server ends the dead client's drop (client_connection_check_interval)
        self.wait_until(self.no_indexer_backends, "the killed run's backends to end")
        reader.rollback()
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r'^indexer: dropped the leftovers of "idx_ab" on "public.t" in ')
        self.assertNoRelation("idx_ab_ixold")
        self.assertValid("idx_ab", "t")


class GateTest(IndexerTestCase):

    def test_check_sends_no_write_and_works_in_a_read_only_session(self):
        self.make_table("t_ro_gate")
        self.query("CREATE INDEX idx_ro_gate ON t_ro_gate (lower(email)) WHERE a IN (1, 2)")
        sql = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_ro_gate ON t_ro_gate (lower(email)) "
               "WHERE a IN (1, 2)")
        cfg = self.config([{"name": "idx_ro_gate", "table": "t_ro_gate", "sql": sql}])
        self.query("ALTER DATABASE %s SET log_statement = 'all'" % self.ident(self.dbname))
        logfile = self.cluster["logfile"]
        offset = os.path.getsize(logfile)
        dsn = self.dsn + " options='-c default_transaction_read_only=on'"
        for command in ("check", "plan", "status"):
            r = self.indexer(cfg, command, dsn=dsn)
            self.assertExit(r, 0)
            self.assertNoLine(r, WARN)
        r = self.indexer(cfg, "check", dsn=dsn)
        self.assertLastLineMatches(r, r"check: the 1 defined index checked is in line with ")
        with open(logfile, "rb") as f:
            f.seek(offset)
            log = f.read().decode("utf-8", "replace")
        # The server log is the whole cluster's, and other tests run at the same
        # time: judge only the backends that read this test's definition (the
        # catalog query names idx_ro_gate in its parameters), every line of them.
        entries = re.findall(r"(?ms)^\S+ \S+ \S+ \[(\d+)\] (.*?)(?=^\S+ \S+ \S+ \[\d+\] |\Z)", log)
        ours = {pid for pid, text in entries if "idx_ro_gate" in text}
        self.assertTrue(ours, "no backend of the indexer in the log")
        sent = "".join(text for pid, text in entries if pid in ours)
        self.assertIn("/* indexer: catalog */", sent)
        self.assertNotRegex(sent, r"(?i)\b(BEGIN|CREATE|TEMPORARY|ROLLBACK)\b")

    def test_what_cannot_be_compared_is_not_in_line(self):
        self.query("CREATE TABLE t (id bigint PRIMARY KEY, a int, created timestamp)")
        self.query("CREATE INDEX idx_recent ON t (a) WHERE created > '2020-01-01'")
        before = self.index("idx_recent")
        cfg = self.config([{"name": "idx_recent", "table": "t",
                            "sql": cic("idx_recent", "t", "a", where="created > '2020-01-01'")}])
        r = self.indexer(cfg, "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, ERROR + r'index "idx_recent" on "public.t" is not known to be in line: '
                                 r'cannot compare: the database has "CREATE INDEX idx_recent ON public.t USING '
                                 r'btree \(a\) WHERE \(created > \'2020-01-01 00:00:00\'::timestamp without time '
                                 r'zone\)", .*\(a string constant, which the server may write differently\)')
        self.assertLastLineMatches(r, r"check: 1 of 1 defined index is not in line")
        r = self.indexer(cfg, "plan")
        self.assertRegex(r.stdout, r"(?m)^unknown +idx_recent on public.t: cannot compare: ")
        r = self.indexer(cfg, "--rebuild-drifted")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_recent" on "public.t" left alone: cannot compare: ')
        self.assertEqual(self.index("idx_recent"), before)
        # written as the server prints it, it compares
        cfg = self.config([{"name": "idx_recent", "table": "t", "sql": cic(
            "idx_recent", "t", "a",
            where="created > '2020-01-01 00:00:00'::timestamp without time zone")}])
        self.assertExit(self.indexer(cfg, "check"), 0)

    def test_catalog_read_is_bounded_and_names_the_holder(self):
        self.make_table("t1")
        self.make_table("t2")
        cfg = self.config([{"name": "idx_t1", "table": "t1", "sql": cic("idx_t1", "t1", "a"), "critical": True},
                           {"name": "idx_t2", "table": "t2", "sql": cic("idx_t2", "t2", "a")}])
        self.assertExit(self.indexer(cfg), 0)
        holder = self.hold_lock("LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE", application_name="migration")
        pid = self.backend_pid(holder)
        started = time.monotonic()
        r = self.indexer(cfg, "check", "--lock-timeout", "1s", timeout=60)
        self.assertLess(time.monotonic() - started, 30)
        self.assertExit(r, 5)
        self.assertStderrMatches(r, WARN + r'could not read the definitions on "public.t1" within --lock-timeout: '
                                 r'pid %d \(application "migration", idle in transaction: LOCK TABLE t1 IN '
                                 r'ACCESS EXCLUSIVE MODE\) holds ACCESS EXCLUSIVE; their state is unknown$' % pid)
        self.assertStderrMatches(r, ERROR + r'critical index "idx_t1" on "public.t1" is not known to be in line: '
                                 r'cannot compare: pid %d ' % pid)
        self.assertNoLine(r, r'"idx_t2"')
        self.assertLastLineMatches(r, r"check: 1 of 2 defined indexes are not in line")
        # build: a critical definition whose state is unknown fails the run, nothing is built twice
        r = self.indexer(cfg, "--lock-timeout", "1s", timeout=60)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, ERROR + r'critical index "idx_t1" on "public.t1": cannot compare: ')
        r = self.indexer(cfg, "status", "--lock-timeout", "1s", timeout=60)
        self.assertExit(r, 0)
        self.assertRegex(r.stdout, r"(?m)^idx_t1 +public.t1 +unknown ")
        holder.rollback()
        self.assertExit(self.indexer(cfg, "check"), 0)
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 't1'::regclass"), 2)


class ConstraintTest(IndexerTestCase):

    def readme_blocks(self):
        with open(README, encoding="utf-8") as f:
            text = f.read()
        section = text[text.index("**An index a constraint takes over.**"):]
        blocks = re.findall(r"```(?:sql)?\n(.*?)```", section, re.S)[:2]
        return [re.sub(r"(?m)^  ", "", b) for b in blocks]

    def test_readme_example_works_as_written(self):
        cfg_text, migration = self.readme_blocks()
        self.migrate_examples()
        d = self.make_dir({"indexes.cfg": cfg_text, "migrations/120_calendar_name_unique.sql": migration})
        cfg = os.path.join(d, "indexes.cfg")
        r = self.run_migrator("up", "-d", os.path.join(d, "migrations"), "--index-config", cfg)
        self.assertExit(r, 0)
        name = "business_calendars_business_name_key"
        self.assertValid(name, "business_calendars")
        self.assertEqual(self.query("SELECT conname, contype FROM pg_constraint WHERE conindid = %s",
                                    (self.index(name)[0],)), [(name, "u")])
        count = self.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 'business_calendars'::regclass")
        self.assertExit(self.indexer(cfg, "check"), 0)
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"summary: 0 built, 1 present, ")
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_index WHERE indrelid = "
                                     "'business_calendars'::regclass"), count)

    def test_lint_refuses_a_constraint_not_named_as_its_index(self):
        d = self.make_dir({"7_unique.sql": "-- migrator:requires-index idx_email_unique\n"
                           "ALTER TABLE t ADD CONSTRAINT t_email_key UNIQUE USING INDEX idx_email_unique;\n"})
        r = self.run_migrator("lint", "-d", d, dsn=None)
        self.assertExit(r, 2)
        self.assertRegex(r.stdout, r"(?m)7_unique.sql:2:\d+: error constraint-index-name: ADD CONSTRAINT "
                                 r"t_email_key \.\.\. USING INDEX idx_email_unique renames index "
                                 r"\"idx_email_unique\" to \"t_email_key\", .*; name the constraint as the index: "
                                 r"ADD CONSTRAINT idx_email_unique UNIQUE USING INDEX idx_email_unique$")

    def test_index_renamed_by_a_constraint_is_recognised_never_duplicated(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_email_unique", "table": "t", "critical": True,
                            "sql": cic("idx_email_unique", "t", "email", unique=True)}])
        self.assertExit(self.indexer(cfg), 0)
        oid = self.index("idx_email_unique")[0]
        self.query("ALTER TABLE t ADD CONSTRAINT t_email_key UNIQUE USING INDEX idx_email_unique")
        self.assertEqual(self.index("t_email_key")[0], oid)     # renamed by PostgreSQL
        r = self.indexer(cfg, "check")
        self.assertExit(r, 0)
        r = self.indexer(cfg, "plan")
        self.assertRegex(r.stdout, r'(?m)^present +idx_email_unique on public.t \(critical\): constraint '
                         r'"t_email_key" owns it as index "t_email_key"')
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"summary: 0 built, 1 present, ")
        self.assertNoRelation("idx_email_unique")
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass "
                                     "AND indisunique AND NOT indisprimary"), 1)
        r = self.indexer(cfg, "status")
        self.assertNotRegex(r.stdout, r"not in .*\n.*t_email_key")


class OutcomeTest(IndexerTestCase):

    def test_valid_index_whose_verify_failed_is_built(self):
        # once the build has committed, the slot's session can run nothing more:
        # an event trigger (as an audit hook might) switches it to a role that
        # may neither call set_config() nor read pg_index, so the verify fails
        self.make_table("t")
        role = "locked_out_%s" % self.dbname[2:]
        self.query("DROP ROLE IF EXISTS %s" % role)
        self.query("CREATE ROLE %s" % role)
        self.addCleanup(self._drop_role, role)
        self.query("REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC")
        self.query("REVOKE SELECT ON pg_catalog.pg_index FROM PUBLIC")
        self.query("CREATE FUNCTION public.lock_out() RETURNS event_trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN PERFORM pg_catalog.set_config('role', '%s', false); END $$" % role)
        self.query("CREATE EVENT TRIGGER lock_out ON ddl_command_end WHEN TAG IN ('CREATE INDEX') "
                   "EXECUTE FUNCTION public.lock_out()")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a"), "critical": True}])
        r = self.indexer(cfg, "--retries", "0")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, WARN + r'"idx_t" on "public.t": valid and ready on its table although the '
                                 r'build reported: 42501: permission denied for (function set_config|table '
                                 r'pg_index); counted as built$')
        self.assertLastLineMatches(r, r"summary: 1 built, 0 present, .* 0 failed \(0 critical")
        self.assertValid("idx_t", "t")

    def _drop_role(self, role):
        with self._admin.cursor() as cur:
            cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.ident(self.dbname))
            cur.execute("DROP ROLE IF EXISTS %s" % role)

    def test_no_new_build_after_the_run_lock_is_lost(self):
        self.make_table("t1", rows=2000)
        self.make_table("t2", rows=100)
        cfg = self.config([{"name": "idx_t1", "table": "t1", "sql": cic("idx_t1", "t1", "a")},
                           {"name": "idx_t2", "table": "t2", "sql": cic("idx_t2", "t2", "a")}])
        reader = self.blocker()
        proc = self.start(cfg, "-j", "1")
        self.wait_for_stderr(proc, r'"idx_t1" on "public.t1": waiting .* for older transactions')
        # only this test's database: other tests run in parallel on the cluster
        lock_pid = self.scalar("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                               "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        self.assertTrue(self.scalar("SELECT pg_terminate_backend(%s)", (lock_pid,)))
        reader.rollback()
        r = self.finish(proc, timeout=DEADLINE)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, ERROR + r"the run lock was lost \(the run's main connection is gone\): "
                                 r"starting no new build$")
        self.assertStderrMatches(r, ERROR + r'"idx_t2" on "public.t2" not started: the run lock was lost')
        self.assertLastLineMatches(r, r"the run stopped before its work was done: 1 failed$")
        self.assertValid("idx_t1", "t1")
        self.assertNoRelation("idx_t2")

    def test_only_the_users_create_index_runs_in_the_schema(self):
        self.make_table("t")
        self.query("CREATE INDEX idx_ab ON t (a)")
        self.query("CREATE TABLE public.ddl_log (n serial, tag text, path text)")
        self.query("CREATE FUNCTION public.log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN INSERT INTO public.ddl_log (tag, path) "
                   "VALUES (tg_tag, pg_catalog.current_setting('search_path')); END $$")
        self.query("CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION public.log_ddl()")
        cfg = self.config([{"name": "idx_ab", "table": "t", "sql": cic("idx_ab", "t", "a, b")}])
        r = self.indexer(cfg, "--rebuild-drifted")
        self.assertExit(r, 0)
        self.assertEqual(self.query("SELECT tag, path FROM public.ddl_log ORDER BY n"),
                         # the history table on first use (issue 15), and the temporary view its
                         # writes go through (relation_trust.h), dropped at the end of the run: the
                         # tool's own DDL, empty path
                         [("CREATE TABLE", ""), ("CREATE VIEW", ""), ("CREATE INDEX", '"public"'), ("ALTER INDEX", ""), ("COMMENT", ""),
                          ("ALTER INDEX", ""), ("DROP INDEX", ""), ("DROP VIEW", "")])
        self.assertValid("idx_ab", "t")

    def test_operator_class_in_the_schema_resolves_for_the_build(self):
        self.query("CREATE SCHEMA app")
        self.query("CREATE EXTENSION pg_trgm SCHEMA app")
        self.make_table("t", schema="app")
        sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_trgm ON t USING gin (email gin_trgm_ops)"
        cfg = self.config([{"name": "idx_trgm", "table": "t", "schema": "app", "sql": sql}])
        r = self.indexer(cfg)
        self.assertExit(r, 0)
        self.assertValid("idx_trgm", "t", schema="app")
        self.assertIn("gin_trgm_ops", self.scalar("SELECT pg_get_indexdef('app.idx_trgm'::regclass)"))
        self.assertExit(self.indexer(cfg, "check"), 0)


class InputTest(IndexerTestCase):

    def test_name_that_is_not_utf8_is_an_input_error(self):
        self.make_table("t")
        d = self.make_dir({"indexes.cfg": b'indexes = ( { name = "idx_\xff"; table = "t";\n'
                           b'  sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_\xff ON t (a)"; } );\n'})
        r = self.indexer(os.path.join(d, "indexes.cfg"))
        self.assertExit(r, 2)
        self.assertStderrMatches(r, ERROR + r'.*indexes.cfg:1: index #1: field "name" is not valid UTF-8$')
        self.assertEqual(self.scalar("SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass"), 1)

    def test_maintenance_work_mem_beyond_the_servers_range(self):
        self.make_table("t")
        cfg = self.config([{"name": "idx_t", "table": "t", "sql": cic("idx_t", "t", "a")}])
        r = self.indexer(cfg, "--maintenance-work-mem", "2TB")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, ERROR + r"option --maintenance-work-mem: maintenance_work_mem 2147483648kB "
                                   r"is outside the server's range 1024kB to 2147483647kB; nothing built$")
        self.assertNoRelation("idx_t")


class BlockerSamplerTest(IndexerTestCase):

    def test_side_connection_backs_off_and_says_so_once(self):
        # two connections for the role: the migrator's own and its run lock's;
        # the sampler's third cannot open
        role = "lim_%s" % self.dbname[2:]
        self.query("DROP ROLE IF EXISTS %s" % role)
        self.query("CREATE ROLE %s LOGIN CONNECTION LIMIT 2" % role)
        self.addCleanup(self._admin_drop_role, role)
        self.query("GRANT CREATE ON SCHEMA public TO %s" % role)
        self.query("CREATE TABLE t (id int)")
        self.query("ALTER TABLE t OWNER TO %s" % role)
        d = self.make_dir({"1_add.sql": "ALTER TABLE t ADD COLUMN c int;\n"})
        holder = self.hold_lock("LOCK TABLE t IN ACCESS SHARE MODE")
        dsn = "host=%s port=%d dbname=%s user=%s" % (self.host, self.port, self.dbname, role)
        r = self.run_migrator("up", "-d", d, "--lock-timeout", "4s", "--retries", "0", dsn=dsn)
        holder.rollback()
        self.assertExit(r, 1)
        said = [ln for ln in r.lines if "could not open a second connection to sample blocking sessions" in ln]
        self.assertEqual(len(said), 1, r.describe())
        tries = [ln for ln in r.lines if re.search(r"could not connect|too many connections", ln)]
        self.assertLessEqual(len(tries), 1, r.describe())
        self.assertFalse(self.column_exists("t", "c"))

    def _admin_drop_role(self, role):
        try:
            with self._admin.cursor() as cur:
                cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.ident(self.dbname))
                cur.execute("DROP ROLE IF EXISTS %s" % role)
        except Exception:
            pass


POLL_SHIM_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>

/*
 * The engine waits on two build slots and the signal pipe at once (three
 * descriptors); a single statement's wait never has more than two.  Fail
 * exactly the engine's waits, as a kernel out of memory would.
 */
int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    typedef int (*poll_fn)(struct pollfd *, nfds_t, int);

    if (nfds >= 3)
    {
        errno = ENOMEM;
        return -1;
    }
    return ((poll_fn) dlsym(RTLD_NEXT, "poll"))(fds, nfds, timeout);
}
"""


class EventLoopTest(IndexerTestCase):

    def test_a_failed_wait_is_exit_1_with_the_reason_never_skipped(self):
        shim_dir, shim = compile_preload(POLL_SHIM_C, "poll")
        self.addCleanup(shutil.rmtree, shim_dir, True)
        self.make_table("t1")
        self.make_table("t2")
        cfg = self.config([
            {"name": "idx_t1", "table": "t1", "sql": cic("idx_t1", "t1", "a"), "critical": True},
            {"name": "idx_t2", "table": "t2", "sql": cic("idx_t2", "t2", "a"), "critical": True},
        ])
        env = {"LD_PRELOAD": shim,
               "ASAN_OPTIONS": "verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", "")}
        r = self.indexer(cfg, "-j", "2", "--retries", "0", env=env)
        self.assertExit(r, 1)
        self.assertStderrMatches(r, ERROR + r"poll\(\) failed while waiting for the builds: "
                                 r"Cannot allocate memory$")
        self.assertStderrMatches(r, r"summary: 0 built, .* 2 failed \(2 critical, 0 non-critical\), 0 skipped, ")
        self.assertLastLineMatches(r, ERROR + r"2 critical indexes could not be built$")
        # the next run, on a working loop, finishes what was abandoned
        r = self.indexer(cfg, "-j", "2")
        self.assertExit(r, 0)
        self.assertValid("idx_t1", "t1")
        self.assertValid("idx_t2", "t2")
