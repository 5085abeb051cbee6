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
build=${SP_BUILD_DIR:-$src/build}
mb=${SP_BENCH_MB:-300}
runs=${SP_BENCH_RUNS:-5}
seed=${SP_BENCH_SEED:-1}
k=${SP_BENCH_INTERLEAVE:-8}
filter=${SP_BENCH_FILTER:-}
sport=${SP_BENCH_SERVER_PORT:-25}
mss=${SP_BENCH_MSS:-1460}
mkopts=(--seed "$seed" --interleave "$k" --mss "$mss")
[ "$sport" = keep ] || mkopts+=(--server-port "$sport")
[ -z "$filter" ] || mkopts+=(--filter "$filter")
mem_sizes=${SP_BENCH_MEM_MB:-"100 $mb"}
outdir=$build/bench
mkcap=$outdir/mkcapture
reasm=$outdir/bench_reasm

die() {
	echo "bench: $*" >&2
	exit 1
}

if [ -n "${SP_BENCH_TEMPLATES:-}" ]; then
	read -r -a templates <<<"$SP_BENCH_TEMPLATES"
else
	shopt -s nullglob
	templates=("$src"/captures/*.pcap)
	shopt -u nullglob
fi
[ ${#templates[@]} -gt 0 ] ||
	die "no templates in captures/: set SP_BENCH_TEMPLATES"
[ -x "$mkcap" ] && [ -x "$reasm" ] ||
	cmake --build "$build" --target mkcapture bench_reasm >/dev/null ||
	die "cannot build mkcapture and bench_reasm in $build"
for tool in tcpdump tcpflow /usr/bin/time; do
	command -v "$tool" >/dev/null ||
		die "$tool is missing: run scripts/setup.sh --test"
done

if [ -z "${SP_BENCH_TMP:-}" ]; then
	SP_BENCH_TMP=/tmp
	[ -d /dev/shm ] && SP_BENCH_TMP=/dev/shm
fi
tmp=$(mktemp -d "$SP_BENCH_TMP/spbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# capture MB: print the path of a capture of MB megabytes, built unless
# one from the same templates, options and mkcapture is there already.
capture() {
	local size=$1 file key
	file=$outdir/smtp-${size}MB-s$seed-k$k.pcap
	key="$size ${mkopts[*]} $(stat -c '%n %s %Y' "${templates[@]}" "$mkcap")"
	if [ ! -f "$file" ] || [ "$(cat "$file.key" 2>/dev/null)" != "$key" ]; then
		echo "bench: building $file from ${#templates[@]} template(s)" >&2
		"$mkcap" -o "$file" --size "$size" "${mkopts[@]}" \
		    "${templates[@]}" >"$file.summary" || die "mkcapture failed"
		printf '%s\n' "$key" >"$file.key"
	fi
	echo "$file"
}

# timed CMD...: run CMD once; prints "wall_ms peak_rss_kb cpu_ms".
# The wall time is taken here in nanoseconds (GNU time's %e has 10 ms
# steps); peak RSS and user+system CPU come from GNU time (wait4's
# rusage).
timed() {
	local t0 t1
	rm -rf "$tmp/out" && mkdir "$tmp/out"
	t0=$(date +%s%N)
	/usr/bin/time -f '%M %U %S' -o "$tmp/rusage" "$@" >"$tmp/stdout" \
	    2>"$tmp/stderr" || die "failed: $* ($(tail -n 3 "$tmp/stderr"))"
	t1=$(date +%s%N)
	awk -v ms=$(( (t1 - t0) / 1000000 )) \
	    'END { printf "%d %d %d\n", ms, $1, ($2 + $3) * 1000 }' "$tmp/rusage"
}

# median COLUMN FILE: the median of a column of numbers.
median() {
	sort -n -k "$1,$1" "$2" | awk -v c="$1" '{ v[NR] = $c }
	    END { print v[int((NR + 1) / 2)] }'
}

# measure NAME CMD...: SP_BENCH_RUNS runs on a warm cache; appends
# "NAME median_wall_ms best_wall_ms max_rss_kb median_cpu_ms" to
# $tmp/results.
measure() {
	local name=$1 i
	shift
	cat "$file" >/dev/null
	: >"$tmp/runs"
	for ((i = 0; i < runs; i++)); do
		timed "$@" >>"$tmp/runs"
	done
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$(median 1 "$tmp/runs")" \
	    "$(sort -n "$tmp/runs" | head -n 1 | cut -d' ' -f1)" \
	    "$(sort -n -k 2,2 "$tmp/runs" | tail -n 1 | cut -d' ' -f2)" \
	    "$(median 3 "$tmp/runs")" >>"$tmp/results"
}

# val KEY FILE: the value of a key=value line.
val() {
	sed -n "s/^$1=//p" "$2"
}

# Build every capture first, so that no build interrupts the output.
for size in $mb $mem_sizes; do
	capture "$size" >/dev/null
done
file=$(capture "$mb")
bytes=$(stat -c %s "$file")
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
rev=$(git -C "$src" describe --always --dirty 2>/dev/null || echo '?')
echo "== stream reassembly benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $cpu; load average $(cut -d' ' -f1-3 /proc/loadavg)"
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
	echo "warning: other work is running; wall times will be noisy, the CPU"
	echo "  times (and the cpu x tcpdump column) less so"
fi
echo "libsmtpproto $rev; $(tcpdump --version 2>&1 | head -n 1);" \
    "$(tcpflow -V 2>&1 | head -n 1)"
echo "capture: $file"
echo "  $(( bytes / 1000000 )) MB, $(val packets "$file.summary") packets," \
    "$(val sessions "$file.summary") sessions cloned from" \
    "$(val template_flows "$file.summary") template flows, $k in flight"
echo "  mkcapture ${mkopts[*]}" \
    "$(for t in "${templates[@]}"; do basename "$t"; done | tr '\n' ' ')"
echo "method: $runs run(s) per tool after cat FILE >/dev/null; wall time of the"
echo "  whole process (median, best), user+sys CPU (median), peak RSS (largest,"
echo "  GNU time %M); MB/s and the ratios use the median wall time"
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
