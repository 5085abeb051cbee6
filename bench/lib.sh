# bench/lib.sh - what the benchmark scripts share: settings, building
# the capture with mkcapture, and timing a command (median of runs,
# peak RSS, CPU).  Sourced by run.sh and decode.sh; see README.md.

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
# need_built TARGET...: build the project's targets the script runs.
need_built() {
	cmake --build "$build" --target "$@" >/dev/null ||
		die "cannot build $* in $build"
}

# need_tools TOOL...: peers and helpers that must be installed.
need_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null ||
			die "$tool is missing: run scripts/setup.sh --test"
	done
}

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
	rounds_result "$name" "$tmp/runs"
}

# shellcheck source=bench/rounds.sh
. "$src/bench/rounds.sh"

# rounds_result NAME RUNS: the results line of measure() and rounds_run.
rounds_result() {
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$(median 1 "$2")" \
	    "$(sort -n "$2" | head -n 1 | cut -d' ' -f1)" \
	    "$(sort -n -k 2,2 "$2" | tail -n 1 | cut -d' ' -f2)" \
	    "$(median 3 "$2")" >>"$tmp/results"
}

# val KEY FILE: the value of a key=value line.
val() {
	sed -n "s/^$1=//p" "$2"
}


# header TITLE: what was measured, where, and how.
header() {
	local cpu rev
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	rev=$(git -C "$src" describe --always --dirty 2>/dev/null || echo '?')
	echo "== $1, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) cores, $cpu; load average $(cut -d' ' -f1-3 /proc/loadavg)"
	if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
		echo "warning: other work is running; wall times will be noisy, the CPU"
		echo "  times (and the cpu x columns) less so"
	fi
	echo "libsmtpproto $rev"
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
}
