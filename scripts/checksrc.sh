#!/usr/bin/env bash
# Reject banned C functions (curl's checksrc idea): each has a bounded
# or safer replacement.  Runs over the library, tools, tests and bench.
set -euo pipefail
cd "$(dirname "$0")/.."
banned='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|strncpy)[[:space:]]*\('
hits=$(grep -RInE "$banned" --include='*.c' --include='*.h' \
	libsmtpproto tools tests bench 2>/dev/null || true)
if [ -n "$hits" ]; then
	echo "checksrc: banned functions used (use snprintf, memcpy with a"
	echo "checked length, strtol/strtoul with end checks):"
	echo "$hits"
	exit 1
fi
echo "checksrc: 1 passed, 0 failed"
