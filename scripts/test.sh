#!/usr/bin/env bash
# The README's test command: set up, build, run every test.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/setup.sh" --test
"$src/scripts/build.sh" "$@"
cd "${SP_BUILD:-$src/build}"
ctest --output-on-failure -j"$(nproc)"
