"""
test_completion.py
    The bash completion and the --help text against the programs' own option
    tables ("PROGRAM --list-options", common/cli.c): no server, no package;
    runs in the default suite as unit.completion.

    - --help names exactly the options the parser accepts (every long option
      of the tables, every short one, and no --word the tables do not have),
      so the man page help2man makes of it is complete too;
    - the generated completion file loads in a plain bash (no bash-completion
      package) and registers itself;
    - what it offers, for command lines typed by hand: commands, the options
      of the command given (and only those), file names after an option that
      takes a path, the fixed values of an option that has them, nothing
      after one that takes another value, and directories and *.sql files
      as the arguments of migrator lint;
    - the value sets --list-options lists are the programs' own: every value
      is accepted, and the set is exactly the one the option's own error
      message names.

Environment (tests/package/CMakeLists.txt): MIGRATOR, INDEXER, COMPLETION_DIR.

tests/package/test_completion.py
"""

import os
import re
import shlex
import subprocess
import tempfile
import unittest

PROGRAMS = ("migrator", "indexer")


def binary(name):
    return os.environ[name.upper()]


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60, **kw)


def listing(name):
    """(commands, {command: {word: kind}}) from PROGRAM --list-options."""
    r = run([binary(name), "--list-options"])
    if r.returncode != 0:
        raise AssertionError("%s --list-options: exit %d: %s" % (name, r.returncode, r.stderr))
    commands, options = [], {}
    for line in r.stdout.splitlines():
        f = line.split("\t")
        if f[0] == "command":
            if f[2] not in ("arg", "files", "-"):
                raise AssertionError("unexpected --list-options line: %r" % line)
            commands.append(f[1])
            options[f[1]] = {}
        elif f[0] == "option":
            options[f[1]][f[2]] = f[3]
        else:
            raise AssertionError("unexpected --list-options line: %r" % line)
    return commands, options


def complete(name, words, cwd=None):
    """What the generated completion offers for COMP_WORDS = words (the last is the cursor's)."""
    script = (
        "source %s\n"
        "COMP_WORDS=(%s)\n"
        "COMP_CWORD=%d\n"
        "_%s\n"
        "printf '%%s\\n' \"${COMPREPLY[@]}\"\n"
        % (shlex.quote(os.path.join(os.environ["COMPLETION_DIR"], name)),
           " ".join(shlex.quote(w) for w in words), len(words) - 1, name))
    r = run(["bash", "--norc", "--noprofile", "-c", script], cwd=cwd)
    if r.returncode != 0:
        raise AssertionError("completion of %r failed: %s" % (words, r.stderr))
    return sorted(w for w in r.stdout.splitlines() if w)


class HelpMatchesTables(unittest.TestCase):
    def test_help_names_exactly_the_options_of_the_tables(self):
        for name in PROGRAMS:
            with self.subTest(program=name):
                help_text = run([binary(name), "--help"]).stdout
                _, options = listing(name)
                words = set()
                for per_command in options.values():
                    words.update(per_command)
                longs = {w for w in words if w.startswith("--")}
                shorts = {w for w in words if not w.startswith("--")}
                in_help = set(re.findall(r"--[a-z][a-z0-9-]*", help_text))
                self.assertEqual(sorted(longs - in_help), [],
                                 "options the parser accepts but --help does not name")
                self.assertEqual(sorted(in_help - longs), [],
                                 "words --help names as options that the parser does not accept")
                for s in shorts:
                    self.assertRegex(help_text, r"(?m)^\s+%s, --" % re.escape(s))

    def test_list_options_is_hidden(self):
        for name in PROGRAMS:
            with self.subTest(program=name):
                self.assertNotIn("list-options", run([binary(name), "--help"]).stdout)
                _, options = listing(name)
                for per_command in options.values():
                    self.assertNotIn("--list-options", per_command)


class Completion(unittest.TestCase):
    def test_loads_in_plain_bash_and_registers(self):
        for name in PROGRAMS:
            with self.subTest(program=name):
                path = os.path.join(os.environ["COMPLETION_DIR"], name)
                r = run(["bash", "--norc", "--noprofile", "-c",
                         "source %s && complete -p %s" % (shlex.quote(path), name)])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.strip(), "complete -F _%s %s" % (name, name))
                self.assertEqual(r.stderr, "")

    def test_commands(self):
        for name in PROGRAMS:
            with self.subTest(program=name):
                commands, _ = listing(name)
                self.assertEqual(complete(name, [name, ""]), sorted(commands))
        self.assertEqual(complete("migrator", ["migrator", "st"]), ["status"])
        self.assertEqual(complete("indexer", ["indexer", "b"]), ["build"])
        # options before the command word and their values are skipped
        self.assertEqual(complete("migrator", ["migrator", "--dir", "x", "-q", "ba"]), ["baseline"])
        self.assertEqual(complete("migrator", ["migrator", "--dir", "=", "x", "ba"]), ["baseline"])
        # after the command word no second command
        self.assertEqual(complete("migrator", ["migrator", "up", "st"]), [])

    def test_options_of_the_command_only(self):
        for name in PROGRAMS:
            commands, options = listing(name)
            for cmd in commands:
                with self.subTest(program=name, command=cmd):
                    expected = sorted(w for w in options[cmd] if w.startswith("--"))
                    self.assertEqual(complete(name, [name, cmd, "--"]), expected)
        # --rebuild-drifted is build's and plan's, not check's
        self.assertEqual(complete("indexer", ["indexer", "build", "--reb"]), ["--rebuild-drifted"])
        self.assertEqual(complete("indexer", ["indexer", "check", "--reb"]), [])
        self.assertEqual(complete("migrator", ["migrator", "new", "--t"]), ["--timestamp"])
        self.assertEqual(complete("migrator", ["migrator", "status", "--t"]), [])

    def test_values(self):
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "migrations"))
            open(os.path.join(d, "indexes.cfg"), "w").close()
            # a path: file names, in both spellings, short option too
            self.assertEqual(complete("migrator", ["migrator", "up", "--dir", "mig"], cwd=d),
                             ["migrations"])
            self.assertEqual(complete("migrator", ["migrator", "up", "--dir", "=", "mig"], cwd=d),
                             ["migrations"])
            self.assertEqual(complete("migrator", ["migrator", "up", "-d", "mig"], cwd=d),
                             ["migrations"])
            self.assertEqual(complete("indexer", ["indexer", "plan", "-c", "ind"], cwd=d),
                             ["indexes.cfg"])
            # another value: nothing guessed, not even a file name or an option
            self.assertEqual(complete("migrator", ["migrator", "up", "--lock-timeout", ""], cwd=d), [])
            self.assertEqual(complete("migrator", ["migrator", "up", "--schema", "="], cwd=d), [])
            # baseline's --version takes a version; elsewhere it is a flag
            self.assertEqual(complete("migrator", ["migrator", "baseline", "--version", "m"], cwd=d), [])
            self.assertEqual(complete("migrator", ["migrator", "up", "--version", "--cr"], cwd=d),
                             ["--create-schema"])


def value_sets(name):
    """{--option: [values]} of the options with a fixed set, from --list-options."""
    _, options = listing(name)
    sets = {}
    for cmd, per_command in options.items():
        for word, kind in per_command.items():
            if kind.startswith("value="):
                sets.setdefault(word, (cmd, kind[len("value="):].split("|")))
    return sets


class ValueSets(unittest.TestCase):
    def test_the_listed_sets_are_the_parsers(self):
        expected = {"migrator": {"--log-format", "--color", "--preflight", "--from"},
                    "indexer": {"--log-format", "--color"}}
        for name in PROGRAMS:
            sets = value_sets(name)
            self.assertEqual(set(sets), expected[name], name)
            for option, (cmd, values) in sets.items():
                with self.subTest(program=name, option=option):
                    for v in values:
                        r = run([binary(name), cmd, option, v, "--help"])
                        self.assertEqual(r.returncode, 0, "%s %s %s %s: %s" % (name, cmd, option, v, r.stderr))
                    r = run([binary(name), cmd, option, "no-such-value", "--help"])
                    self.assertEqual(r.returncode, 2, r.stderr)
                    m = re.search(r"option %s: invalid value \"no-such-value\" \(use ([^)]*)\)" % option, r.stderr)
                    self.assertIsNotNone(m, r.stderr)
                    self.assertEqual(re.split(r", | or ", m.group(1)), values)

    def test_one_set_per_option_whatever_the_command(self):
        for name in PROGRAMS:
            _, options = listing(name)
            for option, (_, values) in value_sets(name).items():
                for cmd, per_command in options.items():
                    if option in per_command and per_command[option] != "flag":
                        self.assertEqual(per_command[option], "value=" + "|".join(values), (name, cmd))

    def test_completes_the_values(self):
        self.assertEqual(complete("migrator", ["migrator", "lint", "--log-format", ""]),
                         ["github", "json", "text"])
        self.assertEqual(complete("indexer", ["indexer", "build", "--log-format", "j"]), ["json"])
        self.assertEqual(complete("indexer", ["indexer", "status", "--color", "="]), ["always", "auto", "never"])
        self.assertEqual(complete("indexer", ["indexer", "status", "--color", "=", "a"]), ["always", "auto"])
        self.assertEqual(complete("migrator", ["migrator", "up", "--preflight", ""]), ["fail", "off", "warn"])
        self.assertEqual(complete("migrator", ["migrator", "baseline", "--from", "g"]), ["golang-migrate"])
        # before the command word too
        self.assertEqual(complete("migrator", ["migrator", "--color", "n"]), ["never"])
        # and the command is still found after such a value
        self.assertEqual(complete("migrator", ["migrator", "--log-format", "json", "st"]), ["status"])


class LintArguments(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        d = self.dir.name
        os.mkdir(os.path.join(d, "migrations"))
        os.mkdir(os.path.join(d, "more"))
        for f in ("a.sql", "b.txt", "indexes.cfg", "migrations/101_x.sql", "migrations/102_y.sql",
                  "migrations/notes.md", "migrations/109_z.verify.sql"):
            open(os.path.join(d, f), "w").close()

    def test_lint_is_listed_as_taking_files(self):
        r = run([binary("migrator"), "--list-options"])
        self.assertIn("command\tlint\tfiles\n", r.stdout)

    def test_directories_and_sql_files(self):
        d = self.dir.name
        self.assertEqual(complete("migrator", ["migrator", "lint", ""], cwd=d), ["a.sql", "migrations", "more"])
        self.assertEqual(complete("migrator", ["migrator", "lint", "migrations/"], cwd=d),
                         ["migrations/101_x.sql", "migrations/102_y.sql", "migrations/109_z.verify.sql"])
        # after a first file, options and values: more files
        self.assertEqual(complete("migrator", ["migrator", "lint", "a.sql", "--strict", "mi"], cwd=d),
                         ["migrations"])
        self.assertEqual(complete("migrator", ["migrator", "lint", "--log-format", "json", "m"], cwd=d),
                         ["migrations", "more"])

    def test_a_glob_becomes_the_files_it_matches(self):
        d = self.dir.name
        self.assertEqual(complete("migrator", ["migrator", "lint", "migrations/10[12]*"], cwd=d),
                         ["migrations/101_x.sql", "migrations/102_y.sql"])
        self.assertEqual(complete("migrator", ["migrator", "lint", "*"], cwd=d), ["a.sql", "migrations", "more"])

    def test_no_file_arguments_elsewhere(self):
        d = self.dir.name
        self.assertEqual(complete("migrator", ["migrator", "up", ""], cwd=d), [])
        self.assertEqual(complete("indexer", ["indexer", "build", ""], cwd=d), [])


if __name__ == "__main__":
    unittest.main()
