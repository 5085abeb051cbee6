"""--speed: a capture replayed with its client's pauses, as recorded
(--speed 1), four times faster (--speed 4), or as fast as possible (no
--speed); --max-gap caps each pause; decode JSON keeps its pauses too.

captures/smuggling_postfix.pcap is the capture with real pauses: its
client waited about 1 s after each smuggling attempt (the recorder
watched for extra replies).  The server (stampserver.py) answers as
that Postfix did and timestamps every line it reads, so the pauses are
measured where they matter: between the lines the server receives."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replaylib import BUILD, CAPTURES, check, done, need_tool, skip, tool, workdir
from stampserver import StampServer

need_tool()
DECODE = os.path.join(BUILD, "tools", "smtp-decode", "smtp-decode")
if not os.access(DECODE, os.X_OK):
    skip("smtp-decode not built (it gives the capture's timestamps)")
CAP = os.path.join(CAPTURES, "smuggling_postfix.pcap")
work = workdir()


def recorded_pauses():
    """(command, pause in s) for each client command that came after a
    pause of 0.2 s or more since the session's previous event."""
    out = subprocess.run([DECODE, "--dialogue", CAP], capture_output=True,
                         text=True, timeout=60).stdout
    rec = json.loads(out.splitlines()[0])
    pauses, last = [], None
    for it in rec["dialogue"]:
        if it["type"] == "command" and last is not None and \
                it["ts"] - last >= 0.2:
            pauses.append((it["line"], it["ts"] - last))
        last = it["ts"]
    return pauses


def measured_pauses(log, pauses):
    """The same commands at the server: time since the line before."""
    got, i = [], 0
    for k in range(1, len(log)):
        if i < len(pauses) and log[k][1] == "cmd" and \
                log[k][2] == pauses[i][0] and log[k][0] - log[k - 1][0] > 0.02:
            got.append(log[k][0] - log[k - 1][0])
            i += 1
    return got


def play(*opts):
    srv = StampServer()
    try:
        t0 = time.monotonic()
        rc, so, _ = tool("--target", srv.target, "--timeout", "5s",
                         "--max-time", "60s", *opts, CAP)
        elapsed = time.monotonic() - t0
        time.sleep(0.1)
        logs = srv.logs()
    finally:
        srv.stop()
    check(rc == 0 and len(logs) == 1,
          "%s: one session, every reply as recorded (exit %d)" % (
              " ".join(opts) or "ASAP", rc))
    return elapsed, logs[0][1] if logs else []


pauses = recorded_pauses()
check(len(pauses) == 3 and all(0.9 < p < 1.2 for _, p in pauses),
      "the capture has three pauses of about 1 s: %s" % (
          ["%.3f" % p for _, p in pauses]))
total = sum(p for _, p in pauses)
figures = {}
for speed in (1, 4):
    elapsed, log = play("--speed", str(speed))
    got = measured_pauses(log, pauses)
    want = [p / speed for _, p in pauses]
    figures[speed] = (elapsed, got)
    print("  speed %d: elapsed %.3f s, pauses at the server %s, recorded/"
          "speed %s" % (speed, elapsed, ["%.3f" % g for g in got],
                        ["%.3f" % w for w in want]))
    check(len(got) == len(want) and all(
        abs(g - w) <= 0.03 + 0.05 * w for g, w in zip(got, want)),
        "--speed %d: each pause within 30 ms + 5%% of recorded/%d" % (
            speed, speed))
    check(total / speed - 0.05 <= elapsed <= total / speed + 0.75,
          "--speed %d: elapsed %.3f s, the pauses' %.3f s plus a little" %
          (speed, elapsed, total / speed))

elapsed, log = play()
got = [log[k][0] - log[k - 1][0] for k in range(1, len(log))]
print("  ASAP: elapsed %.3f s, longest pause at the server %.3f s" % (
    elapsed, max(got) if got else 0))
check(elapsed < figures[4][0] / 2 and got and max(got) < 0.15,
      "no --speed: as fast as possible (%.3f s, speed 4 took %.3f s)" % (
          elapsed, figures[4][0]))

elapsed, log = play("--speed", "1", "--max-gap", "200ms")
got = measured_pauses(log, [(c, 0.2) for c, _ in pauses])
check(len(got) == 3 and all(0.17 <= g <= 0.3 for g in got) and
      elapsed < 1.5, "--max-gap 200ms caps each 1 s pause (%s, %.3f s)" % (
          ["%.3f" % g for g in got], elapsed))

# Decode JSON (--dialogue) carries timestamps too: a record written
# here, whose client paused 0.6 s before MAIL and 0.4 s before QUIT.
t = 1700000000.0
rec = {"ts": t, "dialogue": [
    {"ts": t, "dir": "server", "type": "reply", "code": 220,
     "lines": ["stamp.test ESMTP"]},
    {"ts": t + 0.001, "dir": "client", "type": "command", "group": 1,
     "line": "EHLO client.example.test"},
    {"ts": t + 0.002, "dir": "server", "type": "reply", "code": 250,
     "lines": ["stamp.test", "PIPELINING", "8BITMIME"]},
    {"ts": t + 0.602, "dir": "client", "type": "command", "group": 2,
     "line": "MAIL FROM:<a@example.test>"},
    {"ts": t + 0.603, "dir": "server", "type": "reply", "code": 250,
     "enhanced": "2.1.0", "lines": ["2.1.0 Ok"]},
    {"ts": t + 1.003, "dir": "client", "type": "command", "group": 3,
     "line": "QUIT"},
    {"ts": t + 1.004, "dir": "server", "type": "reply", "code": 221,
     "enhanced": "2.0.0", "lines": ["2.0.0 Bye"]}]}
jpath = os.path.join(work, "paused.json")
with open(jpath, "w") as f:
    json.dump(rec, f)
srv = StampServer()
try:
    rc, _, _ = tool("--target", srv.target, "--speed", "2", "--timeout",
                    "5s", jpath)
    time.sleep(0.1)
    log = srv.logs()[0][1] if srv.logs() else []
finally:
    srv.stop()
got = measured_pauses(log, [("MAIL FROM:<a@example.test>", 0),
                            ("QUIT", 0)])
check(rc == 0 and len(got) == 2 and abs(got[0] - 0.3) < 0.05 and
      abs(got[1] - 0.2) < 0.05,
      "decode JSON at --speed 2: pauses 0.3 s and 0.2 s (%s)" % (
          ["%.3f" % g for g in got]))
rc, _, err = tool("--target", "127.0.0.1:1", "--speed", "-1", CAP)
check(rc == 2 and "--speed" in err,
      "--speed -1 is a usage error")
done()
