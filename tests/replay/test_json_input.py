"""smtp-decode --dialogue records as replay input: every session
passes against the same kind of server; with --extract the server
receives each message byte for byte (sha256 of the capture's ground
truth); without it a placeholder is sent and said so; BDAT sizes and
AUTH come from the record; a record without a dialogue is refused."""
import hashlib
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replaylib import (BUILD, CAPTURES, Sink, check, done, have, load_json,
                       need_tool, recorder, skip, tool, workdir)

need_tool()
DECODE = os.path.join(BUILD, "tools", "smtp-decode", "smtp-decode")
if not os.access(DECODE, os.X_OK):
    skip("smtp-decode not built")
try:
    import aiosmtpd  # noqa: F401
except ImportError:
    skip("aiosmtpd missing")
rec = recorder()
work = workdir()
cert, key = rec.make_cert(work)


def decode(name, extract=True, dialogue=True):
    out = os.path.join(work, name + (".x" if extract else "") + ".json")
    args = [DECODE, "-o", out]
    if dialogue:
        args.append("--dialogue")
    if extract:
        args += ["--extract", work]
    subprocess.run(args + [os.path.join(CAPTURES, name + ".pcap")],
                   check=True, timeout=60)
    return out


def truth(name):
    j = load_json(os.path.join(CAPTURES, name + ".json"))
    return [t["message"]["sha256"] for s in j["sessions"]
            for t in s["transactions"] if "message" in t]


aio = rec.AioServer("127.0.0.1", socket.AF_INET, cert, key)
got = []


async def keep(server, session, envelope):
    got.append(hashlib.sha256(envelope.original_content).hexdigest())
    return "250 OK queued"


aio.ctl.handler.handle_DATA = keep
env = dict(os.environ, SP_AUTH_SECRET=rec.PASSWORD)
try:
    # (smuggling is left out: bare-LF bodies, see the man page LIMITATIONS)
    for name in ("dotstuff", "multipart", "nested_rfc822", "auth_login",
                 "sample"):
        got.clear()
        out = os.path.join(work, name + ".report.json")
        rc, so, _ = tool("--target", "127.0.0.1:%d" % aio.port,
                         "--timeout", "5s", "-o", out, decode(name), env=env)
        check(rc == 0 and "placeholder" not in so,
              "%s (JSON input): passes" % name)
        check(got == truth(name), "%s: messages received byte for byte "
              "(%d)" % (name, len(got)))
    got.clear()
    rc, so, _ = tool("--target", "127.0.0.1:%d" % aio.port, "--timeout",
                     "5s", "-o", os.path.join(work, "ph.json"),
                     decode("dotstuff", extract=False))
    check(rc == 0 and "placeholder was sent" in so and len(got) == 1 and
          got != truth("dotstuff"), "no --extract: a placeholder, said so")
    check(load_json(os.path.join(work, "ph.json"))["sessions"][0].get(
        "placeholder_message") is True, "JSON placeholder_message")
    rc, so, _ = tool("--target", "127.0.0.1:%d" % aio.port, "--timeout",
                     "5s", decode("starttls_injection"))
    check(rc == 0 and "stopped at STARTTLS" in so,
          "STARTTLS injection from JSON: passes, stops at STARTTLS")
    rc, so, se = tool("--target", "127.0.0.1:%d" % aio.port,
                      decode("basic", extract=False, dialogue=False))
    check(rc == 3 and "no dialogue" in se, "a record without dialogue: 3")
finally:
    aio.stop()

if os.geteuid() == 0 and have("postfix"):
    pf = rec.PostfixServer(work, cert, key)
    try:
        for name in ("bdat", "pipelining"):
            rc, so, _ = tool("--target", "127.0.0.1:%d" % pf.port,
                             "--timeout", "5s", decode(name))
            check(rc == 0, "%s (JSON input) against Postfix: passes" % name)
    finally:
        pf.stop()
else:
    print("skip the Postfix part: not root or no postfix")
done()
