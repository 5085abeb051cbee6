#!/usr/bin/env bash
# Live capture (issue 4): smtp-decode -i lo -f 'tcp port P' while a real
# SMTP session runs on loopback against aiosmtpd, then SIGINT.
#
# Checks: started as root, the process drops to "nobody" after opening
# the interface (/proc/PID/status Uid no longer 0); after SIGINT it
# exits 0, prints the summary on stderr and has written the session
# record: greeting, HELO, envelope, and the message sha256 equal to the
# sha256 of the bytes aiosmtpd says it received; the record validates
# against the schema.  Every wait is bounded (whole test < 30 s).
#
# Exit 0 all passed, 1 a failure, 77 not root / no aiosmtpd / capture
# on lo not permitted.
set -u

src=${SP_SOURCE_DIR:-$(pwd)}
build=${SP_BUILD_DIR:-$src/build}
decode=$build/tools/smtp-decode/smtp-decode
py=/usr/bin/python3
pass=0
fail=0

skip() { echo "SKIP: $*"; exit 77; }
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

[ -x "$decode" ] || skip "smtp-decode not built"
[ "$(id -u)" = 0 ] || skip "not root: no live capture on lo"
"$py" -c 'import aiosmtpd' 2>/dev/null || skip "python3-aiosmtpd missing"
id nobody >/dev/null 2>&1 || skip "no user nobody"

tmp=$(mktemp -d /tmp/sp-dlive.XXXXXX)
chmod 755 "$tmp"
srv_pid= dec_pid=
cleanup() {
	[ -n "$dec_pid" ] && kill "$dec_pid" 2>/dev/null
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# aiosmtpd on 127.0.0.1:$port; it writes the sha256 of each message it
# stores (as received, after dot-unstuffing) to $tmp/received.
"$py" - "$port" "$tmp/received" >"$tmp/server.log" 2>&1 <<'EOF' &
import asyncio, hashlib, sys, time
from aiosmtpd.controller import Controller
class H:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "a") as f:
            f.write(hashlib.sha256(envelope.original_content).hexdigest() + "\n")
        return "250 2.0.0 Ok: queued as LIVE42"
c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]),
               server_hostname="live.example.test")
c.start()
time.sleep(25)
c.stop()
EOF
srv_pid=$!
# The server is up before the capture starts, so the probe connections
# are not in it.
for _ in $(seq 50); do
	"$py" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null && break
	sleep 0.1
done

"$decode" -i lo -f "tcp port $port" --stats --no-progress \
    >"$tmp/out.json" 2>"$tmp/err.txt" &
dec_pid=$!

# Wait (bounded) for the privilege drop: it happens after the
# interface is open, so capture is running from then on.
uid=
for _ in $(seq 50); do
	uid=$(awk '/^Uid:/ {print $2}' "/proc/$dec_pid/status" 2>/dev/null)
	[ -n "$uid" ] && [ "$uid" != 0 ] && break
	kill -0 "$dec_pid" 2>/dev/null || break
	sleep 0.1
done
if ! kill -0 "$dec_pid" 2>/dev/null; then
	wait "$dec_pid"
	echo "smtp-decode ended: $(head -2 "$tmp/err.txt")"
	grep -qi 'permission\|not permitted\|socket' "$tmp/err.txt" &&
	    skip "capture on lo not permitted here"
	bad "smtp-decode -i lo did not start"
	dec_pid=
	echo "decode/live: $pass passed, $fail failed"
	exit 1
fi
if [ "$uid" = "$(id -u nobody)" ]; then
	ok "root dropped to nobody after opening lo (Uid $uid)"
else
	bad "Uid is '$uid', want nobody's $(id -u nobody)"
fi

# A real session: EHLO, MAIL, 2 RCPT, DATA with a dot-stuffed line.
"$py" - "$port" >"$tmp/client.out" 2>&1 <<'EOF'
import smtplib, sys
msg = ("From: <live@example.test>\r\nTo: <bob@example.test>\r\n"
       "Subject: live capture\r\n\r\nline one\r\n.starts with a dot\r\n")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), "client.example.test",
                  timeout=5) as s:
    s.sendmail("live@example.test", ["bob@example.test", "carol@example.test"], msg)
print("sent")
EOF
grep -q sent "$tmp/client.out" && ok "smtplib session against aiosmtpd" ||
    bad "client failed: $(tail -1 "$tmp/client.out")"

sleep 1
kill -INT "$dec_pid"
rc=124
for _ in $(seq 50); do
	if ! kill -0 "$dec_pid" 2>/dev/null; then
		wait "$dec_pid"
		rc=$?
		break
	fi
	sleep 0.1
done
dec_pid=
[ $rc = 0 ] && ok "SIGINT: exit status 0" || bad "SIGINT: exit status $rc"
grep -q 'sessions 1, transactions 1, messages 1' "$tmp/err.txt" &&
    ok "summary on stderr: 1 session, 1 transaction, 1 message" ||
    bad "summary: $(cat "$tmp/err.txt")"

if "$py" - "$tmp/out.json" "$tmp/received" "$src/tools/smtp-decode/session.schema.json" <<'EOF'
import json, sys, jsonschema
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = open(sys.argv[2]).read().split()
schema = json.load(open(sys.argv[3]))
assert len(recs) == 1, "%d records" % len(recs)
r = recs[0]
jsonschema.validate(r, schema)
t = r["transactions"][0]
got = (r["greeting"]["code"], r["helo"], t["mail_from"]["address"],
       [a["address"] for a in t["rcpt_to"]], t["queue_id"],
       t["message"]["sha256"], t["message"]["complete"])
exp = (220, "client.example.test", "live@example.test",
       ["bob@example.test", "carol@example.test"], "LIVE42", want[0], True)
assert got == exp, "%r != %r" % (got, exp)
EOF
then
	ok "record written: greeting, HELO, envelope, queue id, message sha256 = the server's, schema-valid"
else
	bad "record check failed ($(wc -l <"$tmp/out.json") lines)"
fi

echo "decode/live: $pass passed, $fail failed"
[ $fail = 0 ]
