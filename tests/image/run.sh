#!/usr/bin/env bash
#
# run.sh
#     The container image test (scripts/test.sh --image; it takes minutes):
#       1. a Debian 12 root from debootstrap (cached in $TOOLKIT_IMAGE_ROOT,
#          default /var/tmp/tk-image-root), imported with "podman import" as
#          the base image, since no container registry is reachable here
#       2. compose/Dockerfile built with podman (--isolation chroot, vfs
#          storage in $TOOLKIT_IMAGE_STORE, default /var/tmp/tk-image-store)
#          on that base: the default "examples" image, the "toolkit" stage,
#          and a team's image FROM the toolkit stage with its own migrations,
#          as docs/deployment.md shows it
#       3. a throwaway PostgreSQL (tests/harness/cluster.py), and
#          tests/image/test_image.py: the programs of each image, run from its
#          mounted file system ("podman image mount") with chroot as uid 10001
#          against that cluster over 127.0.0.1 (containers cannot start in
#          this sandbox: it refuses setrlimit)
#     Prints the images' sizes, which docs/deployment.md records.
#     TOOLKIT_IMAGE_REUSE=1 tests the images of an earlier run without
#     building them again (the team's image is always rebuilt).
#
# Needs root (debootstrap, podman image mount, chroot); installs podman and
# debootstrap when they are missing.  Exits non-zero when a step fails, and
# the last line names the step.
#
# tests/image/run.sh
#
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source_dir=$PWD

root_dir=${TOOLKIT_IMAGE_ROOT:-/var/tmp/tk-image-root}
store=${TOOLKIT_IMAGE_STORE:-/var/tmp/tk-image-store}
base=localhost/tk-debian:bookworm
image=localhost/pg-schema-toolkit:image-test
toolkit=localhost/pg-schema-toolkit:image-test-toolkit
team=localhost/myapp-toolkit:image-test

step=setup
fail() {
	echo "image test: $1" >&2
	exit 1
}
team_ctx=
cluster_dir=
mounted=()
# shellcheck disable=SC2317 # run by the EXIT trap
on_exit() {
	local rc=$? m
	for m in "${mounted[@]}"; do
		"${podman[@]}" image unmount "$m" >/dev/null 2>&1 || true
	done
	if [ -n "$cluster_dir" ]; then
		"$python" tests/harness/cluster.py stop "$cluster_dir" >/dev/null 2>&1 || true
	fi
	rm -rf "$team_ctx" "$cluster_dir"
	if [ "$rc" -ne 0 ]; then
		echo "image test: failed at step \"$step\" (exit $rc)" >&2
	fi
}
trap on_exit EXIT
log() {
	echo "image test: $*" >&2
}

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, podman image mount, chroot)"
missing=()
command -v podman >/dev/null || missing+=(podman)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
	step="apt-get install ${missing[*]}"
	log "installing ${missing[*]}"
	apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

# the interpreter ctest uses (tests/CMakeLists.txt): Debian's, with psycopg2
python=python3
[ -x /usr/bin/python3 ] && python=/usr/bin/python3

podman=(podman --root "$store/storage" --runroot "$store/run" --storage-driver vfs)

# ---- 1. the base image ------------------------------------------------------
step="debootstrap"
if [ ! -x "$root_dir/usr/bin/apt-get" ]; then
	log "debootstrap Debian 12 into $root_dir (cached for the next run)"
	rm -rf "$root_dir.new"
	debootstrap --variant=minbase bookworm "$root_dir.new" http://deb.debian.org/debian >&2
	mv "$root_dir.new" "$root_dir"
fi
step="podman import"
if ! "${podman[@]}" image exists "$base"; then
	log "importing $root_dir as $base"
	# what the slim images leave out: apt lists and caches, docs, manuals, locales
	tar -C "$root_dir" -c --numeric-owner \
		--exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*' \
		--exclude='./usr/share/doc/*' --exclude='./usr/share/man/*' \
		--exclude='./usr/share/locale/*' --exclude='./usr/share/info/*' . |
		"${podman[@]}" import --change 'CMD ["/bin/bash"]' - "$base" >&2
fi

# ---- 2. the images ------------------------------------------------------------
build() {
	"${podman[@]}" build --isolation chroot --network host \
		--build-arg BUILD_IMAGE="$base" --build-arg RUNTIME_IMAGE="$base" "$@" >&2
}
# TOOLKIT_IMAGE_REUSE=1: test the images already built (a rerun of the
# tests only; with vfs storage even a fully cached build takes minutes).
reuse() {
	[ "${TOOLKIT_IMAGE_REUSE:-0}" = 1 ] && "${podman[@]}" image exists "$1"
}
step="podman build (compose/Dockerfile)"
if ! reuse "$image"; then
	log "building $image from compose/Dockerfile"
	build --ignorefile compose/Dockerfile.dockerignore -f compose/Dockerfile -t "$image" .
fi
step="podman build --target toolkit"
if ! reuse "$toolkit"; then
	build --ignorefile compose/Dockerfile.dockerignore -f compose/Dockerfile --target toolkit -t "$toolkit" .
fi

# A team's image, as docs/deployment.md writes it: its own directory of
# migrations and index definitions on the toolkit stage.
step="podman build (a team's image)"
team_ctx=$(mktemp -d /var/tmp/tk-image-team.XXXXXX)
mkdir -p "$team_ctx/db/migrations"
cp tests/image/team/0001_create_orders.sql tests/image/team/0002_orders_status.sql "$team_ctx/db/migrations/"
cp tests/image/team/indexes.cfg "$team_ctx/db/indexes.cfg"
sed -n '/^ *# BEGIN team Dockerfile/,/^ *# END team Dockerfile/p' docs/deployment.md |
	sed '1d;$d;s/^   //' >"$team_ctx/Dockerfile"
grep -q '^FROM ' "$team_ctx/Dockerfile" || fail "no team Dockerfile between the BEGIN/END markers of docs/deployment.md"
build --build-arg TOOLKIT_IMAGE="$toolkit" -t "$team" "$team_ctx"

# ---- sizes ----------------------------------------------------------------------
step="sizes"
size_of() {
	local bytes gz
	bytes=$("${podman[@]}" image inspect --format '{{.Size}}' "$1")
	gz=$("${podman[@]}" save "$1" 2>/dev/null | gzip -6 | wc -c)
	printf '%s: %d MB uncompressed, %d MB as a gzip-compressed archive\n' "$1" \
		$(((bytes + 500000) / 1000000)) $(((gz + 500000) / 1000000))
}
{
	size_of "$base"
	size_of "$toolkit"
	size_of "$image"
} | tee /dev/stderr >/dev/null

# ---- 3. run them ----------------------------------------------------------------
step="mount the images"
image_env() {
	"${podman[@]}" image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$1" | sed '/^$/d' | paste -sd' '
}
IMAGE_ROOT=$("${podman[@]}" image mount "$image")
mounted+=("$image")
TOOLKIT_ROOT=$("${podman[@]}" image mount "$toolkit")
mounted+=("$toolkit")
TEAM_ROOT=$("${podman[@]}" image mount "$team")
mounted+=("$team")
export IMAGE_ROOT TOOLKIT_ROOT TEAM_ROOT
IMAGE_ENV=$(image_env "$image")
TOOLKIT_ENV=$(image_env "$toolkit")
TEAM_ENV=$(image_env "$team")
IMAGE_USER=$("${podman[@]}" image inspect --format '{{.Config.User}}' "$image")
IMAGE_WORKDIR=$("${podman[@]}" image inspect --format '{{.Config.WorkingDir}}' "$image")
export IMAGE_ENV TOOLKIT_ENV TEAM_ENV IMAGE_USER IMAGE_WORKDIR

step="start a PostgreSQL cluster"
cluster_dir=$(mktemp -d /var/tmp/tk-image-cluster.XXXXXX)
"$python" tests/harness/cluster.py start "$cluster_dir" >&2
export TOOLKIT_CLUSTER_DIR=$cluster_dir TOOLKIT_SOURCE_DIR=$source_dir PYTHONDONTWRITEBYTECODE=1

step="tests/image/test_image.py"
(cd tests/image && "$python" -m unittest -v test_image)
log "passed"
