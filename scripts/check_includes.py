#!/usr/bin/env python3
"""check_includes.py: the include graph of the two programs and their core.

    scripts/check_includes.py [SOURCE_DIR]     check the tree (default: ..)
    scripts/check_includes.py --self-test      check the checker on bad trees

The shape of issue 11, read from the #include "..." lines of every .c and .h
file under common/, indexer/ and migrator/:

  common   -> common only (the libpq core knows neither program)
  indexer  -> indexer, its door, common
  door     -> door, common (indexer/door/: what the migrator may see)
  migrator -> migrator, the door, common (never the engine's own headers)

and no header name twice in those directories (a bare "config.h" that could
resolve to either of two files), no cycle between headers, no cycle between
the modules.  Includes in <...> and names that are no file of ours
(libpq-fe.h, pg_query.h) are the system's and not checked.  Prints one line
a problem ("FILE:LINE: ...") and exits 1, or exits 0 silently; ctest runs
it (unit.include_graph, unit.include_graph_self_test).
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')

# module -> the modules it may include
ALLOWED = {
    "common": {"common"},
    "indexer": {"indexer", "door", "common"},
    "door": {"door", "common"},
    "migrator": {"migrator", "door", "common"},
}


def module_of(rel):
    """The module of a path relative to the source root, or None."""
    parts = rel.split(os.sep)
    if parts[0] == "indexer" and len(parts) > 2 and parts[1] == "door":
        return "door"
    return parts[0] if parts[0] in ALLOWED else None


def sources(root):
    """Every .c and .h file of the modules, relative to root, sorted."""
    found = []
    for top in ("common", "indexer", "migrator"):
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for name in names:
                if name.endswith((".c", ".h")):
                    found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def includes(root, rel):
    """(line number, name) of every #include "name" of the file."""
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield number, m.group(1)


def find_cycle(graph):
    """One cycle of graph (dict node -> set of nodes) as a list, or None."""
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def check(root):
    """The list of problems of the tree at root (empty: the shape holds)."""
    problems = []
    files = sources(root)
    headers = {}
    for rel in files:
        if rel.endswith(".h"):
            headers.setdefault(os.path.basename(rel), []).append(rel)
    for name, where in sorted(headers.items()):
        if len(where) > 1:
            problems.append("%s: header name \"%s\" also in %s: an include of it is ambiguous"
                            % (where[0], name, ", ".join(where[1:])))

    file_graph = {}
    module_graph = {}
    for rel in files:
        src = module_of(rel)
        for number, name in includes(root, rel):
            # the file's own directory first, as the preprocessor does
            local = os.path.normpath(os.path.join(os.path.dirname(rel), name))
            if local in files:
                target = local
            elif os.path.basename(name) in headers and "/" not in name:
                target = headers[os.path.basename(name)][0]
            else:
                continue  # the system's or a library's
            dst = module_of(target)
            if dst not in ALLOWED[src]:
                problems.append("%s:%d: %s includes \"%s\" (%s): %s may include only %s"
                                % (rel, number, src, name, target, src,
                                   ", ".join(sorted(ALLOWED[src]))))
            file_graph.setdefault(rel, set()).add(target)
            if dst != src:
                module_graph.setdefault(src, set()).add(dst)

    cycle = find_cycle(file_graph)
    if cycle:
        problems.append("%s: include cycle: %s" % (cycle[0], " -> ".join(cycle)))
    cycle = find_cycle(module_graph)
    if cycle:
        problems.append("modules: include cycle: %s" % " -> ".join(cycle))
    return problems


def self_test():
    """The checker finds each kind of problem in a small bad tree."""
    tree = {
        "common/a.h": '#include "b.h"\n',
        "common/b.h": '#include "a.h"\n',                # header cycle
        "common/c.c": '#include "engine.h"\n',           # common -> indexer
        "indexer/engine.h": "",
        "indexer/settings.h": "",
        "indexer/door/door.h": '#include "engine.h"\n',  # door -> indexer
        "indexer/e.c": '#include "door.h"\n#include "a.h"\n#include <stdio.h>\n#include "libpq-fe.h"\n',
        "migrator/settings.h": "",                        # same name as indexer's
        "migrator/m.c": '#include "door.h"\n#include "engine.h"\n',  # migrator -> indexer
    }
    expected = [
        "header name \"settings.h\"",
        "common/c.c:1: common includes \"engine.h\"",
        "indexer/door/door.h:1: door includes \"engine.h\"",
        "migrator/m.c:2: migrator includes \"engine.h\"",
        "include cycle: common/a.h -> common/b.h -> common/a.h",
        "modules: include cycle: common -> indexer",
    ]
    with tempfile.TemporaryDirectory() as root:
        for rel, text in tree.items():
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)
        problems = check(root)
        missing = [e for e in expected if not any(e in p for p in problems)]
        for rel in ("common/b.h", "common/c.c", "indexer/door/door.h", "migrator/m.c",
                    "migrator/settings.h"):
            os.remove(os.path.join(root, rel))
        clean = check(root)
    for e in missing:
        print("self-test: the checker did not report: %s" % e)
    for p in clean:
        print("self-test: the checker reported a good tree: %s" % p)
    return 1 if missing or clean else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) > 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.join(os.path.dirname(__file__), "..")
    problems = check(root)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
