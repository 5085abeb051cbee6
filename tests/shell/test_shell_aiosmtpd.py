"""smtp-shell on a pseudo-terminal against aiosmtpd on loopback with
STARTTLS (a test CA made here with openssl) and AUTH PLAIN/LOGIN:
replies with latency and colour, completion from the advertised
extensions, :starttls with verification, :auth without echo, :data,
:caps, :explain, history, :record and --script replaying it."""
import os
import socket
import ssl
import subprocess
import tempfile

from shellpty import (Shell, need_shell, check, done, skip, free_port,
                      make_ca, USER, PASSWORD, SHELL, aiosmtpd_auth)

need_shell()
try:
    from aiosmtpd.controller import Controller
except ImportError:
    skip("aiosmtpd missing")

work = tempfile.mkdtemp(prefix="sp-shell-")
ca, cert, key = make_ca(work)
received = []


authenticator, cram_md5 = aiosmtpd_auth(USER, PASSWORD)


class Handler:
    auth_CRAM__MD5 = cram_md5

    async def handle_DATA(self, server, session, envelope):
        received.append(envelope.original_content)
        return "250 OK queued"




def start():
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port,
                     server_hostname="localhost", tls_context=ctx,
                     require_starttls=False, auth_require_tls=True,
                     authenticator=authenticator, decode_data=False)
    ctl.start()
    return ctl, port


ctl, port = start()
target = "127.0.0.1:%d" % port
rec = os.path.join(work, "session.smtp")

# 1. Talking to the server: greeting, EHLO, replies grouped, latency.
sh = Shell("--ca", ca, target, home=work)
check(sh.expect(r"<- 220 .*\(\d+\.\d ms\)") is not None,
      "greeting shown with its latency")
sh.line(":record " + rec)
check(sh.expect(r"recording to .*session\.smtp") is not None,
      ":record starts (greeting kept)")
sh.line("EHLO tester")
m = sh.expect(r"<- 250-[\s\S]*?<- 250 HELP\s+\(\d+\.\d ms\)")
check(m is not None and m.group(0).count("(") == 1,
      "EHLO reply grouped, one latency on its last line")
check("\x1b[32m<- 250" in sh.raw.decode("utf-8", "replace"),
      "2xx reply coloured green on a terminal")

# 2. Completion: exactly the extensions aiosmtpd advertised (SIZE,
# 8BITMIME, SMTPUTF8; no DSN, no AUTH before TLS, no CHUNKING).
sh.send("MAIL FROM:<a@example.test> \t\t")
m = sh.expect(r"BODY=7BIT\s+BODY=8BITMIME\s+SIZE=\s+SMTPUTF8")
check(m is not None, "MAIL parameters offered from EHLO")
sh.settle()
check("RET=" not in sh.text()[sh.pos:] and "NOTIFY" not in sh.text(),
      "no DSN parameters (DSN not advertised)")
sh.send("\x15")                         # Ctrl-U: clear the line
sh.send("STA\t")
check(sh.expect(r"STARTTLS") is not None, "STARTTLS verb completes")
sh.send("\x15")
sh.send("AU\t\t")
sh.settle(0.5)
check("AUTH" not in sh.text()[sh.pos:], "AUTH not offered before TLS "
      "(not advertised)")
sh.send("\x15")
sh.send(":star\t")
check(sh.expect(r":starttls") is not None, "shell command completes")
sh.send("\x15")
sh.send(":caps\r")
check(sh.expect(r"SMTPUTF8\s+STARTTLS\s+HELP") is not None, ":caps lists the EHLO")

# 3. STARTTLS with the test CA: verified, certificate summary.
sh.line(":starttls")
check(sh.expect(r"<- 220 .*\n.*TLS TLSv1\.[23]") is not None,
      ":starttls: 220 then TLS")
check(sh.expect(r"subject: CN ?= ?localhost") is not None and
      sh.expect(r"verified: yes") is not None,
      "peer certificate summary, verified with the CA")
sh.line("EHLO tester")
check(sh.expect(r"250-AUTH[^\n]*PLAIN") is not None, "EHLO inside TLS")
sh.send("AUTH \t\t")
check(sh.expect(r"LOGIN\s+PLAIN") is not None,
      "AUTH mechanisms completed from the EHLO inside TLS")
sh.send("\x15")

# 4. :auth plain reads the password without echo.
sh.line(":auth plain " + USER)
check(sh.expect(r"password: ") is not None, ":auth asks for the secret")
sh.line(PASSWORD)
check(sh.expect(r"<- 235 ") is not None, "AUTH PLAIN succeeds (235)")
check(PASSWORD not in sh.text(), "the password is never shown")

# 5. A transaction with :data (dot-stuffing) and a 5xx in red.
sh.line("MAIL FROM:<a@example.test>")
sh.expect(r"<- 250")
sh.line("RCPT TO:<b@example.test>")
sh.expect(r"<- 250")
sh.line(":data")
sh.expect(r"lone '\.' ends it")
for l in ("Subject: shell", "", ".leading dot", "last"):
    sh.line(l)
sh.line(".")
check(sh.expect(r"<- 250 OK queued") is not None, ":data message queued")
sh.line("XYZZY")
check(sh.expect(r"<- 500 ") is not None and
      "\x1b[1;31m<- 500" in sh.raw.decode("utf-8", "replace"),
      "unknown verb: 500 in red")
sh.line(":explain 550 5.7.1")
check(sh.expect(r"550 Requested action not taken.*\n[\s\S]*5\.7\.1 .*"
                r"Delivery not authorized") is not None,
      ":explain reply code and enhanced code")
sh.line("QUIT")
check(sh.expect(r"<- 221 ") is not None, "QUIT answered")
check(sh.expect(r"-- the server closed the connection") is not None,
      "the close after QUIT is reported")
rc = sh.close()
check(rc == 0, "shell leaves with status 0 on Ctrl-D (got %r)" % (rc,))
check(len(received) == 1 and b"\r\n.leading dot\r\n" in received[0],
      "server got the message with the leading dot intact")

hist = open(os.path.join(work, ".smtp_shell_history")).read()
check("XYZZY" in hist and PASSWORD not in hist,
      "history kept, without the password")

# 6. The recording replays against a fresh server: --script, status 0.
text = open(rec).read()
print("  recorded:\n" + "\n".join("    " + l for l in text.splitlines()))
check("starttls" in text and "auth plain" in text and
      PASSWORD not in text, "recording has starttls, auth, no secret")
env = dict(os.environ, SP_AUTH_SECRET=PASSWORD)
r = subprocess.run([SHELL, "--ca", ca, "--script", rec, target],
                   capture_output=True, text=True, timeout=60, env=env,
                   stdin=subprocess.DEVNULL)
print(r.stdout[-1500:], r.stderr[-500:])
check(r.returncode == 0 and "pass: 18 passed, 0 failed" in r.stdout,
      "--script replays the recorded session: status 0")
check(len(received) == 2 and received[1] == received[0],
      "the replay delivered the same message")

# 7. A broken expectation: status 1.  No terminal, stdin left open.
bad = os.path.join(work, "bad.smtp")
with open(bad, "w") as f:
    f.write("expect 220\nsend EHLO x\nexpect 250\nsend NOOP\nexpect 550\n")
p = subprocess.Popen([SHELL, "--script", bad, target], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)
try:
    out, _ = p.communicate(timeout=30)
except subprocess.TimeoutExpired:
    p.kill()
    out = "(hung)"
check(p.returncode == 1 and "fail" in out,
      "--script: a failed expectation gives status 1 without reading stdin")
r = subprocess.run([SHELL, "--script", "/nonexistent.smtp", target],
                   capture_output=True, text=True, timeout=10)
check(r.returncode == 2, "--script: missing file gives status 2")

# 8. Without the CA, verification fails and the shell goes on.
sh = Shell(target, home=work)
sh.expect(r"<- 220")
sh.settle(0.2)
sh.send("\x1b[A\x1b[A")        # two lines back in the last run's history
check(sh.expect(r"smtp> [^\n]*:explain 550 5\.7\.1") is not None,
      "history from the last run is recalled with Up")
sh.send("\x15")
sh.line("EHLO tester")
sh.expect(r"<- 250 HELP")
sh.line(":starttls")
check(sh.expect(r"\*\* STARTTLS: .*(verif|certificate)") is not None,
      "unverifiable certificate reported")
sh.line(":explain 421")
check(sh.expect(r"421 <domain> Service not available") is not None,
      "the shell goes on after a TLS failure")
sh.close()

# 9. -k relaxes verification; :auth login.
# A typed STARTTLS is followed by the handshake too.
rec2 = os.path.join(work, "typed.smtp")
sh = Shell("-k", target, home=work)
sh.expect(r"<- 220")
sh.line(":record " + rec2)
sh.line("EHLO tester")
sh.expect(r"<- 250 HELP")
sh.line("STARTTLS")
check(sh.expect(r"<- 220 [^\n]*\n\s*TLS TLSv1") is not None and
      sh.expect(r"verified: NO") is not None,
      "-k, typed STARTTLS: TLS up, shown unverified")
sh.line("EHLO tester")
sh.expect(r"<- 250 HELP")
sh.line(":auth login " + USER)
sh.expect(r"password: ")
sh.line(PASSWORD)
check(sh.expect(r"<- 235 ") is not None, "AUTH LOGIN succeeds (235)")
sh.close()
text = open(rec2).read()
check("send STARTTLS\nexpect 220\ntls\n" in text and "auth login" in text,
      "typed STARTTLS recorded as send, expect 220, tls")
r = subprocess.run([SHELL, "-k", "--script", rec2, target],
                   capture_output=True, text=True, timeout=60, env=env,
                   stdin=subprocess.DEVNULL)
check(r.returncode == 0, "and that recording replays (status %d)" %
      r.returncode)

# 10. CRAM-MD5 (RFC 2195) answered from the 334 challenge; a wrong
# password gets 535 and the session goes on.
sh = Shell("-k", target, home=work)
sh.expect(r"<- 220")
sh.line("EHLO tester")
sh.expect(r"<- 250 HELP")
sh.line(":starttls")
sh.expect(r"verified: NO")
sh.line("EHLO tester")
sh.expect(r"<- 250 HELP")
sh.line(":auth cram-md5 " + USER)
sh.expect(r"password: ")
sh.line("wrong")
check(sh.expect(r"<- 334 [\s\S]*<- 535 ") is not None,
      "CRAM-MD5 with a wrong password: 535")
sh.line(":auth cram-md5 " + USER)
sh.expect(r"password: ")
sh.line(PASSWORD)
check(sh.expect(r"<- 334 [\s\S]*<- 235 ") is not None,
      "AUTH CRAM-MD5 succeeds (235)")
sh.close()

# 11. --tls: implicit TLS from the first byte (RFC 8314).
ictx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ictx.load_cert_chain(cert, key)
iport = free_port()
ictl = Controller(Handler(), hostname="127.0.0.1", port=iport,
                  ssl_context=ictx, auth_require_tls=False,
                  authenticator=authenticator, decode_data=False)
ictl.start()
sh = Shell("--tls", "--ca", ca, "127.0.0.1:%d" % iport, home=work)
check(sh.expect(r"\(TLS\)\s+TLS TLSv1\.[23][\s\S]*verified: yes\s+"
                r"<- 220 ") is not None,
      "--tls: handshake, certificate, then the greeting")
sh.line("EHLO tester")
check(sh.expect(r"<- 250-AUTH") is not None, "EHLO over implicit TLS")
sh.close()
ictl.stop()

ctl.stop()
done()
