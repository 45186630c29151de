"""The held stories: LSH candidate lookup plus a window bounded by event time and size.

Storage is column-wise: one numpy array a field (event time, sequence,
shingle count, version, flags, 16-byte fingerprint / story id / event id, the
128 x uint16 signature matrix, facts in one flat ``uint32`` pool with a start
and count a slot). A :class:`StateEntry` object is only built for the held
entries a decision actually looks at (exact hit, agency-id hits, LSH
candidates), so restore never builds a million Python objects and RAM a story
is the columns plus the band table (``bench/bench_dedup_scale.py`` measures it).

Why our own banding rather than rensa's ``RMinHashLSH`` or datasketch: restore
must rebuild the index from stored signatures (rensa's LSH only takes its own
``RMinHash`` objects, whose digest cannot be loaded back), and datasketch keeps
one Python dict entry a band and a story (42M dict entries at 1M stories).

Banding: 42 bands of 3 rows (126 of the 128 permutations). A pair with Jaccard
J becomes a candidate with probability 1-(1-J^3)^42: 0.9999 at 0.7, 0.996 at
0.5 (an update that doubles a story), 0.93 at 0.4, 4 % at 0.1. The band table
(:class:`_BandTable`) is a bucketed open-addressing multimap in one ``uint32``
numpy array: a bucket is one 64-byte cache line of 15 cells (an 8-bit check
byte of the 31-bit band hash and a 24-bit slot) and an overflow count (how many
cells live past the bucket), linear probing bucket by bucket, no tombstones,
load kept between 0.125 and 0.75 (built at 0.5). A lookup reads the 42 home
buckets and a next bucket only where the count is not zero, so its cost does not
grow with the number of held stories (a sorted array needs 42 binary searches
whose last ~10 levels are cache misses at 1M stories). The per-story walks are
compiled loops (:mod:`consumer.dedup.kernels`); the bulk build is numpy.
Every hit is then checked against the held signature (the three values of at
least one band equal), so a check-byte collision costs time, never
correctness; candidates are verified against their signatures and facts in
:mod:`consumer.dedup.decide`.

Eviction is never implicit: :meth:`Index.changes_for` returns the tombstones
that adding an entry implies (entries older than the window behind the event
time watermark, then the oldest beyond ``max_entries``) so that the caller can
write them to the changelog in the same transaction; applying the same list of
changes in the same order always yields the same index, live or on restore.
"""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.dedup import kernels
from consumer.dedup.fingerprint import NUM_PERM, Signature
from consumer.dedup.kernels import _D, _GOLD, _W, BANDS, ROWS
from consumer.dedup.state import (
    FORMAT_VERSION,
    HEAD_DTYPE,
    HEAD_SIZE,
    StateEntry,
    UnreadableEntryError,
    upgrade,
    upgrade_all,
)

DEFAULT_WINDOW_MS = 72 * 3600 * 1000
DEFAULT_MAX_ENTRIES = 1_000_000
# entries that left the time window, removed at most this many a record (see changes_for)
EVICT_BATCH = 32
_TIME_OFFSET = 1 + 16 * 3  # byte offset of the event time in an encoded entry
_TIME = struct.Struct("<q")

Change = tuple[str, bytes | None]
U64 = npt.NDArray[np.uint64]
Slots = npt.NDArray[np.intp]

# band table: buckets of _W = 16 uint32 cells (one cache line): _D = 15 entry cells
# (check byte << 24 | slot) and an overflow count (layout constants: kernels.py)
_PAD = 64  # buckets past the last home bucket, for overflow chains (no wrap-around)
# Empty is all zeros, so that a new table is np.zeros, pages the kernel zeroes when first
# touched, not a fill of the whole table: the add that starts a resize stood still 138 /
# 273 / 285 ms at 331k / 497k / 745k held with the fill, 104 / 152 / 211 ms without (what
# is left is those first touches: numpy asks for huge pages, and the first stories moved
# touch most of them)
_EMPTY = np.uint32(0)
_OVF = np.uint32(0)  # | count: an overflow cell is its count; its check byte 0 never matches
MAX_SLOTS = 0x00FF_FFFE  # a cell holds a 24-bit slot
_MAX_LOAD = 0.75
_BUILD_LOAD = 0.5
_MIN_LOAD = 0.125
# Stories moved into a resized band table with every add (see Index._resize): rebuilding
# the table in one go stood the worker still for O(held): 37 ms at 8,600 held, 136 ms at
# 29,000, 1.2 s at 220,000, 1.5x more at every resize after (bench/bench_dedup_scale.py).
# Eight an add (a few µs each with the kernels) finish a move while the new table is at most
# 9/16 full.
_MOVE_PER_ADD = 8
_CHUNK = 1 << 16
_U24, _U32, _U33 = np.uint32(24), np.uint64(32), np.uint64(33)
_U2 = np.dtype(np.uint16)
_NO_TIME = -(1 << 63)  # min_time_ms when there is none

# heap items are Python ints ordered like (time, seq, slot)
_SEQ_SHIFT = 32
_TIME_SHIFT = 72
_SEQ_MASK = (1 << (_TIME_SHIFT - _SEQ_SHIFT)) - 1
_SLOT_MASK = (1 << _SEQ_SHIFT) - 1

def band_keys(sigs: npt.NDArray[np.uint16]) -> U64:
    """(n, 128) signatures -> (n, BANDS) band keys, exact (no hashing)."""
    s = sigs[:, : BANDS * ROWS].astype(np.uint64).reshape(sigs.shape[0], BANDS, ROWS)
    band = (np.arange(BANDS, dtype=np.uint64) << np.uint64(48))[None, :]
    hi = (s[:, :, 0] << np.uint64(32)) | (s[:, :, 1] << np.uint64(16))
    out: U64 = band | hi | s[:, :, 2]
    return out


def band_hashes(sigs: npt.NDArray[np.uint16]) -> U64:
    """(n, 128) signatures -> (n, BANDS) 31-bit band hashes (Fibonacci hashing of the keys)."""
    out: U64 = (band_keys(sigs) * _GOLD) >> _U33
    return out


def _plain(sig: Signature) -> Signature:
    """``sig`` as the kernels take it: a writable C-contiguous uint16 array (a read-only
    or strided view would make numba compile another specialisation on the spot)."""
    if sig.dtype == _U2 and sig.flags.c_contiguous and sig.flags.writeable:
        return sig
    return np.array(sig, dtype=np.uint16)


def _aligned_buckets(n: int) -> npt.NDArray[np.uint32]:
    """(n, 16) zeros (empty cells, zero counts) starting on a 64-byte boundary: one
    bucket, one cache line."""
    buf = np.zeros(n * _W + _W, dtype=np.uint32)
    off = (-buf.ctypes.data % 64) // 4
    out: npt.NDArray[np.uint32] = buf[off : off + n * _W].reshape(n, _W)
    return out


def _check(h: U64) -> npt.NDArray[np.uint32]:
    """The check byte of a cell: the low 8 bits of the hash (the bucket uses the high
    bits), 0xFF folded into 0xFE, plus one: 1..255, so that no entry cell is 0 (empty)
    and no check byte is 0 (an overflow cell's, a count below 2^24)."""
    out: npt.NDArray[np.uint32] = (h & np.uint64(0xFF)).astype(np.uint32)
    np.minimum(out, np.uint32(0xFE), out=out)
    out += np.uint32(1)
    return out


def _slot_keys(sigs: npt.NDArray[np.uint16], slots: Slots) -> U64:
    """(len(slots), BANDS) keys ``band hash << 32 | slot``: sorted, they go by bucket."""
    out: U64 = (band_hashes(sigs[slots]) << _U32) | slots[:, None].astype(np.uint64)
    return out


def _key_cells(keys: U64) -> tuple[npt.NDArray[np.uint32], U64]:
    """The cells (check byte << 24 | slot) of keys from :func:`_slot_keys`, and their hashes."""
    h = keys >> _U32
    cells = _check(h)
    cells <<= _U24
    cells |= keys.astype(np.uint32)  # the low 32 bits: the slot
    return cells, h


class _BandTable:
    """Multimap 31-bit hash -> slot: bucketed open addressing with linear probing.

    A bucket is one 64-byte cache line of 16 ``uint32`` cells: 15 entry cells,
    each a check byte (see :func:`_check`) and a 24-bit slot (4 bytes a band a
    story at load 1), and an overflow cell ``_OVF | n``, n = how many entries
    live past this bucket with their home at or before it. Its bucket comes
    from the high bits of ``h``, so a cell matching the check byte is a
    candidate with a ~1/255 chance of being another hash: hits are verified
    against the signatures by the caller.

    Invariant: an entry lives in the first bucket, from its home bucket on,
    that had an empty cell when it was inserted, and every bucket it passed
    counts it in its overflow cell. A lookup stops at the first bucket whose
    count is 0 (one bucket for almost every band), and a deletion just empties
    the cell and un-counts the buckets it passed: no tombstones, so the table
    does not silt up under churn (with tombstones, a bucket that had once been
    full made every lookup through it read the next bucket too).
    """

    def __init__(self, nbuckets: int = 64, pad: int = _PAD) -> None:
        self.nb = nbuckets
        self.cells = _aligned_buckets(nbuckets + pad)  # all empty, all counts 0
        self.flat = self.cells.reshape(-1)  # what the kernels walk (a view)
        self.live = 0  # cells holding an entry

    @property
    def capacity(self) -> int:
        return self.nb * _D

    @property
    def nbytes(self) -> int:
        return int(self.cells.nbytes)

    def _bucket(self, h: U64) -> Slots:
        out: Slots = ((h * np.uint64(self.nb)) >> np.uint64(31)).astype(np.intp)
        return out

    def lookup(self, h: U64) -> npt.NDArray[np.uint32]:
        """Slots of every cell whose check byte matches (with repeats and false hits)."""
        return kernels.lookup(self.flat, self.nb, h)

    def insert(self, slot: int, h: U64) -> None:
        """Add one story's cells (a hash repeated in ``h`` gets one cell)."""
        start, placed = kernels.insert_story(self.flat, self.nb, h, slot, 0)
        while start < h.size:  # a chain reached the last bucket: a longer overflow area
            self._grow_pad()
            start, more = kernels.insert_story(self.flat, self.nb, h, slot, start)
            placed += more
        self.live += placed

    def _grow_pad(self) -> None:
        """Lengthen the overflow area past the last home bucket (a very long chain)."""
        pad = self.cells.shape[0] - self.nb
        grown = _BandTable(self.nb, 2 * pad)
        grown.cells[: self.cells.shape[0]] = self.cells
        self.cells, self.flat = grown.cells, grown.flat

    def delete(self, slot: int, h: U64) -> None:
        """Remove one story's cells (``h`` as given to :meth:`insert`)."""
        self.live -= kernels.delete_story(self.flat, self.nb, h, slot)

    @classmethod
    def build(cls, slots: Slots, sigs: npt.NDArray[np.uint16]) -> _BandTable:
        """Bulk-build from the signatures of ``slots``: one sort, then vectorised placement."""
        n = int(slots.size)
        keys = np.empty(n * BANDS, dtype=np.uint64)  # h << 32 | slot: sorts by bucket
        for a in range(0, n, _CHUNK):
            z = min(n, a + _CHUNK)
            keys[a * BANDS : z * BANDS] = _slot_keys(sigs, slots[a:z]).ravel()
        keys.sort()
        if keys.size > 1:
            keep = np.empty(keys.size, dtype=bool)
            keep[0] = True
            np.not_equal(keys[1:], keys[:-1], out=keep[1:])
            if not keep.all():  # a story whose bands share a hash: one cell is enough
                keys = keys[keep]
        cells, h = _key_cells(keys)
        del keys
        table = cls(max(64, int(h.size / (_D * _BUILD_LOAD)) + 1))
        if not h.size:
            return table
        # inserting in bucket order, a cell goes to the first empty cell at or after its
        # home bucket: in entry-cell numbering (15 a bucket), pos[i] = max(home[i] * 15,
        # pos[i-1] + 1)
        home = table._bucket(h)
        del h
        step = np.arange(home.size, dtype=np.intp)
        pos = home * _D - step
        np.maximum.accumulate(pos, out=pos)
        pos += step
        del step
        at = pos // _D
        rows = int(at[-1]) + 2  # the last bucket stays count-free
        if rows > table.cells.shape[0]:  # a long chain at the end (many equal bands)
            table = cls(table.nb, rows - table.nb + _PAD)
        table.cells.reshape(-1)[at * _W + pos % _D] = cells
        moved = at > home
        if moved.any():  # each moved cell counts in the buckets home .. at - 1
            nrows = table.cells.shape[0]
            diff = np.bincount(home[moved], minlength=nrows + 1)
            diff -= np.bincount(at[moved], minlength=nrows + 1)
            table.cells[:, _D] |= np.cumsum(diff[:nrows]).astype(np.uint32)
        table.live = int(pos.size)
        return table


@dataclass(frozen=True, slots=True)
class Held:
    """A held entry as the decision sees it: ``matches`` = equal signature positions."""

    entry: StateEntry
    slot: int
    matches: int = 0


def _link(table: dict[Any, int | list[int]], key: object, slot: int) -> None:
    cur = table.get(key)
    if cur is None:
        table[key] = slot
    elif isinstance(cur, int):
        table[key] = [cur, slot]
    else:
        cur.append(slot)


def _unlink(table: dict[Any, int | list[int]], key: object, slot: int) -> None:
    cur = table.get(key)
    if cur is None:
        return
    if isinstance(cur, int):
        if cur == slot:
            del table[key]
        return
    if slot in cur:
        cur.remove(slot)
    if len(cur) == 1:
        table[key] = cur[0]


def _slots_of(table: dict[Any, int | list[int]], key: object) -> list[int]:
    cur = table.get(key)
    if cur is None:
        return []
    return [cur] if isinstance(cur, int) else cur


class Index:
    """Held story versions, looked up by fingerprint, agency id, story id and LSH."""

    # one row a slot (see _columns); a slot is free when not _live
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
    _in_old: npt.NDArray[np.bool_]

    def __init__(
        self, *, window_ms: int = DEFAULT_WINDOW_MS, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self.window_ms = window_ms
        self.max_entries = max_entries
        self.watermark_ms: int | None = None
        self._by_key: dict[bytes, int] = {}
        self._by_story: dict[bytes, int | list[int]] = {}
        self._by_agency: dict[str, int | list[int]] = {}
        self._agency: list[str | None] = []
        self._text: list[bytes] = []  # a slot's snapshot for diffs (StateEntry.text)
        # changelog entries of another format dropped as unreadable, by format version
        self.unreadable: dict[int, int] = {}
        self._free: list[int] = []
        self._next_seq = 0
        self._heap: list[int] = []  # (time << 72) + (seq << 32) + slot
        self._table = _BandTable()
        # while the band table is resized: the table moved from, and the slots still in it
        self._old: _BandTable | None = None
        self._moving: Slots = np.zeros(0, dtype=np.intp)
        self._moved = 0  # how far into _moving
        self._facts_end = 0
        self._facts_dead = 0
        self._facts = np.zeros(4096, dtype=np.uint32)
        self._columns(1024)

    def _columns(self, cap: int) -> None:
        """Allocate (or grow to) ``cap`` slots, keeping what is held."""
        old = len(self._agency)
        specs: dict[str, tuple[tuple[int, ...], Any]] = {
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
            "_in_old": ((), np.bool_),  # its cells are in the table being moved from
        }
        for name, (shape, dtype) in specs.items():
            grown = np.zeros((cap, *shape), dtype=dtype)
            if old:
                grown[:old] = getattr(self, name)[:old]
            setattr(self, name, grown)
        self._cap = cap

    # -- reading (pure) -------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: str) -> bool:
        return bytes.fromhex(key) in self._by_key

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

    def get(self, fingerprint: bytes) -> StateEntry | None:
        slot = self._by_key.get(fingerprint)
        return None if slot is None else self._entry(slot)

    def entries(self) -> Iterator[StateEntry]:
        """Live entries in slot order (for tests and snapshots)."""
        return (self._entry(int(s)) for s in np.flatnonzero(self._live[: len(self._agency)]))

    def fingerprints(self) -> list[bytes]:
        """Fingerprints of the live entries, unordered."""
        return list(self._by_key)

    def by_agency_id(self, agency_id: str) -> list[StateEntry]:
        return [self._entry(s) for s in _slots_of(self._by_agency, agency_id)]

    def latest(self, story_id: str) -> StateEntry | None:
        """The newest held version of a story (the one an update supersedes)."""
        slots = _slots_of(self._by_story, bytes.fromhex(story_id))
        return self._entry(slots[-1]) if slots else None

    def latest_event(self, story_id: str) -> str | None:
        """The event id of the newest held version of a story (what an update supersedes)."""
        slots = _slots_of(self._by_story, bytes.fromhex(story_id))
        return self._event[slots[-1]].tobytes().hex() if slots else None

    def cutoff_ms(self, event_time_ms: int) -> int:
        """Entries strictly older than this are outside the window for that event time."""
        wm = event_time_ms if self.watermark_ms is None else max(self.watermark_ms, event_time_ms)
        return wm - self.window_ms

    def scan(self, sig: Signature, min_time_ms: int | None = None) -> tuple[Slots, Slots]:
        """Slots sharing at least one LSH band with ``sig`` (and not older than
        ``min_time_ms``), with their number of equal signature positions."""
        sig = _plain(sig)
        h = kernels.query_hashes(sig)
        found = self._table.lookup(h)
        if self._old is not None:  # a story not yet moved is found in the old table only
            found = np.concatenate((found, self._old.lookup(h)))
        if not found.size:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        # repeats, check-byte false hits (~1 a query), evicted and too old slots out
        return kernels.verify(self._sigs, self._live, self._time, found, sig,
                              _NO_TIME if min_time_ms is None else min_time_ms)

    def entry(self, slot: int) -> StateEntry:
        """The held entry in ``slot`` (as found by :meth:`scan`)."""
        return self._entry(slot)

    def shingle_counts(self, slots: Slots) -> list[int]:
        return self._count[slots].tolist()  # type: ignore[no-any-return]

    def describe(self, slots: Slots) -> tuple[list[int], list[str]]:
        """Shingle counts and event ids of ``slots``, without building entries."""
        return self._count[slots].tolist(), [r.tobytes().hex() for r in self._event[slots]]

    def candidates(self, sig: Signature, min_time_ms: int | None = None) -> list[Held]:
        """Held entries sharing at least one LSH band with ``sig``, in slot order."""
        slots, counts = self.scan(sig, min_time_ms)
        return [
            Held(self._entry(s), s, c)
            for s, c in zip(slots.tolist(), counts.tolist(), strict=True)
        ]

    def signatures(self, slots: list[int]) -> npt.NDArray[np.uint16]:
        return self._sigs[slots]

    def memory_bytes(self) -> int:
        """Bytes held in numpy columns, the band table and the facts pool (not the dicts)."""
        cols = sum(
            getattr(self, n).nbytes
            for n in ("_live", "_time", "_seq", "_count", "_version", "_flags", "_fstart",
                      "_fcount", "_fp", "_story", "_event", "_sigs", "_in_old")
        )
        old = self._old.nbytes if self._old is not None else 0
        return int(cols + self._facts.nbytes + self._table.nbytes + old)

    def _oldest(self) -> Iterator[tuple[int, int, int]]:
        """Live heap items in (time, seq) order, without popping (k log k for k items)."""
        heap = self._heap
        frontier: list[tuple[int, int]] = []
        if heap:
            frontier.append((heap[0], 0))
        while frontier:
            item, i = heapq.heappop(frontier)
            for child in (2 * i + 1, 2 * i + 2):
                if child < len(heap):
                    heapq.heappush(frontier, (heap[child], child))
            slot = item & _SLOT_MASK
            seq = (item >> _SEQ_SHIFT) & _SEQ_MASK
            if self._live[slot] and self._seq[slot] == seq:
                yield item >> _TIME_SHIFT, seq, slot

    def changes_for(self, entry: StateEntry) -> list[Change]:
        """Tombstones implied by adding ``entry``, then the entry itself.

        Entries that left the time window go at most :data:`EVICT_BATCH` a
        record: when event time jumps (a feed resumes after a pause, a replay
        of older news ends) thousands of entries expire at once, and evicting
        them in one commit stood the worker still for 20-120 ms. Expired
        entries never match meanwhile (``scan`` filters by the window), so
        spreading their removal changes no decision, only when the tombstones
        are written.
        """
        cutoff = self.cutoff_ms(entry.event_time_ms)
        if entry.event_time_ms < cutoff:
            return []  # already outside the window: holding it would evict it at once
        size = len(self) + (0 if entry.fingerprint in self._by_key else 1)
        out: list[Change] = []
        budget = EVICT_BATCH
        for time_ms, _, slot in self._oldest():
            fp = self._fp[slot].tobytes()
            if fp == entry.fingerprint:
                continue
            if size <= self.max_entries:  # else: the size bound holds after every record
                if time_ms >= cutoff or not budget:
                    break
                budget -= 1
            out.append((fp.hex(), None))
            size -= 1
        out.append((entry.key, entry.encode()))
        return out

    # -- writing --------------------------------------------------------------

    def apply(self, key: str, value: bytes | None) -> None:
        """Apply one changelog record: an encoded entry, or a tombstone."""
        if value is None:
            self.remove(bytes.fromhex(key))
            return
        try:
            self.add(StateEntry.decode(value))
        except UnreadableEntryError as exc:
            readable = upgrade(value)
            if readable is not None:
                self.add(StateEntry.decode(readable))
                return
            # another format's entry replaces this key: what was held under it is stale
            self.unreadable[exc.version] = self.unreadable.get(exc.version, 0) + 1
            self.remove(bytes.fromhex(key))

    def apply_all(self, changes: Iterable[Change]) -> None:
        for key, value in changes:
            self.apply(key, value)

    def apply_entry(self, entry: StateEntry, value: bytes) -> None:
        """Apply ``(entry.key, value)`` where ``value`` is ``entry.encode()``, without
        decoding it again: the entry object itself is added when it holds exactly what
        its encoding does (see :meth:`StateEntry.encodes_as_is`)."""
        self.add(entry if entry.encodes_as_is() else StateEntry.decode(value))

    def remove(self, fingerprint: bytes) -> bool:
        slot = self._by_key.pop(fingerprint, None)
        if slot is None:
            return False
        self._live[slot] = False
        cells = kernels.query_hashes(self._sigs[slot])
        if self._old is not None and self._in_old[slot]:
            self._old.delete(slot, cells)
            self._in_old[slot] = False
        else:
            self._table.delete(slot, cells)
        _unlink(self._by_story, self._story[slot].tobytes(), slot)
        agency = self._agency[slot]
        if agency is not None:
            _unlink(self._by_agency, agency, slot)
            self._agency[slot] = None
        self._text[slot] = b""
        self._facts_dead += int(self._fcount[slot])
        self._fcount[slot] = 0
        self._free.append(slot)
        self._drop_dead()
        return True

    def _heap_live(self, item: int) -> bool:
        slot = item & _SLOT_MASK
        return bool(self._live[slot]) and int(self._seq[slot]) == (item >> _SEQ_SHIFT) & _SEQ_MASK

    def _drop_dead(self) -> None:
        heap = self._heap
        while heap and not self._heap_live(heap[0]):
            heapq.heappop(heap)
        if len(heap) > 64 and len(heap) > 2 * len(self._by_key):
            self._heap = self._sorted_heap(np.flatnonzero(self._live[: len(self._agency)]))

    def _sorted_heap(self, slots: Slots) -> list[int]:
        """A heap of ``slots`` built as a sorted list (a sorted list is a heap)."""
        times, seqs = self._time[slots], self._seq[slots]
        order = np.lexsort((seqs, times))
        return [
            (t << _TIME_SHIFT) + (q << _SEQ_SHIFT) + s
            for t, q, s in zip(
                times[order].tolist(), seqs[order].tolist(), slots[order].tolist(), strict=True
            )
        ]

    def add(self, entry: StateEntry) -> None:
        """Add or replace an entry (a replaced entry counts as newest)."""
        self.remove(entry.fingerprint)
        slot = self._alloc()
        seq = self._next_seq
        self._next_seq += 1
        self._put_facts(slot, entry.facts)
        self._live[slot] = True
        self._time[slot] = entry.event_time_ms
        self._seq[slot] = seq
        self._count[slot] = entry.shingle_count
        self._version[slot] = -1 if entry.version is None else entry.version
        self._flags[slot] = entry.flags
        self._fp[slot] = np.frombuffer(entry.fingerprint, dtype=np.uint8)
        story = bytes.fromhex(entry.story_id)
        self._story[slot] = np.frombuffer(story, dtype=np.uint8)
        self._event[slot] = np.frombuffer(bytes.fromhex(entry.event_id), dtype=np.uint8)
        self._sigs[slot] = entry.signature
        self._agency[slot] = entry.agency_id
        self._text[slot] = entry.text
        self._by_key[entry.fingerprint] = slot
        _link(self._by_story, story, slot)
        if entry.agency_id is not None:
            _link(self._by_agency, entry.agency_id, slot)
        item = (entry.event_time_ms << _TIME_SHIFT) + (seq << _SEQ_SHIFT) + slot
        heapq.heappush(self._heap, item)
        self._advance(entry.event_time_ms)
        table = self._table
        table.insert(slot, kernels.query_hashes(self._sigs[slot]))
        if self._old is not None:
            self._move(_MOVE_PER_ADD)
        elif table.live > _MAX_LOAD * table.capacity or (
            table.nb > 64 and table.live < _MIN_LOAD * table.capacity
        ):  # grow, or give back the memory of a peak
            self._resize()

    def _resize(self) -> None:
        """Start moving every story into a table sized for what is held now.

        Stories move a few per add (:meth:`_move`), not all at once: rebuilding
        the table in one go was a stall proportional to the stories held, seconds
        at a million, long enough for a missed heartbeat. Meanwhile new stories
        go to the new table, lookups read both, and a removal takes a story's
        cells from whichever table holds them.
        """
        live = np.flatnonzero(self._live[: len(self._agency)])
        cells = int(live.size) * BANDS
        self._old = self._table
        self._table = _BandTable(max(64, int(cells / (_D * _BUILD_LOAD)) + 1))
        self._in_old[live] = True
        self._moving, self._moved = live, 0
        self._move(_MOVE_PER_ADD)

    def _move(self, n: int) -> None:
        """Move the next ``n`` stories of the old table, less those removed meanwhile
        (cells stay behind in it: the old table is dropped whole once all have moved)."""
        assert self._old is not None
        moving = self._moving
        end = min(moving.size, self._moved + n)
        slots = moving[self._moved : end]
        self._moved = end
        for slot in slots[self._in_old[slots]].tolist():  # the others were removed meanwhile
            self._table.insert(slot, kernels.query_hashes(self._sigs[slot]))
            self._in_old[slot] = False
        if self._moved >= moving.size:
            self._old, self._moving, self._moved = None, np.zeros(0, dtype=np.intp), 0

    def _advance(self, time_ms: int) -> None:
        if self.watermark_ms is None or time_ms > self.watermark_ms:
            self.watermark_ms = time_ms

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
        live = np.flatnonzero(self._live[: len(self._agency)])
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

    # -- restore --------------------------------------------------------------

    @classmethod
    def restore(
        cls,
        changes: Iterable[Change],
        *,
        window_ms: int = DEFAULT_WINDOW_MS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> Index:
        """Rebuild from a changelog, equivalent to ``apply_all`` but in bulk.

        The replay is first reduced to the surviving value per key (a replaced
        or re-added key moves to the end, as :meth:`add` gives it the newest
        sequence number). The fixed-size heads (struct fields + signature) of
        all survivors are then joined and read as one numpy structured array,
        the facts likewise as one ``uint32`` buffer: per entry, Python only
        slices bytes and fills the fingerprint / story / agency dicts.
        """
        index = cls(window_ms=window_ms, max_entries=max_entries)
        changes = list(changes)
        live: dict[str, bytes] = {}
        dropped: list[bytes] = []
        if all(value is not None for _, value in changes):  # e.g. a compacted changelog
            live = dict(changes)  # type: ignore[arg-type]
        if len(live) < len(changes):  # tombstones or repeated keys: replay in order
            live = {}
            for key, value in changes:
                old = live.pop(key, None)
                if old is not None:
                    dropped.append(old)
                if value is not None:
                    live[key] = value
        watermark: int | None = None
        for value in dropped:
            (t,) = _TIME.unpack_from(value, _TIME_OFFSET)
            watermark = t if watermark is None else max(watermark, t)
        vals, index.unreadable = upgrade_all(list(live.values()))
        del live, dropped
        n = len(vals)
        if not n:
            index.watermark_ms = watermark
            return index
        lens = np.fromiter(map(len, vals), dtype=np.int64, count=n)
        if int(lens.min()) < HEAD_SIZE:
            raise ValueError("truncated state entry")
        head = np.frombuffer(b"".join([v[:HEAD_SIZE] for v in vals]), dtype=HEAD_DTYPE)
        if (head["format"] != FORMAT_VERSION).any():
            bad = int(head["format"][head["format"] != FORMAT_VERSION][0])
            raise ValueError(f"unknown state entry format {bad}")
        alen = head["alen"].astype(np.int64)
        alen[alen == 255] = 0
        nfacts = head["nfacts"].astype(np.int64)
        ends = HEAD_SIZE + alen + 4 * nfacts  # the text (format 2) is the rest
        if (ends > lens).any():
            raise ValueError("state entry length does not match its header")

        index._columns(max(1024, n))
        index._live[:n] = True
        times = head["time"].astype(np.int64)
        index._time[:n] = times
        index._seq[:n] = np.arange(n)
        index._next_seq = n
        index._count[:n] = head["count"]
        index._version[:n] = head["version"]
        index._flags[:n] = head["flags"]
        index._fp[:n] = head["fp"]
        index._story[:n] = head["story"]
        index._event[:n] = head["event"]
        index._sigs[:n] = head["sig"]
        with_agency = np.flatnonzero(head["alen"] != 255)
        del head

        alens = alen.tolist()
        fact_ends = ends.tolist()
        tails = b"".join(
            [v[HEAD_SIZE + a : e] for v, a, e in zip(vals, alens, fact_ends, strict=True)]
        )
        index._text = [v[e:] for v, e in zip(vals, fact_ends, strict=True)]
        total = int(nfacts.sum())
        index._facts = np.zeros(max(4096, total + total // 4), dtype=np.uint32)
        index._facts[:total] = np.frombuffer(tails, dtype="<u4")
        del tails
        index._fstart[:n] = np.cumsum(nfacts) - nfacts
        index._fcount[:n] = nfacts
        index._facts_end = total

        agency: list[str | None] = [None] * n
        for slot in with_agency.tolist():
            agency[slot] = vals[slot][HEAD_SIZE : HEAD_SIZE + alens[slot]].decode("utf-8")
        index._agency = agency
        index._by_key = dict(zip([v[1:17] for v in vals], range(n), strict=True))
        stories = [v[17:33] for v in vals]
        by_story: dict[bytes, int | list[int]] = dict(zip(stories, range(n), strict=True))
        if len(by_story) < n:  # stories with several versions held
            by_story = {}
            for slot, story in enumerate(stories):
                _link(by_story, story, slot)
        index._by_story = by_story
        for slot, aid in enumerate(agency):
            if aid is not None:
                _link(index._by_agency, aid, slot)
        del vals

        live_max = int(times.max())
        index.watermark_ms = live_max if watermark is None else max(watermark, live_max)
        index._heap = index._sorted_heap(np.arange(n, dtype=np.intp))
        index._table = _BandTable.build(np.arange(n, dtype=np.intp), index._sigs)
        return index
