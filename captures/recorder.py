#!/usr/bin/python3
"""Record the project's own SMTP captures against real servers on loopback.

Run through captures/record.sh (needs root for tcpdump).  For every case
this starts (or reuses) a real server on a free loopback port, starts
tcpdump on lo filtered to that port, waits until tcpdump says it is
listening, runs one scripted session with a raw-socket client, waits for
the packets to be flushed and stops tcpdump.  Beside the capture it
writes the exact bytes the client sent (<case>.c2s) and received
(<case>.s2c) -- for STARTTLS cases these are the raw TLS records, since
TLS is driven through ssl.MemoryBIO -- and <case>.json, the SMTP-layer
ground truth: envelope, commands, replies, and the messages as the
server received them (after dot-unstuffing) with their attachments.

Only the standard library and aiosmtpd are used, so Debian's
/usr/bin/python3 runs it as is.
"""

import argparse
import base64
import email
import email.policy
import hashlib
import hmac
import json
import logging
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

TIMEOUT = 10.0          # seconds for any single network wait
USER = "tester@example.test"
PASSWORD = "s3cret-PASS"
CRAM_CHALLENGE = b"<1896.697170952@aiosmtpd.test>"
DATE = "Mon, 02 Mar 2026 10:00:00 +0000"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- messages
# Fixed content so every recording carries the same messages; only the
# ports, timestamps and TLS bytes change between runs.

def det_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def b64_lines(data):
    enc = base64.b64encode(data)
    return b"\r\n".join(enc[i:i + 76] for i in range(0, len(enc), 76))


def headers(frm, to, subject, extra=b""):
    return (b"From: " + frm + b"\r\nTo: " + to + b"\r\nSubject: " +
            subject + b"\r\nDate: " + DATE.encode() +
            b"\r\nMessage-ID: <" + sha(subject)[:16].encode() +
            b"@captures.example.test>\r\nMIME-Version: 1.0\r\n" + extra)


def msg_plain(subject=b"basic test", body=None):
    body = body or (b"Hello,\r\n\r\nThis is a plain text test message.\r\n"
                    b"It has three lines.\r\n")
    return (headers(b"<alice@example.test>", b"<bob@example.test>",
                    subject,
                    b"Content-Type: text/plain; charset=us-ascii\r\n") +
            b"\r\n" + body)


def msg_dotstuff():
    body = (b"Lines that start with a dot must be dot-stuffed:\r\n"
            b".hidden line\r\n"
            b"..two dots\r\n"
            b".\tdot and tab\r\n"
            b". \r\n"
            b"...\r\n"
            b"last line\r\n")
    return msg_plain(b"dot-stuffing", body)


def msg_multipart(subject=None):
    """Two attachments: base64 binary and quoted-printable text."""
    subject = subject or b"=?UTF-8?B?UmFwcG9ydCDDqXTDqSDigJMgw7xiZXI=?="
    binary = det_bytes(1, 3000)
    qp_text = (b"Caf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e =3D dessert=\r\n"
               b" with a soft line break.\r\n"
               b"Trailing space=20\r\n")
    parts = (
        b"--b1_outer\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"See the two attachments.\r\n\r\n"
        b"--b1_outer\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment;\r\n"
        b" filename*=UTF-8''%C3%A9t%C3%A9%20report.bin\r\n\r\n" +
        b64_lines(binary) + b"\r\n\r\n"
        b"--b1_outer\r\n"
        b"Content-Type: text/plain; charset=utf-8;\r\n"
        b" name=\"notes.txt\"\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"Content-Disposition: attachment; filename=\"notes.txt\"\r\n\r\n" +
        qp_text +
        b"\r\n--b1_outer--\r\n")
    return (headers(b"=?UTF-8?Q?Andr=C3=A9?= <andre@example.test>",
                    b"<bob@example.test>", subject,
                    b"Content-Type: multipart/mixed; "
                    b"boundary=\"b1_outer\"\r\n") + b"\r\n" +
            b"This is a MIME message.\r\n\r\n" + parts)


def msg_nested():
    inner = msg_multipart(b"inner forwarded message")
    return (headers(b"<carol@example.test>", b"<bob@example.test>",
                    b"Fwd: inner forwarded message",
                    b"Content-Type: multipart/mixed; "
                    b"boundary=\"fwd-boundary\"\r\n") + b"\r\n"
            b"--fwd-boundary\r\n"
            b"Content-Type: text/plain\r\n\r\n"
            b"Forwarding the message below.\r\n\r\n"
            b"--fwd-boundary\r\n"
            b"Content-Type: message/rfc822\r\n"
            b"Content-Disposition: inline\r\n\r\n" + inner +
            b"\r\n--fwd-boundary--\r\n")


def msg_large():
    data = det_bytes(2, 225000)     # ~300 KB once base64-encoded
    return (headers(b"<alice@example.test>", b"<bob@example.test>",
                    b"large attachment",
                    b"Content-Type: multipart/mixed; boundary=\"LB\"\r\n") +
            b"\r\n--LB\r\nContent-Type: text/plain\r\n\r\nBig one.\r\n"
            b"\r\n--LB\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"large.bin\"\r\n"
            b"\r\n" + b64_lines(data) + b"\r\n--LB--\r\n")


def msg_utf8():
    return (b"From: =?UTF-8?Q?Pel=C3=A9?= <pel\xc3\xa9@ex\xc3\xa4mple.test>\r\n"
            b"To: <\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test>\r\n"
            b"Subject: \xc3\xbcber UTF-8 \xe2\x9c\x89\r\n"
            b"Date: " + DATE.encode() + b"\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\n"
            b"Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen \xe2\x80\x93 "
            b"\xe4\xbd\xa0\xe5\xa5\xbd\r\n")


SMUGGLE = (b"MAIL FROM:<admin@example.test>\r\n"
           b"RCPT TO:<victim@example.test>\r\nDATA\r\n"
           b"From: admin@example.test\r\nSubject: smuggled\r\n\r\n"
           b"smuggled body\r\n")


def msg_smuggle(sep):
    return msg_plain(b"smuggling " + sep.replace(b"\r", b"CR").replace(
        b"\n", b"LF"), b"innocent text" + sep + SMUGGLE)


# ------------------------------------------------------- dot-stuffing
def lines_crlf(data):
    """Split data into CRLF-terminated lines (RFC 5321 2.3.8: only
    CRLF ends a line; a bare LF is part of the line)."""
    out, i = [], 0
    while i < len(data):
        j = data.find(b"\r\n", i)
        if j < 0:
            out.append(data[i:])
            break
        out.append(data[i:j + 2])
        i = j + 2
    return out


def dot_stuff(msg):
    """RFC 5321 4.5.2, client side, then the terminating CRLF.CRLF."""
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    return b"".join(b"." + ln if ln.startswith(b".") else ln
                    for ln in lines_crlf(msg)) + b".\r\n"


def dot_unstuff(wire):
    """RFC 5321 4.5.2, server side: what a server that ends DATA only on
    CRLF.CRLF stores, given the wire bytes up to and including it."""
    lines = lines_crlf(wire)
    assert lines[-1] == b".\r\n", "DATA must end with CRLF.CRLF"
    return b"".join(ln[1:] if ln.startswith(b".") else ln
                    for ln in lines[:-1])


def describe_message(raw):
    """The ground truth of one message: hashes, subject, attachments."""
    m = email.message_from_bytes(raw, policy=email.policy.default)
    parts = []
    for p in m.walk():
        if p.is_multipart() or p.get_content_maintype() == "message":
            continue
        payload = p.get_payload(decode=True) or b""
        fn = p.get_filename()
        entry = {"content_type": p.get_content_type(),
                 "transfer_encoding": p.get("Content-Transfer-Encoding",
                                            "7bit").lower(),
                 "decoded_len": len(payload), "sha256": sha(payload)}
        if fn is not None:
            entry["filename"] = fn
        parts.append(entry)
    return {"len": len(raw), "sha256": sha(raw),
            "subject": str(m.get("Subject", "")),
            "leaf_parts": parts,
            "attachments": [p for p in parts if "filename" in p]}


# ------------------------------------------------------------- the client
class Session:
    """A scripted SMTP client that logs every byte on the wire."""

    def __init__(self, host, port, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, port))
        self.c2s = bytearray()
        self.s2c = bytearray()
        self.rbuf = bytearray()     # received plaintext not yet parsed
        self.ssl = None
        self.events = []            # commands and replies, in order
        self.transactions = []
        self.local = self.sock.getsockname()[:2]
        self.peer = self.sock.getpeername()[:2]

    # raw socket, logged
    def _raw_send(self, data):
        self.sock.sendall(data)
        self.c2s += data

    def _raw_recv(self):
        d = self.sock.recv(262144)
        self.s2c += d
        return d

    def _flush_tls(self):
        out = self.ssl[2].read()
        if out:
            self._raw_send(out)

    def send(self, data, kind="command"):
        """Send bytes; kind says how they are logged in the ground truth:
        'command' (one entry per CRLF line), 'data' (message bytes,
        logged by length and hash) or 'raw'."""
        if self.ssl:
            self.ssl[0].write(data)
            self._flush_tls()
        else:
            self._raw_send(data)
        if kind == "command":
            for ln in lines_crlf(data):
                self.events.append({"c": ln.decode("utf-8", "replace")
                                    .rstrip("\r\n"), "tls": bool(self.ssl)})
        else:
            self.events.append({kind: len(data), "sha256": sha(data),
                                "tls": bool(self.ssl)})

    def _fill(self):
        if not self.ssl:
            d = self._raw_recv()
            if not d:
                raise EOFError("server closed the connection")
            self.rbuf += d
            return
        obj, inbio, _ = self.ssl
        while True:
            try:
                d = obj.read(262144)
                if not d:
                    raise EOFError("TLS closed")
                self.rbuf += d
                return
            except ssl.SSLWantReadError:
                raw = self._raw_recv()
                if not raw:
                    raise EOFError("server closed the connection")
                inbio.write(raw)

    def reply(self):
        """Read one complete (possibly multiline) reply."""
        lines = []
        while True:
            while b"\r\n" not in self.rbuf:
                self._fill()
            i = self.rbuf.index(b"\r\n")
            ln = bytes(self.rbuf[:i]).decode("utf-8", "replace")
            del self.rbuf[:i + 2]
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                break
        r = {"code": int(lines[0][:3]), "lines": lines,
             "tls": bool(self.ssl)}
        self.events.append({"r": r["code"], "lines": lines,
                            "tls": bool(self.ssl)})
        return r

    def expect(self, *codes):
        """Read one reply per code and check each one's code."""
        got = [self.reply() for _ in codes]
        for want, r in zip(codes, got):
            if r["code"] != want:
                raise RuntimeError("expected %d, got %r" % (want,
                                                            r["lines"]))
        return got

    def cmd(self, line, code):
        self.send(line.encode() + b"\r\n")
        return self.expect(code)[0]

    def drain_unsolicited(self, wait=1.0):
        """Read whatever arrives within wait seconds (injection cases)."""
        self.sock.settimeout(wait)
        got = []
        try:
            while True:
                before = len(self.rbuf)
                self._fill()
                if len(self.rbuf) == before:
                    break
                while b"\r\n" in self.rbuf and self._complete_reply():
                    got.append(self.reply())
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        self.sock.settimeout(TIMEOUT)
        return got

    def _complete_reply(self):
        for ln in bytes(self.rbuf).split(b"\r\n")[:-1]:
            if len(ln) < 4 or ln[3:4] != b"-":
                return True
        return False

    def starttls(self, ctx):
        if self.rbuf:
            raise RuntimeError("plaintext left before TLS: %r" % self.rbuf)
        inbio, outbio = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inbio, outbio, server_side=False,
                           server_hostname="localhost")
        self.ssl = (obj, inbio, outbio)
        while True:
            try:
                obj.do_handshake()
                self._flush_tls()
                break
            except ssl.SSLWantReadError:
                self._flush_tls()
                raw = self._raw_recv()
                if not raw:
                    raise EOFError("closed during TLS handshake")
                inbio.write(raw)
        self.events.append({"tls_established": obj.version(),
                            "cipher": obj.cipher()[0]})

    def close(self):
        """Half-close and read until the server closes, so the capture
        holds both FINs and s2c holds everything the server sent."""
        if self.ssl:
            try:
                self.ssl[0].unwrap()
            except (ssl.SSLError, ssl.SSLWantReadError):
                pass
            self._flush_tls()
        try:
            self.sock.shutdown(socket.SHUT_WR)
            while self._raw_recv():
                pass
        except OSError:
            pass
        self.sock.close()

    # SMTP helpers
    def ehlo(self, name="client.example.test"):
        return self.cmd("EHLO " + name, 250)

    def transaction(self, frm, rcpts, msg, mail_params="", pipelined=False,
                    note=None):
        """MAIL, RCPT..., DATA, message; pipelined sends the envelope and
        DATA in a single write (RFC 2920)."""
        cmds = ["MAIL FROM:<%s>%s" % (frm, mail_params)]
        cmds += ["RCPT TO:<%s>" % r for r in rcpts] + ["DATA"]
        if pipelined:
            self.send("".join(c + "\r\n" for c in cmds).encode())
            self.expect(*([250] * (len(cmds) - 1) + [354]))
        else:
            for c in cmds[:-1]:
                self.cmd(c, 250)
            self.cmd("DATA", 354)
        wire = dot_stuff(msg)
        self.send(wire, "data")
        final = self.reply()
        self.record(frm, rcpts, "DATA", msg, dot_unstuff(wire), final, note)
        return final

    def record(self, frm, rcpts, method, sent, received, final, note=None):
        t = {"mail_from": frm, "rcpt_to": rcpts, "method": method,
             "reply": final["code"],
             "message": describe_message(received)}
        if sent != received:
            t["sent_sha256"] = sha(sent)
            t["sent_len"] = len(sent)
        if note:
            t["note"] = note
        self.transactions.append(t)

    def summary(self, c2s_name, s2c_name):
        return {"client": list(self.local), "server": list(self.peer),
                "c2s": c2s_name, "s2c": s2c_name,
                "c2s_len": len(self.c2s), "c2s_sha256": sha(self.c2s),
                "s2c_len": len(self.s2c), "s2c_sha256": sha(self.s2c),
                "tls": self.ssl is not None,
                "transactions": self.transactions, "events": self.events}


def auth_plain_arg():
    return base64.b64encode(b"\0" + USER.encode() + b"\0" +
                            PASSWORD.encode()).decode()


# ------------------------------------------------------------- the cases
# Each case function takes (server info dict) and returns a list of
# finished Sessions.  Fixed addresses, fixed messages.

def case_basic(srv):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    s.transaction("alice@example.test", ["bob@example.test",
                                          "carol@example.test"], msg_plain())
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_pipelining(srv):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    ehlo = s.ehlo()
    assert any("PIPELINING" in ln for ln in ehlo["lines"]), ehlo
    s.transaction("alice@example.test", ["bob@example.test",
                                          "carol@example.test"],
                  msg_plain(b"pipelined"), pipelined=True)
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_multi_rset(srv):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    s.transaction("alice@example.test", ["bob@example.test"],
                  msg_plain(b"first of three"))
    s.cmd("MAIL FROM:<dave@example.test>", 250)
    s.cmd("RCPT TO:<erin@example.test>", 250)
    s.cmd("RSET", 250)
    s.events.append({"note": "transaction above aborted by RSET"})
    s.transaction("frank@example.test", ["grace@example.test"],
                  msg_plain(b"second after RSET"))
    s.cmd("NOOP", 250)
    s.transaction("heidi@example.test", ["ivan@example.test",
                                          "judy@example.test"],
                  msg_plain(b"third"))
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def simple_one(srv, msg, frm="alice@example.test",
               rcpts=("bob@example.test",), params=""):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    s.transaction(frm, list(rcpts), msg, params)
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_dotstuff(srv):
    return simple_one(srv, msg_dotstuff())


def case_multipart(srv):
    return simple_one(srv, msg_multipart())


def case_nested_rfc822(srv):
    return simple_one(srv, msg_nested())


def case_large(srv):
    return simple_one(srv, msg_large())


def case_ipv6(srv):
    return simple_one(srv, msg_plain(b"over IPv6"))


def case_smtputf8(srv):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    ehlo = s.ehlo()
    assert any("SMTPUTF8" in ln for ln in ehlo["lines"]), ehlo
    s.transaction("pel\u00e9@ex\u00e4mple.test",
                  ["\u7528\u6237@\u4f8b\u5b50.test"], msg_utf8(),
                  " SMTPUTF8 BODY=8BITMIME")
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_bdat(srv):
    """RFC 3030 CHUNKING: chunks cut mid-line, never dot-stuffed, the
    last one empty (BDAT 0 LAST)."""
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    ehlo = s.ehlo()
    assert any("CHUNKING" in ln for ln in ehlo["lines"]), ehlo
    msg = msg_dotstuff()
    s.cmd("MAIL FROM:<alice@example.test>", 250)
    s.cmd("RCPT TO:<bob@example.test>", 250)
    cuts = [0, 100, 250, 251, len(msg)]
    for a, b in zip(cuts, cuts[1:]):
        s.send(("BDAT %d\r\n" % (b - a)).encode())
        s.send(msg[a:b], "data")
        s.expect(250)
    s.send(b"BDAT 0 LAST\r\n")
    final = s.expect(250)[0]
    s.record("alice@example.test", ["bob@example.test"], "BDAT", msg, msg,
             final)
    # A second transaction with one chunk carrying LAST.
    msg2 = msg_plain(b"single BDAT LAST")
    s.cmd("MAIL FROM:<alice@example.test>", 250)
    s.cmd("RCPT TO:<carol@example.test>", 250)
    s.send(("BDAT %d LAST\r\n" % len(msg2)).encode())
    s.send(msg2, "data")
    final = s.expect(250)[0]
    s.record("alice@example.test", ["carol@example.test"], "BDAT", msg2,
             msg2, final)
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def client_tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def case_starttls(srv):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    s.cmd("STARTTLS", 220)
    s.starttls(client_tls_context())
    s.ehlo()
    s.transaction("alice@example.test", ["bob@example.test"],
                  msg_multipart(b"inside TLS"))
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_starttls_injection(srv):
    """CVE-2011-0411 style: plaintext pipelined after STARTTLS.  Whatever
    the server answers to the injected EHLO (if anything) is recorded."""
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    s.send(b"STARTTLS\r\nEHLO inject\r\n")
    s.expect(220)
    s.starttls(client_tls_context())
    extra = s.drain_unsolicited()
    s.events.append({"note": "%d unsolicited repl%s inside TLS" %
                     (len(extra), "y" if len(extra) == 1 else "ies")})
    s.ehlo()
    s.transaction("alice@example.test", ["bob@example.test"],
                  msg_plain(b"after injection attempt"))
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_auth_plain(srv):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    s.cmd("AUTH PLAIN " + auth_plain_arg(), 235)
    s.transaction(USER, ["bob@example.test"], msg_plain(b"after AUTH PLAIN"))
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_auth_login(srv):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    s.cmd("AUTH LOGIN", 334)
    s.cmd(base64.b64encode(USER.encode()).decode(), 334)
    s.cmd(base64.b64encode(PASSWORD.encode()).decode(), 235)
    s.transaction(USER, ["bob@example.test"], msg_plain(b"after AUTH LOGIN"))
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_auth_cram_md5(srv):
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    r = s.cmd("AUTH CRAM-MD5", 334)
    chal = base64.b64decode(r["lines"][0][4:])
    digest = hmac.new(PASSWORD.encode(), chal, "md5").hexdigest()
    s.cmd(base64.b64encode(("%s %s" % (USER, digest)).encode()).decode(),
          235)
    s.transaction(USER, ["bob@example.test"],
                  msg_plain(b"after AUTH CRAM-MD5"))
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_smuggling_postfix(srv):
    """The same payloads against Postfix 3.7 with its defaults, which
    takes a bare LF as a line end (smtpd_forbid_bare_newline = no): the
    server ends DATA early and runs the smuggled commands.  The client
    reads whatever replies come; the JSON keeps them all."""
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    for sep in (b"\n.\n", b"\r\n.\n", b"\n.\r\n"):
        frm, rcpts = "alice@example.test", ["bob@example.test"]
        s.cmd("MAIL FROM:<%s>" % frm, 250)
        s.cmd("RCPT TO:<%s>" % rcpts[0], 250)
        s.cmd("DATA", 354)
        msg = msg_smuggle(sep)
        wire = dot_stuff(msg)
        s.send(wire, "data")
        replies = s.drain_unsolicited(1.0)
        s.events.append({"note": "%d replies after the message: %s" % (
            len(replies), " ".join(str(r["code"]) for r in replies))})
        s.record(frm, rcpts, "DATA", msg, dot_unstuff(wire),
                 replies[-1] if replies else {"code": 0},
                 note="RFC 5321 view (CRLF.CRLF ends DATA); this server "
                 "ended DATA at the bare-LF dot and answered %d times" %
                 len(replies))
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_smuggling(srv):
    """SMTP smuggling: bare-LF end-of-data look-alikes followed by a
    smuggled transaction.  The server ends DATA only on CRLF.CRLF, so
    each smuggled transaction stays inside the message body."""
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    for sep in (b"\n.\n", b"\r\n.\n", b"\n.\r\n"):
        s.transaction("alice@example.test", ["bob@example.test"],
                      msg_smuggle(sep),
                      note="body holds %r then a smuggled MAIL FROM; one "
                      "message for a CRLF.CRLF-only server" % sep.decode())
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_sample(srv):
    """The README's demo: EHLO, AUTH PLAIN, a pipelined envelope and a
    multipart message with attachments, then a second plain message."""
    s = Session(srv["host"], srv["port"], srv["family"])
    s.expect(220)
    s.ehlo()
    s.cmd("AUTH PLAIN " + auth_plain_arg(), 235)
    s.transaction(USER, ["bob@example.test", "carol@example.test"],
                  msg_multipart(), pipelined=True)
    s.transaction(USER, ["dave@example.test"], msg_plain(b"second"),
                  pipelined=True)
    s.cmd("QUIT", 221)
    s.close()
    return [s]


def case_interleaved(srv):
    """Three sessions at once, their steps interleaved round-robin."""
    sess = [Session(srv["host"], srv["port"], srv["family"])
            for _ in range(3)]
    steps = []
    for i, s in enumerate(sess):
        steps.append([lambda s=s: s.expect(220),
                      lambda s=s, i=i: s.ehlo("client%d.example.test" % i),
                      lambda s=s: s.cmd("MAIL FROM:<alice@example.test>",
                                        250),
                      lambda s=s, i=i: s.cmd("RCPT TO:<rcpt%d@example.test>"
                                             % i, 250),
                      lambda s=s: s.cmd("DATA", 354),
                      lambda s=s, i=i: send_body(s, i),
                      lambda s=s: s.cmd("QUIT", 221),
                      lambda s=s: s.close()])
    for k in range(len(steps[0])):
        for st in steps:
            st[k]()
    return sess


def send_body(s, i):
    msg = msg_plain(b"interleaved %d" % i)
    wire = dot_stuff(msg)
    s.send(wire, "data")
    final = s.expect(250)[0]
    s.record("alice@example.test", ["rcpt%d@example.test" % i], "DATA", msg,
             dot_unstuff(wire), final)


# case name -> (function, server kind, description)
CASES = {
    "basic": (case_basic, "postfix", "EHLO, MAIL, 2 RCPT, DATA, QUIT"),
    "pipelining": (case_pipelining, "postfix",
                   "MAIL/RCPT/RCPT/DATA in one write (RFC 2920)"),
    "multi_rset": (case_multi_rset, "sink",
                   "three transactions, one aborted by RSET"),
    "dotstuff": (case_dotstuff, "aiosmtpd",
                 "body lines starting with '.' (RFC 5321 4.5.2)"),
    "multipart": (case_multipart, "aiosmtpd",
                  "base64 + QP attachments, RFC 2231 filename*, RFC 2047"),
    "nested_rfc822": (case_nested_rfc822, "aiosmtpd",
                      "message/rfc822 part holding a multipart"),
    "bdat": (case_bdat, "postfix", "CHUNKING: 4 chunks + BDAT 0 LAST, then "
             "BDAT n LAST"),
    "starttls": (case_starttls, "aiosmtpd", "STARTTLS then a session in TLS"),
    "starttls_injection": (case_starttls_injection, "aiosmtpd",
                           "'STARTTLS\\r\\nEHLO inject\\r\\n' in one send"),
    "starttls_injection_postfix": (case_starttls_injection, "postfix",
                                   "same injection against Postfix"),
    "auth_plain": (case_auth_plain, "aiosmtpd",
                   "AUTH PLAIN without TLS, password s3cret-PASS"),
    "auth_login": (case_auth_login, "aiosmtpd",
                   "AUTH LOGIN without TLS, password s3cret-PASS"),
    "auth_cram_md5": (case_auth_cram_md5, "aiosmtpd",
                      "AUTH CRAM-MD5 (RFC 2195) without TLS"),
    "smuggling_postfix": (case_smuggling_postfix, "postfix",
                          "smuggling payloads against a bare-LF server"),
    "smtputf8": (case_smtputf8, "postfix", "RFC 6531 UTF-8 addresses"),
    "smuggling": (case_smuggling, "aiosmtpd",
                  "bare-LF end-of-data look-alikes + smuggled MAIL FROM"),
    "large": (case_large, "aiosmtpd", "~300 KB base64 attachment"),
    "ipv6": (case_ipv6, "aiosmtpd6", "plain session over ::1"),
    "interleaved": (case_interleaved, "sink", "3 interleaved sessions"),
    "sample": (case_sample, "aiosmtpd", "README demo: AUTH, pipelining, "
               "multipart with attachments"),
}


# ------------------------------------------------------------- the servers
def make_cert(work):
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class AioServer:
    """aiosmtpd with STARTTLS, AUTH PLAIN/LOGIN allowed without TLS,
    SMTPUTF8; every accepted message is kept for cross-checking."""

    def __init__(self, host, family, cert, key):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.received = []
        received = self.received

        class Handler:
            async def handle_EHLO(self, server, session, envelope,
                                  hostname, responses):
                # aiosmtpd reads commands one by one, so pipelined
                # commands work; advertise it (RFC 2920) so clients may.
                session.host_name = hostname
                return responses[:1] + ["250-PIPELINING"] + responses[1:]

            async def auth_CRAM__MD5(self, server, args):
                # RFC 2195.  The challenge is fixed so recordings are
                # reproducible; a real server must never reuse one.
                resp = await server.challenge_auth(CRAM_CHALLENGE)
                if not isinstance(resp, bytes) or b" " not in resp:
                    return AuthResult(success=False)
                user, digest = resp.rsplit(b" ", 1)
                want = hmac.new(PASSWORD.encode(), CRAM_CHALLENGE,
                                "md5").hexdigest().encode()
                return AuthResult(success=(user == USER.encode() and
                                           hmac.compare_digest(digest,
                                                               want)))

            async def handle_DATA(self, server, session, envelope):
                received.append({
                    "mail_from": envelope.mail_from,
                    "rcpt_to": list(envelope.rcpt_tos),
                    "sha256": sha(envelope.original_content),
                    "len": len(envelope.original_content)})
                return "250 OK queued"

        def authenticator(server, session, envelope, mechanism, data):
            ok = (isinstance(data, LoginPassword) and
                  data.login == USER.encode() and
                  data.password == PASSWORD.encode())
            return AuthResult(success=ok)

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.port = free_port(family, host)
        self.ctl = Controller(Handler(), hostname=host, port=self.port,
                              server_hostname="aiosmtpd.test",
                              tls_context=ctx, require_starttls=False,
                              auth_require_tls=False,
                              authenticator=authenticator,
                              enable_SMTPUTF8=True, decode_data=False)
        self.ctl.start()
        wait_listening(host, self.port)
        import aiosmtpd
        self.info = {"host": host, "port": self.port, "family": family,
                     "name": "aiosmtpd %s (Python %s)" % (
                         aiosmtpd.__version__, sys.version.split()[0])}

    def stop(self):
        self.ctl.stop()


def postfix_version():
    r = subprocess.run(["postconf", "-d", "-h", "mail_version"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


class SinkServer:
    """Postfix's smtp-sink: advertises PIPELINING and AUTH, accepts all."""

    def __init__(self, host):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "%s:%d" % (host, self.port),
             "100"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(host, self.port)
        self.info = {"host": host, "port": self.port,
                     "family": socket.AF_INET,
                     "name": "smtp-sink (Postfix %s)" % postfix_version()}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixServer:
    """A private Postfix instance (own config, queue and data folders)
    whose smtpd listens on a loopback port and discards all mail."""

    def __init__(self, work, cert, key):
        self.dir = os.path.join(work, "postfix")
        conf = os.path.join(self.dir, "conf")
        for d in ("conf", "queue", "data"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        shutil.chown(os.path.join(self.dir, "data"), "postfix")
        os.chmod(work, 0o755)
        self.port = free_port()
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "maillog_file": os.path.join(self.dir, "maillog"),
            "maillog_file_prefixes": work,
            "inet_interfaces": "127.0.0.1", "inet_protocols": "ipv4",
            "myhostname": "postfix.test", "mydestination": "",
            "relayhost": "", "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "default_transport": "discard", "alias_maps": "",
            "alias_database": "", "smtputf8_enable": "yes",
            "smtpd_tls_security_level": "may",
            "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
            "smtp_tls_security_level": "none",
            "smtpd_banner": "$myhostname ESMTP",
        }
        with open(os.path.join(conf, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen="127.0.0.1:%d" % self.port))
        self.conf = conf
        self._postfix("start")
        wait_listening("127.0.0.1", self.port)
        self.info = {"host": "127.0.0.1", "port": self.port,
                     "family": socket.AF_INET,
                     "name": "Postfix smtpd %s" % postfix_version()}

    def _postfix(self, what):
        # postfix logs its fatal errors to syslog only; the maillog file
        # explains most start-up failures.
        r = subprocess.run(["postfix", "-c", self.conf, what],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, text=True)
        if r.returncode != 0 and what == "start":
            log = os.path.join(self.dir, "maillog")
            tail = open(log).read()[-2000:] if os.path.exists(log) else ""
            raise RuntimeError("postfix start failed: %s%s" % (r.stdout,
                                                             tail))

    def stop(self):
        self._postfix("stop")


def wait_listening(host, port, deadline=10.0):
    """Wait until the server answers, with a whole polite session
    (banner, QUIT, close), so that no half-finished probe connection
    leaks into the first capture."""
    end = time.monotonic() + deadline
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < end:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.settimeout(TIMEOUT)
            if s.connect_ex((host, port)) != 0:
                time.sleep(0.1)
                continue
            buf = b""
            while b"\r\n" not in buf:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
            s.sendall(b"QUIT\r\n")
            while s.recv(4096):
                pass
            return
    raise RuntimeError("server on %s:%d never listened" % (host, port))


# ------------------------------------------------------------- tcpdump
class Tcpdump:
    def __init__(self, path, port):
        self.proc = subprocess.Popen(
            # -Z root: keep root's rights, so the file can be written
            # into any folder root can write (tcpdump otherwise opens it
            # as user tcpdump).
            ["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode",
             "-B", "8192", "-Z", "root", "-w", path,
             "tcp port %d" % port],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # tcpdump prints "listening on lo ..." once the filter is set
        # and the socket bound: only then may the client connect.
        line = self.proc.stderr.readline().decode()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError("tcpdump did not start: " + line)

    def stop(self):
        # -U writes each packet as it arrives; give the kernel a moment
        # to hand over the last ACKs, then stop with SIGINT so the file
        # is closed cleanly.
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=10)
        return err.decode()


# ------------------------------------------------------------- main
def pcap_payload_bytes(path):
    """Sum the TCP payload bytes of an Ethernet pcap, per (src port, dst
    port).  Enough of a decoder to check our own recordings."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\xd4\xc3\xb2\xa1":
        raise RuntimeError("%s: not a little-endian microsecond pcap" % path)
    sums, off = {}, 24
    while off + 16 <= len(data):
        incl = int.from_bytes(data[off + 8:off + 12], "little")
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        etype = int.from_bytes(frame[12:14], "big")
        if etype == 0x0800:
            ihl = (frame[14] & 15) * 4
            l4, l4len = 14 + ihl, int.from_bytes(frame[16:18], "big") - ihl
        elif etype == 0x86DD:
            l4, l4len = 54, int.from_bytes(frame[18:20], "big")
        else:
            continue
        sport = int.from_bytes(frame[l4:l4 + 2], "big")
        dport = int.from_bytes(frame[l4 + 2:l4 + 4], "big")
        thl = (frame[l4 + 12] >> 4) * 4
        key = (sport, dport)
        sums[key] = sums.get(key, 0) + l4len - thl
    return sums


def capture_complete(pcap, sessions, server_port):
    """Every byte each session sent and received is in the capture once:
    no packet lost by tcpdump, none retransmitted."""
    sums = pcap_payload_bytes(pcap)
    for s in sessions:
        cport = s.local[1]
        if (sums.get((cport, server_port), 0) != len(s.c2s) or
                sums.get((server_port, cport), 0) != len(s.s2c)):
            return False
    return True


def record_once(name, srv, pcap):
    fn = CASES[name][0]
    td = Tcpdump(pcap, srv["port"])
    try:
        sessions = fn(srv)
    finally:
        stats = td.stop()
    return sessions, stats


def run_case(name, srv, out, server_obj, tries=3):
    pcap = os.path.join(out, name + ".pcap")
    for attempt in range(1, tries + 1):
        seen = len(getattr(server_obj, "received", []))
        sessions, stats = record_once(name, srv, pcap)
        if capture_complete(pcap, sessions, srv["port"]):
            break
        # A loaded machine can make tcpdump drop packets ("dropped by
        # kernel"); record the case again rather than keep a hole.
        print("%s: capture incomplete (%s), again" % (
            name, stats.strip().replace("\n", ", ")), file=sys.stderr)
    else:
        raise RuntimeError("%s: no complete capture in %d tries" % (name,
                                                                  tries))
    os.chmod(pcap, 0o644)
    doc = {"case": name, "description": CASES[name][2],
           "server": srv["name"], "tcpdump": stats.strip().splitlines(),
           "sessions": []}
    for i, s in enumerate(sessions):
        base = name if len(sessions) == 1 else "%s.%d" % (name, i + 1)
        with open(os.path.join(out, base + ".c2s"), "wb") as f:
            f.write(s.c2s)
        with open(os.path.join(out, base + ".s2c"), "wb") as f:
            f.write(s.s2c)
        doc["sessions"].append(s.summary(base + ".c2s", base + ".s2c"))
    if hasattr(server_obj, "received"):
        time.sleep(0.2)
        doc["server_received"] = server_obj.received[seen:]
        check_server_view(doc)
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    print("recorded %-28s %-32s %d session(s)" % (name, srv["name"],
                                                  len(sessions)))


def check_server_view(doc):
    """For aiosmtpd the server's own record must match our ground truth."""
    mine = [t["message"]["sha256"] for s in doc["sessions"]
            for t in s["transactions"]]
    theirs = [r["sha256"] for r in doc["server_received"]]
    if sorted(mine) != sorted(theirs):
        raise RuntimeError("%s: server received %r, ground truth %r" %
                           (doc["case"], theirs, mine))
    doc["server_verified"] = True


def main():
    # aiosmtpd logs a deprecation warning about its own attribute.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="captures folder")
    ap.add_argument("--no-postfix", action="store_true",
                    help="skip the cases that need a Postfix instance")
    ap.add_argument("cases", nargs="*", help="default: all")
    a = ap.parse_args()
    names = a.cases or list(CASES)
    for n in names:
        if n not in CASES:
            sys.exit("unknown case %s (known: %s)" % (n, " ".join(CASES)))
    if a.no_postfix:
        names = [n for n in names if CASES[n][1] != "postfix"]
    work = tempfile.mkdtemp(prefix="sp-record-")
    servers = {}
    try:
        cert, key = make_cert(work)
        kinds = {CASES[n][1] for n in names}
        if "aiosmtpd" in kinds:
            servers["aiosmtpd"] = AioServer("127.0.0.1", socket.AF_INET,
                                            cert, key)
        if "aiosmtpd6" in kinds:
            servers["aiosmtpd6"] = AioServer("::1", socket.AF_INET6,
                                             cert, key)
        if "sink" in kinds:
            servers["sink"] = SinkServer("127.0.0.1")
        if "postfix" in kinds:
            servers["postfix"] = PostfixServer(work, cert, key)
        for n in names:
            srv = servers[CASES[n][1]]
            run_case(n, srv.info, a.out, srv)
    finally:
        for s in servers.values():
            try:
                s.stop()
            except Exception as e:          # keep stopping the others
                print("stopping a server: %s" % e, file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
