"""The conformance and attack suites (tools/smtp-replay/suites/) run
against three real servers on loopback: aiosmtpd (STARTTLS, AUTH PLAIN/
LOGIN/CRAM-MD5, SMTPUTF8), Postfix's smtp-sink, and a private Postfix
smtpd instance (root only; skipped otherwise).

Each script's verdict is compared with EXPECTED below: what each server
really does.  Every fail in the table was checked by reading the
exchange, and its note says whose it is: the server's deviation from
the RFC, or "n/a" when the server lacks the extension the check is
about (the script's first expect names it).  No fail is the tool's.
The test fails when any verdict changes, in either direction.

Set SP_CONF_DUMP=1 to print the observed matrix as a Python table and
every non-pass exchange (to review a change).
"""
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "client"))
from clientlib import (RUNNER, SRC, check, done, make_ca, need_runner,
                       recorder, run, skip)

SUITES = os.path.join(SRC, "tools", "smtp-replay", "suites")
need_runner()
try:
    import aiosmtpd  # noqa: F401
except ImportError:
    skip("aiosmtpd missing")

# Fixtures each server can honour.  All three accept any recipient
# (aiosmtpd's handler, smtp-sink by design, Postfix because loopback
# is in mynetworks and relaying is permitted from there).
COMMON = {"rcpt": "bob@example.test",
          "unknown_rcpt": "no-such-user-4f7a19c2@example.test",
          "relay_domain": "relay.example", "server_ip": "127.0.0.1",
          "server_name": "localhost"}
rec = recorder()
FIXTURES = {
    "aiosmtpd": dict(COMMON, user=rec.USER, secret=rec.PASSWORD),
    "smtp-sink": dict(COMMON),
    "postfix": dict(COMMON),
}

P, F, S = "pass", "fail", "skip"
COLS = ("aiosmtpd", "smtp-sink", "postfix")
# script -> (aiosmtpd, smtp-sink, postfix).  A fail's note says whose.
EXPECTED = {
    "A1-auth-in-transaction":                (F, F, F),
    "A1-auth-twice":                         (P, S, S),
    "A2-unknown-mechanism":                  (P, F, F),
    "A3-bad-base64":                         (P, F, F),
    "A4-initial-response-server-first":      (P, F, F),
    "A5-over-long-line":                     (P, F, F),
    "A7-auth-empty-param":                   (F, F, F),
    "B1-chunk-verbatim":                     (F, F, P),
    "B2-failed-bdat-consumed":               (F, F, P),
    "B3-bdat-then-data":                     (F, F, P),
    "B4-rset-and-empty-last":                (F, F, P),
    "B5-binarymime-data":                    (F, F, F),
    "C1-bare-cr":                            (P, P, P),
    "C1-bare-lf":                            (F, P, F),
    "C11-required-verbs":                    (P, P, P),
    "C12-args-to-data-rset-quit":            (P, F, F),
    "C13-helo":                              (P, P, P),
    "C14-ehlo-grammar":                      (P, P, P),
    "C15-ehlo-no-domain":                    (P, F, P),
    "C16-ehlo-resets":                       (P, P, P),
    "C18-mail-before-ehlo":                  (P, F, F),
    "C19-noop-before-ehlo":                  (P, P, P),
    "C2-reply-codes":                        (P, P, P),
    "C20-rcpt-without-mail":                 (P, P, P),
    "C21-data-without-rcpt":                 (P, P, P),
    "C22-mail-in-transaction":               (P, P, P),
    "C23-bad-mail-argument":                 (F, F, F),
    "C24-unknown-parameter":                 (P, F, P),
    "C25-rset":                              (P, P, P),
    "C26-noop-argument":                     (P, P, P),
    "C27-quit-closes":                       (P, P, P),
    "C27-stays-open":                        (F, P, P),
    "C29-vrfy-known":                        (P, P, P),
    "C29-vrfy-unknown":                      (P, F, P),
    "C3-multiline":                          (P, P, P),
    "C30-postmaster":                        (P, P, P),
    "C31-source-route":                      (P, P, P),
    "C32-non-ascii-envelope":                (F, F, F),
    "C4-one-reply-per-command":              (P, P, P),
    "C5-greeting":                           (P, P, P),
    "C7-case-insensitive":                   (P, P, P),
    "C8-trailing-space":                     (P, P, P),
    "C9-unknown-verb":                       (P, P, P),
    "D1-data":                               (P, P, P),
    "D2-lf-dot-lf":                          (P, P, F),
    "D3-dot-stuffing":                       (P, P, P),
    "D4-1000-octet-line":                    (P, P, P),
    "D5-64k-message":                        (P, P, P),
    "E1-size":                               (F, F, F),
    "E2-body-value":                         (P, F, P),
    "E3-utf8-rcpt-without-smtputf8":         (F, F, F),
    "E4-dsn-syntax":                         (F, F, P),
    "L1-512-octet-command":                  (P, P, P),
    "L1-513-octet-command":                  (F, F, F),
    "L3-100-recipients":                     (P, P, P),
    "P1-pipelined-order":                    (F, F, P),
    "P2-flush":                              (P, P, P),
    "P4-dot-and-quit":                       (P, P, P),
    "V1-smuggling-cr-crlf-dot-cr-crlf":      (P, P, F),
    "V1-smuggling-cr-dot-cr":                (P, P, P),
    "V1-smuggling-cr-dot-crlf":              (P, P, P),
    "V1-smuggling-cr-dot-lf":                (P, P, P),
    "V1-smuggling-crlf-dot-cr":              (P, P, P),
    "V1-smuggling-crlf-dot-cr-crlf":         (P, P, F),
    "V1-smuggling-crlf-dot-lf":              (P, P, F),
    "V1-smuggling-crlf-dot-nul-crlf":        (P, P, P),
    "V1-smuggling-crlf-nul-dot-crlf":        (P, P, P),
    "V1-smuggling-lf-dot-cr":                (P, P, P),
    "V1-smuggling-lf-dot-crlf":              (P, P, F),
    "V1-smuggling-lf-dot-lf":                (P, P, F),
    "V2-bdat-injection":                     (F, F, P),
    "V2-starttls-injection":                 (P, F, P),
    "V3-auth-login-before-tls":              (P, F, P),
    "V3-auth-plain-before-tls":              (P, F, P),
    "V4-relay-01-from-null":                 (F, F, F),
    "V4-relay-02-from-dom":                  (F, F, F),
    "V4-relay-03-from-srv":                  (F, F, F),
    "V4-relay-04-from-ip":                   (F, F, F),
    "V4-relay-05-percent-ip":                (F, F, F),
    "V4-relay-06-percent-srv":               (F, F, F),
    "V4-relay-07-quoted-at":                 (F, F, F),
    "V4-relay-08-quoted-percent":            (F, F, F),
    "V4-relay-09-double-at-ip":              (P, F, F),
    "V4-relay-10-quoted-at-ip":              (F, F, F),
    "V4-relay-11-double-at-srv":             (P, F, F),
    "V4-relay-12-route-ip":                  (F, F, F),
    "V4-relay-13-route-srv":                 (F, F, F),
    "V4-relay-14-bang":                      (F, F, F),
    "V4-relay-15-bang-ip":                   (F, F, F),
    "V4-relay-16-bang-srv":                  (F, F, F),
    "V5-expn":                               (P, P, P),
    "V5-rcpt-split":                         (P, P, P),
    "V5-vrfy-split":                         (P, F, P),
    "X1-starttls-argument":                  (P, F, P),
    "X2-tls-resets-state":                   (P, F, F),
    "X3-second-starttls":                    (F, F, P),
    "X4-starttls-injection":                 (P, F, P),
}

# Why each fail is the server's (or not applicable to it).
NA_CHUNK = "n/a: CHUNKING not offered (EHLO checked first)"
NA_TLS = "n/a: smtp-sink offers no STARTTLS"
SINK = "sink: smtp-sink accepts everything by design"
AUTH_PF = "n/a: AUTH not offered (this instance has no SASL)"
NOTES = {
    "A1-auth-in-transaction": {
        "aiosmtpd": ("deviation: AUTH after MAIL is processed (535), not "
                     "refused with 503"),
        "smtp-sink": NA_TLS,
        "postfix": AUTH_PF,
    },
    "A2-unknown-mechanism": {
        "smtp-sink": NA_TLS,
        "postfix": AUTH_PF,
    },
    "A3-bad-base64": {
        "smtp-sink": NA_TLS,
        "postfix": AUTH_PF,
    },
    "A4-initial-response-server-first": {
        "smtp-sink": NA_TLS,
        "postfix": AUTH_PF,
    },
    "A5-over-long-line": {
        "smtp-sink": ("deviation: closes the connection on the 20000-octet "
                      "line, no 500"),
        "postfix": ("deviation: 250 to the over-long NOOP (cuts the line at "
                    "line_length_limit), no 500"),
    },
    "A7-auth-empty-param": {
        "aiosmtpd": ("deviation: MAIL ... AUTH=<> gets 555 (AUTH parameter not"
                     " implemented)"),
        "smtp-sink": NA_TLS,
        "postfix": AUTH_PF,
    },
    "B1-chunk-verbatim": {
        "aiosmtpd": NA_CHUNK,
        "smtp-sink": NA_CHUNK,
    },
    "B2-failed-bdat-consumed": {
        "aiosmtpd": NA_CHUNK,
        "smtp-sink": NA_CHUNK,
    },
    "B3-bdat-then-data": {
        "aiosmtpd": NA_CHUNK,
        "smtp-sink": NA_CHUNK,
    },
    "B4-rset-and-empty-last": {
        "aiosmtpd": NA_CHUNK,
        "smtp-sink": NA_CHUNK,
    },
    "B5-binarymime-data": {
        "aiosmtpd": "n/a: BINARYMIME not offered",
        "smtp-sink": "n/a: BINARYMIME not offered",
        "postfix": "n/a: BINARYMIME not offered",
    },
    "C1-bare-lf": {
        "aiosmtpd": ("deviation: NOOP<LF>NOOP<CRLF> answered twice (bare LF "
                     "ends a line)"),
        "postfix": ("deviation: answered twice; smtpd_forbid_bare_newline is "
                    "off (3.7.11 default) and exempts mynetworks, loopback "
                    "here"),
    },
    "C12-args-to-data-rset-quit": {
        "smtp-sink": "deviation: DATA x gets 354 (arguments ignored)",
        "postfix": "deviation: QUIT x gets 221 (DATA x and RSET x get 501)",
    },
    "C15-ehlo-no-domain": {
        "smtp-sink": "deviation: bare EHLO gets 250",
    },
    "C18-mail-before-ehlo": {
        "smtp-sink": "deviation: MAIL before EHLO gets 250",
        "postfix": ("deviation: MAIL before EHLO gets 250 (smtpd_helo_required"
                    " = no, the default)"),
    },
    "C23-bad-mail-argument": {
        "aiosmtpd": "deviation: MAIL FROM:bad (no angle brackets) gets 250",
        "smtp-sink": SINK,
        "postfix": ("deviation: MAIL FROM:bad gets 250 "
                    "(strict_rfc821_envelopes = no, the default)"),
    },
    "C24-unknown-parameter": {
        "smtp-sink": "deviation: FOO=1 gets 250",
    },
    "C27-stays-open": {
        "aiosmtpd": ("deviation: after 5 unknown verbs it sends 502 'Too many "
                     "unrecognized commands' and closes (no 421; 7.8 allows "
                     "closing after many errors)"),
    },
    "C29-vrfy-unknown": {
        "smtp-sink": "deviation: VRFY of an unknown name gets 250",
    },
    "C32-non-ascii-envelope": {
        "aiosmtpd": "deviation: non-ASCII MAIL without SMTPUTF8 gets 250",
        "smtp-sink": SINK,
        "postfix": ("deviation: non-ASCII MAIL without SMTPUTF8 gets 250 "
                    "(smtputf8_enable = yes)"),
    },
    "D2-lf-dot-lf": {
        "postfix": ("deviation: <LF>.<LF> ends data (250 queued, then 500 for "
                    "'after'); bare-newline fix not on for mynetworks"),
    },
    "E1-size": {
        "aiosmtpd": ("deviation: 26-digit SIZE (over 1*20DIGIT) gets 552, not "
                     "501"),
        "smtp-sink": "n/a: SIZE not offered",
        "postfix": ("deviation: 26-digit SIZE gets 552 'file system imposed "
                    "limit', not 501"),
    },
    "E2-body-value": {
        "smtp-sink": "deviation: BODY=9BITMIME gets 250",
    },
    "E3-utf8-rcpt-without-smtputf8": {
        "aiosmtpd": "deviation: non-ASCII RCPT without SMTPUTF8 gets 250",
        "smtp-sink": SINK,
        "postfix": "deviation: non-ASCII RCPT without SMTPUTF8 gets 250",
    },
    "E4-dsn-syntax": {
        "aiosmtpd": "n/a: DSN not offered",
        "smtp-sink": "deviation: NOTIFY=NEVER,SUCCESS gets 250",
    },
    "L1-513-octet-command": {
        "aiosmtpd": ("lenient: 513-octet NOOP gets 250 (4.5.3.1 discourages "
                     "limits)"),
        "smtp-sink": "lenient: 513-octet NOOP gets 250",
        "postfix": "lenient: 513-octet NOOP gets 250 (line_length_limit 2048)",
    },
    "P1-pipelined-order": {
        "aiosmtpd": ("deviation: RCPT TO:<> gets 250 (null path as recipient);"
                     " replies were in order"),
        "smtp-sink": SINK + "; replies in order",
    },
    "V1-smuggling-cr-crlf-dot-cr-crlf": {
        "postfix": ("deviation: <CR><CR><LF>.<CR><CR><LF> ends data: 250 "
                    "queued, smuggled MAIL gets 250 (CVE-2023-51764 class, "
                    "mynetworks exempt)"),
    },
    "V1-smuggling-crlf-dot-cr-crlf": {
        "postfix": ("deviation: <CRLF>.<CR><CRLF> ends data, smuggled MAIL "
                    "answered"),
    },
    "V1-smuggling-crlf-dot-lf": {
        "postfix": "deviation: <CRLF>.<LF> ends data, smuggled MAIL answered",
    },
    "V1-smuggling-lf-dot-crlf": {
        "postfix": ("deviation: <LF>.<CRLF> ends data, smuggled MAIL answered "
                    "(CVE-2023-51764 wording)"),
    },
    "V1-smuggling-lf-dot-lf": {
        "postfix": "deviation: <LF>.<LF> ends data, smuggled MAIL answered",
    },
    "V2-bdat-injection": {
        "aiosmtpd": NA_CHUNK,
        "smtp-sink": NA_CHUNK,
    },
    "V2-starttls-injection": {
        "smtp-sink": NA_TLS,
    },
    "V3-auth-login-before-tls": {
        "smtp-sink": ("deviation: AUTH LOGIN in clear gets 250 (sink answers "
                      "anything)"),
    },
    "V3-auth-plain-before-tls": {
        "smtp-sink": "deviation: AUTH PLAIN in clear gets 250",
    },
    "V5-vrfy-split": {
        "smtp-sink": ("deviation: VRFY gets 250 for any name (no split, but "
                      "claims every user exists)"),
    },
    "X1-starttls-argument": {
        "smtp-sink": NA_TLS,
    },
    "X2-tls-resets-state": {
        "smtp-sink": NA_TLS,
        "postfix": ("deviation: MAIL right after the TLS handshake (no new "
                    "EHLO) gets 250 (smtpd_helo_required = no)"),
    },
    "X3-second-starttls": {
        "aiosmtpd": ("deviation: a second STARTTLS inside TLS gets 220 (it is "
                     "not offered again, though)"),
        "smtp-sink": NA_TLS,
    },
    "X4-starttls-injection": {
        "smtp-sink": NA_TLS,
    },
}
RELAY = {"aiosmtpd": "no relay policy: aiosmtpd accepts what its handler "
                     "accepts",
         "smtp-sink": SINK,
         "postfix": "relay permitted: loopback is in mynetworks "
                    "(permit_mynetworks)"}
for _sid, _row in EXPECTED.items():
    if _sid.startswith("V4-"):
        for _i, _c in enumerate(COLS):
            if _row[_i] == F:
                NOTES.setdefault(_sid, {})[_c] = RELAY[_c]


def scripts():
    out = []
    for sub in ("conformance", "attacks"):
        out += sorted(glob.glob(os.path.join(SUITES, sub, "*.smtp")))
    return out


def verdict(rc):
    return {0: P, 1: F, 2: "error", 3: S}.get(rc, "usage")


def run_all(name, port, paths):
    opts = ["-k", "-t", "3000"]
    for k, v in sorted(FIXTURES[name].items()):
        opts += ["-v", "%s=%s" % (k, v)]

    def one(path):
        rc, out, took = run("127.0.0.1", port, path, *opts, timeout=60)
        return path, verdict(rc), out, took

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        return list(ex.map(one, paths))


CRAM_CHALLENGE = b"<1896.697170952@aiosmtpd.test>"
STORED = []             # every message aiosmtpd accepted


def aiosmtpd_server(cert, key):
    """aiosmtpd with its defaults (AUTH only inside TLS), STARTTLS,
    SMTPUTF8, PIPELINING advertised, AUTH PLAIN/LOGIN and a CRAM-MD5
    handler.  The authenticator says handled=False so that aiosmtpd
    sends its own 535 (with handled=True it would send nothing)."""
    import hmac
    import ssl
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname,
                              responses):
            session.host_name = hostname
            return responses[:1] + ["250-PIPELINING"] + responses[1:]

        async def auth_CRAM__MD5(self, server, args):
            if len(args) > 1:
                # RFC 4954 4: an initial response to a mechanism that
                # starts with a server challenge is refused with 501.
                await server.push("501 5.5.2 CRAM-MD5 takes no initial "
                                  "response")
                return AuthResult(success=False, handled=True)
            resp = await server.challenge_auth(CRAM_CHALLENGE)
            if not isinstance(resp, bytes) or b" " not in resp:
                return AuthResult(success=False, handled=False)
            user, digest = resp.rsplit(b" ", 1)
            want = hmac.new(rec.PASSWORD.encode(), CRAM_CHALLENGE,
                            "md5").hexdigest().encode()
            return AuthResult(success=user == rec.USER.encode() and
                              hmac.compare_digest(digest, want),
                              handled=False)

        async def handle_DATA(self, server, session, envelope):
            STORED.append(envelope.original_content)
            return "250 OK queued"

    def authenticator(server, session, envelope, mechanism, data):
        return AuthResult(success=isinstance(data, LoginPassword) and
                          data.login == rec.USER.encode() and
                          data.password == rec.PASSWORD.encode(),
                          handled=False)

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    port = rec.free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port,
                     server_hostname="aiosmtpd.test", tls_context=ctx,
                     authenticator=authenticator, enable_SMTPUTF8=True,
                     decode_data=False)
    ctl.start()
    rec.wait_listening("127.0.0.1", port)
    return ctl, port


def servers(work):
    ca, cert, key = make_ca(work)
    aio, port = aiosmtpd_server(cert, key)
    yield "aiosmtpd", port
    aio.stop()
    sink = rec.SinkServer("127.0.0.1")
    yield "smtp-sink", sink.port
    sink.stop()
    if os.geteuid() != 0 or shutil.which("postfix") is None:
        print("postfix: skipped (needs root and postfix)")
        return
    os.chmod(work, 0o755)
    try:
        pf = rec.PostfixServer(work, cert, key)
    except Exception as e:      # start-up needs a sane postfix install
        print("postfix: skipped (%s)" % e)
        return
    try:
        yield "postfix", pf.port
    finally:
        pf.stop()


def lint(paths):
    """Every script loads, carries the header the suites promise, has a
    unique id, and is listed in the suites' README."""
    with open(os.path.join(SUITES, "README.md")) as f:
        readme = f.read()
    ids = {}
    for path in paths:
        r = subprocess.run([RUNNER, "-w", path], capture_output=True,
                           text=True, timeout=30)
        head = dict(l.split(": ", 1) for l in r.stdout.splitlines()
                    if re.match(r"^(id|title|rfc|level): ", l))
        base = os.path.basename(path)[:-5]
        check(r.returncode == 0 and len(head) == 4,
              "%s loads, has id, title, rfc and level" % base)
        ids.setdefault(head.get("id"), []).append(base)
        check("`%s`" % base in readme, "%s listed in README.md" % base)
    dup = [i for i, b in ids.items() if len(b) > 1]
    check(not dup, "script ids are unique %s" % dup)


work = tempfile.mkdtemp(prefix="sp-conf-")
paths = scripts()
check(len(paths) >= 90, "%d suite scripts found" % len(paths))
lint(paths)
observed = {}
dump = os.environ.get("SP_CONF_DUMP")
for name, port in servers(work):
    for path, v, out, took in run_all(name, port, paths):
        sid = os.path.basename(path)[:-5]
        observed.setdefault(sid, {})[name] = v
        want = EXPECTED.get(sid, ("?",) * 3)[COLS.index(name)]
        if v != want or (dump and v != P):
            print("=== %s on %s: %s (expected %s)\n%s" % (sid, name, v,
                                                        want, out))
        note = NOTES.get(sid, {}).get(name)
        check(v == want, "%s on %s: %s%s" % (sid, name, v,
                                             " (%s)" % note if note else ""))

# D2/V1 say "one reply AND one message stored": where aiosmtpd passed a
# smuggling probe, its store must hold that probe's message exactly
# once, with the smuggled commands inside it, and no message of its own
# for the smuggled part.
for sid, d in sorted(observed.items()):
    if not sid.startswith(("V1-", "D2-")) or d.get("aiosmtpd") != P:
        continue
    subj = ("Subject: V1 %s\r\n" % sid[len("V1-smuggling-"):] if
            sid.startswith("V1-") else "Subject: D2\r\n").encode()
    mine = [m for m in STORED if m.startswith(subj)]
    check(len(mine) == 1 and (b"smuggled" in mine[0] or b"after" in mine[0]),
          "%s on aiosmtpd: one message stored, smuggled part inside" % sid)
check(not any(m.startswith(b"Subject: smuggled") for m in STORED),
      "aiosmtpd stored no smuggled message of its own")
check(set(observed) == set(EXPECTED), "the table names every script")
check(all(c in NOTES.get(sid, {}) for sid, row in EXPECTED.items()
          for c, v in zip(COLS, row) if v == F),
      "every expected fail has a note")
if dump:
    for sid in sorted(observed):
        print("    %-40s (%s)," % ('"%s":' % sid, ", ".join(
            {"pass": "P", "fail": "F", "skip": "S"}.get(
                observed[sid].get(c, "-"), repr(observed[sid].get(c)))
            for c in COLS)))
done()
