#!/usr/bin/env python3
"""Size limits of the C sources (issue 11): run by scripts/test.sh and ctest.

- No source file over 800 lines, except generated tables (a file whose head
  comment says GENERATED).
- No function body over 80 lines, unless the comment right above the
  function says why, with the words "longer than 80 lines" (for example:
  "Longer than 80 lines because the steps share one transaction").

Functions are found the way the code is laid out (.clang-format, PostgreSQL
style): a definition's opening brace and its closing brace stand alone in
column 0.  Prints one line per violation, "file:line: ...", and exits 1 if
there is any; 0 otherwise.  Usage: check_limits.py [SOURCE_DIR]
"""
import os
import re
import sys

FILE_LIMIT = 800
FUNCTION_LIMIT = 80
DIRS = ("common", "migrator", "indexer", "tests/unit", "tests/fuzz")
EXCUSE = re.compile(r"longer than 80 lines", re.IGNORECASE)
NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def sources(root):
    for d in DIRS:
        top = os.path.join(root, d)
        if not os.path.isdir(top):
            continue
        for dirpath, _, files in os.walk(top):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(dirpath, f)


def comment_above(lines, i):
    """The comment block (or nothing) that ends right above line i, skipping
    the lines of the function's head (return type, name, parameters)."""
    j = i - 1
    while j >= 0 and lines[j].strip() and not lines[j].rstrip().endswith("*/"):
        j -= 1
    if j < 0 or not lines[j].rstrip().endswith("*/"):
        return ""
    end = j
    while j >= 0 and "/*" not in lines[j]:
        j -= 1
    return "".join(lines[max(j, 0):end + 1])


def function_name(lines, brace):
    for k in range(brace - 1, max(brace - 8, -1), -1):
        m = NAME.match(lines[k])
        if m:
            return m.group(1), k
    return "?", brace


def check_file(path, rel):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    problems = []
    head = "".join(lines[:12])
    if len(lines) > FILE_LIMIT and "GENERATED" not in head:
        problems.append("%s:1: %d lines, over the limit of %d" % (rel, len(lines), FILE_LIMIT))
    if not path.endswith(".c"):
        return problems
    open_at = None
    for i, line in enumerate(lines):
        if line.rstrip("\n") == "{":
            open_at = i
        elif line.startswith("}") and open_at is not None:
            body = i - open_at - 1
            if body > FUNCTION_LIMIT:
                name, start = function_name(lines, open_at)
                if not EXCUSE.search(comment_above(lines, start)):
                    problems.append("%s:%d: function %s is %d lines long, over the limit of %d "
                                    "(or say why in its head comment: \"longer than 80 lines because ...\")"
                                    % (rel, start + 1, name, body, FUNCTION_LIMIT))
            open_at = None
    return problems


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems = []
    for path in sources(root):
        problems += check_file(path, os.path.relpath(path, root))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
