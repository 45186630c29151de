"""``wirefeed run``: the asyncio shell around the pure parse + dedup pipeline.

One record's way, module by module: the consumer fetches it here
(:meth:`Worker._turn`); :mod:`consumer.parallel` or this loop parses it;
:class:`~consumer.pipeline.Pipeline` decides it against the index that
:class:`~consumer.statestore.StateStore` owns; :func:`~consumer.routing.route`
turns the outcome into the records to send; the :mod:`consumer.commit` policy
(a transaction per input partition, or background offset commits) sends them
and commits them with the input offset; :mod:`consumer.health` says whether
all of that is making progress.

Failure handling is deliberately blunt: on any error the worker aborts all
uncommitted work, rewinds every partition it still owns to its committed
offset, marks the dedup state stale and decides no record until the state is
restored from the changelog (retried with backoff). It never exits because
the broker went away; readiness is false meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import signal
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from consumer import __version__, log
from consumer.commit import MAX_REQUEST_BYTES, CommitPolicy, Committed, commit_policy
from consumer.config import Settings
from consumer.dedup import kernels
from consumer.health import Health, consumer_lag, probe_broker, watch_loop_lag
from consumer.http import HealthServer
from consumer.metrics import Metrics
from consumer.parallel import ParsePool, warm_up
from consumer.parse import parse_record
from consumer.partitioner import murmur2
from consumer.pipeline import Pipeline
from consumer.processing import Processor
from consumer.routing import Topics
from consumer.statestore import StateStore
from consumer.tlsprobe import ConnectFailures

# the lag gauges are scraped every 15 s or so; asking for every partition's
# position on every loop turn cost CPU for nothing (bench/ROUNDS.md)
_LAG_EVERY_S = 1.0
# a restore that takes longer counts as failed and is retried
_RESTORE_TIMEOUT_S = 120.0
_BACKOFF_MAX_S = 10.0

CommitListener = Callable[[Committed], None]


def warm_process() -> None:
    """Everything a worker compiles or loads on first use, done before its first record:
    the parsers and the language model (:func:`~consumer.parallel.warm_up`), the dedup
    index kernels and the key hash, so that no record waits for them."""
    warm_up()
    kernels.warm()
    murmur2(b"warm-up")


def group_consumer(s: Settings, kafka: dict[str, Any]) -> AIOKafkaConsumer:
    """The input consumer: in the group, read_committed, offsets committed by the policy."""
    return AIOKafkaConsumer(
        group_id=s.group_id, enable_auto_commit=False,
        isolation_level="read_committed", auto_offset_reset="earliest",
        max_poll_records=s.max_in_flight, session_timeout_ms=s.session_timeout_ms,
        max_partition_fetch_bytes=MAX_REQUEST_BYTES,
        heartbeat_interval_ms=max(1000, s.session_timeout_ms // 5),
        rebalance_timeout_ms=30_000, client_id=f"wirefeed-{__version__}", **kafka,
    )


async def committed_offsets(consumer: AIOKafkaConsumer, tps: list[TopicPartition]
                            ) -> dict[TopicPartition, int]:
    """Where each partition resumes: its committed offset, else its beginning."""
    out: dict[TopicPartition, int] = {}
    for tp in tps:
        committed = await consumer.committed(tp)
        if committed is None:
            committed = (await consumer.beginning_offsets([tp]))[tp]
        out[tp] = committed
    return out


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
        self.state = StateStore(int(settings.retention_hours * 3_600_000), settings.max_entries,
                                self.metrics)
        pipeline = Pipeline(
            state=self.state,
            parser=functools.partial(parse_record, max_bytes=settings.max_record_bytes),
        )
        topics = Topics(settings.output_topic, settings.duplicates_topic,
                        settings.dead_letter_topic, settings.state_topic)
        self.processor = Processor(pipeline, self.state, topics, self.metrics)
        self.health = Health(self.metrics, settings.progress_timeout_s,
                             restored=lambda: self.state.restored,
                             commit_since=self._commit_running_since)
        # called with every partition's commit (the bench counts committed records so)
        self.commit_listeners: list[CommitListener] = []
        self.log = log.get("wirefeed.worker")
        self._kafka = settings.kafka_common()
        self._connect = ConnectFailures(settings.bootstrap_servers, self._kafka.get("ssl_context"),
                                        settings.ssl_certfile,
                                        settings.security_protocol.startswith("SASL"),
                                        self.metrics.broker_connection_failures, self.log)
        self.consumer: AIOKafkaConsumer | None = None
        self.commits: CommitPolicy | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._http: HealthServer | None = None
        self._lag_due = 0.0
        self._rewind = False  # a failure left partitions to rewind to their committed offsets

    # --- what tests, probes and the bench may look at ------------------------
    def readiness(self) -> tuple[bool, str]:
        if self._connect.reason is not None:
            return False, f"broker unreachable: {self._connect.reason}"
        return self.health.readiness()

    @property
    def http_port(self) -> int:
        assert self._http is not None
        return self._http.port

    @property
    def assignment(self) -> list[TopicPartition]:
        """The input partitions this worker processes now."""
        return sorted(self.commits.batches) if self.commits is not None else []

    def pending(self) -> int:
        """Records processed and not yet committed."""
        return self.commits.pending() if self.commits is not None else 0

    def _commit_running_since(self) -> float | None:
        return self.commits.commit_running_since() if self.commits is not None else None

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
            if self.consumer is not None:
                watchers = [
                    asyncio.create_task(probe_broker(self.consumer._client, self.health),
                                        name="broker-probe"),
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
                await self.state.connect(self.s.state_topic, self._kafka)
                await self.state.restore()
                self.health.broker_ok = True
                self._connect.succeeded()
                break
            except (KafkaError, OSError, RuntimeError) as exc:
                self.health.broker_ok = False
                await self._connect.failed(exc, retry_in_s=backoff)
                await self.state.close()
                await self._sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
        if self._stop.is_set():
            return
        warm_process()
        if self.s.parse_processes > 0:
            pool = ParsePool(self.s.parse_processes, max_bytes=self.s.max_record_bytes)
            await pool.start()
            self.processor.pool = pool
        # the restored index, the parsers' tables and the language model live as long as
        # the process: keep every full collection from walking them again
        gc.freeze()
        self.consumer = group_consumer(self.s, self._kafka)
        await self.consumer.start()
        self.commits = await commit_policy(
            self.s.exactly_once,
            kafka={**self._kafka, "request_timeout_ms": self.s.producer_timeout_ms},
            consumer=self.consumer,
            group_id=self.s.group_id, txn_prefix=self.s.txn_prefix,
            interval_ms=self.s.commit_interval_ms, on_committed=self._committed,
            outcome=lambda outcome: self.metrics.transactions.labels(outcome).inc())
        listener = _Rebalance(self)
        if self.s.topic_pattern:
            self.consumer.subscribe(pattern=self.s.topic_pattern, listener=listener)
        else:
            self.consumer.subscribe(topics=self.s.topics, listener=listener)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # --- rebalance -------------------------------------------------------
    async def partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            assert self.consumer is not None
            assert self.commits is not None
            for tp in sorted(assigned):
                if tp in self.commits.batches:
                    continue
                batch = await self.commits.add(tp)
                # read the committed offset only after init_transactions fenced
                # the previous owner and aborted its open transaction
                committed = await self.consumer.committed(tp)
                if committed is not None:
                    self.consumer.seek(tp, committed)
                    batch.next_offset = committed
            self.health.assigned_once = True
            self.metrics.assigned_partitions.set(len(self.commits.batches))
            self.health.update()
            self.log.info("partitions_assigned",
                          partitions=[f"{tp.topic}:{tp.partition}" for tp in sorted(assigned)])

    async def partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            assert self.commits is not None
            mine = [tp for tp in revoked if tp in self.commits.batches]
            try:
                await self._commit(mine, force=True)
            except Exception as exc:  # the new owner will redo the uncommitted records
                self.log.warning("commit_on_revoke_failed", error=repr(exc))
                await self._abort(mine)
            for tp in mine:
                await self.commits.remove(tp)
                with contextlib.suppress(KeyError):
                    self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
            self.metrics.assigned_partitions.set(len(self.commits.batches))
            self.log.info("partitions_revoked",
                          partitions=[f"{tp.topic}:{tp.partition}" for tp in sorted(mine)])

    # --- the loop --------------------------------------------------------
    async def _loop(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                await self._turn()
                self.health.recovering = False
                backoff = 0.5
            except Exception as exc:  # broker trouble or a bug: never exit, never lose work
                self.health.broker_ok = not isinstance(exc, KafkaError)
                self.health.recovering = True
                self.health.update()
                self.metrics.commit_failures.inc()
                self.log.warning("transaction_failed", error_type=type(exc).__name__,
                                 error=str(exc), retry_in_s=backoff)
                self._rewind = True
                async with self._lock:
                    with contextlib.suppress(Exception):  # the next turn aborts again
                        await self._abort(None)
                await self._sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
            self.health.turned()
            self.health.update()

    async def _turn(self) -> None:
        """Fetch, decide, send, and commit what is due; first rewind and restore after a
        failure (each raises on trouble and is retried on the next turn)."""
        assert self.consumer is not None
        assert self.commits is not None
        if self._rewind:
            await self._recover()
            self._rewind = False
        if not self.state.restored:
            # no record is decided on an index not known to match the committed changelog
            await asyncio.wait_for(self.state.restore(), _RESTORE_TIMEOUT_S)
        self.commits.check()
        if self.commits.pending() >= self.s.max_in_flight:
            async with self._lock:
                await self._commit(None, force=True)
        fetched = await self.consumer.getmany(timeout_ms=self.commits.until_due_ms(),
                                              max_records=self.s.max_in_flight)
        async with self._lock:
            for tp, records in fetched.items():
                batch = self.commits.batches.get(tp)
                if batch is not None:  # else revoked between fetch and processing
                    await self.processor.process(self.commits, batch, records)
            await self._commit(None, force=False)
        if time.monotonic() >= self._lag_due:
            self._lag_due = time.monotonic() + _LAG_EVERY_S
            await consumer_lag(self.consumer, list(self.commits.batches), self.metrics)

    # --- commit, abort, recover --------------------------------------------
    async def _commit(self, tps: list[TopicPartition] | None, *, force: bool) -> None:
        assert self.commits is not None
        started = time.perf_counter()
        if await self.commits.commit_due(tps, force=force):
            self.metrics.commit_duration.observe(time.perf_counter() - started)

    def _committed(self, done: Committed) -> None:
        """Bookkeeping for records whose output and offsets are now committed."""
        now_ms = time.time() * 1000
        for ts in done.timestamps:
            if ts and ts > 0:
                self.metrics.end_to_end_latency.observe(max(0.0, (now_ms - ts) / 1000))
        self.metrics.last_commit_timestamp.set(now_ms / 1000)
        for listener in self.commit_listeners:
            listener(done)

    async def _abort(self, tps: list[TopicPartition] | None) -> None:
        assert self.commits is not None
        await self.commits.abort(tps)
        # the index holds the aborted records' entries: stale until restored
        self.state.invalidate()

    async def _recover(self) -> None:
        """Abort everything, then rewind the partitions this worker still owns.

        A producer is re-created (which fences whoever holds its transactional
        id) only after the group coordinator accepted an offset commit of this
        member and generation: a worker woken after its partitions moved must not
        fence their new owner; it drops them and waits for the rebalance, which
        the refused commit starts. Broker trouble raises: the loop retries.
        """
        async with self._lock:
            assert self.consumer is not None
            assert self.commits is not None
            await self._abort(None)
            assigned = self.consumer.assignment()
            for tp in [tp for tp in self.commits.batches if tp not in assigned]:
                await self.commits.remove(tp)
            offsets = await committed_offsets(self.consumer, list(self.commits.batches))
            try:
                if offsets:  # committing what is committed: the coordinator checks membership
                    await self.consumer.commit(
                        {tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
            except (CommitFailedError, IllegalStateError) as exc:
                self.log.warning("ownership_lost", error=str(exc), partitions=len(offsets))
                for tp in offsets:
                    await self.commits.remove(tp)
                self.metrics.assigned_partitions.set(0)
                return
            for tp, offset in offsets.items():
                batch = self.commits.batches[tp]
                await self.commits.ready(batch)
                self.consumer.seek(tp, offset)
                batch.next_offset = offset

    async def _shutdown(self) -> None:
        deadline = time.monotonic() + self.s.shutdown_timeout_s
        self.log.info("worker_stopping")

        async def close() -> None:
            if self.consumer is not None and self.commits is not None:
                async with self._lock:
                    try:
                        await self._commit(None, force=True)
                    except Exception as exc:
                        self.log.warning("final_commit_failed", error=repr(exc))
                        await self._abort(None)
                # leaving the group runs on_partitions_revoked: nothing left to commit
                await self.consumer.stop()
                await self.commits.close()
            await self.state.close()

        try:
            await asyncio.wait_for(close(), max(1.0, deadline - time.monotonic() - 0.5))
        except (TimeoutError, Exception) as exc:
            self.log.warning("shutdown_incomplete", error=repr(exc))
        if self.processor.pool is not None:
            await self.processor.pool.aclose(max(0.1, min(2.0, deadline - time.monotonic())))
        if self._http is not None:
            await self._http.stop()
        self.metrics.ready.set(0)
        self.log.info("worker_stopped")
