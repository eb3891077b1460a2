#!/usr/bin/env bash
#
# run.sh
#     Benchmarks of the migrator, run by hand (never from ctest).  Each one is
#     a ratio against a baseline measured in the same run, on the same
#     throwaway PostgreSQL, interleaved with ours: the machines are shared and
#     noisy, so absolute times mean little and nothing here asserts one.
#
# Usage: bench/run.sh
#     Environment (all optional):
#       BENCH_BUILD_DIR   build directory (default bench/build, git-ignored)
#       BENCH_REPS        timed repetitions of the long benchmarks (default 5)
#       BENCH_FAST_REPS   repetitions of the short no-op benchmark (default 20)
#       BENCH_LOOP_REPS   repetitions of the slow psql-per-file context arm (default 3)
#       BENCH_N_APPLY     migrations applied by benchmark a (default 300)
#       BENCH_N_LINT      files linted by benchmark c (default 1000)
#       BENCH_OUT         the report (default bench/RESULTS.md, overwritten)
#
# Builds the migrator (Release), starts a PostgreSQL with
# tests/harness/cluster.py, runs the benchmarks, writes the report and stops
# the server on exit, whatever happened.  Needs GNU time (/usr/bin/time, the
# Debian package "time") for peak RSS.  See bench/README.md.
#
# bench/run.sh
#
set -euo pipefail
export LC_ALL=C

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

build=${BENCH_BUILD_DIR:-$repo/bench/build}
reps=${BENCH_REPS:-5}
fast_reps=${BENCH_FAST_REPS:-20}
loop_reps=${BENCH_LOOP_REPS:-3}
n_apply=${BENCH_N_APPLY:-300}
n_lint=${BENCH_N_LINT:-1000}
out=${BENCH_OUT:-$repo/bench/RESULTS.md}
python=/usr/bin/python3
gnu_time=/usr/bin/time

die() {
	echo "bench: error: $*" >&2
	exit 1
}
say() {
	echo "bench: $*" >&2
}

for v in reps fast_reps loop_reps n_apply n_lint; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not \"${!v}\""
done

# ---------------------------------------------------------------------------
# what we need

missing=()
[ -x "$python" ] || missing+=(python3)
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || missing+=(gcc)
if ! "$gnu_time" --version 2>&1 | grep -q GNU; then
	missing+=(time)
fi
if [ "${#missing[@]}" -gt 0 ]; then
	echo "bench: missing: ${missing[*]}" >&2
	echo "bench: install with: apt-get install -y ${missing[*]}" >&2
	exit 1
fi

# Connection settings from the caller's environment must not leak into psql
# or the migrator: both are pointed at the throwaway cluster explicitly.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSERVICE \
	PGSERVICEFILE PGOPTIONS PGAPPNAME PGSSLMODE PGTARGETSESSIONATTRS \
	DATABASE_URL MIGRATIONS_DIR PSQLRC

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
	! cmake --build "$build" --target migrator -j "$(nproc)" >>"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	die "build failed"
fi
migrator=$build/migrator/migrator
[ -x "$migrator" ] || die "no migrator at $migrator after the build"
cc_path=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
cc_path=${cc_path:-cc}
# the parser-only baseline of benchmark c, against the same shared libpg_query
if ! "$cc_path" -O2 -Wall -Wextra -o "$build/parse_floor" "$repo/bench/parse_floor.c" \
	-lpg_query >>"$work/build.log" 2>&1; then
	cat "$work/build.log" >&2
	die "could not build bench/parse_floor.c"
fi
parse_floor=$build/parse_floor

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
host=$(json_field host)
port=$(json_field port)
bindir=$(json_field bindir)
superuser=$(json_field superuser)
# The real psql binary: /usr/bin/psql on Debian is pg_wrapper, a Perl script
# whose start-up would slow the baseline and flatter our ratio.
psql=$bindir/psql

dsn_for() {
	printf 'host=%s port=%s user=%s dbname=%s' "$host" "$port" "$superuser" "$1"
}
psql_admin() {
	"$psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$superuser" -d postgres "$@"
}
psql_db() {
	local db=$1
	shift
	"$psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$superuser" -d "$db" "$@"
}
db_seq=0
# Creates a fresh, empty database and sets $db to its name.
fresh_db() {
	db_seq=$((db_seq + 1))
	db="bench_$db_seq"
	psql_admin -c "CREATE DATABASE $db" >/dev/null
}
drop_db() {
	psql_admin -c "DROP DATABASE IF EXISTS $1" >/dev/null
}

# ---------------------------------------------------------------------------
# measuring

declare -A samples=() # key -> "ms ms ms ...", wall time, one per repetition
declare -A cpu=()     # key -> "ms ms ms ...", user + system time of the client processes
declare -A rss=()     # key -> "kB kB ...", peak RSS

# run_logged LOG CMD...: run CMD with its output in LOG; on failure show it.
run_logged() {
	local log=$1
	shift
	if ! "$@" >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "failed: $*"
	fi
}

# timed KEY CMD...: run CMD once, add its wall time (ms) to samples[KEY] and
# the CPU time of the processes it ran (user + system, ms) to cpu[KEY].
# $EPOCHREALTIME and the "times" builtin are read by this shell itself, so no
# fork falls inside the measured span except CMD's own.
timed() {
	local key=$1 t0 t1
	shift
	times >"$work/times.0"
	t0=$EPOCHREALTIME
	run_logged "$work/last.log" "$@"
	t1=$EPOCHREALTIME
	times >"$work/times.1"
	samples[$key]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) * 1000 }') "
	cpu[$key]+="$(children_cpu_ms "$work/times.0" "$work/times.1") "
}

# children_cpu_ms BEFORE AFTER: user + system ms of the shell's children
# between two outputs of "times" (second line: children, "0m1.234s 0m0.567s")
children_cpu_ms() {
	awk 'function sec(x, p) { sub(/s$/, "", x); split(x, p, "m"); return p[1] * 60 + p[2] }
		FNR == 2 { v[FILENAME == ARGV[1] ? 0 : 1] = sec($1) + sec($2) }
		END { printf "%.1f", (v[1] - v[0]) * 1000 }' "$1" "$2"
}

# timed_rss KEY CMD...: as timed, under GNU time, also adding the peak RSS
# (kB) to rss[KEY].  Both arms of a comparison use the same wrapper.
timed_rss() {
	local key=$1
	shift
	timed "$key" "$gnu_time" -f '%M' -o "$work/rss" "$@"
	rss[$key]+="$(tail -n 1 "$work/rss") "
}

# stats LIST: "median min" of the numbers in LIST
stats() {
	# shellcheck disable=SC2086 # LIST is a space-separated list of numbers
	printf '%s\n' $1 | sort -g | awk '
		{ v[NR] = $1 }
		END {
			if (NR % 2) med = v[(NR + 1) / 2]; else med = (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.3f %.3f\n", med, v[1]
		}'
}
median_of() { stats "$1" | cut -d' ' -f1; }
# paired OURS BASE: median of OURS[i] / BASE[i], i.e. of the ratios within each
# repetition, where both arms ran minutes apart at most (slow drift cancels)
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
# calc EXPR: floating-point arithmetic
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }
fmt_ms() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f ms", v; else if (v >= 10) printf "%.1f ms", v; else printf "%.2f ms", v }'; }
fmt_ratio() { awk -v v="$1" 'BEGIN { printf "%.2f×", v }'; }
fmt_mb() { awk -v v="$1" 'BEGIN { printf "%.1f MB", v / 1024 }'; } # kB in, MB (2^20) out

# ---------------------------------------------------------------------------
# generated inputs

# Benchmark a: N small migrations, each a new table, a column and a comment.
apply_dir=$work/apply
mkdir "$apply_dir"
for ((i = 1; i <= n_apply; i++)); do
	printf -- '-- generated by bench/run.sh: apply benchmark migration %d\nCREATE TABLE t_%d (\n    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n    name text NOT NULL,\n    created_at timestamptz NOT NULL DEFAULT now()\n);\nALTER TABLE t_%d ADD COLUMN note text;\nCOMMENT ON TABLE t_%d IS '\''benchmark table %d'\'';\n' \
		"$i" "$i" "$i" "$i" "$i" >"$apply_dir/$(printf '%04d' "$i")_t_$i.sql"
done
# The baseline script: one psql session, each file in its own transaction.
for f in "$apply_dir"/*.sql; do
	printf 'BEGIN;\n\\i %s\nCOMMIT;\n' "$f"
done >"$work/apply_all.psql"

# Benchmark c: files holding a mix of DDL, strings, comments, a PL/pgSQL
# function and a DO block with dollar-quoted bodies.
gen_lint_file() {
	local i=$1
	cat <<SQL
-- generated by bench/run.sh: lint corpus file $i
-- a mix of DDL a real migration holds, with strings, comments and dollar quotes
CREATE TABLE IF NOT EXISTS l_$i (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL,
    status text NOT NULL DEFAULT 'new',  -- 'new', 'done'; a semicolon in a comment
    payload jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX l_${i}_account_idx ON l_$i (account_id);
ALTER TABLE l_$i ADD COLUMN note text;
ALTER TABLE l_$i ADD CONSTRAINT l_${i}_status_chk
    CHECK (status IN ('new', 'done', 'semi;colon')) NOT VALID;
ALTER TABLE l_$i VALIDATE CONSTRAINT l_${i}_status_chk;
COMMENT ON COLUMN l_$i.note IS 'free text; may hold ''quotes'' and \$\$dollars\$\$';
/* a block comment; with a semicolon */
CREATE OR REPLACE FUNCTION l_${i}_touch() RETURNS trigger
LANGUAGE plpgsql AS \$fn\$
BEGIN
    -- a body the PL/pgSQL parser reads too
    IF NEW.created_at IS NULL THEN
        NEW.created_at := now();
    END IF;
    RETURN NEW;
END
\$fn\$;
CREATE TRIGGER l_${i}_touch BEFORE INSERT ON l_$i
    FOR EACH ROW EXECUTE FUNCTION l_${i}_touch();
DO \$do\$
DECLARE
    n integer;
BEGIN
    SELECT count(*) INTO n FROM pg_catalog.pg_type WHERE typname = 'l_${i}_kind';
    IF n = 0 THEN
        CREATE TYPE l_${i}_kind AS ENUM ('a', 'b', 'c');
    END IF;
    RAISE NOTICE 'file % done; % types', $i, n;
END
\$do\$;
CREATE OR REPLACE VIEW l_${i}_recent AS
    SELECT id, status, payload ->> 'kind' AS kind
    FROM l_$i
    WHERE created_at > now() - interval '1 day';
SQL
}
lint_dir=$work/lint
lint_one_dir=$work/lint_one
mkdir "$lint_dir" "$lint_one_dir"
for ((i = 1; i <= n_lint; i++)); do
	gen_lint_file "$i" >"$lint_dir/$(printf '%04d' "$i")_l_$i.sql"
done
cat "$lint_dir"/*.sql >"$lint_one_dir/1_all.sql"
lint_bytes=$(cat "$lint_dir"/*.sql | wc -c)
lint_stmts_per_file=11

# ---------------------------------------------------------------------------
# a. apply overhead

loop_reps=$((reps < loop_reps ? reps : loop_reps))
say "a. applying $n_apply migrations: psql (one session) vs migrator, $reps times; psql (one process a file), $loop_reps times"
# psql_argv DB: sets cmd to the psql command line of the baselines
psql_argv() {
	cmd=("$psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$superuser" -d "$1")
}
apply_base() {
	psql_argv "$1"
	"${cmd[@]}" -f "$work/apply_all.psql"
}
apply_loop() {
	local f
	psql_argv "$1"
	for f in "$apply_dir"/*.sql; do
		"${cmd[@]}" -1 -f "$f"
	done
}
apply_ours() { "$migrator" up --dir "$apply_dir" --dsn "$(dsn_for "$1")"; }
check_applied() {
	local db=$1 want_history=$2 n
	n=$(psql_db "$db" -c "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = 'note' WHERE c.relname LIKE 't\\_%' AND c.relkind = 'r' AND pg_catalog.obj_description(c.oid, 'pg_class') IS NOT NULL")
	[ "$n" -eq "$n_apply" ] || die "database $db has $n of $n_apply benchmark tables"
	if [ "$want_history" -eq 1 ]; then
		n=$(psql_db "$db" -c "SELECT count(*) FROM public.schema_migrations WHERE status = 'applied'")
		[ "$n" -eq "$n_apply" ] || die "database $db has $n of $n_apply history rows"
	fi
}

# One untimed round first: warms the caches and checks the result.  The
# shell loop runs the same psql as the baseline, so it needs no warm-up of
# its own; its result is checked in the timed rounds.
fresh_db
run_logged "$work/warm.log" apply_base "$db"
check_applied "$db" 0
drop_db "$db"
fresh_db
run_logged "$work/up_warm.log" apply_ours "$db"
check_applied "$db" 1
drop_db "$db"

noop_db=""
for ((r = 1; r <= reps; r++)); do
	# rotate the order, so that drift in the machine's load hits every arm
	case $((r % 3)) in
		1) order="base ours loop" ;;
		2) order="ours loop base" ;;
		0) order="loop base ours" ;;
	esac
	for arm in $order; do
		# the loop is slow and only context: fewer rounds
		[ "$arm" = loop ] && [ "$r" -gt "$loop_reps" ] && continue
		fresh_db
		psql_argv "$db"
		case $arm in
			base) timed_rss a_base "${cmd[@]}" -f "$work/apply_all.psql" ;;
			loop) timed a_loop apply_loop "$db" ;;
			ours) timed_rss a_ours "$migrator" up --dir "$apply_dir" --dsn "$(dsn_for "$db")" ;;
		esac
		check_applied "$db" "$([ "$arm" = ours ] && echo 1 || echo 0)"
		if [ "$arm" = ours ] && [ -z "$noop_db" ]; then
			noop_db=$db # kept, fully migrated, for benchmark b
		else
			drop_db "$db"
		fi
	done
done
check_applied "$noop_db" 1

# ---------------------------------------------------------------------------
# b. no-op run

say "b. no-op up on a current database vs psql -c 'SELECT 1', $fast_reps times"
noop_base() {
	psql_argv "$noop_db"
	"${cmd[@]}" -c 'SELECT 1'
}
noop_ours() { "$migrator" up --dir "$apply_dir" --dsn "$(dsn_for "$noop_db")"; }
noop_check() { "$migrator" check --dir "$apply_dir" --dsn "$(dsn_for "$noop_db")"; }
run_logged "$work/warm.log" noop_base
run_logged "$work/noop_warm.log" noop_ours
grep -q "nothing to apply" "$work/noop_warm.log" || die "the no-op run applied something: $(cat "$work/noop_warm.log")"
run_logged "$work/warm.log" noop_check
for ((r = 1; r <= fast_reps; r++)); do
	if ((r % 2)); then
		timed b_base noop_base
		timed b_ours noop_ours
		timed b_check noop_check
	else
		timed b_check noop_check
		timed b_ours noop_ours
		timed b_base noop_base
	fi
done

# ---------------------------------------------------------------------------
# c. lint throughput

say "c. linting $n_lint files: libpg_query parse alone vs migrator lint, $reps times"
lint_base() { "$parse_floor" "$lint_dir"/*.sql; }
lint_ours() { "$migrator" lint --dir "$lint_dir"; }
lint_one() { "$migrator" lint --dir "$lint_one_dir"; }
run_logged "$work/warm.log" lint_base
run_logged "$work/lint_warm.log" lint_ours
lint_summary=$(tail -n 1 "$work/lint_warm.log")
case $lint_summary in
	"$n_lint files checked: 0 errors"*) ;;
	*) die "unexpected lint result: $lint_summary" ;;
esac
run_logged "$work/warm.log" lint_one
for ((r = 1; r <= reps; r++)); do
	case $((r % 3)) in
		1) order="base ours one" ;;
		2) order="ours one base" ;;
		0) order="one base ours" ;;
	esac
	for arm in $order; do
		case $arm in
			base) timed_rss c_base "$parse_floor" "$lint_dir"/*.sql ;;
			ours) timed_rss c_ours "$migrator" lint --dir "$lint_dir" ;;
			one) timed_rss c_one "$migrator" lint --dir "$lint_one_dir" ;;
		esac
	done
done

# ---------------------------------------------------------------------------
# d. memory: a plain libpq client as the baseline (a and c measured theirs)

say "d. peak RSS of psql -c 'SELECT 1' and of a no-op up, $reps times"
for ((r = 1; r <= reps; r++)); do
	psql_argv "$noop_db"
	timed_rss d_psql "${cmd[@]}" -c 'SELECT 1'
	timed_rss d_noop "$migrator" up --dir "$apply_dir" --dsn "$(dsn_for "$noop_db")"
done

# ---------------------------------------------------------------------------
# e. messages sent to the server: counted, not timed, so free of noise

# sends VAR CMD...: set VAR to the number of sendto() calls of CMD (libpq
# sends each query, with its parameters, in one call and waits for the answer
# before the next, so this counts round trips)
sends() {
	local var=$1
	shift
	if ! strace -f -qq -e trace=sendto -o "$work/strace" "$@" >"$work/last.log" 2>&1; then
		tail -n 30 "$work/last.log" >&2
		die "failed under strace: $*"
	fi
	printf -v "$var" '%s' "$(grep -c 'sendto(' "$work/strace")"
}
have_strace=0
e_base=0 e_ours=0 e_noop_base=0 e_noop_ours=0 # set by sends
if command -v strace >/dev/null && strace -qq -o /dev/null true 2>/dev/null; then
	have_strace=1
	say "e. counting the messages each program sends (strace, one run each)"
	fresh_db
	psql_argv "$db"
	sends e_base "${cmd[@]}" -f "$work/apply_all.psql"
	drop_db "$db"
	fresh_db
	sends e_ours "$migrator" up --dir "$apply_dir" --dsn "$(dsn_for "$db")"
	drop_db "$db"
	psql_argv "$noop_db"
	sends e_noop_base "${cmd[@]}" -c 'SELECT 1'
	sends e_noop_ours "$migrator" up --dir "$apply_dir" --dsn "$(dsn_for "$noop_db")"
else
	say "e. skipped: strace is not installed or cannot trace here (apt-get install -y strace)"
fi

# ---------------------------------------------------------------------------
# the report

say "writing $out"
server_version=$(psql_admin -c 'SHOW server_version')
server_full=$(psql_admin -c 'SELECT version()')
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem_total=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
os_name=$(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')
git_commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git -C "$repo" status --porcelain 2>/dev/null | wc -l)
pkgs=$(dpkg-query -W -f='${Package} ${Version}, ' libpg-query-dev 'libpg-query1504.0*' libpq5 libpq-dev 2>/dev/null | sed 's/, $//')
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
stopwatch_end=$EPOCHREALTIME

# row LABEL BASELINE BASE_KEY OURS_KEY: a line of the time table
row() {
	local bm bn om on
	read -r bm bn <<<"$(stats "${samples[$3]}")"
	read -r om on <<<"$(stats "${samples[$4]}")"
	printf '| %s | %s | %s (%s) | %s (%s) | **%s** | %s | %s |\n' "$1" "$2" \
		"$(fmt_ms "$bm")" "$(fmt_ms "$bn")" "$(fmt_ms "$om")" "$(fmt_ms "$on")" \
		"$(fmt_ratio "$(calc "$om / $bm")")" "$(fmt_ratio "$(calc "$on / $bn")")" \
		"$(fmt_ratio "$(paired "${samples[$4]}" "${samples[$3]}")")"
}
# cpu_row LABEL BASELINE BASE_KEY OURS_KEY: a line of the CPU table
cpu_row() {
	local b o
	b=$(median_of "${cpu[$3]}")
	o=$(median_of "${cpu[$4]}")
	printf '| %s | %s | %s | %s | **%s** |\n' "$1" "$2" "$(fmt_ms "$b")" "$(fmt_ms "$o")" \
		"$(awk -v b="$b" -v o="$o" 'BEGIN { if (b > 0) printf "%.2f×", o / b; else print "n/a" }')"
}
# rss_row LABEL BASELINE BASE_KEY OURS_KEY: a line of the memory table
rss_row() {
	local b o
	b=$(median_of "${rss[$3]}")
	o=$(median_of "${rss[$4]}")
	printf '| %s | %s | %s | %s | **%s** |\n' "$1" "$2" "$(fmt_mb "$b")" "$(fmt_mb "$o")" \
		"$(fmt_ratio "$(calc "$o / $b")")"
}
fmt_per() { awk -v v="$1" -v n="$n_apply" 'BEGIN { printf "%.2f", v / n }'; } # COUNT -> COUNT per migration
throughput() { # MS -> "F files/s, M MB/s"
	awk -v ms="$1" -v n="$n_lint" -v b="$lint_bytes" \
		'BEGIN { printf "%.0f files/s, %.1f MB/s", n / (ms / 1000), b / 1e6 / (ms / 1000) }'
}
a_base_med=$(median_of "${samples[a_base]}")
a_ours_med=$(median_of "${samples[a_ours]}")
a_loop_med=$(median_of "${samples[a_loop]}")
b_base_med=$(median_of "${samples[b_base]}")
b_ours_med=$(median_of "${samples[b_ours]}")
c_base_med=$(median_of "${samples[c_base]}")
c_ours_med=$(median_of "${samples[c_ours]}")
c_one_med=$(median_of "${samples[c_one]}")

{
	echo "# Benchmark results"
	echo
	echo "Written by \`bench/run.sh\` (see \`bench/README.md\` for what each benchmark"
	echo "measures and how to read it); overwritten by every run. Every ratio compares"
	echo "two programs measured in the same run, interleaved, against the same server:"
	echo "read the ratios, not the absolute times."
	echo
	echo "## Machine and versions"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC') |"
	echo "| machine | $(nproc) CPUs ($cpu_model), $mem_total memory; load average (1, 5, 15 min) $load_start at the start, $load_end at the end |"
	echo "| OS | $os_name, kernel $(uname -r) ($(uname -m)) |"
	echo "| compiler | $("$cc_path" --version | head -n 1), CMake Release |"
	echo "| PostgreSQL | $server_version: \`$server_full\` (throwaway cluster from \`tests/harness/cluster.py\`: fsync off, Unix socket) |"
	echo "| psql | $("$psql" --version) (\`$psql\`) |"
	echo "| libraries | $pkgs |"
	echo "| migrator | $("$migrator" --version), commit \`$git_commit\`$([ "$git_dirty" -gt 0 ] && echo " with $git_dirty uncommitted paths in the working tree") |"
	echo "| repetitions | $reps (a, c, d; $loop_reps for a'), $fast_reps (b); the whole run took $(awk -v a="$stopwatch_start" -v b="$stopwatch_end" 'BEGIN { printf "%.0f", b - a }') s |"
	echo
	echo "## Wall time"
	echo
	echo "| benchmark | baseline | baseline: median (min) | migrator: median (min) | ratio of medians | ratio of mins | paired ratio |"
	echo "|---|---|---|---|---|---|---|"
	row "a. apply $n_apply migrations, \`up\` into a fresh database" \
		"one \`psql\` session, \`BEGIN; \\i file; COMMIT\` per file" a_base a_ours
	row "a'. the same (context)" "one \`psql -1 -f file\` process per file" a_loop a_ours
	row "b. no-op \`up\`, $n_apply applied files" "\`psql -c 'SELECT 1'\`" b_base b_ours
	row "b'. \`check\` on the same (context)" "\`psql -c 'SELECT 1'\`" b_base b_check
	row "c. \`lint\` of $n_lint files" \
		"\`pg_query_parse_protobuf()\` of each file (\`bench/parse_floor.c\`)" c_base c_ours
	row "c'. \`lint\` of the same SQL as 1 file (context)" \
		"\`migrator lint\` of the $n_lint files (row c)" c_ours c_one
	echo
	echo "Paired ratio: the median of the ratios within each repetition."
	echo
	echo "- a. per-migration overhead of \`up\` over the one-session psql baseline:" \
		"**$(fmt_ms "$(calc "($a_ours_med - $a_base_med) / $n_apply")")** per migration" \
		"(psql: $(fmt_ms "$(calc "$a_base_med / $n_apply")"), migrator: $(fmt_ms "$(calc "$a_ours_med / $n_apply")"));" \
		"a shell loop of psql processes costs $(fmt_ms "$(calc "$a_loop_med / $n_apply")") per migration."
	echo "- b. a deploy with nothing to apply costs $(fmt_ms "$(calc "$b_ours_med - $b_base_med")") more than opening a connection and running \`SELECT 1\`."
	echo "- c. corpus: $n_lint files, $lint_stmts_per_file statements each (a PL/pgSQL function and a \`DO\` block with dollar-quoted bodies among them), $(awk -v b="$lint_bytes" 'BEGIN { printf "%.2f", b / 1e6 }') MB (10^6 bytes);" \
		"\`$lint_summary\`."
	echo "  \`migrator lint\`: $(throughput "$c_ours_med"); parser alone: $(throughput "$c_base_med");" \
		"the same SQL as one file: $(throughput "$c_one_med")."
	echo
	echo "## Client CPU (user + system of the client processes, median)"
	echo
	echo "The server's work is not in these numbers: they show what the client itself costs."
	echo
	echo "| benchmark | baseline | baseline | migrator | ratio |"
	echo "|---|---|---|---|---|"
	cpu_row "a. apply $n_apply" "one \`psql\` session" a_base a_ours
	cpu_row "a'. apply $n_apply (context)" "one \`psql\` process per file" a_loop a_ours
	cpu_row "b. no-op \`up\`" "\`psql -c 'SELECT 1'\`" b_base b_ours
	cpu_row "c. \`lint\` of $n_lint files" "\`parse_floor\`" c_base c_ours
	cpu_row "c'. \`lint\`, the same SQL as 1 file" "\`migrator lint\` of the $n_lint files" c_ours c_one
	echo
	echo "## Messages sent to the server (strace, one run each)"
	echo
	if [ "$have_strace" -eq 1 ]; then
		echo "Counted, not timed: the same on every machine until the code changes."
		echo
		echo "| what | baseline | baseline | migrator | migrator − baseline |"
		echo "|---|---|---|---|---|"
		echo "| a. apply $n_apply | one \`psql\` session | $e_base ($(fmt_per "$e_base") per migration) | $e_ours ($(fmt_per "$e_ours") per migration) | **$(fmt_per "$((e_ours - e_base))") per migration** |"
		echo "| b. no-op \`up\` | \`psql -c 'SELECT 1'\` | $e_noop_base | $e_noop_ours | **$((e_noop_ours - e_noop_base))** |"
	else
		echo "Skipped: strace is not installed here (\`apt-get install -y strace\`)."
	fi
	echo
	echo "## Peak RSS (GNU time, median)"
	echo
	echo "| what | baseline | baseline | migrator | ratio |"
	echo "|---|---|---|---|---|"
	rss_row "d. \`up\`, $n_apply migrations into a fresh database" "\`psql -c 'SELECT 1'\` (a libpq client)" d_psql a_ours
	rss_row "d. no-op \`up\`, $n_apply applied files" "\`psql -c 'SELECT 1'\`" d_psql d_noop
	rss_row "d. \`lint\`, $n_lint files" "\`psql -c 'SELECT 1'\`" d_psql c_ours
	rss_row "d'. apply $n_apply (context)" "one \`psql\` session applying the same files" a_base a_ours
	rss_row "d'. lint $n_lint (context)" "\`parse_floor\` over the same files" c_base c_ours
	rss_row "d'. lint, the same SQL as 1 file (context)" "\`migrator lint\` of the $n_lint files" c_ours c_one
	echo
	echo "## Raw samples"
	echo
	echo "In the order they ran (repetition 1 first)."
	echo
	for k in a_base a_loop a_ours b_base b_ours b_check c_base c_ours c_one; do
		echo "- \`$k\` wall ms: ${samples[$k]% }; CPU ms: ${cpu[$k]% }"
	done
	for k in a_base a_ours c_base c_ours c_one d_psql d_noop; do
		echo "- \`$k\` peak RSS kB: ${rss[$k]% }"
	done
} >"$work/RESULTS.md"
mv "$work/RESULTS.md" "$out"
say "done: $out"
