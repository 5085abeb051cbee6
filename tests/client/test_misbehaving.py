"""The client against servers that misbehave on purpose: silence, an
endless reply, a reset, an early close, a refused connection, more
replies than commands.  Each must end in bounded time with a precise
message, and the endless reply in bounded memory (SP_E_LIMIT)."""
import os
import resource
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clientlib import (RawServer, check, done, need_runner, read_line, run,
                       script, free_port)

need_runner()
work = tempfile.mkdtemp(prefix="sp-client-")

GREET = script(work, "greet.smtp", "expect 220\nsend EHLO t\nexpect 250\n"
               "quit\n")


def silent(conn, srv):
    time.sleep(6)


def endless_multiline(conn, srv):
    conn.sendall(b"220 endless.test ESMTP\r\n")
    read_line(conn)
    chunk = b"250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n" * 64
    end = time.monotonic() + 20
    sent = 0
    while time.monotonic() < end and sent < 512 * 1024 * 1024:
        conn.sendall(chunk)
        sent += len(chunk)
    srv.stats["sent"] = sent


def endless_line(conn, srv):
    conn.sendall(b"220 endless.test ESMTP\r\n")
    read_line(conn)
    conn.sendall(b"250 ")
    end = time.monotonic() + 20
    while time.monotonic() < end:
        conn.sendall(b"y" * 65536)


def resetter(conn, srv):
    conn.sendall(b"220 reset.test ESMTP\r\n")
    read_line(conn)
    # SO_LINGER 0: close() sends a RST instead of a FIN.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))


def closer(conn, srv):
    conn.sendall(b"220 close.test ESMTP\r\n")
    read_line(conn)


def lf_splitter(conn, srv):
    """Takes a bare LF as a line end (RFC 5321 2.3.8 says it must not)."""
    conn.sendall(b"220 lf.test ESMTP\r\n")
    buf = b""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        d = conn.recv(4096)
        if not d:
            return
        buf += d
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip().upper() == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            conn.sendall(b"250 ok\r\n")


def malformed(conn, srv):
    conn.sendall(b"220 bad.test ESMTP\r\n")
    read_line(conn)
    conn.sendall(b"25 short\r\n250 fine\r\n")
    read_line(conn)


# 1. Silence: the greeting timeout fires, and in bounded time.
srv = RawServer(silent)
rc, out, took = run("127.0.0.1", srv.port, GREET, "-t", "1000")
check(rc == 1, "silent server: the script fails")
check("timed out after 1.0 s waiting for the greeting" in out,
      "silent server: precise timeout message")
check(took < 4, "silent server: bounded time (%.1f s)" % took)
srv.stop()

# 2. An endless multi-line reply: SP_E_LIMIT, bounded memory and time.
srv = RawServer(endless_multiline)
before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
rc, out, took = run("127.0.0.1", srv.port, GREET, "-t", "5000",
                    "-m", "65536")
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
check(rc == 1, "endless reply: the script fails")
check("longer than 65536 bytes" in out, "endless reply: SP_E_LIMIT message")
check(took < 5, "endless reply: stops at the cap (%.2f s)" % took)
check(rss < 64 * 1024, "endless reply: max RSS %d KiB" % rss)
srv.stop()

# 3. An endless single line.
srv = RawServer(endless_line)
rc, out, took = run("127.0.0.1", srv.port, GREET, "-t", "5000",
                    "-m", "100000")
check(rc == 1 and "longer than 100000 bytes" in out,
      "endless line: SP_E_LIMIT")
check(took < 5, "endless line: bounded time (%.2f s)" % took)
srv.stop()

# 4. A reset (RST) is told apart from an orderly close (FIN).
srv = RawServer(resetter)
rc, out, took = run("127.0.0.1", srv.port, GREET, "-t", "3000")
check(rc == 1 and "connection reset by 127.0.0.1:%d" % srv.port in out,
      "reset: 'connection reset' named")
srv.stop()
srv = RawServer(closer)
rc, out, took = run("127.0.0.1", srv.port, GREET, "-t", "3000")
check(rc == 1 and "connection closed by 127.0.0.1:%d while waiting for the "
      "reply to EHLO" % srv.port in out, "close: orderly close named")
srv.stop()

# 5. Connection refused.
port = free_port()
rc, out, took = run("127.0.0.1", port, GREET, "-t", "2000")
check(rc == 2 and "connect to 127.0.0.1:%d: connection refused" % port in out,
      "refused: precise message")

# 6. C1: two replies to "NOOP\nNOOP\r\n" is a violation expect-count sees.
c1 = script(work, "c1.smtp", "id: C1\nlevel: MUST NOT\n\nexpect 220\n"
            "sendraw \"NOOP\\nNOOP\\r\\n\"\nexpect-count 1 within 700ms\n")
srv = RawServer(lf_splitter)
rc, out, took = run("127.0.0.1", srv.port, c1, "-t", "3000")
check(rc == 1 and "2 replies, expected 1" in out,
      "expect-count: the bare-LF server answers twice")
check(took < 3, "expect-count: stops once too many came (%.2f s)" % took)
ok = script(work, "ok.smtp", "expect 220\nsend NOOP\nexpect-count 1 within "
            "300ms\nexpect-silence 300ms\nsend QUIT\nexpect 221\n"
            "expect-close 2s\n")
rc, out, took = run("127.0.0.1", srv.port, ok, "-t", "3000")
check(rc == 0, "expect-count, expect-silence and expect-close pass")
check(0.55 < took < 3, "expect-count and -silence wait their windows "
      "(%.2f s)" % took)
noisy = script(work, "noisy.smtp", "expect 220\nsend NOOP\n"
               "expect-silence 500ms\n")
rc, out, took = run("127.0.0.1", srv.port, noisy, "-t", "3000")
check(rc == 1 and "the server spoke" in out, "expect-silence fails on a reply")
pat = script(work, "pat.smtp", "expect 220 /^lf\\.test/\nsend NOOP\n"
             "expect 250 \"nope\"\n")
rc, out, took = run("127.0.0.1", srv.port, pat, "-t", "3000")
check(rc == 1 and out.startswith("1\tpass") and
      "reply text does not match \"nope\"" in out,
      "expect patterns: regex matches, substring mismatch fails")
srv.stop()

# 7. A malformed reply is reported as an anomaly, and parsing goes on.
srv = RawServer(malformed)
bad = script(work, "bad.smtp", "expect 220\nsend NOOP\nexpect any\n")
rc, out, took = run("127.0.0.1", srv.port, bad, "-t", "3000")
check("smtp_bad_reply" in out, "malformed reply: anomaly reported")
srv.stop()

done()
