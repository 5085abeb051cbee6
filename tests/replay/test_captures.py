"""Every capture in captures/ is replayed against a server of the kind
it was recorded from (aiosmtpd, smtp-sink, a private Postfix when
root), started on loopback; each must PASS with reply normalisation
(Postfix queue ids differ run to run).  STARTTLS captures replay up to
STARTTLS and say they stopped there."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replaylib import (CAPTURES, check, done, have, load_json, need_tool, recorder,
                       skip, tool, workdir)

# A capture whose client smuggled a bare-LF end of data into Postfix is
# replayed byte for byte (the converter's raw_data): Postfix must end
# DATA where it did in the capture and accept the smuggled message
# again.  Before raw replay the message was dot-stuffed anew, Postfix
# saw one message each time, and this capture could not pass.
SMUGGLED = "smuggling_postfix"

need_tool()
try:
    import aiosmtpd  # noqa: F401
except ImportError:
    skip("aiosmtpd missing")
rec = recorder()
work = workdir()
cert, key = rec.make_cert(work)
servers = {}


def server(kind):
    """Start each kind once; None when it cannot run here."""
    if kind in servers:
        return servers[kind]
    s = None
    if kind == "aiosmtpd":
        s = rec.AioServer("127.0.0.1", socket.AF_INET, cert, key)
    elif kind == "aiosmtpd6":
        s = rec.AioServer("::1", socket.AF_INET6, cert, key)
    elif kind == "sink" and have("smtp-sink"):
        s = rec.SinkServer("127.0.0.1")
    elif kind == "postfix" and os.geteuid() == 0 and have("postfix"):
        s = rec.PostfixServer(work, cert, key)
    servers[kind] = s
    return s


def replay(name, kind):
    s = server(kind)
    if s is None:
        print("skip %s: no %s server here" % (name, kind))
        return
    host = "[::1]" if kind == "aiosmtpd6" else "127.0.0.1"
    out = os.path.join(work, name + ".json")
    env = dict(os.environ, SP_AUTH_SECRET=rec.PASSWORD)
    rc, so, _ = tool("--target", "%s:%d" % (host, s.port), "--timeout",
                     "5s", "--max-time", "120s", "-o", out,
                     os.path.join(CAPTURES, name + ".pcap"), env=env)
    check(rc == 0, "%s: replayed against %s, exit 0" % (name, kind))
    j = load_json(out)
    verdicts = [x["verdict"] for x in j["sessions"]]
    check(verdicts and all(v == "pass" for v in verdicts),
          "%s: every session passes (%s)" % (name, verdicts))
    check(j["summary"]["passed"] == len(verdicts) and j["exit"] == 0,
          "%s: JSON summary agrees" % name)
    for sess in j["sessions"]:
        for st in sess["results"]:
            if "queued as" in st.get("got", ""):
                # Postfix's queue id is new on every run: the texts
                # differ, yet after normalisation they hold (no note).
                check(st["got"].split()[-1] not in st.get("expected", "")
                      and "note" not in st,
                      "%s: queue id %s normalised away" % (
                          name, st["got"].split()[-1]))
    if name == SMUGGLED:
        queued = lambda res: sum(1 for x in res if x.get("got", "")
                                 .startswith("250 2.0.0 Ok: queued"))
        with open(os.path.join(CAPTURES, name + ".s2c"), "rb") as f:
            want = f.read().count(b"250 2.0.0 Ok: queued")
        got = queued(j["sessions"][0]["results"])
        raw = [x for x in j["sessions"][0]["results"]
               if x["op"] == "sendraw"]
        check(want == 5 and got == want,
              "%s: %d messages queued, as in the capture (%d)" % (
                  name, got, want))
        check(len(raw) == 2, "%s: the two bare-LF ends of data went out "
              "as sent (sendraw), the CRLF..LF one as data" % name)
    if "starttls" in name:
        check("stopped at STARTTLS" in so,
              "%s: says it stopped at STARTTLS" % name)
        check(all(x.get("stopped_at_starttls") for x in j["sessions"]),
              "%s: JSON stopped_at_starttls" % name)
        last = j["sessions"][0]["results"][-1]
        check(last["op"] == "expect" and last["got"].startswith("220"),
              "%s: the last exchange is STARTTLS's 220" % name)


try:
    for name, (_, kind, _) in sorted(rec.CASES.items()):
        if not os.path.exists(os.path.join(CAPTURES, name + ".pcap")):
            continue
        replay(name, kind)
    # --starttls: the real upgrade where the capture had one, then QUIT.
    aio = server("aiosmtpd")
    out = os.path.join(work, "tls.json")
    rc, so, _ = tool("--target", "127.0.0.1:%d" % aio.port, "--timeout",
                     "5s", "--starttls", "--insecure", "-o", out,
                     os.path.join(CAPTURES, "starttls.pcap"))
    res = load_json(out)["sessions"][0]["results"]
    check(rc == 0 and [x["op"] for x in res[-2:]] == ["tls", "quit"] and
          "TLSv1" in res[-2].get("got", "") and
          res[-1]["verdict"] == "pass",
          "--starttls --insecure: handshake and QUIT inside TLS")
    rc, so, _ = tool("--target", "127.0.0.1:%d" % aio.port, "--timeout",
                     "5s", "--starttls", os.path.join(CAPTURES,
                                                      "starttls.pcap"))
    check(rc == 3 and "ERROR" in so,
          "--starttls with an unverifiable certificate: could not run")
finally:
    for s in servers.values():
        if s is not None:
            s.stop()
done()
