#!/usr/bin/env bash
# Stream reassembly benchmark; bench/README.md says how to read it.
#
# Builds (once) a capture of SP_BENCH_MB megabytes from the recorded
# sessions in captures/*.pcap, then times on that same file, in this
# one run: tcpdump -r FILE -w /dev/null (the read floor), tcpflow, and
# bench_reasm.  Each tool runs SP_BENCH_RUNS times on a warm page
# cache; the table shows the median and best wall times, the median
# CPU time and the largest peak RSS.  Nothing here passes or fails on
# a figure.
#
# Environment (all optional):
#   SP_BUILD_DIR         build tree (default: build/ in the source tree)
#   SP_BENCH_MB          capture size in MB of 10^6 bytes (default 300)
#   SP_BENCH_RUNS        runs per tool (default 5)
#   SP_BENCH_SEED        mkcapture seed (default 1)
#   SP_BENCH_INTERLEAVE  sessions in flight at once (default 8)
#   SP_BENCH_TEMPLATES   template captures, space-separated
#                        (default: captures/*.pcap of the source tree)
#   SP_BENCH_FILTER      BPF filter for the templates (default: none)
#   SP_BENCH_SERVER_PORT server port of the clones (default 25; "keep"
#                        keeps each template's)
#   SP_BENCH_MSS         longest segment payload (default 1460; 0 keeps
#                        the templates' segments, 64 KB on loopback)
#   SP_BENCH_MEM_MB      sizes for the memory check (default "100 MB")
#   SP_BENCH_TMP         where tcpflow writes (default /dev/shm, else /tmp)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$src/bench/lib.sh"
reasm=$outdir/bench_reasm
need_built mkcapture bench_reasm
need_tools tcpdump tcpflow /usr/bin/time

# Build every capture first, so that no build interrupts the output.
for size in $mb $mem_sizes; do
	capture "$size" >/dev/null
done
file=$(capture "$mb")
bytes=$(stat -c %s "$file")
header "stream reassembly benchmark"
echo "peers: $(tcpdump --version 2>&1 | head -n 1); $(tcpflow -V 2>&1 | head -n 1)"
echo
: >"$tmp/results"
measure "tcpdump -r F -w /dev/null" tcpdump -r "$file" -w /dev/null
# tcpflow's job is writing each flow to a file: it writes them to a
# tmpfs (out of the disk's way).  -FX reassembles without writing
# flow files, which is closer to what bench_reasm does.
measure "tcpflow -r F -o TMPFS" tcpflow -r "$file" -o "$tmp/out"
measure "tcpflow -FX -r F -o TMPFS" tcpflow -FX -r "$file" -o "$tmp/out"
measure "bench_reasm --capture-only F" "$reasm" --capture-only "$file"
measure "bench_reasm F" "$reasm" "$file"
cp "$tmp/stdout" "$tmp/reasm.out"

awk -F'\t' -v bytes="$bytes" '
	NR == 1 { floor = $2; floor_cpu = $5 }
	$1 ~ /^tcpflow/ && (flow == 0 || $2 < flow) { flow = $2 }
	{ name[NR] = $1; ms[NR] = $2; best[NR] = $3; rss[NR] = $4; cpu[NR] = $5 }
	END {
		printf "%-29s %6s %6s %6s %5s %6s %9s %9s %5s\n", "tool",
		    "wall s", "best s", "cpu s", "MB/s", "RSS MB",
		    "x tcpdump", "x tcpflow", "cpu x"
		for (i = 1; i <= NR; i++)
			printf "%-29s %6.3f %6.3f %6.2f %5.0f %6.1f %9.2f %9.2f " \
			    "%5s\n", name[i], ms[i] / 1000, best[i] / 1000,
			    cpu[i] / 1000, bytes / 1e6 / (ms[i] / 1000),
			    rss[i] / 1024, ms[i] / floor, ms[i] / flow,
			    (floor_cpu > 0 ? sprintf("%.2f", cpu[i] / floor_cpu) : "-")
	}' "$tmp/results"
echo
echo "x tcpdump, x tcpflow: median wall time over that tool's (below 1 is"
echo "faster; x tcpflow is against the faster tcpflow row); cpu x: median CPU"
echo "time over tcpdump's."
echo "bench_reasm counted: flows=$(val flows "$tmp/reasm.out")" \
    "stream_bytes=$(val stream_bytes "$tmp/reasm.out")" \
    "gap_bytes=$(val gap_bytes "$tmp/reasm.out")" \
    "dup_bytes=$(val dup_bytes "$tmp/reasm.out")"
echo "mkcapture expected:  flows=$(val expect_flows "$file.summary")" \
    "stream_bytes=$(val expect_stream_bytes "$file.summary")" \
    "gap_bytes=$(val expect_gap_bytes "$file.summary")"
echo

echo "== memory against capture size (bench_reasm, one run each)"
printf "%-10s %10s %10s %10s\n" "MB" "flows" "seconds" "RSS MB"
for size in $mem_sizes; do
	f=$(capture "$size")
	cat "$f" >/dev/null
	"$reasm" "$f" >"$tmp/mem.out"
	printf "%-10s %10s %10s %10.1f\n" "$(( $(stat -c %s "$f") / 1000000 ))" \
	    "$(val flows "$tmp/mem.out")" "$(val seconds "$tmp/mem.out")" \
	    "$(awk -F= '/^peak_rss_kb=/ { print $2 / 1024 }' "$tmp/mem.out")"
done
