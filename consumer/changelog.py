"""The dedup state's changelog: a compacted Kafka topic, restored on start and followed live.

Every replica reads *all* partitions of the changelog (no consumer group), so
a re-send that lands on another input partition than its original, and so on
another replica, is still recognised once the original's transaction has
committed. The follower reads ``read_committed``: state written by a
transaction that was aborted (a crashed or fenced worker) never enters the
index, which is what makes "no story lost because its key was stored" hold.

Restoring is the same code as following: seek to the beginning, read until
the end offsets captured at the start of the restore, then keep tailing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from consumer import log
from consumer.metrics import Metrics

Change = tuple[str, bytes | None]
Apply = Callable[[str, bytes | None], None]
Load = Callable[[list[Change]], None]


class ChangelogFollower:
    """Restores state in bulk with ``load(changes)``, then feeds live records to ``apply``.

    During a restore the records are buffered and handed over in one call, so
    the index can be rebuilt in one vectorised pass rather than entry by entry.
    """

    def __init__(
        self, topic: str, load: Load, apply: Apply, metrics: Metrics,
        kafka_kwargs: dict[str, Any],
    ) -> None:
        self._topic = topic
        self._load = load
        self._apply = apply
        self._buffer: list[Change] = []
        self._metrics = metrics
        self._kwargs = kafka_kwargs
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._targets: dict[TopicPartition, int] = {}
        self._restored = asyncio.Event()
        self._restore_started = 0.0
        self._log = log.get("wirefeed.changelog")
        self.applied = 0
        self.last_restore_seconds = 0.0

    @property
    def restored(self) -> bool:
        return self._restored.is_set()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
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
        await self.restore()
        self._task = asyncio.create_task(self._follow(), name="changelog-follower")

    async def restore(self) -> float:
        """Forget the index and rebuild it from the changelog; returns the seconds it took."""
        assert self._consumer is not None
        self._restored.clear()
        self._restore_started = time.monotonic()
        self._buffer = []
        tps = list(self._consumer.assignment())
        await self._consumer.seek_to_beginning(*tps)
        self._targets = {tp: off for tp, off in (await self._consumer.end_offsets(tps)).items()}
        self._log.info("state_restore_started", topic=self._topic,
                       records=sum(self._targets.values()))
        if self._task is None:  # first restore: drive it here
            while not await self._check_restored():
                await self._poll_once()
        else:
            await self._restored.wait()
        return self.last_restore_seconds

    async def _check_restored(self) -> bool:
        if self._restored.is_set():
            return True
        assert self._consumer is not None
        for tp, target in self._targets.items():
            # end_offsets under read_committed is the last stable offset; the
            # position passes commit markers, so position >= target is the test.
            if await self._consumer.position(tp) < target:
                return False
        buffered, self._buffer = self._buffer, []
        self._load(buffered)
        took = time.monotonic() - self._restore_started
        self.last_restore_seconds = took
        self._metrics.state_restore_duration.set(took)
        self._restored.set()
        self._log.info("state_restored", topic=self._topic, seconds=round(took, 3),
                       applied=self.applied)
        return True

    async def _poll_once(self) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=200, max_records=10_000)
        restoring = not self._restored.is_set()
        for records in batch.values():
            for record in records:
                key = record.key.decode("ascii", "replace") if record.key else ""
                if restoring:
                    self._buffer.append((key, record.value))
                else:
                    self._apply(key, record.value)
            self.applied += len(records)
            self._metrics.state_restored_records.inc(len(records))

    async def _follow(self) -> None:
        while True:
            await self._poll_once()
            await self._check_restored()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
