#!/usr/bin/env bash
#
# run.sh
#     Benchmarks of the toolkit against the tools a user would install
#     instead (dbmate, sql-migrate, node-pg-migrate, squawk, plain psql), run
#     by hand (never from ctest).  Every arm runs in the same run, on the same
#     throwaway PostgreSQL, over one pinned DSN (TCP on 127.0.0.1, trust),
#     interleaved with ours in a rotating order: the machines are shared and
#     noisy, so the report gives medians, spread and ratios, and nothing here
#     asserts a time.
#
# Usage: bench/run.sh
#     Environment (all optional; see bench/README.md):
#       BENCH_N             migrations of the main workloads (default 1000)
#       BENCH_REPS          repetitions at the main sizes (default 10)
#       BENCH_GROWTH_N      other migration counts of the growth curve (default "100 10000")
#       BENCH_IDX_N         index definitions of the indexer no-op (default 500)
#       BENCH_IDX_GROWTH_N  other definition counts (default "50 5000")
#       BENCH_SMALL_REPS    repetitions at sizes below the main one (default 5)
#       BENCH_BIG_REPS      repetitions at sizes above the main one (default 3)
#       BENCH_IDX_ROWS      rows of each of the two tables of the index build (default 2000000)
#       BENCH_IDX_REPS      repetitions of the index build (default BENCH_REPS)
#       BENCH_PEERS_DIR     npm cache of the peers (default bench/peers, git-ignored)
#       BENCH_NO_INSTALL    1: use the peers already in BENCH_PEERS_DIR, install nothing
#       BENCH_BUILD_DIR     build directory (default bench/build, git-ignored)
#       BENCH_OUT           the report (default bench/RESULTS.md, overwritten)
#       BENCH_CHART         the growth chart (default bench/growth.png)
#       BENCH_LABEL         a line printed at the top of the report (e.g. "quick run")
#       BENCH_STOP_AT       a time (e.g. 14:20): growth sizes not started by then are skipped
#
# Builds the toolkit (Release), installs the pinned npm peers into
# BENCH_PEERS_DIR (the only thing it installs), starts a PostgreSQL with
# tests/harness/cluster.py, runs the workloads, writes the report and the
# chart, and stops the server on exit, whatever happened.  A peer that cannot
# be installed is skipped and the report says so.
#
# bench/run.sh
#
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

# pinned peers (npm registry; sql-migrate from Debian)
dbmate_version=2.36.0
npgm_version=9.0.0
pg_version=8.23.1 # node-pg-migrate's driver (a peer dependency)
squawk_version=2.66.0

n_main=${BENCH_N:-1000}
reps=${BENCH_REPS:-10}
growth_n=${BENCH_GROWTH_N-100 10000}
idx_main=${BENCH_IDX_N:-500}
idx_growth=${BENCH_IDX_GROWTH_N-50 5000}
small_reps=${BENCH_SMALL_REPS:-5}
big_reps=${BENCH_BIG_REPS:-3}
idx_rows=${BENCH_IDX_ROWS:-2000000}
idx_reps=${BENCH_IDX_REPS:-$reps}
peers=${BENCH_PEERS_DIR:-$repo/bench/peers}
no_install=${BENCH_NO_INSTALL:-0}
build=${BENCH_BUILD_DIR:-$repo/bench/build}
out=${BENCH_OUT:-$repo/bench/RESULTS.md}
chart=${BENCH_CHART:-$repo/bench/growth.png}
label=${BENCH_LABEL:-}
stop_at=${BENCH_STOP_AT:-}
python=/usr/bin/python3
gnu_time=/usr/bin/time

die() {
	echo "bench: error: $*" >&2
	exit 1
}
say() {
	echo "bench: $(date -u +%H:%M:%S) $*" >&2
}

for v in n_main reps idx_main small_reps big_reps idx_rows idx_reps; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not \"${!v}\""
done
for v in $growth_n $idx_growth; do # split on purpose
	[[ $v =~ ^[1-9][0-9]*$ ]] || die "growth sizes must be positive integers, not \"$v\""
done

# ---------------------------------------------------------------------------
# what we need

missing=()
[ -x "$python" ] || missing+=(python3)
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(gcc)
"$gnu_time" --version 2>&1 | grep -q GNU || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "bench: missing: ${missing[*]}" >&2
	echo "bench: install with: apt-get install -y ${missing[*]}" >&2
	exit 1
fi

# Connection settings of the caller must not reach any tool: every one is
# pointed at the throwaway cluster explicitly.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSERVICE \
	PGSERVICEFILE PGOPTIONS PGAPPNAME PGSSLMODE PGTARGETSESSIONATTRS \
	DATABASE_URL MIGRATIONS_DIR PSQLRC INDEXER_CONFIG

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
stopwatch_start=$EPOCHREALTIME
work=$(mktemp -d /tmp/bench.XXXXXX)
cluster_dir=$work/cluster
cluster_started=0
on_exit() {
	local status=$?
	if [ "$cluster_started" -eq 1 ]; then
		"$python" "$repo/tests/harness/cluster.py" stop "$cluster_dir" 2>/dev/null || true
	fi
	rm -rf "$work"
	exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# build

say "building (Release) in $build"
if ! cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
	>"$work/build.log" 2>&1 ||
	! cmake --build "$build" --target migrator indexer -j "$(nproc)" >>"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	die "build failed"
fi
migrator=$build/migrator/migrator
indexer=$build/indexer/indexer
if [ ! -x "$migrator" ] || [ ! -x "$indexer" ]; then
	die "no migrator or indexer in $build after the build"
fi
cc_path=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
cc_path=${cc_path:-cc}
# the parser-only baseline of the lint workload, on the same libpg_query
if ! "$cc_path" -O2 -Wall -Wextra -o "$build/parse_floor" "$repo/bench/parse_floor.c" \
	-lpg_query >>"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	die "could not build bench/parse_floor.c"
fi
parse_floor=$build/parse_floor

# ---------------------------------------------------------------------------
# the peers: npm packages in a cache this script owns, sql-migrate from Debian

declare -A skipped=() # arm -> why it did not run
npm_installed() {     # PKG VERSION: is PKG@VERSION in the cache?
	[ -f "$peers/node_modules/$1/package.json" ] &&
		grep -q "\"version\": \"$2\"" "$peers/node_modules/$1/package.json"
}
npm_pkgs=(dbmate "$dbmate_version" @dbmate/linux-x64 "$dbmate_version" node-pg-migrate "$npgm_version"
	pg "$pg_version" squawk-cli "$squawk_version" @squawk-cli/linux-x64 "$squawk_version")
need_install=0
for ((i = 0; i < ${#npm_pkgs[@]}; i += 2)); do
	npm_installed "${npm_pkgs[i]}" "${npm_pkgs[i + 1]}" || need_install=1
done
if [ "$need_install" -eq 1 ] && [ "$no_install" != 1 ]; then
	if command -v npm >/dev/null; then
		say "installing the npm peers into $peers"
		mkdir -p "$peers"
		specs=()
		for ((i = 0; i < ${#npm_pkgs[@]}; i += 2)); do specs+=("${npm_pkgs[i]}@${npm_pkgs[i + 1]}"); done
		npm install --prefix "$peers" --no-audit --no-fund --save-exact "${specs[@]}" \
			>"$work/npm.log" 2>&1 || {
			tail -n 20 "$work/npm.log" >&2
			say "npm install failed; the npm peers that are missing are skipped"
		}
	else
		say "npm is not installed (apt-get install -y npm): the npm peers are skipped"
	fi
fi
# The Go binary of dbmate and the Rust binary of squawk, called directly: the
# packages' own commands are Node wrappers that add a Node start-up.
dbmate=$peers/node_modules/@dbmate/linux-x64/bin/dbmate
squawk=$peers/node_modules/@squawk-cli/linux-x64/bin/squawk
npgm=$peers/node_modules/node-pg-migrate/bin/node-pg-migrate.js
node=$(command -v node || true)
sqlmigrate=$(command -v sql-migrate || true)
if ! npm_installed @dbmate/linux-x64 "$dbmate_version" || [ ! -x "$dbmate" ]; then
	skipped[dbmate]="dbmate $dbmate_version could not be installed from npm"
fi
if ! npm_installed @squawk-cli/linux-x64 "$squawk_version" || [ ! -x "$squawk" ]; then
	skipped[squawk]="squawk-cli $squawk_version could not be installed from npm"
fi
if ! npm_installed node-pg-migrate "$npgm_version" || ! npm_installed pg "$pg_version" || [ -z "$node" ]; then
	skipped[npgm]="node-pg-migrate $npgm_version (with pg $pg_version and node) could not be installed from npm"
fi
if [ -z "$sqlmigrate" ]; then
	skipped[sqlmigrate]="sql-migrate is not installed (apt-get install -y sql-migrate)"
fi
for arm in "${!skipped[@]}"; do say "skipping $arm: ${skipped[$arm]}"; done
have() { [ -z "${skipped[$1]:-}" ]; }

# ---------------------------------------------------------------------------
# the server

say "starting PostgreSQL"
cluster_started=1
"$python" "$repo/tests/harness/cluster.py" start "$cluster_dir" 2>"$work/cluster.log" ||
	{
		cat "$work/cluster.log" >&2
		die "could not start PostgreSQL"
	}
json_field() {
	"$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
		"$cluster_dir/cluster.json" "$1"
}
port=$(json_field port)
bindir=$(json_field bindir)
superuser=$(json_field superuser)
host=127.0.0.1 # TCP for every tool: the Go and Node drivers speak no Unix socket here
# The real psql binary: /usr/bin/psql on Debian is pg_wrapper, a Perl script
# whose start-up would slow the baseline and flatter our ratio.
psql=$bindir/psql

# One DSN for every tool, in the two spellings the drivers take.
dsn_for() { printf 'host=%s port=%s user=%s dbname=%s sslmode=disable' "$host" "$port" "$superuser" "$1"; }
url_for() { printf 'postgres://%s@%s:%s/%s?sslmode=disable' "$superuser" "$host" "$port" "$1"; }
psql_q() { # DB ARGS...: a quiet query for setup and checks
	local db=$1
	shift
	"$psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$(dsn_for "$db")" "$@"
}
db_seq=0
fresh_db() { # sets $db to a new, empty database
	db_seq=$((db_seq + 1))
	db="bench_$db_seq"
	psql_q postgres -c "CREATE DATABASE $db" >/dev/null
}
drop_db() { psql_q postgres -c "DROP DATABASE IF EXISTS $1" >/dev/null; }

# ---------------------------------------------------------------------------
# measuring

declare -A samples=() # key -> "ms ms ...", wall time, one per repetition
declare -A rss=()     # key -> "kB kB ...", peak RSS (GNU time %M)
allow_rc=0            # the highest exit status that still counts as success

run_logged() { # LOG CMD...: run CMD, output in LOG; on failure show it and stop
	local log=$1 rc=0
	shift
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" -gt "$allow_rc" ]; then
		tail -n 30 "$log" >&2
		die "failed (exit $rc): $*"
	fi
}
# timed KEY CMD...: run CMD once under GNU time; add its wall time (ms, read
# by this shell with $EPOCHREALTIME, no fork of ours in the span) to
# samples[KEY] and its peak RSS (kB) to rss[KEY]
timed() {
	local key=$1 t0 t1
	shift
	t0=$EPOCHREALTIME
	run_logged "$work/last.log" "$gnu_time" -f '%M' -o "$work/rss" "$@"
	t1=$EPOCHREALTIME
	samples[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }') "
	rss[$key]+="$(tail -n 1 "$work/rss") "
}
# stats LIST: "median min max"
stats() {
	# shellcheck disable=SC2086 # LIST is a space-separated list of numbers
	printf '%s\n' $1 | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR % 2) med = v[(NR + 1) / 2]; else med = (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.3f %.3f %.3f\n", med, v[1], v[NR]
		}'
}
median_of() { stats "$1" | cut -d' ' -f1; }
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }
# paired OURS BASE: median of the ratios within each repetition
paired() {
	local -a o b
	local i list=""
	read -r -a o <<<"$1"
	read -r -a b <<<"$2"
	for ((i = 0; i < ${#o[@]} && i < ${#b[@]}; i++)); do
		list+="$(calc "${o[i]} / ${b[i]}") "
	done
	median_of "$list"
}
fmt_ms() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f ms", v; else if (v >= 10) printf "%.1f ms", v; else printf "%.2f ms", v }'; }
fmt_ratio() { awk -v v="$1" 'BEGIN { printf "%.2f×", v }'; }
fmt_mb() { awk -v v="$1" 'BEGIN { printf "%.1f MB", v / 1024 }'; }
# rotated R ARM...: the arms, starting at the (R mod count)th, so that every
# arm runs first, last and in between as the repetitions go on
rotated() {
	local r=$1
	shift
	local -a a=("$@")
	local i n=${#a[@]}
	for ((i = 0; i < n; i++)); do printf '%s ' "${a[(i + r) % n]}"; done
}
reps_for() { # SIZE MAIN: repetitions at SIZE
	if [ "$1" -eq "$2" ]; then
		echo "$reps"
	elif [ "$1" -lt "$2" ]; then
		echo "$small_reps"
	else
		echo "$big_reps"
	fi
}

# ---------------------------------------------------------------------------
# the migrations: one generated set per size, in each tool's own layout

migration_sql() { # I: sets sql to the DDL of migration I, the same for every tool
	printf -v sql 'CREATE TABLE t_%d (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    name text NOT NULL,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\nALTER TABLE t_%d ADD COLUMN note text;\nCOMMENT ON TABLE t_%d IS '\''benchmark table %d'\'';\n' \
		"$1" "$1" "$1" "$1"
}
gen_sets() { # N: $work/N/{ours,dbmate,sqlmigrate,npgm}/ and psql.script
	local n=$1 d=$work/$1 i f sql
	mkdir -p "$d/ours" "$d/dbmate" "$d/sqlmigrate" "$d/npgm"
	# psql that records each file in a table of its own: the least a tool with a history does
	echo 'CREATE TABLE bench_history (version bigint PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());' >"$d/psqlrec.script"
	for ((i = 1; i <= n; i++)); do
		f=$(printf '%05d_t_%d.sql' "$i" "$i")
		migration_sql "$i"
		printf '%s\n' "$sql" >"$d/ours/$f"
		printf -- '-- migrate:up\n%s\n\n-- migrate:down\n' "$sql" >"$d/dbmate/$f"
		printf -- '-- +migrate Up\n%s\n\n-- +migrate Down\n' "$sql" >"$d/sqlmigrate/$f"
		printf -- '-- Up Migration\n%s\n\n-- Down Migration\n' "$sql" >"$d/npgm/$f"
		printf 'BEGIN;\n\\i %s\nCOMMIT;\n' "$d/ours/$f" >>"$d/psql.script"
		printf 'BEGIN;\n\\i %s\nINSERT INTO bench_history (version, name) VALUES (%d, '\''%s'\'');\nCOMMIT;\n' \
			"$d/ours/$f" "$i" "$f" >>"$d/psqlrec.script"
	done
}

# one command per tool and workload; $1 is the size, $2 the database
apply_cmd() { # ARM N DB: sets cmd
	local d=$work/$2
	case $1 in
		ours) cmd=("$migrator" up --dir "$d/ours" --dsn "$(dsn_for "$3")") ;;
		psql) cmd=("$psql" -X -q -v ON_ERROR_STOP=1 -d "$(dsn_for "$3")" -f "$d/psql.script") ;;
		psqlrec) cmd=("$psql" -X -q -v ON_ERROR_STOP=1 -d "$(dsn_for "$3")" -f "$d/psqlrec.script") ;;
		dbmate) cmd=("$dbmate" --url "$(url_for "$3")" --migrations-dir "$d/dbmate" --no-dump-schema up) ;;
		sqlmigrate)
			printf 'bench:\n  dialect: postgres\n  datasource: %s\n  dir: %s\n' "$(dsn_for "$3")" \
				"$d/sqlmigrate" >"$work/dbconfig_$3.yml"
			cmd=("$sqlmigrate" up -config="$work/dbconfig_$3.yml" -env=bench)
			;;
		npgm) cmd=(env DATABASE_URL="$(url_for "$3")" "$node" "$npgm" up --migrations-dir "$d/npgm"
			--no-single-transaction --no-verbose) ;;
		select1) cmd=("$psql" -X -q -d "$(dsn_for "$3")" -c 'SELECT 1') ;;
		# the least a no-op of any tool does: read the history (the toolkit's columns)
		histread) cmd=("$psql" -X -q -d "$(dsn_for "$3")" -c "$history_read_sql") ;;
		check) cmd=("$migrator" check --dir "$d/ours" --dsn "$(dsn_for "$3")") ;;
	esac
}
history_table() { # ARM: the table the tool records applied migrations in
	case $1 in
		ours) echo "public.schema_migrations WHERE status = 'applied'" ;;
		dbmate) echo "public.schema_migrations" ;;
		sqlmigrate) echo "public.gorp_migrations" ;;
		npgm) echo "public.pgmigrations" ;;
		psqlrec) echo "public.bench_history" ;;
		*) echo "" ;;
	esac
}
check_applied() { # ARM N DB: N tables with the column and the comment, N history rows
	local n want=$2 h
	n=$(psql_q "$3" -c "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'note' WHERE c.relname LIKE 't\\_%' AND c.relkind = 'r' AND pg_catalog.obj_description(c.oid, 'pg_class') IS NOT NULL")
	[ "$n" -eq "$want" ] || die "$1: database $3 has $n of $want benchmark tables"
	h=$(history_table "$1")
	if [ -n "$h" ]; then
		n=$(psql_q "$3" -c "SELECT count(*) FROM $h")
		[ "$n" -eq "$want" ] || die "$1: database $3 has $n of $want history rows"
	fi
}

apply_arms=(ours psql psqlrec)
noop_arms=(ours check select1 histread)
history_read_sql='SELECT version, name, checksum, status, failure FROM public.schema_migrations ORDER BY version'
# the least an index no-op that checks definitions does: read them
index_read_sql="SELECT c.relname, pg_catalog.pg_get_indexdef(c.oid) FROM pg_catalog.pg_class c WHERE c.relkind = 'i' AND c.relname LIKE 'ix\\_%'"
for a in dbmate sqlmigrate npgm; do
	if have "$a"; then
		apply_arms+=("$a")
		noop_arms+=("$a")
	fi
done
lint_arms=(ours floor)
have squawk && lint_arms+=(squawk)

declare -A kept_db=() # "ARM N" -> a database the arm migrated fully (for the no-op)

# System calls and protocol messages of one no-op run of each tool, counted
# with strace (untimed; bench/syscounts.py): files opened and read, socket
# writes and reads, the messages sent to the server.
declare -A syscounts=() # arm -> one JSON object
have_strace=0
command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null && have_strace=1
syscount() { # ARM DIR CMD...: count one run of CMD into syscounts[ARM]
	local arm=$1 dir=$2
	shift 2
	[ "$have_strace" -eq 1 ] || return 0
	syscounts[$arm]=$("$python" "$repo/bench/syscounts.py" "$dir" -- "$@") ||
		die "could not count the system calls of $arm"
}
noop_syscounts() { # N: each no-op arm once under strace
	local n=$1 arm k
	for arm in "${noop_arms[@]}"; do
		k=$arm
		[ "$arm" = select1 ] || [ "$arm" = histread ] || [ "$arm" = check ] && k=ours
		apply_cmd "$arm" "$n" "${kept_db[$k $n]}"
		case $arm in
			ours | check) syscount "$arm" "$work/$n/ours" "${cmd[@]}" ;;
			select1 | dbmate) syscount "$arm" "$work/$n/$arm" "${cmd[@]}" ;;
		esac
	done
}

# migration_workloads N: apply, no-op and lint at size N, each arm interleaved
migration_workloads() {
	local n=$1 r arm k rr r0=0
	rr=$(reps_for "$n" "$n_main")
	# above the main size a run is long enough to need no warm-up; every
	# timed run is checked all the same
	[ "$n" -le "$n_main" ] || r0=1
	say "generating $n migrations"
	gen_sets "$n"
	say "apply $n: ${apply_arms[*]}, $rr repetitions"
	for ((r = r0; r <= rr; r++)); do
		for arm in $(rotated "$r" "${apply_arms[@]}"); do
			fresh_db
			apply_cmd "$arm" "$n" "$db"
			if [ "$r" -eq 0 ]; then
				run_logged "$work/warm.log" "${cmd[@]}"
			else
				timed "apply $n $arm" "${cmd[@]}"
			fi
			check_applied "$arm" "$n" "$db"
			if [ -z "${kept_db[$arm $n]:-}" ]; then
				kept_db[$arm $n]=$db
			else
				drop_db "$db"
			fi
		done
	done
	say "no-op $n: ${noop_arms[*]}, $rr repetitions"
	for ((r = r0; r <= rr; r++)); do
		for arm in $(rotated "$r" "${noop_arms[@]}"); do
			k=$arm
			[ "$arm" = select1 ] || [ "$arm" = histread ] || [ "$arm" = check ] && k=ours
			apply_cmd "$arm" "$n" "${kept_db[$k $n]}"
			if [ "$r" -eq 0 ]; then
				run_logged "$work/warm.log" "${cmd[@]}"
			else
				timed "noop $n $arm" "${cmd[@]}"
			fi
		done
	done
	[ "$n" -ne "$n_main" ] || noop_syscounts "$n"
	for arm in "${noop_arms[@]}"; do
		[ "$arm" = select1 ] || [ "$arm" = histread ] || [ "$arm" = check ] && continue
		check_applied "$arm" "$n" "${kept_db[$arm $n]}"
		drop_db "${kept_db[$arm $n]}"
	done
	say "lint $n: ${lint_arms[*]}, $rr repetitions"
	for ((r = 0; r <= rr; r++)); do
		for arm in $(rotated "$r" "${lint_arms[@]}"); do
			allow_rc=0
			case $arm in
				ours) cmd=("$migrator" lint --dir "$work/$n/ours") ;;
				floor) cmd=("$parse_floor" "$work/$n/ours"/*.sql) ;;
				# squawk exits 1 when it finds something to say, as any linter
				squawk) cmd=("$squawk" "$work/$n/ours"/*.sql) && allow_rc=1 ;;
			esac
			if [ "$r" -eq 0 ]; then
				run_logged "$work/lint_$arm.log" "${cmd[@]}"
			else
				timed "lint $n $arm" "${cmd[@]}"
			fi
			allow_rc=0
		done
	done
	grep -q "^$n files checked: 0 errors" "$work/lint_ours.log" ||
		die "unexpected migrator lint result: $(tail -n 1 "$work/lint_ours.log")"
	rm -rf "${work:?}/$n"
}

# ---------------------------------------------------------------------------
# the indexer: a build of four indexes on two big tables, and a no-op

idx_sql() { # TABLE COLUMN: the definition's CREATE INDEX
	printf 'CREATE INDEX CONCURRENTLY IF NOT EXISTS %s_%s_idx ON %s (%s)' "$1" "$2" "$1" "$2"
}
idx_entry() { # TABLE COLUMN
	printf '  { name = "%s_%s_idx"; table = "%s"; sql = "%s"; }' "$1" "$2" "$1" "$(idx_sql "$1" "$2")"
}
idx_config() { # FILE TABLE:COLUMN...: a definitions file
	local f=$1 tc sep=""
	shift
	{
		echo "indexes = ("
		for tc in "$@"; do
			printf '%s' "$sep"
			idx_entry "${tc%%:*}" "${tc#*:}"
			sep=$',\n'
		done
		printf '\n);\n'
	} >"$f"
}
build_pair() { # DB: the two psql sessions of the baseline, started together
	local db=$1 p1 p2 rc=0
	"$gnu_time" -f '%M' -o "$work/rss.1" "$psql" -X -q -v ON_ERROR_STOP=1 -d "$(dsn_for "$db")" \
		-c "$(idx_sql ib_1 a)" -c "$(idx_sql ib_1 b)" >"$work/pair.1" 2>&1 &
	p1=$!
	"$gnu_time" -f '%M' -o "$work/rss.2" "$psql" -X -q -v ON_ERROR_STOP=1 -d "$(dsn_for "$db")" \
		-c "$(idx_sql ib_2 a)" -c "$(idx_sql ib_2 b)" >"$work/pair.2" 2>&1 &
	p2=$!
	wait "$p1" || rc=1
	wait "$p2" || rc=1
	return "$rc"
}
check_indexes() { # DB WANT: WANT valid indexes named *_idx
	local n
	n=$(psql_q "$1" -c "SELECT count(*) FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE '%\\_idx' AND i.indisvalid AND i.indisready")
	[ "$n" -eq "$2" ] || die "database $1 has $n of $2 valid benchmark indexes"
}

index_build_workload() {
	local r arm t0 t1
	say "index build: two tables of $idx_rows rows"
	fresh_db
	idx_db=$db
	psql_q "$idx_db" -c "CREATE TABLE ib_1 AS SELECT g AS id, (g * 7919) % 1000003 AS a, (g * 104729) % 999983 AS b FROM pg_catalog.generate_series(1::bigint, $idx_rows) g" \
		-c "CREATE TABLE ib_2 AS SELECT * FROM ib_1" -c "VACUUM ANALYZE" >/dev/null
	idx_config "$work/build.cfg" ib_1:a ib_1:b ib_2:a ib_2:b
	say "index build: indexer build -j 2 vs two psql sessions, $idx_reps repetitions"
	for ((r = 0; r <= idx_reps; r++)); do
		for arm in $(rotated "$r" ours pair); do
			psql_q "$idx_db" -c "SET client_min_messages = warning" -c "DROP INDEX IF EXISTS ib_1_a_idx, ib_1_b_idx, ib_2_a_idx, ib_2_b_idx" \
				-c CHECKPOINT >/dev/null
			if [ "$arm" = ours ]; then
				cmd=("$indexer" build -j 2 -c "$work/build.cfg" --dsn "$(dsn_for "$idx_db")")
				if [ "$r" -eq 0 ]; then run_logged "$work/warm.log" "${cmd[@]}"; else timed "build ours" "${cmd[@]}"; fi
			else
				t0=$EPOCHREALTIME
				build_pair "$idx_db" || die "psql index builds failed: $(cat "$work/pair.1" "$work/pair.2")"
				t1=$EPOCHREALTIME
				if [ "$r" -gt 0 ]; then
					samples[build pair]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }') "
					rss[build pair]+="$(sort -n "$work/rss.1" "$work/rss.2" | tail -n 1) "
				fi
			fi
			check_indexes "$idx_db" 4
		done
	done
	drop_db "$idx_db"
}

index_noop_workload() { # M: indexer build over M valid definitions vs SELECT 1
	local m=$1 r arm rr i tabs specs=() ddl
	rr=$(reps_for "$m" "$idx_main")
	say "index no-op: $m definitions, $rr repetitions"
	fresh_db
	tabs=$(((m + 9) / 10))
	ddl=$work/idx_$m.sql
	for ((i = 0; i < m; i++)); do
		if ((i % 10 == 0)); then
			printf 'CREATE TABLE ix_%d (c0 int, c1 int, c2 int, c3 int, c4 int, c5 int, c6 int, c7 int, c8 int, c9 int);\n' $((i / 10))
		fi
		printf 'CREATE INDEX ix_%d_c%d_idx ON ix_%d (c%d);\n' $((i / 10)) $((i % 10)) $((i / 10)) $((i % 10))
		specs+=("ix_$((i / 10)):c$((i % 10))")
	done >"$ddl"
	psql_q "$db" -1 -f "$ddl" >/dev/null
	idx_config "$work/noop_$m.cfg" "${specs[@]}"
	check_indexes "$db" "$m"
	for ((r = 0; r <= rr; r++)); do
		for arm in $(rotated "$r" ours select1 defread); do
			case $arm in
				ours) cmd=("$indexer" build -c "$work/noop_$m.cfg" --dsn "$(dsn_for "$db")") ;;
				select1) cmd=("$psql" -X -q -d "$(dsn_for "$db")" -c 'SELECT 1') ;;
				defread) cmd=("$psql" -X -q -d "$(dsn_for "$db")" -c "$index_read_sql") ;;
			esac
			if [ "$r" -eq 0 ]; then run_logged "$work/idx_noop_$arm.log" "${cmd[@]}"; else timed "idxnoop $m $arm" "${cmd[@]}"; fi
		done
	done
	[ "$m" -ne "$idx_main" ] || syscount idxnoop "$work/noop_$m.cfg" "$indexer" build -c "$work/noop_$m.cfg" --dsn "$(dsn_for "$db")"
	check_indexes "$db" "$m"
	say "index no-op $m: $tabs tables; ours said: $(tail -n 1 "$work/idx_noop_ours.log")"
	drop_db "$db"
}

# ---------------------------------------------------------------------------
# run everything: the main sizes first, then the growth sizes while time allows

read -r -a growth_list <<<"$growth_n"
read -r -a idx_growth_list <<<"$idx_growth"
migration_sizes=$(printf '%s\n' "$n_main" "${growth_list[@]}" | sort -n -u | tr '\n' ' ')
index_sizes=$(printf '%s\n' "$idx_main" "${idx_growth_list[@]}" | sort -n -u | tr '\n' ' ')
stop_at_epoch=""
if [ -n "$stop_at" ]; then
	stop_at_epoch=$(date -d "$stop_at" +%s) || die "BENCH_STOP_AT: not a time: $stop_at"
fi
declare -A size_skipped=() # "migrations N" / "definitions N" -> why
time_left() { # WHAT: false (and the size noted as skipped) once BENCH_STOP_AT has passed
	if [ -n "$stop_at_epoch" ] && [ "$(date +%s)" -ge "$stop_at_epoch" ]; then
		size_skipped[$1]="not measured: BENCH_STOP_AT=$stop_at had passed"
		say "skipping $1: BENCH_STOP_AT=$stop_at has passed"
		return 1
	fi
}

migration_workloads "$n_main"

say "version: migrator --version (and the peers' as context), $reps repetitions"
version_arms=(ours psql)
have dbmate && version_arms+=(dbmate)
have squawk && version_arms+=(squawk)
for ((r = 0; r <= reps; r++)); do
	for arm in $(rotated "$r" "${version_arms[@]}"); do
		case $arm in
			ours) cmd=("$migrator" --version) ;;
			psql) cmd=("$psql" --version) ;;
			dbmate) cmd=("$dbmate" --version) ;;
			squawk) cmd=("$squawk" --version) ;;
		esac
		if [ "$r" -eq 0 ]; then run_logged "$work/warm.log" "${cmd[@]}"; else timed "version $arm" "${cmd[@]}"; fi
	done
done

index_build_workload
index_noop_workload "$idx_main"

# the index no-ops first: they are short
for m in "${idx_growth_list[@]}"; do
	[ "$m" -ne "$idx_main" ] || continue
	if time_left "definitions $m"; then index_noop_workload "$m"; fi
done
for n in "${growth_list[@]}"; do
	[ "$n" -ne "$n_main" ] || continue
	if time_left "migrations $n"; then migration_workloads "$n"; fi
done

# ---------------------------------------------------------------------------
# the report

say "writing $out"
# shellcheck source=bench/report.sh
source "$repo/bench/report.sh"
