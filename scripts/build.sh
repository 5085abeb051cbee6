#!/usr/bin/env bash
# Configure and build into build/ (or $SP_BUILD).  Extra arguments go
# to cmake, e.g. scripts/build.sh -DSP_WERROR=ON.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${SP_BUILD:-$src/build}
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j"$(nproc)" 2>&1 | grep -Ev '^\[|^-- |Built target|Scanning|Consolidate' || true
test "${PIPESTATUS[0]}" -eq 0
