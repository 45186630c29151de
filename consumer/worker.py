"""``wirefeed run``: the asyncio shell around the pure parse + dedup pipeline.

Exactly-once, and why one transactional producer per input partition
--------------------------------------------------------------------
Output events, duplicates, dead letters, dedup-state changelog entries and the
input offsets of a batch are committed in one Kafka transaction. aiokafka's
``send_offsets_to_transaction`` takes a bare group id, without the
consumer-group metadata that lets the broker fence a stale instance after a
rebalance (KIP-447). So, like Kafka Streams' original exactly-once mode, the
worker uses one transactional producer per input partition, with the
transactional id ``<prefix>-<topic>-<partition>``: whichever instance owns a
partition calls ``init_transactions`` with that id, which aborts any open
transaction of the previous owner and fences it, so a zombie can never commit
output for a partition it has lost. Only after that does the new owner read
the committed offset and start fetching.

Failure handling is deliberately blunt: on any error inside a transaction the
worker aborts every open transaction, rewinds every partition to its committed
offset, rebuilds the dedup index from the changelog (so no entry of an
aborted transaction survives in memory) and carries on after a backoff. It
never exits because the broker went away; readiness is false meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import random
import signal
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import Histogram

from consumer import __version__, log
from consumer.changelog import ChangelogFollower
from consumer.config import Settings
from consumer.dedup import kernels
from consumer.events import SCHEMA_VERSION, STORY_EVENT_TYPES
from consumer.http import HealthServer
from consumer.metrics import Metrics
from consumer.model import RawRecord
from consumer.parallel import ParsePool, warm_up
from consumer.parse import parse_record
from consumer.partitioner import default_partitioner, murmur2
from consumer.pipeline import Outcome, Pipeline, Prepared, prepare
from consumer.tlsprobe import ConnectFailures

# A dead letter carries the original record unchanged, so the producer must
# accept whatever the input topic accepted (topics' max.message.bytes must match).
MAX_REQUEST_BYTES = 16 * 1024 * 1024
_YIELD_EVERY_S = 0.005
# the lag gauges: scraped every 15 s or so; asking aiokafka for every partition's
# position on every loop turn was 2 % of the worker's CPU at 500 records/s
_LAG_EVERY_S = 1.0
# A transaction that starts right after the previous one committed often gets
# CONCURRENT_TRANSACTIONS while the broker still writes the commit markers; aiokafka
# retries after retry_backoff_ms, 100 ms by default, which showed as commits of
# ~105 ms and a p99 of ~200 ms at 100 records/s. The Java producer retries this
# case after 20 ms too.
_TXN_RETRY_BACKOFF_MS = 20
# at-least-once is the low-latency mode: ship a record as soon as the loop yields. The
# loop yields every 5 ms while busy, so records still leave in batches under load.
_ALO_LINGER_MS = 0
# fewer records than this in one fetch are parsed in the event loop, not in the pool: a
# record's round trip through the pool takes ~0.4 ms more than parsing it here, and on
# two cores shared with the broker a pool process woken for each record waits for a core
# (quick latency bench, at-least-once at 500/s, p50 / p99: the pool for every fetch 14.5 /
# 90 ms against 6.4 / 58 with this threshold; handing each fetch to the pool ahead of the
# next, so that parsing overlaps the previous fetch's decisions, 13.5 / 58 against 5.8 / 27)
_POOL_MIN_RECORDS = 8
# Own changelog writes remembered until the follower reads them back (see
# Worker._apply_state); past this many keys the memo is dropped, which only
# means re-applying, as without it.
_OWN_WRITES_MAX = 200_000
Headers = list[tuple[str, bytes]]
# A batch's commit interval counts from when its first record was written to the
# input topic, by up to this share of the interval earlier than the loop got to it.
_OPEN_SLACK_SHARE = 0.25


@dataclass
class _Batch:
    """Uncommitted work of one input partition (one open transaction in exactly-once)."""

    tp: TopicPartition
    producer: AIOKafkaProducer | None = None
    open: bool = False
    opened_at: float = 0.0
    next_offset: int | None = None
    timestamps: list[int] = field(default_factory=list)
    futures: list[asyncio.Future[Any]] = field(default_factory=list)


def warm_process() -> None:
    """Everything a worker compiles or loads on first use, done before its first record:
    the parsers and the language model (:func:`~consumer.parallel.warm_up`), the dedup
    index kernels and the key hash (from numba's cache 0.2-0.3 s each, seconds to
    compile), so that no record waits for them."""
    warm_up()
    kernels.warm()
    murmur2(b"warm-up")


def opened_at(record_ts_ms: int | None, interval_ms: int, now: float | None = None,
              wall_ms: float | None = None) -> float:
    """When a batch that opens with a record stamped ``record_ts_ms`` counts as opened
    (monotonic seconds).

    A record that arrived while the loop stood still for a commit (5-10 ms, up to
    20) used to start its transaction only when the loop got to it, so it waited
    that stall plus a whole interval plus the next commit: the p99 of exactly-once
    added latency at 100 records/s sat 20-35 ms above the interval. Counting from
    the record's own timestamp removes the stall, and the cap (a quarter of the
    interval) keeps a backlog, a replay or a producer's skewed clock from making
    transactions shorter than three quarters of the interval.
    """
    now = time.monotonic() if now is None else now
    if not record_ts_ms or record_ts_ms <= 0:
        return now
    wall_ms = time.time() * 1000 if wall_ms is None else wall_ms
    age_s = min(max(0.0, wall_ms - record_ts_ms), interval_ms * _OPEN_SLACK_SHARE) / 1000
    return now - age_s


def _oldest_open(batches: Iterable[_Batch]) -> float | None:
    """When the oldest batch holding uncommitted records was opened (monotonic seconds)."""
    return min((b.opened_at for b in batches if b.timestamps), default=None)


async def watch_loop_lag(histogram: Histogram, every_s: float = 0.1) -> None:
    """Observe how late a timer of ``every_s`` fires, forever.

    Everything in the worker shares one event loop: while one step runs (a fetch
    being parsed, a slow callback, a throttled CPU quota, the process descheduled),
    fetches, acknowledgements, heartbeats and probes wait. The lateness of a
    regular timer is that wait, seen from inside, at the cost of ten wake-ups a
    second and no per-record bookkeeping.
    """
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every_s
        await asyncio.sleep(every_s)
        histogram.observe(max(0.0, loop.time() - due))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker.partitions_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._worker.partitions_assigned(set(assigned))


class Worker:
    """One replica of the consumer group."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.s = settings
        self.metrics = metrics or Metrics()
        self.pipeline = Pipeline(
            window_ms=int(settings.retention_hours * 3_600_000),
            max_entries=settings.max_entries,
            parser=functools.partial(parse_record, max_bytes=settings.max_record_bytes),
        )
        self.log = log.get("wirefeed.worker")
        self._kafka = settings.kafka_common()
        self._connect = ConnectFailures(settings.bootstrap_servers, self._kafka.get("ssl_context"),
                                        settings.ssl_certfile,
                                        settings.security_protocol.startswith("SASL"),
                                        self.metrics.broker_connection_failures, self.log)
        self._consumer: AIOKafkaConsumer | None = None
        self._alo_producer: AIOKafkaProducer | None = None
        self._batches: dict[TopicPartition, _Batch] = {}
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._follower: ChangelogFollower | None = None
        self._own_writes: dict[str, collections.deque[bytes | None]] = {}
        self._http: HealthServer | None = None
        self._broker_ok = False
        self._assigned_once = False
        self._recovering = False
        self._pool: ParsePool | None = None
        # at-least-once: the offset commit in flight (one at a time, see _commit_offsets)
        self._offset_commit: asyncio.Task[None] | None = None
        self._offset_commit_records = 0
        self._lag_due = 0.0

    # --- readiness -------------------------------------------------------
    def readiness(self) -> tuple[bool, str]:
        if self._connect.reason is not None:
            return False, f"broker unreachable: {self._connect.reason}"
        if self._follower is None or not self._follower.restored:
            return False, "restoring dedup state"
        if not self._broker_ok:
            return False, "broker unreachable"
        if self._recovering:
            return False, "recovering from a failed transaction"
        if not self._assigned_once:
            return False, "waiting for partition assignment"
        return True, "ready"

    def _update_ready(self) -> None:
        self.metrics.ready.set(1 if self.readiness()[0] else 0)

    @property
    def http_port(self) -> int:
        assert self._http is not None
        return self._http.port

    # --- lifecycle -------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)
        self._http = HealthServer(self.metrics, self.readiness, self.s.metrics_host,
                                  self.s.metrics_port)
        await self._http.start()
        self.log.info("worker_starting", version=__version__, http_port=self._http.port,
                      settings=self.s.redacted())
        watchers: list[asyncio.Task[None]] = []
        try:
            await self._start_clients()
            watchers = [
                asyncio.create_task(self._probe_broker(), name="broker-probe"),
                asyncio.create_task(watch_loop_lag(self.metrics.event_loop_lag),
                                    name="loop-lag"),
            ]
            await self._loop()
        finally:
            for task in watchers:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._shutdown()
        return 0

    async def _start_clients(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._follower = ChangelogFollower(
                    self.s.state_topic, self._load_state, self._apply_state,
                    self.metrics, self._kafka,
                )
                await self._follower.start()
                self._broker_ok = True
                self._connect.succeeded()
                break
            except (KafkaError, OSError, RuntimeError) as exc:
                self._broker_ok = False
                await self._connect.failed(exc, retry_in_s=backoff)
                if self._follower is not None:
                    await self._follower.stop()
                    self._follower = None
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        if self._stop.is_set():
            return
        self.metrics.state_entries.set(len(self.pipeline.index))
        warm_process()
        if self.s.parse_processes > 0:
            self._pool = ParsePool(self.s.parse_processes, max_bytes=self.s.max_record_bytes)
            await self._pool.start()
        # the restored index, the parsers' tables and the language model live as long as
        # the process: keep every full collection from walking them again (pauses of
        # 20+ ms were measured in the latency bench before this)
        gc.freeze()
        if not self.s.exactly_once:
            self._alo_producer = AIOKafkaProducer(
                enable_idempotence=True, acks="all", linger_ms=_ALO_LINGER_MS,
                max_request_size=MAX_REQUEST_BYTES, partitioner=default_partitioner,
                **self._kafka,
            )
            await self._alo_producer.start()
        self._consumer = AIOKafkaConsumer(
            group_id=self.s.group_id, enable_auto_commit=False,
            isolation_level="read_committed", auto_offset_reset="earliest",
            max_poll_records=self.s.max_in_flight,
            session_timeout_ms=self.s.session_timeout_ms,
            max_partition_fetch_bytes=MAX_REQUEST_BYTES,
            heartbeat_interval_ms=max(1000, self.s.session_timeout_ms // 5),
            rebalance_timeout_ms=30_000,
            client_id=f"wirefeed-{__version__}", **self._kafka,
        )
        await self._consumer.start()
        listener = _Rebalance(self)
        if self.s.topic_pattern:
            self._consumer.subscribe(pattern=self.s.topic_pattern, listener=listener)
        else:
            self._consumer.subscribe(topics=self.s.topics, listener=listener)

    async def _probe_broker(self, every_s: float = 2.0) -> None:
        """Readiness must notice a broker that went away even when no record flows.

        An idle consumer's fetches fail silently inside aiokafka, so a metadata
        request on the consumer's own connection is the signal. It asks for no
        topic, only the brokers: a request for every topic (what aiokafka's
        ``fetch_all_metadata`` sends) took 6 ms of the event loop to decode on
        a broker with 146 topics, every 2 s, and grows with the cluster; the
        records in flight meanwhile waited.
        """
        assert self._consumer is not None
        client = self._consumer._client
        while True:
            try:
                await asyncio.wait_for(self._ask_brokers(client), 3)
                self._broker_ok = True
            except Exception:
                if self._broker_ok:
                    self.log.warning("broker_unreachable")
                self._broker_ok = False
            self._update_ready()
            await asyncio.sleep(every_s)

    @staticmethod
    async def _ask_brokers(client: Any) -> Any:
        """The broker list from the first known broker that answers; raises if none does.

        Every broker is tried in random order, as aiokafka's own metadata update
        does: one broker of several being down must not make the worker not-ready.
        An empty topic list (protocol version 1 and later) means no topic; aiokafka's
        own helpers turn an empty list into "all topics".
        """
        nodes = [broker.nodeId for broker in client.cluster.brokers()]
        random.shuffle(nodes)
        failures: list[str] = []
        for node in nodes:
            try:
                response = await client.send(
                    node, MetadataRequest([], allow_auto_topic_creation=False))
            except (KafkaError, OSError, TimeoutError) as exc:
                failures.append(f"{node}: {exc!r}")
                continue
            if response.brokers:
                return response
            failures.append(f"{node}: metadata without brokers")
        raise KafkaConnectionError(f"no broker answered ({'; '.join(failures) or 'none known'})")

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # --- rebalance -------------------------------------------------------
    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            assert self._consumer is not None
            for tp in sorted(assigned):
                if tp in self._batches:
                    continue
                batch = _Batch(tp)
                if self.s.exactly_once:
                    batch.producer = await self._txn_producer(tp)
                self._batches[tp] = batch
                # read the committed offset only after init_transactions fenced
                # the previous owner and aborted its open transaction
                committed = await self._consumer.committed(tp)
                if committed is not None:
                    self._consumer.seek(tp, committed)
                    batch.next_offset = committed
            self._assigned_once = True
            self.metrics.assigned_partitions.set(len(self._batches))
            self._update_ready()
            self.log.info("partitions_assigned",
                          partitions=[f"{tp.topic}:{tp.partition}" for tp in sorted(assigned)])

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            mine = [tp for tp in revoked if tp in self._batches]
            try:
                await self._commit([self._batches[tp] for tp in mine], force=True)
            except Exception as exc:  # the new owner will redo the uncommitted records
                self.log.warning("commit_on_revoke_failed", error=repr(exc))
                await self._abort([self._batches[tp] for tp in mine])
            for tp in mine:
                batch = self._batches.pop(tp)
                if batch.producer is not None:
                    with contextlib.suppress(Exception):
                        await batch.producer.stop()
                with contextlib.suppress(KeyError):
                    self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
            self.metrics.assigned_partitions.set(len(self._batches))
            self.log.info("partitions_revoked",
                          partitions=[f"{tp.topic}:{tp.partition}" for tp in sorted(mine)])

    async def _txn_producer(self, tp: TopicPartition) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            transactional_id=f"{self.s.txn_prefix}-{tp.topic}-{tp.partition}",
            enable_idempotence=True, acks="all", linger_ms=5,
            max_request_size=MAX_REQUEST_BYTES, transaction_timeout_ms=60_000,
            retry_backoff_ms=_TXN_RETRY_BACKOFF_MS, partitioner=default_partitioner,
            **self._kafka,
        )
        await producer.start()  # runs init_transactions: fences the previous owner
        return producer

    # --- the loop --------------------------------------------------------
    async def _loop(self) -> None:
        assert self._consumer is not None or self._stop.is_set()
        backoff = 0.5
        while not self._stop.is_set():
            assert self._consumer is not None
            try:
                self._check_offset_commit()
                if self._pending() >= self.s.max_in_flight:
                    async with self._lock:
                        await self._commit(list(self._batches.values()), force=True)
                fetched = await self._consumer.getmany(
                    timeout_ms=self._until_commit_ms(), max_records=self.s.max_in_flight
                )
                async with self._lock:
                    for tp, records in fetched.items():
                        batch = self._batches.get(tp)
                        if batch is None:  # revoked between fetch and processing
                            continue
                        await self._process(batch, records)
                    await self._commit(list(self._batches.values()), force=False)
                if time.monotonic() >= self._lag_due:
                    self._lag_due = time.monotonic() + _LAG_EVERY_S
                    await self._update_lag()
                self._recovering = False
                backoff = 0.5
            except Exception as exc:  # broker trouble or a bug: never exit, never lose work
                self._broker_ok = not isinstance(exc, KafkaError)
                self._recovering = True
                self._update_ready()
                self.metrics.commit_failures.inc()
                self.log.warning("transaction_failed", error=repr(exc), retry_in_s=backoff)
                await self._recover()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            self._update_ready()

    def _until_commit_ms(self) -> int:
        """How long a fetch may wait: until the oldest open batch is due, at most one interval.

        Waiting a full interval after a batch was opened let a quiet
        partition's transaction stay open up to twice the commit interval,
        which showed as p99 latency at low offered load.
        """
        interval = self.s.commit_interval_ms
        oldest = _oldest_open(self._batches.values())
        if oldest is None:
            return interval
        due_in = (oldest + interval / 1000 - time.monotonic()) * 1000
        return max(1, min(interval, int(due_in) + 1))

    def _pending(self) -> int:
        return (sum(len(b.timestamps) for b in self._batches.values())
                + self._offset_commit_records)

    async def _process(self, batch: _Batch, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        producer = batch.producer or self._alo_producer
        assert producer is not None
        if self.s.exactly_once and not batch.open:
            await producer.begin_transaction()
            batch.open = True
        if not batch.timestamps:
            batch.opened_at = opened_at(records[0].timestamp, self.s.commit_interval_ms)
        last_yield = time.perf_counter()
        # records fetched before the assignment listener read the committed
        # offset (aiokafka starts fetching from a committed offset it read
        # *before* init_transactions fenced the previous owner) are already
        # processed, or already committed by the previous owner
        raws = [
            RawRecord(value=rec.value, key=rec.key, headers=tuple(rec.headers or ()),
                      timestamp_ms=rec.timestamp, topic=rec.topic, partition=rec.partition,
                      offset=rec.offset)
            for rec in records
            if batch.next_offset is None or rec.offset >= batch.next_offset
        ]
        async for raw, prepared, took in self._prepared(raws):
            started = time.perf_counter()
            outcome = self.pipeline.process_prepared(prepared, raw)
            self.metrics.parse_duration.observe(prepared.parse_s)
            self.metrics.processing_duration.observe(took + time.perf_counter() - started)
            self.metrics.records_consumed.labels(raw.topic).inc()
            self.metrics.feed_health.observe(outcome.story, raw.timestamp_ms)
            await self._emit(producer, batch, raw, outcome)
            # later records of this batch must see this one; if the transaction
            # aborts, _recover rebuilds the index from the committed changelog
            self.pipeline.commit(outcome)
            batch.next_offset = raw.offset + 1
            batch.timestamps.append(raw.timestamp_ms or 0)
            if time.perf_counter() - last_yield > _YIELD_EVERY_S:
                # parsing is CPU work on the event loop: let the producer's sender
                # task ship what is ready instead of holding it until the batch ends
                await asyncio.sleep(0)
                last_yield = time.perf_counter()
        self.metrics.state_entries.set(len(self.pipeline.index))

    async def _prepared(self, raws: list[RawRecord]
                        ) -> AsyncIterator[tuple[RawRecord, Prepared, float]]:
        """(record, its stateless half, seconds this process spent on that half), in order.

        Small fetches (a quiet feed) are parsed right here: a round trip to the
        pool would only add latency where there is no throughput to gain.
        """
        if self._pool is None or len(raws) < _POOL_MIN_RECORDS:
            for raw in raws:
                started = time.perf_counter()
                prepared = prepare(raw, self.pipeline.parser)
                yield raw, prepared, time.perf_counter() - started
            return
        async for raw, prepared in self._pool.map(raws):
            yield raw, prepared, prepared.parse_s

    async def _emit(self, producer: AIOKafkaProducer, batch: _Batch, raw: RawRecord,
                    outcome: Outcome) -> None:
        event = outcome.event
        etype: str = event["event_type"]
        coords: Headers = [
            ("wirefeed-source-topic", raw.topic.encode()),
            ("wirefeed-source-partition", str(raw.partition).encode()),
            ("wirefeed-source-offset", str(raw.offset).encode()),
            ("wirefeed-version", __version__.encode()),
        ]
        traceparent = raw.header("traceparent")
        if traceparent:
            coords.append(("traceparent", traceparent.encode()))
        sends: list[tuple[str, bytes | None, bytes | None, Headers]] = []
        if etype == "dead_letter":
            headers = [*raw.headers, *coords,
                       ("wirefeed-reason", str(event["reason"]).encode()),
                       ("wirefeed-error", str(event.get("message", ""))[:1000].encode())]
            sends.append((self.s.dead_letter_topic, raw.key, raw.value, headers))
            self.metrics.dead_letters.labels(event["reason"]).inc()
            self.log.warning("dead_letter", reason=event["reason"], message=event.get("message"),
                             topic=raw.topic, partition=raw.partition, offset=raw.offset)
        else:
            headers = [("content-type", b"application/json"),
                       ("wirefeed-schema", SCHEMA_VERSION.encode()),
                       ("wirefeed-event-type", etype.encode()), *coords]
            value = orjson.dumps(event)
            key = str(event["story_id"]).encode()
            if etype in STORY_EVENT_TYPES:
                sends.append((self.s.output_topic, key, value, headers))
                self.metrics.events_published.labels(etype).inc()
            else:
                self.metrics.duplicates.labels(str(event.get("reason"))).inc()
                if self.s.duplicates_topic:
                    sends.append((self.s.duplicates_topic, key, value, headers))
                    self.metrics.events_published.labels(etype).inc()
        own = self._own_writes
        if len(own) > _OWN_WRITES_MAX:
            own.clear()
        for state_key, state_value in outcome.changes:
            sends.append((self.s.state_topic, state_key.encode(), state_value, []))
            own.setdefault(state_key, collections.deque()).append(state_value)
        for topic, out_key, out_value, hdrs in sends:
            fut = await producer.send(topic, out_value, key=out_key, headers=hdrs)
            batch.futures.append(fut)
        self.log.debug("record", topic=raw.topic, partition=raw.partition, offset=raw.offset,
                       event_type=etype)

    async def _commit(self, batches: list[_Batch], *, force: bool) -> None:
        """Commit every batch with records once the oldest is due (or now, with ``force``).

        All together, not each when its own interval ends: the loop stands
        still once per interval for one overlapped round of commits, instead
        of once per partition at staggered times.
        """
        if force and self._offset_commit is not None:
            # revocation and shutdown must not leave an offset commit behind them
            await self._finish_offset_commit()
        oldest = _oldest_open(batches)
        if oldest is None or (
            not force and time.monotonic() - oldest < self.s.commit_interval_ms / 1000
        ):
            return
        with self.metrics.commit_duration.time():
            await self._commit_due([b for b in batches if b.timestamps], force=force)

    async def _commit_due(self, due: list[_Batch], *, force: bool) -> None:
        if self.s.exactly_once:
            # one producer a partition: their commits are independent, so they
            # overlap (one round trip for all instead of one each); every one is
            # awaited before an error propagates, so _recover never races a commit
            results = await asyncio.gather(*(self._commit_txn(b) for b in due),
                                           return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        else:
            await self._start_offset_commit(due, force=force)

    async def _start_offset_commit(self, due: list[_Batch], *, force: bool) -> None:
        """At-least-once: commit the offsets of ``due`` in the background.

        Waiting for the sends' acknowledgements and then for the offset commit
        stood the loop still for about 10 ms every commit interval (20 % of the
        time at 500 records/s), and every record arriving meanwhile waited too.
        Now the loop hands the batches' futures and offsets to a task and goes
        on; the task commits the offsets only once every send of those records
        is acknowledged, so a crash still only repeats records, never loses
        one. One commit is in flight at a time, which keeps the committed
        offsets of a partition increasing; ``force`` (revocation, shutdown,
        backpressure) waits for it and for the new one.
        """
        if self._offset_commit is not None:
            if not self._offset_commit.done() and not force:
                return  # still on its way: these batches stay due for the next turn
            await self._finish_offset_commit()
        futures: list[asyncio.Future[Any]] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        done: list[tuple[TopicPartition, list[int]]] = []
        for b in due:
            assert b.next_offset is not None
            futures += b.futures
            offsets[b.tp] = OffsetAndMetadata(b.next_offset, "")
            done.append((b.tp, b.timestamps))
            b.futures, b.timestamps = [], []
        self._offset_commit_records = sum(len(ts) for _, ts in done)
        self._offset_commit = asyncio.create_task(
            self._commit_offsets(futures, offsets, done), name="offset-commit")
        if force:
            await self._finish_offset_commit()

    async def _commit_offsets(self, futures: list[asyncio.Future[Any]],
                              offsets: dict[TopicPartition, OffsetAndMetadata],
                              done: list[tuple[TopicPartition, list[int]]]) -> None:
        assert self._consumer is not None
        if futures:
            await asyncio.gather(*futures)  # a failed send fails the commit
        await self._consumer.commit(offsets)
        for tp, timestamps in done:
            self._committed(tp, timestamps)

    def _take_offset_commit(self) -> asyncio.Task[None] | None:
        """The offset commit in flight, no longer counted as in flight."""
        task, self._offset_commit = self._offset_commit, None
        self._offset_commit_records = 0
        return task

    async def _finish_offset_commit(self) -> None:
        """Wait for the offset commit in flight; its error becomes the caller's."""
        task = self._take_offset_commit()
        if task is not None:
            await task

    def _check_offset_commit(self) -> None:
        """Raise a failed background offset commit in the loop, which then recovers."""
        task = self._offset_commit
        if task is not None and task.done():
            self._take_offset_commit()
            task.result()

    async def _commit_txn(self, b: _Batch) -> None:
        assert b.producer is not None
        assert b.next_offset is not None
        await b.producer.send_offsets_to_transaction(
            {b.tp: OffsetAndMetadata(b.next_offset, "")}, self.s.group_id
        )
        await b.producer.commit_transaction()
        await self._settle(b)
        b.open = False
        self.metrics.transactions.labels("committed").inc()
        self._committed(b.tp, b.timestamps)
        b.timestamps = []

    async def _settle(self, batch: _Batch) -> None:
        """Wait for every send of the batch; a failed send fails the commit."""
        futures, batch.futures = batch.futures, []
        if futures:
            await asyncio.gather(*futures)

    def _committed(self, tp: TopicPartition, timestamps: list[int]) -> None:
        """Bookkeeping for records of ``tp`` whose output and offsets are now committed."""
        now_ms = time.time() * 1000
        for ts in timestamps:
            if ts and ts > 0:
                self.metrics.end_to_end_latency.observe(max(0.0, (now_ms - ts) / 1000))
        self.metrics.last_commit_timestamp.set(now_ms / 1000)

    async def _abort(self, batches: list[_Batch]) -> None:
        # aborted writes never reach the follower: forget them all (re-applying is always safe)
        self._own_writes.clear()
        task = self._take_offset_commit()
        if task is not None:  # its offsets may be lost: the rewind repeats them
            task.cancel()
            await asyncio.wait([task])  # never raises its error
        for b in batches:
            b.futures.clear()
            b.timestamps.clear()
            if b.open and b.producer is not None:
                try:
                    await b.producer.abort_transaction()
                    self.metrics.transactions.labels("aborted").inc()
                except Exception as exc:
                    self.log.warning("abort_failed", partition=b.tp.partition, error=repr(exc))
                    with contextlib.suppress(Exception):
                        await b.producer.stop()
                    b.producer = None
            b.open = False

    async def _recover(self) -> None:
        """Abort everything open, rewind to committed offsets, rebuild state from the changelog."""
        async with self._lock:
            await self._abort(list(self._batches.values()))
            assert self._consumer is not None
            for tp, batch in list(self._batches.items()):
                try:
                    if self.s.exactly_once and batch.producer is None:
                        batch.producer = await self._txn_producer(tp)
                    committed = await self._consumer.committed(tp)
                    if committed is None:
                        committed = (await self._consumer.beginning_offsets([tp]))[tp]
                    self._consumer.seek(tp, committed)
                    batch.next_offset = committed
                except KafkaError as exc:
                    self.log.warning("rewind_failed", partition=tp.partition, error=repr(exc))
                    self._batches.pop(tp, None)
                    if batch.producer is not None:
                        with contextlib.suppress(Exception):
                            await batch.producer.stop()
            if self._follower is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._follower.restore(), 120)

    async def _update_lag(self) -> None:
        assert self._consumer is not None
        for tp in list(self._batches):
            high = self._consumer.highwater(tp)
            if high is None:
                continue
            with contextlib.suppress(Exception):
                position = await self._consumer.position(tp)
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(0, high - position))

    def _apply_state(self, key: str, value: bytes | None) -> None:
        """Apply a changelog record, unless it is this worker's own, already applied write.

        The follower reads every committed changelog record, this worker's own
        included, and ``pipeline.commit`` applied those at processing time:
        re-applying them (decode, remove, re-insert) was 10-40 % of the
        worker's CPU in the benchmark profile. A record is skipped only when it
        equals the oldest own write still pending for its key; a record from
        anyone else drops the key's pending writes, so from there on the key
        follows the log order exactly as before.
        """
        pending = self._own_writes.get(key)
        if pending:
            if pending[0] == value:
                pending.popleft()
                if not pending:
                    del self._own_writes[key]
                return
            del self._own_writes[key]
        self.pipeline.index.apply(key, value)

    def _load_state(self, changes: list[tuple[str, bytes | None]]) -> None:
        """Replace the index by one rebuilt in bulk from the changelog."""
        index = self.pipeline.index
        self._own_writes.clear()
        self.pipeline.index = type(index).restore(
            changes, window_ms=index.window_ms, max_entries=index.max_entries
        )
        self.metrics.state_entries.set(len(self.pipeline.index))

    async def _shutdown(self) -> None:
        deadline = time.monotonic() + self.s.shutdown_timeout_s
        self.log.info("worker_stopping")

        async def close() -> None:
            if self._consumer is not None:
                async with self._lock:
                    batches = list(self._batches.values())
                    try:
                        await self._commit(batches, force=True)
                    except Exception as exc:
                        self.log.warning("final_commit_failed", error=repr(exc))
                        await self._abort(batches)
                # leaving the group runs on_partitions_revoked: nothing left to commit
                await self._consumer.stop()
            for batch in self._batches.values():
                if batch.producer is not None:
                    await batch.producer.stop()
            self._batches.clear()
            if self._alo_producer is not None:
                await self._alo_producer.stop()
            if self._follower is not None:
                await self._follower.stop()

        try:
            await asyncio.wait_for(close(), max(1.0, deadline - time.monotonic() - 0.5))
        except (TimeoutError, Exception) as exc:
            self.log.warning("shutdown_incomplete", error=repr(exc))
        if self._pool is not None:
            await self._pool.aclose(max(0.1, min(2.0, deadline - time.monotonic())))
        if self._http is not None:
            await self._http.stop()
        self.metrics.ready.set(0)
        self.log.info("worker_stopped")
