"""Rewriting reaches the server: --helo, --map-sender, --rcpt,
--map-rcpt, --fresh-date and --fresh-msgid, checked on what aiosmtpd
received (envelope, HELO name, message headers, body untouched); and
--auth with the secret from a file or the environment, never the
command line."""
import email
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replaylib import (CAPTURES, check, done, load_json, need_tool,
                       recorder, skip, tool, workdir)

need_tool()
try:
    import aiosmtpd  # noqa: F401
except ImportError:
    skip("aiosmtpd missing")
rec = recorder()
work = workdir()
cert, key = rec.make_cert(work)
srv = rec.AioServer("127.0.0.1", socket.AF_INET, cert, key)
got = []


async def keep(server, session, envelope):
    got.append({"helo": session.host_name, "from": envelope.mail_from,
                "rcpt": list(envelope.rcpt_tos),
                "msg": envelope.original_content})
    return "250 OK queued"


# aiosmtpd looks its hooks up per connection: this one keeps messages.
srv.ctl.handler.handle_DATA = keep
target = "127.0.0.1:%d" % srv.port


def original(name):
    """The message as the recorded client sent it (from the .json)."""
    j = load_json(os.path.join(CAPTURES, name + ".json"))
    return j


try:
    out = os.path.join(work, "rw.json")
    rc, so, _ = tool("--target", target, "--timeout", "5s", "-o", out,
                     "--helo", "replayer.example.test",
                     "--map-sender", "alice@example.test=zed@example.test",
                     "--rcpt", "sink@example.test",
                     "--fresh-date", "--fresh-msgid",
                     os.path.join(CAPTURES, "dotstuff.pcap"))
    check(rc == 0, "rewritten replay passes")
    check(len(got) == 1, "one message received")
    m = got[0] if got else {"helo": "", "from": "", "rcpt": [],
                            "msg": b""}
    check(m["helo"] == "replayer.example.test", "EHLO name: %s" % m["helo"])
    check(m["from"] == "zed@example.test", "MAIL FROM mapped: %s" %
          m["from"])
    check(m["rcpt"] == ["sink@example.test"], "RCPT TO overridden: %s" %
          m["rcpt"])
    msg = email.message_from_bytes(m["msg"])
    check(msg["From"] == "<zed@example.test>", "From: header mapped: %s" %
          msg["From"])
    check(msg["To"] == "<bob@example.test>", "To: header kept (no "
          "--map-rcpt for it): %s" % msg["To"])
    check(msg["Date"] and "02 Mar 2026" not in msg["Date"],
          "fresh Date: %s" % msg["Date"])
    check(msg["Message-ID"] and "5b00b2b95dd0d8cd" not in
          msg["Message-ID"] and msg["Message-ID"].endswith(
              "@replayer.example.test>"),
          "fresh Message-ID: %s" % msg["Message-ID"])
    with open(os.path.join(CAPTURES, "dotstuff.c2s"), "rb") as f:
        wire = f.read()
    data = wire.split(b"DATA\r\n", 1)[1].split(b"\r\n.\r\n", 1)[0]
    sent = b"\r\n".join(x[1:] if x.startswith(b".") else x
                         for x in data.split(b"\r\n")) + b"\r\n"
    check(m["msg"].split(b"\r\n\r\n", 1)[1] ==
          sent.split(b"\r\n\r\n", 1)[1],
          "body byte for byte as recorded (dot-stuffing undone by the "
          "server)")
    check(len(msg.get_all("Date", [])) == 1, "one Date header")

    got.clear()
    rc, so, _ = tool("--target", target, "--timeout", "5s",
                     "--map-rcpt", "bob@example.test=carol@example.test",
                     os.path.join(CAPTURES, "dotstuff.pcap"))
    m = got[0] if got else {"rcpt": [], "msg": b""}
    check(rc == 0 and m["rcpt"] == ["carol@example.test"] and
          b"To: <carol@example.test>" in m["msg"],
          "--map-rcpt: envelope and To: header")

    # AUTH: recorded secrets are redacted; ours comes from a file.
    pw = os.path.join(work, "secret")
    with open(pw, "w") as f:
        f.write(rec.PASSWORD + "\n")
    env = {k: v for k, v in os.environ.items() if k != "SP_AUTH_SECRET"}
    cap = os.path.join(CAPTURES, "auth_plain.pcap")
    rc, so, _ = tool("--target", target, "--timeout", "5s", "--auth",
                     "plain:" + rec.USER, "--auth-file", pw, cap, env=env)
    check(rc == 0, "AUTH PLAIN with the secret from --auth-file passes")
    with open(pw, "w") as f:
        f.write("wrong\n")
    out = os.path.join(work, "auth.json")
    rc, so, _ = tool("--target", target, "--timeout", "5s", "--auth",
                     "plain:" + rec.USER, "--auth-file", pw, "-o", out, cap,
                     env=env)
    s = load_json(out)["sessions"][0]
    d = s["results"][s["first_divergence"] - 1]
    # The recorded server's authenticator answers a failure with
    # silence (aiosmtpd's handled=True), so the reply times out.
    check(rc == 1 and d.get("answering", "").startswith("AUTH PLAIN "
                                                         "<redacted>"),
          "a wrong secret: divergence at AUTH's reply (%s)" %
          d.get("note"))
    check("wrong" not in open(out).read() and rec.PASSWORD not in
          open(out).read(), "no secret in the JSON report")
    rc, so, se = tool("--target", target, "--timeout", "5s", cap, env=env)
    check(rc == 3 and "SP_AUTH_SECRET" in so,
          "no secret given: could not run (exit 3), names SP_AUTH_SECRET")
    with open(pw, "w") as f:
        f.write(rec.PASSWORD + "\n")
    rc, so, _ = tool("--target", target, "--timeout", "5s", "--auth-file",
                     pw, cap, env=env)
    check(rc == 0, "--auth-file alone: the capture's mechanism and user")
    env["MY_SECRET"] = rec.PASSWORD
    rc, so, _ = tool("--target", target, "--timeout", "5s", "--auth",
                     "login:" + rec.USER, "--auth-env", "MY_SECRET",
                     os.path.join(CAPTURES, "auth_login.pcap"), env=env)
    check(rc == 0, "AUTH LOGIN with the secret from --auth-env passes")
finally:
    srv.stop()
done()
