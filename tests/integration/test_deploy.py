"""
test_deploy.py
    The deployment files under compose/, tested without a Docker engine:

    - contracts of the compose files (services, order, restart policies,
      conditions, profiles, the local PostgreSQL's healthcheck, secrets only
      from the environment), of the Dockerfile (stages, packages, non-root,
      no secrets) and of the Kubernetes manifests (Job, CronJobs, gates);
    - the Dockerfile's build stage run here on the sources it copies, and its
      runtime packages checked against what the built programs load;
    - docker-compose config for every documented combination of files;
    - shellcheck on every script, and the indexer-cron wrapper's exit policy;
    - compose/deploy.sh and compose/k8s/release.sh end to end: deploy.sh
      against the test cluster, with the compose command replaced by a fake
      that runs the command lines of the compose files themselves with the
      locally built programs (a drift between the two fails here), and
      release.sh against a fake kubectl.

This file is also the fake: "test_deploy.py fake-compose ARGS" and
"test_deploy.py fake-kubectl ARGS" (see FakeCompose and FakeKubectl).

tests/integration/test_deploy.py
"""

import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

from toolkit_test import ToolkitTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("TOOLKIT_SOURCE_DIR") or os.path.normpath(
    os.path.join(HERE, "..", ".."))
COMPOSE_DIR = os.path.join(SOURCE_DIR, "compose")
K8S_DIR = os.path.join(COMPOSE_DIR, "k8s")
DEPLOY = os.path.join(COMPOSE_DIR, "deploy.sh")
RELEASE = os.path.join(K8S_DIR, "release.sh")
CRON_WRAPPER = os.path.join(COMPOSE_DIR, "bin", "indexer-cron.sh")
DOCKERFILE = os.path.join(COMPOSE_DIR, "Dockerfile")

BASE = "docker-compose.yml"
LOCAL = "docker-compose.local.yml"
PROD = "docker-compose.prod.yml"
# Every combination of compose files that docs/deployment.md documents.
COMBINATIONS = [(BASE,), (BASE, PROD), (BASE, LOCAL)]
# What compose/.env gives in each setup (.env.example).
CONFIG_ENV = {
    "DATABASE_URL": "postgresql://app_owner:pw@db.internal:5432/app?sslmode=require",
    "TOOLKIT_IMAGE": "registry.example.com/pg-schema-toolkit:1.0.0",
    "POSTGRES_PASSWORD": "localdev",
}

TOOLKIT_SERVICES = {"migrate", "app", "indexer", "indexer-critical",
                    "indexer-cron", "indexer-check"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|DATABASE_URL|CREDENTIAL|PRIVATE_KEY|PGPASS",
                         re.IGNORECASE)
PLACEHOLDER = re.compile(r"^\$\{[A-Z_][A-Z0-9_]*(:?[-?][^}]*)?\}$")

STUB_INDEXER = "not implemented yet"

# compose/deploy.sh's production check of the image's files, as FakeCompose records it
EXAMPLES_GUARD = ("run --rm -T --no-deps migrate sh -c if [ -n \"${TOOLKIT_EXAMPLE_FILES:-}\" ]; "
                  "then echo examples; else echo own; fi")


# ---- compose files: reading, interpolating and merging as Compose does -------------

class InterpolationError(Exception):
    pass


_VAR = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}"
                  r"|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value, env):
    """value with ${VAR}, ${VAR:-default}, ${VAR:?error} (and $$) replaced."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m):
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(5)
        op, arg = m.group(3), m.group(4)
        val = env.get(name)
        if op == ":-":
            return val if val else arg
        if op == "-":
            return val if val is not None else arg
        if op == ":?" and not val or op == "?" and val is None:
            raise InterpolationError("required variable %s is missing a value: %s"
                                     % (name, arg))
        return val or ""
    return _VAR.sub(sub, value)


def merge(base, override):
    """Compose's merge, as far as these files need it: maps merge key by
    key, anything else (command, lists) is replaced by the override."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merge(base[k], v) if k in base else v
        return out
    return override


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def compose_services(files, env=None, interpolated=True):
    """The merged services of compose files (relative to compose/)."""
    services = {}
    for name in files:
        doc = load_yaml(os.path.join(COMPOSE_DIR, name)) or {}
        if interpolated:
            doc = interpolate(doc, CONFIG_ENV if env is None else env)
        services = merge(services, doc.get("services") or {})
    return services


def command_of(service):
    cmd = service.get("command")
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def environment_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_on(service):
    dep = service.get("depends_on") or {}
    if isinstance(dep, list):
        return {d: {"condition": "service_started"} for d in dep}
    return dep


# ---- the Dockerfile -----------------------------------------------------------------------

def dockerfile_global_args():
    """{NAME: default} of the ARGs before the first FROM (the base images)."""
    with open(DOCKERFILE, encoding="utf-8") as f:
        text = f.read()
    head = text[:re.search(r"(?m)^FROM ", text).start()]
    return dict(re.findall(r"(?m)^ARG (\w+)=(\S+)$", head))


def dockerfile_stages():
    """[(from_line, [(INSTRUCTION, args)])] with continuation lines joined,
    the global ARGs' defaults substituted in FROM lines."""
    with open(DOCKERFILE, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)
    global_args = dockerfile_global_args()
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "ARG" and not stages:
            continue  # a global ARG: dockerfile_global_args()
        if instr == "FROM":
            args = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], args)
            stages.append((args.strip(), []))
        elif stages:
            stages[-1][1].append((instr, " ".join(args.split())))
        else:
            stages.append(("", [(instr, args)]))
    return stages


def apt_packages(run_args):
    """The packages of the apt-get install in a RUN line."""
    m = re.search(r"apt-get install ((?:-\S+ )*)([^&;]*)", run_args)
    return m.group(2).split() if m else []


def deps_build_packages():
    with open(os.path.join(SOURCE_DIR, "scripts", "deps.sh"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^BUILD_PACKAGES=\((.*?)\)", text, re.MULTILINE | re.DOTALL)
    return [w for line in m.group(1).splitlines() for w in line.split("#")[0].split()]


def needed_packages(binary):
    """Debian packages of the shared libraries binary has NEEDED entries for."""
    out = subprocess.run(["readelf", "-d", binary], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    cache = subprocess.run(["ldconfig", "-p"], check=True, stdout=subprocess.PIPE,
                           universal_newlines=True).stdout
    packages = {}
    for so in sonames:
        m = re.search(r"^\s*%s \([^)]*x86-64[^)]*\) => (\S+)" % re.escape(so), cache,
                      re.MULTILINE) or re.search(r"^\s*%s .*=> (\S+)" % re.escape(so),
                                                 cache, re.MULTILINE)
        path = os.path.realpath(m.group(1)) if m else so
        owner = subprocess.run(["dpkg", "-S", path], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, universal_newlines=True).stdout
        if not owner:  # /lib is a symlink to /usr/lib on Debian 12: try the other
            alt = path[4:] if path.startswith("/usr/") else "/usr" + path
            owner = subprocess.run(["dpkg", "-S", alt], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL,
                                   universal_newlines=True).stdout
        packages[so] = owner.split(":")[0] if owner else None
    return packages


# ---- the Kubernetes manifests -------------------------------------------------------------

def k8s_documents():
    docs = []
    for name in sorted(os.listdir(K8S_DIR)):
        if name.endswith(".yaml"):
            with open(os.path.join(K8S_DIR, name), encoding="utf-8") as f:
                docs += [(name, d) for d in yaml.safe_load_all(f) if d]
    return docs


def pod_specs(doc):
    kind = doc["kind"]
    if kind == "Job":
        return [doc["spec"]["template"]["spec"]]
    if kind == "CronJob":
        return [doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "Deployment":
        return [doc["spec"]["template"]["spec"]]
    return []


def strip_every(cmd):
    """An indexer-cron command line without its --every INTERVAL."""
    out = list(cmd)
    if "--every" in out:
        i = out.index("--every")
        del out[i:i + 2]
    return out


def indexer_not_ready():
    """Why the end-to-end deploy cannot build indexes here, or None."""
    indexer = os.environ.get("INDEXER")
    if not indexer:
        return "INDEXER is not set"
    if not os.path.exists(os.path.join(SOURCE_DIR, "conf", "indexes.cfg")):
        return "conf/indexes.cfg does not exist yet"
    r = subprocess.run([indexer, "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True)
    if STUB_INDEXER in r.stdout:
        return "the indexer is still its placeholder (issue 4)"
    return None


# =============================================================================================
# Contracts
# =============================================================================================

class ComposeContractTest(unittest.TestCase):
    """What the compose files promise, read from the files themselves."""

    def setUp(self):
        self.base = compose_services([BASE])
        self.local = load_yaml(os.path.join(COMPOSE_DIR, LOCAL))["services"]
        self.prod = load_yaml(os.path.join(COMPOSE_DIR, PROD))["services"]

    def test_base_has_the_services_and_no_database(self):
        self.assertEqual(set(self.base), TOOLKIT_SERVICES)
        for name, svc in self.base.items():
            self.assertFalse(str(svc.get("image", "")).startswith("postgres"),
                             "the base file bundles a database in %s" % name)

    def test_migrate_runs_once_fail_hard_before_everything(self):
        migrate = self.base["migrate"]
        self.assertEqual(migrate.get("restart"), "no")
        self.assertNotIn("profiles", migrate, "plain up must run migrate")
        cmd = command_of(migrate)
        self.assertEqual(cmd[:2], ["migrator", "up"])
        self.assertIn("--wait", cmd)
        self.assertEqual(cmd[cmd.index("--dir") + 1], "/app/migrations")
        self.assertEqual(migrate["build"]["dockerfile"], "compose/Dockerfile")
        self.assertEqual(migrate["build"]["context"], "..")

    def test_app_starts_after_migrate_succeeded_and_gates_itself(self):
        app = self.base["app"]
        self.assertNotIn("profiles", app)
        self.assertEqual(depends_on(app)["migrate"]["condition"],
                         "service_completed_successfully")
        cmd = command_of(app)
        self.assertEqual(cmd[:2], ["sh", "-c"])
        script = cmd[2]
        gate = [script.find("migrator check"), script.find("indexer check --critical-only"),
                script.find("exec ")]
        self.assertTrue(all(i >= 0 for i in gate), script)
        self.assertEqual(gate, sorted(gate), "check, then index check, then exec")
        self.assertEqual(script.count("&&"), 2, "each gate must stop the start: " + script)

    def test_indexers_are_one_shot_tools_not_started_by_up(self):
        for name in ("indexer", "indexer-critical"):
            svc = self.base[name]
            self.assertEqual(svc.get("profiles"), ["tools"], name)
            self.assertEqual(svc.get("restart"), "no", name)
            cmd = command_of(svc)
            self.assertEqual(cmd[:2], ["indexer", "build"], name)
            self.assertEqual(cmd[cmd.index("--config") + 1], "/app/conf/indexes.cfg")
        self.assertIn("--critical-only", command_of(self.base["indexer-critical"]))
        self.assertNotIn("--critical-only", command_of(self.base["indexer"]))

    def test_schedule_services_run_the_wrapper_with_json_logs(self):
        for name, sub in (("indexer-cron", "build"), ("indexer-check", "check")):
            svc = self.base[name]
            self.assertEqual(svc.get("profiles"), ["cron"], name)
            self.assertEqual(depends_on(svc)["migrate"]["condition"],
                             "service_completed_successfully")
            cmd = command_of(svc)
            self.assertEqual(cmd[:2], ["indexer-cron", "--every"], name)
            rest = strip_every(cmd)[1:]
            self.assertEqual(rest[:2], ["indexer", sub], name)
            self.assertEqual(rest[rest.index("--log-format") + 1], "json", name)

    def test_local_adds_postgres_checked_over_tcp_and_waits_for_it(self):
        pg = self.local["postgres"]
        self.assertTrue(pg["image"].startswith("postgres:15"), pg["image"])
        test = pg["healthcheck"]["test"]
        self.assertIn("pg_isready", test)
        # A bare pg_isready passes against the entrypoint's socket-only
        # temporary server, which is then restarted.
        self.assertEqual(test[test.index("-h") + 1], "127.0.0.1")
        for name in TOOLKIT_SERVICES:
            self.assertEqual(depends_on(self.local[name])["postgres"]["condition"],
                             "service_healthy", name)
        self.assertEqual(set(self.local), TOOLKIT_SERVICES | {"postgres"})

    def test_prod_changes_no_command_policy_or_dependency(self):
        for name, svc in self.prod.items():
            for key in ("command", "entrypoint", "restart", "depends_on", "profiles"):
                self.assertNotIn(key, svc, "%s.%s in %s" % (name, key, PROD))
            self.assertIn("logging", svc, name)
            self.assertIn("mem_limit", svc, name)

    def test_every_combination_keeps_the_order(self):
        for files in COMBINATIONS:
            with self.subTest(files=files):
                s = compose_services(files)
                self.assertEqual(s["migrate"]["restart"], "no")
                self.assertEqual(depends_on(s["app"])["migrate"]["condition"],
                                 "service_completed_successfully")
                self.assertEqual(command_of(s["migrate"]), command_of(self.base["migrate"]))

    def test_secrets_come_only_from_the_environment(self):
        for name in (BASE, LOCAL, PROD):
            doc = load_yaml(os.path.join(COMPOSE_DIR, name))
            for svc_name, svc in (doc.get("services") or {}).items():
                for key, value in environment_of(svc).items():
                    if SECRET_NAME.search(key):
                        self.assertRegex(value, PLACEHOLDER,
                                         "%s: %s.%s is a literal" % (name, svc_name, key))
            for anchor, value in doc.items():
                if anchor.startswith("x-") and isinstance(value, dict):
                    for key, v in environment_of(value).items():
                        if SECRET_NAME.search(key):
                            self.assertRegex(v, PLACEHOLDER, "%s: %s.%s" % (name, anchor, key))

    def test_env_example_names_every_variable_the_files_use(self):
        used = set()
        for name in (BASE, LOCAL, PROD):
            with open(os.path.join(COMPOSE_DIR, name), encoding="utf-8") as f:
                used |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", f.read()))
        with open(os.path.join(COMPOSE_DIR, ".env.example"), encoding="utf-8") as f:
            example = f.read()
        for var in sorted(used):
            self.assertRegex(example, r"(?m)^#?%s=" % var, "%s is not in .env.example" % var)
        with open(os.path.join(COMPOSE_DIR, ".gitignore"), encoding="utf-8") as f:
            self.assertRegex(f.read(), r"(?m)^\.env$")


class DockerfileTest(unittest.TestCase):
    """The image: build, toolkit and examples stages on Debian 12, non-root,
    no secrets, a runtime (toolkit) stage that has every library the
    programs load, and the examples only in the marked last stage."""

    def setUp(self):
        self.stages = dockerfile_stages()
        self.build = self.stages[0][1]
        self.runtime = self.stages[1][1]
        self.examples = self.stages[2][1]

    def instructions(self, stage, name):
        return [args for instr, args in stage if instr == name]

    def test_stages(self):
        # the base images are build ARGs whose defaults the official registry has
        self.assertEqual(dockerfile_global_args(),
                         {"BUILD_IMAGE": "debian:bookworm", "RUNTIME_IMAGE": "debian:bookworm-slim"})
        self.assertEqual([s[0] for s in self.stages],
                         ["debian:bookworm AS build", "debian:bookworm-slim AS toolkit",
                          "toolkit AS examples"])

    def test_examples_only_in_the_marked_last_stage(self):
        self.assertEqual(self.instructions(self.examples, "COPY"),
                         ["migrations/ /app/migrations/", "conf/ /app/conf/"])
        self.assertEqual(self.instructions(self.examples, "ENV"), ["TOOLKIT_EXAMPLE_FILES=1"])
        for instr, args in self.runtime:
            self.assertNotIn("migrations", args if instr == "COPY" else "")
            self.assertNotIn("TOOLKIT_EXAMPLE_FILES", args)

    def test_build_stage_has_the_packages_of_deps_sh(self):
        run = [a for a in self.instructions(self.build, "RUN") if "apt-get install" in a]
        self.assertEqual(len(run), 1)
        wanted = [p for p in deps_build_packages() if p != "libcmocka-dev"]
        self.assertEqual(sorted(apt_packages(run[0])), sorted(wanted))

    def test_runtime_stage_is_slim_and_non_root(self):
        run = [a for a in self.instructions(self.runtime, "RUN") if "apt-get install" in a]
        self.assertEqual(len(run), 1)
        self.assertIn("--no-install-recommends", run[0])
        self.assertIn("rm -rf /var/lib/apt/lists/*", run[0])
        for pkg in apt_packages(run[0]):
            self.assertFalse(pkg.endswith("-dev") or pkg in ("build-essential", "cmake"), pkg)
        user = self.instructions(self.runtime, "USER")
        self.assertEqual(len(user), 1)
        uid = user[0].split(":")[0]
        self.assertTrue(uid.isdigit() and int(uid) > 0, "USER must be a numeric non-root uid")
        self.assertEqual(self.instructions(self.runtime, "ENTRYPOINT"), [])

    def test_release_files_at_predictable_paths(self):
        self.assertIn("MIGRATIONS_DIR=/app/migrations INDEXER_CONFIG=/app/conf/indexes.cfg",
                      self.instructions(self.runtime, "ENV"))
        copies = self.instructions(self.runtime, "COPY")
        binaries = [c for c in copies if c.startswith("--from=build")]
        self.assertEqual(len(binaries), 1)
        for prog in ("migrator", "indexer", "indexer-cron"):
            self.assertIn("/usr/local/bin/%s " % prog, binaries[0])

    def test_no_secrets_in_the_image(self):
        for _, stage in self.stages:
            for instr, args in stage:
                if instr in ("ENV", "ARG", "LABEL"):
                    for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_.-]*)(?:=|\s|$)", args):
                        self.assertNotRegex(m.group(1), SECRET_NAME,
                                            "%s %s puts a secret in the image" % (instr, args))
                if instr in ("RUN", "COPY"):
                    self.assertNotRegex(args, r"(?i)\.env\b|password=|secret",
                                        "%s %s" % (instr, args))
        for _, stage in self.stages:
            self.assertEqual(self.instructions(stage, "ARG"), [])
        self.assertEqual(set(dockerfile_global_args()), {"BUILD_IMAGE", "RUNTIME_IMAGE"})

    def test_dockerignore_admits_exactly_what_is_copied(self):
        with open(os.path.join(COMPOSE_DIR, "Dockerfile.dockerignore"), encoding="utf-8") as f:
            patterns = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
        self.assertEqual(patterns[0], "*", "exclude everything, then admit")
        admitted = [p[1:].rstrip("/") for p in patterns[1:] if p.startswith("!")]
        for _, stage in self.stages:
            for args in self.instructions(stage, "COPY"):
                if args.startswith("--from"):
                    continue
                for src in args.split()[:-1]:
                    src = src.rstrip("/")
                    self.assertTrue(any(src == a or src.startswith(a + "/") for a in admitted),
                                    "COPY %s is excluded by the .dockerignore" % src)
                    self.assertTrue(os.path.exists(os.path.join(SOURCE_DIR, src))
                                    or src == "conf", src)

    def test_build_stage_runs_on_the_copied_sources(self):
        # The build stage's COPY and RUN, here, on Debian 12 like the image:
        # the sources it copies are enough, BUILD_TESTING=OFF configures, the
        # Release build is warning-free, and the install has the three
        # programs.  Then every library they load is in the runtime stage.
        for tool in ("cmake", "readelf", "dpkg"):
            if not shutil.which(tool):
                self.skipTest("%s is not installed" % tool)
        tmp = tempfile.mkdtemp(prefix="tk_image_")
        self.addCleanup(shutil.rmtree, tmp, True)
        src, build, prefix = (os.path.join(tmp, d) for d in ("src", "build", "prefix"))
        os.makedirs(src)
        workdir = None
        for instr, args in self.build:
            if instr == "WORKDIR":
                workdir = args
            elif instr == "COPY":
                parts = args.split()
                dest = parts[-1]
                dest = dest if dest.startswith("/") else os.path.join(workdir, dest)
                self.assertTrue(dest.startswith("/src"), dest)
                target = os.path.join(src, os.path.relpath(dest, "/src"))
                for s in parts[:-1]:
                    path = os.path.join(SOURCE_DIR, s)
                    if os.path.isdir(path):
                        shutil.copytree(path, target, dirs_exist_ok=True)
                    else:
                        os.makedirs(target if dest.endswith("/") else os.path.dirname(target),
                                    exist_ok=True)
                        shutil.copy2(path, target if not dest.endswith("/") else
                                     os.path.join(target, os.path.basename(s)))
            elif instr == "RUN" and "cmake -S" in args:
                cmd = re.sub(r"(?<=\s)/build(?=\s|$)", build, args)
                cmd = cmd.replace("/usr/local", prefix)
                r = subprocess.run(["sh", "-c", cmd], cwd=src, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, universal_newlines=True,
                                   timeout=600)
                self.assertEqual(r.returncode, 0, "RUN %s\n%s" % (cmd, r.stdout[-6000:]))
        for prog in ("migrator", "indexer", "indexer-cron"):
            path = os.path.join(prefix, "bin", prog)
            self.assertTrue(os.access(path, os.X_OK), path)

        runtime_run = [a for a in self.instructions(self.runtime, "RUN")
                       if "apt-get install" in a][0]
        runtime = set(apt_packages(runtime_run))
        for prog in ("migrator", "indexer"):
            for so, pkg in needed_packages(os.path.join(prefix, "bin", prog)).items():
                if pkg == "libc6":
                    continue  # in every Debian image
                self.assertIn(pkg, runtime, "%s needs %s (%s), which the runtime stage "
                              "does not install" % (prog, so, pkg))


class KubernetesTest(unittest.TestCase):
    """The manifests under compose/k8s: the same command lines as compose,
    and the Job/CronJob settings that make a failure stay visible."""

    def setUp(self):
        self.docs = k8s_documents()
        self.compose = compose_services([BASE])

    def only(self, kind, name=None):
        found = [d for _, d in self.docs if d["kind"] == kind
                 and (name is None or d["metadata"]["name"] == name)]
        self.assertEqual(len(found), 1, "%s %s" % (kind, name))
        return found[0]

    def test_migrate_job_runs_once_per_release(self):
        job = self.only("Job")
        self.assertEqual(job["metadata"]["name"], "migrate-${RELEASE}")
        spec = job["spec"]
        self.assertEqual(spec["backoffLimit"], 0)
        self.assertGreater(spec["ttlSecondsAfterFinished"], 0)
        self.assertGreater(spec["activeDeadlineSeconds"], 0)
        pod = spec["template"]["spec"]
        self.assertEqual(pod["restartPolicy"], "Never")
        # Migrate first, as an init container: the critical index build runs
        # only when it succeeded, with the compose files' command lines.
        self.assertEqual([c["name"] for c in pod["initContainers"]], ["migrate"])
        self.assertEqual(pod["initContainers"][0]["command"],
                         command_of(self.compose["migrate"]))
        self.assertEqual([c["command"] for c in pod["containers"]],
                         [command_of(self.compose["indexer-critical"])])

    def test_cronjobs_never_overlap_and_run_the_compose_command_lines(self):
        for name, service in (("indexer-build", "indexer-cron"),
                              ("indexer-check", "indexer-check")):
            cj = self.only("CronJob", name)
            spec = cj["spec"]
            self.assertEqual(spec["concurrencyPolicy"], "Forbid", name)
            self.assertGreater(spec["startingDeadlineSeconds"], 0, name)
            self.assertIs(spec["suspend"], False, name)
            self.assertEqual(spec["jobTemplate"]["spec"]["backoffLimit"], 0, name)
            pod = spec["jobTemplate"]["spec"]["template"]["spec"]
            self.assertEqual(pod["restartPolicy"], "Never", name)
            self.assertEqual(pod["containers"][0]["command"],
                             strip_every(command_of(self.compose[service])), name)

    def test_app_pods_wait_for_the_schema_and_critical_indexes(self):
        dep = self.only("Deployment")
        init = dep["spec"]["template"]["spec"]["initContainers"]
        self.assertEqual([c["name"] for c in init], ["schema-gate", "index-gate"])
        gate = init[0]["command"]
        self.assertEqual(gate[:3], ["migrator", "check", "--wait-current"])
        self.assertRegex(gate[3], r"^\d+(ms|s|min|h)$")
        self.assertEqual(gate[gate.index("--dir") + 1], "/app/migrations")
        self.assertEqual(init[1]["command"][:3], ["indexer", "check", "--critical-only"])

    def test_pods_run_as_the_image_user_with_the_secret_from_a_secret(self):
        uid = int([a for i, a in dockerfile_stages()[1][1] if i == "USER"][0].split(":")[0])
        placeholders = set()
        for name, doc in self.docs:
            for pod in pod_specs(doc):
                self.assertIs(pod["securityContext"]["runAsNonRoot"], True, name)
                self.assertEqual(pod["securityContext"]["runAsUser"], uid, name)
                for c in pod.get("initContainers", []) + pod["containers"]:
                    for e in c.get("env", []):
                        if SECRET_NAME.search(e["name"]):
                            self.assertNotIn("value", e, "%s: %s is a literal" % (name, e))
                            self.assertIn("secretKeyRef", e["valueFrom"])
            with open(os.path.join(K8S_DIR, name), encoding="utf-8") as f:
                placeholders |= set(re.findall(r"\$\{(\w+)\}", f.read()))
        self.assertEqual(placeholders, {"RELEASE", "IMAGE", "APP_IMAGE"})


# =============================================================================================
# Tools: docker-compose config, shellcheck
# =============================================================================================

class ComposeConfigTest(unittest.TestCase):
    """docker-compose config validates the schema offline (no engine
    needed): every documented combination, then the merged result's contract."""

    def compose(self, cmd, files, env=CONFIG_ENV, quiet=False):
        env_file = tempfile.NamedTemporaryFile("w", suffix=".env", delete=False)
        env_file.close()
        self.addCleanup(os.unlink, env_file.name)
        args = list(cmd) + ["--env-file", env_file.name]  # not a developer's compose/.env
        for f in files:
            args += ["-f", f]
        e = {k: v for k, v in os.environ.items()
             if k not in CONFIG_ENV and not k.startswith("COMPOSE_")}
        e.update(env)
        return subprocess.run(args + ["config"] + (["-q"] if quiet else []),
                              cwd=COMPOSE_DIR, env=e,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=120)

    def check_tool(self, cmd):
        for files in COMBINATIONS:
            with self.subTest(files=files):
                r = self.compose(cmd, files, quiet=True)
                self.assertEqual(r.returncode, 0, "%s config -q: %s" % (files, r.stderr))
                self.assertEqual(r.stdout, "")
                r = self.compose(cmd, files)
                self.assertEqual(r.returncode, 0, "%s config: %s" % (files, r.stderr))
                merged = yaml.safe_load(r.stdout)["services"]
                self.assertEqual(merged["migrate"]["restart"], "no")
                self.assertEqual(depends_on(merged["app"])["migrate"]["condition"],
                                 "service_completed_successfully")
                self.assertEqual(merged["indexer"]["profiles"], ["tools"])
                if LOCAL in files:
                    self.assertEqual(depends_on(merged["migrate"])["postgres"]["condition"],
                                     "service_healthy")
        # Without DATABASE_URL every command refuses to run, saying why.
        env = dict(CONFIG_ENV)
        del env["DATABASE_URL"]
        r = self.compose(cmd, (BASE,), env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("DATABASE_URL is not set", r.stderr)

    def test_docker_compose_v1(self):
        if not shutil.which("docker-compose"):
            self.skipTest("docker-compose is not installed (scripts/deps.sh installs it)")
        self.check_tool(["docker-compose"])

    def test_compose_v2(self):
        docker = shutil.which("docker")
        if not docker or subprocess.run([docker, "compose", "version"],
                                        stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL).returncode != 0:
            self.skipTest("Compose v2 (docker compose) is not installed: Debian 12 does "
                          "not package it; validated with docker-compose 1.29 only")
        self.check_tool([docker, "compose"])


def scripts():
    found = []
    for root, _, names in os.walk(COMPOSE_DIR):
        found += [os.path.join(root, n) for n in names if n.endswith(".sh")]
    return sorted(found)


class ShellcheckTest(unittest.TestCase):

    def test_scripts_are_clean_and_executable(self):
        found = scripts()
        self.assertGreaterEqual(len(found), 3, found)
        for path in found:
            self.assertTrue(os.access(path, os.X_OK), "%s is not executable" % path)
        if not shutil.which("shellcheck"):
            self.skipTest("shellcheck is not installed (scripts/deps.sh installs it)")
        for path in found:
            with self.subTest(script=os.path.relpath(path, SOURCE_DIR)):
                r = subprocess.run(["shellcheck", "--severity=style", path],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   universal_newlines=True)
                self.assertEqual(r.returncode, 0, r.stdout)


# =============================================================================================
# The indexer-cron wrapper
# =============================================================================================

class CronWrapperTest(unittest.TestCase):
    """Exit policy, JSON lines, pause file and stop of compose/bin/indexer-cron.sh."""

    def run_wrapper(self, *args, env=None, timeout=30):
        e = dict(os.environ)
        e.pop("INDEXER_PAUSE_FILE", None)
        e.update(env or {})
        return subprocess.run([CRON_WRAPPER] + list(args), env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=timeout)

    def events(self, stderr):
        out = []
        for line in stderr.splitlines():
            if line.startswith("{"):
                ev = json.loads(line)
                for key in ("ts", "level", "program", "event", "msg", "exit_code", "alert"):
                    self.assertIn(key, ev)
                self.assertEqual(ev["program"], "indexer-cron")
                out.append(ev)
        return out

    def test_exit_policy(self):
        # (exit of the indexer, exit of the wrapper, alert)
        for code, want, alert in ((0, 0, False), (4, 0, False), (1, 1, True),
                                  (5, 5, True), (3, 3, True), (143, 143, False)):
            with self.subTest(code=code):
                r = self.run_wrapper("sh", "-c", "exit %d" % code)
                self.assertEqual(r.returncode, want, r.stderr)
                ev = self.events(r.stderr)
                self.assertEqual(len(ev), 1, r.stderr)
                self.assertEqual(ev[0]["event"], "indexer_run")
                self.assertEqual(ev[0]["exit_code"], code)
                self.assertIs(ev[0]["alert"], alert)
                self.assertEqual(ev[0]["level"], "error" if alert else
                                 ("warning" if code == 143 else "info"))

    def test_busy_line_says_it_is_not_a_failure(self):
        r = self.run_wrapper("sh", "-c", "exit 4")
        self.assertIn("another run holds the indexer lock", self.events(r.stderr)[0]["msg"])

    def test_pause_file_skips_the_run(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        pause, marker = os.path.join(d, "paused"), os.path.join(d, "ran")
        open(pause, "w").close()
        r = self.run_wrapper("touch", marker, env={"INDEXER_PAUSE_FILE": pause})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(marker), "ran while paused")
        self.assertEqual(self.events(r.stderr)[0]["event"], "indexer_paused")
        os.unlink(pause)
        r = self.run_wrapper("touch", marker, env={"INDEXER_PAUSE_FILE": pause})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(marker))

    def test_usage_errors(self):
        self.assertEqual(self.run_wrapper().returncode, 2)
        for bad in ("15", "0s", "1h30min", "5m", "-1s"):
            r = self.run_wrapper("--every", bad, "true")
            self.assertEqual(r.returncode, 2, bad)

    def test_every_runs_repeatedly_and_passes_a_stop_on(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        runs, stopped = os.path.join(d, "runs"), os.path.join(d, "stopped")
        # A stand-in indexer: counts its runs; the second one lasts until
        # SIGTERM, which it records, exiting 143 like the indexer.
        child = ("echo run >> %s; [ $(wc -l < %s) -lt 2 ] && exit 0; "
                 "trap 'echo term > %s; exit 143' TERM; while :; do sleep 0.1; done"
                 % (runs, runs, stopped))
        proc = subprocess.Popen([CRON_WRAPPER, "--every", "1s", "sh", "-c", child],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(runs):
                with open(runs) as f:
                    if len(f.read().split()) >= 2:
                        break
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 0, err)
        self.assertTrue(os.path.exists(stopped), "the stop did not reach the run\n" + err)
        events = [(e["event"], e["exit_code"]) for e in self.events(err)]
        self.assertEqual(events, [("indexer_schedule", None), ("indexer_run", 0),
                                  ("indexer_run", 143), ("indexer_schedule", None)], err)


# =============================================================================================
# deploy.sh end to end
# =============================================================================================

class FakeCompose:
    """Stands in for "docker compose": reads the compose files named with -f
    (relative to its working directory, compose/, as Compose does),
    interpolates them from its environment and, for "run" and "up", runs
    the services' own command lines with the locally built programs, with
    /app mapped to FAKE_APP_ROOT and the image's ENV applied.  Records every
    call, one JSON line each, in FAKE_COMPOSE_STATE/calls.jsonl; "ps" and
    "stop" work on FAKE_COMPOSE_STATE/running."""

    def __init__(self, argv):
        self.state = os.environ["FAKE_COMPOSE_STATE"]
        self.app_root = os.environ["FAKE_APP_ROOT"]
        self.bin = os.environ["FAKE_BIN"]
        self.files, i = [], 0
        while i < len(argv) and argv[i].startswith("-"):
            if argv[i] in ("-f", "--file"):
                self.files.append(argv[i + 1])
            if argv[i] in ("-f", "--file", "-p", "--project-name", "--profile", "--env-file"):
                i += 2
            else:
                i += 1
        self.argv = argv[i:]
        self.record = {"argv": self.argv, "files": self.files,
                       "paused": os.path.exists(os.environ.get("INDEXER_PAUSE_FILE", "")),
                       "running": self.running()}

    def running(self):
        try:
            with open(os.path.join(self.state, "running")) as f:
                return [s for s in f.read().split() if s]
        except FileNotFoundError:
            return []

    def set_running(self, services):
        with open(os.path.join(self.state, "running"), "w") as f:
            f.write("".join(s + "\n" for s in services))

    def save(self):
        with open(os.path.join(self.state, "calls.jsonl"), "a") as f:
            f.write(json.dumps(self.record) + "\n")

    def map_app(self, text):
        return re.sub(r"(^|[\s=])/app(?=/|\s|$)", lambda m: m.group(1) + self.app_root, text)

    def image_env(self):
        """The toolkit stage's ENV; with FAKE_IMAGE_EXAMPLES=1 the examples
        stage's too (the default image), else a team's image on the toolkit."""
        env = {}
        stages = dockerfile_stages()[1:]
        if os.environ.get("FAKE_IMAGE_EXAMPLES") != "1":
            stages = stages[:1]
        for instr, args in [i for _, stage in stages for i in stage]:
            if instr == "ENV":
                for k, v in re.findall(r"(\w+)=(\S+)", args):
                    env[k] = self.map_app(v)
        return env

    def exec_service(self, name, override=None):
        svc = self.services[name]
        argv = [self.map_app(a) for a in (override or command_of(svc))]
        env = dict(os.environ)
        env.update(self.image_env())
        env.update(environment_of(svc))
        env["PATH"] = self.bin + os.pathsep + env["PATH"]
        sys.stderr.flush()
        rc = subprocess.run(argv, env=env, cwd=self.app_root).returncode
        self.record.setdefault("ran", []).append({"service": name, "argv": argv, "rc": rc})
        return rc

    def main(self):
        try:
            self.services = compose_services(self.files or [BASE], os.environ)
        except InterpolationError as e:
            self.record["rc"] = 1
            self.save()
            print("fake compose: %s" % e, file=sys.stderr)
            return 1
        rc = self.dispatch(self.argv[0], self.argv[1:])
        self.record["rc"] = rc
        self.save()
        return rc

    def dispatch(self, sub, args):
        if sub == "build":
            return 0
        if sub == "ps":
            if args != ["--services", "--filter", "status=running"]:
                return 2
            print("\n".join(self.running()))
            return 0
        if sub == "stop":
            self.set_running([s for s in self.running() if s not in args])
            return 0
        if sub == "run":
            i = 0
            while args[i].startswith("-"):
                i += 2 if args[i] in ("-e", "--name", "-w") else 1
            return self.exec_service(args[i], args[i + 1:] or None)
        if sub == "up":
            named = [a for a in args if not a.startswith("-")]
            if named:
                if "--no-deps" not in args:
                    return 2  # deploy.sh starts named services without deps only
                self.set_running(sorted(set(self.running()) | set(named)))
                return 0
            return self.up()
        print("fake compose: unsupported command %r" % sub, file=sys.stderr)
        return 2

    def up(self):
        """Services without a profile, dependencies first; a one-shot
        service runs to completion, a long-running one runs its command
        (the example app's "sleep" is a recording stand-in in FAKE_BIN)."""
        order, seen = [], set()

        def visit(name):
            if name not in seen:
                seen.add(name)
                for dep in depends_on(self.services[name]):
                    visit(dep)
                order.append(name)
        for name in sorted(self.services):
            if not self.services[name].get("profiles"):
                visit(name)
        running = set(self.running())
        for name in order:
            rc = self.exec_service(name)
            if self.services[name].get("restart") == "no":
                if rc != 0:
                    print("fake compose: service %s exited %d" % (name, rc), file=sys.stderr)
                    return 1
            else:
                running.add(name)
        self.set_running(sorted(running))
        return 0


class FakeKubectl:
    """Stands in for kubectl: records calls (FAKE_KUBE_STATE/calls.jsonl),
    keeps applied manifests, and answers the Job's conditions with
    FAKE_JOB_RESULT once the Job was applied (or FAKE_KUBE_STATE/job)."""

    def __init__(self, argv):
        self.state = os.environ["FAKE_KUBE_STATE"]
        self.argv = argv

    def path(self, name):
        return os.path.join(self.state, name)

    def main(self):
        record = {"argv": self.argv}
        a = self.argv
        rc = 0
        if a[:1] == ["apply"]:
            docs = [d for d in yaml.safe_load_all(sys.stdin.read()) if d]
            record["applied"] = docs
            if any(d["kind"] == "Job" for d in docs):
                with open(self.path("job"), "w") as f:
                    f.write(os.environ.get("FAKE_JOB_RESULT", "Complete"))
        elif a[:2] == ["get", "cronjob"]:
            if "name" in a:
                if os.environ.get("FAKE_CRONJOBS_EXIST") == "1":
                    print("cronjob.batch/" + a[2])
            elif a[2] == "indexer-build":
                print(os.environ.get("FAKE_ACTIVE_BUILD", ""))
        elif a[:2] == ["get", "job"]:
            if os.path.exists(self.path("job")):
                with open(self.path("job")) as f:
                    print(f.read().strip())
        elif a[:2] == ["delete", "job"] and os.environ.get("FAKE_JOB_DELETE") == a[2]:
            os.unlink(self.path("job"))
        record["rc"] = rc
        with open(self.path("calls.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
        return rc


class DeployTest(ToolkitTestCase):
    """compose/deploy.sh's own logic against the test cluster.  Its compose
    command is FakeCompose, which runs the compose files' command lines with
    the locally built programs: /app/migrations and /app/conf are copies of
    migrations/ and conf/, as the image has them."""

    def setUp(self):
        super().setUp()
        self.app_root = self.make_dir()
        shutil.copytree(os.path.join(SOURCE_DIR, "migrations"),
                        os.path.join(self.app_root, "migrations"))
        conf = os.path.join(SOURCE_DIR, "conf")
        if os.path.isdir(conf):
            shutil.copytree(conf, os.path.join(self.app_root, "conf"))
        else:
            os.makedirs(os.path.join(self.app_root, "conf"))
        self.state = self.make_dir()
        self.bin = self.make_dir()
        self.pause_file = os.path.join(self.state, "indexer.paused")
        wrapper = shlex.split(os.environ.get("TOOLKIT_TEST_WRAPPER", ""))
        shims = {
            "migrator": wrapper + [os.environ.get("MIGRATOR", "migrator")],
            "indexer": wrapper + [os.environ.get("INDEXER", "indexer")],
            "indexer-cron": [CRON_WRAPPER],
            "fake-compose": [sys.executable, os.path.abspath(__file__), "fake-compose"],
        }
        for name, argv in shims.items():
            self.write_script(name, "exec %s \"$@\"" % shlex.join(argv))
        # The example app's process: record that it was started, then end.
        self.write_script("sleep", 'echo "$*" >> %s' % shlex.quote(
            os.path.join(self.state, "app-started")))
        # The previous release is up, with the index schedule running.
        with open(os.path.join(self.state, "running"), "w") as f:
            f.write("app\nindexer-check\nindexer-cron\n")

    def write_script(self, name, body):
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, 0o755)

    def deploy_env(self, env=None):
        e = {
            "COMPOSE": os.path.join(self.bin, "fake-compose"),
            "DATABASE_URL": self.dsn,
            "TOOLKIT_IMAGE": "registry.example.com/pg-schema-toolkit:test",
            "INDEXER_PAUSE_FILE": self.pause_file,
            "FAKE_COMPOSE_STATE": self.state,
            "FAKE_APP_ROOT": self.app_root,
            "FAKE_BIN": self.bin,
            "COMPOSE_FILE": None,
        }
        e.update(env or {})
        return e

    def deploy(self, *args, env=None):
        return self.run_program([DEPLOY] + list(args), env=self.deploy_env(env), timeout=600)

    def calls(self):
        path = os.path.join(self.state, "calls.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def run_command_line(self, argv):
        """A container command line from the compose or Kubernetes files,
        run here as FakeCompose runs it (/app mapped, programs on PATH)."""
        mapped = [re.sub(r"(^|[\s=])/app(?=/|\s|$)",
                         lambda m: m.group(1) + self.app_root, a) for a in argv]
        return self.run_program(mapped, env={
            "DATABASE_URL": self.dsn,
            "PATH": self.bin + os.pathsep + os.environ["PATH"]})

    def commands(self):
        """The compose calls as strings: "run --rm -T migrate", "up -d", ..."""
        return [" ".join(c["argv"]) for c in self.calls()]

    def applied_versions(self):
        if not self.table_exists("schema_migrations"):
            return []
        return [r[0] for r in self.query(
            "SELECT version FROM schema_migrations WHERE status = 'applied' ORDER BY 1")]

    def file_versions(self):
        d = os.path.join(self.app_root, "migrations")
        return sorted({int(n.split("_")[0]) for n in os.listdir(d)
                       if re.match(r"^\d+_.*\.sql$", n) and not n.endswith(".verify.sql")})

    def add_broken_migration(self):
        path = os.path.join(self.app_root, "migrations", "112_broken.sql")
        with open(path, "w") as f:
            f.write("ALTER TABLE call_log ADD COLUMN broken_col integer;\n"
                    "ALTER TABLE no_such_table ADD COLUMN x integer;\n")
        return path

    def require_indexer(self):
        why = indexer_not_ready()
        if why:
            self.skipTest("needs the real indexer and conf/indexes.cfg: " + why)

    def assertGateRunsTheComposeCommand(self, call, service):
        ran = call["ran"][0]
        want = command_of(compose_services([BASE])[service])
        self.assertEqual(len(ran["argv"]), len(want))
        self.assertEqual([a.replace(self.app_root, "/app") for a in ran["argv"]], want)

    # ---- tests -------------------------------------------------------------------

    def test_deploy_migrates_then_starts_services_then_builds_indexes(self):
        self.require_indexer()
        r = self.deploy()
        self.assertExit(r, 0)
        self.assertLastLineMatches(r, r"^deploy: deployed$")
        self.assertEqual(self.commands(), [
            "build",
            EXAMPLES_GUARD,
            "ps --services --filter status=running",
            "stop indexer-cron indexer-check",
            "run --rm -T migrate",
            "run --rm -T indexer-critical",
            "up -d",
            "run --rm -T indexer",
            "up -d --no-deps indexer-cron indexer-check",
        ], r.describe())
        calls = self.calls()
        self.assertEqual(calls[0]["files"], [BASE, PROD])
        migrate = calls[4]
        self.assertGateRunsTheComposeCommand(migrate, "migrate")
        self.assertEqual(migrate["rc"], 0)
        self.assertTrue(migrate["paused"], "the schedule was not paused while migrating")
        self.assertNotIn("indexer-cron", migrate["running"])
        self.assertGateRunsTheComposeCommand(calls[5], "indexer-critical")
        # up -d: migrate again (a no-op), then the app behind its gate.
        up = calls[6]
        self.assertEqual([(x["service"], x["rc"]) for x in up["ran"]],
                         [("migrate", 0), ("app", 0)], r.describe())
        with open(os.path.join(self.state, "app-started")) as f:
            self.assertEqual(f.read(), "infinity\n")
        self.assertGateRunsTheComposeCommand(calls[7], "indexer")
        self.assertFalse(os.path.exists(self.pause_file))
        self.assertEqual(self.applied_versions(), self.file_versions())
        conf = os.path.join(self.app_root, "conf", "indexes.cfg")
        self.assertExit(self.run_indexer("check", "--config", conf), 0)
        self.assertExit(self.run_migrator("check", "--dir",
                                          os.path.join(self.app_root, "migrations")), 0)

    def test_failed_migration_starts_nothing_and_keeps_the_schedule_paused(self):
        path = self.add_broken_migration()
        r = self.deploy()
        self.assertExit(r, 1)
        self.assertEqual(self.commands(), [
            "build",
            EXAMPLES_GUARD,
            "ps --services --filter status=running",
            "stop indexer-cron indexer-check",
            "run --rm -T migrate",
        ], r.describe())
        self.assertEqual(self.calls()[-1]["rc"], 1)
        # The migrator's own line says what and where; deploy's last line
        # says what it means for the services.
        self.assertStderrMatches(r, r"(?m)^migrator: error: migration 112 failed at %s:2: "
                                    r"42P01: " % re.escape(path))
        self.assertLastLineMatches(r, r"^deploy: error: migrate failed \(exit 1\): "
                                      r"no service was started")
        self.assertNoLine(r, r"^deploy: (deployed|migrations applied)")
        self.assertEqual(self.applied_versions(), [v for v in self.file_versions() if v < 112])
        self.assertFalse(self.column_exists("call_log", "broken_col"))
        with open(self.pause_file) as f:
            self.assertEqual(f.read().split(), ["indexer-cron", "indexer-check"])
        with open(os.path.join(self.state, "running")) as f:
            self.assertEqual(f.read().split(), ["app"], "the old app keeps running alone")

    def test_fixed_migration_deploys_and_resumes_the_schedule(self):
        self.require_indexer()
        path = self.add_broken_migration()
        self.assertExit(self.deploy(), 1)
        os.unlink(path)  # fix
        os.unlink(os.path.join(self.state, "calls.jsonl"))
        r = self.deploy()
        self.assertExit(r, 0)
        self.assertStderrMatches(r, r"left paused by an earlier deploy: indexer-cron indexer-check")
        cmds = self.commands()
        self.assertNotIn("stop indexer-cron indexer-check", cmds, "they were not running")
        self.assertEqual(cmds[-1], "up -d --no-deps indexer-cron indexer-check")
        self.assertFalse(os.path.exists(self.pause_file))
        self.assertEqual(self.applied_versions(), self.file_versions())

    def test_migrate_only(self):
        r = self.deploy("--migrate-only")
        self.assertExit(r, 0)
        self.assertEqual(self.commands(), [
            "build",
            EXAMPLES_GUARD,
            "ps --services --filter status=running",
            "stop indexer-cron indexer-check",
            "run --rm -T migrate",
            "up -d --no-deps indexer-cron indexer-check",
        ], r.describe())
        self.assertEqual(self.applied_versions(), self.file_versions())
        self.assertFalse(os.path.exists(os.path.join(self.state, "app-started")))
        self.assertFalse(os.path.exists(self.pause_file))
        # The app's gate, as the compose file and the Kubernetes init
        # container run it, passes on the migrated schema.
        deployment = [d for _, d in k8s_documents() if d["kind"] == "Deployment"][0]
        gate = deployment["spec"]["template"]["spec"]["initContainers"][0]["command"]
        self.assertExit(self.run_command_line(gate), 0)
        script = command_of(compose_services([BASE])["app"])[2]
        self.assertExit(self.run_command_line(
            ["sh", "-c", script.split(" && indexer check")[0]]), 0)

    def test_gates_refuse_a_schema_that_is_behind(self):
        deployment = [d for _, d in k8s_documents() if d["kind"] == "Deployment"][0]
        gate = list(deployment["spec"]["template"]["spec"]["initContainers"][0]["command"])
        gate[gate.index("--wait-current") + 1] = "1s"  # not 10min here
        r = self.run_command_line(gate)
        self.assertExit(r, 5)
        self.assertStderrMatches(r, r"schema out of date: \d+ pending")
        script = command_of(compose_services([BASE])["app"])[2]
        r = self.run_command_line(["sh", "-c", script])
        self.assertExit(r, 5)
        self.assertFalse(os.path.exists(os.path.join(self.state, "app-started")),
                         "the app started on a schema that is behind")

    def test_local_files_and_build_options(self):
        r = self.deploy("--local", "--rebuild", "--migrate-only",
                        env={"POSTGRES_PASSWORD": "localdev"})
        self.assertExit(r, 0)
        self.assertEqual(self.calls()[0]["files"], [BASE, LOCAL])
        self.assertEqual(self.commands()[0], "build --pull --no-cache")
        os.unlink(os.path.join(self.state, "calls.jsonl"))
        r = self.deploy("--no-build", "--migrate-only")
        self.assertExit(r, 0)
        self.assertNotIn("build", [c["argv"][0] for c in self.calls()])
        os.unlink(os.path.join(self.state, "calls.jsonl"))
        r = self.deploy("--no-build", "--migrate-only",
                        env={"COMPOSE_FILE": "%s:%s" % (BASE, LOCAL),
                             "POSTGRES_PASSWORD": "localdev"})
        self.assertExit(r, 0)
        self.assertEqual(self.calls()[0]["files"], [BASE, LOCAL])

    def test_missing_database_url_changes_nothing(self):
        r = self.deploy(env={"DATABASE_URL": None})
        self.assertNotEqual(r.rc, 0, r.describe())
        self.assertStderrMatches(r, r"DATABASE_URL is not set")
        self.assertNotIn("run", [c["argv"][0] for c in self.calls()])
        self.assertFalse(self.table_exists("schema_migrations"))

    # ---- the production guard: a named release image with the team's files -------

    def copy_compose_dir_with_env_example(self):
        """compose/ copied, with .env.example copied to .env as docs/deployment.md says."""
        d = os.path.join(self.make_dir(), "compose")
        shutil.copytree(COMPOSE_DIR, d, ignore=shutil.ignore_patterns(".env", ".indexer-paused"))
        shutil.copy(os.path.join(d, ".env.example"), os.path.join(d, ".env"))
        return d

    def assertNothingChanged(self, r):
        self.assertEqual([], [c for c in self.commands() if c not in ("build", EXAMPLES_GUARD)])
        self.assertFalse(self.table_exists("schema_migrations"))
        self.assertFalse(os.path.exists(self.pause_file))
        with open(os.path.join(self.state, "running")) as f:
            self.assertEqual(f.read().split(), ["app", "indexer-check", "indexer-cron"])

    def test_env_example_does_not_defeat_the_production_image_guard(self):
        d = self.copy_compose_dir_with_env_example()
        deploy = os.path.join(d, "deploy.sh")
        env = dict(self.deploy_env(), TOOLKIT_IMAGE=None)
        r = self.run_program([deploy], env=env)
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r"^deploy: error: TOOLKIT_IMAGE is not set: name this release's image "
                                      r"in %s/\.env" % re.escape(d))
        self.assertEqual([], self.calls(), "nothing may run before the guard")
        self.assertNothingChanged(r)
        # the production file itself refuses too, with that .env
        if shutil.which("docker-compose"):
            c = subprocess.run(["docker-compose", "-f", BASE, "-f", PROD, "config", "-q"], cwd=d,
                               env={k: v for k, v in os.environ.items() if k != "TOOLKIT_IMAGE"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            self.assertNotEqual(0, c.returncode)
            self.assertIn("TOOLKIT_IMAGE is not set", c.stderr)
        # the value the old .env.example had, and other names of no release
        for value in ("pg-schema-toolkit:local", "registry.example.com/myapp-toolkit:latest",
                      "registry.example.com/myapp-toolkit", "localhost:5000/myapp-toolkit"):
            with self.subTest(image=value):
                with open(os.path.join(d, ".env"), "a") as f:
                    f.write('TOOLKIT_IMAGE="%s"\n' % value)
                r = self.run_program([deploy], env=env)
                self.assertExit(r, 2)
                self.assertLastLineMatches(r, r'^deploy: error: TOOLKIT_IMAGE="%s" names no release'
                                              % re.escape(value))
                self.assertEqual([], self.calls())
        # the environment wins over .env, as with compose; a tag or a digest is a release
        for value in ("registry.example.com/myapp-toolkit:2026-11-25.1",
                      "localhost:5000/myapp-toolkit@sha256:" + "ab" * 32):
            with self.subTest(image=value):
                r = self.run_program([deploy, "--migrate-only"], env=dict(env, TOOLKIT_IMAGE=value))
                self.assertExit(r, 0)
        # local development needs no release name
        r = self.run_program([deploy, "--local", "--no-build", "--migrate-only"],
                             env=dict(env, POSTGRES_PASSWORD="localdev"))
        self.assertExit(r, 0)

    def test_image_with_the_example_migrations_is_refused_in_production(self):
        r = self.deploy(env={"FAKE_IMAGE_EXAMPLES": "1"})
        self.assertExit(r, 2)
        self.assertLastLineMatches(r, r"^deploy: error: the image registry\.example\.com/pg-schema-toolkit:test "
                                      r"ships this repository's example migrations .*nothing was changed$")
        self.assertEqual(["build", EXAMPLES_GUARD], self.commands())
        self.assertNothingChanged(r)
        # the bundled local setup is where the examples belong
        os.unlink(os.path.join(self.state, "calls.jsonl"))
        r = self.deploy("--local", "--migrate-only",
                        env={"FAKE_IMAGE_EXAMPLES": "1", "POSTGRES_PASSWORD": "localdev"})
        self.assertExit(r, 0)
        self.assertNotIn(EXAMPLES_GUARD, self.commands())
        self.assertEqual(self.applied_versions(), self.file_versions())

    def test_bad_option(self):
        r = self.deploy("--bogus")
        self.assertExit(r, 2)
        self.assertStderrMatches(r, r"unknown option \"--bogus\"")
        self.assertEqual(self.calls(), [])

    def test_one_deploy_at_a_time(self):
        fd = os.open(COMPOSE_DIR, os.O_RDONLY)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = self.deploy()
        self.assertExit(r, 4)
        self.assertLastLineMatches(r, r"another deploy\.sh is running")
        self.assertEqual(self.calls(), [])


# =============================================================================================
# release.sh
# =============================================================================================

class ReleaseTest(unittest.TestCase):
    """compose/k8s/release.sh against FakeKubectl."""

    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="tk_kube_")
        self.addCleanup(shutil.rmtree, self.state, True)
        self.fake = os.path.join(self.state, "kubectl")
        with open(self.fake, "w") as f:
            f.write("#!/bin/sh\nexec %s \"$@\"\n" % shlex.join(
                [sys.executable, os.path.abspath(__file__), "fake-kubectl"]))
        os.chmod(self.fake, 0o755)

    def release(self, *args, **env):
        e = dict(os.environ, KUBECTL=self.fake, FAKE_KUBE_STATE=self.state,
                 FAKE_CRONJOBS_EXIST="1", FAKE_ACTIVE_BUILD="indexer-build-29001")
        e.update(env)
        return subprocess.run([RELEASE] + list(args), env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=60)

    def calls(self):
        path = os.path.join(self.state, "calls.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def applied_kinds(self):
        return [d["kind"] for c in self.calls() for d in c.get("applied", [])]

    def test_release_migrates_then_rolls_out_and_resumes(self):
        r = self.release("r1a2b3c", "registry.example.com/pg-schema-toolkit:r1a2b3c",
                         "registry.example.com/app:r1a2b3c")
        self.assertEqual(r.returncode, 0, r.stderr)
        argvs = [" ".join(c["argv"][:3]) for c in self.calls()]
        self.assertEqual(argvs.count("patch cronjob indexer-build"), 1)
        self.assertEqual(argvs.count("patch cronjob indexer-check"), 1)
        self.assertIn("delete job indexer-build-29001", argvs)
        first_apply = argvs.index("apply -f -")
        self.assertLess(argvs.index("delete job indexer-build-29001"), first_apply)
        self.assertEqual(self.applied_kinds(), ["Job", "Deployment", "CronJob", "CronJob"])
        job = self.calls()[first_apply]["applied"][0]
        self.assertEqual(job["metadata"]["name"], "migrate-r1a2b3c")
        rendered = json.dumps([d for c in self.calls() for d in c.get("applied", [])])
        self.assertNotIn("${", rendered)
        self.assertIn("registry.example.com/app:r1a2b3c", rendered)
        for c in self.calls():
            for d in c.get("applied", []):
                if d["kind"] == "CronJob":
                    self.assertIs(d["spec"]["suspend"], False)
        self.assertEqual(self.calls()[-1]["argv"][:3], ["rollout", "status", "deployment/app"])

    def test_failed_migration_rolls_out_nothing(self):
        r = self.release("r2", "img:r2", FAKE_JOB_RESULT="FailureTarget Failed")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(self.applied_kinds(), ["Job"])
        self.assertIn(["logs", "job/migrate-r2", "--all-containers", "--tail=20"],
                      [c["argv"] for c in self.calls()])
        self.assertRegex(r.stderr.splitlines()[-1],
                         r"^release: error: job/migrate-r2 failed: the app was not rolled out "
                         r"and the index CronJobs stay suspended")

    def test_failed_job_needs_retry_to_run_again(self):
        with open(os.path.join(self.state, "job"), "w") as f:
            f.write("Failed")
        r = self.release("r3", "img:r3")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(self.applied_kinds(), [])
        self.assertIn("--retry", r.stderr)
        r = self.release("--retry", "r3", "img:r3", FAKE_JOB_DELETE="migrate-r3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(["delete", "job", "migrate-r3", "--wait=true"],
                      [c["argv"] for c in self.calls()])
        self.assertEqual(self.applied_kinds(), ["Job", "Deployment", "CronJob", "CronJob"])

    def test_first_release_has_no_cronjobs_to_suspend(self):
        r = self.release("r4", "img:r4", FAKE_CRONJOBS_EXIST="0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("patch", [c["argv"][0] for c in self.calls()])

    def test_bad_usage(self):
        for args in ((), ("only-release",), ("Bad_Name", "img"), ("r" * 56, "img"),
                     ("--bogus", "r", "img")):
            r = self.release(*args)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
        self.assertEqual(self.calls(), [])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fake-compose":
        sys.exit(FakeCompose(sys.argv[2:]).main())
    if len(sys.argv) > 1 and sys.argv[1] == "fake-kubectl":
        sys.exit(FakeKubectl(sys.argv[2:]).main())
    unittest.main()
