"""Load mode pipelines by default, and only when the server offers
PIPELINING (RFC 2920 3: "the client MUST NOT" group commands otherwise);
--no-pipelining gives lock-step.  Both engines.

The server here holds its reply to MAIL FROM for up to 0.4 s and notes
whether RCPT TO came in meanwhile: a pipelining client sends MAIL, RCPT
and DATA without waiting, a lock-step one cannot send RCPT before the
reply to MAIL.  It listens on 127.0.0.1 only, for a bounded time."""
import os
import select
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "client"))
from loadlib import check, done, load_json, need_tool, replay  # noqa: E402
from clientlib import RawServer  # noqa: E402
import tempfile  # noqa: E402

need_tool()
HOLD = 0.4


class PipeServer:
    def __init__(self, offer):
        self.offer = offer
        self.lock = threading.Lock()
        self.early = []         # per session: RCPT came before MAIL's reply
        self.raw = RawServer(self._serve, seconds=60)
        self.target = "127.0.0.1:%d" % self.raw.port

    def _serve(self, conn, _srv):
        buf = [b""]

        def line():
            while b"\n" not in buf[0]:
                d = conn.recv(65536)
                if not d:
                    raise OSError("closed")
                buf[0] += d
            ln, buf[0] = buf[0].split(b"\n", 1)
            return ln.rstrip(b"\r").decode("latin-1")

        def more_within(secs):
            if buf[0]:
                return True
            r, _, _ = select.select([conn], [], [], secs)
            return bool(r)

        conn.sendall(b"220 pipe.test ESMTP\r\n")
        while True:
            cmd = line()
            verb = cmd.split(" ")[0].upper()
            if verb == "EHLO":
                caps = b"250-PIPELINING\r\n" if self.offer else b""
                conn.sendall(b"250-pipe.test\r\n" + caps +
                             b"250 8BITMIME\r\n")
            elif verb == "MAIL":
                early = more_within(HOLD)
                with self.lock:
                    self.early.append(early)
                conn.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == "RCPT":
                conn.sendall(b"250 2.1.5 Ok\r\n")
            elif verb == "DATA":
                conn.sendall(b"354 go ahead\r\n")
                while line() != ".":
                    pass
                conn.sendall(b"250 2.0.0 Ok: queued\r\n")
            elif verb == "QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"502 5.5.2 unknown\r\n")

    def stop(self):
        self.raw.stop()


work = tempfile.mkdtemp(prefix="sp-load-")
js = os.path.join(work, "out.json")


def case(offer, opts, want_early, what):
    srv = PipeServer(offer)
    rc, _, _ = replay("--target", srv.target, "--repeat", "3",
                      "--concurrency", "1", "--timeout", "5",
                      "--no-progress", "--json", js, *opts)
    srv.stop()
    j = load_json(js)
    check(rc == 0 and j["sessions_ok"] == 3 and j["messages"] == 3,
          what + ": 3 sessions, 3 messages")
    check(srv.early == [want_early] * 3,
          what + ": RCPT %s the reply to MAIL (server saw %s)" %
          ("before" if want_early else "after", srv.early))


for engine in ("events", "threads"):
    eng = ["--engine", engine]
    case(True, eng, True, engine + ", PIPELINING offered, by default")
    case(True, eng + ["--no-pipelining"], False,
         engine + ", PIPELINING offered, --no-pipelining")
    case(False, eng, False, engine + ", PIPELINING not offered")
case(True, ["--pipelining"], True, "--pipelining still accepted")
done()
