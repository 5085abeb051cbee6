"""What every Python test shares, whatever its tool: the source and
build folders, pass/fail reporting with the ctest exit statuses (0, 1,
77 = skipped), loopback ports, Postfix smtp-sink, and the recorder the
captures were made with.  The per-tool libraries (clientlib, replaylib,
loadlib, fuzzlib) add their own helpers on top of these.

Every server listens on loopback only and every wait is bounded.
"""
import importlib.util
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
CAPTURES = os.path.join(SRC, "captures")

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
    """Skip unless every path is an executable (a built tool)."""
    for p in paths:
        if not os.access(p, os.X_OK):
            skip("%s not built" % p)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(port, secs=10.0, host="127.0.0.1"):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            socket.create_connection((host, port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def load_json(path):
    with open(path) as f:
        return json.load(f)


def recorder():
    """captures/recorder.py: the servers the captures were recorded
    against (its private Postfix among them)."""
    path = os.path.join(CAPTURES, "recorder.py")
    spec = importlib.util.spec_from_file_location("recorder", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Sink:
    """Postfix smtp-sink on 127.0.0.1 with -c counters, killed after
    `seconds` whatever happens; opts are extra smtp-sink options (-f
    RCPT: 5xx to RCPT, -W ehlo:1 ...)."""

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
        # wait_port's probe connection counts as a session: once it is
        # printed, counters() starts from a settled figure.
        self.wait_counts(sess=1)

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def counters(self):
        """The last sess=/quit=/mesg= figures smtp-sink printed."""
        self.out.seek(0)
        text = self.out.read().decode(errors="replace")
        found = re.findall(r"sess=(\d+) quit=(\d+) mesg=(\d+)", text)
        if not found:
            return 0, 0, 0
        return tuple(int(x) for x in found[-1])

    def wait_counts(self, sess=0, quit=0, mesg=0, secs=5.0):
        """counters() once they reach at least these figures (and a
        moment more), or as they are after secs: smtp-sink prints a
        session's counters after it ends, later still on a busy
        machine."""
        end = time.monotonic() + secs
        while True:
            c = self.counters()
            if c[0] >= sess and c[1] >= quit and c[2] >= mesg:
                # A moment more, so that a surplus shows too.
                time.sleep(0.1)
                return self.counters()
            if time.monotonic() > end:
                return c
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
