"""Shared helpers for the client tests (label client): a throw-away CA,
servers on loopback, and a wrapper around tests/tools/sp_script_run.

Every server listens on 127.0.0.1 or ::1 only and every wait is
bounded.  Tests exit 77 (skipped) when a peer is missing.
"""
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from testlib import (BUILD, CAPTURES, SRC, Sink, check, done,  # noqa: F401,E402
                     failures, free_port, load_json, need, recorder, skip,
                     wait_port)

RUNNER = os.path.join(BUILD, "tests", "tools", "sp_script_run")
USER, PASSWORD = "tester@example.test", "s3cret-PASS"


def need_runner():
    if not os.access(RUNNER, os.X_OK):
        skip("sp_script_run not built")


CRAM_CHALLENGE = b"<1896.697170952@aiosmtpd.test>"


def aiosmtpd_auth(user, password):
    """The AUTH side of a test aiosmtpd for one user: an authenticator
    for PLAIN and LOGIN, and a CRAM-MD5 hook (RFC 2195), which aiosmtpd
    lacks; set it as the handler's auth_CRAM__MD5.  handled=False makes
    aiosmtpd send its own 535 on failure (with the default it would
    send nothing at all)."""
    import hmac
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, data):
        return AuthResult(success=isinstance(data, LoginPassword) and
                          data.login == user.encode() and
                          data.password == password.encode(),
                          handled=False)

    async def auth_cram_md5(handler, server, args):
        resp = await server.challenge_auth(CRAM_CHALLENGE)
        if not isinstance(resp, bytes) or b" " not in resp:
            return AuthResult(success=False)
        who, digest = resp.rsplit(b" ", 1)
        want = hmac.new(password.encode(), CRAM_CHALLENGE, "md5").hexdigest()
        return AuthResult(success=who == user.encode() and
                          hmac.compare_digest(digest, want.encode()),
                          handled=False)

    return authenticator, auth_cram_md5


def make_ca(work):
    """A CA and a server certificate for localhost, 127.0.0.1 and ::1."""
    def run(*args):
        subprocess.run(args, check=True, cwd=work, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=sp test CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "srv.key",
        "-out", "srv.csr", "-subj", "/CN=localhost")
    with open(os.path.join(work, "ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem",
        "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
        "-days", "2", "-extfile", "ext.cnf")
    return tuple(os.path.join(work, n) for n in ("ca.pem", "srv.pem",
                                                 "srv.key"))


def script(work, name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run(host, port, path, *opts, timeout=60, env=None):
    """Run a script; returns (exit code, stdout, seconds taken)."""
    t0 = time.monotonic()
    r = subprocess.run([RUNNER] + list(opts) + [host, str(port), path],
                       capture_output=True, text=True, timeout=timeout,
                       env=env, errors="replace")
    took = time.monotonic() - t0
    out = r.stdout + r.stderr
    print("  $ sp_script_run %s %s %s %s -> %d (%.2fs)" % (
        " ".join(opts), host, port, os.path.basename(path), r.returncode,
        took))
    for line in out.splitlines()[-40:]:
        print("    " + line[:300])
    return r.returncode, out, took


class RawServer:
    """A scripted TCP server on loopback: handler(conn) runs once per
    connection in a thread; the listener stops after `seconds`."""

    def __init__(self, handler, family=socket.AF_INET, host="127.0.0.1",
                 seconds=30):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.end = time.monotonic() + seconds
        self.stats = {}
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while time.monotonic() < self.end:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(5)
            threading.Thread(target=self._one, args=(conn,),
                             daemon=True).start()

    def _one(self, conn):
        try:
            self.handler(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.end = 0
        self.sock.close()
        self.thread.join(2)


def read_line(conn, limit=65536):
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < limit:
        d = conn.recv(1)
        if not d:
            break
        buf += d
    return buf
