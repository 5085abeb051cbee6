"""A small SMTP server on loopback that timestamps every line it reads,
for the timing tests (replay --speed, load --speed).

It reads as Postfix does (a line ends at LF, a CR before it is
dropped, so "\\n.\\n" ends DATA too) and answers like the Postfix the
captures were recorded from: 220, 250 to EHLO/HELO/MAIL/RCPT/RSET/NOOP,
354 to DATA, 250 after the end of data, 221 to QUIT.  So the replies to
captures/smuggling_postfix.pcap come out as recorded, and the test can
compare when commands arrived with when the capture's client sent them.

Each connection's log is a list of (monotonic time, kind, line) with
kind "cmd" or "eod" (the end-of-data line); all waits are bounded.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "client"))
from clientlib import RawServer  # noqa: E402


class StampServer:
    def __init__(self, seconds=60):
        self.lock = threading.Lock()
        self.conns = []         # (accept time, log list)
        self.raw = RawServer(self._accepted, seconds=seconds)
        self.port = self.raw.port

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def _accepted(self, conn, _server):
        log = []
        with self.lock:
            self.conns.append((time.monotonic(), log))
        # Replies go out at once: without this a second reply in a
        # row waits for the client's delayed ACK (Nagle, ~40 ms),
        # which would show up as a longer pause than the client's.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(10)     # pauses under test last up to 8 s
        self._serve(conn, log)

    def _serve(self, conn, log):
        buf = b""
        data = False
        try:
            conn.sendall(b"220 stamp.test ESMTP\r\n")
            while True:
                while b"\n" not in buf:
                    d = conn.recv(65536)
                    if not d:
                        return
                    buf += d
                raw, buf = buf.split(b"\n", 1)
                line = raw.rstrip(b"\r")
                now = time.monotonic()
                if data:
                    if line == b".":
                        data = False
                        log.append((now, "eod", "."))
                        conn.sendall(b"250 2.0.0 Ok: queued\r\n")
                    continue
                text = line.decode("latin-1")
                log.append((now, "cmd", text))
                verb = text.split(" ")[0].upper()
                if verb == "EHLO":
                    conn.sendall(b"250-stamp.test\r\n250-PIPELINING\r\n"
                                 b"250 8BITMIME\r\n")
                elif verb == "DATA":
                    data = True
                    conn.sendall(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                elif verb == "RCPT":
                    conn.sendall(b"250 2.1.5 Ok\r\n")
                else:
                    conn.sendall(b"250 2.1.0 Ok\r\n")
        except OSError:
            return

    def logs(self):
        with self.lock:
            return list(self.conns)

    def stop(self):
        self.raw.stop()
