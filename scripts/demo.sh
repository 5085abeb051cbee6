#!/usr/bin/env bash
# The README's first command: set up, build, and decode the sample
# capture shipped in captures/ (or the capture given) to JSON.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
"$src/scripts/setup.sh"
"$src/scripts/build.sh"
exec "${SP_BUILD:-$src/build}/tools/smtp-decode/smtp-decode" --stats --pretty \
	"${@:-$src/captures/sample.pcap}"
