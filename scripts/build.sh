#!/usr/bin/env bash
# Configure and build into build/ (or $SP_BUILD).  Extra arguments go
# to cmake, e.g. scripts/build.sh -DSP_WERROR=ON.
#
# An optimised build with GCC is profile-guided: built once
# instrumented (smtp-decode and mkcapture only), trained by decoding a
# 30 MB capture that mkcapture makes from captures/*.pcap, then built
# in the same folder with the profiles.  That makes smtp-decode about
# a tenth faster (bench/README.md).  SP_PGO=0 skips it; Debug,
# sanitizer and fuzzing builds never do it.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${SP_BUILD:-$src/build}

configure() {
	cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" \
	    >/dev/null
}

compile() {
	cmake --build "$build" -j"$(nproc)" "$@" 2>&1 |
	    grep -Ev '^\[|^-- |Built target|Scanning|Consolidate' || true
	test "${PIPESTATUS[0]}" -eq 0
}

# Whether this build takes profiles: GCC, optimised, no sanitizer.
want_pgo() {
	[ "${SP_PGO:-1}" != 0 ] || return 1
	case " $* " in
	*Debug*|*SP_ASAN=ON*|*SP_UBSAN=ON*|*SP_FUZZ=ON*) return 1 ;;
	esac
	"${CC:-cc}" --version 2>/dev/null | grep -q 'Free Software Foundation'
}

train() {
	local cap=$build/pgo/train.pcap decode=$build/tools/smtp-decode/smtp-decode
	mkdir -p "$build/pgo"
	"$build/bench/mkcapture" -o "$cap" --size 30 --seed 1 --interleave 8 \
	    --server-port 25 "$src"/captures/*.pcap >/dev/null
	"$decode" --no-progress -o /dev/null "$cap"
	"$decode" --no-progress -j 1 --hashes -o /dev/null "$cap"
	"$decode" --no-progress --dialogue -o /dev/null "$cap"
}

if want_pgo "$@"; then
	# Old profiles would not match changed sources: start afresh.
	[ ! -d "$build" ] || find "$build" -name '*.gcda' -delete
	configure -DSP_PGO=generate "$@"
	compile --target smtp-decode mkcapture
	train
	configure -DSP_PGO=use "$@"
else
	configure -DSP_PGO= "$@"
fi
compile
