"""The smtp-fuzz benchmark (bench/fuzz.sh): one run of SP_FUZZ_BENCH_S
seconds (default 60) per server, -j SP_FUZZ_BENCH_J (default 2), all on
loopback; prints execs/s, states and transitions from each run's
stats.json."""
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ["SP_SOURCE_DIR"]
BUILD = os.environ["SP_BUILD_DIR"]
FUZZ = os.path.join(BUILD, "tools", "smtp-fuzz", "smtp-fuzz")
SECS = int(os.environ.get("SP_FUZZ_BENCH_S", "60"))
JOBS = os.environ.get("SP_FUZZ_BENCH_J", "2")
sys.path.insert(0, os.path.join(SRC, "tests", "client"))
import clientlib  # noqa: E402

if not os.access(FUZZ, os.X_OK):
    sys.exit("smtp-fuzz not built in %s" % BUILD)
rec = clientlib.recorder()
# aiosmtpd logs every bad command the fuzzer sends: not wanted here.
logging.disable(logging.CRITICAL)
work = tempfile.mkdtemp(prefix="fuzzbench-")
rows = []


def bench(name, port, *extra):
    out = os.path.join(work, name.replace(" ", "-").replace("+", "-"))
    subprocess.run([FUZZ, "--target", "127.0.0.1:%d" % port, "--out", out,
                    "--duration", str(SECS), "--seed", "1", "-j", JOBS] +
                   list(extra),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=SECS * 4 + 120)
    with open(os.path.join(out, "stats.json")) as f:
        st = json.load(f)
    rows.append((name, st))


def run_aiosmtpd():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink
    port = clientlib.free_port()
    ctl = Controller(Sink(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        bench("aiosmtpd", port)
    finally:
        ctl.stop()


def run_aiosmtpd_tls():
    """STARTTLS (a real handshake per TLS case) and AUTH PLAIN/LOGIN."""
    import ssl
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink
    ca, cert, key = clientlib.make_ca(work)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    port = clientlib.free_port()
    ctl = Controller(Sink(), hostname="127.0.0.1", port=port,
                     server_hostname="localhost", tls_context=ctx,
                     require_starttls=False, auth_require_tls=False,
                     authenticator=clientlib.aiosmtpd_auth("u", "pw")[0])
    ctl.start()
    try:
        bench("aiosmtpd+TLS+AUTH", port, "--ca", ca, "--auth", "u:pw")
    finally:
        ctl.stop()


def run_sink():
    sink = rec.SinkServer("127.0.0.1")
    try:
        bench("smtp-sink", sink.port)
    finally:
        sink.stop()


def run_postfix():
    ca, cert, key = clientlib.make_ca(work)
    pf = rec.PostfixServer(work, cert, key)
    try:
        bench("Postfix smtpd", pf.port, "--ca", ca)
    finally:
        pf.stop()


for f in (run_aiosmtpd, run_aiosmtpd_tls, run_sink, run_postfix):
    try:
        f()
    except Exception as e:  # a peer that cannot run here is reported
        print("%s: not run: %s" % (f.__name__[4:], e))

print("smtp-fuzz, %d s per target, -j %s, loopback" % (SECS, JOBS))
print("%-18s %10s %8s %8s %12s %9s" % ("target", "execs", "execs/s",
                                       "states", "transitions", "findings"))
for name, st in rows:
    print("%-18s %10d %8.1f %8d %12d %9d" % (
        name, st["execs"], st["execs_per_s"], st["states"],
        st["transitions"], st["findings"]))
print("%-18s %10s %8.1f %8s %12s %9s" % ("AFLNet on Exim", "-", 4.8, "-",
                                         "-", "(ProFuzzBench, published)"))
shutil.rmtree(work, ignore_errors=True)
