#!/usr/bin/env bash
# smtp-decode writes NDJSON with its own writer (ndjson.c); it must be
# byte for byte what json-c writes, on random trees of every JSON type.
set -euo pipefail
bin=${SP_BUILD_DIR:?}/tests/tools/ndjson_check
[ -x "$bin" ] || { echo "ndjson_check not built"; exit 77; }
"$bin"
