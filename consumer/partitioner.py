"""Kafka's default key partitioner (murmur2), bit for bit, at under half of aiokafka's cost.

aiokafka's default partitioner hashes every key with a byte-at-a-time murmur2
in pure Python: 8 µs for a 32-character story id or fingerprint, twice a
record (the event and its changelog entry). In the bench profile of the
worker's shell that was 11 % of its CPU (``murmur2`` plus the call around
it). This is the same function over 4-byte words unpacked in one call, so
every key still lands on the partition the Java client and aiokafka choose:
the changelog depends on it, since a key's tombstone must reach the partition
that holds its value for compaction to drop the value, also across upgrades.
``tests/unit/test_partitioner.py`` compares it with aiokafka's murmur2.

The words are then mixed in a loop compiled by numba (:mod:`consumer.jit`): the
Python loop over 4-byte words still cost 7 % of the shell's CPU in the bench
profile (two keys a record).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from consumer.jit import jit

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


@jit
def _murmur2(data: npt.NDArray[np.uint8]) -> np.int64:
    # int64 arithmetic masked to 32 bits: every product is below 2^63
    length = data.size
    h = np.int64(_SEED ^ length)
    end = length & ~3
    for i in range(0, end, 4):
        k = (np.int64(data[i]) | (np.int64(data[i + 1]) << 8) | (np.int64(data[i + 2]) << 16)
             | (np.int64(data[i + 3]) << 24))
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= np.int64(data[end + 2]) << 16
        if extra >= 2:
            h ^= np.int64(data[end + 1]) << 8
        h = ((h ^ np.int64(data[end])) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def murmur2(data: bytes) -> int:
    """MurmurHash2 as ``org.apache.kafka.common.utils.Utils.murmur2`` (unsigned 32 bits)."""
    return int(_murmur2(np.frombuffer(data, dtype=np.uint8)))


def default_partitioner(key: bytes | None, all_partitions: Sequence[int],
                        available: Sequence[int]) -> int:
    """aiokafka's ``partitioner`` callable: Kafka's choice for a key, a random one without."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
