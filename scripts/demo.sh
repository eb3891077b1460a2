#!/usr/bin/env bash
#
# demo.sh
#     The demo command: build, then migrate a database with migrations/ and
#     show its status (and build the indexes of conf/indexes.cfg if present).
#
# Usage: scripts/demo.sh [--keep] [PROGRAM OPTIONS...]
#     With no database given (no --dsn, and none of DATABASE_URL, PGHOST,
#     PGDATABASE, PGSERVICE set), a throwaway PostgreSQL is started in a temp
#     directory and stopped on exit; --keep leaves it running and prints how to
#     connect to it and how to stop it.  Other options (e.g. --dsn DSN, -v)
#     are passed to every program run.
#
# Any failure stops the script with that program's exit code.
#
# scripts/demo.sh
#
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

keep=0
have_db=0
args=()
for arg in "$@"; do
	case "$arg" in
		--keep) keep=1 ;;
		--dsn | --dsn=*)
			have_db=1
			args+=("$arg")
			;;
		*) args+=("$arg") ;;
	esac
done
for var in DATABASE_URL PGHOST PGDATABASE PGSERVICE; do
	if [ -n "${!var:-}" ]; then
		have_db=1
	fi
done

python=/usr/bin/python3
[ -x "$python" ] || python=python3

scripts/deps.sh --demo

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"

cluster_tmp=""
dsn=""
bindir=""
on_exit() {
	local status=$?
	if [ -z "$cluster_tmp" ]; then
		exit "$status"
	fi
	if [ "$keep" -eq 0 ]; then
		"$python" tests/harness/cluster.py stop "$cluster_tmp/cluster" || true
		rm -rf "$cluster_tmp"
	elif [ -n "$dsn" ]; then
		cat >&2 <<-EOF
			demo.sh: the database keeps running (--keep). Connect with:
			  $bindir/psql "$dsn"
			Stop and remove it with:
			  $python $repo/tests/harness/cluster.py stop $cluster_tmp/cluster && rm -rf $cluster_tmp
		EOF
	fi
	exit "$status"
}

if [ "$have_db" -eq 0 ]; then
	cluster_tmp=$(mktemp -d /tmp/toolkit-demo.XXXXXX)
	chmod 755 "$cluster_tmp" # the server runs as "postgres" when we are root
	trap on_exit EXIT
	"$python" tests/harness/cluster.py start "$cluster_tmp/cluster"
	read -r host port bindir < <("$python" -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c["host"], c["port"], c["bindir"])' "$cluster_tmp/cluster/cluster.json")
	"$bindir/createdb" -h "$host" -p "$port" -U postgres demo
	dsn="host=$host port=$port dbname=demo user=postgres"
	args+=(--dsn "$dsn")
	echo "demo.sh: throwaway PostgreSQL on $host port $port, database \"demo\"" >&2
fi

echo "demo.sh: migrator up --dir migrations" >&2
build/migrator/migrator up --dir migrations "${args[@]}"
echo "demo.sh: migrator status --dir migrations" >&2
build/migrator/migrator status --dir migrations "${args[@]}"
if [ -f conf/indexes.cfg ]; then
	echo "demo.sh: indexer build --config conf/indexes.cfg" >&2
	build/indexer/indexer build --config conf/indexes.cfg "${args[@]}"
fi
# the start-up gates an application runs before it serves traffic
echo "demo.sh: migrator check --dir migrations" >&2
build/migrator/migrator check --dir migrations "${args[@]}"
if [ -f conf/indexes.cfg ]; then
	echo "demo.sh: indexer check --critical-only --config conf/indexes.cfg" >&2
	build/indexer/indexer check --critical-only --config conf/indexes.cfg "${args[@]}"
fi
