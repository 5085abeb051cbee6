"""Shared helpers for the load tests (label load): smtp-replay's path,
Postfix smtp-sink on loopback with its counters, and running the tool.

Every server listens on 127.0.0.1 only; every run is bounded by a
timeout.  Tests exit 77 (skipped) when a peer is missing.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from testlib import (BUILD, CAPTURES, SRC, Sink, check, done,  # noqa: F401,E402
                     failures, free_port, load_json, need, recorder, skip,
                     wait_port)

TOOL = os.path.join(BUILD, "tools", "smtp-replay", "smtp-replay")


def need_tool():
    if not os.access(TOOL, os.X_OK):
        skip("smtp-replay not built")


def replay(*args, timeout=120):
    """Run smtp-replay; returns (exit code, stdout, stderr)."""
    r = subprocess.run([TOOL] + list(args), capture_output=True, text=True,
                       timeout=timeout, errors="replace")
    print("  $ smtp-replay %s -> %d" % (" ".join(args), r.returncode))
    for line in (r.stdout + r.stderr).splitlines()[-20:]:
        print("    " + line[:300])
    return r.returncode, r.stdout, r.stderr


def sane_phases(phases):
    """p50 <= p90 <= p99 <= max and min <= p50 for every phase."""
    for name, p in phases.items():
        if not (p["min_ms"] <= p["p50_ms"] <= p["p90_ms"] <= p["p99_ms"]
                <= p["max_ms"]) or p["count"] <= 0:
            print("  insane phase", name, p)
            return False
    return True
