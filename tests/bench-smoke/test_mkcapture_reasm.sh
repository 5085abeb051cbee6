#!/usr/bin/env bash
# bench-smoke: mkcapture builds a valid, deterministic 2 MB capture,
# and bench_reasm delivers exactly the stream bytes mkcapture says the
# cloned sessions hold.  Correctness only: no figure is timed here.
#
# Templates: the project's captures/*.pcap, else the shared corpus's
# bug-3616-smtp.pcap (retransmissions with shifted segment boundaries);
# without either the test is skipped (77).
set -euo pipefail

src=${SP_SOURCE_DIR:?}
build=${SP_BUILD_DIR:?}
mkcap=$build/bench/mkcapture
reasm=$build/bench/bench_reasm
fail=0
pass=0

shopt -s nullglob
templates=("$src"/captures/*.pcap)
shopt -u nullglob
if [ ${#templates[@]} -eq 0 ] && [ -n "${SP_SHARED_CAPTURES:-}" ] &&
    [ -f "$SP_SHARED_CAPTURES/suricata-verify/bug-3616-smtp.pcap" ]; then
	templates=("$SP_SHARED_CAPTURES/suricata-verify/bug-3616-smtp.pcap")
fi
if [ ${#templates[@]} -eq 0 ]; then
	echo "skip: no template captures"
	exit 77
fi
[ -x "$mkcap" ] && [ -x "$reasm" ] || { echo "mkcapture or bench_reasm not built"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() {	# check WHAT GOT WANT
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1: got '$2', want '$3'"
	fi
}

val() {		# val KEY FILE
	sed -n "s/^$1=//p" "$2"
}

"$mkcap" -o "$tmp/a.pcap" --size 2 --seed 7 "${templates[@]}" >"$tmp/a.sum"
"$mkcap" -o "$tmp/b.pcap" --size 2 --seed 7 "${templates[@]}" >/dev/null
"$mkcap" -o "$tmp/c.pcap" --size 2 --seed 8 "${templates[@]}" >/dev/null
cat "$tmp/a.sum"

check "same seed, same bytes" "$(cmp -s "$tmp/a.pcap" "$tmp/b.pcap" && echo same)" same
check "other seed, other bytes" "$(cmp -s "$tmp/a.pcap" "$tmp/c.pcap" || echo differ)" differ
check "file_bytes is the file's size" "$(val file_bytes "$tmp/a.sum")" \
    "$(stat -c %s "$tmp/a.pcap")"
check "at least 2 MB" "$(( $(stat -c %s "$tmp/a.pcap") >= 2000000 ))" 1
check "several sessions" "$(( $(val expect_flows "$tmp/a.sum") > 1 ))" 1

if command -v tcpdump >/dev/null; then
	check "tcpdump reads every packet" \
	    "$(tcpdump -nn -r "$tmp/a.pcap" 2>/dev/null | wc -l)" \
	    "$(val packets "$tmp/a.sum")"
fi
# tcpflow is an independent reassembler: the flow files it writes hold
# every stream byte once, when the templates have no holes.
if command -v tcpflow >/dev/null && [ "$(val expect_gap_bytes "$tmp/a.sum")" = 0 ]; then
	mkdir "$tmp/flows"
	tcpflow -r "$tmp/a.pcap" -o "$tmp/flows" 2>/dev/null
	check "tcpflow's stream bytes" \
	    "$(find "$tmp/flows" -type f ! -name report.xml -printf '%s\n' |
	    awk '{ n += $1 } END { print n + 0 }')" \
	    "$(val expect_stream_bytes "$tmp/a.sum")"
fi

"$reasm" "$tmp/a.pcap" >"$tmp/r.out"
cat "$tmp/r.out"
check "flows" "$(val flows "$tmp/r.out")" "$(val expect_flows "$tmp/a.sum")"
check "flows ended" "$(val flows_ended "$tmp/r.out")" "$(val expect_flows "$tmp/a.sum")"
check "stream bytes" "$(val stream_bytes "$tmp/r.out")" \
    "$(val expect_stream_bytes "$tmp/a.sum")"
check "gap bytes" "$(val gap_bytes "$tmp/r.out")" \
    "$(val expect_gap_bytes "$tmp/a.sum")"
check "file bytes read" "$(val file_bytes "$tmp/r.out")" "$(stat -c %s "$tmp/a.pcap")"
check "no malformed frames" "$(val malformed "$tmp/r.out")" 0

echo "bench-smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
