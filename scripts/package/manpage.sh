#!/usr/bin/env bash
#
# manpage.sh
#     Write a program's manual page, NAME(1), from its own --help and
#     --version with help2man, gzipped as Debian wants it (gzip -9n), so that
#     there is no second, hand-kept copy of the help text.
#
# Usage: scripts/package/manpage.sh PROGRAM_BINARY NAME SEE_ALSO DOCDIR OUTPUT
#     SEE_ALSO  the other program's name (its page is cross-referenced)
#     DOCDIR    where the installed README.md and examples are, for the
#               SEE ALSO section (/usr/share/doc/pg-schema-toolkit)
#     OUTPUT    NAME.1.gz
#
# The NAME line's summary is the first line of --help, less the program's
# name and the final period.  --help's "Commands:" and "Exit codes:" become
# the sections COMMANDS and EXIT STATUS; everything else is help2man's
# reading of --help (Usage: -> SYNOPSIS, Options: -> OPTIONS).
#
# scripts/package/manpage.sh
#
set -euo pipefail

if [ "$#" -ne 5 ]; then
	echo "usage: scripts/package/manpage.sh PROGRAM_BINARY NAME SEE_ALSO DOCDIR OUTPUT" >&2
	exit 2
fi
bin=$1
name=$2
see_also=$3
docdir=$4
out=$5

if ! command -v help2man >/dev/null 2>&1; then
	echo "manpage.sh: help2man not found (apt-get install help2man)" >&2
	exit 2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" --help >"$work/help"
first=$(head -n 1 "$work/help")
summary=${first#"$name "}
summary=${summary%.}
if [ "$summary" = "$first" ] || [ -z "$summary" ]; then
	echo "manpage.sh: the first line of \"$name --help\" does not start with \"$name \": $first" >&2
	exit 1
fi

cat >"$work/include" <<EOF
[SEE ALSO]
.BR $see_also (1)
.PP
The README and the example migrations and index definitions are in
.IR $docdir .
EOF
# help2man runs the program with an absolute path: no PATH lookup
help2man --no-info --name="$summary" --include="$work/include" "$(realpath "$bin")" >"$work/page"
sed -e 's/^\.SS "Commands:"$/.SH COMMANDS/' \
	-e 's/^\.SS "Exit codes:"$/.SH "EXIT STATUS"/' "$work/page" >"$work/$name.1"
# each rewrite must have happened: a changed --help must not silently lose them
for section in '^\.SH COMMANDS$' '^\.SH "EXIT STATUS"$' '^\.SH SYNOPSIS$' '^\.SH OPTIONS$'; do
	if ! grep -q "$section" "$work/$name.1"; then
		echo "manpage.sh: $name.1 has no section matching $section: is \"$name --help\" still in help2man's shape?" >&2
		exit 1
	fi
done
mkdir -p "$(dirname "$out")"
gzip -9n <"$work/$name.1" >"$out.tmp"
mv "$out.tmp" "$out"
