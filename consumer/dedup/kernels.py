"""The band table's per-story operations, compiled with numba.

Why compiled: one story is 42 band hashes, and as numpy expressions each walk
was a dozen or more array operations of call overhead on arrays of 42 values;
the same walks as plain loops compiled by numba (:mod:`consumer.jit`) take a few
microseconds (``bench/ROUNDS.md`` has the figures). The tests check them against
plain references (``tests/unit/test_dedup_kernels.py``).

The layout they walk (buckets, cells, overflow counts, check bytes) is described
once, in :mod:`consumer.dedup.bandtable`; its constants are defined here because
the compiled code freezes them, and the bulk build stays vectorised numpy there.

Compiled code is cached (see :mod:`consumer.jit`): a pod compiles once and its
container restarts load the cache. The worker calls :func:`warm` at start, with
the parsers' warm-up, before it takes a record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.jit import jit

U32 = npt.NDArray[np.uint32]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
Int = int | np.integer[Any]  # what the kernels get: Python ints, numpy scalars

# the layout (see consumer.dedup.bandtable)
BANDS = 42
ROWS = 3
BUCKET_CELLS = 16
ENTRY_CELLS = 15
SLOT_MASK = 0x00FF_FFFF
GOLDEN = np.uint64(0x9E37_79B9_7F4A_7C15)


@jit
def query_hashes(sig: npt.NDArray[np.uint16]) -> U64:
    """The 42 band hashes of one signature: Fibonacci hashing of the exact band key
    ``band << 48 | v0 << 32 | v1 << 16 | v2`` (``bandtable.band_hashes`` in numpy)."""
    out = np.empty(BANDS, dtype=np.uint64)
    for b in range(BANDS):
        key = (
            (np.uint64(b) << np.uint64(48))
            | (np.uint64(sig[3 * b]) << np.uint64(32))
            | (np.uint64(sig[3 * b + 1]) << np.uint64(16))
            | np.uint64(sig[3 * b + 2])
        )
        out[b] = (key * GOLDEN) >> np.uint64(33)
    return out


@jit
def _home(hv: Int, nb: Int) -> Int:
    return (hv * nb) >> 31


@jit
def _check(hv: Int) -> Int:
    """Check byte 1..255 of a hash (``bandtable._check`` in numpy): never 0, the empty
    cell's."""
    return min(hv & 0xFF, 0xFE) + 1


@jit
def _repeated(h: U64, i: int) -> bool:
    """Whether ``h[i]`` already occurs in ``h[:i]`` (a story's repeated band hash has
    one cell)."""
    for k in range(i):  # noqa: SIM110 (numba compiles no generator in any())
        if h[k] == h[i]:
            return True
    return False


@jit
def _collect(flat: U32, nb: Int, h: U64, out: U32) -> int:
    """Write the slots :func:`lookup` finds into ``out``; their number, or -1 when
    ``out`` is too small (then nothing useful is in it)."""
    n = 0
    for i in range(h.size):
        hv = np.int64(h[i])
        b = _home(hv, nb)
        chk = _check(hv)
        while True:
            base = b * BUCKET_CELLS
            for j in range(ENTRY_CELLS):
                c = np.int64(flat[base + j])
                if (c >> 24) == chk:
                    if n == out.size:
                        return -1
                    out[n] = c & SLOT_MASK
                    n += 1
            if flat[base + ENTRY_CELLS] == 0:  # nothing lives past this bucket: the chain ends
                break
            b += 1
    return n


@jit
def lookup(flat: U32, nb: int, h: U64) -> U32:
    """Slots of every cell whose check byte matches one of ``h`` in its chain (with
    repeats and check-byte false hits, which the caller verifies)."""
    # A buffer grown inside the walk made numba count references on every cell read,
    # several times slower: a second walk into a bigger buffer is rare.
    out = np.empty(2 * h.size + 16, dtype=np.uint32)
    n = _collect(flat, nb, h, out)
    size = out.size
    while n < 0:
        size *= 4
        out = np.empty(size, dtype=np.uint32)
        n = _collect(flat, nb, h, out)
    return out[:n]


@jit
def _place(flat: U32, nb: Int, cell: Int, hv: Int) -> bool:
    """Put ``cell`` in the first empty cell from its home bucket on, counting it in the
    overflow cell of every bucket it passes; False when that would be the last bucket
    (which must stay count-free: the caller lengthens the table and calls again)."""
    last = flat.size // BUCKET_CELLS - 1
    home = _home(hv, nb)
    b = home
    while b < last:
        base = b * BUCKET_CELLS
        for j in range(ENTRY_CELLS):
            if flat[base + j] == 0:
                flat[base + j] = cell
                for k in range(home, b):
                    flat[k * BUCKET_CELLS + ENTRY_CELLS] += 1
                return True
        b += 1
    return False


@jit
def insert_story(flat: U32, nb: int, h: U64, slot: int, start: int) -> tuple[int, int]:
    """Insert one story's cells for ``h[start:]`` (a repeated hash once). Returns the
    index into ``h`` where it stopped (``h.size`` when done, else the table needs a
    longer overflow area first) and how many cells it placed."""
    placed = 0
    for i in range(start, h.size):
        if _repeated(h, i):
            continue
        hv = np.int64(h[i])
        if not _place(flat, nb, (_check(hv) << 24) | slot, hv):
            return i, placed
        placed += 1
    return h.size, placed


@jit
def delete_story(flat: U32, nb: int, h: U64, slot: int) -> int:
    """Empty one story's cells (as inserted from ``h``), un-counting each in the
    buckets it passed; returns how many were found (a missing cell is ignored)."""
    removed = 0
    for i in range(h.size):
        if _repeated(h, i):
            continue
        hv = np.int64(h[i])
        cell = (_check(hv) << 24) | slot
        home = _home(hv, nb)
        b = home
        while True:
            base = b * BUCKET_CELLS
            found = -1
            for j in range(ENTRY_CELLS):
                if flat[base + j] == cell:
                    found = j
                    break
            if found >= 0:
                flat[base + found] = 0
                for k in range(home, b):
                    flat[k * BUCKET_CELLS + ENTRY_CELLS] -= 1
                removed += 1
                break
            if flat[base + ENTRY_CELLS] == 0:
                break
            b += 1
    return removed


@jit
def verify(
    sigs: npt.NDArray[np.uint16], live: npt.NDArray[np.bool_], times: I64, found: U32,
    sig: npt.NDArray[np.uint16], min_time: int,
) -> tuple[I64, I64]:
    """Of the slots ``found`` by :func:`lookup` (repeats, false hits), the distinct
    live ones not older than ``min_time`` whose signature truly shares a band with
    ``sig``, in slot order, and their numbers of equal signature positions."""
    slots = np.unique(found)
    out = np.empty(slots.size, dtype=np.int64)
    counts = np.empty(slots.size, dtype=np.int64)
    n = 0
    perm = sig.size
    for s in slots:
        if not live[s] or times[s] < min_time:
            continue
        row = sigs[s]
        band = False
        for b in range(BANDS):
            o = ROWS * b
            if row[o] == sig[o] and row[o + 1] == sig[o + 1] and row[o + 2] == sig[o + 2]:
                band = True
                break
        if not band:
            continue
        eq = 0
        for p in range(perm):
            if row[p] == sig[p]:
                eq += 1
        out[n] = s
        counts[n] = eq
        n += 1
    return out[:n], counts[:n]


_warmed = False


def warm() -> None:
    """Compile (or load from the cache) every kernel, on a table of one home bucket, so
    that the first record does not wait for it (loading the cache is quick, compiling
    takes seconds). Idempotent."""
    global _warmed
    if _warmed:
        return
    flat = np.zeros(66 * BUCKET_CELLS, dtype=np.uint32)
    sig = np.arange(128, dtype=np.uint16)
    h = query_hashes(sig)
    insert_story(flat, 1, h, 1, 0)
    found = lookup(flat, 1, h)
    verify(np.zeros((2, 128), dtype=np.uint16), np.ones(2, dtype=np.bool_),
           np.zeros(2, dtype=np.int64), found, sig, 0)
    delete_story(flat, 1, h, 1)
    _warmed = True
