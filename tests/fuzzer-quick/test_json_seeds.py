"""smtp-fuzz --seeds with smtp-decode's JSON (--dialogue --extract):
each decoded session must become a seed holding the recorded client
side -- its commands in order and the message as extracted -- read by
the same code smtp-replay uses.  A broken JSON file must be named with
the byte where it breaks, and the campaign must still run."""
import glob
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fuzzer"))
from fuzzlib import (BUILD, FUZZ, SRC, aiosmtpd, check, done, need,
                     skip)

DECODE = os.path.join(BUILD, "tools", "smtp-decode", "smtp-decode")
CAPTURE = os.path.join(SRC, "captures", "sample.pcap")

need(FUZZ, DECODE)
if not os.path.exists(CAPTURE):
    skip("captures/sample.pcap missing")
work = tempfile.mkdtemp(prefix="fuzzer-json-")
seeds = os.path.join(work, "s.json")
with open(seeds, "w") as f:
    subprocess.run([DECODE, "--dialogue", "--extract", work, CAPTURE],
                   stdout=f, check=True, timeout=60)
with open(seeds) as f:
    records = [json.loads(line) for line in f if line.strip()]
check(len(records) >= 1, "the capture decodes to session records")

ctl, port = aiosmtpd()
if ctl is None:
    skip("aiosmtpd missing")
bad = os.path.join(work, "bad.json")
with open(bad, "w") as f:
    f.write('{"uid": "x", "dialogue": [}\n')
out = os.path.join(work, "out")
p = subprocess.run([FUZZ, "--target", "127.0.0.1:%d" % port, "--out", out,
                    "--seeds", seeds, "--seeds", bad, "--iterations", "5",
                    "--seed", "1"], capture_output=True, text=True,
                   timeout=120)
ctl.stop()
print(p.stdout, p.stderr)
check(p.returncode == 0, "smtp-fuzz exits 0")
check("bad.json: bad JSON at byte 0" in p.stderr,
      "the broken seed file is named with where it breaks")

# Seeds from files are queued first, in order: entry i is record i.
queue = sorted(glob.glob(os.path.join(out, "queue", "*.script")))
check(len(queue) >= len(records), "every record is in the queue")
for i, rec in enumerate(records[:len(queue)]):
    with open(queue[i]) as f:
        text = f.read()
    cmds = [d["line"] for d in rec["dialogue"] if d["type"] == "command"
            and not d["line"].startswith(("AUTH", "QUIT"))]
    pos = 0
    for c in cmds:
        pos = text.find(c, pos)
        if pos < 0:
            break
    check(pos >= 0, "seed %d holds the record's %d commands in order"
          % (i, len(cmds)))
    for t in rec.get("transactions", []):
        eml = t.get("message", {}).get("file")
        if eml is None:
            continue
        with open(os.path.join(work, eml), "rb") as f:
            first = f.read().split(b"\r\n")[0].decode("utf-8", "replace")
        check(first in text, "seed %d carries the extracted message (%s)"
              % (i, first[:40]))
    check("placeholder" not in text, "seed %d has no placeholder" % i)
done()
