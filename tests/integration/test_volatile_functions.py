"""
test_volatile_functions.py
    The generated volatility table is generated: scripts/gen_volatile_functions.sh,
    run against the test cluster (PostgreSQL 15, a fresh database from
    template0, so pg_catalog holds only the built-ins), prints
    common/pg_volatile_functions.c byte for byte.  A difference fails with
    a unified diff; a new PostgreSQL minor version changes only the version
    line of the header (regenerate the file then).

tests/integration/test_volatile_functions.py
"""

import difflib
import os

from toolkit_test import ToolkitTestCase

SCRIPT = os.path.join("scripts", "gen_volatile_functions.sh")
TABLE = os.path.join("common", "pg_volatile_functions.c")


class VolatileFunctionsTest(ToolkitTestCase):

    def setUp(self):
        super().setUp()
        self.src = os.environ.get("TOOLKIT_SOURCE_DIR")
        if not self.src:
            self.skipTest("TOOLKIT_SOURCE_DIR is not set")
        bindir = self.cluster.get("bindir")
        self.psql = os.path.join(bindir, "psql") if bindir else "psql"

    def generate(self, dsn):
        return self.run_program(["bash", os.path.join(self.src, SCRIPT), dsn],
                                env={"PSQL": self.psql})

    def test_script_reproduces_committed_table(self):
        r = self.generate(self.dsn)
        self.assertExit(r, 0)
        self.assertEqual("", r.stderr, r.describe())
        with open(os.path.join(self.src, TABLE), encoding="utf-8") as f:
            committed = f.read()
        if r.stdout != committed:
            diff = "".join(difflib.unified_diff(
                committed.splitlines(True), r.stdout.splitlines(True),
                fromfile=TABLE + " (committed)", tofile=SCRIPT + " (this cluster)", n=1))
            self.fail("%s does not reproduce %s; regenerate it with\n"
                      "  %s CONNINFO > %s\nif the catalog really changed:\n%s"
                      % (SCRIPT, TABLE, SCRIPT, TABLE, diff[:20000]))

    def test_script_fails_cleanly_without_server(self):
        # nothing listens on port 1: psql fails, the script prints no C at all
        r = self.generate("host=127.0.0.1 port=1 dbname=x connect_timeout=5")
        self.assertExit(r, 1)
        self.assertEqual("", r.stdout, r.describe())
        self.assertStderrMatches(r, r"^gen_volatile_functions\.sh: psql failed$")
