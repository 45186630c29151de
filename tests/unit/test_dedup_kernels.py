"""The compiled band-table kernels against plain references: the numpy band hashes, a
dict multimap, and the vectorised verification the index used before them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from consumer.dedup import kernels
from consumer.dedup.bandtable import EMPTY, BandTable, band_hashes
from consumer.dedup.kernels import BANDS, ENTRY_CELLS, ROWS

ROOT = Path(__file__).resolve().parents[2]


def test_query_hashes_equal_the_bulk_band_hashes() -> None:
    rng = np.random.default_rng(3)
    sigs = rng.integers(0, 1 << 16, (500, 128), dtype=np.uint16)
    sigs[0] = 0
    sigs[1] = 0xFFFF
    want = band_hashes(sigs)
    for sig, row in zip(sigs, want, strict=True):
        got = kernels.query_hashes(sig)
        assert got.dtype == np.uint64
        assert got.tolist() == row.tolist()
        assert int(got.max()) < 1 << 31


def _check(h: int) -> int:
    return min(h & 0xFF, 0xFE) + 1


@pytest.mark.parametrize("nbuckets", [2, 16, 64])
def test_band_table_agrees_with_a_dict_multimap(nbuckets: int) -> None:
    """Every (hash, slot) held is found by a lookup of its hash, every slot a lookup
    returns is held under a hash with the same home bucket chain and check byte,
    repeated hashes of one story take one cell, and removing everything leaves an
    all-zero table (cells and overflow counts)."""
    rng = np.random.default_rng(nbuckets)
    table = BandTable(nbuckets=nbuckets, pad=1)  # small: long chains, a grown pad
    pool = rng.integers(0, 1 << 31, 300, dtype=np.uint64)  # shared hashes: shared buckets
    held: dict[int, npt.NDArray[np.uint64]] = {}
    for step in range(600):
        if held and rng.random() < 0.45:
            slot = list(held)[int(rng.integers(0, len(held)))]
            table.delete(slot, held.pop(slot))
        else:
            h = pool[rng.integers(0, pool.size, 12)]  # repeats within a story, sometimes
            held[step] = h
            table.insert(step, h)
        assert table.live == sum(np.unique(h).size for h in held.values())
        assert int((table.cells[:, :ENTRY_CELLS] != EMPTY).sum()) == table.live
        if step % 40 == 0:
            by_hash: dict[int, set[int]] = {}
            for slot, h in held.items():
                for v in set(h.tolist()):
                    by_hash.setdefault(v, set()).add(slot)
            for v, slots in by_hash.items():
                found = set(kernels.lookup(table.flat, table.nb, np.array([v], np.uint64)).tolist())
                assert slots <= found
                # anything else found is a check-byte false hit the caller verifies
                for other in found - slots:
                    assert any(_check(int(w)) == _check(v) for w in held[other])
    for slot, h in held.items():
        table.delete(slot, h)
    assert table.live == 0
    assert (table.cells[:, :ENTRY_CELLS] == EMPTY).all()
    assert (table.cells[:, ENTRY_CELLS] == 0).all()  # every overflow count zero


def _verify_reference(sigs: npt.NDArray[np.uint16], live: npt.NDArray[np.bool_],
                      times: npt.NDArray[np.int64], found: npt.NDArray[np.uint32],
                      sig: npt.NDArray[np.uint16], min_time: int) -> tuple[list[int], list[int]]:
    """The numpy version of Index.scan's verification that the kernel replaced."""
    slots = np.unique(found).astype(np.intp)
    eq = sigs[slots] == sig
    keep = eq[:, : BANDS * ROWS].reshape(-1, BANDS, ROWS).all(axis=2).any(axis=1)
    keep &= live[slots]
    keep &= times[slots] >= min_time
    return slots[keep].tolist(), np.count_nonzero(eq[keep], axis=1).tolist()


def test_verify_agrees_with_the_numpy_reference() -> None:
    rng = np.random.default_rng(11)
    n = 400
    query = rng.integers(0, 1 << 16, 128, dtype=np.uint16)
    sigs = rng.integers(0, 1 << 16, (n, 128), dtype=np.uint16)
    for i in range(0, n, 3):  # a third share some positions (and so some bands) with it
        same = rng.random(128) < rng.random()
        sigs[i, same] = query[same]
    live = rng.random(n) < 0.8
    times = rng.integers(0, 1000, n).astype(np.int64)
    for trial in range(50):
        found = rng.integers(0, n, int(rng.integers(0, 60))).astype(np.uint32)
        min_time = -(1 << 63) if trial % 2 else int(rng.integers(0, 1000))
        slots, counts = kernels.verify(sigs, live, times, found, query, min_time)
        assert (slots.tolist(), counts.tolist()) == _verify_reference(
            sigs, live, times, found, query, min_time)
    kept, _ = kernels.verify(sigs, live, times, np.arange(n, dtype=np.uint32), query, -(1 << 63))
    assert 0 < kept.size < n  # the cases above include both outcomes


def test_kernels_work_where_nothing_can_be_cached() -> None:
    """With no writable cache location (a read-only image without a writable /tmp),
    numba refuses ``cache=True``; the kernels then compile in memory instead of
    failing the import. NUMBA_CACHE_LOCATOR_CLASSES leaves numba only the locator
    that needs NUMBA_CACHE_DIR, which is unset: no locator, as on such an image."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["NUMBA_CACHE_LOCATOR_CLASSES"] = "_UserProvidedCacheLocator"
    code = (
        "import numpy as np\n"
        "from consumer.dedup import kernels\n"
        "from consumer.enrich import detect_language\n"
        "kernels.warm()\n"
        "print(type(kernels.lookup._cache).__name__)\n"
        "print(kernels.query_hashes(np.arange(128, dtype=np.uint16)).tolist()[:2])\n"
        "print(detect_language('Die Bundesregierung will die Förderung ausweiten.'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=300, check=True).stdout.split("\n")
    want = band_hashes(np.arange(128, dtype=np.uint16)[None, :])[0].tolist()[:2]
    assert out[:3] == ["NullCache", str(want), "de"]
