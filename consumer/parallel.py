"""Parse + dedup features in other processes, decisions in the event loop.

Why: on the benchmark stream about two thirds of a record's CPU time is
parsing and computing its fingerprints, and both are pure functions of the
record's bytes (:func:`consumer.pipeline.prepare`). A pool of processes does
that half while the event loop decides, produces and commits; decisions still
happen in the loop, one record at a time in offset order, so the outcomes are
the same with or without the pool (a test checks it event for event).

Why processes, not threads: the work is Python holding the GIL.

Why child processes on pipes that the event loop reads itself, not
``concurrent.futures.ProcessPoolExecutor``: the executor hands every result
through two threads of the calling process (a queue feeder and a result
manager). Each needs the GIL from an event loop that is busy deciding, so a
result waited up to a switch interval per hand-off. Here each child's stdout
is a pipe the loop watches like a socket; a result is ready in the loop the
moment its bytes are (``bench/ROUNDS.md``, fifth round, has the figures).
Single records are still parsed in the loop (see ``_POOL_MIN_RECORDS`` in
:mod:`consumer.worker`).

Why not pickle :class:`Prepared` as it is: unpickling frozen slotted
dataclasses and numpy arrays in the loop cost a third of what the pool takes
off it. Records and results cross as tuples of plain values
(:func:`encode_prepared`), a fraction of that.

Why chunks: one frame per record costs more in IPC than parsing it, when a
fetch brings thousands. Small fetches go in small chunks, so that the loop
can start deciding after the first record instead of after the thirty-second.

A record that kills a pool process (a crash in a C extension, the OOM
killer) breaks the whole pool. The pool is rebuilt and the chunk retried one
record at a time; the record that breaks a fresh pool on its own becomes a
dead letter with reason ``parser_crashed`` and the stream goes on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import os
import pickle
import signal
import struct
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from consumer.dedup.fingerprint import Features
from consumer.errors import Reason
from consumer.model import Block, RawRecord, Story
from consumer.pipeline import Prepared, prepare

PrepareChunk = Callable[[Sequence[RawRecord]], list[Prepared]]

_HEAD = struct.Struct("<I")  # a frame: its length, then a pickle of plain tuples
_PICKLE = pickle.HIGHEST_PROTOCOL
_STORY_FIELDS = tuple(f.name for f in dataclasses.fields(Story))
_ROOT = str(Path(__file__).resolve().parents[1])  # where `consumer` is importable from
assert _STORY_FIELDS[:2] == ("format", "body")


class PoolBrokenError(Exception):
    """A pool process died (or its pipe closed) with records in flight."""


def prepare_chunk(records: Sequence[RawRecord], *, max_bytes: int) -> list[Prepared]:
    """Runs in a pool process: :func:`prepare` for each record of a chunk."""
    from consumer.parse import parse_record

    parser = functools.partial(parse_record, max_bytes=max_bytes)
    return [prepare(record, parser) for record in records]


# --- what crosses the pipes -----------------------------------------------------
def encode_record(r: RawRecord) -> tuple[Any, ...]:
    return (r.value, r.key, r.headers, r.timestamp_ms, r.topic, r.partition, r.offset)


def decode_record(t: tuple[Any, ...]) -> RawRecord:
    return RawRecord(*t)


def encode_prepared(p: Prepared) -> tuple[Any, ...]:
    """``p`` as nested tuples of str, bytes, numbers and dates: cheap to unpickle."""
    story: tuple[Any, ...] | None = None
    if p.story is not None:
        s = p.story
        story = (s.format, tuple((b.kind, b.text) for b in s.body),
                 *(getattr(s, name) for name in _STORY_FIELDS[2:]))
    feats: tuple[Any, ...] | None = None
    if p.features is not None:
        f = p.features
        feats = (f.fingerprint, f.signature.tobytes(), f.shingle_count, f.facts.tobytes(),
                 f.entity_words)
    return story, feats, p.reason, p.message, p.parse_s


def decode_prepared(t: tuple[Any, ...]) -> Prepared:
    story_t, feats_t, reason, message, parse_s = t
    story = None
    if story_t is not None:
        fmt, body, *rest = story_t
        story = Story(fmt, tuple([Block(kind, text) for kind, text in body]), *rest)
    feats = None
    if feats_t is not None:
        fp, sig, count, facts, words = feats_t
        feats = Features(fp, np.frombuffer(sig, dtype=np.uint16), count,
                         np.frombuffer(facts, dtype=np.uint32), words)
    return Prepared(story, feats, reason, message, parse_s)


def _frame(obj: object) -> bytes:
    payload = pickle.dumps(obj, _PICKLE)
    return _HEAD.pack(len(payload)) + payload


# --- the child process ------------------------------------------------------------
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


def _read_frame(src: BinaryIO) -> Any:
    head = src.read(_HEAD.size)
    if len(head) < _HEAD.size:
        return None
    (size,) = _HEAD.unpack(head)
    payload = src.read(size)
    if len(payload) < size:
        return None
    return pickle.loads(payload)


def serve() -> None:
    """A pool process: frames of records on stdin, frames of results on stdout, until EOF.

    The first frame is ``(sys.path, prepare_fn)`` from the parent. Whatever
    else writes to stdout (a stray print in a library) goes to stderr, so it
    cannot corrupt the channel; SIGINT is the parent's to handle (a terminal's
    Ctrl-C reaches the whole process group).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    src = sys.stdin.buffer
    init = _read_frame(src)
    if init is None:
        return
    sys.path[:] = init[0]
    fn: PrepareChunk = pickle.loads(init[1])
    warm_up()
    out.write(_frame(()))  # ready
    out.flush()
    while (records := _read_frame(src)) is not None:
        results = fn([decode_record(r) for r in records])
        out.write(_frame(tuple(map(encode_prepared, results))))
        out.flush()


# --- the parent's side --------------------------------------------------------------
class _Child(asyncio.SubprocessProtocol):
    """One pool process, seen from the event loop: frames in, futures resolved in order."""

    def __init__(self) -> None:
        self.transport: asyncio.SubprocessTransport | None = None
        self.pending: collections.deque[asyncio.Future[tuple[Any, ...]]] = collections.deque()
        self.broken = False
        self.exited: asyncio.Future[None] | None = None
        self._buf = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport
        self.exited = asyncio.get_running_loop().create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buf = self._buf
        buf += data
        while len(buf) >= _HEAD.size:
            (size,) = _HEAD.unpack_from(buf)
            end = _HEAD.size + size
            if len(buf) < end:
                break
            payload = bytes(buf[_HEAD.size:end])
            del buf[:end]
            if self.pending:
                fut = self.pending.popleft()
                if not fut.done():
                    fut.set_result(pickle.loads(payload))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self._break()

    def process_exited(self) -> None:
        self._break()
        if self.exited is not None and not self.exited.done():
            self.exited.set_result(None)

    def _break(self, *, on_purpose: bool = False) -> None:
        """No more results: what is in flight fails (or is cancelled, when closed on
        purpose and nobody waits for it)."""
        self.broken = True
        while self.pending:
            fut = self.pending.popleft()
            if on_purpose:
                fut.cancel()
            elif not fut.done():
                fut.set_exception(PoolBrokenError("a parse process exited"))

    def send(self, frame: bytes) -> asyncio.Future[tuple[Any, ...]]:
        fut: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()
        if self.broken or self.transport is None:
            fut.set_exception(PoolBrokenError("a parse process exited"))
            return fut
        self.pending.append(fut)
        stdin = self.transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        stdin.write(frame)
        return fut

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()  # kills the process if it still runs
        self._break(on_purpose=True)

    async def finish(self, timeout: float) -> None:
        """End of input: the process finishes its chunk, sees EOF and exits; killed if it
        has not within ``timeout``. Awaiting the exit in the loop, not only killing, lets
        the loop reap it (a loop closed first logs "Loop ... that handles pid ... is
        closed" on stderr, outside the JSON log)."""
        if self.transport is not None and self.exited is not None:
            stdin = self.transport.get_pipe_transport(0)
            if stdin is not None:
                stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        self.close()


def _discard(fut: asyncio.Future[Any]) -> None:
    """Cancel ``fut``, or mark its error as seen (asyncio logs errors never retrieved)."""
    if fut.done() and not fut.cancelled():
        fut.exception()
    fut.cancel()


class ParsePool:
    """``processes`` child processes running ``prepare_chunk`` on chunks of records."""

    def __init__(self, processes: int, *, max_bytes: int, chunk: int = 32,
                 prepare_fn: PrepareChunk | None = None) -> None:
        if processes < 1:
            raise ValueError("a pool needs at least one process")
        self.processes = processes
        self.chunk = max(1, chunk)
        self._fn: PrepareChunk = prepare_fn or functools.partial(prepare_chunk,
                                                                 max_bytes=max_bytes)
        self._children: list[_Child] = []
        self.restarts = 0
        self.records = 0  # records prepared by the pool

    async def start(self) -> None:
        """Start the processes and wait until each has warmed up."""
        loop = asyncio.get_running_loop()
        env = {**os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, (_ROOT, os.environ.get("PYTHONPATH"))))}
        init = _frame((list(sys.path), pickle.dumps(self._fn, _PICKLE)))
        ready = []
        try:
            for _ in range(self.processes):
                _, child = await loop.subprocess_exec(
                    _Child, sys.executable, "-c", "from consumer.parallel import serve; serve()",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None,
                    env=env,
                )
                self._children.append(child)
                ready.append(child.send(init))
            await asyncio.gather(*ready)
        except BaseException:
            self.close()
            raise

    def transports(self) -> list[asyncio.SubprocessTransport]:
        """The running processes, in start order: their pids and, once ended, exit codes."""
        return [c.transport for c in self._children if c.transport is not None]

    def close(self) -> None:
        """Kill the processes now (a broken pool, a failed start)."""
        for child in self._children:
            child.close()
        self._children = []

    async def aclose(self, timeout: float = 2.0) -> None:
        """Let the processes exit on EOF and reap them, killing what is left after
        ``timeout`` seconds: the way to end a pool that worked."""
        children, self._children = self._children, []
        await asyncio.gather(*(child.finish(timeout) for child in children))

    async def _restart(self) -> None:
        self.close()
        self.restarts += 1
        await self.start()

    def _submit(self, records: Sequence[RawRecord]) -> asyncio.Future[tuple[Any, ...]]:
        assert self._children, "ParsePool.start() first"
        child = min(self._children, key=lambda c: len(c.pending))
        return child.send(_frame(tuple(map(encode_record, records))))

    def _chunks(self, records: Sequence[RawRecord]) -> list[Sequence[RawRecord]]:
        """At least four chunks a process when the fetch allows, at most ``chunk`` records
        each: the loop decides the first records while the pool parses the rest."""
        size = min(self.chunk, max(1, -(-len(records) // (4 * self.processes))))
        return [records[i:i + size] for i in range(0, len(records), size)]

    async def map(self, records: Sequence[RawRecord]
                  ) -> AsyncIterator[tuple[RawRecord, Prepared]]:
        """(record, prepared) in input order; chunks run ahead while the caller works."""
        chunks = self._chunks(records)
        futures = [self._submit(c) for c in chunks]
        try:
            for i, chunk in enumerate(chunks):
                try:
                    results = list(map(decode_prepared, await futures[i]))
                except PoolBrokenError:
                    await self._restart()
                    results = await self._isolate(chunk)
                    for j in range(i + 1, len(chunks)):  # the old pool's futures are dead
                        _discard(futures[j])
                        futures[j] = self._submit(chunks[j])
                self.records += len(chunk)
                for record, prepared in zip(chunk, results, strict=True):
                    yield record, prepared
        finally:
            for fut in futures:
                _discard(fut)

    async def _isolate(self, chunk: Sequence[RawRecord]) -> list[Prepared]:
        """One record at a time: find the record that breaks the pool on its own."""
        out: list[Prepared] = []
        for record in chunk:
            try:
                out.extend(map(decode_prepared, await self._submit([record])))
            except PoolBrokenError:
                await self._restart()
                out.append(Prepared(None, None, Reason.PARSER_CRASHED.value,
                                    "the parser process died on this record"))
        return out
