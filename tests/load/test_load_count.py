"""smtp-replay --load loses no message and counts none twice: at
concurrency 1, 10 and 50, lock-step and pipelined (RFC 2920), one and
several messages per connection, small and larger than a socket
buffer, the messages the report gives are the
messages Postfix smtp-sink counted (its mesg= counter), every session
ends with QUIT, and every reply is timed once.  The event engine (the
default) runs every case; the threaded one a few, as a reference."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from loadlib import Sink, check, done, load_json, need_tool, replay

need_tool()
work = tempfile.mkdtemp(prefix="sp-load-count-")
js = os.path.join(work, "out.json")
MESSAGES = 300

sink = Sink(seconds=300)


def run_case(conc, k, pipe, engine, messages=MESSAGES, size=4096):
    name = "c=%d k=%d%s %s size %d" % (conc, k, " pipelined" if pipe else
                                       "", engine, size)
    # Settled: the last case waited for its sessions to be counted.
    sess0, quit0, mesg0 = sink.counters()
    args = ["--target", sink.target, "--messages", str(messages), "-k",
            str(k), "--concurrency", str(conc), "--engine", engine,
            "--json", js, "--timeout", "10", "--no-progress", "--size",
            str(size)]
    # Pipelining is the default when smtp-sink offers it; lock-step is
    # asked for.  The lock-step events runs also turn polling off, so
    # both ways of waiting are counted.
    if not pipe:
        args.append("--no-pipelining")
        if engine == "events" and conc == 10:
            args += ["--spin", "0"]
    rc, _, _ = replay(*args)
    j = load_json(js)
    sessions = (messages + k - 1) // k
    sess, quit, mesg = sink.wait_counts(sess0 + sessions, quit0 + sessions,
                                        mesg0 + messages)
    check(rc == 0 and j["engine"] == engine, name + ": exit 0, engine")
    check(j["messages"] == messages and mesg - mesg0 == messages and
          j["bytes"] == messages * size,
          name + ": %d messages reported, smtp-sink counted %d (want %d)"
          % (j["messages"], mesg - mesg0, messages))
    check(j["sessions"] == sessions and j["sessions_ok"] == sessions and
          sess - sess0 == sessions and quit - quit0 == sessions,
          name + ": %d sessions, each ended with QUIT (sink: %d, %d)"
          % (j["sessions"], sess - sess0, quit - quit0))
    ph = j["phases"]
    check(ph["dot"]["count"] == messages and
          ph["mail"]["count"] == messages and
          ph["rcpt"]["count"] == messages and
          ph["quit"]["count"] == sessions and
          ph["banner"]["count"] == sessions, name + ": every reply timed once")
    check(sum(j["errors"].values()) == 0, name + ": no errors")


for conc in (1, 10, 50):
    for k in (1, 4):
        for pipe in (False, True):
            run_case(conc, k, pipe, "events")
# Messages larger than a socket buffer: writes come back short and go
# on when the socket is writable again.
run_case(4, 1, False, "events", messages=8, size=16000000)
run_case(4, 2, True, "events", messages=8, size=16000000)
run_case(10, 1, False, "threads")
run_case(10, 4, True, "threads")
sink.stop()
done()
