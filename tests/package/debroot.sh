#!/usr/bin/env bash
#
# debroot.sh
#     A clean Debian 12 (bookworm) root for the package test, made once with
#     debootstrap and kept as a pristine copy, so that a rerun takes seconds.
#
# Usage: tests/package/debroot.sh CACHE_DIR
#     Prints the path of the pristine root (CACHE_DIR/bookworm) on stdout.
#     The root is debootstrap's minbase with man-db (to ask man -w) and
#     bash-completion; nothing of the toolkit's dependencies (libpq5,
#     libconfig9, libpg-query...) is in it, so that installing the package
#     proves apt pulls them.  Its apt sources are this machine's Debian
#     entries.  The mirror is the first Debian one apt is configured with
#     (/etc/apt/sources.list*), or $TOOLKIT_DEBIAN_MIRROR.
#
# Needs root and debootstrap.  Never deletes anything outside CACHE_DIR, and
# there only what it made itself (CACHE_DIR/bookworm*).
#
# tests/package/debroot.sh
#
set -euo pipefail

if [ "$#" -ne 1 ]; then
	echo "usage: tests/package/debroot.sh CACHE_DIR" >&2
	exit 2
fi
cache=$1
root="$cache/bookworm"

# The Debian mirror of apt's own configuration (deb822 or one-line format).
find_mirror() {
	local f
	if [ -n "${TOOLKIT_DEBIAN_MIRROR:-}" ]; then
		echo "$TOOLKIT_DEBIAN_MIRROR"
		return
	fi
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '$1 == "URIs:" && $2 ~ /\/debian\/?$/ { print $2; exit }' "$f"
	done | head -n 1 | grep . && return
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' | grep . && return
	echo "debroot.sh: error: no Debian mirror in /etc/apt/sources.list*; set TOOLKIT_DEBIAN_MIRROR" >&2
	return 2
}

if [ -f "$root/.toolkit-complete" ]; then
	echo "$root"
	exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
	echo "debroot.sh: error: debootstrap not found (apt-get install debootstrap)" >&2
	exit 2
fi
mirror=$(find_mirror)
mkdir -p "$cache"
tmp="$root.tmp"
if [ -e "$tmp" ]; then
	# an interrupted earlier run: nothing may be mounted in it any more
	if grep -q " $(realpath "$tmp")/" /proc/mounts; then
		echo "debroot.sh: error: something is still mounted under $tmp" >&2
		exit 1
	fi
	rm -rf --one-file-system "$tmp"
fi
echo "debroot.sh: debootstrap bookworm from $mirror into $tmp (minutes, once)" >&2
debootstrap --variant=minbase --include=man-db,bash-completion bookworm "$tmp" "$mirror" >&2
# apt in the root uses the same mirror and suites as this machine: the
# package's dependencies were computed against this machine's libraries
rm -f "$tmp/etc/apt/sources.list"
cat >"$tmp/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
touch "$tmp/.toolkit-complete"
mv "$tmp" "$root"
echo "$root"
