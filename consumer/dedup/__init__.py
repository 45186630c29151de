"""Dedup core: fingerprints, the held window, and the decision. Pure, no I/O.

* :mod:`.fingerprint`: what is computed from a story's text;
* :mod:`.state`: what is kept per story version, and its changelog encoding;
* :mod:`.index`: the held window (LSH lookup, eviction, restore);
* :mod:`.decide`: the decision rules.
"""

from consumer.dedup.decide import Decision, decide
from consumer.dedup.fingerprint import Features, features
from consumer.dedup.index import Change, Index
from consumer.dedup.state import StateEntry

__all__ = ["Change", "Decision", "Features", "Index", "StateEntry", "decide", "features"]
