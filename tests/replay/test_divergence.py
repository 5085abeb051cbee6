"""A server that behaves differently yields a precise divergence
report and exit 1: smtp-sink rejecting RCPT (-f RCPT), smtp-sink
hanging up after DATA (-q DATA), and an enhanced code that differs
while the code is the same (Postfix's capture against smtp-sink)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replaylib import (CAPTURES, Sink, check, done, load_json, need_tool,
                       tool, workdir)

need_tool()
work = workdir()
cap = os.path.join(CAPTURES, "multi_rset.pcap")


def first_rcpt_expect(results):
    for i, st in enumerate(results):
        if st["op"] == "expect" and st.get("answering", "").startswith(
                "RCPT"):
            return i
    return None


sink = Sink("-f", "RCPT")
try:
    out = os.path.join(work, "rcpt.json")
    rc, so, _ = tool("--target", sink.target, "--timeout", "3s", "-o", out,
                     cap)
    check(rc == 1, "RCPT rejected: exit 1")
    check("DIVERGED session 1" in so, "summary says DIVERGED")
    check("expected: 250 2.1.5" in so and "got:      5" in so,
          "expected 250 2.1.5 vs a 5xx shown")
    check("then:" in so, "the steps after the divergence are listed")
    j = load_json(out)
    s = j["sessions"][0]
    i = first_rcpt_expect(s["results"])
    check(i is not None and s["first_divergence"] == i + 1,
          "first divergence is the first RCPT's reply (step %s)" %
          s.get("first_divergence"))
    check(s["verdict"] == "diverged" and j["exit"] == 1 and
          j["summary"]["diverged"] == 1, "JSON verdict and summary")
    check(len(s["results"]) == s["steps"] and
          s["results"][-1]["op"] == "expect",
          "every step reported, up to the end (%d)" % s["steps"])
    d = s["results"][i]
    check(d["verdict"] == "diverged" and d["got"].startswith("5") and
          d["expected"].startswith("250 2.1.5"), "the divergent step: %s"
          % d)

    out2 = os.path.join(work, "stop.json")
    rc, so, _ = tool("--target", sink.target, "--timeout", "3s",
                     "--stop-at-divergence", "-o", out2, cap)
    s = load_json(out2)["sessions"][0]
    after = s["results"][s["first_divergence"]:]
    check(rc == 1 and after and all(x["verdict"] == "skip" for x in after),
          "--stop-at-divergence skips the rest")
finally:
    sink.stop()

sink = Sink("-q", "DATA")
try:
    out = os.path.join(work, "hangup.json")
    rc, so, _ = tool("--target", sink.target, "--timeout", "3s", "-o", out,
                     cap)
    s = load_json(out)["sessions"][0]
    d = s["results"][s["first_divergence"] - 1]
    check(rc == 1 and "closed" in (d.get("note", "") + d.get("got", "")),
          "hang-up after DATA: diverged, the note says closed (%s)" %
          d.get("note"))
finally:
    sink.stop()

# Postfix says "221 2.0.0 Bye", smtp-sink "221 Bye": the same code, a
# different enhanced code (RFC 3463) - a divergence, at QUIT only.
sink = Sink()
try:
    out = os.path.join(work, "enh.json")
    rc, so, _ = tool("--target", sink.target, "--timeout", "3s", "-o", out,
                     os.path.join(CAPTURES, "basic.pcap"))
    s = load_json(out)["sessions"][0]
    d = s["results"][s["first_divergence"] - 1]
    check(rc == 1 and d.get("answering", "").startswith("QUIT") and
          d.get("note") == "expected 221 2.0.0, got 221",
          "enhanced code compared: %s" % d.get("note"))
finally:
    sink.stop()
done()
