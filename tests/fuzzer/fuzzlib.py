"""Shared helpers for the smtp-fuzz tests (labels fuzzer and
fuzzer-quick): run the fuzzer for a bounded time against a server on
loopback and read its findings.  Every server listens on 127.0.0.1
only; every wait is bounded."""
import glob
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
from testlib import (BUILD, SRC, check, done, failures,  # noqa: F401,E402
                     free_port, need, skip, wait_port)

FUZZ = os.path.join(BUILD, "tools", "smtp-fuzz", "smtp-fuzz")
RUNNER = os.path.join(BUILD, "tests", "tools", "sp_script_run")
BUGGY = os.path.join(BUILD, "tests", "tools", "buggy_smtpd")


def fuzz(port, out, secs, *extra):
    """Run smtp-fuzz; returns (rc, summary text, findings list)."""
    cmd = [FUZZ, "--target", "127.0.0.1:%d" % port, "--out", out,
           "--duration", str(secs)] + list(extra)
    print("+", " ".join(cmd))
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=secs * 4 + 120)
    print(p.stdout)
    sys.stdout.flush()
    found = []
    for path in sorted(glob.glob(os.path.join(out, "findings", "*.json"))):
        with open(path) as f:
            found.append(json.load(f))
    return p.returncode, p.stdout, found


def findings(out):
    found = []
    for path in sorted(glob.glob(os.path.join(out, "findings", "*.json"))):
        try:
            with open(path) as f:
                found.append(json.load(f))
        except (OSError, ValueError):
            pass    # being written: read on the next poll
    return found


def fuzz_until(port, out, secs, enough, *extra):
    """Run smtp-fuzz for at most secs; stop it (SIGINT, as a user's
    Ctrl-C) as soon as enough(findings) holds.  Returns (rc, summary
    text, findings, seconds taken)."""
    cmd = [FUZZ, "--target", "127.0.0.1:%d" % port, "--out", out,
           "--duration", str(secs)] + list(extra)
    print("+", " ".join(cmd))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    stopped = False
    while p.poll() is None and time.monotonic() - t0 < secs * 2 + 60:
        time.sleep(0.5)
        if not stopped and enough(findings(out)):
            p.send_signal(signal.SIGINT)
            stopped = True
    if p.poll() is None:
        p.kill()
    text = p.communicate(timeout=60)[0]
    took = time.monotonic() - t0
    print(text)
    sys.stdout.flush()
    return p.returncode, text, findings(out), took


def replay(port, script, ms=3000, *opts):
    p = subprocess.run([RUNNER, "-t", str(ms)] + list(opts) +
                       ["127.0.0.1", str(port), script],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout


def make_cert(work):
    """A CA and a localhost certificate (tests/client/clientlib.py);
    skips the test without openssl."""
    if shutil.which("openssl") is None:
        skip("openssl missing")
    sys.path.insert(0, os.path.join(SRC, "tests", "client"))
    from clientlib import make_ca
    return make_ca(work)


def aiosmtpd(cert=None, key=None, user=None, password=None):
    """A started aiosmtpd Controller on 127.0.0.1 (STARTTLS with cert
    and key, AUTH PLAIN/LOGIN for user, in plaintext too) and its
    port; None without aiosmtpd."""
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Sink
    except ImportError:
        return None, 0
    import ssl
    # aiosmtpd logs every bad command the fuzzer sends: not wanted.
    logging.disable(logging.CRITICAL)
    kw = {}
    if cert is not None:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        kw.update(tls_context=ctx, require_starttls=False,
                  server_hostname="localhost")
    if user is not None:
        sys.path.insert(0, os.path.join(SRC, "tests", "client"))
        from clientlib import aiosmtpd_auth
        kw.update(authenticator=aiosmtpd_auth(user, password)[0],
                  auth_require_tls=False)
    port = free_port()
    ctl = Controller(Sink(), hostname="127.0.0.1", port=port, **kw)
    ctl.start()
    return ctl, port


def no_false_positives(budget, work, seed="7"):
    """Fuzz correct servers for budget seconds each: aiosmtpd (plain,
    and with STARTTLS and AUTH) and Postfix smtp-sink.  No crash, hang,
    or TLS finding may be reported; other RFC findings (these servers
    have some) are listed.  Returns how many servers ran."""
    cert = make_cert(work)
    ran = 0

    def judge(name, port, *extra, never=()):
        rc, _, found = fuzz(port, os.path.join(work, name), budget,
                            "--seed", seed, "-j", "2", "--timeout",
                            "3000", *extra)
        check(rc == 0, "%s: smtp-fuzz exits 0" % name)
        for f in found:
            print("     %s finding: %s after %s: %s" % (
                name, f["oracle"], f["trigger_verb"], f["detail"]))
        bad = [f for f in found if f["oracle"] in (
            "crash", "hang", "rfc-plaintext-after-starttls",
            "rfc-starttls-offered-after-tls") + never]
        check(not bad, "%s: no crash, hang, STARTTLS finding%s" % (
            name, "".join(" or " + n for n in never)))

    for name, args in (("aiosmtpd", ()),
                       ("aiosmtpd-tls", cert[1:] + ("u", "pw"))):
        ctl, port = aiosmtpd(*args)
        if ctl is None:
            print("aiosmtpd missing")
            break
        try:
            extra = ("--ca", cert[0], "--auth", "u:pw") if args else ()
            # aiosmtpd answers DATA without a recipient with 503, so a
            # 354-without-recipient finding would be the fuzzer's error
            # (it was: a refused "RSET\0" had been taken as a reset).
            judge(name, port, *extra, never=("rfc-354-without-rcpt",))
            ran += 1
        finally:
            ctl.stop()
    if shutil.which("smtp-sink"):
        port = free_port()
        sink = subprocess.Popen(["smtp-sink", "-u", "nobody",
                                 "127.0.0.1:%d" % port, "100"],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            if wait_port(port):
                judge("smtp-sink", port)
                ran += 1
        finally:
            sink.terminate()
            sink.wait(timeout=10)
    return ran
