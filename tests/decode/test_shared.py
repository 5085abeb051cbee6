"""smtp-decode on the third-party captures in $SP_SHARED_CAPTURES.

Every capture of MANIFEST.tsv decodes with exit status 0 (except
suricata-verify/smtp-to-comma.pcap, corrupt upstream after 18 packets:
exit 1, a message naming the file and the offset, and what the 18
readable packets hold still decoded), and every record validates
against the schema.

Zeek baselines (zeek/<name>.smtp.log): our --format zeek rows are
compared with Zeek's on helo, mailfrom, rcptto, from, to, subject,
last_reply and trans_depth (rcptto and to are Zeek sets: compared as
sets).  Suricata expectations (suricata-verify/*.expected.yaml): every
check filtering event_type smtp or fileinfo is evaluated on our --format
eve events (fileinfo: one per named part), on the keys we emit.  Each
disagreement is either fixed in the code or listed in KNOWN with the
reason, found by reading the bytes (tshark -z follow,tcp,ascii or our
--dialogue); a KNOWN entry that no longer disagrees fails too, so the
list stays true.

FIELD.md failure cases: reply codes outside Suricata's list matched to
their commands; pipelined BDAT in one segment; TCP gaps; mid-stream;
RFC 2231 file names; message/rfc822 outer headers kept; one-sided
captures.  Exit 0 all passed, 1 a failure, 77 no shared captures.
"""
import csv
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decodelib as dl  # noqa: E402

ZF = ["trans_depth", "helo", "mailfrom", "rcptto", "from", "to", "subject",
      "last_reply"]
ZSETS = {"rcptto", "to"}

# (capture, row, field) -> why Zeek and we differ.  Checked against the
# bytes; each must still differ (else it is stale and fails).
KNOWN_ZEEK = {
    ("zeek/http-connect-with-smtp.pcap", 0, "*"):
        "SMTP inside an HTTP CONNECT tunnel (port 8240): Zeek's tunnel "
        "analyzer strips the CONNECT exchange; we do not decode HTTP, so "
        "the client's 'CONNECT ...' line and the proxy's 'HTTP/1.0 200' "
        "make a first, empty transaction (trans_depth 1) and the mail is "
        "trans_depth 2",
    ("zeek/smtp-bdat-cmd-chunk-size-overflow2.pcap", 0, "last_reply"):
        "Zeek's last_reply is the last reply sent while the transaction "
        "was open, whatever it answered (here 521 to an invalid BDAT "
        "size); ours is the final reply to the end of a message, and no "
        "message was sent",
    ("zeek/smtp-bdat-cmd-chunk-size-overflow.pcap", 0, "last_reply"):
        "as above (521 to a size beyond INT64_MAX)",
    ("zeek/smtp-bdat-cmd-invalid.pcapng", 0, "last_reply"): "as above (521)",
    ("zeek/smtp-bdat-cmd-invalid.pcapng", 1, "last_reply"): "as above (521)",
    ("zeek/smtp-bdat-cmd-invalid.pcapng", 2, "last_reply"): "as above (521)",
    ("zeek/smtp-bdat-cmd-negative-chunk-size.pcap", 0, "last_reply"):
        "as above (521 to BDAT -1 LAST)",
    ("zeek/smtp-mail-transactions-invalid.pcap", 1, "last_reply"):
        "Zeek logs the last reply of the session (500 to a garbage "
        "line); ours is the transaction's own final reply (503 to DATA)",
    ("zeek/smtp-mail-transactions-invalid.pcap", 2, "*"):
        "Zeek starts a new transaction only on MAIL after a finished "
        "one; we count every MAIL FROM (the client sends MAIL twice "
        "without RSET, and a DATA with no MAIL), so trans_depth shifts "
        "and we log 5 rows to Zeek's 3",
    ("zeek/smtp-one-side-only.pcap", 1, "trans_depth"):
        "client-only capture: Zeek never sees the 250 that ends "
        "transaction 1, so both are trans_depth 1; we number them 1, 2",
    ("zeek/smtp-bdat-gap.pcap", 0, "to"):
        "BDAT 200 is followed by a 1000-byte hole (the chunk's last 100 "
        "bytes and 900 more), then DATA, which the server takes (354): "
        "the lost bytes ended the BDAT transaction.  We append the DATA "
        "content to the open BDAT message (complete=false, 100 bytes "
        "missing), so its To/Subject show; Zeek logs the headers '-'",
    ("zeek/smtp-bdat-gap.pcap", 0, "subject"): "as above",
    ("zeek/tls-smtp-starttls.pcap", 0, "*"):
        "a session with no MAIL: Zeek logs a row at STARTTLS (helo, "
        "last_reply 220); our Zeek writer writes a row per transaction "
        "(the session record has helo and tls.started)",
}


def manifest():
    with open(os.path.join(dl.SHARED, "MANIFEST.tsv")) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def ports_args(row):
    ports = [p for p in row["smtp_ports"].split(",") if p.strip()]
    extra = sorted(set(ports) - {"25", "465", "587", "2525"})
    if not extra:
        return []
    return ["--ports", ",".join(["25", "465", "587", "2525"] + extra)]


def check_decode(r, rows):
    out = {}
    for row in rows:
        f = row["file"]
        path = os.path.join(dl.SHARED, f)
        rc, recs, err = dl.records(["--dialogue"] + ports_args(row) + [path])
        out[f] = recs
        errs = [e for x in recs for e in dl.schema_errors(x)]
        if f.endswith("smtp-to-comma.pcap"):
            m = re.search(re.escape(path) + r": .* at offset (\d+) \(after "
                          r"(\d+) packets\)", err)
            r.check(rc == 1 and m and m.group(2) == "18" and recs and
                    recs[0]["transactions"], f + ": exit 1 naming the file, "
                    "offset %s, after 18 packets; their records written"
                    % (m.group(1) if m else "?"), "rc=%d %r" % (rc, err))
        else:
            r.check(rc == 0 and not err.strip(), f + ": exit 0",
                    "rc=%d %s" % (rc, err[:150]))
        r.check(not errs, f + ": %d records valid" % len(recs),
                "; ".join(errs[:2]))
    return out


def zeek_rows(text):
    fields, rows = None, []
    for line in text.splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"))))
    return sorted(rows, key=lambda w: (w["id.orig_p"], int(w["trans_depth"])))


def zval(field, v):
    if v is None:
        return None
    return set(v.split(",")) if field in ZSETS else v


def check_zeek(r, rows):
    used = set()
    for row in rows:
        f = row["file"]
        if not f.startswith("zeek/"):
            continue
        log = re.sub(r"\.pcap(ng)?$", ".smtp.log", os.path.join(dl.SHARED, f))
        if not os.path.exists(log):
            continue
        with open(log) as fh:
            want = zeek_rows(fh.read())
        rc, out, _ = dl.run(["--format", "zeek"] + ports_args(row) +
                            [os.path.join(dl.SHARED, f)])
        got = zeek_rows(out.decode())
        for i in range(max(len(want), len(got))):
            w = want[i] if i < len(want) else {}
            g = got[i] if i < len(got) else {}
            bad = [k for k in ZF if zval(k, w.get(k)) != zval(k, g.get(k))]
            known = [k for k in bad if (f, i, k) in KNOWN_ZEEK]
            star = (f, i, "*") in KNOWN_ZEEK or any(
                (f, j, "*") in KNOWN_ZEEK for j in range(i))
            for k in known:
                used.add((f, i, k))
            if star:
                used.add(next((f, j, "*") for j in range(i, -1, -1)
                              if (f, j, "*") in KNOWN_ZEEK))
            rest = [] if star else [k for k in bad if k not in known]
            what = "%s zeek row %d: %s" % (f, i + 1, ", ".join(ZF))
            if r.check(not rest, what, "; ".join(
                    "%s zeek=%r ours=%r" % (k, w.get(k), g.get(k))
                    for k in rest)) and (known or (star and bad)):
                print("     known: " + "; ".join(
                    "%s zeek=%r ours=%r" % (k, w.get(k), g.get(k))
                    for k in bad))
    for k in KNOWN_ZEEK:
        r.check(k in used, "KNOWN_ZEEK %s row %d %s still differs" % k,
                "stale entry: " + KNOWN_ZEEK[k][:60])


# --- Suricata ---

SURI_KEYS = re.compile(r"^(src_ip|dest_ip|src_port|dest_port|proto|tx_id|"
                       r"smtp\.(helo|mail_from|rcpt_to\[\d+\])|"
                       r"email\.(from|subject|date|message_id|"
                       r"(to|cc|attachment|url)\[\d+\])|"
                       r"fileinfo\.(filename|size|sha256))$")

# (expected.yaml, check index) -> why we differ from Suricata's
# expectation (each checked against the bytes).
_BARE = ("the client wrote MAIL FROM:blah@smtp.lab.com and RCPT TO:test@"
         "wut.com without the angle brackets RFC 5321 4.1.2 requires (we "
         "raise smtp_bad_path); Suricata logs the argument as sent, our "
         "EVE writer always writes <address>")
_FW = ("IPS test: the rules in its suricata.yaml drop bob's transaction, "
       "so Suricata never logs it; a passive decoder sees it delivered")
_NOSCHEME = ("URL logged without its scheme: Suricata's log-url-scheme "
             "is off in that test's configuration; we always keep it")
_NOTX = ("a session with no MAIL: Suricata logs a transaction for the "
         "HELO alone; our EVE writer writes one event per transaction")
KNOWN_SURI = {
    ("bug-6207-1.expected.yaml", 0): _BARE,
    ("bug-6207-1.expected.yaml", 1): _BARE,
    ("bug-6207-2.expected.yaml", 0): _BARE,
    ("bug-6207-2.expected.yaml", 1): _BARE,
    ("ruletype-firewall-128-smtp-rset-next-tx-delivered.ruletype-firewall-"
     "129-smtp-rset-next-tx-blocked-sender.expected.yaml", 3): _FW,
    ("ruletype-firewall-135-smtp-multi-mail-accept.ruletype-firewall-136-"
     "smtp-multi-mail-blocked-sender.expected.yaml", 3): _FW,
    ("ruletype-firewall-135-smtp-multi-mail-accept.ruletype-firewall-136-"
     "smtp-multi-mail-blocked-sender.expected.yaml", 1):
        _FW + " (and the third, alice's again, after it)",
    ("mime-dec-parse-line-test02.expected.yaml", 0): _NOSCHEME,
    ("smtp-extract-url-schemes.smtp-url-schemes-bug-5174.expected.yaml",
     0): _NOSCHEME,
    ("smtp-extract-url-schemes.expected.yaml", 0):
        "same four URLs, other order: Suricata lists them by its "
        "configured scheme list (ftp, https, http); we list them as they "
        "appear in the message",
    ("mime-dec-parse-long-filename01.expected.yaml", 1):
        "Suricata cuts file names to 255 bytes; we keep all 268",
    ("mime-dec-parse-long-filename01.expected.yaml", 3): "as above",
    ("mime-stream-depth.expected.yaml", 0):
        "its suricata.yaml sets a stream depth: Suricata stops the 4th "
        "file at 63891 bytes; we decode 326353 of it (complete=false: "
        "the capture lost 623 bytes of it)",
    ("mime-stream-depth.expected.yaml", 1): "as above",
    ("smtp-mime-encap-8649-baseline.expected.yaml", 3):
        "single-part message: its body is 32 bytes, the final CRLF "
        "included (the CRLF before CRLF.CRLF is message text, RFC 5321 "
        "4.1.1.4; Python's email agrees); Suricata's file ends at 30",
    ("smtp-mime-encap-8649-combined.expected.yaml", 3): "as above",
    ("smtp-long-command.expected.yaml", 0): _NOTX,
    ("smtp-url-base64.expected.yaml", 0):
        "the header line 'charset=\"utf-8\"' after 'Content-Type: "
        "text/html;' is not indented and has no colon: no header and no "
        "continuation (RFC 5322 2.2, 3.2.2), so the body starts there "
        "for us (and Python's email); Suricata reads on, takes the "
        "base64 encoding and finds the URL inside",
}


def flatten(obj, prefix="", out=None):
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            flatten(v, prefix + k + ".", out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            flatten(v, prefix[:-1] + "[%d]." % i, out)
    else:
        out[prefix[:-1]] = obj
    return out


def our_events(path, row, recs):
    rc, out, _ = dl.run(["--format", "eve"] + ports_args(row) + [path])
    evs = [flatten(json.loads(x)) for x in out.decode().splitlines()]
    files = []
    txs = [t for x in recs for t in x["transactions"]]
    for e, t in zip([e for e in evs], txs):
        for p in t.get("message", {}).get("parts", []):
            if p.get("filename"):
                d = dict(e)
                d.update({"event_type": "fileinfo",
                          "fileinfo.filename": p["filename"],
                          "fileinfo.size": p["size"],
                          "fileinfo.sha256": p["sha256"]})
                files.append(d)
    return evs + files


def suri_checks(yml):
    import yaml
    with open(yml) as f:
        d = yaml.safe_load(f) or {}
    for i, c in enumerate(d.get("checks") or []):
        flt = (c or {}).get("filter")
        # Checks kept for older Suricata versions only are not ours.
        req = dict((c or {}).get("requires") or {})
        req.update((flt or {}).get("requires") or {})
        if not flt or "lt-version" in req:
            continue
        m = flt.get("match") or {}
        if m.get("event_type") not in ("smtp", "fileinfo"):
            continue
        keys = {k: v for k, v in m.items() if SURI_KEYS.match(k)}
        lst = lambda v: [v] if isinstance(v, str) else list(v or [])
        if keys:
            yield (i, flt.get("count"), m["event_type"], keys,
                   lst(m.get("has-key")), lst(m.get("not-has-key")))


def check_suricata(r, rows, decoded):
    try:
        import yaml  # noqa: F401
    except ImportError:
        print("note: python3-yaml missing; Suricata checks skipped")
        return
    used = set()
    for row in rows:
        f = row["file"]
        if not f.startswith("suricata-verify/"):
            continue
        base = re.sub(r"\.pcap(ng)?$", "", os.path.join(dl.SHARED, f))
        ymls = [os.path.join(os.path.dirname(base), y) for y in
                row["expected_files"].split(",") if y.endswith(
                    ".expected.yaml")]
        path = os.path.join(dl.SHARED, f)
        evs = None
        for yml in ymls:
            for i, count, et, keys, have, nothave in suri_checks(yml):
                if evs is None:
                    evs = our_events(path, row, decoded[f])
                n = len([e for e in evs if e.get("event_type") == et and all(
                    str(e.get(k)) == str(v) for k, v in keys.items())
                    and not any(k.startswith(nk) for nk in nothave
                                for k in e)
                    and all(any(k.startswith(hk) for k in e)
                            for hk in have)])
                ok = n == count if count is not None else n >= 1
                tag = (os.path.basename(yml), i)
                what = "%s check %d (%s %s): %s events" % (
                    os.path.basename(yml), i, et, ",".join(sorted(keys)),
                    count if count is not None else ">=1")
                if tag in KNOWN_SURI and not ok:
                    used.add(tag)
                    print("known %s: %s" % (what, KNOWN_SURI[tag]))
                    continue
                r.check(ok, what, "we have %d; want %r" % (n, keys))
    for k in KNOWN_SURI:
        r.check(k in used, "KNOWN_SURI %s check %d still differs" % k)


# --- FIELD.md failure cases ---

SURICATA_CODES = {211, 214, 220, 221, 235, 250, 251, 252, 334, 354, 421,
                  450, 451, 452, 455, 500, 501, 502, 503, 504, 521, 530,
                  534, 535, 538, 550, 551, 552, 553, 554, 555, 200, 212,
                  213, 215, 216, 217, 218, 219}


def by_name(decoded, name):
    return next((v for k, v in decoded.items() if k.endswith("/" + name)),
                None)


def check_field(r, decoded):
    odd = [(f, d["code"]) for f, recs in decoded.items() for x in recs
           for d in x.get("dialogue", []) if d["type"] == "reply"
           and d["code"] not in SURICATA_CODES and d["code"] != 0]
    # Not counted: sessions where the client sent no command at all (a
    # plaintext server answering a TLS ClientHello with 402s, in
    # smtp-errors on port 465): there is nothing to match.
    unmatched = [(f, d["code"]) for f, recs in decoded.items() for x in recs
                 if any(d["type"] == "command" for d in x.get("dialogue", []))
                 for d in x.get("dialogue", []) if d["type"] == "reply"
                 and d["code"] not in SURICATA_CODES and d["code"] != 0
                 and "answers" not in d and d["code"] not in (220, 421, 554)]
    r.check(odd and not unmatched, "%d replies with codes outside "
            "Suricata's list (%s) are each matched to a command" % (
                len(odd), ",".join(sorted({str(c) for _, c in odd}))),
            repr(unmatched[:5]))
    for name in ("smtp-bdat-pipeline-8bitmime.pcap",
                 "smtp-bdat-pipelined-next-mail.pcap"):
        recs = by_name(decoded, name)
        if recs is None:
            continue
        txs = [t for x in recs for t in x["transactions"]]
        r.check(len(txs) == 2 and txs[0].get("method") == "BDAT" and all(
            t["message"]["complete"] and t["reply"]["code"] == 250 and
            t.get("queue_id") for t in txs),
            name + ": pipelined BDAT in one segment: a complete BDAT "
            "message and the next transaction's, each with its 250 and "
            "queue id")
    recs = by_name(decoded, "smtp-bdat-gap.pcap")
    if recs is not None:
        t = recs[0]["transactions"][0]
        r.check(t["message"]["complete"] is False and
                t["message"]["missing_bytes"] == 100 and
                t["reply"]["text"] == "OK: message queued",
                "smtp-bdat-gap: the gap is reported as 100 bytes missing "
                "from the message; the session goes on to its final reply")
    recs = by_name(decoded, "smtp-rfc2231.pcap")
    if recs is not None:
        names = [p.get("filename") for x in recs for t in x["transactions"]
                 for p in t.get("message", {}).get("parts", [])
                 if p.get("filename")]
        r.check(names == ["smtptest-2021-02-25T13-54-22Z-aefb2fc1308d62f4"
                          "b6c74769f69b13ddf80e995fd98ae442f3be499ea928c"
                          "67f..zip"], "smtp-rfc2231: RFC 2231 file name "
                "joined from its continuations", repr(names))
    recs = by_name(decoded, "smtp-attachment-msg.pcap")
    if recs is not None:
        m = recs[0]["transactions"][0]["message"]
        log = os.path.join(dl.SHARED, "zeek", "smtp-attachment-msg.smtp.log")
        with open(log) as fh:
            subj = zeek_rows(fh.read())[0]["subject"]
        r.check(m["headers"]["subject"] == subj and any(
            p["path"].count(".") == 1 for p in m["parts"]),
            "smtp-attachment-msg: outer Subject kept (%r) beside the "
            "attached message/rfc822" % subj, repr(m["headers"]))
    recs = by_name(decoded, "smtp-one-side-only.pcap")
    if recs is not None:
        subs = [t.get("message", {}).get("headers", {}).get("subject")
                for x in recs for t in x["transactions"]]
        r.check(subs == ["Hello1!", "Hello2!"], "zeek smtp-one-side-only "
                "(client only): both messages decoded", repr(subs))
    recs = by_name(decoded, "smtp-quit.pcap")
    if recs is not None:
        r.check(len(recs) == 1, "suricata smtp-quit (one-sided): a session "
                "record")


def check_midstream(r, tmp_rows):
    """A shared capture with its handshake cut off still decodes its
    messages (pcapmangle midstream: the first 3 packets dropped)."""
    if not os.access(dl.MANGLE, os.X_OK):
        return
    import subprocess
    import tempfile
    src = os.path.join(dl.SHARED, "zeek", "smtp.pcap")
    if not os.path.exists(src):
        return
    with tempfile.TemporaryDirectory() as d:
        v = os.path.join(d, "mid.pcap")
        subprocess.run([dl.MANGLE, "nohandshake", src, v],
                       capture_output=True)
        _, a, _ = dl.records([src])
        _, b, _ = dl.records([v])
        key = lambda rs: sorted(t["message"]["sha256"] for x in rs
                                for t in x["transactions"]
                                if "message" in t)
        r.check(key(a) == key(b) and key(a), "zeek smtp.pcap without its "
                "handshakes: the same %d messages" % len(key(a)))


def main():
    dl.need_decoder()
    if not os.path.isfile(os.path.join(dl.SHARED, "MANIFEST.tsv")):
        dl.skip("no shared captures at " + dl.SHARED)
    r = dl.Results("decode/shared")
    rows = manifest()
    decoded = check_decode(r, rows)
    check_zeek(r, rows)
    check_suricata(r, rows, decoded)
    check_field(r, decoded)
    check_midstream(r, rows)
    r.finish()


if __name__ == "__main__":
    main()
