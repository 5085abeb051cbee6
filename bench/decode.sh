#!/usr/bin/env bash
# smtp-decode benchmark; bench/README.md says how to read it.
#
# Times, on one capture of SP_BENCH_MB megabytes (default 300: thousands
# of sessions with attachments, cloned from captures/*.pcap) and in
# this one run: tcpdump -r FILE -w /dev/null (the read floor), tshark
# listing SMTP commands and reply codes, smtp-decode in its default
# output (full MIME decoding, message and part sha256) on all cores and
# on one, with every digest (--hashes), and bench_analyzer (the library
# without JSON).  Nothing passes or fails on a figure.
#
# Environment: as run.sh (lib.sh), plus
#   SP_BENCH_TSHARK_RUNS  runs of tshark (default 1: it is slow)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
decode=$build/tools/smtp-decode/smtp-decode
analyzer=$outdir/bench_analyzer
need_built mkcapture bench_analyzer bench_parsers smtp-decode
need_tools tcpdump tshark /usr/bin/time

for size in $mb $mem_sizes; do
	capture "$size" >/dev/null
done
file=$(capture "$mb")
bytes=$(stat -c %s "$file")
header "smtp-decode benchmark"
echo "peers: $(tcpdump --version 2>&1 | head -n 1); $(tshark -v 2>/dev/null | head -n 1)"
echo

: >"$tmp/results"
: >"$tmp/paired"
saved_runs=$runs
runs=${SP_BENCH_TSHARK_RUNS:-1}
measure "tshark -Y smtp -T fields" tshark -r "$file" -Y smtp -T fields \
    -e smtp.req.command -e smtp.response.code
runs=$saved_runs
# The read floor and our rows in rounds (lib.sh): their ratio is the
# figure that matters, and the host's speed drifts over a minute.
rounds_add "tcpdump -r F -w /dev/null" tcpdump -r "$file" -w /dev/null
rounds_add "smtp-decode F" "$decode" --no-progress -o /dev/null "$file"
rounds_add "smtp-decode -j 1 F" "$decode" --no-progress -j 1 -o /dev/null \
    "$file"
rounds_add "smtp-decode --hashes F" "$decode" --no-progress --hashes \
    -o /dev/null "$file"
rounds_add "bench_analyzer F (1 thread)" "$analyzer" "$file"
cat "$file" >/dev/null
rounds_run

awk -F'\t' -v bytes="$bytes" '
	FILENAME ~ /paired$/ { paired[$1] = $2; next }
	$1 ~ /^tcpdump/ { floor = $2 }
	$1 ~ /^tshark/ { shark = $2 }
	{ n++; name[n] = $1; ms[n] = $2; best[n] = $3; rss[n] = $4; cpu[n] = $5 }
	END {
		printf "%-29s %7s %7s %6s %6s %6s %9s %8s %8s\n", "tool",
		    "wall s", "best s", "cpu s", "MB/s", "RSS MB", "x tcpdump",
		    "paired x", "vs tshark"
		for (i = 1; i <= n; i++) {
			p = "-"
			if (name[i] in paired)
				p = sprintf("%.2f", paired[name[i]])
			printf "%-29s %7.3f %7.3f %6.2f %6.0f %6.1f %9.2f %8s %7.1fx\n",
			    name[i], ms[i] / 1000, best[i] / 1000, cpu[i] / 1000,
			    bytes / 1e6 / (ms[i] / 1000), rss[i] / 1024,
			    ms[i] / floor, p, shark / ms[i]
		}
	}' "$tmp/paired" "$tmp/results"
echo
echo "x tcpdump: median wall time over tcpdump's; paired x: the median over"
echo "  the rounds of the wall time over tcpdump's in the same round (the"
echo "  aim is at most 3: the paired figure holds when the host's speed drifts);"
echo "vs tshark: how many times faster than tshark (the aim is at least 20)."
"$decode" --no-progress --stats -o /dev/null "$file" 2>&1 | sed 's/^/  /'
echo

echo "== memory against capture size (smtp-decode, one run each)"
printf "%-10s %10s %10s\n" "MB" "seconds" "RSS MB"
for size in $mem_sizes; do
	f=$(capture "$size")
	r=$(timed "$decode" --no-progress -o /dev/null "$f")
	printf "%-10s %10.2f %10.1f\n" "$size" "$(echo "$r" | awk '{ print $1 / 1000 }')" \
	    "$(echo "$r" | awk '{ print $2 / 1024 }')"
done

echo
echo "== the parsers alone (bench_parsers: no capture, no TCP, 64 KiB feeds)"
# The corpus: every message of the recorded sessions, exactly as their
# servers received them, gone through SP_BENCH_PARSER_ROUNDS times.
"$decode" --no-progress -j 1 --extract "$tmp/corpus" -o /dev/null \
    "${templates[@]}"
"$outdir/bench_parsers" --rounds "${SP_BENCH_PARSER_ROUNDS:-300}" \
    "$tmp"/corpus/messages/*.eml | sed 's/^/  /'
