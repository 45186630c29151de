"""Parse + dedup features in other processes, decisions in the event loop.

Why: on the benchmark stream about two thirds of a record's CPU time is
parsing and computing its fingerprints, and both are pure functions of the
record's bytes (:func:`consumer.pipeline.prepare`). A pool of processes does
that half while the event loop decides, produces and commits; decisions still
happen in the loop, one record at a time in offset order, so the outcomes are
the same with or without the pool (a test checks it event for event).

Why processes, not threads: the work is Python holding the GIL. Why ``spawn``:
forking a process that runs an event loop and Kafka client sockets copies
them into the child. Why chunks: one task per record costs more in IPC than
parsing it.

A record that kills a pool process (a crash in a C extension, the OOM
killer) breaks the whole pool. The pool is rebuilt and the chunk retried one
record at a time; the record that breaks a fresh pool on its own becomes a
dead letter with reason ``parser_crashed`` and the stream goes on.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from consumer.errors import Reason
from consumer.model import RawRecord
from consumer.pipeline import Prepared, prepare

PrepareChunk = Callable[[Sequence[RawRecord]], list[Prepared]]


def prepare_chunk(records: Sequence[RawRecord], *, max_bytes: int) -> list[Prepared]:
    """Runs in a pool process: :func:`prepare` for each record of a chunk."""
    from consumer.parse import parse_record

    parser = functools.partial(parse_record, max_bytes=max_bytes)
    return [prepare(record, parser) for record in records]


# a tiny story of our own, parsed once at start to warm up imports and models
_WARM_UP = (
    "date 2026-01-01\nWARM-UP\n\nBERLIN (dpa-AFX) - Der Dienst wirefeed startet und "
    "prüft seinen Parser mit diesem kurzen Text. Er wird nicht veröffentlicht./wf"
)


def warm_up() -> None:
    """Import every format parser and load the language model before reporting ready.

    Otherwise the first real record pays for it (about 2 s), which shows up
    as end-to-end latency right after every start, rebalance or pool restart.
    """
    prepare(RawRecord(value=_WARM_UP.encode(), topic="warm-up"))
    for probe in (b"<nitf/>", b'{"uri": "x"}', b"\x01ZCZC"):
        prepare(RawRecord(value=probe, topic="warm-up"))


class ParsePool:
    """``processes`` worker processes running ``prepare_chunk`` on chunks of records."""

    def __init__(self, processes: int, *, max_bytes: int, chunk: int = 32,
                 prepare_fn: PrepareChunk | None = None) -> None:
        if processes < 1:
            raise ValueError("a pool needs at least one process")
        self.processes = processes
        self.chunk = max(1, chunk)
        self._fn: PrepareChunk = prepare_fn or functools.partial(prepare_chunk,
                                                                 max_bytes=max_bytes)
        self._executor: ProcessPoolExecutor | None = None
        self.restarts = 0
        self.records = 0  # records prepared by the pool (the worker skips it for small fetches)

    async def start(self) -> None:
        """Start the processes and wait until each has warmed up."""
        self._executor = ProcessPoolExecutor(
            self.processes, mp_context=multiprocessing.get_context("spawn"),
            initializer=warm_up,
        )
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._executor, self._fn, [])
                               for _ in range(self.processes)))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _restart(self) -> None:
        self.close()
        self.restarts += 1
        await self.start()

    def _submit(self, records: Sequence[RawRecord]) -> asyncio.Future[list[Prepared]]:
        assert self._executor is not None, "ParsePool.start() first"
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, self._fn, records)

    async def map(self, records: Sequence[RawRecord]
                  ) -> AsyncIterator[tuple[RawRecord, Prepared]]:
        """(record, prepared) in input order; chunks run ahead while the caller works."""
        chunks = [records[i:i + self.chunk] for i in range(0, len(records), self.chunk)]
        futures = [self._submit(c) for c in chunks]
        try:
            for i, chunk in enumerate(chunks):
                try:
                    results = await futures[i]
                except BrokenProcessPool:
                    await self._restart()
                    results = await self._isolate(chunk)
                    for j in range(i + 1, len(chunks)):  # the old pool's futures are dead
                        futures[j] = self._submit(chunks[j])
                self.records += len(chunk)
                for record, prepared in zip(chunk, results, strict=True):
                    yield record, prepared
        finally:
            for fut in futures:
                fut.cancel()

    async def _isolate(self, chunk: Sequence[RawRecord]) -> list[Prepared]:
        """One record at a time: find the record that breaks the pool on its own."""
        out: list[Prepared] = []
        for record in chunk:
            try:
                out.extend(await self._submit([record]))
            except BrokenProcessPool:
                await self._restart()
                out.append(Prepared(None, None, Reason.PARSER_CRASHED.value,
                                    "the parser process died on this record"))
        return out
