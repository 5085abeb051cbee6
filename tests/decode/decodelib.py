"""Shared helpers for the smtp-decode tests (tests/decode/test_*).

Not a test itself (ctest registers only test_*.py).  It finds the tool,
the schema and the helper programs, runs smtp-decode, validates records
against tools/smtp-decode/session.schema.json, derives the expected
command/reply sequences from a case's ground truth, and counts results
so every test ends with the same "N passed, N failed" line.
"""
import hashlib
import json
import os
import struct
import subprocess
import sys

SRC = os.environ.get("SP_SOURCE_DIR", os.getcwd())
BUILD = os.environ.get("SP_BUILD_DIR", os.path.join(SRC, "build"))
CAPS = os.path.join(SRC, "captures")
DECODE = os.path.join(BUILD, "tools", "smtp-decode", "smtp-decode")
MANGLE = os.path.join(BUILD, "tests", "tools", "pcapmangle")
SCHEMA = os.path.join(SRC, "tools", "smtp-decode", "session.schema.json")
SHARED = os.environ.get("SP_SHARED_CAPTURES",
                        os.path.join(SRC, "..", "shared", "captures"))
SKIP = 77


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


def need_decoder():
    if not os.access(DECODE, os.X_OK):
        skip("smtp-decode not built (%s)" % DECODE)


class Results:
    """ok/bad counters and the closing line."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def ok(self, what):
        self.passed += 1
        print("ok   " + what)

    def bad(self, what):
        self.failed += 1
        print("FAIL " + what)

    def check(self, cond, what, detail=""):
        if cond:
            self.ok(what)
        else:
            self.bad(what + (": " + detail if detail else ""))
        return cond

    def finish(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed,
                                            self.failed))
        sys.exit(1 if self.failed else 0)


_validator = None


def validator():
    global _validator
    if _validator is None:
        import jsonschema
        with open(SCHEMA) as f:
            schema = json.load(f)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema)
    return _validator


def schema_errors(rec):
    """Schema violations of one record, as short strings."""
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path),
                        e.message[:160])
            for e in validator().iter_errors(rec)]


def run(args, stdin=None, timeout=120):
    """smtp-decode ARGS: (exit status, stdout bytes, stderr text)."""
    p = subprocess.run([DECODE, "--no-progress"] + list(args),
                       input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def records(args, **kw):
    """smtp-decode ARGS in NDJSON: (exit status, records, stderr)."""
    rc, out, err = run(args, **kw)
    recs = [json.loads(line) for line in out.decode().splitlines()
            if line.strip()]
    return rc, recs, err


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def load_truth(case):
    with open(os.path.join(CAPS, case + ".json")) as f:
        return json.load(f)


def cases():
    """Every captures/<case>.pcap that has a <case>.json."""
    out = []
    for name in sorted(os.listdir(CAPS)):
        if name.endswith(".pcap"):
            case = name[:-5]
            if os.path.exists(os.path.join(CAPS, case + ".json")):
                out.append(case)
    return out


def expected_dialogue(session):
    """Command verbs and reply codes in order, from the ground truth.

    Only the clear-text part (tls false): inside TLS the decoder sees
    records, not commands.  A client line answering a 334 is an AUTH
    response, not a command (RFC 4954 4), and message data is no
    command either.  Returns (verbs, codes)."""
    verbs, codes, last = [], [], None
    for e in session["events"]:
        if e.get("tls"):
            continue
        if "r" in e:
            codes.append(e["r"])
            last = e["r"]
        elif "c" in e:
            if last == 334:
                last = None
                continue
            verbs.append(e["c"].split(" ", 1)[0].upper())
            last = None
    return verbs, codes


def our_dialogue(rec):
    verbs = [d["verb"] for d in rec.get("dialogue", [])
             if d["type"] == "command"]
    codes = [d["code"] for d in rec.get("dialogue", [])
             if d["type"] == "reply"]
    return verbs, codes


def strip_angle(a):
    a = a.strip()
    if a.startswith("<") and a.endswith(">"):
        a = a[1:-1]
    return a


def session_key(rec):
    """Client port of a record (sessions of a case differ by it)."""
    return rec["flow"]["client"]["port"]


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def craft_pcap(path, exchanges, cport=40001, sport=25, seg=1400):
    """Write an Ethernet/IPv4 pcap of one TCP session on 127.0.0.1:
    handshake, then each (dir, bytes) of exchanges ('c' client, 's'
    server) in segments of at most seg bytes, each acked, then FIN
    both ways.  For tests that need a session no server would hold
    (hostile MIME file names)."""
    cip, sip = bytes([127, 0, 0, 1]), bytes([127, 0, 0, 2])
    seq = {"c": 1000, "s": 5000}
    ts = [1700000000.0]
    pkts = []

    def pkt(d, flags, payload=b""):
        src, dst = (cip, sip) if d == "c" else (sip, cip)
        sp, dp = (cport, sport) if d == "c" else (sport, cport)
        o = "s" if d == "c" else "c"
        ack = seq[o] if flags & 0x10 else 0
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq[d], ack, 5 << 4, flags,
                          65535, 0, 0) + payload
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", _csum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000,
                         64, 6, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
        fr = b"\0\0\0\0\0\2" + b"\0\0\0\0\0\1" + b"\x08\x00" + ip + tcp
        ts[0] += 0.001
        sec = int(ts[0])
        pkts.append(struct.pack("<IIII", sec, int((ts[0] - sec) * 1e6),
                                len(fr), len(fr)) + fr)
        seq[d] = (seq[d] + len(payload) + (1 if flags & 0x03 else 0)) \
            & 0xffffffff

    pkt("c", 0x02)
    pkt("s", 0x12)
    pkt("c", 0x10)
    for d, data in exchanges:
        for i in range(0, len(data), seg):
            pkt(d, 0x18, data[i:i + seg])
            pkt("s" if d == "c" else "c", 0x10)
    pkt("c", 0x11)
    pkt("s", 0x11)
    pkt("c", 0x10)
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        f.write(b"".join(pkts))
