"""smtp-shell on a pseudo-terminal against Postfix smtp-sink and two
scripted servers on loopback: :pipeline in one write, :raw with escapes,
completion of DSN parameters, Ctrl-C cancelling a wait without ending
the session, and a dropped connection reported, not fatal."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from shellpty import (SHELL, Shell, need_shell, check, done, skip, free_port,
                      RawServer, read_line)

need_shell()
if shutil.which("smtp-sink") is None:
    skip("smtp-sink missing")

work = tempfile.mkdtemp(prefix="sp-shell-sink-")
port = free_port()
sink = subprocess.Popen(["smtp-sink", "-u", "nobody", "-R", work,
                         "127.0.0.1:%d" % port, "10"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.5)
try:
    rec = os.path.join(work, "sink.smtp")
    eml = os.path.join(work, "m.eml")
    with open(eml, "w") as f:
        f.write("Subject: file\n\n.dot first\nend\n")
    sh = Shell("127.0.0.1:%d" % port, home=work)
    check(sh.expect(r"<- 220 .*ESMTP") is not None, "smtp-sink greeting")
    sh.line(":record " + rec)
    sh.line("EHLO tester")
    check(sh.expect(r"250-DSN") is not None, "EHLO lists DSN")
    sh.expect(r"smtp> ")
    sh.send("RCPT TO:<b@example.test> \t\t")
    check(sh.expect(r"NOTIFY=\s+ORCPT=rfc822;") is not None,
          "RCPT parameters from DSN offered")
    sh.send("\x15")
    sh.send("MAIL FROM:<a@example.test> \t\t")
    m = sh.expect(r"AUTH=<>\s+BODY=7BIT\s+BODY=8BITMIME\s+ENVID=\s+"
                  r"RET=FULL\s+RET=HDRS\s*\n")
    check(m is not None, "MAIL parameters: AUTH, 8BITMIME, DSN (no SIZE)")
    sh.send("\x15")

    # :pipeline: three lines, one write, three replies.
    sh.line(":pipeline")
    for l in ("MAIL FROM:<a@example.test>", "RCPT TO:<b@example.test>",
              "RSET", "."):
        sh.line(l)
    check(sh.expect(r"-> 3 lines in one write\s+<- 250 2\.1\.0 [^\n]*\n"
                    r"<- 250 2\.1\.5 [^\n]*\n<- 250 ") is not None,
          ":pipeline: three replies in order")

    # :raw with escapes: two commands in one write, both answered.
    sh.line(r":raw NOOP\r\nNOOP\r\n")
    check(sh.expect(r"-> 12 bytes\s+<- 250 [^\n]*\n<- 250 ") is not None,
          ":raw \\r\\n escapes: two replies")
    sh.line(r":raw \xZZ")
    check(sh.expect(r"bad escape") is not None, ":raw rejects a bad escape")
    # A typed DATA: after the 354 lines go out unanswered until ".".
    sh.line("MAIL FROM:<a@example.test>")
    sh.line("RCPT TO:<b@example.test>")
    sh.line("DATA")
    check(sh.expect(r"<- 354 ") is not None, "typed DATA gets 354")
    sh.settle(0.2)
    for l in ("Subject: typed", "", "body", "."):
        sh.line(l)
    check(sh.expect(r"data> \.\s*\n<- 250 ") is not None,
          "typed message lines, one reply after the lone dot")
    sh.line("RSET")
    sh.line("MAIL FROM:<a@example.test>")
    sh.line("RCPT TO:<b@example.test>")
    sh.line(":data @" + eml)
    check(sh.expect(r"-> DATA\s+<- 354 [^\n]*\n-> \d+ bytes, then "
                    r"<CRLF>\.<CRLF>\s+<- 250 ") is not None,
          ":data @file: 354, the file, 250")
    sh.line("XYZZY")
    check(sh.expect(r"<- 5\d\d ") is not None, "unknown verb: 5xx")
    sh.line(":explain")
    check(sh.expect(r"\n5\d\d .*\n.*5yz permanent negative") is not None,
          ":explain alone explains the last reply")
    sh.line("QUIT")
    sh.expect(r"<- 221")
    sh.close()
    # The recording (pipeline, raw, typed DATA, data @file, a 5xx)
    # replays against the same server with every expectation held.
    text = open(rec).read()
    print("\n".join("    " + l for l in text.splitlines()))
    check("pipeline\n" in text and 'sendraw "NOOP\\r\\nNOOP\\r\\n"' in text
          and "data @" in text, "recording has pipeline, sendraw, data")
    r = subprocess.run([SHELL, "--script", rec, "127.0.0.1:%d" % port],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    print(r.stdout[-800:])
    check(r.returncode == 0 and "\x1b[" not in r.stdout,
          "--script replays the recorded session: status 0, no colour")

    # Without a terminal: lines from a pipe, no prompt, no colour.
    r = subprocess.run([SHELL, "127.0.0.1:%d" % port], input="EHLO x\nQUIT\n",
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "<- 221" in r.stdout and
          "smtp>" not in r.stdout and "\x1b[" not in r.stdout,
          "piped input: replies shown, no prompt, no colour")
finally:
    sink.terminate()
    sink.wait(5)


# Ctrl-C during a wait: a server that greets, then never answers NOOP.
def mute(conn, srv):
    conn.sendall(b"220 mute ESMTP\r\n")
    while True:
        l = read_line(conn)
        if not l:
            return
        if l.upper().startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")
            return
        if l.upper().startswith(b"EHLO"):
            conn.sendall(b"250 mute\r\n")


srv = RawServer(mute, seconds=30)
sh = Shell("127.0.0.1:%d" % srv.port, home=work)
sh.expect(r"<- 220 mute")
sh.line("NOOP")
sh.expect(r"NOOP")
time.sleep(0.8)
sh.send("\x03")
check(sh.expect(r"\^C: waiting for the reply cancelled; the session "
                r"goes on", timeout=5) is not None,
      "Ctrl-C cancels the wait")
sh.line(":explain 4.7.1")
check(sh.expect(r"4\.7\.1 4\.X\.X persistent transient failure; Security "
                r"or Policy Status") is not None, "the shell answers after ^C")
sh.send("XYZ")                  # half a line, then ^C at the prompt
sh.settle(0.2)
sh.send("\x03")
sh.settle(0.2)
sh.line("EHLO again")
check(sh.expect(r"<- 250 mute") is not None,
      "after Ctrl-C the same session goes on; ^C at the prompt dropped "
      "the half-typed line")
sh.line("QUIT")
check(sh.expect(r"<- 221 bye") is not None, "QUIT after Ctrl-C")
check(sh.close() == 0, "the shell exits normally")
srv.stop()


# :auth xoauth2: the encoding checked by a scripted server.
import base64  # noqa: E402
seen = []


def oauth(conn, srv):
    conn.sendall(b"220 oauth\r\n")
    l = read_line(conn)                       # EHLO
    conn.sendall(b"250-oauth\r\n250 AUTH XOAUTH2\r\n")
    l = read_line(conn).rstrip(b"\r\n")
    seen.append(l)
    want = b"user=u@example.test\x01auth=Bearer tok-123\x01\x01"
    ok = l.startswith(b"AUTH XOAUTH2 ") and base64.b64decode(l[13:]) == want
    conn.sendall(b"235 2.7.0 ok\r\n" if ok else b"535 5.7.8 no\r\n")
    read_line(conn)


srv = RawServer(oauth, seconds=30)
sh = Shell("127.0.0.1:%d" % srv.port, home=work)
sh.expect(r"<- 220 oauth")
sh.line("EHLO x")
sh.expect(r"<- 250 AUTH XOAUTH2")
sh.settle(0.2)
sh.send("AUTH \t")
check(sh.expect(r"AUTH XOAUTH2") is not None, "AUTH mechanism completes")
sh.send("\x15")
sh.line(":auth xoauth2 u@example.test")
sh.expect(r"token: ")
sh.line("tok-123")
check(sh.expect(r"<- 235 ") is not None and "tok-123" not in sh.text(),
      "XOAUTH2 encoded as the server expects; the token is not shown")
sh.close()
srv.stop()

# A dropped connection is reported and the shell stays.
def drop(conn, srv):
    conn.sendall(b"220 dropper\r\n")
    read_line(conn)


# --timeout bounds a wait; the shell goes on.
srv = RawServer(mute, seconds=30)
sh = Shell("--timeout", "1", "127.0.0.1:%d" % srv.port, home=work)
sh.expect(r"<- 220 mute")
t0 = time.monotonic()
sh.line("NOOP")
m = sh.expect(r"\*\* waiting for the reply: .*timed out", timeout=5)
check(m is not None and time.monotonic() - t0 < 4,
      "--timeout 1: the wait ends with a message")
sh.line(":explain 221")
check(sh.expect(r"221 <domain> Service closing") is not None,
      "the shell goes on after a timeout")
sh.close()
srv.stop()

# -6 and an IPv6 literal in brackets.
srv = RawServer(mute, family=socket.AF_INET6, host="::1", seconds=30)
sh = Shell("-6", "[::1]:%d" % srv.port, home=work)
check(sh.expect(r"connected to ::1 port %d\s+<- 220 mute" % srv.port)
      is not None, "-6 [::1]:PORT connects over IPv6")
sh.close()
srv.stop()

srv = RawServer(drop, seconds=30)
sh = Shell("127.0.0.1:%d" % srv.port, home=work)
sh.expect(r"<- 220 dropper")
sh.line("EHLO x")
check(sh.expect(r"\*\* connection (closed|reset) by the server") is not None,
      "the dropped connection is reported")
sh.line("NOOP")
check(sh.expect(r"not connected; :connect") is not None,
      "later lines say so instead of failing")
sh.line(":connect 127.0.0.1:%d" % srv.port)
check(sh.expect(r"<- 220 dropper") is not None, ":connect starts again")
check(sh.close() == 0, "the shell exits normally after a drop")
srv.stop()
done()
