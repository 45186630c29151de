"""The LSH band table: which held stories share a band with a signature.

Why our own banding rather than rensa's ``RMinHashLSH`` or datasketch: restore
must rebuild the table from stored signatures (rensa's LSH only takes its own
``RMinHash`` objects, whose digest cannot be loaded back), and datasketch keeps
one Python dict entry a band and a story (tens of millions at 1M stories).

Banding: 42 bands of 3 rows (126 of the 128 permutations). A pair with Jaccard
J becomes a candidate with probability 1-(1-J^3)^42: 0.9999 at 0.7, 0.996 at
0.5 (an update that doubles a story), 0.93 at 0.4, 4 % at 0.1. A band's key is
exact (``band << 48 | v0 << 32 | v1 << 16 | v2``); its 31-bit hash is the key's
Fibonacci hash.

Layout, the one description of it (the constants are in
:mod:`consumer.dedup.kernels`, whose compiled walks freeze them):

* one ``(rows, BUCKET_CELLS = 16)`` ``uint32`` numpy array, starting on a 64-byte
  boundary: a bucket is one cache line;
* a bucket's first ``ENTRY_CELLS = 15`` cells hold entries, ``check byte << 24 |
  slot`` (a 24-bit slot, so at most :data:`MAX_SLOTS` stories), :data:`EMPTY`
  (0) when free; the check byte is the hash's low 8 bits folded into 1..255, so
  no entry cell is 0;
* its last cell is the overflow count: how many entries live past this bucket
  with their home at or before it (its check byte is 0, so it never matches);
* a hash's home bucket comes from its high bits (``h * buckets >> 31``); an entry
  lives in the first bucket from its home on that had an empty cell when it was
  inserted (linear probing bucket by bucket), and every bucket it passed counts
  it. :data:`PAD` rows past the last home bucket take the chains that run off
  the end (no wrap-around), and the very last row stays count-free.

A lookup reads the 42 home buckets and a next bucket only where the count is
not zero, so its cost does not grow with the number of held stories (a sorted
array needs 42 binary searches whose last levels are cache misses). A deletion
empties the cell and un-counts the buckets it passed: no tombstones, so the
table does not silt up under churn. A check-byte match is another hash with a
chance of about 1/255: the index verifies every hit against the held signature,
so a collision costs time, never correctness.

The load is kept between :data:`MIN_LOAD` and :data:`MAX_LOAD` (built at
:data:`BUILD_LOAD`); :class:`Bands` resizes without a stall. The per-story walks
are compiled (:mod:`consumer.dedup.kernels`); the bulk build is numpy, one sort
over millions of cells being what numpy does well.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from consumer.dedup import kernels
from consumer.dedup.kernels import BANDS, BUCKET_CELLS, ENTRY_CELLS, GOLDEN, ROWS

U64 = npt.NDArray[np.uint64]
Slots = npt.NDArray[np.intp]
Sigs = npt.NDArray[np.uint16]

# Empty is all zeros, so that a new table is np.zeros: pages the kernel zeroes when first
# touched, rather than a fill of the whole table when a resize starts.
EMPTY = np.uint32(0)
MAX_SLOTS = 0x00FF_FFFE  # a cell holds a 24-bit slot
PAD = 64
MAX_LOAD = 0.75
BUILD_LOAD = 0.5
MIN_LOAD = 0.125
# Stories moved into a resized table with every insert: enough to finish a move while
# the new table is at most 9/16 full, few enough that an insert stays microseconds.
MOVE_PER_ADD = 8
_CHUNK = 1 << 16
_U24, _U32, _U33 = np.uint32(24), np.uint64(32), np.uint64(33)


def band_keys(sigs: Sigs) -> U64:
    """(n, 128) signatures -> (n, BANDS) band keys, exact (no hashing)."""
    s = sigs[:, : BANDS * ROWS].astype(np.uint64).reshape(sigs.shape[0], BANDS, ROWS)
    band = (np.arange(BANDS, dtype=np.uint64) << np.uint64(48))[None, :]
    hi = (s[:, :, 0] << np.uint64(32)) | (s[:, :, 1] << np.uint64(16))
    out: U64 = band | hi | s[:, :, 2]
    return out


def band_hashes(sigs: Sigs) -> U64:
    """(n, 128) signatures -> (n, BANDS) 31-bit band hashes (Fibonacci hashing of the keys)."""
    out: U64 = (band_keys(sigs) * GOLDEN) >> _U33
    return out


def _aligned_buckets(n: int) -> npt.NDArray[np.uint32]:
    """(n, 16) zeros (empty cells, zero counts) starting on a 64-byte boundary: one
    bucket, one cache line."""
    buf = np.zeros(n * BUCKET_CELLS + BUCKET_CELLS, dtype=np.uint32)
    off = (-buf.ctypes.data % 64) // 4
    out: npt.NDArray[np.uint32] = buf[off : off + n * BUCKET_CELLS].reshape(n, BUCKET_CELLS)
    return out


def _check(h: U64) -> npt.NDArray[np.uint32]:
    """The check bytes of hashes: the low 8 bits, 0xFF folded into 0xFE, plus one."""
    out: npt.NDArray[np.uint32] = (h & np.uint64(0xFF)).astype(np.uint32)
    np.minimum(out, np.uint32(0xFE), out=out)
    out += np.uint32(1)
    return out


def _slot_keys(sigs: Sigs, slots: Slots) -> U64:
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


class BandTable:
    """Multimap 31-bit hash -> slot in the layout the module describes.

    ``cells`` is the ``(rows, 16)`` array, ``flat`` the same memory viewed flat
    (what the kernels walk), ``nb`` the number of home buckets, ``live`` the
    cells holding an entry.
    """

    def __init__(self, nbuckets: int = 64, pad: int = PAD) -> None:
        self.nb = nbuckets
        self.cells = _aligned_buckets(nbuckets + pad)  # all empty, all counts 0
        self.flat = self.cells.reshape(-1)
        self.live = 0

    @property
    def capacity(self) -> int:
        return self.nb * ENTRY_CELLS

    @property
    def nbytes(self) -> int:
        return int(self.cells.nbytes)

    def homes(self, h: U64) -> Slots:
        """The home buckets of hashes."""
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
        grown = BandTable(self.nb, 2 * pad)
        grown.cells[: self.cells.shape[0]] = self.cells
        self.cells, self.flat = grown.cells, grown.flat

    def delete(self, slot: int, h: U64) -> None:
        """Remove one story's cells (``h`` as given to :meth:`insert`)."""
        self.live -= kernels.delete_story(self.flat, self.nb, h, slot)

    @classmethod
    def build(cls, slots: Slots, sigs: Sigs) -> BandTable:
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
        table = cls(max(64, int(h.size / (ENTRY_CELLS * BUILD_LOAD)) + 1))
        if not h.size:
            return table
        # inserting in bucket order, a cell goes to the first empty cell at or after its
        # home bucket: in entry-cell numbering (15 a bucket), pos[i] = max(home[i] * 15,
        # pos[i-1] + 1)
        home = table.homes(h)
        del h
        step = np.arange(home.size, dtype=np.intp)
        pos = home * ENTRY_CELLS - step
        np.maximum.accumulate(pos, out=pos)
        pos += step
        del step
        at = pos // ENTRY_CELLS
        rows = int(at[-1]) + 2  # the last bucket stays count-free
        if rows > table.cells.shape[0]:  # a long chain at the end (many equal bands)
            table = cls(table.nb, rows - table.nb + PAD)
        table.cells.reshape(-1)[at * BUCKET_CELLS + pos % ENTRY_CELLS] = cells
        moved = at > home
        if moved.any():  # each moved cell counts in the buckets home .. at - 1
            nrows = table.cells.shape[0]
            diff = np.bincount(home[moved], minlength=nrows + 1)
            diff -= np.bincount(at[moved], minlength=nrows + 1)
            table.cells[:, ENTRY_CELLS] |= np.cumsum(diff[:nrows]).astype(np.uint32)
        table.live = int(pos.size)
        return table


class Bands:
    """The band cells of every held story: one :class:`BandTable`, resized without a stall.

    When an insert leaves the load outside [:data:`MIN_LOAD`, :data:`MAX_LOAD`],
    a table sized for what is held starts and the stories move into it
    :data:`MOVE_PER_ADD` an insert: rebuilding in one go is a stall proportional
    to the stories held, long enough at a million for a missed heartbeat.
    Meanwhile new stories go to the new table, lookups read both, and a deletion
    takes a story's cells from whichever table holds them; the old table is
    dropped whole once all have moved (cells of stories deleted meanwhile stay
    behind in it).
    """

    def __init__(self, table: BandTable | None = None) -> None:
        self.table = table if table is not None else BandTable()
        # while resizing: the table moved from, the slots it held then, how far into them
        # the move is, and which slots' cells are still in it (slots past its end are not)
        self._old: BandTable | None = None
        self._moving: Slots = np.zeros(0, dtype=np.intp)
        self._moved = 0
        self._in_old = np.zeros(0, dtype=np.bool_)

    @classmethod
    def build(cls, slots: Slots, sigs: Sigs) -> Bands:
        """Bulk-build for ``slots`` out of ``sigs``, one row a slot."""
        return cls(BandTable.build(slots, sigs))

    @property
    def resizing(self) -> bool:
        return self._old is not None

    @property
    def buckets(self) -> int:
        """Home buckets of the table stories are inserted into."""
        return self.table.nb

    @property
    def nbytes(self) -> int:
        old = self._old.nbytes if self._old is not None else 0
        return int(self.table.nbytes + old + self._in_old.nbytes)

    def lookup(self, h: U64) -> npt.NDArray[np.uint32]:
        """As :meth:`BandTable.lookup`, over both tables while resizing."""
        found = self.table.lookup(h)
        if self._old is not None:  # a story not yet moved is found in the old table only
            found = np.concatenate((found, self._old.lookup(h)))
        return found

    def insert(self, slot: int, h: U64, sigs: Sigs) -> bool:
        """Add one story's cells and move the next few of a resize (their hashes come
        from ``sigs``). True when the load asks for a resize: call :meth:`resize`."""
        table = self.table
        table.insert(slot, h)
        if self._old is not None:
            self._move(MOVE_PER_ADD, sigs)
            return False
        return table.live > MAX_LOAD * table.capacity or (
            table.nb > 64 and table.live < MIN_LOAD * table.capacity
        )  # grow, or give back the memory of a peak

    def delete(self, slot: int, h: U64) -> None:
        """Remove one story's cells (``h`` as given to :meth:`insert`)."""
        if self._old is not None and slot < self._in_old.size and self._in_old[slot]:
            self._old.delete(slot, h)
            self._in_old[slot] = False
        else:
            self.table.delete(slot, h)

    def resize(self, live: Slots, sigs: Sigs) -> None:
        """Start moving the stories in ``live`` into a table sized for them."""
        cells = int(live.size) * BANDS
        self._old = self.table
        self.table = BandTable(max(64, int(cells / (ENTRY_CELLS * BUILD_LOAD)) + 1))
        self._in_old = np.zeros(sigs.shape[0], dtype=np.bool_)
        self._in_old[live] = True
        self._moving, self._moved = live, 0
        self._move(MOVE_PER_ADD, sigs)

    def _move(self, n: int, sigs: Sigs) -> None:
        """Move the next ``n`` stories of the old table, less those deleted meanwhile."""
        assert self._old is not None
        moving = self._moving
        end = min(moving.size, self._moved + n)
        slots = moving[self._moved : end]
        self._moved = end
        for slot in slots[self._in_old[slots]].tolist():  # the others were deleted meanwhile
            self.table.insert(slot, kernels.query_hashes(sigs[slot]))
            self._in_old[slot] = False
        if self._moved >= moving.size:
            self._old, self._moving, self._moved = None, np.zeros(0, dtype=np.intp), 0
            self._in_old = np.zeros(0, dtype=np.bool_)
