"""smtp-decode against the recorded ground truth (issue 4 evidence).

For every captures/<case>.pcap with a <case>.json, run
`smtp-decode --dialogue --hashes`, validate every record against
tools/smtp-decode/session.schema.json, and compare each session with
what the recording client logged:

  endpoints; greeting code; HELO argument; client command verbs and
  server reply codes in order (clear-text part only; inside TLS the
  decoder sees records); per transaction with a message: MAIL FROM,
  RCPT TO with the code the server gave each RCPT, DATA/BDAT, final
  reply code, the queue id when the server printed one ("queued as"),
  message size and sha256, every leaf MIME part's sha256, size and
  filename, the decoded subject; TLS started for the STARTTLS cases;
  AUTH mechanism, user and outcome with the secret redacted, and with
  --show-secrets the secret equal to the one in the client stream;
  anomalies: smtp_smuggling once per lax end-of-data sequence found in
  the client stream by an independent scan (detail with both
  readings), smtp_starttls_injection, smtp_auth_plaintext for PLAIN and
  LOGIN, and none at all on the clean cases.

The expectations come from the ground-truth JSON (events, envelopes,
message digests) and from the raw .c2s stream (AUTH secrets, lax ends),
never from the decoder.  Exit 0 all passed, 1 a mismatch, 77 no tool.
"""
import base64
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decodelib as dl  # noqa: E402

# Cases that must decode with no anomaly at all.
CLEAN = {"basic", "pipelining", "multi_rset", "dotstuff", "multipart",
         "nested_rfc822", "bdat", "starttls", "auth_cram_md5", "smtputf8",
         "large", "ipv6", "interleaved"}
# Anomalies each other case must raise (it may raise related ones too,
# e.g. smtp_bare_lf next to smtp_smuggling).
EXPECT = {
    "auth_plain": {"smtp_auth_plaintext"},
    "auth_login": {"smtp_auth_plaintext"},
    "sample": {"smtp_auth_plaintext"},
    "smuggling": {"smtp_smuggling", "smtp_bare_lf"},
    "smuggling_postfix": {"smtp_smuggling", "smtp_bare_lf"},
    "starttls_injection": {"smtp_starttls_injection"},
    "starttls_injection_postfix": {"smtp_starttls_injection"},
}
# Anomalies allowed besides EXPECT (each explained).
ALLOWED = {
    # the smuggled "MAIL FROM" after a bare LF line end
    "smuggling": {"smtp_command_in_data", "mime_bare_lf"},
    # ...and Postfix answering the smuggled commands it ran: replies
    # with no command the RFC 5321 reading knows of
    "smuggling_postfix": {"smtp_command_in_data", "mime_bare_lf",
                          "smtp_unexpected_reply"},
}


def pair_replies(events):
    """(command line, reply event) pairs from ground-truth events.

    Replies answer commands in order (RFC 5321 4.1, RFC 2920 3.1); a
    line after a 334 is an AUTH response awaiting its own reply; a
    message after a 354 awaits the final reply."""
    pending, pairs, last = [], [], None
    for e in events:
        if e.get("tls"):
            continue
        if "c" in e:
            pending.append(e["c"])
        elif "data" in e and last == 354:
            pending.append("<data>")
        elif "r" in e:
            last = e["r"]
            if pending:
                pairs.append((pending.pop(0), e))
    return pairs


def leaf_parts(parts):
    paths = [p["path"] for p in parts]
    return [p for p in parts
            if not any(q.startswith(p["path"] + ".") for q in paths)
            and not p["content_type"].startswith("multipart/")]


def lax_ends(c2s):
    """Lax end-of-data sequences in the DATA contents of a client
    stream, as on the wire (CONFORMANCE.md V1): '.' after LF, CR, CRLF
    or CRLF NUL, then LF, CR, CRLF, CRCRLF or NUL CR LF, but not
    CRLF.CRLF itself.  Independent of the decoder's state machine."""
    count = 0
    for m in re.finditer(rb"(?:^|\r\n)DATA\r\n", c2s):
        start = m.end() - 2
        end = c2s.find(b"\r\n.\r\n", start)
        body = c2s[start:end + 5]
        for x in re.finditer(rb"(?:\r\n\x00|\r\n|\n|\r)\."
                             rb"(?:\x00\r\n|\r\r\n|\r\n|\n|\r)", body):
            s = x.group(0)
            if s != b"\r\n.\r\n" and not (
                    s.startswith(b"\n") and body[x.start() - 1:x.start()] == b"\r"):
                count += 1
    return count


def auth_secret(c2s, mech):
    """The secret the client sent, read from the client stream."""
    lines = c2s.split(b"\r\n")
    for i, line in enumerate(lines):
        if not line.upper().startswith(b"AUTH "):
            continue
        words = line.split()
        if mech == "PLAIN":
            resp = words[2] if len(words) > 2 else lines[i + 1]
            return base64.b64decode(resp).split(b"\0")[2].decode()
        if mech == "LOGIN":
            return base64.b64decode(lines[i + 2]).decode()
        if mech == "CRAM-MD5":
            return base64.b64decode(lines[i + 1]).split(b" ")[1].decode()
    return None


def check_tx(r, tag, exp, ours, rcpt_codes, final_line):
    r.check(dl.strip_angle(ours["mail_from"]["address"]) == exp["mail_from"],
            tag + " MAIL FROM", "%r" % ours["mail_from"]["address"])
    got = [(dl.strip_angle(x["address"]), x["reply"]["code"])
           for x in ours["rcpt_to"]]
    want = list(zip(exp["rcpt_to"], rcpt_codes))
    r.check(got == want, tag + " RCPT TO and codes", "%r != %r" % (got, want))
    r.check(ours["method"] == exp["method"], tag + " method " + exp["method"],
            ours["method"])
    r.check(ours["reply"]["code"] == exp["reply"], tag + " final reply %d"
            % exp["reply"], str(ours["reply"]["code"]))
    m = re.search(r"queued as ([0-9A-Za-z]+)", final_line or "")
    if m:
        r.check(ours.get("queue_id") == m.group(1), tag + " queue id "
                + m.group(1), str(ours.get("queue_id")))
    else:
        r.check("queue_id" not in ours, tag + " no queue id (none printed)",
                str(ours.get("queue_id")))
    em, om = exp["message"], ours["message"]
    r.check((om["size"], om["sha256"], om["complete"]) ==
            (em["len"], em["sha256"], True), tag + " message size and sha256",
            "%d %s" % (om["size"], om["sha256"]))
    got = [(p["sha256"], p["size"], p.get("filename"))
           for p in leaf_parts(om["parts"])]
    want = [(p["sha256"], p["decoded_len"], p.get("filename"))
            for p in em["leaf_parts"]]
    r.check(got == want, tag + " %d leaf parts (sha256, size, filename)"
            % len(want), "%r != %r" % (got, want))
    r.check(om.get("headers", {}).get("subject") == em["subject"],
            tag + " subject %r" % em["subject"],
            repr(om.get("headers", {}).get("subject")))


def check_session(r, case, s, rec, shown):
    tag = "%s:%d" % (case, s["client"][1])
    fl = rec["flow"]
    r.check([fl["client"]["ip"], fl["client"]["port"], fl["server"]["ip"],
             fl["server"]["port"]] == s["client"] + s["server"],
            tag + " endpoints")
    ev = [e for e in s["events"] if not e.get("tls")]
    r.check(rec.get("greeting", {}).get("code") == ev[0]["r"],
            tag + " greeting %d" % ev[0]["r"])
    helo = next(e["c"] for e in ev if "c" in e)
    r.check(rec.get("helo") == helo.split(" ", 1)[1], tag + " HELO",
            repr(rec.get("helo")))
    verbs, codes = dl.expected_dialogue(s)
    got_verbs, got_codes = dl.our_dialogue(rec)
    r.check(got_verbs == verbs, tag + " %d command verbs in order"
            % len(verbs), "%r != %r" % (got_verbs, verbs))
    r.check(got_codes == codes, tag + " %d reply codes in order" % len(codes),
            "%r != %r" % (got_codes, codes))
    pairs = pair_replies(s["events"])
    rcpts = [p[1]["r"] for p in pairs if p[0].upper().startswith("RCPT")]
    finals = [p[1] for p in pairs
              if p[0] == "<data>" or re.match(r"(?i)BDAT \d+ LAST", p[0])]
    txs = [t for t in rec.get("transactions", []) if "message" in t]
    # Messages sent inside TLS are not visible: only the clear ones.
    want = s["transactions"]
    if s["tls"]:
        want = want[:len([e for e in ev if "data" in e])]
    r.check(len(txs) == len(want), tag + " %d transactions with a message "
            "in the clear" % len(want), str(len(txs)))
    for i, (exp, ours) in enumerate(zip(want, txs)):
        n = len(exp["rcpt_to"])
        line = finals[i]["lines"][-1] if i < len(finals) else None
        check_tx(r, "%s tx%d" % (tag, i + 1), exp, ours, rcpts[:n], line)
        rcpts = rcpts[n:]
    if s["tls"]:
        r.check(rec["tls"]["started"], tag + " TLS started")
    mech = next((c.split()[1].upper() for c in
                 (e.get("c", "") for e in ev) if c.upper().startswith("AUTH ")),
                None)
    if mech:
        check_auth(r, tag, case, mech, rec, shown)


def check_auth(r, tag, case, mech, rec, shown):
    with open(os.path.join(dl.CAPS, case + ".c2s"), "rb") as f:
        secret = auth_secret(f.read(), mech)
    a = rec.get("auth", [{}])[0]
    r.check((a.get("mechanism"), a.get("user"), a.get("outcome"),
             a.get("code")) == (mech, "tester@example.test", "success", 235),
            tag + " AUTH %s user and outcome" % mech, repr(a))
    r.check(a.get("secret") != secret and secret not in
            str(rec), tag + " AUTH secret redacted", repr(a.get("secret")))
    b = shown.get("auth", [{}])[0]
    r.check(b.get("secret") == secret, tag + " --show-secrets gives the "
            "secret sent", "%r != %r" % (b.get("secret"), secret))


def check_anomalies(r, case, recs):
    names = [a["name"] for rec in recs for a in rec.get("anomalies", [])]
    if case in CLEAN:
        r.check(not names, case + ": no anomalies on a clean session",
                repr(names))
        return
    want = EXPECT.get(case, set())
    extra = set(names) - want - ALLOWED.get(case, set())
    r.check(want <= set(names) and not extra, case + ": anomalies %s"
            % sorted(want), "got %s" % sorted(set(names)))
    if "smtp_smuggling" in want:
        with open(os.path.join(dl.CAPS, case + ".c2s"), "rb") as f:
            n = lax_ends(f.read())
        sm = [a for rec in recs for a in rec["anomalies"]
              if a["name"] == "smtp_smuggling"]
        r.check(len(sm) == n, case + ": one smtp_smuggling per lax end on "
                "the wire (%d)" % n, str(len(sm)))
        r.check(all(re.match(r"lax end at \d+ \(.*\); then: \S", a["detail"])
                    for a in sm), case + ": smuggling detail has both readings",
                repr([a.get("detail") for a in sm]))


def main():
    dl.need_decoder()
    r = dl.Results("decode/ground_truth")
    for case in dl.cases():
        print("== " + case)
        pcap = os.path.join(dl.CAPS, case + ".pcap")
        rc, recs, err = dl.records(["--dialogue", "--hashes", pcap])
        _, shown, _ = dl.records(["--show-secrets", pcap])
        r.check(rc == 0 and not err.strip(), case + ": exit 0, nothing on "
                "stderr", "rc=%d %s" % (rc, err.strip()[:200]))
        errs = [e for rec in recs + shown for e in dl.schema_errors(rec)]
        r.check(not errs, case + ": %d records valid against the schema"
                % len(recs), "; ".join(errs[:3]))
        truth = dl.load_truth(case)
        byport = {dl.session_key(x): x for x in recs}
        shownby = {dl.session_key(x): x for x in shown}
        r.check(len(recs) == len(truth["sessions"]), case + ": %d sessions"
                % len(truth["sessions"]), str(len(recs)))
        for s in truth["sessions"]:
            rec = byport.get(s["client"][1])
            if not r.check(rec is not None, case + ": session from port %d"
                           % s["client"][1]):
                continue
            check_session(r, case, s, rec, shownby.get(s["client"][1], {}))
        check_anomalies(r, case, recs)
    r.finish()


if __name__ == "__main__":
    main()
