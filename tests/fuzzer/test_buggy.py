"""smtp-fuzz against buggy_smtpd: every planted bug (B1..B6, see
tests/fuzzer/buggy_smtpd.c) must be found within the time budget, with
a reproducer that smtp-replay's runner plays back to the same bug.  The
same reproducers must NOT pass against a correct server (aiosmtpd), so
the test can fail."""
import logging
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzzlib import (BUGGY, FUZZ, RUNNER, check, done, free_port, fuzz,
                     need, replay, skip, wait_port)

BUDGET = int(os.environ.get("SP_FUZZ_BUDGET", "180"))

# Bug -> how its finding looks: (oracle, trigger verb or None).
BUGS = {
    "B1 crash on a chunk after BDAT 0": ("crash", "BDAT"),
    "B2 hang on the 5th RCPT": ("hang", "RCPT"),
    "B3 354 without recipient after RSET": ("rfc-354-without-rcpt", None),
    "B4 LF.LF ends data after AUTH": ("rfc-bare-end-of-data-accepted", None),
    "B5 reply lost under pipelining": ("rfc-pipelining-reply-missing", None),
    "B6 crash on a long MAIL parameter": ("crash", "MAIL"),
}

need(FUZZ, RUNNER, BUGGY)
# aiosmtpd logs every bad command the fuzzer sends: not wanted here.
logging.disable(logging.CRITICAL)
work = tempfile.mkdtemp(prefix="fuzzer-")
port = free_port()
out = os.path.join(work, "out")
# --exec: smtp-fuzz starts the server and reads its log, where the
# master logs children killed by a signal (as Postfix's does).
target = "exec %s %d %d >/dev/null" % (BUGGY, port, BUDGET * 3 + 300)
rc, summary, found = fuzz(port, out, BUDGET, "--seed", "1", "-j", "2",
                          "--timeout", "300", "--quiet", "150",
                          "--exec", target)
check(rc == 0, "smtp-fuzz exits 0")
check(os.path.exists(os.path.join(out, "graph.dot")) and
      os.path.exists(os.path.join(out, "graph.json")),
      "state graph written as dot and JSON")
srv = subprocess.Popen([BUGGY, str(port), "300"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
hits = {}
try:
    if not wait_port(port):
        skip("buggy_smtpd did not start")
    for name, (oracle, verb) in BUGS.items():
        mine = [f for f in found if f["oracle"] == oracle and
                (verb is None or f["trigger_verb"] == verb)]
        check(len(mine) > 0, "%s found" % name)
        if not mine:
            continue
        first = min(mine, key=lambda f: f["seconds"])
        hits[name] = first
        print("     %s: %.1f s, %d steps (from %d)" % (
            name, first["seconds"], first["steps_minimised"],
            first["steps_found"]))
        check(first["reproduced"], "%s: reproduced when recorded" % name)
        rc, text = replay(port, first["script"])
        check(rc == 0, "%s: the reproducer replays (%s)" % (
            name, os.path.basename(first["script"])))
        if rc != 0:
            print(text)
    # Nothing else: a crash or hang not explained by a planted bug
    # would be a false positive of the fuzzer.
    planted = set(BUGS.values())
    for f in found:
        ok = (f["oracle"], f["trigger_verb"]) in planted or \
            (f["oracle"], None) in planted
        check(ok, "finding %s (%s after %s) is a planted bug" % (
            os.path.basename(f["script"]), f["oracle"], f["trigger_verb"]))
    # Resume: a second short run reads the queue, graph and findings.
    rc, summary2, found2 = fuzz(port, out, 5, "--seed", "2",
                                "--timeout", "300", "--quiet", "150")
    check(rc == 0 and len(found2) >= len(found) and "resumed" not in
          summary2, "resumed from the output directory, findings kept")
finally:
    srv.terminate()
    srv.wait(timeout=10)

# The reproducers are specific: against aiosmtpd they must fail.
try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink
except ImportError:
    Controller = None
if Controller is not None and hits:
    aport = free_port()
    ctl = Controller(Sink(), hostname="127.0.0.1", port=aport)
    ctl.start()
    try:
        for name, f in hits.items():
            rc, _ = replay(aport, f["script"], 1500)
            check(rc != 0, "%s: the reproducer fails against aiosmtpd" % name)
    finally:
        ctl.stop()
done()
