"""smtp-replay load mode against Postfix smtp-sink on loopback: counts
agree with what the server counted, percentiles are ordered, errors are
classified (5xx, 4xx, refused, dropped connections), pacing holds, a
script can be the session template, and no target means no run."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadlib import (Sink, check, done, free_port, load_json, need_tool,
                     replay, sane_phases)

need_tool()
work = tempfile.mkdtemp(prefix="sp-load-")
js = os.path.join(work, "out.json")

# 1. 200 sessions at concurrency 10, lock-step.
sink = Sink()
base, qbase, _ = sink.counters()
rc, out, _ = replay("--target", "127.0.0.1:%d" % sink.port, "--repeat",
                    "200", "--concurrency", "10", "--json", js,
                    "--timeout", "10")
j = load_json(js)
sess, quit, mesg = sink.wait_counts(base + 200, qbase + 200, 200)
check(rc == 0, "200 sessions: exit 0")
check(j["sessions"] == 200 and j["sessions_ok"] == 200 and
      j["messages"] == 200, "200 sessions, 200 ok, 200 messages reported")
check(sess - base == 200 and mesg == 200 and quit - qbase == 200,
      "smtp-sink counted 200 sessions, 200 QUITs, 200 messages "
      "(got %d %d %d)" % (sess - base, quit - qbase, mesg))
check(sum(j["errors"].values()) == 0, "no errors")
want = {"connect", "banner", "ehlo", "mail", "rcpt", "data", "dot", "quit",
        "session"}
check(set(j["phases"]) == want and
      all(p["count"] == 200 for p in j["phases"].values()),
      "every phase measured 200 times")
check(sane_phases(j["phases"]), "p50 <= p90 <= p99 <= max in every phase")
check(j["messages_per_s"] > 0 and "p99 ms" in out and "dot" in out,
      "messages/s and the percentile table printed")

# 2. Pipelining, 3 messages per session: 60 sessions, 180 messages.
rc, out, _ = replay("--target", "127.0.0.1:%d" % sink.port, "--messages",
                    "180", "-k", "3", "--concurrency", "4", "--pipelining",
                    "--size", "10000", "--json", js)
j = load_json(js)
check(rc == 0 and j["sessions"] == 60 and j["messages"] == 180 and
      j["bytes"] == 180 * 10000, "pipelined: 60 sessions, 180 messages "
      "of 10000 bytes")
check(sink.wait_counts(mesg=380)[2] == 380,
      "smtp-sink counted 380 messages in all")
check(j["phases"]["rcpt"]["count"] == 180 and sane_phases(j["phases"]),
      "pipelined replies timed, percentiles ordered")

# 3. --rate: 20 sessions at 40/s take at least 19/40 s.
t0 = time.monotonic()
rc, out, _ = replay("--target", "127.0.0.1:%d" % sink.port, "--repeat",
                    "20", "--concurrency", "5", "--rate", "40")
took = time.monotonic() - t0
check(rc == 0 and took >= 19 / 40.0, "--rate 40: 20 sessions paced "
      "(%.2f s)" % took)

# 4. --duration caps a long run.
t0 = time.monotonic()
rc, out, _ = replay("--target", "127.0.0.1:%d" % sink.port, "--repeat",
                    "1000000", "--rate", "50", "--duration", "0.5",
                    "--json", js)
took = time.monotonic() - t0
j = load_json(js)
check(took < 5 and 0 < j["sessions"] <= 30, "--duration 0.5 stops the run "
      "(%d sessions, %.2f s)" % (j["sessions"], took))

# 5. A script as the session template.
path = os.path.join(work, "s.smtp")
with open(path, "w") as f:
    f.write("expect 220\nsend EHLO load.test\nexpect 250\n"
            "send MAIL FROM:<a@load.test>\nexpect 250\n"
            "send RCPT TO:<b@load.test>\nexpect 250\n"
            "data\nSubject: s\n\nbody\n.\nexpect 250\nquit\n")
rc, out, _ = replay("--target", "127.0.0.1:%d" % sink.port, "--repeat",
                    "30", "--concurrency", "3", "--script", path,
                    "--json", js)
j = load_json(js)
check(rc == 0 and j["sessions_ok"] == 30 and j["messages"] == 30,
      "scripted: 30 sessions, 30 messages")
check({"banner", "ehlo", "mail", "rcpt", "dot", "quit"} <=
      set(j["phases"]) and sane_phases(j["phases"]),
      "scripted: phases from the script's steps")
sink.stop()

# 6. Rejections: 5xx to RCPT, 4xx to MAIL.
sink = Sink("-f", "RCPT")
rc, out, _ = replay("--target", "127.0.0.1:%d" % sink.port, "--repeat",
                    "20", "--concurrency", "4", "--json", js)
j = load_json(js)
check(rc == 1 and j["errors"]["5xx"] == 20 and j["sessions_ok"] == 0 and
      "5xx 20" in out, "RCPT rejected 5xx: 20 errors of class 5xx, exit 1")
sink.stop()
sink = Sink("-r", "MAIL")
rc, out, _ = replay("--target", "127.0.0.1:%d" % sink.port, "--repeat",
                    "10", "--pipelining", "--json", js)
j = load_json(js)
check(rc == 1 and j["errors"]["4xx"] == 10, "MAIL deferred 4xx: 10 errors "
      "of class 4xx")
sink.stop()
sink = Sink("-q", "DATA")
# Pipelined, the replies to MAIL and RCPT and the close can come in one
# event: the close must still be seen (as it is, lock-step), not timed out.
for mode in ("--pipelining", "--no-pipelining"):
    t0 = time.monotonic()
    rc, out, _ = replay("--target", "127.0.0.1:%d" % sink.port, "--repeat",
                        "10", "--json", js, "--timeout", "5", mode)
    took = time.monotonic() - t0
    j = load_json(js)
    check(rc == 1 and j["errors"]["closed"] + j["errors"]["reset"] == 10
          and took < 4, "dropped at DATA, %s: 10 closed/reset errors, "
          "none waited out (%.1f s)" % (mode, took))
sink.stop()

# 7. Nothing listening: refused, classified, bounded.
port = free_port()
t0 = time.monotonic()
rc, out, _ = replay("--target", "127.0.0.1:%d" % port, "--repeat", "50",
                    "--concurrency", "5", "--json", js)
j = load_json(js)
check(rc == 1 and j["errors"]["refused"] == 50 and
      time.monotonic() - t0 < 10, "no server: 50 refused, quickly")

# 8. A server that never answers: --duration and SIGINT end the waits
#    in progress at once (class "cancelled"), not after --timeout.
import signal
import socket
import subprocess
import threading

mute = socket.socket()
mute.bind(("127.0.0.1", 0))
mute.listen(64)
held = []


def hold():
    mute.settimeout(0.2)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            held.append(mute.accept()[0])
        except OSError:
            pass


threading.Thread(target=hold, daemon=True).start()
mtarget = "127.0.0.1:%d" % mute.getsockname()[1]
t0 = time.monotonic()
rc, out, _ = replay("--target", mtarget, "--repeat", "10", "--concurrency",
                    "3", "--timeout", "30", "--duration", "1", "--json", js)
took = time.monotonic() - t0
j = load_json(js)
check(rc == 1 and took < 5 and j["errors"]["cancelled"] == 3,
      "silent server, --duration 1: 3 waits cancelled in %.2f s" % took)
from loadlib import TOOL
proc = subprocess.Popen([TOOL, "--target", mtarget, "--repeat", "10",
                         "--concurrency", "2", "--timeout", "30",
                         "--no-progress"], stdout=subprocess.PIPE, text=True)
time.sleep(1)
t0 = time.monotonic()
proc.send_signal(signal.SIGINT)
out, _ = proc.communicate(timeout=10)
print("    " + out.replace("\n", "\n    "))
check(proc.returncode == 1 and time.monotonic() - t0 < 3 and
      "interrupted" in out and "cancelled 2" in out,
      "SIGINT: waits cancelled, figures printed, exit 1")
mute.close()

# 9. No target, no run.
rc, out, err = replay("--repeat", "5")
check(rc == 2 and "--target" in err, "no --target: refused with exit 2")
rc, out, err = replay("--repeat", "0", "--target", "127.0.0.1:1")
check(rc == 2, "--repeat 0 rejected")
done()
