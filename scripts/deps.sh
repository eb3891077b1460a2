#!/usr/bin/env bash
#
# deps.sh
#     The one list of Debian packages the toolkit needs to build, test and demo,
#     and the installer for whichever of them are missing.
#
# Usage: scripts/deps.sh [--check] [--demo | --package]
#     --check    only report: exit 2 and print the install command if any is missing
#     --demo     only what scripts/demo.sh needs (build + run), not the test tools
#     --package  what scripts/test.sh --package needs: build + run, and the
#                Debian packaging tools (not the other test tools)
#
# Quiet when nothing is missing.  As root, missing packages are installed with
# apt-get; otherwise the exact sudo command is printed and the exit status is 2.
#
# scripts/deps.sh
#
set -euo pipefail

# Compiler, build system and the C libraries we link (cmocka: unit tests).
BUILD_PACKAGES=(
	build-essential cmake pkg-config
	libpq-dev libconfig-dev libpg-query-dev libprotobuf-c-dev libssl-dev nettle-dev libjansson-dev
	libcmocka-dev
)
# A PostgreSQL server for the throwaway test/demo cluster, and the Python the
# harness runs on (Debian's /usr/bin/python3 with psycopg2).
RUN_PACKAGES=(postgresql-15 python3 python3-psycopg2)
# Test-only tools: memory checking and shell linting.
# clang and its runtime with libFuzzer: the fuzz targets (scripts/test.sh
# runs them by default); llvm for llvm-symbolizer, which the sanitizers call
# to name functions in their reports and to match tests/fuzz/lsan.supp
# (clang only recommends it, and apt-get here installs no recommends).
# faketime (libfaketime): the indexer's build windows are tested with a fixed
# clock, never with a hook in the binary (tests/integration/test_index_window.py).
# pre-commit and git: the .pre-commit-hooks.yaml is run by the real framework
# (pre-commit try-repo, tests/integration/test_lint_cli.py).
# prometheus (promtool) and prometheus-pushgateway: the metrics files are checked
# with promtool check metrics, docs/deployment.md's alert rules with promtool
# test rules, and --metrics-push against a real Pushgateway that the test
# starts on 127.0.0.1; libcurl4 is what --metrics-push loads (dlopen).
TEST_PACKAGES=(valgrind shellcheck python3-yaml clang-format clang libclang-rt-14-dev llvm iproute2 faketime
	pre-commit git prometheus prometheus-pushgateway libcurl4)
# Services the TEST_PACKAGES' postinst may start (on every address): stopped
# and disabled right after they are installed here; the tests run their own.
TEST_SERVICES=(prometheus prometheus-pushgateway)
# Optional for the toolkit itself, but scripts/test.sh installs it: Debian's
# docker-compose 1.29 is used only by the tests that validate compose files.
OPTIONAL_PACKAGES=(docker-compose)
# The Debian package and its test (scripts/test.sh --package only; the default
# build makes man pages only when help2man is there): help2man makes the man
# pages of --help, file is what CPack's dpkg-shlibdeps step needs to find the
# binaries, debootstrap makes the clean Debian 12 root, lintian checks the
# .deb.  dpkg-dev (dpkg-shlibdeps, dpkg-buildflags) comes with build-essential.
PACKAGE_PACKAGES=(help2man file debootstrap lintian)

usage() {
	cat >&2 <<-'EOF'
		usage: scripts/deps.sh [--check] [--demo | --package]
		  --check    only report missing packages (exit 2 if any), install nothing
		  --demo     only the packages scripts/demo.sh needs
		  --package  the packages scripts/test.sh --package needs
	EOF
	exit 2
}

check_only=0
demo_only=0
package_only=0
for arg in "$@"; do
	case "$arg" in
		--check) check_only=1 ;;
		--demo) demo_only=1 ;;
		--package) package_only=1 ;;
		-h | --help) usage ;;
		*)
			echo "deps.sh: unknown option \"$arg\"" >&2
			usage
			;;
	esac
done

wanted=("${BUILD_PACKAGES[@]}" "${RUN_PACKAGES[@]}")
if [ "$package_only" -eq 1 ]; then
	wanted+=("${PACKAGE_PACKAGES[@]}")
elif [ "$demo_only" -eq 0 ]; then
	wanted+=("${TEST_PACKAGES[@]}" "${OPTIONAL_PACKAGES[@]}")
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: error: dpkg-query not found; this script supports Debian-based systems only" >&2
	echo "deps.sh: needed: ${wanted[*]}" >&2
	exit 2
fi

missing=()
for pkg in "${wanted[@]}"; do
	# "ii" is installed; anything else (unknown, removed, half-configured) is missing.
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
	case "$status" in
		ii*) ;;
		*) missing+=("$pkg") ;;
	esac
done

if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi

install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [ "$check_only" -eq 1 ] || [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: install them with:" >&2
	echo "  sudo apt-get update && sudo ${install_cmd[*]}" >&2
	exit 2
fi

echo "deps.sh: installing: ${missing[*]}" >&2
apt-get update -q
DEBIAN_FRONTEND=noninteractive "${install_cmd[@]}"

# only the services of packages installed just now: never one the machine ran before
for svc in "${TEST_SERVICES[@]}"; do
	case " ${missing[*]} " in
		*" $svc "*) ;;
		*) continue ;;
	esac
	if [ -d /run/systemd/system ]; then
		systemctl stop "$svc" 2>/dev/null || true
		systemctl disable --quiet "$svc" 2>/dev/null || true
	elif [ -x "/etc/init.d/$svc" ]; then
		"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
	fi
done
