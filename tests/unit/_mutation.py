"""Seeded byte mutations of wire samples, shared by the parsers' robustness tests."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence


def mutants(
    raw: bytes, seed: str, inserts: Sequence[bytes], *, count: int, max_cut: int
) -> Iterator[bytes]:
    """``count`` copies of ``raw``, each with 1-4 random edits.

    An edit overwrites a byte, deletes up to ``max_cut`` bytes or inserts one
    of ``inserts``; the sequence is fixed by ``seed``, so failures reproduce.
    """
    rng = random.Random(seed)
    for _ in range(count):
        data = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data))
            op = rng.random()
            if op < 0.4:
                data[pos] = rng.randrange(256)
            elif op < 0.7:
                del data[pos : pos + rng.randint(1, max_cut)]
            else:
                data[pos:pos] = rng.choice(inserts)
        yield bytes(data)
