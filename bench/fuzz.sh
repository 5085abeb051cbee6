#!/usr/bin/env bash
# smtp-fuzz benchmark: execs/s, states and transitions reached in
# SP_FUZZ_BENCH_S seconds (default 60) against aiosmtpd, Postfix
# smtp-sink and a private Postfix smtpd, all on 127.0.0.1, printed
# beside AFLNet's published ~4.8 test cases/s on Exim (ProFuzzBench).
# Nothing passes or fails on a figure.  Needs a build (SP_BUILD_DIR,
# default ./build) and /usr/bin/python3 with aiosmtpd.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
export SP_SOURCE_DIR=$src
export SP_BUILD_DIR=${SP_BUILD_DIR:-$src/build}
exec /usr/bin/python3 "$src/bench/fuzz_bench.py" "$@"
