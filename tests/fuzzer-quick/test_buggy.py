"""smtp-fuzz against buggy_smtpd (default run, label fuzzer-quick):
every planted bug (B1..B8, see tests/fuzzer/buggy_smtpd.c) must be
found within SP_FUZZ_BUDGET seconds (default 150; the campaign is
stopped as soon as all are found, in about 10 s on a 2-core machine),
each with a reproducer that the script runner plays back to the same
bug.  The same reproducers must NOT pass against a correct server
(aiosmtpd with STARTTLS and the same credentials), so the test can
fail.  The fuzzer is given what a real user would give it: the
credentials (--auth) and the CA of the server's certificate (--ca)."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fuzzer"))
from fuzzlib import (BUGGY, FUZZ, RUNNER, aiosmtpd, check, done, free_port,
                     fuzz, fuzz_until, make_cert, need, replay, skip,
                     wait_port)

BUDGET = int(os.environ.get("SP_FUZZ_BUDGET", "150"))
USER, PASSWORD = "tester", "s3cret"     # what buggy_smtpd accepts

# Bug -> how its finding looks: (oracle, trigger verb or None).
BUGS = {
    "B1 crash on a chunk after BDAT 0": ("crash", "BDAT"),
    "B2 hang on the 5th RCPT": ("hang", "RCPT"),
    "B3 354 without recipient after RSET": ("rfc-354-without-rcpt", None),
    "B4 LF.LF ends data after AUTH": ("rfc-bare-end-of-data-accepted", None),
    "B5 reply lost under pipelining": ("rfc-pipelining-reply-missing", None),
    "B6 crash on a long MAIL parameter": ("crash", "MAIL"),
    "B7 plaintext after STARTTLS executed": (
        "rfc-plaintext-after-starttls", None),
    "B8 STARTTLS offered inside TLS": ("rfc-starttls-offered-after-tls",
                                       None),
}


def matches(f, oracle, verb):
    return f["oracle"] == oracle and (verb is None or
                                      f["trigger_verb"] == verb)


def all_found(found):
    return all(any(matches(f, o, v) for f in found)
               for o, v in BUGS.values())


need(FUZZ, RUNNER, BUGGY)
work = tempfile.mkdtemp(prefix="fuzzer-")
ca, cert, key = make_cert(work)
port = free_port()
out = os.path.join(work, "out")
# --exec: smtp-fuzz starts the server and reads its log, where the
# master logs children killed by a signal (as Postfix's does).
target = "exec %s %d %d %s %s >/dev/null" % (BUGGY, port, BUDGET * 3 + 300,
                                            cert, key)
rc, summary, found, took = fuzz_until(
    port, out, BUDGET, all_found, "--seed", "1", "-j", "2",
    "--timeout", "300", "--quiet", "150", "--auth", USER + ":" + PASSWORD,
    "--ca", ca, "--exec", target)
print("     campaign: %.1f s" % took)
check(rc == 0, "smtp-fuzz exits 0")
check(os.path.exists(os.path.join(out, "graph.dot")) and
      os.path.exists(os.path.join(out, "graph.json")),
      "state graph written as dot and JSON")
srv = subprocess.Popen([BUGGY, str(port), "300", cert, key],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
hits = {}
try:
    if not wait_port(port):
        skip("buggy_smtpd did not start")
    for name, (oracle, verb) in BUGS.items():
        mine = [f for f in found if matches(f, oracle, verb)]
        check(len(mine) > 0, "%s found" % name)
        if not mine:
            continue
        first = min(mine, key=lambda f: f["seconds"])
        hits[name] = first
        print("     %s: %.1f s, %d steps (from %d)" % (
            name, first["seconds"], first["steps_minimised"],
            first["steps_found"]))
        check(first["reproduced"], "%s: reproduced when recorded" % name)
        rc, text = replay(port, first["script"], 3000, "-c", ca)
        check(rc == 0, "%s: the reproducer replays (%s)" % (
            name, os.path.basename(first["script"])))
        if rc != 0:
            print(text)
    # Nothing else: a finding not explained by a planted bug would be
    # a false positive of the fuzzer.
    for f in found:
        ok = any(matches(f, o, v) for o, v in BUGS.values())
        check(ok, "finding %s (%s after %s) is a planted bug" % (
            os.path.basename(f["script"]), f["oracle"], f["trigger_verb"]))
    # Resume: a second short run reads the queue, graph and findings.
    rc, summary2, found2 = fuzz(port, out, 5, "--seed", "2",
                                "--timeout", "300", "--quiet", "150",
                                "--ca", ca)
    check(rc == 0 and len(found2) >= len(found) and "resumed" not in
          summary2, "resumed from the output directory, findings kept")
finally:
    srv.terminate()
    srv.wait(timeout=10)

# The reproducers are specific: against aiosmtpd (STARTTLS, the same
# credentials) they must fail.
ctl, aport = aiosmtpd(cert, key, USER, PASSWORD)
if ctl is not None and hits:
    try:
        for name, f in hits.items():
            rc, _ = replay(aport, f["script"], 1500, "-c", ca)
            check(rc != 0, "%s: the reproducer fails against aiosmtpd" % name)
    finally:
        ctl.stop()
done()
