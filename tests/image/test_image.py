"""
test_image.py
    The container images of compose/Dockerfile, run: each program from the
    image's own file system (mounted by tests/image/run.sh with "podman image
    mount"), under chroot as uid 10001 with the image's environment and
    working directory, against the test cluster over TCP on 127.0.0.1.
    Containers cannot start in this sandbox (it refuses setrlimit), so chroot
    stands in for the container runtime: the binaries, their shared
    libraries, the user, the files and the variables are the image's own.

    Run by tests/image/run.sh (scripts/test.sh --image), which sets
    IMAGE_ROOT / TOOLKIT_ROOT / TEAM_ROOT (the mounted images: the default
    "examples" image, the "toolkit" stage, a team's image built FROM it),
    IMAGE_ENV / TOOLKIT_ENV / TEAM_ENV (their ENV, "K=V K=V"), IMAGE_USER,
    IMAGE_WORKDIR and TOOLKIT_CLUSTER_DIR.

Each test asserts exit code, message and catalog state together.

tests/image/test_image.py
"""

import glob
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from toolkit_test import ToolkitTestCase  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(HERE, "..", ".."))
UID = "10001"


def example_versions():
    names = [os.path.basename(p) for p in glob.glob(os.path.join(SOURCE_DIR, "migrations", "*.sql"))]
    return sorted(int(n.split("_")[0]) for n in names if not n.endswith(".verify.sql"))


def present_indexes(cfg_text):
    """Names of the definitions of a config whose state is not "absent"."""
    names = []
    for block in re.findall(r"\{(.*?)\}", cfg_text, re.S):
        m = re.search(r'\bname\s*=\s*"([^"]+)"', block)
        if m and not re.search(r'\bstate\s*=\s*"absent"', block):
            names.append(m.group(1))
    return names


@unittest.skipUnless(os.environ.get("IMAGE_ROOT"), "run by tests/image/run.sh")
class ImageTest(ToolkitTestCase):

    def in_image(self, root_var, *argv, user=UID):
        """argv run from the mounted image root_var as uid:gid user, the image's env and workdir."""
        root = os.environ[root_var]
        env = os.environ[root_var.replace("_ROOT", "_ENV")].split()
        workdir = os.environ.get("IMAGE_WORKDIR") or "/"
        # a runtime creates a missing WORKDIR at start (buildah leaves it out
        # of a stage that writes nothing there, as the toolkit stage)
        if not os.path.isdir(os.path.join(root, workdir.lstrip("/"))):
            workdir = "/"
        if not any(e.startswith("PATH=") for e in env):
            env.append("PATH=/usr/local/bin:/usr/bin:/bin")
        cmd = ["chroot", "--userspec=%s:%s" % (user, user), root,
               "/usr/bin/env", "-i", "-C", workdir, "HOME=/nonexistent"] + env + list(argv)
        return self.run_program(cmd, timeout=300)

    def dsn_tcp(self):
        return self.tcp_dsn(self.superuser)

    def tool(self, root_var, program, *args):
        return self.in_image(root_var, program, *args, "--dsn", self.dsn_tcp())

    def applied(self):
        if not self.table_exists("schema_migrations"):
            return None
        return [r[0] for r in self.query(
            "SELECT version FROM schema_migrations WHERE status = 'applied' ORDER BY version")]

    def valid_indexes(self):
        return {r[0] for r in self.query(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indisvalid AND i.indisready")}

    # ---- the image's user and files ---------------------------------------------

    def test_runs_as_numeric_uid_10001_with_read_only_release_files(self):
        self.assertEqual("10001:10001", os.environ["IMAGE_USER"])
        r = self.in_image("IMAGE_ROOT", "id", "-u")
        self.assertExit(r, 0)
        self.assertEqual(UID, r.stdout.strip())
        for path in ("/app/migrations", "/app/conf", "/usr/local/bin"):
            r = self.in_image("IMAGE_ROOT", "sh", "-c", "test -w %s" % path)
            self.assertExit(r, 1, "%s is writable by uid %s" % (path, UID))
        r = self.in_image("IMAGE_ROOT", "sh", "-c", "echo x > /app/migrations/999_evil.sql")
        self.assertNotEqual(0, r.rc)
        self.assertFalse(os.path.exists(os.path.join(os.environ["IMAGE_ROOT"], "app/migrations/999_evil.sql")))

    def test_programs_start_and_name_their_version(self):
        for prog in ("migrator", "indexer"):
            r = self.in_image("IMAGE_ROOT", prog, "--version")
            self.assertExit(r, 0)
            self.assertRegex(r.stdout + r.stderr, r"%s .*\d+\.\d+" % prog)
        r = self.in_image("IMAGE_ROOT", "indexer-cron", "--help")
        self.assertIn(r.rc, (0, 2), r.describe())

    # ---- the default image: this repository's examples ---------------------------

    def test_examples_image_migrates_builds_indexes_and_passes_both_checks(self):
        versions = example_versions()
        self.assertGreater(len(versions), 3)
        r = self.tool("IMAGE_ROOT", "migrator", "check")
        self.assertExit(r, 5)
        self.assertStderrMatches(r, r"%d pending" % len(versions))
        self.assertIsNone(self.applied())

        # no --dir, no --config: the image's MIGRATIONS_DIR and INDEXER_CONFIG
        r = self.tool("IMAGE_ROOT", "migrator", "up")
        self.assertExit(r, 0)
        self.assertEqual(versions, self.applied())
        self.assertTrue(self.column_exists("call_log", "started_at"))

        r = self.tool("IMAGE_ROOT", "indexer", "check")
        self.assertExit(r, 5)
        r = self.tool("IMAGE_ROOT", "indexer", "build")
        self.assertExit(r, 0)
        with open(os.path.join(SOURCE_DIR, "conf", "indexes.cfg"), encoding="utf-8") as f:
            wanted = set(present_indexes(f.read()))
        self.assertTrue(wanted)
        self.assertLessEqual(wanted, self.valid_indexes())

        r = self.tool("IMAGE_ROOT", "migrator", "check")
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"schema is current")
        r = self.tool("IMAGE_ROOT", "indexer", "check")
        self.assertExit(r, 0)
        # the compose file's command lines, exactly
        r = self.tool("IMAGE_ROOT", "migrator", "up", "--wait", "60s", "--dir", "/app/migrations")
        self.assertExit(r, 0)
        r = self.tool("IMAGE_ROOT", "indexer", "check", "--critical-only", "--config", "/app/conf/indexes.cfg")
        self.assertExit(r, 0)
        self.assertEqual(versions, self.applied())

    def test_the_cronjobs_scheduled_build_runs_in_the_image(self):
        """compose/k8s/indexer-cronjobs.yaml's indexer-build command, exactly, as the image runs it:
        the image's wrapper and indexer accept every option (window, budget, --max-builds, --keep),
        the run exits 0 inside or outside the window, and what it did is in the history table."""
        import yaml
        with open(os.path.join(SOURCE_DIR, "compose", "k8s", "indexer-cronjobs.yaml"), encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        job = [d for d in docs if d["kind"] == "CronJob" and d["metadata"]["name"] == "indexer-build"][0]
        argv = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
        self.assertIn("--window", argv)
        self.assertExit(self.tool("IMAGE_ROOT", "migrator", "up"), 0)
        r = self.in_image("IMAGE_ROOT", *argv, "--dsn", self.dsn_tcp())
        self.assertExit(r, 0)
        self.assertRegex(r.stderr, r'"program":"indexer-cron","event":"indexer_run",.*"exit_code":0,')
        self.assertGreater(self.scalar("SELECT count(*) FROM public.indexer_history"), 0)

    def test_a_failing_migration_fails_the_image_run(self):
        r = self.in_image("IMAGE_ROOT", "migrator", "up", "--dsn",
                          self.tcp_dsn(self.superuser, dbname="no_such_database_here"))
        self.assertExit(r, 3)
        self.assertIsNone(self.applied())

    def test_only_the_examples_image_is_marked(self):
        self.assertIn("TOOLKIT_EXAMPLE_FILES=1", os.environ["IMAGE_ENV"].split())
        self.assertNotIn("TOOLKIT_EXAMPLE_FILES", os.environ["TOOLKIT_ENV"])
        self.assertNotIn("TOOLKIT_EXAMPLE_FILES", os.environ["TEAM_ENV"])

    # ---- the toolkit stage and a team's image on it -------------------------------

    def test_toolkit_stage_ships_no_migrations(self):
        self.assertFalse(os.path.exists(os.path.join(os.environ["TOOLKIT_ROOT"], "app", "migrations")))
        self.assertFalse(os.path.exists(os.path.join(os.environ["TOOLKIT_ROOT"], "app", "conf")))
        r = self.tool("TOOLKIT_ROOT", "migrator", "up")
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r'"/app/migrations"')
        self.assertIsNone(self.applied())

    def test_team_image_runs_its_own_files_and_no_example(self):
        names = sorted(os.listdir(os.path.join(os.environ["TEAM_ROOT"], "app", "migrations")))
        self.assertEqual(["0001_create_orders.sql", "0002_orders_status.sql"], names)
        r = self.tool("TEAM_ROOT", "migrator", "up")
        self.assertExit(r, 0)
        self.assertEqual([1, 2], self.applied())
        self.assertTrue(self.column_exists("orders", "status"))
        self.assertFalse(self.table_exists("call_log"))
        r = self.tool("TEAM_ROOT", "indexer", "build", "--critical-only")
        self.assertExit(r, 0)
        self.assertIn("idx_orders_customer", self.valid_indexes())
        self.assertExit(self.tool("TEAM_ROOT", "migrator", "check"), 0)
        self.assertExit(self.tool("TEAM_ROOT", "indexer", "check"), 0)


if __name__ == "__main__":
    unittest.main()
