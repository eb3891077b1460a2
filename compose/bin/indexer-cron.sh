#!/usr/bin/env bash
#
# indexer-cron.sh
#     Runs a scheduled indexer command with the exit-code policy that
#     monitoring relies on: once (crontab, Kubernetes CronJob) or every
#     INTERVAL until stopped (the compose indexer-cron and indexer-check
#     services).  Installed in the image as /usr/local/bin/indexer-cron.
#
# Usage: indexer-cron [--every INTERVAL] COMMAND [ARG]...
#
#   COMMAND is the whole command line to run, passed on unchanged (so an
#   option is one more word of COMMAND, nothing here), for example the
#   reconciliation of the compose indexer-cron service and the CronJob,
#   one option a line:
#       indexer build --config /app/conf/indexes.cfg --log-format json \
#           --window 01:00-05:00 \
#           --time-zone UTC \
#           --max-runtime 3h \
#           --max-builds 4 \
#           --keep 90d
#   (builds start only in the window, at most 4 a run, none after 3h; the
#   history table indexer_history records each action, 90 days), or, from
#   a docker host's crontab, every 10 minutes,
#       docker compose run --rm -T indexer
#   --every INTERVAL   run COMMAND every INTERVAL (30s, 15min, 1h), first
#                      after one INTERVAL, until SIGTERM or SIGINT
#
# Policy, one JSON line on stderr per run (the toolkit's log shape, program
# "indexer-cron", event "indexer_run", "alert":true where monitoring must page):
#   0          success; also a run whose builds wait (outside the --window,
#              past --max-builds or --max-runtime) or whose non-critical
#              definitions back off after repeated failures: the next run
#              builds them
#   4          another run holds the indexer's lock: overlapping runs are
#              harmless, so "busy", not a failure; exit 0
#   5          (indexer check) something defined is missing, invalid or drifted: alert
#   1          a critical index failed, or backs off after repeated failures,
#              or the history table could not be written: alert
#   130, 143   interrupted: a warning, no alert (a stop or a deploy)
#   other      alert (2 bad input, 3 unreachable, 127 no such command, ...)
# Once, the exit status is COMMAND's except that 4 becomes 0; with --every
# it is 0 after a stop, whatever the runs returned (each run's line says).
#
# Pause: when the file INDEXER_PAUSE_FILE names exists, COMMAND is not run
# (a "paused" line, exit 0).  compose/deploy.sh creates it while migrating:
# a concurrent index build holds SHARE UPDATE EXCLUSIVE on its table, which
# makes an ALTER TABLE on that table wait for the whole build.
#
# A SIGTERM or SIGINT is passed on to COMMAND, which cancels its statements
# and exits 143/130; the wrapper then exits after it, never before.
#
# compose/bin/indexer-cron.sh
#
set -uo pipefail

PROGRAM=indexer-cron

usage() {
	cat >&2 <<-'EOF'
		usage: indexer-cron [--every INTERVAL] COMMAND [ARG]...
		  runs COMMAND once (or every INTERVAL: 30s, 15min, 1h) with the exit policy:
		  4 (another run holds the lock) is success; 1, 5 and other failures alert
		  INDEXER_PAUSE_FILE: while this file exists, COMMAND is not run
	EOF
	exit 2
}

# JSON string body: backslashes, double quotes and control characters escaped.
json_escape() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\t'/\\t}
	printf '%s' "$s"
}

# log LEVEL EVENT ALERT EXIT_CODE MESSAGE: one JSON object on stderr.
# EXIT_CODE may be "null" (no run).
log() {
	local ts
	ts=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
	printf '{"ts":"%s","level":"%s","program":"%s","event":"%s","msg":"%s","exit_code":%s,"alert":%s,"command":"%s"}\n' \
		"$ts" "$1" "$PROGRAM" "$2" "$(json_escape "$5")" "$4" "$3" \
		"$(json_escape "${command_line:-}")" >&2
}

# Seconds of a duration with a unit (s, min, h); fails if invalid.
parse_interval() {
	[[ $1 =~ ^([0-9]+)(s|min|h)$ ]] || return 1
	local n=$((10#${BASH_REMATCH[1]}))
	[ "$n" -gt 0 ] || return 1
	case "${BASH_REMATCH[2]}" in
		s) echo "$n" ;;
		min) echo $((n * 60)) ;;
		h) echo $((n * 3600)) ;;
	esac
}

every=
while [ $# -gt 0 ]; do
	case "$1" in
		--every)
			[ $# -ge 2 ] || usage
			every=$(parse_interval "$2") || {
				echo "$PROGRAM: invalid interval \"$2\": use a number with a unit: 30s, 15min, 1h" >&2
				exit 2
			}
			shift 2
			;;
		-h | --help) usage ;;
		--)
			shift
			break
			;;
		-*)
			echo "$PROGRAM: unknown option \"$1\"" >&2
			usage
			;;
		*) break ;;
	esac
done
[ $# -gt 0 ] || usage
command_line="$*"

child=
sleeper=
stopping=0

# shellcheck disable=SC2317  # called by the trap below
on_signal() {
	stopping=1
	# Pass the stop on: the indexer cancels its builds and exits 143.
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null || true
	fi
	if [ -n "$sleeper" ]; then
		kill -TERM "$sleeper" 2>/dev/null || true
	fi
}
trap on_signal TERM INT

# Runs COMMAND once, logs its outcome, sets rc to the policy's exit status.
run_once() {
	if [ -n "${INDEXER_PAUSE_FILE:-}" ] && [ -e "$INDEXER_PAUSE_FILE" ]; then
		log info indexer_paused false null "paused by $INDEXER_PAUSE_FILE (a deploy is migrating): not run"
		rc=0
		return
	fi
	local status
	"$@" &
	child=$!
	# wait returns early (status > 128) when a trapped signal arrives while
	# the child still runs: wait again for the child's own status.
	while :; do
		wait "$child"
		status=$?
		if [ "$status" -gt 128 ] && kill -0 "$child" 2>/dev/null; then
			continue
		fi
		break
	done
	child=
	case "$status" in
		0)
			log info indexer_run false 0 "finished"
			rc=0
			;;
		4)
			log info indexer_run false 4 "another run holds the indexer lock: busy, not a failure"
			rc=0
			;;
		1)
			log error indexer_run true 1 "a critical index failed"
			rc=1
			;;
		5)
			log error indexer_run true 5 "check found indexes missing, invalid or drifted"
			rc=5
			;;
		130 | 143)
			log warning indexer_run false "$status" "interrupted"
			rc=$status
			;;
		*)
			log error indexer_run true "$status" "failed"
			rc=$status
			;;
	esac
}

rc=0
if [ -z "$every" ]; then
	run_once "$@"
	exit "$rc"
fi

log info indexer_schedule false null "running every ${every}s"
while [ "$stopping" -eq 0 ]; do
	sleep "$every" &
	sleeper=$!
	wait "$sleeper" 2>/dev/null
	sleeper=
	[ "$stopping" -eq 0 ] || break
	run_once "$@"
done
log info indexer_schedule false null "stopped"
exit 0
