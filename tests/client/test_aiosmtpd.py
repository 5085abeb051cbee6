"""The client and the script runner against aiosmtpd with STARTTLS and
AUTH: certificate verification with a test CA (and its failure without
it), AUTH PLAIN / LOGIN / CRAM-MD5 inside TLS, dot-stuffing checked
against what the server stored, implicit variables, IPv6."""
import os
import socket
import ssl
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clientlib import (PASSWORD, USER, aiosmtpd_auth, check, done, make_ca,
                       need_runner, run, script, skip, free_port)

need_runner()
try:
    from aiosmtpd.controller import Controller
except ImportError:
    skip("aiosmtpd missing")

work = tempfile.mkdtemp(prefix="sp-client-")
ca, cert, key = make_ca(work)
received = []
authenticator, cram_md5 = aiosmtpd_auth(USER, PASSWORD)


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        return responses[:1] + ["250-PIPELINING"] + responses[1:]

    auth_CRAM__MD5 = cram_md5

    async def handle_DATA(self, server, session, envelope):
        received.append(envelope.original_content)
        return "250 OK queued"


def start(host, family):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    port = free_port(family, host)
    ctl = Controller(Handler(), hostname=host, port=port,
                     server_hostname="localhost", tls_context=ctx,
                     require_starttls=False, auth_require_tls=True,
                     authenticator=authenticator, decode_data=False)
    ctl.start()
    return ctl, port


ctl, port = start("127.0.0.1", socket.AF_INET)
env = dict(os.environ, SP_TEST_SECRET=PASSWORD)

BODY = ("From: <a@example.test>\nSubject: dots\n\n.leading dot\n..two\n"
        ".\tdot tab\nlast\n")
full = script(work, "full.smtp", """\
id: demo-tls-auth
title: STARTTLS, AUTH inside TLS, a dot-stuffed message
rfc: 3207 4, 4954 4, 5321 4.5.2
level: MUST
fixture: rcpt

expect 220
send EHLO client.test
expect 250 "STARTTLS"
starttls
send EHLO client.test
expect 250 /AUTH .*PLAIN/
auth plain %s $SP_TEST_SECRET
expect 235
pipeline
MAIL FROM:<a@example.test>
RCPT TO:<${rcpt}>
end
expect 250
expect 250
data
%s.
expect 2xx "queued"
quit
""" % (USER, BODY))

# 1. Verified TLS with the test CA, AUTH PLAIN from the environment.
rc, out, _ = run("localhost", port, full, "-4", "-c", ca, "-E", "-t", "5000",
                 "-v", "rcpt=bob@example.test", env=env)
check(rc == 0, "STARTTLS + AUTH PLAIN + DATA: pass")
check(", verified" in out and "TLSv1." in out, "TLS: verified, protocol shown")
import re, time
m = re.search(r"# tls (\S+) .* subject=(.*) issuer=(.*) sans=(.*) "
              r"not_after=(\d+)", out)
check(m is not None and m.group(2) == "CN=localhost" and
      m.group(3) == "CN=sp test CA" and
      m.group(4) == "DNS:localhost, IP:127.0.0.1, IP:::1" and
      time.time() < int(m.group(5)) < time.time() + 3 * 86400,
      "TLS peer summary: subject, issuer, SANs, notAfter")
check("<redacted>" in out and PASSWORD not in out, "AUTH secret not shown")
want = BODY.replace("\n", "\r\n").encode()
check(len(received) == 1 and received[0] == want,
      "server stored the message dot-unstuffed as written")

# 1b. D5: a message over 64 KiB from a file, dot lines across the
# client's 32 KiB encoding blocks; the server must store it exactly.
big = "".join(("." if i % 7 == 0 else "") + "line %06d %s\n" % (i, "y" * 50)
              for i in range(6000))
with open(os.path.join(work, "big.eml"), "w") as f:
    f.write("Subject: big\n\n" + big)
bigs = script(work, "big.smtp", "expect 220\nsend EHLO c\nexpect 250\n"
              "send MAIL FROM:<a@example.test>\nexpect 250\n"
              "send RCPT TO:<b@example.test>\nexpect 250\n"
              "data @big.eml\nexpect 250\nquit\n")
rc, out, _ = run("127.0.0.1", port, bigs, "-t", "10000")
want = ("Subject: big\n\n" + big).replace("\n", "\r\n").encode()
check(rc == 0 and len(received) == 2 and received[1] == want,
      "D5: %d-byte message with dot lines stored exactly" % len(want))

# 2. No CA given: the system CAs do not know the test CA.
rc, out, _ = run("localhost", port, full, "-4", "-E", "-t", "5000",
                 "-v", "rcpt=bob@example.test", env=env)
check(rc == 2 and "TLS handshake with 127.0.0.1:%d failed: certificate verify "
      "failed (unable to get local issuer certificate)" % port in out,
      "unknown CA: TLS error named")

# 3. -k: accepted but reported as not verified.
rc, out, _ = run("127.0.0.1", port, full, "-k", "-E", "-t", "5000",
                 "-v", "rcpt=bob@example.test", env=env)
check(rc == 0 and "NOT verified" in out, "no-verify: passes, says so")

# 4. Wrong password: the expect 235 fails and names the reply.
bad = script(work, "bad.smtp", """\
expect 220
send EHLO c
expect 250
starttls
send EHLO c
expect 250
auth login %s wrong-password
expect 235
""" % USER)
rc, out, _ = run("127.0.0.1", port, bad, "-c", ca, "-t", "5000")
check(rc == 1 and "535" in out and "reply code 535 not expected" in out,
      "wrong password: fails at expect 235 with 535")

# 5. AUTH LOGIN and CRAM-MD5 inside TLS.
for mech in ("login", "cram-md5"):
    s = script(work, mech + ".smtp", """\
expect 220
send EHLO c
expect 250
starttls
send EHLO c
expect 250
auth %s %s %s
expect 235
quit
""" % (mech, USER, PASSWORD))
    rc, out, _ = run("127.0.0.1", port, s, "-c", ca, "-t", "5000")
    check(rc == 0, "AUTH %s: 235" % mech)

# 6. AUTH before TLS is refused by this server (auth_require_tls).
clear = script(work, "clear.smtp", "expect 220\nsend EHLO c\nexpect 250\n"
               "auth plain %s %s\nexpect 5xx\n" % (USER, PASSWORD))
rc, out, _ = run("127.0.0.1", port, clear, "-t", "5000")
check(rc == 0 and "smtp_auth_plaintext" in out,
      "AUTH in the clear: refused, and flagged as an anomaly")

# 7. A fixture the caller did not give skips the script.
rc, out, _ = run("127.0.0.1", port, full, "-k", "-t", "5000")
check(rc == 3 and "fixture rcpt not provided" in out, "missing fixture: skip")

# 8. A failed expectation names its line and stops the script.
fail = script(work, "fail.smtp", "expect 220\nsend NOOP\nexpect 251\n"
              "send NOOP\nexpect 250\n")
rc, out, _ = run("127.0.0.1", port, fail, "-t", "5000")
check(rc == 1 and "\n3\tfail\t250" in out and "\n4\tskip" in out,
      "failure: line 3 fails, the rest is skipped")
rc, out, _ = run("127.0.0.1", port, fail, "-K", "-t", "5000")
check(rc == 1 and "\n4\tpass" in out, "keep going: later steps run")

# 9. X4 (CVE-2011-0411): plaintext after STARTTLS must not be answered
# inside TLS.  aiosmtpd 1.4.3 drops it (captures/README.md).
x4 = script(work, "x4.smtp", """\
id: X4
title: plaintext after STARTTLS is discarded
rfc: 3207 4.2
level: MUST

expect 220
send EHLO c
expect 250
sendraw "STARTTLS\\r\\nEHLO inject\\r\\n"
expect 220
tls
expect-silence 1s
send EHLO c
expect 250
quit
""")
rc, out, _ = run("127.0.0.1", port, x4, "-c", ca, "-t", "5000")
check(rc == 0 and "smtp_starttls_injection" in out,
      "X4: injection flagged by the client's parser, server silent")
ctl.stop()

# 9b. Implicit TLS (RFC 8314 3.3, port 465 style): TLS from the first byte.
ictx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ictx.load_cert_chain(cert, key)
iport = free_port()
ictl = Controller(Handler(), hostname="127.0.0.1", port=iport,
                  server_hostname="localhost", ssl_context=ictx,
                  auth_require_tls=False, authenticator=authenticator,
                  decode_data=False)
ictl.start()
implicit = script(work, "implicit.smtp", "expect 220\nsend EHLO c\n"
                  "expect 250\nauth plain %s %s\nexpect 235\nquit\n" % (
                      USER, PASSWORD))
rc, out, _ = run("127.0.0.1", iport, implicit, "-T", "-c", ca, "-t", "5000")
check(rc == 0 and "verified=1" in out, "implicit TLS: verified session")
check("smtp_auth_plaintext" not in out, "implicit TLS: AUTH not flagged")
ictl.stop()

# 10. IPv6 (::1), if this host has it.
try:
    ctl6, port6 = start("::1", socket.AF_INET6)
except OSError:
    ctl6 = None
if ctl6 is not None:
    rc, out, _ = run("::1", port6, full, "-6", "-c", ca, "-E", "-t",
                     "5000", "-v", "rcpt=bob@example.test", env=env)
    check(rc == 0, "IPv6: the whole session passes over ::1")
    ctl6.stop()
done()
