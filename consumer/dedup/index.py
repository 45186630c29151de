"""The held stories: LSH candidate lookup plus a window bounded by event time and size.

The held entries live column-wise (:mod:`consumer.dedup.columns`); the LSH
candidates come from the band table (:mod:`consumer.dedup.bandtable`, which
describes its layout), and every hit is checked against the held signature
there and in :mod:`consumer.dedup.decide`, with the facts. A restore decodes the
changelog in bulk (:mod:`consumer.dedup.bulk`).

Eviction is never implicit: :meth:`Index.changes_for` returns the tombstones
that adding an entry implies (entries older than the window behind the
watermark, then the oldest beyond ``max_entries``) so that the caller can
write them to the changelog in the same transaction; applying the same list of
changes in the same order always yields the same index, live or on restore.

The window's clock is arrival, not the story's printed date (:meth:`Index.arrival_ms`):
a record's time is its Kafka timestamp held within ``max_step_ms`` of the
watermark, so no record moves the watermark, or evicts, by more than that
bound whatever its timestamp claims. The watermark is the latest held entry's
time, so a replica applying the changelog and a restore both get the owner's.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from consumer.dedup import bulk, kernels
from consumer.dedup.bandtable import Bands
from consumer.dedup.columns import Columns, Slots
from consumer.dedup.fingerprint import Signature
from consumer.dedup.state import StateEntry, UnreadableEntryError, upgrade

DEFAULT_WINDOW_MS = 72 * 3600 * 1000
DEFAULT_MAX_ENTRIES = 1_000_000
# how far one record's time may sit ahead of the watermark (so move it) or behind it
DEFAULT_MAX_STEP_MS = 60_000
# entries that left the time window, removed at most this many a record (see changes_for)
EVICT_BATCH = 32

Change = tuple[str, bytes | None]

_U2 = np.dtype(np.uint16)
_NO_TIME = -(1 << 63)  # min_time_ms when there is none

# heap items are Python ints ordered like (time, seq, slot)
_SEQ_SHIFT = 32
_TIME_SHIFT = 72
_SEQ_MASK = (1 << (_TIME_SHIFT - _SEQ_SHIFT)) - 1
_SLOT_MASK = (1 << _SEQ_SHIFT) - 1


def _plain(sig: Signature) -> Signature:
    """``sig`` as the kernels take it: a writable C-contiguous uint16 array (a read-only
    or strided view would make numba compile another specialisation on the spot)."""
    if sig.dtype == _U2 and sig.flags.c_contiguous and sig.flags.writeable:
        return sig
    return np.array(sig, dtype=np.uint16)


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


class Index(Columns):
    """Held story versions, looked up by fingerprint, agency id, story id and LSH."""

    def __init__(
        self, *, window_ms: int = DEFAULT_WINDOW_MS, max_entries: int = DEFAULT_MAX_ENTRIES,
        max_step_ms: int = DEFAULT_MAX_STEP_MS,
    ) -> None:
        self.window_ms = window_ms
        self.max_entries = max_entries
        self.max_step_ms = max_step_ms
        self.watermark_ms: int | None = None
        self._by_key: dict[bytes, int] = {}
        self._by_story: dict[bytes, int | list[int]] = {}
        self._by_agency: dict[str, int | list[int]] = {}
        # changelog entries of another format dropped as unreadable, by format version
        self.unreadable: dict[int, int] = {}
        self._next_seq = 0
        self._heap: list[int] = []  # (time << 72) + (seq << 32) + slot
        self.bands = Bands()  # the LSH band cells (public to read its size, not to write)
        super().__init__()

    # -- reading (pure) -------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: str) -> bool:
        return bytes.fromhex(key) in self._by_key

    def get(self, fingerprint: bytes) -> StateEntry | None:
        slot = self._by_key.get(fingerprint)
        return None if slot is None else self._entry(slot)

    def eviction_order(self) -> list[bytes]:
        """Fingerprints of the live entries in the order the size bound evicts them."""
        return [self._fp[slot].tobytes() for _, _, slot in self._oldest()]

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

    def arrival_ms(self, timestamp_ms: int | None) -> int:
        """The window time of a record with this Kafka timestamp: when wirefeed saw it.

        The timestamp (LogAppendTime where the topic uses it, else the producer's
        CreateTime) is held within ``max_step_ms`` of the watermark. Ahead: a
        producer clock years off, or one wrong record, moves the watermark by one
        step, so the window never holds fewer than ``window_ms / max_step_ms`` of
        the latest records; unbounded, one such record evicted every held story.
        Behind: a re-produced archive with its old timestamps counts as seen now,
        so it is held and its re-sends are caught; unbounded, each of its records
        was outside the window on arrival and never held. A record without a
        timestamp (a file in ``wirefeed process``) counts at the last known time.
        """
        wm = self.watermark_ms
        if wm is None:
            return 0 if timestamp_ms is None else timestamp_ms
        if timestamp_ms is None:
            return wm
        return min(max(timestamp_ms, wm - self.max_step_ms), wm + self.max_step_ms)

    def cutoff_ms(self, event_time_ms: int) -> int:
        """Entries strictly older than this are outside the window for that event time."""
        wm = event_time_ms if self.watermark_ms is None else max(self.watermark_ms, event_time_ms)
        return wm - self.window_ms

    def scan(self, sig: Signature, min_time_ms: int | None = None) -> tuple[Slots, Slots]:
        """Slots sharing at least one LSH band with ``sig`` (and not older than
        ``min_time_ms``), with their number of equal signature positions."""
        sig = _plain(sig)
        h = kernels.query_hashes(sig)
        found = self.bands.lookup(h)
        if not found.size:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        # repeats, check-byte false hits (~1 a query), evicted and too old slots out
        return kernels.verify(self._sigs, self._live, self._time, found, sig,
                              _NO_TIME if min_time_ms is None else min_time_ms)

    def shingle_counts(self, slots: Slots) -> list[int]:
        return self._count[slots].tolist()  # type: ignore[no-any-return]

    def describe(self, slots: Slots) -> tuple[list[int], list[str]]:
        """Shingle counts and event ids of ``slots``, without building entries."""
        return self._count[slots].tolist(), [r.tobytes().hex() for r in self._event[slots]]

    def memory_bytes(self) -> int:
        """Bytes held in numpy columns, the band table and the facts pool (not the dicts)."""
        return self._columns_nbytes() + self.bands.nbytes

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
        self.bands.delete(slot, kernels.query_hashes(self._sigs[slot]))
        _unlink(self._by_story, self._story[slot].tobytes(), slot)
        agency = self._agency[slot]
        if agency is not None:
            _unlink(self._by_agency, agency, slot)
        self._release(slot)
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
        story = bytes.fromhex(entry.story_id)
        self._store(slot, entry, seq, story)
        self._by_key[entry.fingerprint] = slot
        _link(self._by_story, story, slot)
        if entry.agency_id is not None:
            _link(self._by_agency, entry.agency_id, slot)
        item = (entry.event_time_ms << _TIME_SHIFT) + (seq << _SEQ_SHIFT) + slot
        heapq.heappush(self._heap, item)
        self._advance(entry.event_time_ms)
        if self.bands.insert(slot, kernels.query_hashes(self._sigs[slot]), self._sigs):
            self.bands.resize(self.slots(), self._sigs)

    def _advance(self, time_ms: int) -> None:
        if self.watermark_ms is None or time_ms > self.watermark_ms:
            self.watermark_ms = time_ms

    # -- restore --------------------------------------------------------------

    @classmethod
    def restore(
        cls,
        changes: Iterable[Change],
        *,
        window_ms: int = DEFAULT_WINDOW_MS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> Index:
        """Rebuild from a changelog, equivalent to ``apply_all`` but in bulk: the
        survivors decoded column-wise (:func:`consumer.dedup.bulk.decode`) fill the
        columns, and the band table is built in one go."""
        index = cls(window_ms=window_ms, max_entries=max_entries)
        held = bulk.decode(changes)
        index.watermark_ms = held.watermark_ms
        index.unreadable = held.unreadable
        n = len(held)
        if not n:
            return index
        index._load(held)
        index._next_seq = n
        index._by_key = dict(zip(held.fingerprints, range(n), strict=True))
        by_story: dict[bytes, int | list[int]] = dict(zip(held.stories, range(n), strict=True))
        if len(by_story) < n:  # stories with several versions held
            by_story = {}
            for slot, story in enumerate(held.stories):
                _link(by_story, story, slot)
        index._by_story = by_story
        for slot, aid in enumerate(held.agency):
            if aid is not None:
                _link(index._by_agency, aid, slot)
        del held

        index._heap = index._sorted_heap(np.arange(n, dtype=np.intp))
        index.bands = Bands.build(np.arange(n, dtype=np.intp), index._sigs)
        return index
