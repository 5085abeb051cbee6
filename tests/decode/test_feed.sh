#!/usr/bin/env bash
# smtp-decode's shards share one reading of a file (tools/smtp-decode/
# feed.c): feed_check runs it with small blocks over the repository's
# captures (and, when present, a few shared ones, a cut one among them)
# and checks that every shard sees every segment in order, whatever the
# shards' number, and when one of them leaves early.
set -euo pipefail
bin=${SP_BUILD_DIR:?}/tests/tools/feed_check
src=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$bin" ] || { echo "feed_check not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=("$src"/captures/large.pcap "$src"/captures/interleaved.pcap \
    "$src"/captures/sample.pcap)
# A capture cut inside a record: every shard must meet the same end.
head -c 200000 "$src"/captures/large.pcap >"$tmp/cut.pcap"
files+=("$tmp/cut.pcap")
"$bin" "${files[@]}"
