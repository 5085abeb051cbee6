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
