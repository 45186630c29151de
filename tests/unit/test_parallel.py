"""The parse pool: same outcomes as parsing in the loop, and a crashing parser is contained."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

from consumer.model import RawRecord
from consumer.parallel import ParsePool, prepare_chunk
from consumer.pipeline import Pipeline, Prepared
from tests.corpus import SHARED, reuters_wire

CRASH = b"CRASH THE PARSER PROCESS"


def crash_on_marker(records: Sequence[RawRecord]) -> list[Prepared]:
    """A parser that dies like a segfaulting C extension on one record (runs in the pool)."""
    if any(r.value == CRASH for r in records):
        os._exit(3)
    return prepare_chunk(records, max_bytes=2 * 1024 * 1024)


def feed_records() -> list[RawRecord]:
    """Every real fixture format, the seed, Reuters with its real re-sends, and junk; twice."""
    files = sorted(p for p in (SHARED / "data" / "wire_fixtures").rglob("*") if p.is_file())
    files += sorted((SHARED / "seeds").glob("*.txt"))
    assert len(files) >= 10
    values = [p.read_bytes() for p in files] + reuters_wire(300)
    values += [b"", b"\x00\xff junk", b"<nitf><body>"]
    return [RawRecord(value=v, topic="in", partition=0, offset=i, timestamp_ms=1_000 + i)
            for i, v in enumerate(values * 2)]  # * 2: exact re-sends too


async def test_pool_outcomes_equal_in_loop_outcomes() -> None:
    records = feed_records()
    in_loop = Pipeline()
    expected = [in_loop.run(r).event for r in records]
    pool = ParsePool(1, max_bytes=2 * 1024 * 1024, chunk=5)
    await pool.start()
    try:
        pipeline = Pipeline()
        got = []
        async for raw, prepared in pool.map(records):
            outcome = pipeline.process_prepared(prepared, raw)
            pipeline.commit(outcome)
            got.append(outcome.event)
    finally:
        pool.close()
    assert [e["event_type"] for e in got].count("story.duplicate") > 0
    assert got == expected


async def test_a_record_that_kills_the_parser_becomes_a_dead_letter() -> None:
    records = feed_records()[:12]
    records.insert(7, RawRecord(value=CRASH, topic="in", offset=99))
    pool = ParsePool(1, max_bytes=1024, chunk=4, prepare_fn=crash_on_marker)
    await pool.start()
    try:
        out = [(raw, prepared) async for raw, prepared in pool.map(records)]
        # and the rebuilt pool keeps working
        again = [p async for _, p in pool.map(records[:3])]
    finally:
        pool.close()
    assert [raw.offset for raw, _ in out] == [r.offset for r in records]
    crashed = [raw.value for raw, p in out if p.reason == "parser_crashed" and p.story is None]
    assert crashed == [CRASH]
    assert pool.restarts == 2  # once for the chunk, once for the record alone
    assert sum(p.story is not None for _, p in out) >= 8
    assert all(p.story is not None or p.reason != "parser_crashed" for p in again)


def test_pool_needs_a_process() -> None:
    with pytest.raises(ValueError, match="at least one process"):
        ParsePool(0, max_bytes=1)
