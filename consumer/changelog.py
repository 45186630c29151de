"""The dedup state's changelog: a compacted Kafka topic, restored on start and followed live.

Every replica reads *all* partitions of the changelog (no consumer group), so
a re-send that lands on another input partition than its original, and so on
another replica, is still recognised once the original's transaction has
committed. The follower reads ``read_committed``: state written by a
transaction that was aborted (a crashed or fenced worker) never enters the
index, which is what makes "no story lost because its key was stored" hold.

Restoring reads like following: seek to the beginning, read until the end
offsets captured at the start of that restore, load, then keep tailing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from consumer import log
from consumer.metrics import Metrics

Change = tuple[str, bytes | None]
Apply = Callable[[str, bytes | None], None]
Load = Callable[[list[Change]], None]


class ChangelogFollower:
    """Restores state in bulk with ``load(changes)``, then feeds live records to ``apply``.

    During a restore the records are buffered and handed over in one call, so
    the index can be rebuilt in one vectorised pass rather than entry by entry.
    One restore runs at a time: a restore stops the live following, reads up to
    the end offsets captured for *it*, loads, and only then follows again and
    reports :attr:`restored`, unless another restore was asked for or the state
    was invalidated meanwhile. A restore that fails or is cancelled leaves the
    follower not restored and not following, until the next restore succeeds.
    """

    def __init__(
        self, topic: str, load: Load, apply: Apply, metrics: Metrics,
        kafka_kwargs: dict[str, Any], consumer: AIOKafkaConsumer | None = None,
    ) -> None:
        """``consumer`` replaces the one :meth:`start` would create (tests pass a fake)."""
        self._topic = topic
        self._load = load
        self._apply = apply
        self._metrics = metrics
        self._kwargs = kafka_kwargs
        self._given = consumer
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._restored = False
        self._generation = 0  # bumped by invalidate(): a restore that began before is stale
        self._log = log.get("wirefeed.changelog")
        self.applied = 0
        self.last_restore_seconds = 0.0

    @property
    def restored(self) -> bool:
        """The state holds the committed changelog up to a restore, and follows it since."""
        return self._restored and self._task is not None and not self._task.done()

    def invalidate(self) -> None:
        """The caller's state no longer matches the changelog (it applied writes that were
        aborted): not restored until a restore that starts after this call has ended."""
        self._restored = False
        self._generation += 1

    async def start(self) -> None:
        """Connect and assign every partition of the changelog; :meth:`restore` next."""
        consumer = self._given or AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, isolation_level="read_committed",
            auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
            **self._kwargs,
        )
        await consumer.start()
        self._consumer = consumer
        partitions: set[int] | None = None
        for _ in range(100):
            partitions = consumer.partitions_for_topic(self._topic)
            if partitions:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        if not partitions:
            raise RuntimeError(f"state topic {self._topic!r} does not exist")
        consumer.assign([TopicPartition(self._topic, p) for p in sorted(partitions)])

    async def restore(self) -> float:
        """Rebuild the state from the changelog, then follow it; returns the seconds it took."""
        self.invalidate()  # whatever restore runs now ends stale: this one is wanted
        async with self._lock:
            generation = self._generation
            await self._stop_following()
            consumer = self._consumer
            assert consumer is not None
            started = time.monotonic()
            tps = list(consumer.assignment())
            await consumer.seek_to_beginning(*tps)
            # captured for this restore alone: end_offsets under read_committed is the
            # last stable offset, and the position passes commit markers, so
            # position >= target is the test
            targets = await consumer.end_offsets(tps)
            self._log.info("state_restore_started", topic=self._topic,
                           records=sum(targets.values()))
            buffer: list[Change] = []
            while not await self._reached(targets):
                await self._poll(buffer.append)
            self._load(buffer)
            took = time.monotonic() - started
            self.last_restore_seconds = took
            self._metrics.state_restore_duration.set(took)
            self._task = asyncio.create_task(self._follow(), name="changelog-follower")
            self._restored = generation == self._generation
            self._log.info("state_restored", topic=self._topic, seconds=round(took, 3),
                           records=len(buffer))
            return took

    async def _reached(self, targets: dict[TopicPartition, int]) -> bool:
        assert self._consumer is not None
        for tp, target in targets.items():
            if await self._consumer.position(tp) < target:
                return False
        return True

    async def _poll(self, handle: Callable[[Change], None] | None = None) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
        for records in batch.values():
            for record in records:
                key = record.key.decode("ascii", "replace") if record.key else ""
                if handle is None:
                    self._apply(key, record.value)
                else:
                    handle((key, record.value))
            self.applied += len(records)
            self._metrics.state_restored_records.inc(len(records))

    async def _follow(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._poll()
                backoff = 0.5
            except KafkaError as exc:  # the broker away: the consumer resumes where it was
                self._log.warning("changelog_poll_failed", error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _stop_following(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def stop(self) -> None:
        await self._stop_following()
        if self._consumer is not None:
            await self._consumer.stop()
