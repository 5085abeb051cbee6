"""The client against Postfix: a private smtpd instance (as captures/
recorder.py runs it: own config and queue, loopback, discard:) for
STARTTLS with certificate verification, PIPELINING, BDAT chunks and
DATA; and smtp-sink.  Then the converter: sessions decoded from the
project's captures become scripts that replay against the same kind
of server and pass."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clientlib import (RUNNER, SRC, check, done, make_ca, need_runner,
                       recorder, run, script, skip)

need_runner()
if os.geteuid() != 0:
    skip("a private Postfix instance needs root")
if shutil.which("postfix") is None or shutil.which("smtp-sink") is None:
    skip("postfix or smtp-sink missing")

work = tempfile.mkdtemp(prefix="sp-client-")
os.chmod(work, 0o755)
ca, cert, key = make_ca(work)
rec = recorder()


def convert(case):
    """The first session of captures/<case>.pcap as a script file."""
    r = subprocess.run([RUNNER, "-x", os.path.join(SRC, "captures",
                                                   case + ".pcap")],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None
    return script(work, case + ".smtp", r.stdout)


with open(os.path.join(work, "chunk.eml"), "w") as f:
    f.write("Subject: chunks\n\n" + "line of text\n" * 500)

try:
    pf = rec.PostfixServer(work, cert, key)
except Exception as e:          # start-up needs root and a sane postfix
    skip("postfix instance: %s" % e)
try:
    s = script(work, "pf.smtp", """\
id: postfix-full
title: STARTTLS, pipelining, BDAT and DATA against Postfix

expect 220 "ESMTP"
send EHLO client.test
expect 250 /STARTTLS/
starttls
send EHLO client.test
expect 250 /CHUNKING/
pipeline
MAIL FROM:<a@example.test>
RCPT TO:<b@example.test>
end
expect 250
expect 250
bdat 7 "Subject"
expect 250
bdat 11 last ": x\\r\\n\\r\\nhi\\r\\n"
expect 250 "queued as"
send MAIL FROM:<a@example.test>
expect 250
send RCPT TO:<b@example.test>
expect 250
bdat-file @chunk.eml 1000
expect 250
send MAIL FROM:<a@example.test>
expect 250
send RCPT TO:<b@example.test>
expect 250
data
Subject: dots

.one dot
.
expect 250
send XYZZY
expect 502|500
send NOOP
expect 250
quit
expect-close 5s
""")
    rc, out, _ = run("127.0.0.1", pf.port, s, "-c", ca, "-t", "10000")
    check(rc == 0, "Postfix: STARTTLS (verified), pipelining, BDAT, DATA")
    check(", verified" in out, "Postfix: certificate verified with the CA")

    # C1 against Postfix: NOOP<LF>NOOP<CRLF> gets exactly one reply
    # or two; either way the runner reports what it saw, in time.
    c1 = script(work, "c1.smtp", "expect 220\nsend EHLO c\nexpect 250\n"
                "sendraw \"NOOP\\nNOOP\\r\\n\"\n"
                "expect-count 1 within 1s\nquit\n")
    rc, out, took = run("127.0.0.1", pf.port, c1, "-t", "5000")
    check(rc in (0, 1) and took < 6, "Postfix: C1 probe ends in time")

    x4 = script(work, "x4.smtp", "expect 220\nsend EHLO c\nexpect 250\n"
                "sendraw \"STARTTLS\\r\\nEHLO inject\\r\\n\"\n"
                "expect 220\ntls\nexpect-silence 1s\nsend EHLO c\n"
                "expect 250\nquit\n")
    rc, out, _ = run("127.0.0.1", pf.port, x4, "-c", ca, "-t", "5000")
    check(rc == 0, "Postfix: X4, the injected EHLO is not answered in TLS")

    for case in ("basic", "pipelining", "bdat", "smtputf8"):
        path = convert(case)
        check(path is not None, "convert %s.pcap" % case)
        if path is None:
            continue
        rc, out, _ = run("127.0.0.1", pf.port, path, "-t", "10000")
        check(rc == 0, "replay of %s.pcap against Postfix passes" % case)
finally:
    pf.stop()

sink = rec.SinkServer("127.0.0.1")
try:
    path = convert("multi_rset")
    check(path is not None, "convert multi_rset.pcap")
    if path is not None:
        rc, out, _ = run("127.0.0.1", sink.port, path, "-t", "10000")
        check(rc == 0, "replay of multi_rset.pcap against smtp-sink passes")
    sk = script(work, "sink.smtp", """\
expect 220
send EHLO c
expect 250 "PIPELINING"
pipeline
MAIL FROM:<a@example.test>
RCPT TO:<b@example.test>
DATA
end
expect 250
expect 250
expect 354
data-body @chunk.eml
expect 250
quit
""")
    rc, out, _ = run("127.0.0.1", sink.port, sk, "-t", "10000")
    check(rc == 0, "smtp-sink: pipelined MAIL/RCPT/DATA, data-body from a file")
finally:
    sink.stop()
done()
