"""smtp-shell browsing captures on a pseudo-terminal: :open decodes the
project's captures, :sessions lists each session with its endpoints,
sender and recipients, :show prints the dialogue (every server line of
the recorded stream, in order), :show N message the headers and MIME
tree, :filter narrows the list, :replay plays a session live against
smtp-sink.  Expected values come from captures/<case>.json and the
recorded c2s/s2c streams, not from the shell."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from shellpty import Shell, need_shell, check, done, SRC

need_shell()
CAP = os.path.join(SRC, "captures")
work = tempfile.mkdtemp(prefix="sp-shell-cap-")


def commands_of(path):
    """Client lines outside DATA: CRLF ends a line (RFC 5321 2.3.8), so
    smuggled bare-LF commands stay inside the message as the server saw
    them."""
    out, in_data = [], False
    with open(path, "rb") as f:
        for l in f.read().split(b"\r\n"):
            l = l.decode("utf-8", "replace")
            if in_data:
                in_data = l != "."
            elif l.upper() == "DATA":
                in_data = True
            else:
                out.append(l)
    return out


def lines_of(path):
    with open(path, "rb") as f:
        return [l.rstrip(b"\r").decode("utf-8", "replace")
                for l in f.read().split(b"\n") if l]


sh = Shell(home=work)
sh.expect(r"smtp> ")
# File names complete after a command that takes one.
sh.send(":open " + os.path.join(CAP, "multi_r") + "\t")
check(sh.expect(r"multi_rset\.") is not None, ":open completes file names")
sh.send("\t\t")
check(sh.expect(r"multi_rset\.c2s\s+multi_rset\.json\s+multi_rset\.pcap")
      is not None, "and lists the candidates")
sh.send("\x15")
sh.settle(0.2)
for case in ("basic", "interleaved", "multi_rset", "pipelining", "ipv6",
             "bdat", "smuggling"):
    meta = json.load(open(os.path.join(CAP, case + ".json")))
    sess = meta["sessions"]
    sh.line(":open " + os.path.join(CAP, case + ".pcap"))
    check(sh.expect(r"%s\.pcap: %d SMTP session" % (case, len(sess)))
          is not None, "%s: %d session(s) decoded" % (case, len(sess)))
    sh.line(":sessions")
    m = sh.expect(r"([\s\S]*?)(\d+) of (\d+) session")
    listing = m.group(1) if m else ""
    rows = [l for l in listing.splitlines() if re.match(r"\s*\d+  \d{4}-", l)]
    check(len(rows) == len(sess), "%s: one row per session" % case)
    for s in sess:
        cport = s["client"][1]
        row = next((r for r in rows if (":%d -> " % cport) in r), None)
        srv = "%s:%d" % tuple(s["server"]) if ":" not in s["server"][0] \
            else "[%s]:%d" % tuple(s["server"])
        c2s = commands_of(os.path.join(CAP, s["c2s"]))
        rcpts = [l[8:].strip().split(">")[0] + ">" for l in c2s
                 if l.upper().startswith("RCPT TO:")]
        mails = [l[10:].split(">")[0] + ">" for l in c2s
                 if l.upper().startswith("MAIL FROM:")]
        ok = row is not None and (" -> %s " % srv) in row
        if mails:
            ok = ok and ("from=%s" % mails[0]) in row
        for r in rcpts[:3]:
            ok = ok and r in row
        check(ok, "%s: session from port %d listed with server, sender, "
              "recipients" % (case, cport))
        if row is None:
            continue
        n = int(row.split()[0])
        sh.settle(0.2)        # at the prompt, as a person would be
        sh.line(":show %d" % n)
        m = sh.expect(r":show %d\s*\n([\s\S]*?)smtp> " % n)
        block = m.group(1) if m else ""
        shown = [l[3:] for l in block.splitlines() if l.startswith("<- ")]
        s2c = lines_of(os.path.join(CAP, s["s2c"]))
        # Each server line, in order (a STARTTLS session stops at TLS).
        check(shown == s2c[:len(shown)] and len(shown) >= min(2, len(s2c)),
              "%s %d: :show gives the server's lines in order (%d)" % (
                  case, n, len(shown)))
        sent = [l[3:] for l in block.splitlines() if l.startswith("-> ")]
        want = [l for l in c2s if re.match(r"(?i)(EHLO|HELO|MAIL|RCPT) ", l)]
        check(all(w in sent for w in want),
              "%s %d: :show has the client's EHLO/MAIL/RCPT lines" % (
                  case, n))

# The headers and the MIME tree of a multipart message.
sh.line(":open " + os.path.join(CAP, "multipart.pcap"))
sh.line(":show 1 message")
m = sh.expect(r"transaction 1: (\d+) bytes[\s\S]*?smtp> ")
block = m.group(0) if m else ""
check("subject: Rapport été – über" in block and
      "to: <bob@example.test>" in block, "message headers, RFC 2047 decoded")
check(re.search(r"\n\s+2 application/octet-stream 3000 bytes file=été "
                r"report\.bin", block) is not None,
      "MIME tree: part, type, size, file name")

# :filter by recipient, sender, anomaly.
sh.line(":open " + os.path.join(CAP, "interleaved.pcap"))
sh.line(":filter to=rcpt1")
m = sh.expect(r"([\s\S]*?)(\d+) of 3 session")
check(m is not None and m.group(2) == "1" and "rcpt1@" in m.group(1),
      ":filter to= keeps the one session")
sh.line(":filter from=nobody")
check(sh.expect(r"\n0 of 3 session") is not None, ":filter from= none")
sh.line(":filter off")
check(sh.expect(r"\n3 of 3 session") is not None, ":filter off")
sh.line(":open " + os.path.join(CAP, "smuggling.pcap"))
sh.line(":filter anomaly=smtp_bare_lf")
m = sh.expect(r"\n(\d+) of 1 session")
sh.line(":filter anomaly=tls_")
m2 = sh.expect(r"\n(\d+) of 1 session")
check(m is not None and m2 is not None and m2.group(1) == "0",
      ":filter anomaly= (%s with bare LF, 0 with tls_)" % (
          m.group(1) if m else "?"))
sh.line(":filter class=2")   # replaces the whole filter
check(sh.expect(r"\n1 of 1 session") is not None,
      ":filter class=2 keeps a session with 2xx replies")
sh.line(":filter off")

# :replay N HOST:PORT against smtp-sink passes.
if shutil.which("smtp-sink"):
    from shellpty import free_port
    port = free_port()
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody",
                             "127.0.0.1:%d" % port, "10"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    sh.line(":open " + os.path.join(CAP, "multi_rset.pcap"))
    sh.line(":replay 1 127.0.0.1:%d" % port)
    m = sh.expect(r"replay (\w+): (\d+) passed, (\d+) failed", timeout=30)
    check(m is not None and m.group(1) == "pass" and int(m.group(2)) > 20,
          ":replay 1 against smtp-sink passes")
    sink.terminate()
    sink.wait(5)
check(sh.close() == 0, "the shell exits normally")
done()
