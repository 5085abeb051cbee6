"""Exit statuses and safety: no --target means no run (there is no
default target), bad options are usage errors (2), an unreachable
target or unreadable input is 3; --list needs no target and sends
nothing; --session and --filter select sessions."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replaylib import (CAPTURES, Sink, check, done, load_json, need_tool,
                       tool, workdir)

need_tool()
work = workdir()
inter = os.path.join(CAPTURES, "interleaved.pcap")

rc, so, se = tool(inter)
check(rc == 2 and "no default target" in se, "no --target: exit 2")
rc, so, se = tool("--target", "localhost", inter)
check(rc == 2 and "bad target" in se, "target without a port: exit 2")
rc, so, se = tool("--target", "127.0.0.1:1")
check(rc == 2 and "no input" in se, "no input: exit 2")
rc, so, se = tool("--target", "127.0.0.1:1", "--bogus", inter)
check(rc == 2, "unknown option: exit 2")
rc, so, se = tool("--target", "127.0.0.1:1", "--timeout", "soon", inter)
check(rc == 2, "bad time: exit 2")
rc, so, se = tool("--help")
check(rc == 0 and "--map-sender" in so and "Exit status" in so,
      "--help: exit 0")
rc, so, se = tool("--target", "127.0.0.1:1",
                  os.path.join(work, "missing.pcap"))
check(rc == 3, "unreadable capture: exit 3")
bad = os.path.join(work, "bad.smtp")
with open(bad, "w") as f:
    f.write("expect 220\nfrobnicate\n")
rc, so, se = tool("--target", "127.0.0.1:1", bad)
check(rc == 3 and "bad.smtp:2" in se, "bad script: exit 3 with file:line")

rc, so, se = tool("--list", inter)
lines = so.splitlines()
check(rc == 0 and len(lines) == 3 and lines[0].startswith("1\t"),
      "--list without a target: 3 sessions")
rc, so, se = tool("--list", "--session", "2-3", inter)
check([x.split("\t")[0] for x in so.splitlines()] == ["2", "3"],
      "--session 2-3")
rc, so, se = tool("--list", "--filter", "port=1", inter)
check(rc == 0 and so == "", "--filter port=1 selects nothing")
two = [inter, os.path.join(CAPTURES, "multi_rset.pcap")]
rc, so, se = tool("--list", "--filter", "sender=dave@example.test", *two)
check(rc == 0 and [x.split("\t")[0] for x in so.splitlines()] == ["4"],
      "--filter sender= picks the one session (4th of two captures)")
rc, so, se = tool("--list", "--filter", "sender=alice@example.test",
                  "--session", "2,4", *two)
check([x.split("\t")[0] for x in so.splitlines()] == ["2", "4"],
      "--filter and --session together")
rc, so, se = tool("--list", "--filter", "colour=red", inter)
check(rc != 0, "unknown filter key refused")

dead = Sink()
dead.stop()
rc, so, se = tool("--target", "127.0.0.1:%d" % dead.port,
                  "--connect-timeout", "2s", inter)
check(rc == 3 and "refused" in so and "could not run" in so,
      "connection refused: exit 3")

sink = Sink()
try:
    rc, so, se = tool("--target", sink.target, "--session", "2", inter)
    check(rc == 0 and "session 2:" in so and "session 1:" not in so and
          "1 session: 1 passed" in so, "--session 2 replays only it")
    rc, so, se = tool("--target", sink.target, "--session", "9", inter)
    check(rc == 3 and "no session selected" in se,
          "nothing selected: exit 3")
    script = os.path.join(work, "s.smtp")
    with open(script, "w") as f:
        f.write("expect 220\nsend EHLO ${helo}\nexpect 250\n"
                "send NOOP\nexpect 354\nquit\n")
    rc, so, se = tool("--target", sink.target, "--var", "helo=h.example",
                      script)
    check(rc == 1 and "expected: 354" in so and "(script line 5)" in so,
          "a script's expectation fails: exit 1, line shown")
    # A server that stops answering: the session's replay ends after
    # three timeouts in a row instead of waiting out every reply.
    with open(script, "w") as f:
        f.write("expect 220\nsend EHLO h\nexpect 250\n" +
                "expect 250\n" * 6 + "quit\n")
    out = os.path.join(work, "to.json")
    rc, so, se = tool("--target", sink.target, "--timeout", "500ms", "-o",
                      out, script)
    s = load_json(out)["sessions"][0]
    check(rc == 1 and "stopped after 6 of 10 steps: 3 replies in a row "
          "timed out" in so and s["stopped"].startswith("3 replies") and
          len(s["results"]) == 6, "three timeouts in a row end the replay")
finally:
    sink.stop()
done()
