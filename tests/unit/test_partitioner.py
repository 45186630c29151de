"""The fast murmur2 must choose the partitions aiokafka (and the Java client) choose."""

from __future__ import annotations

import random

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from consumer.partitioner import default_partitioner, murmur2


def test_murmur2_equals_aiokafka_for_every_length() -> None:
    rng = random.Random(7)
    for length in range(0, 130):
        for _ in range(50):
            data = rng.randbytes(length)
            assert murmur2(data) == aiokafka_murmur2(data), (length, data)


@pytest.mark.parametrize(
    ("key", "expected"),
    [  # Kafka's own test vectors (UtilsTest.testMurmur2), as unsigned 32-bit values
        (b"21", -973932308 & 0xFFFFFFFF),
        (b"foobar", -790332482 & 0xFFFFFFFF),
        (b"a-little-bit-long-string", -985981536 & 0xFFFFFFFF),
        (b"a-little-bit-longer-string", -1486304829 & 0xFFFFFFFF),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971 & 0xFFFFFFFF),
        (b"abc", 479470107),
    ],
)
def test_murmur2_matches_the_java_client(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected


def test_partition_choice_equals_aiokafka_default() -> None:
    rng = random.Random(8)
    theirs = DefaultPartitioner()
    for n in (1, 3, 7, 12, 50):
        parts = list(range(n))
        for _ in range(300):
            key = rng.randbytes(16).hex().encode()  # story ids and fingerprints look like this
            assert default_partitioner(key, parts, parts) == theirs(key, parts, parts)


def test_no_key_picks_an_available_partition() -> None:
    assert default_partitioner(None, [0, 1, 2], [2]) == 2
    assert default_partitioner(None, [0, 1, 2], []) in (0, 1, 2)
