"""smtp-replay --probe against aiosmtpd with STARTTLS and AUTH (a test
CA made here with openssl): the monitoring-plugin status line and exit
codes (OK, WARNING and CRITICAL by time and by certificate expiry,
CRITICAL when nothing listens, UNKNOWN on a bad command line), perfdata,
AUTH PLAIN and LOGIN, --send-message, and --prometheus parsed."""
import asyncio
import os
import re
import ssl
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "client"))
from loadlib import check, done, free_port, need_tool, replay, skip
from clientlib import aiosmtpd_auth, make_ca

need_tool()
try:
    from aiosmtpd.controller import Controller
except ImportError:
    skip("aiosmtpd missing")

USER, PASSWORD = "probe@example.test", "pr0be-S3cret"
work = tempfile.mkdtemp(prefix="sp-probe-")
ca, cert, key = make_ca(work)   # valid for 2 days
received = []
delay = {"rcpt": 0.0}


class Handler:
    async def handle_RCPT(self, server, session, envelope, address, opts):
        if delay["rcpt"]:
            await asyncio.sleep(delay["rcpt"])
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        received.append(envelope.original_content)
        return "250 OK queued"


authenticator, _ = aiosmtpd_auth(USER, PASSWORD)


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
port = free_port()
ctl = Controller(Handler(), hostname="127.0.0.1", port=port,
                 server_hostname="localhost", tls_context=ctx,
                 require_starttls=False, auth_require_tls=True,
                 authenticator=authenticator, decode_data=False)
ctl.start()
target = "127.0.0.1:%d" % port
tls = ["--starttls", "--ca-file", ca]
os.environ["SMTP_PROBE_SECRET"] = PASSWORD
LINE = re.compile(r"^SMTP (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]*\|"
                  r"( [a-z_]+=[0-9.]+s?;[0-9.]*;[0-9.]*;[0-9.]*;[0-9.]*)+$")


def perf(out):
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r" ([a-z_]+)=([0-9.]+)", out.split("|", 1)[1])}


# 1. OK: STARTTLS verified with the test CA; certificate thresholds
#    below its 2 days.
rc, out, _ = replay("--probe", "--target", target, *tls, "--rcpt",
                    "a@example.test", "--cert-warn", "1", "--cert-crit",
                    "0.5")
check(rc == 0 and out.startswith("SMTP OK - "), "STARTTLS probe: OK, exit 0")
check(LINE.match(out.strip()) is not None, "one plugin line with perfdata")
p = perf(out)
check({"connect", "banner", "ehlo", "starttls", "mail", "rcpt", "quit",
       "total", "cert_days"} <= set(p), "perfdata: every phase, total, "
      "cert_days")
check(1.5 < p.get("cert_days", 0) <= 2.01, "certificate: about 2 days left "
      "(%.2f)" % p.get("cert_days", 0))
check(p["total"] >= p["ehlo"] and "TLSv1." in out, "total >= a phase; TLS "
      "version shown")
check(not received, "no message without --send-message")

# 2. Certificate expiry: 2 days is under the default --cert-crit 7;
#    with --cert-crit 1 it is under --cert-warn 14 only.
rc, out, _ = replay("--probe", "--target", target, *tls)
check(rc == 2 and out.startswith("SMTP CRITICAL - certificate expires"),
      "2 days left, default thresholds (14, 7): CRITICAL")
rc, out, _ = replay("--probe", "--target", target, *tls, "--cert-crit", "1")
check(rc == 1 and out.startswith("SMTP WARNING - certificate"),
      "--cert-crit 1: WARNING")

# 3. A certificate the CA does not vouch for: CRITICAL.
rc, out, _ = replay("--probe", "--target", target, "--starttls")
check(rc == 2 and "starttls" in out, "unverifiable certificate: CRITICAL")

# 4. AUTH PLAIN and LOGIN inside TLS, the secret from the environment;
#    a wrong secret is CRITICAL.
quiet = ["--cert-warn", "1", "--cert-crit", "0"]
for mech in ("PLAIN", "LOGIN"):
    rc, out, _ = replay("--probe", "--target", target, *tls, *quiet,
                        "--auth", "%s:%s" % (mech, USER))
    check(rc == 0 and " auth=" in out, "AUTH %s: OK, timed" % mech)
secret = os.path.join(work, "secret")
with open(secret, "w") as f:
    f.write("wrong\n")
rc, out, _ = replay("--probe", "--target", target, *tls, *quiet, "--auth",
                    "PLAIN:" + USER, "--secret-file", secret)
check(rc == 2 and "auth" in out and "wrong" not in out and
      PASSWORD not in out, "wrong secret: CRITICAL, secret not shown")

# 5. --send-message delivers one test message.
rc, out, _ = replay("--probe", "--target", target, *tls, *quiet, "--rcpt",
                    "a@example.test", "--send-message")
check(rc == 0 and " dot=" in out and len(received) == 1 and
      b"monitoring test message" in received[0],
      "--send-message: the server got the message")

# 6. Time thresholds against a server slow to answer RCPT (0.4 s).
delay["rcpt"] = 0.4
rc, out, _ = replay("--probe", "--target", target, "--rcpt", "a@x.test",
                    "--warn", "0.2", "--crit", "5")
check(rc == 1 and out.startswith("SMTP WARNING - total"),
      "total over --warn: WARNING")
rc, out, _ = replay("--probe", "--target", target, "--rcpt", "a@x.test",
                    "--warn", "0.1", "--crit", "0.2")
check(rc == 2 and out.startswith("SMTP CRITICAL - total"),
      "total over --crit: CRITICAL")
rc, out, _ = replay("--probe", "--target", target, "--rcpt", "a@x.test",
                    "--warn-phase", "rcpt=0.2", "--warn", "5")
check(rc == 1 and "rcpt" in out and ";0.200000;" in out,
      "--warn-phase rcpt: WARNING, threshold in perfdata")
rc, out, _ = replay("--probe", "--target", target, "--rcpt", "a@x.test",
                    "--warn", "5", "--crit", "10")
check(rc == 0 and perf(out)["rcpt"] >= 0.35, "under thresholds: OK, RCPT "
      "latency measured (%.3f s)" % perf(out)["rcpt"])
delay["rcpt"] = 0.0

# 7. --prometheus: text exposition format, same figures.
rc, out, _ = replay("--probe", "--target", target, *tls, *quiet,
                    "--prometheus")
metrics = {}
okfmt = True
for line in out.splitlines():
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        continue
    m = re.match(r'^([a-z_]+)\{target="([^"]+)"(?:,phase="([a-z]+)")?\} '
                 r'(-?[0-9.e+]+)$', line)
    if m is None or m.group(2) != target:
        okfmt = False
        continue
    metrics[(m.group(1), m.group(3))] = float(m.group(4))
check(rc == 0 and okfmt, "--prometheus: every line parses")
check(metrics.get(("smtp_probe_success", None)) == 1 and
      metrics.get(("smtp_probe_status", None)) == 0 and
      ("smtp_probe_phase_duration_seconds", "starttls") in metrics and
      1.5 < metrics.get(("smtp_probe_tls_cert_days_left", None), 0) <= 2.01,
      "--prometheus: success, status, phases, certificate days")
# 7b. Load with STARTTLS against the same server: the phase is timed;
#     an unverifiable certificate is an error of class tls.
import json
js = os.path.join(work, "load.json")
rc, out, _ = replay("--target", target, "--repeat", "10", "--concurrency",
                    "2", *tls, "--pipelining", "--json", js)
with open(js) as f:
    j = json.load(f)
check(rc == 0 and j["messages"] == 10 and
      j["phases"]["starttls"]["count"] == 10 and
      j["phases"]["ehlo"]["count"] == 20, "load --starttls: 10 sessions, "
      "STARTTLS timed, EHLO twice each")
rc, out, _ = replay("--target", target, "--repeat", "4", "--starttls",
                    "--json", js)
with open(js) as f:
    j = json.load(f)
check(rc == 1 and j["errors"]["tls"] == 4, "load --starttls, unknown CA: "
      "4 errors of class tls")
ctl.stop()

# 8. Nothing listening: CRITICAL (like check_smtp); bad usage: UNKNOWN.
rc, out, _ = replay("--probe", "--target", "127.0.0.1:%d" % free_port())
check(rc == 2 and "refused" in out, "nothing listening: CRITICAL")
rc, out, _ = replay("--probe")
check(rc == 3 and out.startswith("SMTP UNKNOWN"), "no --target: UNKNOWN")
rc, out, _ = replay("--probe", "--target", target, "--warn", "x")
check(rc == 3, "bad threshold: UNKNOWN")
os.environ.pop("SMTP_PROBE_SECRET")
rc, out, _ = replay("--probe", "--target", "127.0.0.1:%d" % free_port(),
                    "--auth", "PLAIN:u")
check(rc == 2, "unreachable comes before the missing secret")
done()
