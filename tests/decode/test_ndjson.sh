#!/usr/bin/env bash
# smtp-decode writes NDJSON with its own writers (ndjson.c for json-c
# trees, tools/common/jv.c for session records); both must be byte for
# byte what json-c writes, on random trees of every JSON type.
set -euo pipefail
bin=${SP_BUILD_DIR:?}/tests/tools/ndjson_check
[ -x "$bin" ] || { echo "ndjson_check not built"; exit 77; }
"$bin"
