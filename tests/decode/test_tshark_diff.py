"""Differential test: our command and reply sequences against tshark's.

For every capture (captures/*.pcap and, when present, the shared ones),
per TCP session: the client command verbs and the server reply codes in
order, from `smtp-decode --dialogue` and from

  tshark -r FILE [-d tcp.port==P,smtp] -Y smtp -T fields
         -e tcp.stream -e tcp.srcport -e tcp.dstport
         -e smtp.req.command -e smtp.response.code

(-d for our captures' random server ports, and the manifest's
tshark_decode_as column).  Where they differ, a third reading decides:
a deliberately small reader over the raw streams as tshark itself
reassembles them (-z follow,tcp,raw): command lines outside DATA
(up to CRLF.CRLF) and BDAT chunks (n octets), up to STARTTLS; reply
codes of the final line of each reply, up to the first line that is no
reply (TLS).  Every difference is classified:

  tshark errors, each confirmed by the raw-stream reader agreeing with
  us (the category's own condition is checked too):
    STAR            tshark 4.0 shows STARTTLS as "STAR"
    BDAT-LOST       tshark 4.0 loses the session at a BDAT chunk (or an
                    invalid BDAT) and shows no command after it
    DATA-REFUSED    after a DATA the server refused (4xx/5xx), tshark
                    takes the client's next lines as message content
    AUTH-RESPONSE   a line the server answered with 334 (a username) is
                    no command, though it reads as one (QUIT)
    PIPELINE-DROP   tshark lost commands of a pipelined group (several
                    commands in one client write; our dialogue groups
                    them)
    REPLY-PER-PKT   tshark gives one code per packet: a multi-line reply
                    in several packets counts several times, replies
                    sharing a packet once ("250,250" aside)
    NOT-A-COMMAND   tshark shows a client line that is no command (AUTH
                    response, message content after a lost segment)
    NO-SMTP         tshark did not dissect the flow as SMTP at all
    TUNNEL          SMTP inside an HTTP CONNECT tunnel (the client stream
                    starts "CONNECT "): tshark misses the first command
  not decidable here (printed, not failed):
    GAP             the capture lost client bytes: tshark's follow
                    output leaves them out, so the raw reader cannot
                    frame BDAT chunks after them; our reading of such
                    a session is checked in test_shared.py
                    (smtp-bdat-gap)
  ours            we differ from the raw-stream reader: a failure.

Prints a summary table.  Exit 0 no unexplained difference, 1 some, 77
no tshark or no smtp-decode.
"""
import collections
import csv
import difflib
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decodelib as dl  # noqa: E402

VERBS = {"HELO", "EHLO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
         "VRFY", "EXPN", "HELP", "NOOP", "QUIT", "STARTTLS", "AUTH", "TURN",
         "ETRN", "ATRN", "SEND", "SOML", "SAML", "XCLIENT", "XFORWARD"}


def tshark_rows(path, decode_as):
    cmd = ["tshark", "-r", path]
    for d in decode_as:
        cmd += ["-d", d]
    cmd += ["-Y", "smtp", "-T", "fields", "-e", "tcp.stream", "-e",
            "tcp.srcport", "-e", "tcp.dstport", "-e", "smtp.req.command",
            "-e", "smtp.response.code"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return [line.split("\t") for line in p.stdout.splitlines()]


def tshark_seqs(rows, server_ports):
    """{client port: (stream, verbs, codes)} from tshark's rows."""
    out = {}
    for f in rows:
        f += [""] * (5 - len(f))
        stream, sp, dp, cmds, codes = f[:5]
        client = int(dp) if int(sp) in server_ports else int(sp)
        s = out.setdefault(client, (int(stream), [], []))
        # tshark shows verbs as written ("helo"): case is no difference.
        s[1].extend(c.upper() for c in cmds.split(",") if c)
        s[2].extend(int(c) for c in codes.split(",") if c)
    return out


def follow_raw(path, stream, decode_as, client_port):
    """(client bytes, server bytes) of a stream, as tshark reassembles."""
    cmd = ["tshark", "-r", path, "-q", "-z", "follow,tcp,raw,%d" % stream]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    node0 = re.search(r"Node 0: .*:(\d+)", p.stdout)
    first_is_client = node0 and int(node0.group(1)) == client_port
    a, b = bytearray(), bytearray()
    for line in p.stdout.splitlines():
        if re.fullmatch(r"\t?[0-9a-f]+", line):
            (b if line.startswith("\t") else a).extend(
                bytes.fromhex(line.strip()))
    return (bytes(a), bytes(b)) if first_is_client else (bytes(b), bytes(a))


def first_word(line):
    return line.split(b" ", 1)[0].upper().decode("latin-1")


def raw_verbs(c2s):
    """Command verbs of a client stream, skipping DATA and BDAT content,
    up to the first TLS record (a line starting with byte 0x16).  DATA
    followed at once by a command line was refused: no content."""
    verbs, pos = [], 0
    while pos < len(c2s):
        if c2s[pos:pos + 1] == b"\x16":
            break
        end = c2s.find(b"\n", pos)
        if end < 0:
            break
        line = c2s[pos:end].rstrip(b"\r")
        pos = end + 1
        word = first_word(line)
        if word not in VERBS:
            continue
        verbs.append(word)
        nxt = c2s[pos:c2s.find(b"\n", pos) if b"\n" in c2s[pos:] else None]
        if word == "DATA" and first_word(nxt.rstrip(b"\r")) not in VERBS:
            e = c2s.find(b"\r\n.\r\n", pos - 2)
            pos = len(c2s) if e < 0 else e + 5
        # Only a well-formed BDAT is followed by its chunk (a refused
        # "BDAT 5 X" or an overflowing size is not, RFC 3030 2).
        m = re.fullmatch(rb"(?i)BDAT (\d{1,18})( LAST)?", line)
        if m:
            pos += int(m.group(1))
    return verbs


def raw_codes(s2c):
    """Reply codes (final lines) of a server stream, up to the first TLS
    record; lines that are no reply are skipped."""
    codes = []
    for line in s2c.split(b"\n"):
        line = line.rstrip(b"\r")
        if line.startswith(b"\x16"):
            break
        m = re.match(rb"([2-5]\d\d)([ -]|$)", line)
        if not m:
            continue
        if m.group(2) != b"-":
            codes.append(int(m.group(1)))
    return codes


def minus(xs, ys):
    """xs with one occurrence of each item of ys removed, in order."""
    out, ys = list(xs), list(ys)
    for y in ys:
        if y in out:
            out.remove(y)
    return out


def classify_cmds(ours, ts, raw, info):
    """Differences between our verbs and tshark's, each with a class.
    info: per command of ours, (pipeline group size, its reply code);
    auth334: the server sent 334 in an AUTH exchange."""
    out, lost = [], False
    groups, rcodes, auth334, tunnel, gaps = info
    sm = difflib.SequenceMatcher(a=ours, b=ts, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        a, b = ours[i1:i2], ts[j1:j2]
        prev = ours[i1 - 1] if i1 > 0 else None
        if not a and auth334 and minus(raw, b) == ours:
            # The server answered these lines with 334: they were AUTH
            # responses (the raw reader, knowing no AUTH, agrees with
            # tshark; the server's replies decide).
            cls = "AUTH-RESPONSE"
        elif not b and i1 == 0 and tunnel:
            cls = "TUNNEL"
        elif ours != raw and gaps:
            cls = "GAP"
        elif ours != raw:
            cls = "ours"
        elif a == ["STARTTLS"] * len(a) and b == ["STAR"] * len(a):
            cls = "STAR"
        elif not b and (lost or a[0] == "BDAT" or prev == "BDAT"):
            cls = "BDAT-LOST"	# and everything after, for tshark
            lost = True
        elif not b and prev == "DATA" and rcodes[i1 - 1] >= 400:
            cls = "DATA-REFUSED"
        elif not b and not ts:
            cls = "NO-SMTP"
        elif not b and any(groups[i] > 1 for i in range(i1, i2)):
            cls = "PIPELINE-DROP"
        elif not a:
            cls = "NOT-A-COMMAND"
        else:
            cls = "unexplained"
        out.append((cls, "cmd %d: ours %s tshark %s" % (i1, a, b)))
    return out


def classify_codes(ours, ts, raw, nlines):
    out = []
    if ours == ts:
        return out
    if ours != raw:
        return [("ours", "codes: ours %s raw %s" % (ours, raw))]
    # One code per packet: collapse runs on both sides and compare.
    runs = lambda xs: [k for k, _ in __import__("itertools").groupby(xs)]
    if runs(ours) == runs(ts) or any(n > 1 for n in nlines):
        sm = difflib.SequenceMatcher(a=ours, b=ts, autojunk=False)
        bad = [(op, ours[i1:i2], ts[j1:j2]) for op, i1, i2, j1, j2 in
               sm.get_opcodes() if op != "equal"]
        return [("REPLY-PER-PKT", "codes: %s" % bad[:3])]
    return [("unexplained", "codes: ours %s tshark %s" % (ours, ts))]


# Captures no reading can be checked against, each with the reason.
UNCHECKABLE = {
    "pcapplusplus/Smtp.pcap":
        "PcapPlusPlus' test capture: its packets were edited by that "
        "project's tests (payload text replaced by 'Test Option Line', "
        "timestamps 14 years apart, a reply captured before the command "
        "it answers), so no order of its bytes is the real one",
}


def captures():
    """(path, server ports, tshark -d args, name) of every capture."""
    out = []
    for case in dl.cases():
        t = dl.load_truth(case)
        ports = {s["server"][1] for s in t["sessions"]}
        out.append((os.path.join(dl.CAPS, case + ".pcap"), ports,
                    ["tcp.port==%d,smtp" % p for p in ports], case))
    man = os.path.join(dl.SHARED, "MANIFEST.tsv")
    if os.path.exists(man):
        with open(man) as f:
            for row in csv.DictReader(f, delimiter="\t"):
                ports = {int(p) for p in row["smtp_ports"].split(",") if p}
                da = [d for d in row["tshark_decode_as"].split(";") if d]
                out.append((os.path.join(dl.SHARED, row["file"]),
                            ports | {25, 465, 587, 2525}, da, row["file"]))
    return out


def main():
    dl.need_decoder()
    if not shutil.which("tshark"):
        dl.skip("tshark missing")
    r = dl.Results("decode/tshark_diff")
    table = collections.Counter()
    caps = captures()
    # tshark is the slow part: two at a time (2 cores).
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        rows = list(pool.map(lambda c: tshark_rows(c[0], c[2]), caps))
    for (path, ports, da, name), trows in zip(caps, rows):
        if name in UNCHECKABLE:
            print("note %s not compared: %s" % (name, UNCHECKABLE[name]))
            continue
        extra = ["--ports", ",".join(str(p) for p in sorted(ports))]
        _, recs, _ = dl.records(["--dialogue"] + extra + [path])
        ts = tshark_seqs(trows, ports)
        diffs = []
        for rec in recs:
            port = rec["flow"]["client"]["port"]
            dia = rec.get("dialogue", [])
            # Lines with no verb we know (the server answered them 500)
            # and replies we could not read (code 0) are in our
            # dialogue but neither tshark nor the raw reader has them.
            cmds = [d for d in dia if d["type"] == "command" and
                    d["verb"] in VERBS]
            verbs = [d["verb"] for d in cmds]
            groups_n = collections.Counter(d["group"] for d in cmds)
            groups = [groups_n[d["group"]] for d in cmds]
            answer = {d.get("answers"): d["code"] for d in dia
                      if d["type"] == "reply" and "answers" in d}
            idx = {id(d): i for i, d in enumerate(dia)}
            rcodes = [answer.get(idx[id(d)], 0) for d in cmds]
            auth334 = any(d["type"] == "reply" and d["code"] == 334
                          for d in dia)
            reps = [d for d in dia if d["type"] == "reply" and d["code"]]
            codes = [d["code"] for d in reps]
            nlines = [len(d["lines"]) for d in reps]
            if port not in ts or not (ts[port][1] or ts[port][2]):
                if verbs or codes:
                    diffs.append(("NO-SMTP", "session %d: tshark shows no "
                                  "SMTP" % port))
                continue
            stream, tv, tc = ts[port]
            if verbs == tv and codes == tc:
                continue
            c2s, s2c = follow_raw(path, stream, da, port)
            rv, rc = raw_verbs(c2s), raw_codes(s2c)
            # A client-only or server-only capture: the raw reader has
            # nothing to say on the missing side.
            if not c2s:
                rv = verbs
            if not s2c:
                rc = codes
            tunnel = c2s.startswith(b"CONNECT ")
            gaps = rec["stats"]["client"]["gaps"] > 0
            diffs += classify_cmds(verbs, tv, rv, (groups, rcodes, auth334,
                                                   tunnel, gaps))
            diffs += classify_codes(codes, tc, rc, nlines)
        for cls, what in diffs:
            table[cls] += 1
            if cls in ("ours", "unexplained"):
                r.bad("%s: %s %s" % (name, cls, what))
            else:
                print("     %s: %s %s: %s" % (
                    name, "undecidable" if cls == "GAP" else "tshark error",
                    cls, what))
        if not any(c in ("ours", "unexplained") for c, _ in diffs):
            r.ok("%s: %d sessions%s" % (name, len(recs), "" if not diffs
                                        else "; %d tshark errors" %
                                        len(diffs)))
    print("\nsummary of differences by class:")
    for cls, n in sorted(table.items()):
        print("  %-14s %4d" % (cls, n))
    r.finish()


if __name__ == "__main__":
    main()
