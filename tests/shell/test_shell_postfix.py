"""smtp-shell on a pseudo-terminal against a private Postfix smtpd on
loopback (captures/recorder.py): STARTTLS verified with a test CA,
BDAT offered only because CHUNKING is advertised, :bdat in chunks and
the recording of it replayed by --script."""
import os
import shutil
import subprocess
import tempfile

from shellpty import (Shell, need_shell, check, done, skip, make_ca, SHELL)
from clientlib import recorder

need_shell()
if shutil.which("postfix") is None:
    skip("postfix missing")
work = tempfile.mkdtemp(prefix="sp-shell-pf-")
ca, cert, key = make_ca(work)
try:
    pf = recorder().PostfixServer(work, cert, key)
except Exception as e:          # start-up needs root and a sane postfix
    skip("postfix instance: %s" % e)
try:
    target = "127.0.0.1:%d" % pf.port
    msg = os.path.join(work, "chunks.eml")
    with open(msg, "w") as f:
        f.write("Subject: chunks\n\n" + "line of text\n" * 300)
    rec = os.path.join(work, "bdat.smtp")
    sh = Shell("--ca", ca, target, home=work)
    check(sh.expect(r"<- 220 postfix\.test ESMTP") is not None, "greeting")
    sh.line(":record " + rec)
    sh.line("EHLO client.test")
    sh.expect(r"<- 250 CHUNKING")
    sh.line(":starttls")
    check(sh.expect(r"verified: yes") is not None, "Postfix: TLS verified")
    sh.line("EHLO client.test")
    sh.expect(r"<- 250 CHUNKING")
    sh.settle(0.2)
    sh.send("BD\t")
    check(sh.expect(r"BDAT") is not None, "BDAT completes (CHUNKING)")
    sh.send("\x15")
    sh.send("MAIL FROM:<a@example.test> \t\t")
    check(sh.expect(r"\n\s*BODY=7BIT\s+BODY=8BITMIME\s+ENVID=\s+RET=FULL"
                    r"\s+RET=HDRS\s+SIZE=\s+SMTPUTF8") is not None,
          "MAIL parameters: 8BITMIME, DSN, SIZE, SMTPUTF8")
    sh.send("\x15")
    sh.line("MAIL FROM:<a@example.test>")
    sh.expect(r"<- 250 2\.1\.0")
    sh.line("RCPT TO:<b@example.test>")
    sh.expect(r"<- 250 2\.1\.5")
    sh.line(":bdat @%s 1000" % msg)
    size = os.path.getsize(msg)
    m = sh.expect(r"-> BDAT 1000\s+<- 250[\s\S]*?-> BDAT %d LAST\s+<- 250 "
                  r"2\.0\.0 Ok: \d+ bytes" % (size % 1000 or 1000))
    check(m is not None, ":bdat: chunks of 1000, the last with LAST")
    sh.line("QUIT")
    sh.expect(r"<- 221")
    check(sh.close() == 0, "shell exits normally")
    print(open(rec).read())
    r = subprocess.run([SHELL, "--ca", ca, "--script", rec, target],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    print(r.stdout[-1200:], r.stderr[-300:])
    check(r.returncode == 0, "--script replays the BDAT session: status 0")
finally:
    pf.stop()
done()
