"""--load with recorded sessions and --speed: sessions start at their
recorded offsets and keep their clients' pauses, both divided by the
speed; without --speed they run as fast as the concurrency allows.

The sessions are decode JSON records written here (three sessions
0.8 s apart, each pausing 0.4 s before MAIL and before QUIT), played
against a server that timestamps what it reads (tests/replay/
stampserver.py)."""
import json
import os
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "replay"))
from loadlib import TOOL, check, done, need_tool  # noqa: E402
from stampserver import StampServer  # noqa: E402
import subprocess  # noqa: E402

need_tool()
T0 = 1700000000.0
STARTS = [0.0, 0.8, 1.6]
PAUSE = 0.4


def record(start, pause=PAUSE):
    t = T0 + start
    d = [(0, "reply", 220, "stamp.test ESMTP"),
         (0.001, "command", 1, "EHLO client.example.test"),
         (0.002, "reply", 250, "stamp.test"),
         (0.002 + pause, "command", 2, "MAIL FROM:<a@example.test>"),
         (0.003 + pause, "reply", 250, "2.1.0 Ok"),
         (0.003 + 2 * pause, "command", 3, "QUIT"),
         (0.004 + 2 * pause, "reply", 221, "2.0.0 Bye")]
    items = []
    for dt, kind, x, text in d:
        it = {"ts": t + dt, "type": kind,
              "dir": "client" if kind == "command" else "server"}
        if kind == "command":
            it.update(group=x, line=text)
        else:
            it.update(code=x, lines=[text])
            if text[:1].isdigit():
                it["enhanced"] = text.split()[0]
        items.append(it)
    return {"ts": t, "dialogue": items}


work = tempfile.mkdtemp(prefix="sp-load-")
path = os.path.join(work, "three.ndjson")
with open(path, "w") as f:
    for s in STARTS:
        f.write(json.dumps(record(s)) + "\n")


def run(*opts):
    srv = StampServer()
    try:
        t0 = time.monotonic()
        r = subprocess.run([TOOL, "--load", "--target", srv.target,
                            "--concurrency", "3", "--timeout", "5",
                            "--no-progress"] + list(opts) + [path],
                           capture_output=True, text=True, timeout=60)
        print("  $ smtp-replay --load ... %s -> %d" % (" ".join(opts),
                                                       r.returncode))
        for line in (r.stdout + r.stderr).splitlines()[:4]:
            print("    " + line)
        time.sleep(0.1)
        conns = sorted(srv.logs())
    finally:
        srv.stop()
    offs = [c[0] - t0 for c in conns]
    offs = [o - offs[0] for o in offs] if offs else []
    pauses = []
    for _, log in conns:
        for k in range(1, len(log)):
            if log[k][2] in ("MAIL FROM:<a@example.test>", "QUIT"):
                pauses.append(log[k][0] - log[k - 1][0])
    return r.returncode, offs, pauses


rc, offs, pauses = run("--speed", "2")
print("  speed 2: starts %s, pauses %s" % (["%.3f" % o for o in offs],
                                          ["%.3f" % p for p in pauses]))
check(rc == 0 and len(offs) == 3, "--speed 2: three sessions, all ok")
check(len(offs) == 3 and all(abs(o - s / 2) < 0.05
                             for o, s in zip(offs, STARTS)),
      "--speed 2: sessions start at the recorded offsets / 2 (0, 0.4, 0.8)")
check(len(pauses) == 6 and all(abs(p - PAUSE / 2) < 0.04 for p in pauses),
      "--speed 2: every pause is 0.4 s / 2")
rc, offs, pauses = run("--speed", "1", "--max-gap", "100ms")
check(rc == 0 and len(offs) == 3 and abs(offs[2] - 1.6) < 0.05 and
      all(abs(p - 0.1) < 0.04 for p in pauses),
      "--speed 1 --max-gap 100ms: starts as recorded (%s), pauses capped "
      "(%s)" % (["%.3f" % o for o in offs], ["%.3f" % p for p in pauses]))
rc, offs, pauses = run()
print("  ASAP: starts %s" % ["%.3f" % o for o in offs])
check(rc == 0 and len(offs) == 3 and max(offs) < 0.1 and
      max(pauses) < 0.05, "no --speed: all at once, no pauses")
# A pause is cut short by SIGINT: the run stops at once, not after the
# recorded 8 s (nor --max-gap's 10 s).
slow = os.path.join(work, "slow.json")
with open(slow, "w") as f:
    json.dump(record(0, pause=8.0), f)
srv = StampServer()
try:
    t0 = time.monotonic()
    p = subprocess.Popen([TOOL, "--load", "--target", srv.target,
                          "--speed", "1", "--no-progress", slow],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    took = time.monotonic() - t0
finally:
    srv.stop()
check(took < 2 and "interrupted" in out,
      "SIGINT during an 8 s pause stops the run in %.2f s" % took)
r = subprocess.run([TOOL, "--load", "--target", "127.0.0.1:1", "--speed",
                    "2"], capture_output=True, text=True, timeout=10)
check(r.returncode == 2 and "recorded sessions" in r.stderr,
      "--load --speed without recorded sessions is a usage error")
done()
