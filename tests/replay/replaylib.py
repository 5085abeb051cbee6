"""Shared helpers for the smtp-replay tests (label replay): the tool,
the servers the captures were recorded against (captures/recorder.py),
all on loopback, every wait bounded.  Tests exit 77 (skipped) when a
peer is missing."""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from testlib import (BUILD, CAPTURES, SRC, Sink, check, done,  # noqa: F401,E402
                     failures, free_port, load_json, need, recorder, skip,
                     wait_port)

TOOL = os.path.join(BUILD, "tools", "smtp-replay", "smtp-replay")
HERE = os.path.dirname(os.path.abspath(__file__))


def need_tool():
    if not os.access(TOOL, os.X_OK):
        skip("smtp-replay not built")


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


def have(prog):
    return any(os.access(os.path.join(d, prog), os.X_OK)
               for d in os.environ.get("PATH", "").split(":") +
               ["/usr/sbin", "/usr/bin"])


def workdir():
    return tempfile.mkdtemp(prefix="sp-replay-")
