#!/usr/bin/env bash
# Re-record the project's own captures against real servers on loopback.
#
#   sudo captures/record.sh                 all cases, into captures/
#   sudo captures/record.sh basic bdat      only these cases
#   SP_RECORD_OUT=/tmp/x captures/record.sh write elsewhere
#   SP_RECORD_NO_POSTFIX=1 ...              skip the Postfix-instance cases
#
# Needs root (tcpdump on lo, smtp-sink -u nobody, a private Postfix
# instance) and: tcpdump, openssl, postfix (smtpd, smtp-sink),
# python3-aiosmtpd.  Every connection goes to 127.0.0.1 or ::1.
# See captures/README.md for what each case holds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${SP_RECORD_OUT:-$here}

if [ "$(id -u)" -ne 0 ]; then
	echo "record.sh: must run as root (tcpdump, postfix)" >&2
	exit 1
fi
missing=()
for tool in tcpdump openssl postfix postconf smtp-sink; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null ||
	missing+=(python3-aiosmtpd)
if [ ${#missing[@]} -gt 0 ]; then
	echo "record.sh: missing ${missing[*]} (scripts/setup.sh --test)" >&2
	exit 1
fi

args=(--out "$out")
[ -n "${SP_RECORD_NO_POSTFIX:-}" ] && args+=(--no-postfix)
mkdir -p "$out"
# The whole run is bounded: every wait in recorder.py has a timeout, and
# this caps the run as a whole.
exec timeout 600 /usr/bin/python3 "$here/recorder.py" "${args[@]}" "$@"
