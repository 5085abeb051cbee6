#!/usr/bin/env bash
# Install what libsmtpproto needs to build and test, when it is missing.
# Idempotent and quiet: prints one line per package set it installs.
#   scripts/setup.sh          build dependencies only
#   scripts/setup.sh --test   plus the peers the tests run against
set -euo pipefail

build_pkgs=(cmake gcc make pkg-config libpcap-dev libjson-c-dev
	libreadline-dev libssl-dev)
test_pkgs=(tcpdump tshark tcpflow swaks postfix python3-aiosmtpd
	openssl iproute2 tmux python3-jsonschema time wireshark-common)
# libFuzzer builds (-DSP_FUZZ=ON, CC=clang-14) also need clang-14 and
# libclang-rt-14-dev; no test needs them, so they are not installed here.

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
	want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# postfix would ask how to configure itself; tell it not to set up a
# system mail server (the tests start their own instances).
echo "postfix postfix/main_mailer_type select No configuration" |
	$SUDO debconf-set-selections 2>/dev/null || true
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	$SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
