#!/usr/bin/env bash
#
# deploy.sh
#     One deploy on one docker host, in an order that never starts services
#     on a schema they do not expect:
#       0. production (docker-compose.prod.yml): refuse a TOOLKIT_IMAGE that
#          names no release (unset, untagged, :latest, :local)
#       1. build the image (--rebuild: from scratch, --no-build: skip);
#          production: refuse an image that ships this repository's example
#          migrations (TOOLKIT_EXAMPLE_FILES, set by compose/Dockerfile's
#          "examples" stage)
#       2. pause the indexer's schedule (stop the running indexer-cron and
#          indexer-check services; create INDEXER_PAUSE_FILE for crontab runs)
#       3. migrate: "run --rm migrate", and wait for its exit code
#       4. build the critical indexes ("run --rm indexer-critical")
#       5. start the services ("up -d"): the new version, on the new schema
#       6. build the other indexes ("run --rm indexer")
#       7. resume the schedule
#     A failed step ends the deploy with that step's exit code: after a
#     failed migration nothing is started and the old containers keep
#     running; the schedule stays paused until a deploy gets through.
#
# Why pause: a concurrent index build holds SHARE UPDATE EXCLUSIVE on its
# table until it ends, so an ALTER TABLE of a migration would wait for the
# whole build (and, with the migrator's lock timeout, fail).  Stopping the
# schedule services cancels a build in flight (the indexer drops what it
# leaves behind, or the next run repairs it).
#
# Usage: compose/deploy.sh [--local] [--migrate-only] [--rebuild | --no-build]
#
#   --local          docker-compose.yml + docker-compose.local.yml (bundled
#                    PostgreSQL) instead of docker-compose.yml +
#                    docker-compose.prod.yml
#   --migrate-only   steps 1-3 and resume the schedule; start nothing, build
#                    no index
#   --rebuild        build with --pull --no-cache (new base image and
#                    security updates)
#   --no-build       use the image as it is (pulled by your CI)
#
# Environment:
#   COMPOSE             the compose command: "docker compose" when it works,
#                       else "docker-compose" (split on blanks)
#   COMPOSE_FILE        compose files, colon-separated, relative to compose/
#                       (overrides the choice above)
#   INDEXER_PAUSE_FILE  the pause file (default compose/.indexer-paused); it
#                       also lists the services this deploy stopped
#   INDEXER_SCHEDULE_SERVICES  the schedule's services (default
#                       "indexer-cron indexer-check")
#
# Exit status: 0 deployed; 2 invalid usage, no compose command, or an image
# the production guard refuses (nothing changed); 4 another
# deploy.sh runs in this directory; otherwise the failed step's own code
# (the migrator's: 1 a migration failed, 3 database unreachable, 4 another
# migrator holds the lock, 6 history and files disagree; the indexer's: 1 a
# critical index failed).  The last line names the step that failed.
#
# compose/deploy.sh
#
set -euo pipefail

usage() {
	cat >&2 <<-'EOF'
		usage: compose/deploy.sh [--local] [--migrate-only] [--rebuild | --no-build]
		  --local         use docker-compose.local.yml (bundled PostgreSQL) instead of docker-compose.prod.yml
		  --migrate-only  build, migrate, resume the index schedule; start nothing
		  --rebuild       build the image with --pull --no-cache
		  --no-build      do not build; use the image as it is
	EOF
	exit 2
}

log() {
	echo "deploy: $*" >&2
}

# die CODE MESSAGE: the last line of a failed deploy.
die() {
	local code=$1
	shift
	echo "deploy: error: $*" >&2
	exit "$code"
}

local_files=0
migrate_only=0
build_mode=cached
for arg in "$@"; do
	case "$arg" in
		--local) local_files=1 ;;
		--migrate-only) migrate_only=1 ;;
		--rebuild) build_mode=rebuild ;;
		--no-build) build_mode=none ;;
		-h | --help) usage ;;
		*)
			echo "deploy: unknown option \"$arg\"" >&2
			usage
			;;
	esac
done

# Compose resolves relative paths and reads .env from the project directory;
# running from it makes every Compose version agree on both.
compose_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$compose_dir"

if [ -n "${COMPOSE:-}" ]; then
	read -r -a compose_cmd <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose_cmd=(docker-compose)
else
	die 2 "no compose command: install Compose v2 (docker compose) or docker-compose, or set COMPOSE"
fi

if [ -n "${COMPOSE_FILE:-}" ]; then
	IFS=: read -r -a files <<<"$COMPOSE_FILE"
elif [ "$local_files" -eq 1 ]; then
	files=(docker-compose.yml docker-compose.local.yml)
else
	files=(docker-compose.yml docker-compose.prod.yml)
fi
file_args=()
for f in "${files[@]}"; do
	file_args+=(-f "$f")
done

pause_file=${INDEXER_PAUSE_FILE:-$compose_dir/.indexer-paused}
read -r -a schedule_services <<<"${INDEXER_SCHEDULE_SERVICES:-indexer-cron indexer-check}"

# The deploy lock (fd 9, below) is not passed on: a process compose leaves
# behind must not hold it.
compose() {
	"${compose_cmd[@]}" "${file_args[@]}" "$@" 9<&-
}

# One deploy at a time in this directory (a second one would resume the
# schedule under the first one's migration).
exec 9<"$compose_dir"
if ! flock -n 9; then
	die 4 "another deploy.sh is running in $compose_dir"
fi

log "compose: ${compose_cmd[*]} ${file_args[*]}"

# ---- 0. production: a named release image ---------------------------------------
# The value compose uses: the environment's, else compose/.env's last line.
env_file_value() {
	local line value=
	[ -f "$compose_dir/.env" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		case "$line" in
			"$1="*) value=${line#"$1"=} ;;
		esac
	done <"$compose_dir/.env"
	case "$value" in
		\"*\" | \'*\') value=${value:1:${#value}-2} ;;
	esac
	printf '%s' "$value"
}

production=0
for f in "${files[@]}"; do
	[ "$(basename "$f")" = docker-compose.prod.yml ] && production=1
done
if [ "$production" -eq 1 ]; then
	image=${TOOLKIT_IMAGE-$(env_file_value TOOLKIT_IMAGE)}
	ref=${image##*/}
	if [ -z "$image" ]; then
		die 2 "TOOLKIT_IMAGE is not set: name this release's image in $compose_dir/.env (e.g. registry.example.com/myapp-toolkit:1.4.2); nothing was changed"
	fi
	case "$image" in
		*@sha256:*) ;; # a digest names exactly one image
		*)
			case "$ref" in
				*:latest | *:local | *:) tag_ok=0 ;;
				*:*) tag_ok=1 ;;
				*) tag_ok=0 ;;
			esac
			if [ "$tag_ok" -eq 0 ]; then
				die 2 "TOOLKIT_IMAGE=\"$image\" names no release: give each release its own tag or a digest (not :latest, and not :local, the local build's); nothing was changed"
			fi
			;;
	esac
fi

# ---- 1. build ----------------------------------------------------------------
case "$build_mode" in
	cached)
		log "building the image"
		compose build || die $? "image build failed: nothing was changed"
		;;
	rebuild)
		log "rebuilding the image from scratch (--pull --no-cache)"
		compose build --pull --no-cache || die $? "image build failed: nothing was changed"
		;;
	none) log "not building (--no-build)" ;;
esac

# Production runs the team's migrations, never this repository's examples:
# the image says which it has (compose/Dockerfile's "examples" stage sets
# TOOLKIT_EXAMPLE_FILES; a team's image FROM the toolkit stage does not).
if [ "$production" -eq 1 ]; then
	log "checking that the image ships your migrations, not the toolkit's examples"
	rc=0
	# shellcheck disable=SC2016 # expanded by the container's shell
	content=$(compose run --rm -T --no-deps migrate \
		sh -c 'if [ -n "${TOOLKIT_EXAMPLE_FILES:-}" ]; then echo examples; else echo own; fi') || rc=$?
	case "$rc:$content" in
		0:own) ;;
		0:examples)
			die 2 "the image $image ships this repository's example migrations (TOOLKIT_EXAMPLE_FILES is set): build your own image FROM the toolkit stage with your migrations (docs/deployment.md, \"Your own migrations and indexes\"); nothing was changed"
			;;
		*) die "$(( rc == 0 ? 1 : rc ))" "could not run the image $image to check its files (exit $rc): nothing was changed" ;;
	esac
fi

# ---- 2. pause the schedule ---------------------------------------------------
# The pause file lists the services a deploy stopped, so that a deploy after
# a failed one still knows what to start again.
paused=()
if [ -f "$pause_file" ]; then
	while IFS= read -r s; do
		[ -n "$s" ] && paused+=("$s")
	done <"$pause_file"
	log "the schedule was left paused by an earlier deploy: ${paused[*]:-(no services)}"
fi
running=$(compose ps --services --filter status=running) ||
	die $? "cannot list the running services: is the docker daemon reachable?"
to_stop=()
for s in "${schedule_services[@]}"; do
	if grep -qx -- "$s" <<<"$running"; then
		to_stop+=("$s")
		case " ${paused[*]:-} " in
			*" $s "*) ;;
			*) paused+=("$s") ;;
		esac
	fi
done
if [ "${#paused[@]}" -gt 0 ]; then
	printf '%s\n' "${paused[@]}" >"$pause_file"
else
	: >"$pause_file"
fi
log "index schedule paused ($pause_file)"
if [ "${#to_stop[@]}" -gt 0 ]; then
	log "stopping ${to_stop[*]}: a build in flight is cancelled"
	compose stop "${to_stop[@]}" || die $? "could not stop ${to_stop[*]}: not migrating"
fi

resume_schedule() {
	if [ "${#paused[@]}" -gt 0 ]; then
		log "starting ${paused[*]} again"
		compose up -d --no-deps "${paused[@]}" ||
			die $? "could not start ${paused[*]}: start them by hand; $pause_file still lists them"
	fi
	rm -f "$pause_file"
	log "index schedule resumed"
}

# ---- 3. migrate ----------------------------------------------------------------
log "migrating"
rc=0
compose run --rm -T migrate || rc=$?
if [ "$rc" -ne 0 ]; then
	die "$rc" "migrate failed (exit $rc): no service was started or changed and the index schedule stays paused; the migrator's last line above says what failed and where: fix it and run compose/deploy.sh again"
fi
log "migrations applied"

if [ "$migrate_only" -eq 1 ]; then
	resume_schedule
	log "done (--migrate-only): services not started, no index built"
	exit 0
fi

# ---- 4. critical indexes -------------------------------------------------------
log "building the critical indexes"
rc=0
compose run --rm -T indexer-critical || rc=$?
if [ "$rc" -ne 0 ]; then
	die "$rc" "critical index build failed (exit $rc): services not started (they refuse to start without them); the schema is migrated, the index schedule stays paused"
fi

# ---- 5. services -----------------------------------------------------------------
log "starting the services"
rc=0
compose up -d || rc=$?
if [ "$rc" -ne 0 ]; then
	die "$rc" "starting the services failed (exit $rc): see \"${compose_cmd[*]} ps\" and the services' logs; the index schedule stays paused"
fi

# ---- 6. the other indexes --------------------------------------------------------
log "building the other indexes"
index_rc=0
compose run --rm -T indexer || index_rc=$?
case "$index_rc" in
	0) log "indexes built" ;;
	4) log "another indexer run holds the lock: it builds them (not a failure)" ;;
esac

# ---- 7. resume -------------------------------------------------------------------
resume_schedule
case "$index_rc" in
	0 | 4) ;;
	*) die "$index_rc" "index build failed (exit $index_rc): the services are running on the migrated schema with their critical indexes; the schedule retries the rest" ;;
esac
log "deployed"
