"""smtp-fuzz against correct servers (aiosmtpd, Postfix smtp-sink) for a
bounded time: no crash and no hang may be reported.  RFC-violation
findings are allowed (these servers have some) and listed."""
import logging
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzzlib import (FUZZ, check, done, free_port, fuzz, need, skip,
                     wait_port)

BUDGET = int(os.environ.get("SP_FUZZ_FP_BUDGET", "60"))
need(FUZZ)
# aiosmtpd logs every bad command the fuzzer sends: not wanted here.
logging.disable(logging.CRITICAL)
work = tempfile.mkdtemp(prefix="fuzzer-fp-")
ran = 0


def judge(name, port):
    rc, _, found = fuzz(port, os.path.join(work, name), BUDGET,
                        "--seed", "7", "-j", "2", "--timeout", "3000")
    check(rc == 0, "%s: smtp-fuzz exits 0" % name)
    bad = [f for f in found if f["oracle"] in ("crash", "hang")]
    for f in found:
        print("     %s finding: %s after %s: %s" % (
            name, f["oracle"], f["trigger_verb"], f["detail"]))
    check(not bad, "%s: no crash or hang reported" % name)


try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Sink
    port = free_port()
    ctl = Controller(Sink(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        judge("aiosmtpd", port)
        ran += 1
    finally:
        ctl.stop()
except ImportError:
    print("aiosmtpd missing")

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
if ran == 0:
    skip("neither aiosmtpd nor smtp-sink available")
done()
