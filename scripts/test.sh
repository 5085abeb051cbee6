#!/usr/bin/env bash
# The README's test command: set up, build, run every test.
#
# Left out unless SP_TEST_LONG=1: the smtp-fuzz campaigns against the
# planted-bug server (ctest label `fuzzer`, about 5 minutes).  They are
# random searches bounded by time, so a loaded machine can make them
# miss a bug they usually find; run them with `ctest -L '^fuzzer$'`.
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
