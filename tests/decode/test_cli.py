"""smtp-decode's command line (issue 4 interface requirements).

Exit status 0/1/2 with messages naming the file (and offset for a
truncated capture) while still writing what was decoded; stdin "-";
-o FILE; --format zeek (Zeek's header lines and #fields, one row per
transaction) and eve (Suricata smtp events); --events (command, reply,
transaction and anomaly objects carrying the session uid); --stats;
--extract (each .eml hashes to the record's and the ground truth's
message sha256, each part file is named by its sha256 and hashes to
it, and hostile MIME file names in a crafted capture create nothing
outside DIR); --ports and --no-content-detection; --show-secrets;
--help and -V; the man page renders.  Exit 0 all passed, 1 a failure,
77 smtp-decode not built.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decodelib as dl  # noqa: E402

# Zeek 6's smtp.log columns (base/protocols/smtp/main.zeek, Info).
ZEEK_FIELDS = ("ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth "
               "helo mailfrom rcptto date from to cc reply_to msg_id "
               "in_reply_to subject x_originating_ip first_received "
               "second_received last_reply path user_agent tls fuids").split()


def cap(case):
    return os.path.join(dl.CAPS, case + ".pcap")


def check_exit(r, tmp):
    rc, out, err = dl.run([cap("basic")])
    r.check(rc == 0 and out.count(b"\n") == 1 and not err, "exit 0 and one "
            "record for a good capture", "rc=%d %s" % (rc, err))
    missing = os.path.join(tmp, "nonexistent.pcap")
    rc, out, err = dl.run([missing])
    r.check(rc == 1 and missing in err, "missing file: exit 1, message "
            "names it", "rc=%d %r" % (rc, err))
    garbage = os.path.join(tmp, "garbage.pcap")
    with open(garbage, "wb") as f:
        f.write(bytes(range(256)) * 8)
    rc, out, err = dl.run([garbage])
    r.check(rc == 1 and garbage in err, "garbage file: exit 1, message "
            "names it", "rc=%d %r" % (rc, err))
    # multi_rset cut inside its last data record: the transactions read
    # before the cut are still written.
    with open(cap("multi_rset"), "rb") as f:
        data = f.read()
    cut = len(data) - 200
    trunc = os.path.join(tmp, "trunc.pcap")
    with open(trunc, "wb") as f:
        f.write(data[:cut])
    rc, recs, err = dl.records([trunc])
    m = re.search(re.escape(trunc) + r".* at offset (\d+)", err)
    r.check(rc == 1 and m and int(m.group(1)) <= cut, "truncated file: "
            "exit 1, message names the file and an offset <= %d" % cut,
            "rc=%d %r" % (rc, err))
    txs = [t for x in recs for t in x.get("transactions", [])
           if "message" in t]
    want = [t["message"]["sha256"] for t in
            dl.load_truth("multi_rset")["sessions"][0]["transactions"]]
    r.check(len(recs) == 1 and [t["message"]["sha256"] for t in txs][:3] ==
            want[:3], "truncated file: what was decoded is still written "
            "(%d messages)" % len(txs))
    for args, what in ((["--bogus", cap("basic")], "--bogus"),
                       (["--format", "xml", cap("basic")], "--format"),
                       (["--ports", "0", cap("basic")], "--ports"),
                       (["--ports", "70000", cap("basic")], "--ports"),
                       ([], "give capture files")):
        rc, out, err = dl.run(args)
        r.check(rc == 2 and what in err and not out, "usage error %r: exit "
                "2, message names it, no output" % " ".join(args[:2]),
                "rc=%d %r" % (rc, err[:120]))


def check_io(r, tmp):
    rc, ref, _ = dl.run([cap("sample")])
    with open(cap("sample"), "rb") as f:
        rc2, out, err = dl.run(["-"], stdin=f.read())
    r.check(rc2 == 0 and out == ref, "stdin '-' gives the same records as "
            "the file", err)
    # Two threads share one reading of standard input as of a file.
    rc, one, _ = dl.run(["-j", "1", cap("interleaved")])
    with open(cap("interleaved"), "rb") as f:
        whole = f.read()
    rc2, two, err = dl.run(["-j", "2", "-"], stdin=whole)
    r.check(rc == 0 and rc2 == 0 and len(one.splitlines()) > 1 and
            sorted(two.splitlines()) == sorted(one.splitlines()),
            "stdin with -j 2: the records of one thread on the file", err)
    rc2, _, err = dl.run(["-j", "2", "-"], stdin=whole[:len(whole) - 7])
    r.check(rc2 == 1 and "stdin: truncated record at offset" in err,
            "cut stdin with -j 2: exit 1, the cut named", err[:200])
    o = os.path.join(tmp, "out.json")
    rc3, out, err = dl.run(["-o", o, cap("sample")])
    with open(o, "rb") as f:
        r.check(rc3 == 0 and not out and f.read() == ref, "-o FILE holds "
                "the records, stdout empty")


def zeek_rows(text):
    lines = text.splitlines()
    heads = [x for x in lines if x.startswith("#")]
    rows = [x.split("\t") for x in lines if not x.startswith("#")]
    fields = next((x.split("\t")[1:] for x in heads
                   if x.startswith("#fields\t")), [])
    return heads, fields, rows


def check_zeek(r):
    fields = ZEEK_FIELDS
    base = os.path.join(dl.SHARED, "zeek", "smtp-attachment-msg.smtp.log")
    if os.path.exists(base):
        with open(base) as f:
            fields = zeek_rows(f.read())[1]
    for case in ("multi_rset", "sample", "interleaved"):
        rc, out, err = dl.run(["--format", "zeek", cap(case)])
        _, recs, _ = dl.records([cap(case)])
        heads, got, rows = zeek_rows(out.decode())
        tags = [h.split("\t")[0].split(" ")[0] for h in heads]
        r.check(rc == 0 and tags == ["#separator", "#set_separator",
                                     "#empty_field", "#unset_field", "#path",
                                     "#open", "#fields", "#types", "#close"]
                and "#path\tsmtp" in heads, case + " zeek: header lines",
                repr(tags))
        r.check(got == fields, case + " zeek: #fields are Zeek's", repr(got))
        txs = [(x, t) for x in recs for t in x["transactions"]]
        r.check(len(rows) == len(txs) and all(len(w) == len(fields)
                                              for w in rows),
                case + " zeek: one full row per transaction (%d)" % len(txs),
                "%d rows" % len(rows))
        col = {k: i for i, k in enumerate(fields)}
        good = all(w[col["uid"]] == x["uid"] and
                   w[col["mailfrom"]] == t["mail_from"]["address"] and
                   w[col["rcptto"]].split(",") == [
                       a["address"] for a in t["rcpt_to"]] and
                   w[col["helo"]] == x["helo"] and
                   int(w[col["trans_depth"]]) == t["index"]
                   for w, (x, t) in zip(sorted(rows, key=lambda w: (
                       w[col["uid"]], int(w[col["trans_depth"]]))), sorted(
                       txs, key=lambda p: (p[0]["uid"], p[1]["index"]))))
        r.check(good, case + " zeek: uid, helo, mailfrom, rcptto, "
                "trans_depth agree with the records")


def check_eve(r):
    rc, out, err = dl.run(["--format", "eve", cap("sample")])
    evs = [json.loads(x) for x in out.decode().splitlines()]
    _, recs, _ = dl.records([cap("sample")])
    rec = recs[0]
    txs = rec["transactions"]
    r.check(rc == 0 and len(evs) == len(txs) and all(
        e["event_type"] == "smtp" and e["proto"] == "TCP" and
        e["src_ip"] == rec["flow"]["client"]["ip"] and
        e["src_port"] == rec["flow"]["client"]["port"] and
        e["dest_port"] == rec["flow"]["server"]["port"] for e in evs),
        "eve: one smtp event per transaction, src/dest from the flow")
    ok = True
    for e, t in zip(evs, txs):
        names = [p["filename"] for p in t["message"]["parts"]
                 if p.get("filename")]
        ok &= (e["smtp"]["helo"] == rec["helo"] and
               dl.strip_angle(e["smtp"]["mail_from"]) ==
               t["mail_from"]["address"] and
               [dl.strip_angle(a) for a in e["smtp"]["rcpt_to"]] ==
               [a["address"] for a in t["rcpt_to"]] and
               e["email"]["subject"] == t["message"]["headers"]["subject"]
               and e["email"]["attachment"] == names)
    r.check(ok, "eve: smtp.helo/mail_from/rcpt_to and email.subject/"
            "attachment agree with the records")


def check_events(r):
    rc, out, err = dl.run(["--events", cap("auth_plain")])
    evs = [json.loads(x) for x in out.decode().splitlines()]
    _, recs, _ = dl.records(["--dialogue", cap("auth_plain")])
    kinds = {e.get("event") for e in evs}
    r.check(rc == 0 and {"command", "reply", "transaction", "anomaly"} <=
            kinds, "--events: command, reply, transaction and anomaly "
            "objects", repr(kinds))
    r.check(all(e.get("uid") == recs[0]["uid"] for e in evs),
            "--events: every object carries the session uid")
    verbs = [e["verb"] for e in evs if e.get("event") == "command"]
    r.check(verbs == dl.our_dialogue(recs[0])[0], "--events: commands in "
            "the dialogue's order", repr(verbs))
    r.check("s3cret-PASS" not in out.decode(), "--events: secret redacted")


def check_stats(r):
    rc, out, err = dl.run(["--stats", cap("multi_rset")])
    m = re.search(r"sessions (\d+), transactions (\d+), messages (\d+)", err)
    r.check(rc == 0 and m and m.groups() == ("1", "4", "3"),
            "--stats: 1 session, 4 transactions, 3 messages on stderr",
            err[:200])
    r.check(re.search(r"gaps 0 \(0 bytes missing\)", err) is not None,
            "--stats: gap count")


def sha_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check_extract(r, tmp):
    for case in ("multipart", "nested_rfc822", "sample", "bdat"):
        d = os.path.join(tmp, "x-" + case)
        rc, recs, err = dl.records(["--extract", d, cap(case)])
        truth = [t["message"]["sha256"] for s in
                 dl.load_truth(case)["sessions"] for t in s["transactions"]]
        msgs = [t["message"] for x in recs for t in x["transactions"]
                if "message" in t]
        r.check(rc == 0 and [sha_file(os.path.join(d, m["file"]))
                             for m in msgs] == [m["sha256"] for m in msgs]
                == truth, case + " --extract: each .eml hashes to the "
                "record's and the ground truth's sha256")
        parts = [p for m in msgs for p in m["parts"] if "file" in p]
        r.check(parts and all(
            p["file"] == "parts/" + p["sha256"] and
            sha_file(os.path.join(d, p["file"])) == p["sha256"]
            for p in parts), case + " --extract: %d part files named by "
            "their sha256, content hashes to it" % len(parts))
        on_disk = sorted(os.path.relpath(os.path.join(a, f), d)
                         for a, _, fs in os.walk(d) for f in fs)
        r.check(on_disk == sorted({m["file"] for m in msgs} |
                                  {p["file"] for p in parts}),
                case + " --extract: no other files", repr(on_disk[:5]))


HOSTILE = [b"../../etc/passwd", b"/abs/path/evil", b"..", b"a/../../b",
           b"C:\\\\win\\\\evil.exe", b"x\x01y"]


def hostile_message():
    body = [b"From: <m@example.test>", b"To: <r@example.test>",
            b"Subject: names", b"MIME-Version: 1.0",
            b'Content-Type: multipart/mixed; boundary="BB"', b"",
            b"--BB", b"Content-Type: text/plain", b"", b"hi"]
    for i, name in enumerate(HOSTILE):
        body += [b"--BB", b"Content-Type: application/octet-stream",
                 b'Content-Disposition: attachment; filename="' + name + b'"',
                 b"", b"part %d" % i]
    body += [b"--BB", b"Content-Type: application/octet-stream",
             b"Content-Disposition: attachment; "
             b"filename*=UTF-8''..%2F..%2Ftmp%2Fsp-evil", b"", b"rfc2231",
             b"--BB--", b""]
    return b"\r\n".join(body)


def check_hostile(r, tmp):
    msg = hostile_message()
    pcap = os.path.join(tmp, "hostile.pcap")
    dl.craft_pcap(pcap, [
        ("s", b"220 mx.example.test ESMTP\r\n"),
        ("c", b"EHLO c.example.test\r\n"), ("s", b"250 mx\r\n"),
        ("c", b"MAIL FROM:<m@example.test>\r\n"), ("s", b"250 ok\r\n"),
        ("c", b"RCPT TO:<r@example.test>\r\n"), ("s", b"250 ok\r\n"),
        ("c", b"DATA\r\n"), ("s", b"354 go\r\n"),
        ("c", msg + b".\r\n"), ("s", b"250 queued as ABC123\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    jail = os.path.join(tmp, "jail")
    os.mkdir(jail)
    d = os.path.join(jail, "out")
    # /tmp is shared with other processes: look at the paths the
    # hostile names aim at, and at our own folders.
    aims = ["/tmp/sp-evil", "/abs/path/evil", "/abs", "/etc/passwd",
            os.path.join(tmp, "b"), os.path.join(jail, "b")]
    before = {a: os.path.exists(a) and os.stat(a).st_mtime for a in aims}
    tmp_before = set(os.listdir(tmp))
    rc, recs, err = dl.records(["--extract", d, pcap])
    r.check(rc == 0 and len(recs) == 1, "hostile names: crafted capture "
            "decodes", "rc=%d %s" % (rc, err))
    m = recs[0]["transactions"][0]["message"] if recs else {"parts": []}
    names = [p.get("filename") for p in m["parts"] if p.get("filename")]
    r.check(len(names) == len(HOSTILE) + 1 and m["sha256"] ==
            dl.sha256(msg), "hostile names: the names are reported, "
            "message sha256 right", repr(names))
    after = {a: os.path.exists(a) and os.stat(a).st_mtime for a in aims}
    r.check(os.listdir(jail) == ["out"] and set(os.listdir(tmp)) ==
            tmp_before and after == before,
            "hostile names: nothing created or changed outside DIR",
            repr({a: (before[a], after[a]) for a in aims
                  if before[a] != after[a]}))
    files = sorted(os.path.relpath(os.path.join(a, f), d)
                   for a, _, fs in os.walk(d) for f in fs)
    r.check(all(re.fullmatch(r"parts/[0-9a-f]{64}|messages/S[0-9a-f]{16}-"
                             r"\d+\.eml", f) for f in files),
            "hostile names: only digest- and uid-named files", repr(files))


def check_one_sided(r, tmp):
    """Regression: a client-only capture (no replies) with two
    messages.  No transaction can end before the session does, so the
    first message waits while the second is read; both must be in the
    record, each with its own transaction (record.c once kept one
    waiting message and dropped the first)."""
    msgs = [b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\n2nd\r\n"]
    ex = [("c", b"EHLO c.example.test\r\n")]
    for i, m in enumerate(msgs):
        ex += [("c", b"MAIL FROM:<a%d@example.test>\r\n" % i),
               ("c", b"RCPT TO:<b@example.test>\r\n"), ("c", b"DATA\r\n"),
               ("c", m + b".\r\n")]
    ex.append(("c", b"QUIT\r\n"))
    pcap = os.path.join(tmp, "oneside.pcap")
    dl.craft_pcap(pcap, ex)
    rc, recs, err = dl.records([pcap])
    got = [(t.get("mail_from", {}).get("address"),
            t.get("message", {}).get("sha256")) for x in recs
           for t in x["transactions"]]
    want = [("a%d@example.test" % i, dl.sha256(m)) for i, m in
            enumerate(msgs)]
    r.check(rc == 0 and got == want, "client-only capture: both messages "
            "kept, each with its envelope", repr(got))


def session(tmp, name, ex, sport=25):
    pcap = os.path.join(tmp, name + ".pcap")
    dl.craft_pcap(pcap, ex, sport=sport)
    return dl.records(["--dialogue", pcap])


def check_regressions(r, tmp):
    """Crafted sessions for bugs these tests found (see each note)."""
    hello = [("s", b"220 mx.example.test ESMTP\r\n"),
             ("c", b"EHLO c.example.test\r\n"), ("s", b"250 mx\r\n"),
             ("c", b"MAIL FROM:<a@example.test>\r\n"), ("s", b"250 ok\r\n"),
             ("c", b"RCPT TO:<b@example.test>\r\n"), ("s", b"250 ok\r\n")]
    # Port 465 used to force implicit TLS: a plaintext session there was
    # lost unread.  The first byte decides now.
    rc, recs, _ = session(tmp, "p465", hello + [
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")], sport=465)
    r.check(rc == 0 and len(recs) == 1 and recs[0].get("greeting", {}).get(
        "code") == 220 and not recs[0]["tls"]["implicit"],
        "regression: plaintext SMTP on port 465 is read")
    # A BDAT size beyond INT64_MAX: the server answers 521 and reads the
    # next line as a command; it was eaten as chunk data.
    rc, recs, _ = session(tmp, "bdatbig", hello + [
        ("c", b"BDAT 15555555557777777777 LAST\r\n"),
        ("s", b"521 5.5.4 Syntax: BDAT count [LAST]\r\n"),
        ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    verbs = dl.our_dialogue(recs[0])[0] if recs else []
    r.check(verbs[-2:] == ["BDAT", "QUIT"], "regression: QUIT after a BDAT "
            "with an overflowing size is a command", repr(verbs))
    # A MAIL inside an open transaction refused with 503 (nested MAIL,
    # RFC 5321 4.1.4): the first transaction goes on and gets the RCPT
    # and the message (it was closed at the second MAIL).
    rc, recs, _ = session(tmp, "nested", hello[:5] + [
        ("c", b"MAIL FROM:<x@example.test>\r\n"),
        ("s", b"503 5.5.1 Error: nested MAIL command\r\n"),
        ("c", b"RCPT TO:<b@example.test>\r\n"), ("s", b"250 ok\r\n"),
        ("c", b"DATA\r\n"), ("s", b"354 go\r\n"),
        ("c", b"Subject: n\r\n\r\nx\r\n.\r\n"),
        ("s", b"250 queued as N1\r\n"), ("c", b"QUIT\r\n"),
        ("s", b"221 bye\r\n")])
    got = sorted((t["mail_from"]["address"], len(t["rcpt_to"]),
                  "message" in t) for x in recs for t in x["transactions"])
    r.check(got == [("a@example.test", 1, True), ("x@example.test", 0,
                                                   False)],
            "regression: a refused nested MAIL leaves the first "
            "transaction open", repr(got))
    # Exim's final reply to BDAT LAST has two lines; the queue id is on
    # the last, which the transaction's reply text now is.
    rc, recs, _ = session(tmp, "exim", hello + [
        ("c", b"BDAT 20 LAST\r\nSubject: x\r\n\r\nbody\r\n"),
        ("s", b"250- 20 byte chunk, total 20\r\n250 OK id=1lHkUh-008hPw-NY"
              b"\r\n"), ("c", b"QUIT\r\n"), ("s", b"221 bye\r\n")])
    t = recs[0]["transactions"][0] if recs else {}
    r.check(t.get("queue_id") == "1lHkUh-008hPw-NY" and t["reply"]["text"]
            == "OK id=1lHkUh-008hPw-NY", "regression: queue id from the "
            "last line of a multi-line final reply", repr(t.get("reply")))


def check_ports(r):
    port = dl.load_truth("basic")["sessions"][0]["server"][1]
    _, recs, _ = dl.records(["--no-content-detection", cap("basic")])
    r.check(recs == [], "--no-content-detection: a non-SMTP port is not "
            "decoded")
    _, recs, _ = dl.records(["--no-content-detection", "--ports",
                             "25,%d" % port, cap("basic")])
    r.check(len(recs) == 1 and recs[0]["transactions"],
            "--ports with the server's port: decoded without content "
            "detection")
    _, recs, _ = dl.records([cap("basic")])
    r.check(len(recs) == 1, "content detection finds SMTP on port %d" % port)


def check_secrets(r):
    _, out, _ = dl.run([cap("auth_login")])
    _, shown, _ = dl.run(["--show-secrets", cap("auth_login")])
    r.check(b"s3cret-PASS" not in out and b"s3cret-PASS" in shown,
            "--show-secrets: password only with the option")
    _, out, _ = dl.run(["--format", "zeek", cap("auth_plain")])
    _, ev, _ = dl.run(["--format", "eve", cap("auth_plain")])
    r.check(b"s3cret" not in out + ev, "zeek and eve output: no secret")


def check_help(r):
    p = subprocess.run([dl.DECODE, "--help"], capture_output=True, text=True)
    r.check(p.returncode == 0 and "--extract DIR" in p.stdout and
            not p.stderr, "--help: exit 0, usage on stdout")
    p = subprocess.run([dl.DECODE, "-V"], capture_output=True, text=True)
    r.check(p.returncode == 0 and p.stdout.startswith("smtp-decode "),
            "-V: version")
    man = os.path.join(dl.SRC, "docs", "man", "smtp-decode.1")
    if shutil.which("man"):
        p = subprocess.run(["man", "-l", man], capture_output=True,
                           text=True, env=dict(os.environ, MANWIDTH="80"))
        r.check(p.returncode == 0 and "EXIT STATUS" in p.stdout and
                "warning" not in p.stderr, "man page renders",
                p.stderr[:200])
        opts = set(re.findall(r"--[a-z-]+", p.stdout))
        hopts = set(re.findall(r"--[a-z-]+", subprocess.run(
            [dl.DECODE, "--help"], capture_output=True,
            text=True).stdout))
        r.check(hopts <= opts, "man page documents every --option of "
                "--help", repr(sorted(hopts - opts)))
    else:
        print("note: man not installed; man page not rendered")


def main():
    dl.need_decoder()
    r = dl.Results("decode/cli")
    tmp = tempfile.mkdtemp(prefix="sp-dcli.")
    try:
        check_exit(r, tmp)
        check_io(r, tmp)
        check_zeek(r)
        check_eve(r)
        check_events(r)
        check_stats(r)
        check_extract(r, tmp)
        check_hostile(r, tmp)
        check_one_sided(r, tmp)
        check_regressions(r, tmp)
        check_ports(r)
        check_secrets(r)
        check_help(r)
    finally:
        shutil.rmtree(tmp)
    r.finish()


if __name__ == "__main__":
    main()
