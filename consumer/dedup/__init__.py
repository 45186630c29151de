"""Dedup core: fingerprints, the held window, and the decision. Pure, no I/O.

* :mod:`.fingerprint`: what is computed from a story's text;
* :mod:`.state`: what is kept per story version, and its changelog encoding;
* :mod:`.index`: the held window (lookup, eviction, restore), stored column-wise
  (:mod:`.columns`), with the LSH band table (:mod:`.bandtable`, its per-story walks
  compiled in :mod:`.kernels`) and the changelog decoded in bulk (:mod:`.bulk`);
* :mod:`.decide`: the decision rules.
"""

from consumer.dedup.decide import Decision, decide
from consumer.dedup.fingerprint import Features, features
from consumer.dedup.index import Change, Index
from consumer.dedup.state import StateEntry

__all__ = ["Change", "Decision", "Features", "Index", "StateEntry", "decide", "features"]
