#!/usr/bin/env python3
"""Hostile traffic against smtp-decode: floods, endless replies and lines,
deep MIME, many flows.  Each must decode with exit 0, say what it saw
through the named anomaly or counter, and stay within bounded memory
(peak RSS measured from the kernel's rusage of the child)."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapgen  # noqa: E402

BUILD = os.environ.get("SP_BUILD_DIR", "build")
DECODE = os.path.join(BUILD, "tools", "smtp-decode", "smtp-decode")
RSS_CAP_MB = 64


def sanitized():
    """ASan's shadow memory and quarantine make RSS meaningless there."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "SP_ASAN:BOOL=ON" in f.read()
    except OSError:
        return False


SANITIZED = sanitized()
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def decode(path, *opts):
    """Run smtp-decode -j 1; return (records, exit status, peak RSS MB).
    The peak comes from GNU time (the kernel's ru_maxrss of that run)."""
    with tempfile.NamedTemporaryFile() as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name, DECODE,
                            "--no-progress", "-j", "1", *opts, path],
                           capture_output=True, timeout=300)
        rss = int(open(t.name).read().split()[-1]) / 1024
    recs = [json.loads(x) for x in p.stdout.decode().splitlines()]
    return recs, p.returncode, rss


def anomaly_names(rec):
    return {a["name"] for a in rec["anomalies"]}


def hello(c):
    c.server(b"220 mx.example ESMTP\r\n")
    c.client(b"EHLO c.example\r\n")
    c.server(b"250-mx.example\r\n250 PIPELINING\r\n")


def rcpt_flood(w):
    c = pcapgen.Conversation(w, 40000)
    hello(c)
    c.client(b"MAIL FROM:<a@example.org>\r\n")
    c.server(b"250 ok\r\n")
    c.client(b"RCPT TO:<r@example.net>\r\n" * 200000)
    c.server(b"250 ok\r\n" * 200000)
    for _ in range(3000):
        c.client(b"RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@x>\r\n")
        c.server(b"250 ok\r\n250 ok\r\n250 ok\r\n")
    c.client(b"QUIT\r\n")
    c.server(b"221 bye\r\n")
    c.close()


def endless_reply(w):
    c = pcapgen.Conversation(w, 40001)
    c.server(b"220 mx.example ESMTP\r\n")
    c.client(b"EHLO c.example\r\n")
    c.server(b"250-" + b"x" * 60 + b"\r\n")
    c.server((b"250-" + b"y" * 60 + b"\r\n") * 300000)
    c.close()


def endless_line(w):
    c = pcapgen.Conversation(w, 40002)
    c.server(b"220 mx.example ESMTP\r\n")
    c.client(b"EHLO " + b"z" * (16 << 20))
    c.close()


def deep_mime(w):
    c = pcapgen.Conversation(w, 40003)
    hello(c)
    c.client(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n")
    c.server(b"250 ok\r\n250 ok\r\n354 go\r\n")
    body = b"Subject: deep\r\n"
    for i in range(3000):
        body += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
    body += b"Content-Type: text/plain\r\n\r\nleaf\r\n"
    c.client(body + b".\r\n")
    c.server(b"250 queued\r\n")
    c.close()


def bare_lf_flood(w):
    c = pcapgen.Conversation(w, 40004)
    hello(c)
    c.client(b"NOOP\n" * 100000)
    c.server(b"250 ok\r\n" * 100000)
    c.close()


def many_flows(w):
    # Sessions that never end: the flow table must stay within its cap.
    for i in range(70000):
        c = pcapgen.Conversation(w, 1024 + i % 60000,
                                 client=(10, 1, i >> 8 & 255, i & 255))
        c.server(b"220 mx.example ESMTP\r\n")
        c.client(b"EHLO c\r\n")


def run(name, gen, *opts):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, name + ".pcap")
        w = pcapgen.Writer(path)
        gen(w)
        w.close()
        recs, rc, rss = decode(path, *opts)
    print("%-14s exit %d, %d records, peak RSS %.1f MB" % (name, rc, len(recs), rss))
    check(rc == 0, name + ": exit status 0")
    if not SANITIZED:
        check(rss < RSS_CAP_MB, "%s: peak RSS %.1f MB under %d MB" % (name, rss, RSS_CAP_MB))
    return recs


def main():
    if not os.access(DECODE, os.X_OK):
        print("no smtp-decode at", DECODE)
        return 77
    if SANITIZED:
        print("ASan build: memory is checked by the sanitizer, not by RSS")
    recs = run("rcpt_flood", rcpt_flood)
    check(len(recs) == 1, "rcpt_flood: one session")
    if recs:
        t = recs[0]["transactions"]
        check(t[0]["rcpt_count"] == 200000, "rcpt_flood: every RCPT counted")
        check(len(t[0]["rcpt_to"]) <= 1000, "rcpt_flood: recipients kept within max_rcpts")
        check("smtp_too_many_recipients" in anomaly_names(recs[0]),
              "rcpt_flood: smtp_too_many_recipients")
        check(len(t) == 1000 and recs[0].get("transactions_dropped", 0) == 2001,
              "rcpt_flood: 1000 transactions kept, 2001 counted as dropped")
    recs = run("endless_reply", endless_reply)
    check(len(recs) == 1 and "smtp_reply_too_many_lines" in anomaly_names(recs[0]),
          "endless_reply: smtp_reply_too_many_lines")
    recs = run("endless_line", endless_line)
    check(len(recs) == 1 and "smtp_line_too_long" in anomaly_names(recs[0]),
          "endless_line: smtp_line_too_long")
    recs = run("deep_mime", deep_mime)
    check(len(recs) == 1 and "mime_depth_limit" in anomaly_names(recs[0]),
          "deep_mime: mime_depth_limit")
    if recs and recs[0]["transactions"]:
        msg = recs[0]["transactions"][0].get("message", {})
        check(msg.get("complete") is True, "deep_mime: the message itself is complete")
    recs = run("bare_lf_flood", bare_lf_flood)
    if recs:
        check(len(recs[0]["anomalies"]) <= 1000, "bare_lf_flood: anomalies capped per session")
        check("smtp_bare_lf" in anomaly_names(recs[0]), "bare_lf_flood: smtp_bare_lf")
    # 70000 sessions left open, with the flow cap the admin chooses: the
    # oldest are ended (and reported) to stay within it and its memory.
    recs = run("many_flows", many_flows, "--max-flows", "8000")
    check(len(recs) == 70000, "many_flows: every session reported (%d)" % len(recs))
    ends = {}
    for r in recs:
        ends[r["flow"]["end"]] = ends.get(r["flow"]["end"], 0) + 1
    print("  many_flows ends:", ends)
    check(ends.get("evicted") == 62000 and ends.get("eof") == 8000,
          "many_flows: 62000 evicted past the cap, 8000 open at the end")
    print("test_hostile: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main())
