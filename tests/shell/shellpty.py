"""A small pty harness for smtp-shell (label shell): it runs the shell
on a pseudo-terminal, types into it and checks what a person would see.
Every wait is bounded.  Servers come from tests/client/clientlib.py."""
import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "client"))
from clientlib import (SRC, BUILD, USER, PASSWORD, check, done, skip,  # noqa
                       free_port, make_ca, RawServer, read_line, failures,
                       aiosmtpd_auth)

SHELL = os.path.join(BUILD, "tools", "smtp-shell", "smtp-shell")
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][AB0]|\r|\x07")


def need_shell():
    if not os.access(SHELL, os.X_OK):
        skip("smtp-shell not built")


def plain(b):
    """What a person reads: the bytes without escape sequences."""
    return ANSI.sub(b"", b).decode("utf-8", "replace")


class Shell:
    def __init__(self, *args, env=None, home=None):
        e = dict(os.environ, TERM="xterm", INPUTRC="/dev/null",
                 **(env or {}))
        if home is not None:
            e["HOME"] = home
        e.pop("NO_COLOR", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(SHELL, [SHELL] + list(args), e)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", 40, 200, 0, 0))
        self.raw = b""
        self.pos = 0          # what expect() has consumed

    def _read(self, until):
        while time.monotonic() < until:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if not r:
                continue
            try:
                d = os.read(self.fd, 65536)
            except OSError:
                return False
            if not d:
                return False
            self.raw += d
            return True
        return True

    def expect(self, pattern, timeout=10):
        """Wait until pattern (a regex) shows up in the plain text after
        what was matched before; returns the match or None."""
        end = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            text = plain(self.raw)
            m = rx.search(text, self.pos)
            if m:
                self.pos = m.end()
                return m
            if time.monotonic() >= end or not self._read(end):
                print("  ... expected %r; the screen ends with:\n%s" % (
                    pattern, "\n".join("    | " + l for l in
                                       text[self.pos:].splitlines()[-15:])))
                return None

    def settle(self, t=0.3):
        end = time.monotonic() + t
        while self._read(end) and time.monotonic() < end:
            pass

    def send(self, s):
        os.write(self.fd, s.encode() if isinstance(s, str) else s)

    def line(self, s):
        self.send(s + "\r")

    def text(self):
        return plain(self.raw)

    def close(self, timeout=5):
        """Ctrl-D; the exit status (or None if it had to be killed)."""
        self.settle(0.3)      # let readline take the terminal first
        end = time.monotonic() + timeout
        nudge = 0
        while time.monotonic() < end:
            if time.monotonic() >= nudge:
                try:
                    self.send("\x04")
                except OSError:
                    pass
                nudge = time.monotonic() + 1.5
            self._read(time.monotonic() + 0.05)
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(st)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        return None
