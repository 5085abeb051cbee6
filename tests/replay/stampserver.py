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
import socket
import threading
import time


class StampServer:
    def __init__(self, seconds=60):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.end = time.monotonic() + seconds
        self.lock = threading.Lock()
        self.conns = []         # (accept time, log list)
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @property
    def target(self):
        return "127.0.0.1:%d" % self.port

    def _loop(self):
        while time.monotonic() < self.end:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            log = []
            with self.lock:
                self.conns.append((time.monotonic(), log))
            conn.settimeout(10)
            # Replies go out at once: without this a second reply in a
            # row waits for the client's delayed ACK (Nagle, ~40 ms),
            # which would show up as a longer pause than the client's.
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn, log),
                             daemon=True).start()

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
        finally:
            conn.close()

    def logs(self):
        with self.lock:
            return list(self.conns)

    def stop(self):
        self.end = 0
        self.sock.close()
        self.thread.join(2)
