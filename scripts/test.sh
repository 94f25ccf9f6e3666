#!/bin/sh
# Build and run every test: a -Werror build running all tests (unit tests,
# mounting tests, the install test), then an address/undefined-sanitizer
# build running the unit tests.  Build trees: build/ and build-asan/.
set -eu
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
cmake -S . -B build -DCHI_WERROR=ON
cmake --build build -j "$JOBS"
ctest --test-dir build --output-on-failure --timeout 600
cmake -S . -B build-asan -DCHI_WERROR=ON -DCHI_SANITIZE=ON
cmake --build build-asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan -L unit --output-on-failure --timeout 600
