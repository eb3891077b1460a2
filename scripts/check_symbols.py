#!/usr/bin/env python3
"""No global symbol of ours is also defined by a shared library the programs
load (issue 11).  A clash is not an error at link time: the executable's
definition is exported and the library's own calls bind to it (libconfig's
strbuf_append once met ours).  Names are prefixed instead of hiding them
behind a GNU-ld-only --exclude-libs.

Usage: check_symbols.py PROGRAM... -- ARCHIVE...  (ctest passes the built
programs and our static libraries).  Prints each clash, exits 1 if any.
"""
import subprocess
import sys


def symbols(cmd):
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return {f[2] for f in (line.split() for line in out.splitlines()) if len(f) == 3}


def main():
    args = sys.argv[1:]
    if "--" not in args:
        sys.exit(__doc__)
    cut = args.index("--")
    programs, archives = args[:cut], args[cut + 1:]
    ours = set()
    for a in archives:
        ours |= symbols(["nm", "--defined-only", "-g", a])
    libs = set()
    for p in programs:
        ldd = subprocess.run(["ldd", p], stdout=subprocess.PIPE, text=True, check=True).stdout
        libs |= {line.split("=>")[1].split()[0] for line in ldd.splitlines()
                 if "=>" in line and line.split("=>")[1].strip().startswith("/")}
    clashes = []
    for lib in sorted(libs):
        for name in sorted(ours & symbols(["nm", "-D", "--defined-only", lib])):
            clashes.append("%s: %s is also defined by %s" % (name, name, lib))
    print("\n".join(clashes) if clashes else
          "%d symbols of ours, %d shared libraries: no clash" % (len(ours), len(libs)))
    return 1 if clashes else 0


if __name__ == "__main__":
    sys.exit(main())
