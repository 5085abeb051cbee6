"""smtp-fuzz against correct servers (aiosmtpd plain, aiosmtpd with
STARTTLS and AUTH, Postfix smtp-sink), SP_FUZZ_FP_BUDGET seconds each
(default 60; label fuzzer, left out of the default run): no crash, no
hang and no STARTTLS finding may be reported.  Other RFC findings are
allowed (these servers have some) and listed.  The default run has a
30 s version in tests/fuzzer-quick."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzzlib import FUZZ, done, need, no_false_positives, skip

BUDGET = int(os.environ.get("SP_FUZZ_FP_BUDGET", "60"))
need(FUZZ)
if no_false_positives(BUDGET, tempfile.mkdtemp(prefix="fuzzer-fp-")) == 0:
    skip("neither aiosmtpd nor smtp-sink available")
done()
