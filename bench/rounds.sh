# bench/rounds.sh - timing commands in rounds, for the ratios the
# benchmarks print.  Sourced by lib.sh (decode) and replay.sh (load).
#
# The rows to be compared are run one of each per round, not all runs
# of one then all of the next: the host's speed drifts over a minute
# (a neighbour on a shared machine, the clock), and in rounds the drift
# falls on every row alike, so their ratios hold.
#
# The sourcing script provides $tmp, $runs, timed CMD... (one run,
# printing the wall time in ms first) and rounds_result NAME RUNS_FILE
# (its results line from the runs).

round_names=()
round_cmds=()

# rounds_add NAME CMD...: a command for rounds_run.
rounds_add() {
	local name=$1
	shift
	round_names+=("$name")
	round_cmds+=("$(printf '%q ' "$@")")
}

# median COLUMN FILE: the median of a column of numbers.
median() {
	sort -n -k "$1,$1" "$2" | awk -v c="$1" '{ v[NR] = $c }
	    END { print v[int((NR + 1) / 2)] }'
}

# rounds_run: $runs rounds of every command added, in order; then
# rounds_result for each, and "NAME<TAB>RATIO" to $tmp/paired: the
# median over the rounds of its wall time over the first command's in
# the same round.  The list is emptied for the next set.
rounds_run() {
	local i j
	for ((j = 0; j < ${#round_cmds[@]}; j++)); do
		: >"$tmp/runs.$j"
	done
	for ((i = 0; i < runs; i++)); do
		for ((j = 0; j < ${#round_cmds[@]}; j++)); do
			round_j=$j	# which command timed is running
			eval "timed ${round_cmds[$j]}" >>"$tmp/runs.$j"
		done
	done
	for ((j = 0; j < ${#round_cmds[@]}; j++)); do
		rounds_result "${round_names[$j]}" "$tmp/runs.$j"
		paste -d' ' "$tmp/runs.0" "$tmp/runs.$j" |
		    awk -v w="$(head -n 1 "$tmp/runs.0" | wc -w)" \
		    '{ print $(w + 1) / $1 }' >"$tmp/ratios"
		printf '%s\t%s\n' "${round_names[$j]}" \
		    "$(median 1 "$tmp/ratios")" >>"$tmp/paired"
	done
	round_names=()
	round_cmds=()
}
