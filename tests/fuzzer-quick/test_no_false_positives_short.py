"""The default run's version of tests/fuzzer/test_no_false_positives.py:
30 s against each correct server (aiosmtpd plain, aiosmtpd with
STARTTLS and AUTH, Postfix smtp-sink), another --seed.  No crash, no
hang and no STARTTLS finding may be reported."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fuzzer"))
from fuzzlib import FUZZ, done, need, no_false_positives, skip

need(FUZZ)
if no_false_positives(30, tempfile.mkdtemp(prefix="fuzzer-fp-"),
                      seed="3") == 0:
    skip("neither aiosmtpd nor smtp-sink available")
done()
