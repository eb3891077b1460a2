"""
test_wait_startup.py
    --wait DURATION covers the whole start-up, not only connecting: a
    connection lost after the server accepted it and before the first
    round trip (session set-up, --role, schema, history checks, try-lock)
    answered is reconnected and the whole batch sent again until the
    deadline, for `migrator up`/`check` and for the indexer's connect and
    run lock.  Without --wait such a loss exits 3 at once with one clear
    line.  A loopback proxy drops the first N connections right after the
    start-up packet, or after the server said it was ready (the client's
    first query).

tests/integration/test_wait_startup.py
"""

import os
import threading

from toolkit_test import LoopbackProxy, ToolkitTestCase, conninfo

ERROR_MIGRATOR = r"^migrator: error: "
ERROR_INDEXER = r"^indexer: error: "
READY = b"Z\x00\x00\x00\x05I"  # ReadyForQuery, idle


class StartupDropper(LoopbackProxy):
    """127.0.0.1:port forwarding to the server; the first `drops` connections
    are cut: with when="startup" as soon as the client sent its start-up
    packet (nothing forwarded), with when="query" when the client sends
    anything after the server's first ReadyForQuery (its first query, never
    forwarded)."""

    def __init__(self, target_host, target_port, drops, when="query"):
        self.drops = drops
        self.when = when
        self.dropped = 0
        self.accepted_count = 0
        self.lock = threading.Lock()
        super().__init__(target_host, target_port)

    def accepted(self, link):
        with self.lock:
            self.accepted_count += 1
            link.armed = self.dropped < self.drops
            if link.armed:
                self.dropped += 1
        link.tail = b""
        link.ready = False
        if link.armed and self.when == "startup":
            link.client.recv(65536)
            link.client.close()
            return False
        return True

    def from_client(self, link, data):
        if link.armed and link.ready:
            return False  # the first query: never forwarded
        link.server.sendall(data)
        return True

    def from_server(self, link, data):
        link.tail = (link.tail + data)[-len(READY):]
        link.ready = link.ready or link.tail == READY
        link.client.sendall(data)
        return True


class WaitStartupCase(ToolkitTestCase):

    def dropper(self, drops, when="query"):
        proxy = StartupDropper(self.tcp_host, self.port, drops, when)
        self.addCleanup(proxy.close)
        dsn = conninfo(host="127.0.0.1", port=proxy.port, dbname=self.dbname, user=self.superuser,
                       sslmode="disable", gssencmode="disable")
        return proxy, dsn

    def versions(self):
        if not self.table_exists("schema_migrations"):
            return []
        return self.query("SELECT version, status FROM schema_migrations ORDER BY 1")


class MigratorWait(WaitStartupCase):
    FILES = {"1_a.sql": "CREATE TABLE a (id int);\n", "2_b.sql": "CREATE TABLE b (id int);\n"}

    def test_up_with_wait_survives_connections_lost_at_the_first_query(self):
        proxy, dsn = self.dropper(3)
        d = self.make_dir(self.FILES)
        r = self.run_migrator("up", "--dir", d, "--wait", "30s", dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(proxy.dropped, 3, r.describe())
        self.assertGreaterEqual(proxy.accepted_count, 4, r.describe())
        self.assertEqual(self.versions(), [(1, "applied"), (2, "applied")])
        self.assertTrue(self.table_exists("a") and self.table_exists("b"))
        self.assertNoLine(r, ERROR_MIGRATOR)
        # the lock of a lost session went with it: the next run takes it at once
        self.assertExit(self.run_migrator("check", "--dir", d, dsn=dsn), 0)

    def test_up_with_wait_survives_connections_lost_after_the_startup_packet(self):
        proxy, dsn = self.dropper(2, when="startup")
        d = self.make_dir(self.FILES)
        r = self.run_migrator("up", "--dir", d, "--wait", "30s", dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(proxy.dropped, 2, r.describe())
        self.assertEqual(self.versions(), [(1, "applied"), (2, "applied")])

    def test_check_with_wait_survives_a_lost_first_query(self):
        d = self.make_dir(self.FILES)
        self.assertExit(self.run_migrator("up", "--dir", d), 0)
        proxy, dsn = self.dropper(2)
        r = self.run_migrator("check", "--dir", d, "--wait", "30s", dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(proxy.dropped, 2, r.describe())

    def test_up_without_wait_exits_3_at_once(self):
        proxy, dsn = self.dropper(1)
        d = self.make_dir(self.FILES)
        r = self.run_migrator("up", "--dir", d, dsn=dsn)
        self.assertExit(r, 3)
        self.assertEqual(proxy.accepted_count, 1, r.describe())
        self.assertLastLineMatches(r, ERROR_MIGRATOR + r"setting up the session and reading the start-up "
                                   r"state: connection to the server lost.*--wait")
        self.assertEqual(self.versions(), [])
        self.assertFalse(self.table_exists("a"))

    def test_wait_gives_up_at_its_deadline(self):
        proxy, dsn = self.dropper(1000)
        d = self.make_dir(self.FILES)
        r = self.run_migrator("up", "--dir", d, "--wait", "2s", dsn=dsn)
        self.assertExit(r, 3)
        self.assertGreater(proxy.accepted_count, 1, r.describe())
        self.assertLastLineMatches(r, ERROR_MIGRATOR + r"setting up the session and reading the start-up "
                                   r"state: connection to the server lost.*gave up waiting")
        self.assertEqual(self.versions(), [])


class IndexerWait(WaitStartupCase):

    def setUp(self):
        super().setUp()
        self.query("CREATE TABLE h (id int, a int)")
        d = self.make_dir({"indexes.cfg": 'indexes = (\n  { name = "idx_h_a"; table = "h"; '
                                          'sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_h_a ON h (a)"; }\n);\n'})
        self.cfg = os.path.join(d, "indexes.cfg")

    def index_exists(self):
        return self.scalar("SELECT count(*) FROM pg_class WHERE relname = 'idx_h_a'") == 1

    def test_build_with_wait_survives_connections_lost_at_the_first_query(self):
        proxy, dsn = self.dropper(3)
        r = self.run_indexer("build", "-c", self.cfg, "--wait", "30s", dsn=dsn)
        self.assertExit(r, 0)
        self.assertEqual(proxy.dropped, 3, r.describe())
        self.assertTrue(self.index_exists())
        self.assertNoLine(r, ERROR_INDEXER)
        rows = self.query("SELECT definition, action FROM indexer_history ORDER BY id")
        self.assertEqual([x[1] for x in rows][-1:], ["built"], rows)

    def test_build_without_wait_exits_3_at_once(self):
        proxy, dsn = self.dropper(1)
        r = self.run_indexer("build", "-c", self.cfg, dsn=dsn)
        self.assertExit(r, 3)
        self.assertEqual(proxy.accepted_count, 1, r.describe())
        self.assertLastLineMatches(r, ERROR_INDEXER + r"setting up the session: connection to the server "
                                   r"lost.*--wait")
        self.assertFalse(self.index_exists())
