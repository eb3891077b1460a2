"""
test_deploy_reconcile.py
    The command lines of the deployment files (compose/docker-compose*.yml,
    compose/k8s/*.yaml, the crontab lines of docs/deployment.md), as the
    real programs see them:

    - every option any of them uses is one that the real program accepts
      for that command (its hidden --list-options table), with a value
      where it takes one: a new option in a file is checked without a
      change here;
    - the reconciliation options are where they belong (the scheduled
      build has a window, a budget, --max-builds and the history's --keep;
      the one-shot deploy builds do not wait for a window);
    - the scheduled build's command line, through the indexer-cron wrapper,
      run against the test cluster on the repository's migrations and
      conf/indexes.cfg with the clock moved by libfaketime: outside the
      window only the window = "any" definition is built and the rest is
      deferred (exit 0, recorded), inside it everything is built; and every
      indexer command line of the files runs (exit 0).

tests/integration/test_deploy_reconcile.py
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import unittest

from test_deploy import (BASE, COMBINATIONS, CRON_WRAPPER, SOURCE_DIR, command_of, compose_services,
                         k8s_documents, pod_specs, strip_every)
from toolkit_test import ToolkitTestCase

DOCS = os.path.join(SOURCE_DIR, "docs", "deployment.md")
PROGRAMS = {"indexer": "INDEXER", "migrator": "MIGRATOR"}
# the reconciliation a scheduled build must have (issue 15)
RECONCILE = ("--window", "--time-zone", "--max-runtime", "--max-builds", "--keep", "--max-replica-lag",
             "--max-replica-lag-bytes", "--metrics-file")
OUTSIDE = "2026-12-02 12:00:00"  # a Wednesday noon, UTC
INSIDE = "2026-12-03 02:00:00"   # the next night, inside 01:00-05:00


def invocations(argv):
    """The program command lines in a container command: the wrapper's
    COMMAND, each part of an "sh -c A && B && exec C" script, or argv."""
    argv = list(argv)
    if argv and argv[0] in ("indexer-cron", "bin/indexer-cron.sh"):
        return invocations(strip_every(argv)[1:])
    if argv[:2] == ["sh", "-c"]:
        out = []
        for part in argv[2].split("&&"):
            words = shlex.split(part)
            out += invocations(words[1:] if words and words[0] == "exec" else words)
        return out
    return [argv] if argv and argv[0] in PROGRAMS else []


def docs_crontab_lines():
    """The crontab lines of docs/deployment.md: the command after the compose service name."""
    out = []
    with open(DOCS, encoding="utf-8") as f:
        for line in f:
            if not re.match(r"^[0-9*/,-]+ [0-9*/,-]+ \S+ \S+ \S+ cd ", line) or "indexer-cron" not in line:
                continue
            words = shlex.split(line.split(">>")[0])
            i = words.index("-T")
            out.append(("docs/deployment.md crontab", words[i + 2:]))
    return out


def command_lines():
    """(where, program argv) of every command line the deployment files run."""
    found = []
    for files in COMBINATIONS:
        for name, svc in sorted(compose_services(list(files)).items()):
            if "command" in svc:
                found += [("%s %s" % ("+".join(files), name), a) for a in invocations(command_of(svc))]
    for fname, doc in k8s_documents():
        for pod in pod_specs(doc):
            for c in pod.get("initContainers", []) + pod.get("containers", []):
                if "command" in c:
                    where = "k8s/%s %s %s" % (fname, doc["metadata"]["name"], c["name"])
                    found += [(where, a) for a in invocations(c["command"])]
    for where, argv in docs_crontab_lines():
        found += [(where, a) for a in invocations(argv)]
    return found


def accepted_options(program, command):
    """{--option: kind} that program accepts for command, from --list-options."""
    r = subprocess.run([program, "--list-options"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    out = {}
    for line in r.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "option" and f[1] == command:
            out[f[2]] = f[3].split("=")[0]
    return out


class CommandLineOptionsTest(unittest.TestCase):

    def setUp(self):
        for var in PROGRAMS.values():
            if not os.environ.get(var):
                self.skipTest("%s is not set (path of the program under test)" % var)
        self.lines = command_lines()

    def test_every_option_used_is_accepted_by_the_real_program(self):
        seen = set()
        tables = {}
        for where, argv in self.lines:
            program, command = argv[0], argv[1]
            self.assertFalse(command.startswith("-"), "%s: no command in %s" % (where, argv))
            key = (program, command)
            if key not in tables:
                tables[key] = accepted_options(os.environ[PROGRAMS[program]], command)
            self.assertTrue(tables[key], "%s: %s has no command %r" % (where, program, command))
            i = 2
            while i < len(argv):
                word = argv[i]
                self.assertTrue(word.startswith("-"), "%s: stray argument %r in %s" % (where, word, argv))
                name = word.split("=", 1)[0]
                with self.subTest(where=where, option=name):
                    self.assertIn(name, tables[key], "%s %s does not accept %s (%s)"
                                  % (program, command, name, where))
                seen.add(name)
                if tables[key].get(name) in ("value", "path") and "=" not in word:
                    self.assertLess(i + 1, len(argv), "%s: %s without its value" % (where, name))
                    i += 1
                i += 1
        for option in RECONCILE:
            self.assertIn(option, seen)

    def test_the_reconciliation_options_are_where_they_belong(self):
        build = compose_services([BASE])["indexer-cron"]
        (cron,) = invocations(command_of(build))
        for option in RECONCILE:
            self.assertIn(option, cron)
        # every scheduled build has them: compose, the CronJob, the docs' crontab line
        scheduled = [a for w, a in self.lines if a[:2] == ["indexer", "build"] and "--window" in a]
        wheres = {w.split(" ")[0] for w, a in self.lines if a in scheduled}
        self.assertTrue(any(w.startswith("k8s/") for w in wheres), wheres)
        self.assertIn("docs/deployment.md", wheres)
        for argv in scheduled:
            self.assertEqual(argv, cron)
        # the deploy's one-shot builds build now: no window, no budget
        for name in ("indexer", "indexer-critical"):
            argv = command_of(compose_services([BASE])[name])
            for option in RECONCILE:
                self.assertNotIn(option, argv, name)
        # a value per line in the files, so that adding an option is one line
        with open(os.path.join(SOURCE_DIR, "compose", "docker-compose.yml")) as f:
            text = f.read()
        for option in RECONCILE:
            self.assertRegex(text, r'(?m)^ +"%s", "[^"]+",?\]?$' % option)


class ReconcileRunTest(ToolkitTestCase):
    """The scheduled build's own command line, run here as the container runs it."""

    def setUp(self):
        super().setUp()
        self.app_root = self.make_dir()
        shutil.copytree(os.path.join(SOURCE_DIR, "migrations"), os.path.join(self.app_root, "migrations"))
        shutil.copytree(os.path.join(SOURCE_DIR, "conf"), os.path.join(self.app_root, "conf"))
        self.bin = self.make_dir()
        self.metrics_dir = self.make_dir()  # the files' /metrics volume
        wrapper = shlex.split(os.environ.get("TOOLKIT_TEST_WRAPPER", ""))
        for name, argv in (("indexer", wrapper + [os.environ["INDEXER"]]),
                           ("migrator", wrapper + [os.environ["MIGRATOR"]]),
                           ("indexer-cron", [CRON_WRAPPER])):
            path = os.path.join(self.bin, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexec %s \"$@\"\n" % shlex.join(argv))
            os.chmod(path, 0o755)
        r = self.run_migrator("up", "--dir", os.path.join(self.app_root, "migrations"))
        self.assertExit(r, 0)

    def run_line(self, argv, when=None):
        mapped = [re.sub(r"(^|[\s=])/(app|metrics)(?=/|\s|$)",
                         lambda m: m.group(1) + (self.app_root if m.group(2) == "app" else self.metrics_dir), a)
                  for a in argv]
        env = self.clock_at(when) if when else {"TZ": "UTC"}
        env.update({"DATABASE_URL": self.dsn, "PATH": self.bin + os.pathsep + os.environ["PATH"]})
        return self.run_program(mapped, env=env)

    def indexes(self):
        return {r[0] for r in self.query("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'idx\\_%%'")}

    def defined(self):
        with open(os.path.join(self.app_root, "conf", "indexes.cfg")) as f:
            return set(re.findall(r'name += "(idx_\w+)"', f.read()))

    def any_window(self):
        with open(os.path.join(self.app_root, "conf", "indexes.cfg")) as f:
            return set(re.findall(r'name += "(idx_\w+)";[^}]*window += "any"', f.read()))

    def test_the_scheduled_build_waits_for_its_window_and_records_it(self):
        compose = strip_every(command_of(compose_services([BASE])["indexer-cron"]))
        cronjob = [d for _, d in k8s_documents() if d["kind"] == "CronJob"
                   and d["metadata"]["name"] == "indexer-build"][0]
        self.assertEqual(pod_specs(cronjob)[0]["containers"][0]["command"], compose)
        urgent = self.any_window()
        self.assertTrue(urgent, "conf/indexes.cfg shows no window = \"any\" example")
        self.assertEqual(self.indexes() & self.defined(), set())
        # outside the window: only window = "any" is built; the rest waits, exit 0
        r = self.run_line(compose, OUTSIDE)
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"waits for the window \(it opens \w{3} 2026-12-03 01:00 UTC\)")
        self.assertEqual(self.indexes() & self.defined(), urgent)
        run = [json.loads(x) for x in r.stderr.splitlines() if '"program":"indexer-cron"' in x]
        self.assertEqual([(x["event"], x["exit_code"], x["alert"]) for x in run], [("indexer_run", 0, False)])
        rows = self.query("SELECT action, definition, deferred FROM public.indexer_history ORDER BY id")
        waiting = len(self.defined() - urgent)
        self.assertEqual(rows, [("built", d, 0) for d in sorted(urgent)] + [("deferred", None, waiting)])
        # inside it: the rest (at most --max-builds), recorded one row each
        r = self.run_line(compose, INSIDE)
        self.assertExit(r, 0)
        self.assertLessEqual(waiting, int(compose[compose.index("--max-builds") + 1]))
        self.assertEqual(self.indexes() & self.defined(), self.defined())
        built = self.query("SELECT definition FROM public.indexer_history WHERE action = 'built' "
                           "AND definition <> ALL (%s)", (sorted(urgent),))
        self.assertEqual({x[0] for x in built}, self.defined() - urgent)
        # the run's state for node_exporter: every definition present, the last success now
        prom = compose[compose.index("--metrics-file") + 1]
        with open(prom.replace("/metrics", self.metrics_dir, 1)) as f:
            text = f.read()
        for name in self.defined():
            self.assertRegex(text, r'pg_schema_indexer_index_state\{[^}]*name="%s"[^}]*state="present"\} 1\n' % name)
        self.assertRegex(text, r'pg_schema_indexer_last_success_timestamp_seconds\{command="build"\} \d+')
        h = self.run_line(["indexer", "history", "--config", "/app/conf/indexes.cfg", "--since", "1d"], INSIDE)
        self.assertExit(h, 0)
        self.assertIn("(%d rows)" % (len(self.defined()) + 1), h.stdout)

    def test_every_indexer_command_line_of_the_files_runs(self):
        lines, seen = [], set()
        for where, argv in command_lines():
            if argv[0] == "indexer" and tuple(argv) not in seen:
                seen.add(tuple(argv))
                lines.append((where, argv))
        # the builds first, then the gates and checks, which then pass
        lines.sort(key=lambda x: x[1][1] != "build")
        for where, argv in lines:
            with self.subTest(where=where):
                r = self.run_line(argv, INSIDE)
                self.assertExit(r, 0, where)
                self.assertNoLine(r, r'"level":"error"|: error:')
