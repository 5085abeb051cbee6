#!/usr/bin/env bash
# The README's test command: set up, build, run every test.
#
# Left out unless SP_TEST_LONG=1: the long smtp-fuzz runs against
# correct servers (ctest label `fuzzer`, about 4 minutes; run them with
# `ctest -L '^fuzzer$'`).  The planted-bug campaign, found by the
# fuzzer's deterministic stage in seconds, and 30 s runs against correct
# servers are in the default run (label `fuzzer-quick`).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/setup.sh" --test
"$src/scripts/build.sh" "$@"
cd "${SP_BUILD:-$src/build}"
exclude=(-LE '^fuzzer$')
if [ "${SP_TEST_LONG:-0}" = 1 ]; then
	exclude=()
fi
ctest --output-on-failure -j"$(nproc)" "${exclude[@]}"
