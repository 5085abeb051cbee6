"""smtp-decode on damaged and re-encapsulated captures (issue 4).

Variants come from tests/tools/pcapmangle (and editcap for pcapng).
Each variant's records are compared with the original capture's
records, after removing only what the damage is allowed to change:

  dup          stats.*.packets and stats.*.duplicate_bytes (every data
               segment came twice; the stream did not change)
  tiny 1/7     stats.*.packets (more, smaller segments)
  frag 64      nothing (fragments are reassembled before TCP)
  vlan, qinq   flow.vlan (the tags the frames now carry)
  sll, sll2    nothing;  pcapng  nothing
  nohandshake  uid and ts (the flow starts at its first data packet,
               the uid hashes that time), flow.handshake, the
               handshake's packets in stats.*.packets, and exactly one
               added anomaly, tcp_midstream
  reorder      segments swapped only where two data segments of one
               direction are adjacent in the capture (done here, not
               by pcapmangle: see KNOWN below): the ts of commands,
               replies and transactions may move to the later
               segment's time; nothing else may change

KNOWN (documented, not a pass): pcapmangle's own `reorder` swaps every
pair of data segments of a direction, across the other direction's
packets, so a server reply can precede, in capture order, the command
it answers.  Each direction's stream is still exact (test_streams.sh).
The reassembler holds a side's data back while the other side has a
hole that this side's ACK covers (so a reply waits for its command),
but here the segment that comes first can also acknowledge peer bytes
that are themselves buffered behind an earlier hole of the peer (the
EHLO reply before the greeting): ordering those needs the ACK of every
buffered segment, which the reassembler does not keep.  The test checks
that such a variant decodes without crash and with exact per-direction
byte counts, and prints the causality inversions it finds and the first
difference.

drop K (a client data segment strictly inside a message): that
transaction's message has complete=false and missing_bytes equal to the
dropped length; every other transaction is identical to the original.
midstream P: transactions whose commands all lie after the pickup
point decode identically.  snap 96: exit 0, records valid, gaps
reported, incomplete messages, no crash.
"""
import copy
import os
import re
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import decodelib as dl  # noqa: E402

# The slow variants (1-byte segments, fragments) on a subset.
SLOW_CASES = {"basic", "sample", "multi_rset", "bdat", "smuggling",
              "starttls_injection", "interleaved", "ipv6", "auth_login"}
ALLOWED = {
    "dup": {"stats/*/packets", "stats/*/duplicate_bytes"},
    "tiny1": {"stats/*/packets"},
    "tiny7": {"stats/*/packets"},
    "frag64": set(),
    "vlan": {"flow/vlan"},
    "qinq": {"flow/vlan"},
    "sll": set(), "sll2": set(), "pcapng": set(),
    "nohandshake": {"uid", "ts", "flow/handshake", "stats/*/packets"},
    "adjreorder": {"**/ts"},
}


def drop_keys(obj, pattern):
    """Remove the keys a pattern names: a/b, * = any key, **/k = k at
    any depth."""
    parts = pattern.split("/")
    if parts[0] == "**":
        walk_drop(obj, parts[1])
        return
    objs = [obj]
    for p in parts[:-1]:
        objs = [o[k] for o in objs if isinstance(o, dict)
                for k in (o if p == "*" else [p]) if k in o]
    for o in objs:
        if isinstance(o, dict):
            o.pop(parts[-1], None)


def walk_drop(obj, key):
    if isinstance(obj, dict):
        obj.pop(key, None)
        for v in obj.values():
            walk_drop(v, key)
    elif isinstance(obj, list):
        for v in obj:
            walk_drop(v, key)


def normal(recs, allowed):
    """Records without the allowed keys.  Anomalies are compared in
    (offset, name, dir) order: the SMTP and MIME layers raise theirs
    for the same bytes in an order that depends on how the bytes were
    cut into segments (tiny, frag), which is no difference in what was
    found."""
    out = []
    for r in recs:
        r = copy.deepcopy(r)
        for pat in allowed:
            drop_keys(r, pat)
        if "anomalies" in r:
            r["anomalies"].sort(key=lambda a: (a["offset"], a["name"],
                                               a["dir"]))
        out.append(r)
    return sorted(out, key=lambda x: x["flow"]["client"]["port"])


def first_diff(a, b, path=""):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s/%s only on one side" % (path, k)
            d = first_diff(a[k], b[k], path + "/" + k)
            if d:
                return d
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return "%s: %d vs %d items" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_diff(x, y, "%s/%d" % (path, i))
            if d:
                return d
    elif a != b:
        return "%s: %r vs %r" % (path, str(a)[:60], str(b)[:60])
    return None


# --- a small pcap reader/writer (Ethernet, IPv4/IPv6, TCP) ---

def read_pcap(path):
    with open(path, "rb") as f:
        d = f.read()
    end = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pkts, off = [], 24
    while off + 16 <= len(d):
        incl = struct.unpack(end + "I", d[off + 8:off + 12])[0]
        pkts.append(d[off:off + 16 + incl])
        off += 16 + incl
    return d[:24], pkts


def tcp_info(pkt):
    """(flow key, direction key, seq, ack, payload length) or None."""
    fr = pkt[16:]
    et, o = struct.unpack(">H", fr[12:14])[0], 14
    if et == 0x0800:
        ihl = (fr[o] & 15) * 4
        tot = struct.unpack(">H", fr[o + 2:o + 4])[0]
        src, dst, proto = fr[o + 12:o + 16], fr[o + 16:o + 20], fr[o + 9]
        t, iplen = o + ihl, tot - ihl
    elif et == 0x86DD:
        plen = struct.unpack(">H", fr[o + 4:o + 6])[0]
        src, dst, proto = fr[o + 8:o + 24], fr[o + 24:o + 40], fr[o + 6]
        t, iplen = o + 40, plen
    else:
        return None
    if proto != 6:
        return None
    sp, dp, seq, ack = struct.unpack(">HHII", fr[t:t + 12])
    doff = (fr[t + 12] >> 4) * 4
    return (src + dst + struct.pack(">HH", sp, dp), seq, ack, iplen - doff)


def adjacent_reorder(src, dst):
    """Swap adjacent data segments of one direction; returns swaps."""
    hdr, pkts = read_pcap(src)
    i, swaps = 0, 0
    while i + 1 < len(pkts):
        a, b = tcp_info(pkts[i]), tcp_info(pkts[i + 1])
        if a and b and a[0] == b[0] and a[3] > 0 and b[3] > 0:
            pkts[i], pkts[i + 1] = pkts[i + 1], pkts[i]
            swaps += 1
            i += 2
        else:
            i += 1
    with open(dst, "wb") as f:
        f.write(hdr + b"".join(pkts))
    return swaps


def inversions(path):
    """Segments acknowledging peer bytes not yet seen in capture order."""
    _, pkts = read_pcap(path)
    isn, seen, count = {}, {}, 0
    for p in pkts:
        t = tcp_info(p)
        if not t:
            continue
        key, seq, ack, n = t
        peer = swap_key(key)
        isn.setdefault(key, seq)
        if n > 0:
            seen[key] = max(seen.get(key, 0), (seq - isn[key]) + n)
            if peer in isn and ((ack - isn[peer]) & 0xffffffff) > \
                    seen.get(peer, 0) + 1:
                count += 1
    return count


def swap_key(k):
    h = (len(k) - 4) // 2
    return k[h:2 * h] + k[:h] + k[-2:] + k[-4:-2]


# --- the checks ---

def mangle(op, src, dst, arg=None):
    cmd = [dl.MANGLE, op, src, dst] + ([str(arg)] if arg is not None else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode == 0, p.stdout


def decode(path, extra=()):
    return dl.records(["--dialogue"] + list(extra) + [path])


def check_same(r, case, name, path, orig, extra=()):
    rc, recs, err = decode(path, extra)
    errs = [e for x in recs for e in dl.schema_errors(x)]
    if not r.check(rc == 0 and not errs, "%s %s: exit 0, records valid"
                   % (case, name), "rc=%d %s %s" % (rc, err[:100], errs[:2])):
        return
    allowed = set(ALLOWED[name])
    if name == "nohandshake":
        want = [x for x in recs for a in x.get("anomalies", [])
                if a["name"] == "tcp_midstream"]
        r.check(len(want) == len(recs), "%s %s: one tcp_midstream per "
                "session" % (case, name))
        for x in recs:
            x["anomalies"] = [a for a in x.get("anomalies", [])
                              if a["name"] != "tcp_midstream"]
    d = first_diff(normal(orig, allowed), normal(recs, allowed))
    r.check(d is None, "%s %s: records equal the original's%s" % (
        case, name, " (except %s)" % ", ".join(sorted(allowed))
        if allowed else ""), d)


def check_pcapmangle_reorder(r, case, tmp, orig):
    v = os.path.join(tmp, case + ".reorder.pcap")
    if not mangle("reorder", os.path.join(dl.CAPS, case + ".pcap"), v)[0]:
        r.bad(case + " reorder: pcapmangle failed")
        return
    rc, recs, err = decode(v)
    nb = lambda rs: sorted((x["stats"]["client"]["bytes"],
                            x["stats"]["server"]["bytes"]) for x in rs)
    r.check(rc == 0 and nb(recs) == nb(orig) and all(
        x["stats"][d]["gaps"] == 0 for x in recs for d in ("client", "server")),
        case + " reorder (pcapmangle): exit 0, byte counts exact, no gaps",
        "rc=%d %s" % (rc, err[:100]))
    same = first_diff(normal(orig, {"**/ts"}), normal(recs, {"**/ts"}))
    print("known %s reorder (pcapmangle): %d causality inversions in "
          "capture order; records %s" % (case, inversions(v),
                                         "equal" if same is None else
                                         "differ: " + same))


def msg_txs(recs):
    return [t for x in recs for t in x.get("transactions", [])]


def data_bodies(c2s):
    """(start, end, message number) of every DATA body and BDAT chunk
    in a client stream; a DATA body ends where its terminating '.'
    line starts, a chunk after its n octets (RFC 3030 2)."""
    out, msgno, pos = [], 0, 0
    for m in re.finditer(rb"(?:^|\r\n)(DATA|BDAT (\d+)( LAST)?)\r\n", c2s):
        if m.start() < pos:
            continue
        if m.group(1) == b"DATA":
            end = c2s.find(b"\r\n.\r\n", m.end() - 2)
            out.append((m.end(), end + 2, msgno))
            msgno += 1
            pos = end + 2
        else:
            end = m.end() + int(m.group(2))
            out.append((m.end(), end, msgno))
            msgno += 1 if m.group(3) else 0
            pos = end - 2
    return out


def check_drop(r, case, tmp, orig):
    with open(os.path.join(dl.CAPS, case + ".c2s"), "rb") as f:
        bodies = data_bodies(f.read())
    # Cut into 7-byte segments first, so that one lies inside every
    # message (most messages here travel in one segment).
    t7 = os.path.join(tmp, case + ".tiny7.pcap")
    mangle("tiny", os.path.join(dl.CAPS, case + ".pcap"), t7, 7)
    v = os.path.join(tmp, case + ".drop.pcap")
    start = 2
    if len(bodies) > 1:
        # Aim at the first message's middle (the others must stay).
        start = max(2, (bodies[0][0] + bodies[0][1]) // 14)
    for k in range(start, start + 200):
        ok, out = mangle("drop", t7, v, k)
        m = re.search(r"off=(\d+) len=(\d+)", out)
        if not ok or not m:
            break
        off, n = int(m.group(1)), int(m.group(2))
        hit = [no for (s, e, no) in bodies if s < off and off + n < e]
        if hit:
            break
    else:
        hit = []
    if not r.check(bool(hit), case + ": a client segment inside a message "
                   "to drop"):
        return
    rc, recs, err = decode(v)
    txs, otx = msg_txs(recs), msg_txs(orig)
    withmsg = [i for i, t in enumerate(otx) if "message" in t]
    idx = withmsg[hit[0]]
    r.check(rc == 0 and len(txs) == len(otx), "%s drop %d (off=%d len=%d): "
            "exit 0, all %d transactions" % (case, k, off, n, len(otx)),
            "rc=%d, %d transactions" % (rc, len(txs)))
    if len(txs) != len(otx):
        return
    # The lost bytes must be reported against a message, exactly.
    inc = [a for x in recs for a in x.get("anomalies", [])
           if a["name"] == "smtp_message_incomplete"]
    r.check([a.get("detail") for a in inc] == ["%d bytes missing" % n],
            "%s drop %d: one smtp_message_incomplete, %d bytes missing"
            % (case, k, n), repr([a.get("detail") for a in inc]))
    m = txs[idx].get("message", {})
    strip = {"**/ts"}
    others = [i for i in range(len(otx)) if i != idx]
    d = first_diff(normal([{"flow": {"client": {"port": 0}}, "t": [
        otx[i] for i in others]}], strip), normal([{"flow": {"client": {
            "port": 0}}, "t": [txs[i] for i in others]}], strip))
    r.check(m.get("complete") is False and m.get("missing_bytes") == n,
            "%s drop %d: message %d complete=false, missing_bytes=%d"
            % (case, k, idx + 1, n), "complete=%s missing=%s" % (
                m.get("complete"), m.get("missing_bytes")))
    r.check(d is None, "%s drop %d: the %d other transactions are intact"
            % (case, k, len(others)), d)


def check_midstream(r, case, tmp, orig, p):
    v = os.path.join(tmp, "%s.mid%d.pcap" % (case, p))
    ok, out = mangle("midstream", os.path.join(dl.CAPS, case + ".pcap"), v, p)
    m = re.search(r"first dir=client off=(\d+)", out)
    if not r.check(ok and m, "%s midstream %d: pcapmangle" % (case, p)):
        return
    first = int(m.group(1))
    port = dl.load_truth(case)["sessions"][0]["server"][1]
    rc, recs, err = decode(v, ["--ports", str(port)])
    errs = [e for x in recs for e in dl.schema_errors(x)]
    r.check(rc == 0 and not errs, "%s midstream %d: exit 0, records valid"
            % (case, p), "rc=%d %s" % (rc, errs[:2]))
    # Transactions whose MAIL command starts after the pickup point.
    dia = orig[0]["dialogue"]
    mails = [d["offset"] for d in dia if d.get("verb") == "MAIL"]
    otx = msg_txs(orig)
    want = [t for t, o in zip(otx, mails) if o >= first and "message" in t]
    got = [t for t in msg_txs(recs) if "message" in t]
    key = lambda t: (t["mail_from"]["address"] if "mail_from" in t else None,
                     t["message"]["sha256"], t["reply"]["code"])
    r.check([key(t) for t in got][-len(want):] == [key(t) for t in want]
            if want else True, "%s midstream %d (client from %d): the %d "
            "later transactions decode as in the original" % (
                case, p, first, len(want)),
            "%r" % [key(t) for t in got])


def check_snap(r, case, tmp):
    v = os.path.join(tmp, case + ".snap.pcap")
    mangle("snap", os.path.join(dl.CAPS, case + ".pcap"), v, 96)
    rc, recs, err = decode(v)
    errs = [e for x in recs for e in dl.schema_errors(x)]
    gaps = sum(x["stats"][d]["gaps"] for x in recs
               for d in ("client", "server"))
    incomplete = [t for t in msg_txs(recs) if "message" in t and
                  not t["message"]["complete"]]
    r.check(rc == 0 and not errs and gaps > 0 and (incomplete or not any(
        "message" in t for t in msg_txs(recs))),
        "%s snap 96: exit 0, valid, %d gaps, %d incomplete messages"
        % (case, gaps, len(incomplete)),
        "rc=%d errs=%s gaps=%d" % (rc, errs[:2], gaps))


def main():
    dl.need_decoder()
    if not os.access(dl.MANGLE, os.X_OK):
        dl.skip("pcapmangle not built")
    have_editcap = subprocess.run(["sh", "-c", "command -v editcap"],
                                  capture_output=True).returncode == 0
    r = dl.Results("decode/variants")
    tmp = tempfile.mkdtemp(prefix="sp-dvar.")
    try:
        for case in dl.cases():
            print("== " + case)
            pcap = os.path.join(dl.CAPS, case + ".pcap")
            _, orig, _ = decode(pcap)
            for op, arg in (("dup", None), ("vlan", None), ("qinq", None),
                            ("sll", None), ("sll2", None),
                            ("nohandshake", None), ("tiny", 7),
                            ("tiny", 1), ("frag", 64)):
                name = op + (str(arg) if arg else "")
                if arg in (1, 64) and case not in SLOW_CASES:
                    continue
                v = os.path.join(tmp, "%s.%s.pcap" % (case, name))
                if r.check(mangle(op, pcap, v, arg)[0], "%s %s: made"
                           % (case, name)):
                    check_same(r, case, name, v, orig)
                os.unlink(v)
            v = os.path.join(tmp, case + ".adj.pcap")
            n = adjacent_reorder(pcap, v)
            if n:
                check_same(r, case, "adjreorder", v, orig)
            if have_editcap:
                v = os.path.join(tmp, case + ".pcapng")
                subprocess.run(["editcap", "-F", "pcapng", pcap, v])
                check_same(r, case, "pcapng", v, orig)
            if case in SLOW_CASES:
                check_pcapmangle_reorder(r, case, tmp, orig)
                check_snap(r, case, tmp)
        for case in ("large", "multipart", "sample", "multi_rset", "bdat"):
            _, orig, _ = decode(os.path.join(dl.CAPS, case + ".pcap"))
            check_drop(r, case, tmp, orig)
        _, orig, _ = decode(os.path.join(dl.CAPS, "multi_rset.pcap"))
        for p in (10, 14, 20):
            check_midstream(r, "multi_rset", tmp, orig, p)
    finally:
        subprocess.run(["rm", "-rf", tmp])
    r.finish()


if __name__ == "__main__":
    main()
