"""Commit policies: how the records a worker processed become committed, and when.

One interface, two policies, chosen once at start (:func:`commit_policy`):

* :class:`Transactions` (exactly-once): one transactional producer per input
  partition, with the transactional id ``<prefix>-<topic>-<partition>``.
  aiokafka's ``send_offsets_to_transaction`` takes a bare group id, without the
  consumer-group metadata that lets the broker fence a stale instance after a
  rebalance (KIP-447), so, like Kafka Streams' original exactly-once mode,
  whichever instance owns a partition initialises that id, which aborts the
  previous owner's open transaction and fences it. A transaction commits only
  after every send in it is acknowledged: aiokafka commits a transaction even
  when one of its produce batches expired, so the policy checks the sends
  first and a failed send fails the commit (the caller aborts and rewinds).
* :class:`OffsetCommits` (at-least-once): one idempotent producer; the offsets
  of due batches are committed in the background once their sends are
  acknowledged, one commit in flight at a time, so the loop never waits for a
  commit round trip.

The verbs: :meth:`CommitPolicy.begin` a partition's batch before its records
are sent, :meth:`~CommitPolicy.send` and :meth:`~CommitPolicy.record` each
record, :meth:`~CommitPolicy.commit_due` the batches whose interval is over,
:meth:`~CommitPolicy.abort` on any failure, :meth:`~CommitPolicy.pending` for
backpressure. The worker and the benchmark's passthrough baseline share them,
so that both commit alike.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from consumer import log
from consumer.partitioner import default_partitioner

# A dead letter carries the original record unchanged, so the producer must
# accept whatever the input topic accepted (topics' max.message.bytes must match).
MAX_REQUEST_BYTES = 16 * 1024 * 1024
# The broker aborts a transaction open longer than this; readiness uses it as its
# default bound for a commit that makes no progress (config: progress_timeout_s).
TRANSACTION_TIMEOUT_MS = 60_000
# A transaction begun right after the previous one committed often meets
# CONCURRENT_TRANSACTIONS while the broker writes the commit markers; aiokafka's
# default 100 ms retry backoff showed as commit time (bench/ROUNDS.md), the Java
# producer retries this case after 20 ms too.
TXN_RETRY_BACKOFF_MS = 20
# at-least-once is the low-latency mode: ship a record as soon as the loop yields
# (the loop yields every few ms while busy, so records still leave in batches).
ALO_LINGER_MS = 0
# A batch's interval counts from its first record's timestamp, by up to this share
# of the interval earlier than the loop got to it (see opened_at).
_OPEN_SLACK_SHARE = 0.25

SendFuture = asyncio.Future[Any]
Headers = list[tuple[str, bytes]]
Producer = Callable[[TopicPartition], Awaitable[AIOKafkaProducer]]


@dataclass(frozen=True, slots=True)
class Committed:
    """What one partition's commit made durable: its records' timestamps and kinds."""

    tp: TopicPartition
    timestamps: list[int]
    kinds: Counter[str]


OnCommitted = Callable[[Committed], None]


@dataclass
class Batch:
    """Uncommitted work of one input partition (one open transaction in exactly-once)."""

    tp: TopicPartition
    producer: AIOKafkaProducer | None = None
    open: bool = False
    opened_at: float = 0.0
    next_offset: int | None = None
    timestamps: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    futures: list[SendFuture] = field(default_factory=list)
    # a send of this batch failed: its producer's sequence numbers no longer match the
    # broker's, so an abort must replace the producer rather than reuse it
    send_failed: bool = False

    def take(self) -> Committed:
        """The records of this batch as committed; the batch is empty afterwards."""
        done = Committed(self.tp, self.timestamps, self.kinds)
        self.timestamps, self.kinds, self.futures = [], Counter(), []
        return done


class UnacknowledgedSendError(Exception):
    """A send of a batch was not acknowledged: the batch must not commit."""


def opened_at(record_ts_ms: int | None, interval_ms: int, now: float | None = None,
              wall_ms: float | None = None) -> float:
    """When a batch that opens with a record stamped ``record_ts_ms`` counts as opened
    (monotonic seconds).

    A record that arrived while the loop stood still for a commit would otherwise
    wait that stall plus a whole interval plus the next commit; counting from its
    own timestamp removes the stall, and the cap (a quarter of the interval) keeps
    a backlog, a replay or a producer's skewed clock from shortening transactions
    below three quarters of the interval.
    """
    now = time.monotonic() if now is None else now
    if not record_ts_ms or record_ts_ms <= 0:
        return now
    wall_ms = time.time() * 1000 if wall_ms is None else wall_ms
    age_s = min(max(0.0, wall_ms - record_ts_ms), interval_ms * _OPEN_SLACK_SHARE) / 1000
    return now - age_s


def discard_sends(futures: Iterable[SendFuture], what: str = "send_discarded") -> None:
    """Forget the sends of an aborted batch, retrieving their errors.

    Unretrieved, each failed future is printed by asyncio as "Future exception
    was never retrieved" (a fenced producer fails every one); here each kind of
    error is logged once, by name.
    """
    seen: set[str] = set()
    logger = log.get("wirefeed.commit")

    def retrieve(future: SendFuture) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None and type(exc).__name__ not in seen:
            seen.add(type(exc).__name__)
            logger.warning(what, error_type=type(exc).__name__, error=str(exc))

    for future in futures:
        future.add_done_callback(retrieve)


async def await_sends(futures: list[SendFuture]) -> None:
    """Return once every send is acknowledged; raise :class:`UnacknowledgedSendError` at
    the first failure.

    The sends still pending after a failure are discarded (their errors
    retrieved), as the caller aborts the batch anyway.
    """
    if not futures:
        return
    pending: set[SendFuture] = {f for f in futures if not f.done()}
    failed = [f for f in futures if f.done() and (f.cancelled() or f.exception() is not None)]
    if pending and not failed:
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and (f.cancelled() or f.exception() is not None)]
    if failed:
        discard_sends(pending)
        first = failed[0]
        cause = None if first.cancelled() else first.exception()
        raise UnacknowledgedSendError(
            f"{len(failed)} of {len(futures)} sends failed: {cause!r}") from cause


class CommitPolicy(abc.ABC):
    """Batches of the partitions this worker owns, and how they commit."""

    def __init__(self, interval_ms: int, on_committed: OnCommitted) -> None:
        self.interval_ms = interval_ms
        self.batches: dict[TopicPartition, Batch] = {}
        self._on_committed = on_committed
        self._log = log.get("wirefeed.commit")
        self._commit_started: float | None = None

    # --- partitions ---------------------------------------------------------
    async def add(self, tp: TopicPartition) -> Batch:
        """Take ``tp`` on (exactly-once: this fences its previous owner)."""
        batch = self.batches.get(tp)
        if batch is None:
            batch = self.batches[tp] = Batch(tp)
        await self.ready(batch)
        return batch

    async def ready(self, batch: Batch) -> None:  # noqa: B027 - only transactions need it
        """Make ``batch`` able to begin again after an abort (a new producer if needed)."""

    async def remove(self, tp: TopicPartition) -> None:
        """Give ``tp`` up; nothing of it may be pending (commit or abort first)."""
        self.batches.pop(tp, None)

    async def close(self) -> None:
        """Stop what the policy started; the batches are forgotten."""
        for tp in list(self.batches):
            await self.remove(tp)

    # --- the verbs ----------------------------------------------------------
    @abc.abstractmethod
    async def begin(self, batch: Batch, first_ts_ms: int | None) -> AIOKafkaProducer:
        """Open ``batch`` for records (a transaction in exactly-once); its producer."""

    async def send(self, batch: Batch, producer: AIOKafkaProducer, topic: str,
                   value: bytes | None, key: bytes | None, headers: Headers) -> None:
        batch.futures.append(await producer.send(topic, value, key=key, headers=headers))

    @staticmethod
    def record(batch: Batch, offset: int, timestamp_ms: int | None, kind: str) -> None:
        """One input record of ``batch`` is sent: it commits with the batch."""
        batch.next_offset = offset + 1
        batch.timestamps.append(timestamp_ms or 0)
        batch.kinds[kind] += 1

    async def commit_due(self, tps: Iterable[TopicPartition] | None = None, *,
                         force: bool = False) -> bool:
        """Commit every batch with records once the oldest is due (or now, with ``force``).

        All together, not each when its own interval ends: the loop stands still
        once per interval for one overlapped round of commits. Returns whether
        a commit was started.
        """
        batches = list(self.batches.values()) if tps is None else [
            self.batches[tp] for tp in tps if tp in self.batches]
        due = [b for b in batches if b.timestamps]
        oldest = min((b.opened_at for b in due), default=None)
        if oldest is None or (not force and time.monotonic() - oldest < self.interval_ms / 1000):
            if force:
                await self.settle()
            return False
        self._commit_started = time.monotonic()
        try:
            await self._commit(due, force=force)
        finally:
            self._commit_started = None
        return True

    @abc.abstractmethod
    async def _commit(self, due: list[Batch], *, force: bool) -> None: ...

    async def settle(self) -> None:  # noqa: B027 - only background commits need it
        """Wait for a commit still running in the background; its error is raised."""

    def check(self) -> None:  # noqa: B027 - only background commits need it
        """Raise the error of a background commit that failed (the caller aborts)."""

    @abc.abstractmethod
    async def abort(self, tps: Iterable[TopicPartition] | None = None) -> int:
        """Drop the uncommitted work of ``tps`` (all by default); the records it dropped."""

    def pending(self) -> int:
        """Records processed and not yet committed (backpressure counts these)."""
        return sum(len(b.timestamps) for b in self.batches.values())

    def until_due_ms(self) -> int:
        """How long a fetch may wait: until the oldest open batch is due, at most one interval.

        A full interval after a batch opened would let a quiet partition's
        transaction stay open up to twice the commit interval.
        """
        oldest = min((b.opened_at for b in self.batches.values() if b.timestamps), default=None)
        if oldest is None:
            return self.interval_ms
        due_in = (oldest + self.interval_ms / 1000 - time.monotonic()) * 1000
        return max(1, min(self.interval_ms, int(due_in) + 1))

    def commit_running_since(self) -> float | None:
        """When the commit in progress started (monotonic seconds), if one is."""
        return self._commit_started

    def _open(self, batch: Batch, first_ts_ms: int | None) -> None:
        if not batch.timestamps:
            batch.opened_at = opened_at(first_ts_ms, self.interval_ms)

    def _done(self, batch: Batch) -> None:
        self._on_committed(batch.take())


class Transactions(CommitPolicy):
    """Exactly-once: a transaction per input partition, committed after its sends."""

    def __init__(self, interval_ms: int, on_committed: OnCommitted, group_id: str,
                 producer: Producer, outcome: Callable[[str], None] | None = None) -> None:
        super().__init__(interval_ms, on_committed)
        self._group_id = group_id
        self._producer = producer
        self._outcome = outcome or (lambda _: None)

    async def ready(self, batch: Batch) -> None:
        if batch.producer is None:
            batch.producer = await self._producer(batch.tp)  # init_transactions fences

    async def remove(self, tp: TopicPartition) -> None:
        batch = self.batches.pop(tp, None)
        if batch is not None and batch.producer is not None:
            with contextlib.suppress(Exception):
                await batch.producer.stop()

    async def begin(self, batch: Batch, first_ts_ms: int | None) -> AIOKafkaProducer:
        assert batch.producer is not None, "a batch without a producer: ready() it first"
        if not batch.open:
            await batch.producer.begin_transaction()
            batch.open = True
        self._open(batch, first_ts_ms)
        return batch.producer

    async def _commit(self, due: list[Batch], *, force: bool) -> None:
        # one producer a partition: their commits are independent, so they overlap;
        # every one is awaited before an error propagates, so an abort never races one
        results = await asyncio.gather(*(self._commit_one(b) for b in due),
                                       return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _commit_one(self, b: Batch) -> None:
        assert b.producer is not None
        assert b.next_offset is not None
        futures, b.futures = b.futures, []
        offsets = {b.tp: OffsetAndMetadata(b.next_offset, "")}
        # the offsets join the transaction while the sends are acknowledged; the
        # commit comes only after both, so a failed send aborts offsets and all
        sent = asyncio.ensure_future(await_sends(futures))
        try:
            await b.producer.send_offsets_to_transaction(offsets, self._group_id)
        except BaseException:
            sent.cancel()
            await asyncio.wait([sent])
            if not sent.cancelled():
                sent.exception()  # retrieved: the offsets' error is the one to raise
            discard_sends(futures)
            raise
        try:
            await sent
        except UnacknowledgedSendError:
            b.send_failed = True
            raise
        await b.producer.commit_transaction()
        b.open = False
        self._outcome("committed")
        self._done(b)

    async def abort(self, tps: Iterable[TopicPartition] | None = None) -> int:
        batches = list(self.batches.values()) if tps is None else [
            self.batches[tp] for tp in tps if tp in self.batches]
        dropped = 0
        for b in batches:
            dropped += len(b.timestamps)
            renew = b.send_failed or any(
                f.done() and (f.cancelled() or f.exception() is not None) for f in b.futures)
            discard_sends(b.futures)
            b.take()
            if b.open and b.producer is not None:
                try:
                    await b.producer.abort_transaction()
                    self._outcome("aborted")
                except Exception as exc:  # fenced or fatal: this producer is done
                    self._log.warning("abort_failed", partition=b.tp.partition,
                                      error_type=type(exc).__name__, error=str(exc))
                    renew = True
            if renew and b.producer is not None:
                # an expired send leaves the idempotent producer's sequence numbers out of
                # step with the broker (every later send fails OutOfOrderSequenceNumber);
                # ready() re-creates it, after the worker checked it still owns the partition
                self._log.info("producer_renewed", partition=b.tp.partition)
                with contextlib.suppress(Exception):
                    await b.producer.stop()
                b.producer = None
            b.open = False
            b.send_failed = False
        return dropped


class OffsetCommits(CommitPolicy):
    """At-least-once: offsets committed in the background once the sends are acknowledged."""

    def __init__(self, interval_ms: int, on_committed: OnCommitted,
                 consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        super().__init__(interval_ms, on_committed)
        self._consumer = consumer
        self._producer = producer
        self._in_flight: asyncio.Task[None] | None = None
        self._in_flight_records = 0
        self._in_flight_sends: list[SendFuture] = []
        self._in_flight_since: float | None = None

    async def begin(self, batch: Batch, first_ts_ms: int | None) -> AIOKafkaProducer:
        self._open(batch, first_ts_ms)
        return self._producer

    async def close(self) -> None:
        await super().close()
        await self._producer.stop()

    async def _commit(self, due: list[Batch], *, force: bool) -> None:
        """Hand the due batches' sends and offsets to a task and go on.

        The task commits the offsets only once every send of those records is
        acknowledged, so a crash repeats records, never loses one. One commit
        is in flight at a time, which keeps a partition's committed offsets
        increasing; ``force`` (revocation, shutdown, backpressure) waits for
        it and for the new one.
        """
        if self._in_flight is not None:
            if not self._in_flight.done() and not force:
                return  # still on its way: these batches stay due for the next turn
            await self.settle()
        futures: list[SendFuture] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for b in due:
            assert b.next_offset is not None
            futures += b.futures
            offsets[b.tp] = OffsetAndMetadata(b.next_offset, "")
        done = [b.take() for b in due]
        self._in_flight_records = sum(len(d.timestamps) for d in done)
        self._in_flight_sends = futures
        self._in_flight_since = time.monotonic()
        self._in_flight = asyncio.create_task(self._commit_offsets(futures, offsets, done),
                                              name="offset-commit")
        if force:
            await self.settle()

    async def _commit_offsets(self, futures: list[SendFuture],
                              offsets: dict[TopicPartition, OffsetAndMetadata],
                              done: list[Committed]) -> None:
        await await_sends(futures)
        await self._consumer.commit(offsets)
        for committed in done:
            self._on_committed(committed)

    def _take(self) -> asyncio.Task[None] | None:
        task, self._in_flight = self._in_flight, None
        self._in_flight_records = 0
        self._in_flight_sends = []
        self._in_flight_since = None
        return task

    async def settle(self) -> None:
        task = self._take()
        if task is not None:
            await task

    def check(self) -> None:
        task = self._in_flight
        if task is not None and task.done():
            self._take()
            task.result()

    def pending(self) -> int:
        return super().pending() + self._in_flight_records

    def commit_running_since(self) -> float | None:
        running = self._in_flight is not None and not self._in_flight.done()
        return self._commit_started or (self._in_flight_since if running else None)

    async def abort(self, tps: Iterable[TopicPartition] | None = None) -> int:
        sends, dropped = self._in_flight_sends, self._in_flight_records
        task = self._take()
        if task is None:
            dropped = 0
        else:  # its offsets may be lost: the rewind repeats them
            discard_sends(sends)
            task.cancel()
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved: the caller already knows of the failure
        batches = list(self.batches.values()) if tps is None else [
            self.batches[tp] for tp in tps if tp in self.batches]
        for b in batches:
            dropped += len(b.timestamps)
            discard_sends(b.futures)
            b.take()
        return dropped


def transactional_producer(kafka: dict[str, Any], prefix: str) -> Producer:
    """A factory of the per-partition transactional producers, started (fencing included)."""

    async def start(tp: TopicPartition) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            transactional_id=f"{prefix}-{tp.topic}-{tp.partition}",
            enable_idempotence=True, acks="all", linger_ms=5,
            max_request_size=MAX_REQUEST_BYTES, transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            retry_backoff_ms=TXN_RETRY_BACKOFF_MS, partitioner=default_partitioner, **kafka,
        )
        await producer.start()  # runs init_transactions: fences the previous owner
        return producer

    return start


async def commit_policy(exactly_once: bool, *, kafka: dict[str, Any], consumer: AIOKafkaConsumer,
                        group_id: str, txn_prefix: str, interval_ms: int,
                        on_committed: OnCommitted,
                        outcome: Callable[[str], None] | None = None) -> CommitPolicy:
    """The policy for the guarantee, with its clients started (``outcome`` counts
    transactions by outcome, committed or aborted)."""
    if exactly_once:
        return Transactions(interval_ms, on_committed, group_id,
                            transactional_producer(kafka, txn_prefix), outcome)
    producer = AIOKafkaProducer(
        enable_idempotence=True, acks="all", linger_ms=ALO_LINGER_MS,
        max_request_size=MAX_REQUEST_BYTES, partitioner=default_partitioner, **kafka,
    )
    await producer.start()
    return OffsetCommits(interval_ms, on_committed, consumer, producer)
