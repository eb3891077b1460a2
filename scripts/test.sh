#!/usr/bin/env bash
#
# test.sh
#     The test command: install what is missing, build, run every test.
#
# Usage: scripts/test.sh [--quick | --asan | --valgrind | --fuzz | --lint | --image | --package]
#     (default)   RelWithDebInfo build in build/, all ctest tests; then the
#                 same suite again on the ASan+UBSan build; then the fuzz
#                 targets, each for $TOOLKIT_FUZZ_SECONDS seconds (25 by
#                 default here): what CI runs
#     --quick     only the RelWithDebInfo build and its tests
#     --asan      only the Debug build with ASan+UBSan in build-asan/
#     --valgrind  build/ as by default; unit tests under ctest's memcheck and
#                 the programs of the integration tests under valgrind
#     --fuzz      only the libFuzzer targets of tests/fuzz (ctest label fuzz),
#                 built with clang and ASan+UBSan in build-fuzz/; each fuzzes
#                 for $TOOLKIT_FUZZ_SECONDS seconds (60 by default)
#     --package   only the Debian package (ctest label package, build-package/):
#                 cpack -G DEB, lintian, install into a clean Debian 12 root
#                 (debootstrap, cached in /var/tmp), use it against the test
#                 cluster, purge it; minutes, as root; not in the default run
#     --lint      only the static checks (shellcheck, clang-format, size
#                 limits, include graph): no packages, no build
#     --image     only the container image test (tests/image/run.sh, minutes):
#                 compose/Dockerfile built with podman on a debootstrap Debian
#                 12 root, its programs run against a throwaway PostgreSQL
#
# Needs no git: the files it checks are found with find(1), with the
# exclusions of .gitignore, so a release tarball tests like a clone.  When a
# step fails the run goes on where it can, and the last line names every
# step that failed.
#
# Every build of this script has -Werror (-DTOOLKIT_WERROR=ON; off by default for users).
# Exits non-zero if the build or any test fails.  Works from any directory.
#
# scripts/test.sh
#
set -euo pipefail

usage() {
	cat >&2 <<-'EOF'
		usage: scripts/test.sh [--quick | --asan | --valgrind | --fuzz | --lint | --image | --package]
		  (none)      all tests on the optimised build, then on the ASan+UBSan build,
		              then the fuzz targets for $TOOLKIT_FUZZ_SECONDS each (default 25)
		  --quick     all tests on the optimised build only
		  --asan      all tests on the ASan+UBSan build (build-asan/) only
		  --valgrind  run the unit tests and the tested programs under valgrind
		  --fuzz      run the fuzz targets (clang, build-fuzz/), each for
		              $TOOLKIT_FUZZ_SECONDS seconds (default 60)
		  --package   build the Debian package and test it in a clean Debian 12 root
		              (build-package/; minutes; needs root)
		  --lint      only the static checks: shellcheck, clang-format, size
		              limits, include graph (no build)
		  --image     build the container image with podman and run its programs
		              against a throwaway PostgreSQL (takes minutes; needs root)
	EOF
	exit 2
}

asan=0
valgrind=0
fuzz=0
package=0
image=0
lint_only=0
for arg in "$@"; do
	case "$arg" in
		--asan) asan=1 ;;
		--quick) ;; # the optimised build: what runs when neither --asan nor --valgrind is given
		--valgrind) valgrind=1 ;;
		--fuzz) fuzz=1 ;;
		--package) package=1 ;;
		--image) image=1 ;;
		--lint) lint_only=1 ;;
		-h | --help) usage ;;
		*)
			echo "test.sh: unknown option \"$arg\"" >&2
			usage
			;;
	esac
done
if [ "$asan" -eq 1 ] && [ "$valgrind" -eq 1 ]; then
	echo "test.sh: --asan and --valgrind cannot be combined (valgrind cannot run ASan binaries)" >&2
	exit 2
fi
if [ "$fuzz" -eq 1 ] && [ "$#" -ne 1 ]; then
	echo "test.sh: --fuzz runs on its own build and cannot be combined with another mode" >&2
	exit 2
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --package: the Debian package on a build of its own, as Debian builds
# (dpkg-buildflags with every hardening flag, prefix /usr, man pages required), then
# tests/package/test_package.py through ctest (it needs the cluster fixture).
if [ "$package" -eq 1 ]; then
	if [ "$#" -ne 1 ]; then
		echo "test.sh: --package runs on its own build and cannot be combined with another mode" >&2
		exit 2
	fi
	scripts/deps.sh --package
	echo "test.sh: configuring build-package/" >&2
	export DEB_BUILD_MAINT_OPTIONS=hardening=+all
	cmake -S . -B build-package -DCMAKE_BUILD_TYPE=None -DCMAKE_INSTALL_PREFIX=/usr \
		"-DCMAKE_C_FLAGS=$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
		"-DCMAKE_EXE_LINKER_FLAGS=$(dpkg-buildflags --get LDFLAGS)" \
		-DTOOLKIT_WERROR=ON -DTOOLKIT_SANITIZER=none -DTOOLKIT_MAN_PAGES=ON -DTOOLKIT_PACKAGE_TESTS=ON \
		-DTOOLKIT_STATIC_PG_QUERY=OFF
	cmake --build build-package -j "$(nproc 2>/dev/null || echo 2)"
	status=0
	ctest --test-dir build-package -L package --output-on-failure || status=$?
	[ "$status" -eq 0 ] || echo "test.sh: the package test failed (see above)" >&2
	exit "$status"
fi

# --image: its own build (inside the image) and its own cluster
if [ "$image" -eq 1 ]; then
	if [ "$#" -ne 1 ]; then
		echo "test.sh: --image runs on its own and cannot be combined with another mode" >&2
		exit 2
	fi
	scripts/deps.sh
	exec tests/image/run.sh
fi

# NUL-separated paths (./-relative) of the repository's files matching the
# patterns: what "git ls-files" lists, found without git (a release tarball
# has no .git), with .gitignore's exclusions (build directories, caches).
source_files() {
	local names=() p
	for p in "$@"; do
		names+=(${names[0]+-o} -name "$p")
	done
	find . \( -path ./.git -o -path ./build -o -path './build-*' -o -name __pycache__ \) -prune \
		-o -type f \( "${names[@]}" \) -print0 | sort -z
}

# The static checks, all of them; each failure is added to failed[] and
# its status kept in lint_status.
failed=()
lint_status=0
run_checks() {
	echo "test.sh: shellcheck" >&2
	shellcheck scripts/*.sh scripts/package/*.sh bench/*.sh .ci/run tests/image/*.sh tests/package/*.sh || { lint_status=$?; failed+=(shellcheck); }
	# every C file keeps the checked-in layout (.clang-format)
	if command -v clang-format >/dev/null 2>&1; then
		echo "test.sh: clang-format --dry-run" >&2
		source_files '*.c' '*.h' | xargs -0 clang-format --dry-run -Werror ||
			{ lint_status=$?; failed+=(clang-format); }
	else
		echo "test.sh: clang-format not installed: layout not checked (apt-get install clang-format)" >&2
	fi
	# the shape of the code (issue 11): size limits and the include graph,
	# also run by ctest as unit.size_limits and unit.include_graph
	echo "test.sh: size limits and include graph" >&2
	python3 scripts/check_limits.py . || { lint_status=$?; failed+=("size limits (scripts/check_limits.py)"); }
	python3 scripts/check_includes.py . || { lint_status=$?; failed+=("include graph (scripts/check_includes.py)"); }
}

# The last line: every step that failed, by name.
report() {
	if [ "${#failed[@]}" -gt 0 ]; then
		echo "test.sh: failed: $(printf '%s, ' "${failed[@]}" | sed 's/, $//') (see above)" >&2
	fi
}

# --lint: the static checks only (no packages installed, no build)
if [ "$lint_only" -eq 1 ]; then
	if [ "$#" -ne 1 ]; then
		echo "test.sh: --lint runs on its own and cannot be combined with another mode" >&2
		exit 2
	fi
	run_checks
	report
	exit "$lint_status"
fi

# The default is what CI runs: the optimised build, then the sanitizers,
# then a short fuzz of every target (seconds each: TOOLKIT_FUZZ_SECONDS; a
# longer hunt is --fuzz on its own, or this with a larger value).
if [ "$#" -eq 0 ]; then
	status=0
	scripts/test.sh --quick || status=$?
	echo "test.sh: the same suite on the ASan+UBSan build" >&2
	scripts/test.sh --asan || status=$?
	echo "test.sh: the fuzz targets, ${TOOLKIT_FUZZ_SECONDS:-25} s each" >&2
	TOOLKIT_FUZZ_SECONDS="${TOOLKIT_FUZZ_SECONDS:-25}" scripts/test.sh --fuzz || status=$?
	exit "$status"
fi

# The step in progress, named by the last line when it stops the run.
step="installing the dependencies (scripts/deps.sh)"
# shellcheck disable=SC2317 # run by the EXIT trap
on_exit() {
	local rc=$?
	if [ "$rc" -ne 0 ] && [ -n "$step" ]; then
		echo "test.sh: failed: $step (exit $rc)" >&2
	fi
}
trap on_exit EXIT
scripts/deps.sh

build_target=all
if [ "$fuzz" -eq 1 ]; then
	# libFuzzer comes with clang only; the targets carry their own ASan+UBSan
	build_dir=build-fuzz
	export CC=clang
	cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOOLKIT_WERROR=ON -DTOOLKIT_FUZZ=ON
		"-DTOOLKIT_FUZZ_SECONDS=${TOOLKIT_FUZZ_SECONDS:-60}")
	build_target=fuzz_targets
elif [ "$asan" -eq 1 ]; then
	build_dir=build-asan
	cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DTOOLKIT_WERROR=ON -DTOOLKIT_SANITIZER=asan)
	export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
	export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
	# the same libpg_query leak as for valgrind (see tests/libpg_query.lsan.supp)
	export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/tests/libpg_query.lsan.supp}"
else
	build_dir=build
	# Optimised (more warnings, and -Werror makes them fatal) yet with debug
	# info, so valgrind's reports name lines.
	cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOOLKIT_WERROR=ON -DTOOLKIT_SANITIZER=none)
	# memcheck is 20-50 times slower: the tests' time bounds grow with it
	# (and are set back for a plain run, which shares build/)
	if [ "$valgrind" -eq 1 ]; then
		cmake_args+=(-DTOOLKIT_UNIT_TIMEOUT=600 -DTOOLKIT_INTEGRATION_TIMEOUT=7200)
	else
		cmake_args+=(-DTOOLKIT_UNIT_TIMEOUT=60 -DTOOLKIT_INTEGRATION_TIMEOUT=900)
	fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
echo "test.sh: configuring $build_dir/" >&2
step="configuring $build_dir/ (cmake)"
cmake -S . -B "$build_dir" "${cmake_args[@]}"
echo "test.sh: building with $jobs jobs" >&2
step="building $build_dir/"
cmake --build "$build_dir" -j "$jobs" --target "$build_target"
step=

run_checks

status=0
if [ "$fuzz" -eq 1 ]; then
	# any crash, sanitizer report, leak or timeout fails its test
	ctest --test-dir "$build_dir" -L fuzz --output-on-failure -j2 || status=$?
	if [ "$status" -ne 0 ]; then
		echo "test.sh: the inputs that failed (replay: $build_dir/tests/fuzz/fuzz_TARGET FILE):" >&2
		ls -lt "$build_dir"/tests/fuzz/artifacts/* >&2 || true
	fi
elif [ "$valgrind" -eq 0 ]; then
	ctest --test-dir "$build_dir" --output-on-failure -j2 || status=$?
else
	valgrind_bin=$(command -v valgrind)
	# libpg_query 15-4.0.0 leaks one byte whenever its PL/pgSQL parser
	# rejects a body, inside the library: suppressed, and only that.
	# Only definite leaks are errors, and only they are shown: a second
	# signal _exit()s at once by design, leaving thread stacks "possibly
	# lost", and a report after the last line would hide what the run said.
	valgrind_opts="--quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --suppressions=$PWD/tests/libpg_query.supp --suppressions=$PWD/tests/cancel_threads.supp"
	# Unit tests: ctest's memcheck wraps each test binary; the exit code makes
	# any error a test failure, not just an entry in the memcheck log.
	echo "test.sh: unit tests under valgrind" >&2
	rm -f "$build_dir"/Testing/Temporary/MemoryChecker.*.log
	memcheck_status=0
	ctest --test-dir "$build_dir" -L unit -T memcheck --output-on-failure -j2 \
		--overwrite MemoryCheckCommand="$valgrind_bin" \
		--overwrite MemoryCheckCommandOptions="$valgrind_opts" || memcheck_status=$?
	if [ "$memcheck_status" -ne 0 ]; then
		status=$memcheck_status
		# valgrind writes its reports to these logs, not to the test's output.
		for log in "$build_dir"/Testing/Temporary/MemoryChecker.*.log; do
			if [ -s "$log" ]; then
				echo "==== $log" >&2
				cat "$log" >&2
			fi
		done
	fi
	# Integration tests: the harness prefixes every program run with this, so
	# valgrind checks migrator and indexer, not the Python interpreter.
	echo "test.sh: integration tests with the programs under valgrind" >&2
	TOOLKIT_TEST_WRAPPER="$valgrind_bin $valgrind_opts" \
		ctest --test-dir "$build_dir" -L integration --output-on-failure -j2 || status=$?
fi

if [ "$status" -ne 0 ]; then
	failed+=("tests (ctest in $build_dir/)")
fi
[ "$status" -ne 0 ] || status=$lint_status
report
exit "$status"
