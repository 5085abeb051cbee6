"""Shared helpers for the smtp-replay tests (label replay): the tool,
the servers the captures were recorded against (captures/recorder.py),
all on loopback, every wait bounded.  Tests exit 77 (skipped) when a
peer is missing."""
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("SP_SOURCE_DIR", os.getcwd())
BUILD = os.environ.get("SP_BUILD_DIR", os.path.join(SRC, "build"))
TOOL = os.path.join(BUILD, "tools", "smtp-replay", "smtp-replay")
CAPTURES = os.path.join(SRC, "captures")
HERE = os.path.dirname(os.path.abspath(__file__))

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


def recorder():
    """captures/recorder.py: its servers are the ones recorded."""
    path = os.path.join(CAPTURES, "recorder.py")
    spec = importlib.util.spec_from_file_location("recorder", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tool(*args, timeout=120, env=None, show=True):
    """Run smtp-replay; returns (exit code, stdout, stderr)."""
    t0 = time.monotonic()
    r = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout, env=env,
                       errors="replace")
    if show:
        print("  $ smtp-replay %s -> %d (%.2fs)" % (
            " ".join(str(a) for a in args), r.returncode,
            time.monotonic() - t0))
        for line in (r.stdout + r.stderr).splitlines()[-30:]:
            print("    " + line[:240])
    return r.returncode, r.stdout, r.stderr


def load_json(path):
    with open(path) as f:
        return json.load(f)


def have(prog):
    return any(os.access(os.path.join(d, prog), os.X_OK)
               for d in os.environ.get("PATH", "").split(":") +
               ["/usr/sbin", "/usr/bin"])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """smtp-sink on 127.0.0.1 with extra options (-f RCPT...)."""

    def __init__(self, *opts):
        if not have("smtp-sink"):
            skip("smtp-sink missing")
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody"] + list(opts) +
            ["127.0.0.1:%d" % self.port, "20"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("smtp-sink did not listen")

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def workdir():
    return tempfile.mkdtemp(prefix="sp-replay-")
