"""Ground truth self-consistency for captures/<case>.json.

For every case: the .c2s/.s2c files exist and match the lengths and
SHA-256 the JSON records.  For every session in clear text, the messages
are re-derived from the client stream alone, by a deliberately small
RFC 5321 reader written apart from the recorder (DATA: lines up to
CRLF.CRLF, dot-unstuffed per RFC 5321 4.5.2; BDAT: byte-counted chunks
per RFC 3030), and must equal, in order, the messages the JSON
describes.  Sessions that switch to TLS are read up to STARTTLS.  The
server stream's reply codes must also match the JSON's, in order.

Exit 0 all passed, 1 a mismatch, 77 no captures.
"""
import hashlib
import json
import os
import re
import sys

SRC = os.environ.get("SP_SOURCE_DIR", os.getcwd())
CAPS = os.path.join(SRC, "captures")


def crlf_lines(data, pos):
    """Yield (line, next_pos) for CRLF-terminated lines from pos."""
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        if end < 0:
            return
        yield data[pos:end + 2], end + 2
        pos = end + 2


def read_data(data, pos):
    """The message after a DATA command, and the position after it."""
    out = bytearray()
    for line, nxt in crlf_lines(data, pos):
        if line == b".\r\n":
            return bytes(out), nxt
        out += line[1:] if line.startswith(b".") else line
    raise ValueError("DATA without CRLF.CRLF")


def messages_from_client(data):
    """Messages in a client stream, in order; stops at STARTTLS."""
    msgs, pos, bdat = [], 0, bytearray()
    while pos < len(data):
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        cmd = data[pos:end].upper()
        pos = end + 2
        if cmd == b"STARTTLS":
            break
        if cmd == b"DATA":
            msg, pos = read_data(data, pos)
            msgs.append(msg)
            continue
        m = re.match(rb"BDAT (\d+)( LAST)?$", cmd)
        if m:
            n = int(m.group(1))
            bdat += data[pos:pos + n]
            pos += n
            if m.group(2):
                msgs.append(bytes(bdat))
                bdat = bytearray()
    return msgs


def reply_codes(data):
    """Codes of the complete replies in a server stream (clear text)."""
    codes = []
    for line, _ in crlf_lines(data, 0):
        if len(line) >= 4 and line[3:4] != b"-" and line[:3].isdigit():
            codes.append(int(line[:3]))
    return codes


def check_session(case, s, problems):
    c2s = open(os.path.join(CAPS, s["c2s"]), "rb").read()
    s2c = open(os.path.join(CAPS, s["s2c"]), "rb").read()
    for name, data in (("c2s", c2s), ("s2c", s2c)):
        if len(data) != s[name + "_len"] or \
                hashlib.sha256(data).hexdigest() != s[name + "_sha256"]:
            problems.append("%s: %s does not match the JSON" % (case, name))
    if s["tls"]:
        return "TLS: streams only"
    got = [hashlib.sha256(m).hexdigest() for m in messages_from_client(c2s)]
    want = [t["message"]["sha256"] for t in s["transactions"]]
    if got != want:
        problems.append("%s: messages from %s %s, JSON says %s" %
                        (case, s["c2s"], got, want))
    want_codes = [e["r"] for e in s["events"] if "r" in e]
    if reply_codes(s2c) != want_codes:
        problems.append("%s: reply codes in %s differ from the JSON" %
                        (case, s["s2c"]))
    return "%d message(s), %d replies" % (len(got), len(want_codes))


def main():
    cases = sorted(f[:-5] for f in os.listdir(CAPS) if f.endswith(".json")) \
        if os.path.isdir(CAPS) else []
    if not cases:
        print("SKIP: no captures/*.json")
        return 77
    passed = failed = 0
    for case in cases:
        doc = json.load(open(os.path.join(CAPS, case + ".json")))
        problems, notes = [], []
        if not os.path.exists(os.path.join(CAPS, case + ".pcap")):
            problems.append("%s: no %s.pcap" % (case, case))
        for s in doc["sessions"]:
            notes.append(check_session(case, s, problems))
        if problems:
            failed += 1
            for p in problems:
                print("FAIL " + p)
        else:
            passed += 1
            print("ok   %s: %s" % (case, "; ".join(notes)))
    print("ground truth: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
