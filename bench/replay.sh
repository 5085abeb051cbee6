#!/usr/bin/env bash
# smtp-replay load benchmark: Postfix smtp-source and smtp-replay --load,
# in the same run, against one Postfix smtp-sink on loopback, with the
# same number and size of messages at each concurrency: one message per
# session (smtp-source's default), then every message of a slot over one
# connection (smtp-source -d, smtp-replay -k).  smtp-replay runs as it
# comes (RFC 2920 groups, since smtp-sink offers PIPELINING) and
# lock-step.  The rows are timed in rounds (rounds.sh).  Prints
# messages/s (from the median wall time of the whole process), CPU, the
# ratio to smtp-source, and smtp-replay's per-phase latency percentiles,
# which smtp-source cannot give.  Nothing passes or fails on a figure.
#
# Environment:
#   SP_BUILD_DIR              build folder (default build)
#   SP_BENCH_LOAD_MESSAGES    messages per run (default 5000)
#   SP_BENCH_LOAD_SIZE        message size in bytes (default 4096)
#   SP_BENCH_LOAD_CONC        concurrencies (default "1 10 50")
#   SP_BENCH_RUNS             rounds, median taken (default 3)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${SP_BUILD_DIR:-$src/build}
tool=$build/tools/smtp-replay/smtp-replay
n=${SP_BENCH_LOAD_MESSAGES:-5000}
size=${SP_BENCH_LOAD_SIZE:-4096}
concs=${SP_BENCH_LOAD_CONC:-"1 10 50"}
runs=${SP_BENCH_RUNS:-3}

die() {
	echo "bench: $*" >&2
	exit 1
}

for t in smtp-sink smtp-source /usr/bin/time python3; do
	command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] ||
		die "$t is missing: run scripts/setup.sh --test"
done
PATH=$PATH:/usr/sbin
[ -x "$tool" ] || die "build smtp-replay first ($tool)"

tmp=$(mktemp -d /tmp/spload.XXXXXX)
sink_pid=
cleanup() {
	[ -z "$sink_pid" ] || kill "$sink_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# A free loopback port, then smtp-sink on it: -u nobody when root (it
# insists), backlog 1024, and a cap on its life so nothing outlives us.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user=()
[ "$(id -u)" != 0 ] || user=(-u nobody)
timeout 3600 smtp-sink "${user[@]}" 127.0.0.1:"$port" 1024 \
    >"$tmp/sink.log" 2>&1 &
sink_pid=$!
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
	sleep 0.1
done
target=127.0.0.1:$port

# timed CMD...: one run; prints "wall_ms cpu_ms" (wall in ns steps).
# Its output stays in $tmp/stdout.N, N the rounds index (rounds.sh).
timed() {
	local t0 t1
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S' -o "$tmp/rusage" "$@" >"$tmp/stdout" \
	    2>"$tmp/stderr" || die "failed: $* ($(tail -n 3 "$tmp/stderr"))"
	t1=$(date +%s%N)
	cp "$tmp/stdout" "$tmp/stdout.${round_j:-0}"
	awk -v ms=$(( (t1 - t0) / 1000000 )) \
	    'END { printf "%d %d\n", ms, ($1 + $2) * 1000 }' "$tmp/rusage"
}

# shellcheck source=bench/rounds.sh
. "$src/bench/rounds.sh"

# rounds_result NAME RUNS: median wall and CPU to the results.
rounds_result() {
	printf '%s\t%s\t%s\n' "$1" "$(median 1 "$2")" "$(median 2 "$2")" \
	    >>"$tmp/results"
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "== smtp-replay load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cores, $cpu; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "libsmtpproto $(git -C "$src" describe --always --dirty 2>/dev/null || echo '?')"
echo "server: Postfix smtp-sink on $target (one process, shared by every row)"
echo "work: $n messages of $size bytes, one per session; $runs round(s) of every"
echo "  row, median wall time of the whole process; CPU is the client's user+sys"
echo

: >"$tmp/results"
: >"$tmp/paired"
for c in $concs; do
	k=$(( (n + c - 1) / c ))
	common=(--load --no-progress --target "$target" --concurrency "$c")
	# One message per connection: smtp-replay as it comes (RFC 2920
	# groups, since smtp-sink offers PIPELINING; polling for replies)
	# and lock-step, as smtp-source goes.
	rounds_add "smtp-source -s $c" smtp-source -s "$c" -m "$n" -l "$size" \
	    "$target"
	rounds_add "smtp-replay -c $c" "$tool" "${common[@]}" --repeat "$n" \
	    --size "$size"
	rounds_add "smtp-replay -c $c --no-pipelining" "$tool" "${common[@]}" \
	    --repeat "$n" --size "$size" --no-pipelining
	rounds_run
	cp "$tmp/stdout.1" "$tmp/table-$c.txt"
	cp "$tmp/stdout.2" "$tmp/table-lock-$c.txt"
	# Connections kept: smtp-source -d sends every message of a slot
	# over one connection; smtp-replay gets the same with -k.
	rounds_add "smtp-source -s $c -d" smtp-source -d -s "$c" -m "$n" \
	    -l "$size" "$target"
	rounds_add "smtp-replay -c $c -k $k" "$tool" "${common[@]}" \
	    --messages "$n" -k "$k" --size "$size"
	rounds_add "smtp-replay -c $c -k $k --no-pipelining" "$tool" \
	    "${common[@]}" --messages "$n" -k "$k" --size "$size" \
	    --no-pipelining
	rounds_run
	cp "$tmp/stdout.1" "$tmp/table-k-$c.txt"
done

# ratio NAME: the median over the rounds of smtp-source's wall time
# over NAME's in the same round (rounds.sh writes the inverse).
ratio() {
	awk -F'\t' -v want="$1" '
		$1 == want { printf "%.2fx", 1 / $2; found = 1 }
		END { if (!found) printf "?" }' "$tmp/paired"
}

awk -F'\t' -v n="$n" '
	FILENAME ~ /paired$/ { paired[$1] = $2; next }
	{ name[++r] = $1; ms[r] = $2; cpu[r] = $3 }
	END {
		printf "%-42s %8s %8s %8s %10s\n", "client", "wall s", "cpu s",
		    "msg/s", "x source"
		for (i = 1; i <= r; i++)
			printf "%-42s %8.3f %8.2f %8.0f %9.2fx\n", name[i],
			    ms[i] / 1000, cpu[i] / 1000, n / (ms[i] / 1000),
			    1 / paired[name[i]]
	}' "$tmp/paired" "$tmp/results"
echo
echo "x source: the median over the rounds of smtp-source's wall time over"
echo "  this row's in the same round (rounds.sh), at the same concurrency and"
echo "  connection use; -d / -k K: K messages per connection.  smtp-replay"
echo "  groups commands (RFC 2920) by default when the server offers"
echo "  PIPELINING, as Postfix does; --no-pipelining is lock-step."
echo
echo "== ratio to smtp-source (the aim: at least 1.5x as smtp-replay runs)"
printf '%-12s %10s %12s %14s %18s\n' concurrency default lock-step \
    "default -k K" "lock-step -k K"
for c in $concs; do
	k=$(( (n + c - 1) / c ))
	printf '%-12s %10s %12s %14s %18s\n' "$c" \
	    "$(ratio "smtp-replay -c $c")" \
	    "$(ratio "smtp-replay -c $c --no-pipelining")" \
	    "$(ratio "smtp-replay -c $c -k $k")" \
	    "$(ratio "smtp-replay -c $c -k $k --no-pipelining")"
done
for c in $concs; do
	echo
	echo "== smtp-replay -c $c, latency per phase (last run)"
	sed -n '/^phase/,$p' "$tmp/table-$c.txt"
	echo
	echo "== smtp-replay -c $c --no-pipelining, latency per phase (last run)"
	sed -n '/^phase/,$p' "$tmp/table-lock-$c.txt"
	echo
	echo "== smtp-replay -c $c -k K (last run)"
	sed -n '/^phase/,$p' "$tmp/table-k-$c.txt"
done
