"""--suite with a folder of two fixture scripts against smtp-sink: the
table (check, RFC, level, verdict, evidence), the JSON, fixtures that
skip a check, a MUST failure (smtp-sink -f RCPT) and exit statuses."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replaylib import HERE, Sink, check, done, load_json, need_tool, tool, \
    workdir

need_tool()
work = workdir()
suite = os.path.join(HERE, "suite")


def row(out, cid):
    for line in out.splitlines():
        if line.split()[:1] == [cid]:
            return line
    return ""


sink = Sink()
try:
    out = os.path.join(work, "s1.json")
    rc, so, _ = tool("--suite", suite, "--target", sink.target,
                     "--timeout", "3s", "-o", out)
    check(rc == 0, "no fixture: exit 0 (R2 skipped, not failed)")
    check(so.splitlines()[0].split() == ["CHECK", "RFC", "LEVEL", "VERDICT",
                                         "EVIDENCE"], "table header")
    r1, r2 = row(so, "R1"), row(so, "R2")
    check("5321 4.1.1.9" in r1 and "MUST" in r1 and " pass " in r1 and
          "NOOP -> 250" in r1, "R1 row: %s" % r1)
    check(" skip " in r2 and "needs fixture rcpt" in r2, "R2 row: %s" % r2)
    j = load_json(out)
    c = {x["id"]: x for x in j["checks"]}
    check(set(c) == {"R1", "R2"} and c["R1"]["verdict"] == "pass" and
          c["R1"]["rfc"] == "5321 4.1.1.9" and c["R1"]["level"] == "MUST"
          and c["R1"]["title"] == "NOOP gets 250" and
          c["R1"]["evidence"].startswith("NOOP -> 250") and
          c["R1"]["steps"][-1]["op"] == "quit", "JSON check R1")
    check(c["R2"]["verdict"] == "skip" and j["summary"]["skip"] == 1 and
          j["summary"]["must_failed"] == 0 and j["exit"] == 0,
          "JSON R2 skipped, summary")

    rc, so, _ = tool("--suite", suite, "--target", sink.target,
                     "--timeout", "3s", "--var", "rcpt=bob@example.test")
    check(rc == 0 and " pass " in row(so, "R2") and
          "RCPT TO:<bob@example.test> -> 250" in row(so, "R2"),
          "with --var rcpt: R2 passes, evidence is the RCPT exchange")
    rc, so, _ = tool("--suite", suite, "--target", sink.target,
                     "--only", "R1")
    check(rc == 0 and row(so, "R1") and not row(so, "R2"),
          "--only R1")
    out2 = os.path.join(work, "j2.json")
    rc2, so2, _ = tool("--suite", suite, "--target", sink.target,
                       "--timeout", "3s", "--jobs", "2", "-o", out2)
    v1 = [(x["id"], x["verdict"]) for x in j["checks"]]
    v2 = [(x["id"], x["verdict"]) for x in load_json(out2)["checks"]]
    check(rc2 == 0 and v1 == v2, "--jobs 2: same verdicts, same order")
    rc2, _, _ = tool("--suite", suite, "--target", sink.target, "-j", "99")
    check(rc2 == 2, "--jobs 99 refused")
    env = dict(os.environ, SP_SUITES_DIR=HERE)
    rc, so, _ = tool("--suite", "suite", "--target", sink.target,
                     "--only", "R1", env=env)
    check(rc == 0 and " pass " in row(so, "R1"),
          "a suite name resolved under $SP_SUITES_DIR")
finally:
    sink.stop()

sink = Sink("-f", "RCPT")
try:
    out = os.path.join(work, "s2.json")
    rc, so, _ = tool("--suite", suite, "--target", sink.target,
                     "--timeout", "3s", "--var", "rcpt=bob@example.test",
                     "-o", out)
    r2 = row(so, "R2")
    check(rc == 1, "a MUST check fails: exit 1")
    check(" fail " in r2 and "RCPT TO:<bob@example.test> -> 5" in r2,
          "R2 row shows the deciding exchange: %s" % r2)
    j = load_json(out)
    check(j["summary"]["must_failed"] == 1 and j["exit"] == 1,
          "JSON must_failed 1")
finally:
    sink.stop()

dead = Sink()
dead.stop()     # nothing listens on its port now
port = dead.port
rc, so, se = tool("--suite", suite, "--target", "127.0.0.1:%d" % port,
                  "--only", "R1", "--connect-timeout", "2s")
check(rc == 3 and "refused" in so, "target down: exit 3, says refused")
rc, so, se = tool("--suite", os.path.join(work, "nope"), "--target",
                  "127.0.0.1:%d" % port)
check(rc == 2 and "no suite" in se, "unknown suite: exit 2")
rc, so, se = tool("--suite", suite)
check(rc == 2 and "--target" in se, "--suite without --target: exit 2")
done()
