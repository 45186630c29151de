"""One partition's fetched records, in offset order: prepare, decide, route, send.

The step between the fetch and the commit. For each record: its stateless
half (parse and features, here or in the parse pool), the pipeline's decision
against the state store's index, :func:`~consumer.routing.route` to the records
to send, the sends through the commit policy, the memo of the changelog
writes, and the decision applied to the index so that the next record sees it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiokafka import ConsumerRecord

from consumer import log
from consumer.commit import Batch, CommitPolicy
from consumer.metrics import Metrics
from consumer.model import RawRecord
from consumer.parallel import ParsePool
from consumer.pipeline import Outcome, Pipeline, Prepared, prepare
from consumer.routing import Topics, route
from consumer.statestore import StateStore

# how long the loop may parse before it lets the producer's sender task run
YIELD_EVERY_S = 0.005
# fewer records than this in one fetch are parsed in the loop, not in the pool: the
# round trip through the pool costs more latency than it saves (bench/ROUNDS.md)
POOL_MIN_RECORDS = 8


class Processor:
    """Decides and sends the records of one fetch; the commit policy commits them later."""

    def __init__(self, pipeline: Pipeline, state: StateStore, topics: Topics,
                 metrics: Metrics) -> None:
        self.pipeline = pipeline
        self.state = state
        self.topics = topics
        self.pool: ParsePool | None = None
        self._metrics = metrics
        self._log = log.get("wirefeed.worker")

    async def process(self, commits: CommitPolicy, batch: Batch,
                      records: list[ConsumerRecord[bytes, bytes]]) -> None:
        # records fetched before the assignment listener read the committed offset
        # (aiokafka fetches from an offset it read *before* init_transactions fenced
        # the previous owner) are already processed, or committed by the previous owner
        raws = [
            RawRecord(value=rec.value, key=rec.key, headers=tuple(rec.headers or ()),
                      timestamp_ms=rec.timestamp, topic=rec.topic, partition=rec.partition,
                      offset=rec.offset)
            for rec in records
            if batch.next_offset is None or rec.offset >= batch.next_offset
        ]
        if not raws:
            return
        producer = await commits.begin(batch, raws[0].timestamp_ms)
        metrics = self._metrics
        last_yield = time.perf_counter()
        async for raw, prepared, took in self.prepared(raws):
            started = time.perf_counter()
            outcome = self.pipeline.process_prepared(prepared, raw)
            metrics.parse_duration.observe(prepared.parse_s)
            metrics.processing_duration.observe(took + time.perf_counter() - started)
            metrics.records_consumed.labels(raw.topic).inc()
            metrics.feed_health.observe(outcome.story, raw.timestamp_ms)
            for send in route(outcome, raw, self.topics):
                await commits.send(batch, producer, send.topic, send.value, send.key,
                                   send.headers)
            for key, value in outcome.changes:
                self.state.wrote(key, value)
            self._count(outcome, raw)
            self._log.debug("record", topic=raw.topic, partition=raw.partition,
                            offset=raw.offset, event_type=outcome.event_type)
            # later records of this batch must see this one; if the batch aborts, the
            # state is marked stale and restored before the next record is decided
            self.pipeline.commit(outcome)
            commits.record(batch, raw.offset, raw.timestamp_ms, outcome.event_type)
            if time.perf_counter() - last_yield > YIELD_EVERY_S:
                # parsing is CPU work on the event loop: let the producer's sender
                # task ship what is ready instead of holding it until the batch ends
                await asyncio.sleep(0)
                last_yield = time.perf_counter()
        metrics.state_entries.set(len(self.state.index))

    async def prepared(self, raws: list[RawRecord]
                       ) -> AsyncIterator[tuple[RawRecord, Prepared, float]]:
        """(record, its stateless half, seconds this process spent on that half), in order.

        Small fetches (a quiet feed) are parsed right here: a round trip to the
        pool would only add latency where there is no throughput to gain.
        """
        if self.pool is None or len(raws) < POOL_MIN_RECORDS:
            for raw in raws:
                started = time.perf_counter()
                prepared = prepare(raw, self.pipeline.parser)
                yield raw, prepared, time.perf_counter() - started
            return
        async for raw, prepared in self.pool.map(raws):
            yield raw, prepared, prepared.parse_s

    def _count(self, outcome: Outcome, raw: RawRecord) -> None:
        event, etype = outcome.event, outcome.event_type
        if etype == "dead_letter":
            self._metrics.dead_letters.labels(event["reason"]).inc()
            self._log.warning("dead_letter", reason=event["reason"],
                              message=event.get("message"), topic=raw.topic,
                              partition=raw.partition, offset=raw.offset)
            return
        if etype == "story.duplicate":
            self._metrics.duplicates.labels(str(event.get("reason"))).inc()
            if not self.topics.duplicates:
                return
        self._metrics.events_published.labels(etype).inc()
