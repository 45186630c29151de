"""Where the held entries' fields live: one numpy column a field, one row a slot.

Why column-wise: a :class:`StateEntry` object is only built for the held
entries a decision actually looks at (exact hit, agency-id hits, LSH
candidates), so restore never builds a million Python objects, and RAM a story
is the columns plus the band table (``bench/bench_dedup_scale.py`` measures
it). The columns are event time, sequence, shingle count, version, flags, the
16-byte fingerprint / story id / event id and the 128 x uint16 signature; facts
go to one flat ``uint32`` pool with a start and count a slot.

:class:`consumer.dedup.index.Index` extends :class:`Columns`: the underscore
columns are shared with it, its subclass, and with nothing else.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.dedup.bandtable import MAX_SLOTS
from consumer.dedup.bulk import Survivors
from consumer.dedup.fingerprint import NUM_PERM
from consumer.dedup.state import StateEntry

Slots = npt.NDArray[np.intp]

_CHUNK = 1 << 16
# one spec a column: its row shape and dtype
_SPECS: dict[str, tuple[tuple[int, ...], Any]] = {
    "_live": ((), np.bool_),
    "_time": ((), np.int64),
    "_seq": ((), np.int64),
    "_count": ((), np.uint32),
    "_version": ((), np.int32),
    "_flags": ((), np.uint8),
    "_fstart": ((), np.int64),
    "_fcount": ((), np.uint32),
    "_fp": ((16,), np.uint8),
    "_story": ((16,), np.uint8),
    "_event": ((16,), np.uint8),
    "_sigs": ((NUM_PERM,), np.uint16),
}


class Columns:
    """Held entries by slot; a slot is free when not ``_live`` and reused first."""

    _live: npt.NDArray[np.bool_]
    _time: npt.NDArray[np.int64]
    _seq: npt.NDArray[np.int64]
    _count: npt.NDArray[np.uint32]
    _version: npt.NDArray[np.int32]
    _flags: npt.NDArray[np.uint8]
    _fstart: npt.NDArray[np.int64]
    _fcount: npt.NDArray[np.uint32]
    _fp: npt.NDArray[np.uint8]
    _story: npt.NDArray[np.uint8]
    _event: npt.NDArray[np.uint8]
    _sigs: npt.NDArray[np.uint16]

    def __init__(self) -> None:
        self._agency: list[str | None] = []  # one a slot in use: its length is the slots in use
        self._text: list[bytes] = []  # a slot's snapshot for diffs (StateEntry.text)
        self._free: list[int] = []
        self._facts_end = 0
        self._facts_dead = 0
        self._facts = np.zeros(4096, dtype=np.uint32)
        self._columns(1024)

    def _columns(self, cap: int) -> None:
        """Allocate (or grow to) ``cap`` slots, keeping what is held."""
        old = len(self._agency)
        for name, (shape, dtype) in _SPECS.items():
            grown = np.zeros((cap, *shape), dtype=dtype)
            if old:
                grown[:old] = getattr(self, name)[:old]
            setattr(self, name, grown)
        self._cap = cap

    def slots(self) -> Slots:
        """The slots of the live entries, in slot order."""
        return np.flatnonzero(self._live[: len(self._agency)])

    def _entry(self, slot: int) -> StateEntry:
        """Materialise one held entry (copies: a slot is reused after eviction)."""
        start = int(self._fstart[slot])
        version = int(self._version[slot])
        return StateEntry(
            fingerprint=self._fp[slot].tobytes(),
            story_id=self._story[slot].tobytes().hex(),
            event_id=self._event[slot].tobytes().hex(),
            event_time_ms=int(self._time[slot]),
            signature=self._sigs[slot].copy(),
            shingle_count=int(self._count[slot]),
            facts=self._facts[start : start + int(self._fcount[slot])].copy(),
            agency_id=self._agency[slot],
            version=None if version == -1 else version,
            flags=int(self._flags[slot]),
            text=self._text[slot],
        )

    def entry(self, slot: int) -> StateEntry:
        """The held entry in ``slot`` (as found by :meth:`Index.scan`)."""
        return self._entry(slot)

    def _columns_nbytes(self) -> int:
        """Bytes of the columns and the facts pool."""
        return int(sum(getattr(self, n).nbytes for n in _SPECS) + self._facts.nbytes)

    def _alloc(self) -> int:
        if self._free:
            return self._free.pop()
        slot = len(self._agency)
        if slot >= MAX_SLOTS:
            raise OverflowError(f"the dedup index holds at most {MAX_SLOTS} entries")
        if slot >= self._cap:
            self._columns(max(1024, slot * 2))
        self._agency.append(None)
        self._text.append(b"")
        return slot

    def _store(self, slot: int, entry: StateEntry, seq: int, story: bytes) -> None:
        """Write ``entry`` (sequence number ``seq``, story id ``story``) into ``slot``."""
        self._put_facts(slot, entry.facts)
        self._live[slot] = True
        self._time[slot] = entry.event_time_ms
        self._seq[slot] = seq
        self._count[slot] = entry.shingle_count
        self._version[slot] = -1 if entry.version is None else entry.version
        self._flags[slot] = entry.flags
        self._fp[slot] = np.frombuffer(entry.fingerprint, dtype=np.uint8)
        self._story[slot] = np.frombuffer(story, dtype=np.uint8)
        self._event[slot] = np.frombuffer(bytes.fromhex(entry.event_id), dtype=np.uint8)
        self._sigs[slot] = entry.signature
        self._agency[slot] = entry.agency_id
        self._text[slot] = entry.text

    def _release(self, slot: int) -> None:
        """Free ``slot``: its facts become garbage in the pool, the slot is reused."""
        self._live[slot] = False
        self._agency[slot] = None
        self._text[slot] = b""
        self._facts_dead += int(self._fcount[slot])
        self._fcount[slot] = 0
        self._free.append(slot)

    def _load(self, held: Survivors) -> None:
        """Fill an empty store with the survivors of a replay, in slot order."""
        n = len(held)
        self._columns(max(1024, n))
        self._live[:n] = True
        self._seq[:n] = np.arange(n)
        head = held.head
        for column, field in (("_time", "time"), ("_count", "count"), ("_version", "version"),
                              ("_flags", "flags"), ("_fp", "fp"), ("_story", "story"),
                              ("_event", "event"), ("_sigs", "sig")):
            getattr(self, column)[:n] = head[field]
        total = int(held.facts.size)
        self._facts = np.zeros(max(4096, total + total // 4), dtype=np.uint32)
        self._facts[:total] = held.facts
        self._fstart[:n] = np.cumsum(held.nfacts) - held.nfacts
        self._fcount[:n] = held.nfacts
        self._facts_end = total
        self._agency = held.agency
        self._text = held.text

    def _put_facts(self, slot: int, facts: npt.NDArray[np.uint32]) -> None:
        n = int(facts.size)
        if self._facts_end + n > self._facts.size:
            if self._facts_dead * 2 > self._facts_end:
                self._compact_facts()
            if self._facts_end + n > self._facts.size:
                grown = np.zeros(max(2 * self._facts.size, self._facts_end + n), dtype=np.uint32)
                grown[: self._facts_end] = self._facts[: self._facts_end]
                self._facts = grown
        self._facts[self._facts_end : self._facts_end + n] = facts
        self._fstart[slot] = self._facts_end
        self._fcount[slot] = n
        self._facts_end += n

    def _compact_facts(self) -> None:
        live = self.slots()
        starts = self._fstart[live]
        counts = self._fcount[live].astype(np.int64)
        offsets = np.cumsum(counts) - counts
        total = int(counts.sum())
        pool = np.zeros(max(4096, 2 * total), dtype=np.uint32)
        for a in range(0, live.size, _CHUNK):
            z = min(live.size, a + _CHUNK)
            c = counts[a:z]
            m = int(c.sum())
            if m:
                idx = np.repeat(starts[a:z] - (offsets[a:z] - offsets[a]), c) + np.arange(m)
                pool[offsets[a] : offsets[a] + m] = self._facts[idx]
        self._facts = pool
        self._fstart[live] = offsets
        self._facts_end = total
        self._facts_dead = 0
