# report.sh
#     The report and the growth chart of bench/run.sh, sourced by it at the
#     end (it reads run.sh's variables and samples; never run on its own).
#
# shellcheck shell=bash
# shellcheck disable=SC2154 # every variable here is set by bench/run.sh

declare -A arm_name=(
	[ours]="toolkit"
	[psql]="psql, one session, \`BEGIN; \\i file; COMMIT\` per file"
	[psqlrec]="psql, one session, \`BEGIN; \\i file; INSERT\` of a history row\`; COMMIT\` per file"
	[dbmate]="dbmate $dbmate_version (Go binary)"
	[sqlmigrate]="sql-migrate (Debian)"
	[npgm]="node-pg-migrate $npgm_version"
	[select1]="\`psql -X -c 'SELECT 1'\`"
	[histread]="\`psql -X -c\` reading the toolkit's history table (the least a no-op does)"
	[defread]="\`psql -X -c\` reading the definitions (\`pg_get_indexdef\`, the least a check of them does)"
	[floor]="bare parser (\`bench/parse_floor.c\`)"
	[squawk]="squawk $squawk_version (Rust binary)"
	[pair]="two psql sessions started together, one per table"
	[check]="\`migrator check\` (all applied)"
	[idxnoop]="\`indexer build\` (nothing to do)"
)
declare -A ours_name=(
	[apply]="\`migrator up\`" [noop]="\`migrator up\` (nothing to apply)" [lint]="\`migrator lint\`"
	[version]="\`migrator --version\`" [build]="\`indexer build -j 2\`" [idxnoop]="\`indexer build\` (nothing to do)"
)

elapsed_s() { awk -v a="$stopwatch_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }
# table KEYPREFIX ARMS...: one row per arm of the workload KEYPREFIX ("apply 1000")
table() {
	local p=$1 arm k med min max o om arm_label
	shift
	om=$(median_of "${samples[$p ours]}")
	echo "| arm | runs | median | min – max | peak RSS (median) | toolkit ÷ arm (medians) | paired |"
	echo "|---|---|---|---|---|---|---|"
	for arm in "$@"; do
		k="$p $arm"
		[ -n "${samples[$k]:-}" ] || continue
		read -r med min max <<<"$(stats "${samples[$k]}")"
		if [ "$arm" = ours ]; then
			o="—"
			arm_label=${ours_name[${p%% *}]}
		elif [ "$p" = version ]; then
			arm_label="\`$arm --version\`"
			o="**$(fmt_ratio "$(calc "$om / $med")")** | $(fmt_ratio "$(paired "${samples[$p ours]}" "${samples[$k]}")")"
		else
			o="**$(fmt_ratio "$(calc "$om / $med")")** | $(fmt_ratio "$(paired "${samples[$p ours]}" "${samples[$k]}")")"
			arm_label=${arm_name[$arm]}
		fi
		# a second arm of ours: its ratios are in the headline
		[ "$arm" = ours ] || [ "$arm" = check ] && o="— | —"
		printf '| %s | %s | %s | %s – %s | %s | %s |\n' "$arm_label" "$(wc -w <<<"${samples[$k]}")" \
			"$(fmt_ms "$med")" "$(fmt_ms "$min")" "$(fmt_ms "$max")" "$(fmt_mb "$(median_of "${rss[$k]}")")" "$o"
	done
}

# the growth data: one line per size, one column per arm (medians, ms)
growth_data() { # WORKLOAD SIZES ARMS...
	local w=$1 sizes=$2 n arm
	shift 2
	echo "# $w: size, then the median ms of: $*"
	for n in $sizes; do
		printf '%s' "$n"
		for arm in "$@"; do
			if [ -n "${samples[$w $n $arm]:-}" ]; then
				printf ' %s' "$(median_of "${samples[$w $n $arm]}")"
			else
				printf ' NaN'
			fi
		done
		echo
	done
}
growth_table() { # WORKLOAD SIZES ARMS...: median per size and the per-item cost
	local w=$1 sizes=$2 n arm line first last fn ln
	shift 2
	printf '| arm |'
	for n in $sizes; do printf ' %s |' "$n"; done
	echo " per item, smallest → largest size |"
	printf '|---|'
	for n in $sizes; do printf -- '---|'; done
	echo "---|"
	for arm in "$@"; do
		line="| ${arm_name[$arm]:-} |"
		[ "$arm" = ours ] && line="| ${ours_name[$w]} |"
		first="" last=""
		for n in $sizes; do
			if [ -n "${samples[$w $n $arm]:-}" ]; then
				line+=" $(fmt_ms "$(median_of "${samples[$w $n $arm]}")") |"
				[ -n "$first" ] || {
					first=$(median_of "${samples[$w $n $arm]}")
					fn=$n
				}
				last=$(median_of "${samples[$w $n $arm]}")
				ln=$n
			else
				line+=" – |"
			fi
		done
		if [ -n "$first" ]; then
			line+=" $(awk -v a="$first" -v b="$last" -v m="$fn" -v n="$ln" 'BEGIN { printf "%.3f → %.3f ms", a / m, b / n }') |"
		fi
		echo "$line"
	done
}

# the counts of bench/syscounts.py, one row per counted run
syscount_table() {
	local arm label
	if [ "$have_strace" -ne 1 ]; then
		echo "Not counted: strace is not installed (\`apt-get install -y strace\`) or may not trace here."
		return
	fi
	echo "Each tool's no-op once more, under \`strace -f\` (untimed; \`bench/syscounts.py\`): $n_main migrations"
	echo "applied, $idx_main index definitions present. *Files* are the migration files or the definitions file"
	echo "(opens of anything else, libraries first, are counted apart); *messages* are the protocol messages the"
	echo "client wrote to the server (startup packet included), with their type letters (Q simple query; P B D E S"
	echo "extended protocol; X terminate); *socket writes/reads* are the system calls that carried them."
	echo
	echo "| run | files opened | reads of them | other opens (libraries) | connections | messages sent | socket writes | socket reads |"
	echo "|---|---|---|---|---|---|---|---|"
	for arm in ours check idxnoop select1 dbmate; do
		[ -n "${syscounts[$arm]:-}" ] || continue
		label=${arm_name[$arm]}
		[ "$arm" = ours ] && label=${ours_name[noop]}
		"$python" -c '
import json, sys
c = json.loads(sys.argv[2])
g = lambda k: c.get(k, 0)
print("| %s | %d | %d | %d (%d) | %d | %d (%s) | %d | %d |" % (
    sys.argv[1], g("opened, ours"), g("reads, ours"), g("opened, other") + g("opened, libraries"),
    g("opened, libraries"), g("connections"), g("messages"), c.get("message kinds", ""),
    g("socket writes"), g("socket reads")))' "$label" "${syscounts[$arm]}"
	done
}

draw_chart() {
	local gp
	gp=$(command -v gnuplot || true)
	if [ -z "$gp" ]; then
		say "gnuplot is missing: no chart (apt-get install -y gnuplot-nox)"
		chart_note="No chart: gnuplot was not installed (\`apt-get install -y gnuplot-nox\`)."
		return
	fi
	growth_data apply "$migration_sizes" "${apply_arms[@]}" >"$work/apply.dat"
	growth_data noop "$migration_sizes" "${noop_arms[@]}" >"$work/noop.dat"
	growth_data lint "$migration_sizes" "${lint_arms[@]}" >"$work/lint.dat"
	growth_data idxnoop "$index_sizes" ours select1 >"$work/idxnoop.dat"
	plot_cmd() { # FILE ARMS...: a gnuplot "plot" of every arm's column
		local f=$1 i=2 arm sep=""
		shift
		printf 'plot '
		for arm in "$@"; do
			printf '%s"%s" using 1:%d with linespoints title "%s"' "$sep" "$f" "$i" "$arm"
			sep=", "
			i=$((i + 1))
		done
		echo
	}
	{
		echo "set terminal pngcairo size 1400,1000 font ',10' noenhanced"
		echo "set output '$chart'"
		echo "set multiplot layout 2,2 title 'bench/run.sh growth ($(date -u +%Y-%m-%d)): median wall time, log-log; a straight line of slope 1 is linear'"
		echo "set logscale xy; set grid; set key top left; set ylabel 'ms'"
		echo "set xlabel 'migrations'; set title 'apply N migrations'"
		plot_cmd "$work/apply.dat" "${apply_arms[@]}"
		echo "set title 'no-op with N applied'"
		plot_cmd "$work/noop.dat" "${noop_arms[@]}"
		echo "set title 'lint N files'"
		plot_cmd "$work/lint.dat" "${lint_arms[@]}"
		echo "set xlabel 'index definitions'; set title 'indexer no-op over N valid definitions'"
		plot_cmd "$work/idxnoop.dat" ours select1
		echo "unset multiplot"
	} >"$work/chart.gp"
	if "$gp" "$work/chart.gp" 2>"$work/gnuplot.log"; then
		chart_note="![growth chart]($(basename "$chart"))"
	else
		cat "$work/gnuplot.log" >&2
		chart_note="No chart: gnuplot failed."
	fi
}

chart_note=""
draw_chart

npm_version() { sed -n 's/^ *"version": "\(.*\)",$/\1/p' "$peers/node_modules/$1/package.json" 2>/dev/null | head -n 1; }
sqlmigrate_pkg=$(dpkg-query -W -f='${Version}' sql-migrate 2>/dev/null || echo "not installed")
git_commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git -C "$repo" status --porcelain -- . ':!bench' 2>/dev/null | wc -l)
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "# Benchmark results: the toolkit and its peers"
	echo
	[ -z "$label" ] || {
		echo "**$label**"
		echo
	}
	echo "Written by \`bench/run.sh\` (see \`bench/README.md\`); overwritten by every run. Every arm ran"
	echo "in the same run, against the same throwaway server, over the same DSN (TCP on 127.0.0.1,"
	echo "trust, \`sslmode=disable\`), interleaved with the others in a rotating order after one untimed"
	echo "warm-up. Times are wall-clock medians with their spread (min – max); ratios are toolkit ÷ peer"
	echo "(below 1× the toolkit is faster). The machine is shared and was loaded during the run (load"
	echo "average below): read the ratios, not the absolute times."
	echo
	echo "## Machine and versions"
	echo
	echo "| | |"
	echo "|---|---|"
	echo "| date | $(date -u '+%Y-%m-%d %H:%M:%S UTC'); the whole run took $(elapsed_s) s |"
	echo "| machine | $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory, shared with other work |"
	echo "| load average (1, 5, 15 min) | $load_start at the start, $load_end at the end |"
	echo "| OS | $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"'), kernel $(uname -r) |"
	echo "| PostgreSQL | $(psql_q postgres -c 'SHOW server_version') (throwaway cluster of \`tests/harness/cluster.py\`: fsync off) |"
	echo "| psql | $("$psql" --version) (\`$psql\`, the server package's binary, not Debian's Perl wrapper) |"
	echo "| toolkit | $("$migrator" --version), $("$indexer" --version 2>&1 | head -n 1), commit \`$git_commit\`$([ "$git_dirty" -gt 0 ] && echo " with $git_dirty uncommitted paths outside bench/"), CMake Release |"
	echo "| dbmate | $(have dbmate && "$dbmate" --version 2>&1 | head -n 1 || echo "skipped: ${skipped[dbmate]}") (npm \`@dbmate/linux-x64@$(npm_version @dbmate/linux-x64)\`, the Go binary called directly) |"
	echo "| sql-migrate | Debian package \`sql-migrate\` $sqlmigrate_pkg: a 2019 snapshot of rubenv/sql-migrate, the only build these registries offer |"
	echo "| node-pg-migrate | $(npm_version node-pg-migrate) with pg $(npm_version pg), node $("${node:-false}" --version 2>/dev/null || echo "missing") (\`--no-single-transaction\`: one transaction per migration, as the others) |"
	echo "| squawk | $(have squawk && "$squawk" --version 2>&1 | head -n 1 || echo "skipped: ${skipped[squawk]}") (npm \`@squawk-cli/linux-x64@$(npm_version @squawk-cli/linux-x64)\`, the binary called directly) |"
	echo "| not measured | **Flyway** and **golang-migrate**: neither is installable from the registries this machine reaches (npm, Debian); not guessed |"
	for arm in "${!skipped[@]}"; do echo "| skipped | $arm: ${skipped[$arm]} |"; done
	for k in "${!size_skipped[@]}"; do echo "| growth size skipped | $k: ${size_skipped[$k]} |"; done
	echo "| repetitions | $reps at $n_main migrations and $idx_main definitions, $small_reps below, $big_reps above; index build $idx_reps |"
	echo
	echo "## Headline: toolkit ÷ peer, medians at $n_main migrations"
	echo
	echo "| workload | toolkit | peer | peer median | toolkit ÷ peer |"
	echo "|---|---|---|---|---|"
	for w in apply noop lint; do
		case $w in apply) arms=("${apply_arms[@]}") ;; noop) arms=("${noop_arms[@]}") ;; lint) arms=("${lint_arms[@]}") ;; esac
		for arm in "${arms[@]}"; do
			[ "$arm" = ours ] || [ "$arm" = check ] && continue
			om=$(median_of "${samples[$w $n_main ours]}")
			pm=$(median_of "${samples[$w $n_main $arm]}")
			echo "| $w $n_main | ${ours_name[$w]} $(fmt_ms "$om") | ${arm_name[$arm]} | $(fmt_ms "$pm") | **$(fmt_ratio "$(calc "$om / $pm")")** |"
		done
	done
	# migrator check against the same baselines as the no-op up
	for arm in "${noop_arms[@]}"; do
		[ "$arm" = ours ] || [ "$arm" = check ] && continue
		[ -n "${samples[noop $n_main check]:-}" ] || continue
		om=$(median_of "${samples[noop $n_main check]}")
		pm=$(median_of "${samples[noop $n_main $arm]}")
		echo "| noop $n_main | ${arm_name[check]} $(fmt_ms "$om") | ${arm_name[$arm]} | $(fmt_ms "$pm") | **$(fmt_ratio "$(calc "$om / $pm")")** |"
	done
	om=$(median_of "${samples[build ours]}")
	pm=$(median_of "${samples[build pair]}")
	echo "| index build | ${ours_name[build]} $(fmt_ms "$om") | ${arm_name[pair]} | $(fmt_ms "$pm") | **$(fmt_ratio "$(calc "$om / $pm")")** |"
	om=$(median_of "${samples[idxnoop $idx_main ours]}")
	for arm in select1 defread; do
		pm=$(median_of "${samples[idxnoop $idx_main $arm]}")
		echo "| index no-op $idx_main | ${ours_name[idxnoop]} $(fmt_ms "$om") | ${arm_name[$arm]} | $(fmt_ms "$pm") | **$(fmt_ratio "$(calc "$om / $pm")")** |"
	done
	echo
	echo "## Apply $n_main migrations into a fresh database"
	echo
	echo "Each migration: \`CREATE TABLE\` (identity key, a default), \`ALTER TABLE ... ADD COLUMN\`, \`COMMENT ON TABLE\`;"
	echo "the same SQL for every tool in its own file layout, one transaction per migration. Checked after"
	echo "every run: $n_main tables with the column and the comment, and $n_main rows in the tool's history table."
	echo
	table "apply $n_main" "${apply_arms[@]}"
	echo
	echo "## No-op: every one of the $n_main migrations already applied"
	echo
	echo "Each tool on the database it migrated itself; \`SELECT 1\` on the toolkit's."
	echo
	table "noop $n_main" "${noop_arms[@]}"
	echo
	echo "## System calls and messages of one no-op run"
	echo
	syscount_table
	echo
	echo "## Lint of the $n_main migration files"
	echo
	echo "squawk exits 1 when it reports something (it does, on these files: its default rules ask for"
	echo "\`lock_timeout\` and the like); exit 1 is accepted, anything higher stops the run."
	echo
	table "lint $n_main" "${lint_arms[@]}"
	echo
	echo "## Start-up: \`--version\`"
	echo
	table "version" "${version_arms[@]}"
	echo
	echo "## Index build: four indexes on two tables of $idx_rows rows"
	echo
	echo "\`CREATE INDEX CONCURRENTLY\` of two integer columns on each table; the indexes are dropped and a"
	echo "checkpoint taken before every run (untimed). The baseline runs each table's two builds in one"
	echo "psql session, both sessions started together; its RSS is the larger of the two psql processes."
	echo
	table "build" ours pair
	echo
	echo "## Index no-op: $idx_main valid definitions, all present"
	echo
	table "idxnoop $idx_main" ours select1 defread
	echo
	echo "## Growth"
	echo
	echo "$chart_note"
	echo
	echo "Medians; the last column is the cost per migration (or definition) at the smallest and the"
	echo "largest size: equal numbers mean linear growth, a larger second number worse than linear."
	echo
	echo "### apply"
	echo
	growth_table apply "$migration_sizes" "${apply_arms[@]}"
	echo
	echo "### no-op"
	echo
	growth_table noop "$migration_sizes" "${noop_arms[@]}"
	echo
	echo "### lint"
	echo
	growth_table lint "$migration_sizes" "${lint_arms[@]}"
	echo
	echo "### indexer no-op"
	echo
	growth_table idxnoop "$index_sizes" ours select1
	echo
	if [ -f "$repo/bench/NOTES.md" ]; then
		echo "## Notes (\`bench/NOTES.md\`: written by hand, kept across runs, included by every run)"
		echo
		sed -e '1{/^# /d}' "$repo/bench/NOTES.md" | sed -e '1{/^$/d}'
		echo
	fi
	echo "## Raw samples (wall ms, in the order they ran; peak RSS kB)"
	echo
	for k in $(printf '%s\n' "${!samples[@]}" | sort -t' ' -k1,1 -k2,2n -k3 | tr ' ' '|'); do
		k=${k//|/ }
		echo "- \`$k\`: ${samples[$k]% }; RSS ${rss[$k]% }"
	done
} >"$work/RESULTS.md"
mv "$work/RESULTS.md" "$out"
say "done: $out${chart_note:+; chart $chart}"
