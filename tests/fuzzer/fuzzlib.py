"""Shared helpers for the smtp-fuzz tests (label fuzzer): run the fuzzer
for a bounded time against a server on loopback and read its findings.
Every server listens on 127.0.0.1 only; every wait is bounded."""
import glob
import json
import os
import socket
import subprocess
import sys
import time

SRC = os.environ.get("SP_SOURCE_DIR", os.getcwd())
BUILD = os.environ.get("SP_BUILD_DIR", os.path.join(SRC, "build"))
FUZZ = os.path.join(BUILD, "tools", "smtp-fuzz", "smtp-fuzz")
RUNNER = os.path.join(BUILD, "tests", "tools", "sp_script_run")
BUGGY = os.path.join(BUILD, "tests", "tools", "buggy_smtpd")

failures = []


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def done():
    print("%d failure(s)" % len(failures))
    sys.exit(1 if failures else 0)


def need(*paths):
    for p in paths:
        if not os.access(p, os.X_OK):
            skip("%s not built" % p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, secs=10.0):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def fuzz(port, out, secs, *extra):
    """Run smtp-fuzz; returns (rc, summary text, findings list)."""
    cmd = [FUZZ, "--target", "127.0.0.1:%d" % port, "--out", out,
           "--duration", str(secs)] + list(extra)
    print("+", " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=secs * 4 + 120)
    print(p.stdout)
    sys.stdout.flush()
    found = []
    for path in sorted(glob.glob(os.path.join(out, "findings", "*.json"))):
        with open(path) as f:
            found.append(json.load(f))
    return p.returncode, p.stdout, found


def replay(port, script, ms=3000):
    p = subprocess.run([RUNNER, "-t", str(ms), "127.0.0.1", str(port),
                        script], capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout
