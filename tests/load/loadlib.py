"""Shared helpers for the load tests (label load): smtp-replay's path,
Postfix smtp-sink on loopback with its counters, and running the tool.

Every server listens on 127.0.0.1 only; every run is bounded by a
timeout.  Tests exit 77 (skipped) when a peer is missing.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("SP_SOURCE_DIR", os.getcwd())
BUILD = os.environ.get("SP_BUILD_DIR", os.path.join(SRC, "build"))
TOOL = os.path.join(BUILD, "tools", "smtp-replay", "smtp-replay")

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


def need_tool():
    if not os.access(TOOL, os.X_OK):
        skip("smtp-replay not built")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=5):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Sink:
    """Postfix smtp-sink on 127.0.0.1 with -c counters; opts are extra
    smtp-sink options (-f RCPT: 5xx to RCPT, -W ehlo:1 ...)."""

    def __init__(self, *opts, seconds=120):
        exe = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        if not os.access(exe, os.X_OK):
            skip("smtp-sink missing")
        self.port = free_port()
        self.out = tempfile.TemporaryFile()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen(
            ["timeout", str(seconds), exe] + user + ["-c"] + list(opts) +
            ["127.0.0.1:%d" % self.port, "256"],
            stdout=self.out, stderr=subprocess.STDOUT)
        if not wait_port(self.port):
            self.stop()
            skip("smtp-sink did not start")
        # wait_port's probe connection counts as a session.
        time.sleep(0.2)

    def counters(self):
        """The last sess=/quit=/mesg= figures smtp-sink printed."""
        self.out.seek(0)
        text = self.out.read().decode(errors="replace")
        found = re.findall(r"sess=(\d+) quit=(\d+) mesg=(\d+)", text)
        if not found:
            return 0, 0, 0
        return tuple(int(x) for x in found[-1])

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def replay(*args, timeout=120):
    """Run smtp-replay; returns (exit code, stdout, stderr)."""
    r = subprocess.run([TOOL] + list(args), capture_output=True, text=True,
                       timeout=timeout, errors="replace")
    print("  $ smtp-replay %s -> %d" % (" ".join(args), r.returncode))
    for line in (r.stdout + r.stderr).splitlines()[-20:]:
        print("    " + line[:300])
    return r.returncode, r.stdout, r.stderr


def load_json(path):
    with open(path) as f:
        return json.load(f)


def sane_phases(phases):
    """p50 <= p90 <= p99 <= max and min <= p50 for every phase."""
    for name, p in phases.items():
        if not (p["min_ms"] <= p["p50_ms"] <= p["p90_ms"] <= p["p99_ms"]
                <= p["max_ms"]) or p["count"] <= 0:
            print("  insane phase", name, p)
            return False
    return True
