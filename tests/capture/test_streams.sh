#!/usr/bin/env bash
# Stream equality: the library's capture + TCP reassembly (through
# tests/tools/sp_streams) must give back, byte for byte, the streams the
# recording client logged (captures/<case>.c2s and .s2c), for every
# capture in captures/ and for damaged or re-encapsulated variants made
# by tests/tools/pcapmangle:
#
#   reorder dup tiny1 tiny7 nohandshake vlan qinq sll sll2 frag64 pcapng
#       every stream equals the original, and no gap is reported;
#   drop K (K = 2, 3)
#       exactly one gap, "gap dir=client off=O len=L" as pcapmangle
#       printed; the client stream equals the original without bytes
#       [O, O+L) (sp_streams leaves gap bytes out); the server stream
#       equals the original;
#   snap 96 (every frame cut to 96 bytes: most payload is lost)
#       the gaps reported for each direction, taken out of the
#       original, give exactly the stream written (so every byte
#       delivered sits at its right offset), and gap bytes plus written
#       bytes add up to the original's length;
#   midstream P (P = 3, 6, 10; single-session captures)
#       pcapmangle prints, for the first flow and each direction, the
#       stream offset F (from ISN+1) of the first payload byte left in
#       the variant (or "none").  The reassembler picks the flow up
#       there: each stream must equal the original from offset F on
#       (the original's suffix of length len-F), with no gap; a
#       direction with no payload left must give an empty stream.
#
# It also compares our reassembly of every original with tcpflow's
# (tcpflow -r FILE -o DIR), and checks hostile input: copies of each
# capture cut inside its file header, inside a record header and inside
# records' data must make sp_streams exit 1 with a message that names
# the file and an offset at or before the cut, and every stream written
# before that must be a prefix of the original.
#
# SP_STREAMS_CASES="basic bdat" limits the run to those cases.
# Exit 0 all passed, 1 a mismatch, 77 a needed program is missing.
set -u

src=${SP_SOURCE_DIR:-$(pwd)}
build=${SP_BUILD_DIR:-$src/build}
caps=$src/captures
streams=$build/tests/tools/sp_streams
mangle=$build/tests/tools/pcapmangle
py=/usr/bin/python3

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$streams" ] || skip "sp_streams not built (capture/TCP layer missing)"
[ -x "$mangle" ] || skip "pcapmangle not built"
[ -x "$py" ] || skip "/usr/bin/python3 missing"
command -v tcpflow >/dev/null || skip "tcpflow missing (scripts/setup.sh --test)"
command -v editcap >/dev/null || skip "editcap missing (wireshark-common)"
ls "$caps"/*.pcap >/dev/null 2>&1 || skip "no captures in $caps"

tmp=$(mktemp -d /tmp/sp-streams.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# Sessions of a case, one line each: client_port c2s_file s2c_file.
sessions() {
	"$py" - "$1" <<'EOF'
import json, sys
for s in json.load(open(sys.argv[1]))["sessions"]:
    print(s["client"][1], s["c2s"], s["s2c"])
EOF
}

# Start offsets of every record of a pcap file, then its size.
record_offsets() {
	"$py" - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
end = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
off = 24
while off + 16 <= len(d):
    print(off)
    incl = struct.unpack(end + "I", d[off + 8:off + 12])[0]
    off += 16 + incl
print(len(d))
EOF
}

# The stream file sp_streams wrote for client port $2, extension $3.
flow_file() {
	local f
	for f in "$1"/*-*."$2"-*."$3"; do
		[ -e "$f" ] && { echo "$f"; return 0; }
	done
	return 1
}

# run_streams PCAP OUTDIR [sp_streams options]: keeps the output in
# OUTDIR, OUTDIR.out (flow lines) and OUTDIR.err.
run_streams() {
	local pcap=$1 dir=$2
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir"
	"$streams" "$@" "$pcap" "$dir" >"$dir.out" 2>"$dir.err"
}

# The server port of a case's first session.
server_port() {
	"$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["sessions"][0]["server"][1])' "$1"
}

# expect_equal CASE VARIANT OUTDIR: every session's streams equal the
# recorded ones, and no gap was reported.
expect_equal() {
	local case=$1 what=$2 dir=$3 port c2s s2c f ext orig good=1
	if grep -q ' gap ' "$dir.out"; then
		bad "$case $what: unexpected gap: $(grep ' gap ' "$dir.out" | head -1)"
		return
	fi
	while read -r port c2s s2c; do
		for ext in c2s s2c; do
			[ $ext = c2s ] && orig=$caps/$c2s || orig=$caps/$s2c
			if ! f=$(flow_file "$dir" "$port" $ext); then
				bad "$case $what: no $ext stream for client port $port"
				good=0
			elif ! cmp -s "$f" "$orig"; then
				bad "$case $what: $ext differs from $(basename "$orig") ($(stat -c %s "$f") vs $(stat -c %s "$orig") bytes)"
				good=0
			fi
		done
	done < <(sessions "$caps/$case.json")
	[ $good = 1 ] && ok "$case $what: every stream equals the recorded one"
}

check_variant() {
	local case=$1 what=$2 pcap=$3 dir=$tmp/$1.$2
	if ! run_streams "$pcap" "$dir"; then
		bad "$case $what: sp_streams failed: $(head -1 "$dir.err")"
		return
	fi
	expect_equal "$case" "$what" "$dir"
}

# tcpflow names a flow SRC.SPORT-DST.DPORT, ports zero-padded to 5.
check_tcpflow() {
	local case=$1 dir=$tmp/$1.original tf=$tmp/$1.tcpflow port c2s s2c p5 t o good=1
	rm -rf "$tf"
	mkdir -p "$tf"
	tcpflow -r "$caps/$case.pcap" -o "$tf" >/dev/null 2>&1
	while read -r port c2s s2c; do
		p5=$(printf %05d "$port")
		for t in "$tf"/*."$p5"-*; do break; done
		o=$(flow_file "$dir" "$port" c2s) || o=/nonexistent
		cmp -s "$t" "$o" || good=0
		for t in "$tf"/*-*."$p5"; do break; done
		o=$(flow_file "$dir" "$port" s2c) || o=/nonexistent
		cmp -s "$t" "$o" || good=0
	done < <(sessions "$caps/$case.json")
	if [ $good = 1 ]; then
		ok "$case: our reassembly equals tcpflow's"
	else
		bad "$case: our reassembly differs from tcpflow's ($tf)"
	fi
}

check_drop() {
	local case=$1 k=$2 v=$tmp/$1.drop$2.pcap dir=$tmp/$1.drop$2
	local line off len port c2s s2c f exp
	if ! line=$("$mangle" drop "$caps/$case.pcap" "$v" "$k"); then
		bad "$case drop $k: pcapmangle failed"
		return
	fi
	off=$(sed -n 's/^dropped dir=client off=\([0-9]*\) len=.*/\1/p' <<<"$line")
	len=$(sed -n 's/^dropped dir=client off=[0-9]* len=\([0-9]*\)$/\1/p' <<<"$line")
	port=$(sed -n 's/^first flow client port=\([0-9]*\)$/\1/p' <<<"$line")
	if ! run_streams "$v" "$dir"; then
		bad "$case drop $k: sp_streams failed: $(head -1 "$dir.err")"
		return
	fi
	if [ "$(grep -o ' gap dir=' "$dir.out" | wc -l)" != 1 ] ||
	    ! grep -q " gap dir=client off=$off len=$len " "$dir.out"; then
		bad "$case drop $k: want exactly one 'gap dir=client off=$off len=$len', got: $(grep -o ' gap [^e]*' "$dir.out" | tr '\n' ' ')"
		return
	fi
	read -r _ c2s s2c < <(sessions "$caps/$case.json" | grep "^$port ")
	exp=$tmp/expect.c2s
	{ head -c "$off" "$caps/$c2s"; tail -c +$((off + len + 1)) "$caps/$c2s"; } >"$exp"
	f=$(flow_file "$dir" "$port" c2s) || f=/nonexistent
	if ! cmp -s "$f" "$exp"; then
		bad "$case drop $k: client stream is not the original without [$off, $((off + len)))"
		return
	fi
	f=$(flow_file "$dir" "$port" s2c) || f=/nonexistent
	if ! cmp -s "$f" "$caps/$s2c"; then
		bad "$case drop $k: server stream differs"
		return
	fi
	ok "$case drop $k: one gap at off=$off len=$len, bytes around it equal"
}

# gaps_match ORIG OUT DIR FLOWLINE: OUT is ORIG without the gaps that
# FLOWLINE lists for direction DIR (client|server).
gaps_match() {
	"$py" - "$@" <<'EOF'
import re, sys
orig = open(sys.argv[1], "rb").read()
out = open(sys.argv[2], "rb").read()
line = sys.argv[4]
if "gaps_not_listed" in line:
    sys.exit("too many gaps to check")
gaps = [(int(o), int(n)) for o, n in
        re.findall(r"gap dir=%s off=(\d+) len=(\d+)" % sys.argv[3], line)]
exp, pos = bytearray(), 0
for o, n in sorted(gaps):
    if o < pos:
        sys.exit("gaps overlap or go back")
    exp += orig[pos:o]
    pos = o + n
exp += orig[pos:]
if pos > len(orig):
    sys.exit("a gap runs past the end of the original")
if bytes(exp) != out:
    sys.exit("written bytes are not the original without the gaps")
print(len(gaps))
EOF
}

check_snap() {
	local case=$1 v=$tmp/$1.snap.pcap dir=$tmp/$1.snap port c2s s2c
	local line f ext orig d ngaps total=0 good=1
	"$mangle" snap "$caps/$case.pcap" "$v" 96 || { bad "$case snap: pcapmangle failed"; return; }
	if ! run_streams "$v" "$dir"; then
		bad "$case snap 96: sp_streams failed: $(head -1 "$dir.err")"
		return
	fi
	while read -r port c2s s2c; do
		line=$(grep -E "^flow [0-9]+ \[?[0-9a-f.:]+\]?:$port > " "$dir.out")
		for d in client server; do
			[ $d = client ] && ext=c2s orig=$caps/$c2s || ext=s2c orig=$caps/$s2c
			f=$(flow_file "$dir" "$port" $ext) || f=/nonexistent
			if ! ngaps=$(gaps_match "$orig" "$f" $d "$line" 2>&1); then
				bad "$case snap 96: $d: $ngaps"
				good=0
			else
				total=$((total + ngaps))
			fi
		done
	done < <(sessions "$caps/$case.json")
	if [ $good = 1 ] && [ $total = 0 ]; then
		bad "$case snap 96: no gap reported although payload was cut"
	elif [ $good = 1 ]; then
		ok "$case snap 96: $total gaps; the original without them is what was written"
	fi
}

check_midstream() {
	local case=$1 p=$2 v=$tmp/$1.mid$2.pcap dir=$tmp/$1.mid$2
	local out port c2s s2c d first f orig good=1
	if ! out=$("$mangle" midstream "$caps/$case.pcap" "$v" "$p"); then
		bad "$case midstream $p: pcapmangle failed"
		return
	fi
	port=$(sed -n 's/^first flow client port=\([0-9]*\)$/\1/p' <<<"$out")
	read -r _ c2s s2c < <(sessions "$caps/$case.json" | grep "^$port ")
	# Picked up mid-stream, a flow's roles come from its ports, as
	# for port 25 in the field; our servers listen on random ports.
	if ! run_streams "$v" "$dir" -p "$(server_port "$caps/$case.json")"; then
		bad "$case midstream $p: sp_streams failed: $(head -1 "$dir.err")"
		return
	fi
	if grep -q ' gap ' "$dir.out"; then
		bad "$case midstream $p: unexpected gap"
		return
	fi
	for d in client server; do
		first=$(sed -n "s/^first dir=$d off=\\(.*\\)$/\\1/p" <<<"$out")
		[ $d = client ] && orig=$caps/$c2s || orig=$caps/$s2c
		[ $d = client ] && ext=c2s || ext=s2c
		f=$(flow_file "$dir" "$port" $ext) || f=""
		if [ "$first" = none ]; then
			# No payload left that way: no stream, or an empty one.
			[ -z "$f" ] || [ ! -s "$f" ] || good=0
		elif [ -z "$f" ] ||
		    ! cmp -s "$f" <(tail -c +$((first + 1)) "$orig"); then
			bad "$case midstream $p: $d stream is not the original from offset $first"
			good=0
		fi
	done
	[ $good = 1 ] && ok "$case midstream $p: streams are the originals' suffixes from the first byte seen"
}

check_truncated() {
	local case=$1 pcap=$caps/$1.pcap offs size cuts cut rec i v dir n good
	mapfile -t offs < <(record_offsets "$pcap")
	size=${offs[-1]}
	n=$((${#offs[@]} - 1))
	# Inside the file header, inside the first record header, inside
	# the data of records at 1/3 and 2/3, and one byte short.
	cuts=(10 $((offs[0] + 9)) $((offs[n / 3] + 20)) $((offs[2 * n / 3] + 17)) $((size - 1)))
	for cut in "${cuts[@]}"; do
		v=$tmp/$case.cut$cut.pcap
		dir=$tmp/$case.cut$cut
		head -c "$cut" "$pcap" >"$v"
		# The start of the record the cut falls in (0: file header).
		rec=0
		for ((i = 0; i < n; i++)); do
			[ "${offs[i]}" -le "$cut" ] && rec=${offs[i]}
		done
		[ "$cut" -lt 24 ] && rec=0
		run_streams "$v" "$dir"
		local rc=$?
		good=1
		if [ $rc != 1 ]; then
			bad "$case cut at $cut: exit status $rc, want 1"
			continue
		fi
		local at
		at=$(grep -o "$v.* at offset [0-9]*" "$dir.err" | grep -o '[0-9]*$' | head -1)
		if [ -z "$at" ] || [ "$at" -gt "$cut" ] || [ "$at" -lt "$rec" ]; then
			bad "$case cut at $cut: message does not name the file and an offset in [$rec, $cut]: $(head -1 "$dir.err")"
			continue
		fi
		local port c2s s2c f orig ext
		while read -r port c2s s2c; do
			for ext in c2s s2c; do
				[ $ext = c2s ] && orig=$caps/$c2s || orig=$caps/$s2c
				f=$(flow_file "$dir" "$port" $ext) || continue
				cmp -s -n "$(stat -c %s "$f")" "$f" "$orig" &&
				    [ "$(stat -c %s "$f")" -le "$(stat -c %s "$orig")" ] ||
				    { bad "$case cut at $cut: $ext is not a prefix of the original"; good=0; }
			done
		done < <(sessions "$caps/$case.json")
		[ $good = 1 ] && ok "$case cut at $cut: exit 1, '$(head -1 "$dir.err" | sed "s|$tmp/||")', streams are prefixes"
	done
}

for pcap in "$caps"/*.pcap; do
	case=$(basename "$pcap" .pcap)
	if [ -n "${SP_STREAMS_CASES:-}" ] &&
	    [[ " $SP_STREAMS_CASES " != *" $case "* ]]; then
		continue
	fi
	[ -f "$caps/$case.json" ] || { echo "note: $case has no ground truth, not checked"; continue; }
	echo "== $case"
	check_variant "$case" original "$pcap"
	check_tcpflow "$case"
	for op in reorder dup nohandshake vlan qinq sll sll2; do
		if "$mangle" $op "$pcap" "$tmp/$case.$op.pcap" >/dev/null; then
			check_variant "$case" $op "$tmp/$case.$op.pcap"
		else
			bad "$case $op: pcapmangle failed"
		fi
	done
	for arg in "tiny 1" "tiny 7" "frag 64"; do
		set -- $arg
		if "$mangle" "$1" "$pcap" "$tmp/$case.$1$2.pcap" "$2" >/dev/null; then
			check_variant "$case" "$1 $2" "$tmp/$case.$1$2.pcap"
		else
			bad "$case $arg: pcapmangle failed"
		fi
	done
	if editcap -F pcapng "$pcap" "$tmp/$case.ng.pcapng"; then
		check_variant "$case" pcapng "$tmp/$case.ng.pcapng"
	else
		bad "$case: editcap -F pcapng failed"
	fi
	check_snap "$case"
	check_drop "$case" 2
	check_drop "$case" 3
	if [ "$(sessions "$caps/$case.json" | wc -l)" = 1 ]; then
		for p in 3 6 10; do
			check_midstream "$case" $p
		done
	fi
	check_truncated "$case"
	rm -f "$tmp/$case".*.pcap "$tmp/$case".*.pcapng
done

echo "streams: $pass passed, $fail failed"
[ $fail = 0 ]
