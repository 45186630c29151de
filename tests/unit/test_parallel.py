"""The parse pool: same outcomes as parsing in the loop, and a crashing parser is contained."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
from collections.abc import Sequence

import numpy as np
import pytest

from consumer.model import RawRecord
from consumer.parallel import ParsePool, decode_prepared, encode_prepared, prepare_chunk
from consumer.pipeline import Pipeline, Prepared
from tests.corpus import SHARED, reuters_wire
from tests.processes import still_running

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


def chatty(records: Sequence[RawRecord]) -> list[Prepared]:
    """A parser that prints to stdout, as a library might (runs in the pool)."""
    print("a stray line on stdout")
    os.write(1, b"\x00\x00\x00\x10 raw bytes on fd 1\n")
    return prepare_chunk(records, max_bytes=2 * 1024 * 1024)


def chunk_sizes(records: Sequence[RawRecord]) -> list[Prepared]:
    """Tags each result with the size of the chunk it came in (runs in the pool)."""
    return [dataclasses.replace(p, message=str(len(records)))
            for p in prepare_chunk(records, max_bytes=2 * 1024 * 1024)]


def test_prepared_crosses_the_pipe_unchanged() -> None:
    """The plain-tuple encoding keeps every field of story and features (and errors)."""
    prepared = prepare_chunk(feed_records(), max_bytes=2 * 1024 * 1024)
    assert sum(p.story is None for p in prepared) >= 3  # the junk: errors cross too
    for p in prepared:
        back = decode_prepared(pickle.loads(pickle.dumps(encode_prepared(p))))
        assert (back.story, back.reason, back.message, back.parse_s) == (
            p.story, p.reason, p.message, p.parse_s)
        if p.features is None:
            assert back.features is None
            continue
        assert back.features is not None
        for name in ("fingerprint", "shingle_count", "entity_words"):
            assert getattr(back.features, name) == getattr(p.features, name)
        for name in ("signature", "facts"):
            a, b = getattr(back.features, name), getattr(p.features, name)
            assert a.dtype == b.dtype
            assert np.array_equal(a, b)


async def test_output_on_stdout_does_not_corrupt_the_channel() -> None:
    records = feed_records()[:40]
    pool = ParsePool(1, max_bytes=2 * 1024 * 1024, chunk=8, prepare_fn=chatty)
    await pool.start()
    try:
        got = [p async for _, p in pool.map(records)]
    finally:
        pool.close()
    expected = prepare_chunk(records, max_bytes=2 * 1024 * 1024)
    assert [p.story for p in got] == [p.story for p in expected]
    assert pool.restarts == 0


async def test_small_fetches_go_in_small_chunks() -> None:
    """So the loop can decide the first record while the pool parses the next."""
    records = feed_records()
    pool = ParsePool(2, max_bytes=2 * 1024 * 1024, chunk=32, prepare_fn=chunk_sizes)
    await pool.start()
    try:
        sizes = {n: [int(p.message) async for _, p in pool.map(records[:n])]
                 for n in (1, 8, 20, 600)}
    finally:
        pool.close()
    assert sizes[1] == [1]
    assert sizes[8] == [1] * 8  # 2 processes, at least 4 chunks each
    assert sizes[20] == [3] * 18 + [2] * 2
    assert set(sizes[600]) == {32, 600 % 32}


async def test_aclose_lets_the_processes_exit_on_their_own() -> None:
    pool = ParsePool(2, max_bytes=1024)
    await pool.start()
    children = pool.transports()
    async for _ in pool.map([RawRecord(value=b"x" * 40, offset=i) for i in range(40)]):
        pass
    await pool.aclose()
    codes = [t.get_returncode() for t in children]
    assert codes == [0, 0]  # exited on EOF, not killed (-9)
    assert pool.transports() == []


async def test_aclose_kills_a_process_that_does_not_exit() -> None:
    pool = ParsePool(1, max_bytes=1024)
    await pool.start()
    (child,) = pool.transports()
    os.kill(child.get_pid(), signal.SIGSTOP)  # cannot read its EOF
    await pool.aclose(timeout=0.3)
    assert await still_running({child.get_pid()}, timeout=5) == set()


async def test_close_leaves_no_process_behind() -> None:
    pool = ParsePool(2, max_bytes=1024)
    await pool.start()
    pids = [t.get_pid() for t in pool.transports()]
    assert len(pids) == 2
    pool.close()
    assert await still_running(set(pids), timeout=5) == set()
