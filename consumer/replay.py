"""Produce stored records into a topic: the core of ``wirefeed replay``, reused by benchmarks.

Inputs are the ones ``wirefeed process`` reads, through the same readers
(:mod:`consumer.process`), so a capture replayed into Kafka and the same file
processed offline are the same records: a JSONL file of
``{"key", "value" | "value_b64", "headers", "timestamp"}`` objects, a
directory (one record a file, name order, key = file name) or single files.

Choices, and why:

* **idempotent producer, acks=all**: a replay that retries after a broker
  hiccup must not write a record twice, or a test of exactly-once downstream
  would measure the replayer's duplicates;
* **keys, headers and JSONL timestamps kept**: the key decides the partition
  (and so the order the worker sees related stories in), and a captured
  record's timestamp is part of it. A file's modification time is *not* a
  record timestamp, so files and directories are stamped by the producer;
* **a token bucket with a small burst** (0.1 s worth, at least one record): a
  rate limit that lets an idle second accumulate a large burst would flood the
  worker at exactly the moment a benchmark measures it;
* **bounded waits**: the compose replayer starts together with the broker, so
  the replayer waits for the broker and the topic, but only ``wait_s``; a typo
  in the topic name must end in an error, not a hang.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumer.model import RawRecord
from consumer.process import count_records, read_directory, read_jsonl

JSONL_SUFFIXES = (".jsonl", ".ndjson")
MAX_IN_FLIGHT = 1000
MAX_REQUEST_BYTES = 16 * 1024 * 1024


class ReplayError(RuntimeError):
    """The replay cannot start or continue (no broker, no topic, unreadable input)."""


class Source:
    """Records from files, directories and JSONL files (``-`` = JSONL on stdin), re-iterable.

    Every iteration re-reads the inputs, which is what ``--loop`` needs without
    holding a large capture in memory. JSONL lines that are not valid records
    are skipped and counted: replay cannot invent a record for them.
    """

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        self.skipped = 0
        for p in self.paths:
            if p != "-" and not Path(p).exists():
                raise ReplayError(f"{p} does not exist")

    @property
    def rereadable(self) -> bool:
        return "-" not in self.paths

    def total(self) -> int | None:
        """Records in one pass (for the progress bar); None when unknown (stdin)."""
        total = 0
        for p in self.paths:
            path = Path(p)
            if p == "-":
                return None
            if path.is_dir() or path.suffix in JSONL_SUFFIXES:
                total += count_records(path) or 0
            else:
                total += 1
        return total

    def __iter__(self) -> Iterator[RawRecord]:
        for p in self.paths:
            if p == "-":
                yield from self._valid(read_jsonl(sys.stdin.buffer))
                continue
            path = Path(p)
            if path.is_dir():
                for item in read_directory(path):
                    yield _restamp(item.record, None)
            elif path.suffix in JSONL_SUFFIXES:
                with path.open("rb") as fh:
                    yield from self._valid(read_jsonl(fh))
            else:
                yield RawRecord(value=path.read_bytes(), key=path.name.encode())

    def _valid(self, items: Iterable[Any]) -> Iterator[RawRecord]:
        for item in items:
            if item.error is not None:
                self.skipped += 1
                continue
            yield item.record


def _restamp(record: RawRecord, timestamp_ms: int | None) -> RawRecord:
    return RawRecord(value=record.value, key=record.key, headers=record.headers,
                     timestamp_ms=timestamp_ms, offset=record.offset)


class TokenBucket:
    """Rate limit with a bounded burst; ``clock`` is injectable so tests need no sleeping."""

    def __init__(self, rate: float, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._clock = clock
        self._tokens = self.capacity
        self._stamp = clock()

    def take(self, n: float = 1.0) -> float:
        """Take ``n`` tokens now; return how long to wait before using them (0 = go)."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, n: float = 1.0) -> None:
        delay = self.take(n)
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(slots=True)
class ReplayStats:
    """What a replay did, for the final line and for benchmarks."""

    topic: str
    sent: int = 0
    skipped: int = 0
    passes: int = 0
    partitions: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def line(self) -> str:
        rate = self.sent / self.seconds if self.seconds > 0 else 0.0
        extra = f", skipped {self.skipped} invalid line(s)" if self.skipped else ""
        passes = f" in {self.passes} passes" if self.passes > 1 else ""
        stopped = " (stopped)" if self.interrupted else ""
        return (f"replayed {self.sent} records to {self.topic} ({self.partitions} partitions)"
                f"{passes} in {self.seconds:.1f} s, {rate:.0f}/s{extra}{stopped}")


class StoppedError(ReplayError):
    """``stop`` was set while waiting for the broker or the topic."""


async def _pause(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    if stop.is_set():
        raise StoppedError("stopped while waiting for the broker or the topic")


async def start_producer(kafka: Mapping[str, Any], wait_s: float,
                         stop: asyncio.Event | None = None) -> Any:
    """An idempotent acks=all producer, retrying until the broker answers (at most ``wait_s``)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + wait_s
    last: Exception | None = None
    while True:
        producer = AIOKafkaProducer(
            enable_idempotence=True, acks="all", linger_ms=5,
            max_request_size=MAX_REQUEST_BYTES, **kafka,
        )
        try:
            await producer.start()
            return producer
        except (KafkaError, OSError) as exc:
            last = exc
            with contextlib.suppress(Exception):
                await producer.stop()
        if time.monotonic() >= deadline:
            servers = kafka.get("bootstrap_servers")
            raise ReplayError(f"broker {servers} unreachable after {wait_s:.0f} s: {last!r}")
        await _pause(1.0, stop)


async def wait_for_topic(producer: Any, topic: str, wait_s: float,
                         stop: asyncio.Event | None = None) -> int:
    """Number of partitions of ``topic`` once it exists; ReplayError after ``wait_s``."""
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + wait_s
    while True:
        left = deadline - time.monotonic()
        try:
            parts = await asyncio.wait_for(producer.partitions_for(topic), max(0.5, min(left, 5)))
            if parts:
                return len(parts)
        except (KafkaError, TimeoutError):
            pass
        if time.monotonic() >= deadline:
            raise ReplayError(f"topic {topic} does not exist (waited {wait_s:.0f} s); "
                              "create it, or check the name")
        await _pause(0.5, stop)


async def replay(
    records: Iterable[RawRecord],
    topic: str,
    kafka: Mapping[str, Any],
    *,
    rate: float | None = None,
    loop: bool = False,
    wait_s: float = 60.0,
    stop: asyncio.Event | None = None,
    on_sent: Callable[[int], None] | None = None,
) -> ReplayStats:
    """Produce ``records`` (every pass re-iterates them when ``loop``) and wait for the acks.

    Returns when the records are written (``acks=all``), or after ``stop`` is
    set, with what was sent by then. A pass that yields nothing ends a loop: a
    one-shot iterator cannot be repeated.
    """
    stats = ReplayStats(topic)
    started = time.monotonic()
    producer = await start_producer(kafka, wait_s, stop)
    try:
        stats.partitions = await wait_for_topic(producer, topic, wait_s, stop)
        bucket = TokenBucket(rate) if rate else None
        pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        while not (stop is not None and stop.is_set()):
            stats.passes += 1
            sent_before = stats.sent
            for record in records:
                if stop is not None and stop.is_set():
                    stats.interrupted = True
                    break
                if bucket is not None:
                    await bucket.acquire()
                pending.append(await producer.send(
                    topic, record.value, key=record.key, headers=list(record.headers) or None,
                    timestamp_ms=record.timestamp_ms,
                ))
                stats.sent += 1
                if on_sent is not None:
                    on_sent(stats.sent)
                while len(pending) > MAX_IN_FLIGHT:
                    await pending.popleft()
            if not loop or stats.sent == sent_before:
                break
        if stop is not None and stop.is_set():
            stats.interrupted = True
        await producer.flush()
        for fut in pending:
            await fut
    finally:
        await producer.stop()
    stats.skipped = getattr(records, "skipped", 0)
    stats.seconds = time.monotonic() - started
    return stats
