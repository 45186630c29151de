"""Small aiokafka helpers for tests: create topics, produce, read everything back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


class KafkaHelper:
    """Owns the clients it creates and closes them at the end of a test."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._closing: list[Any] = []

    async def admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        self._closing.append(admin)
        return admin

    async def create_topic(
        self, name: str, *, partitions: int = 1, replication: int = 1,
        config: dict[str, str] | None = None, placement: dict[int, list[int]] | None = None,
    ) -> None:
        """``placement`` (partition -> replica node ids, the first one preferred leader)
        replaces ``partitions`` and ``replication``: outage tests put chosen partitions
        on the node they stop."""
        admin = await self.admin()
        if placement:
            partitions = len(placement)
            topic = NewTopic(name, -1, -1, replica_assignments=placement,
                             topic_configs=config or {})
        else:
            topic = NewTopic(name, partitions, replication, topic_configs=config or {})
        await admin.create_topics([topic])
        # wait until the topic's partitions have leaders
        for _ in range(100):
            desc = await admin.describe_topics([name])
            parts = desc[0].get("partitions", []) if desc else []
            if len(parts) == partitions and all(p.get("leader", -1) >= 0 for p in parts):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"topic {name} has no leaders")

    async def producer(self, **kwargs: Any) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **kwargs)
        await producer.start()
        self._closing.append(producer)
        return producer

    async def produce(
        self, topic: str, values: Iterable[bytes | None], *,
        keys: Sequence[bytes | None] | None = None,
        headers: Sequence[list[tuple[str, bytes]]] | None = None, partition: int | None = None,
    ) -> int:
        producer = await self.producer(
            acks="all", enable_idempotence=True, linger_ms=5, max_request_size=16 * 1024 * 1024
        )
        futures = []
        for i, value in enumerate(values):
            futures.append(await producer.send(
                topic, value,
                key=keys[i] if keys else None,
                headers=headers[i] if headers else None,
                partition=partition,
            ))
        await producer.flush()
        for fut in futures:
            await fut
        return len(futures)

    async def consume_all(
        self, topic: str, *, expected: int | None = None, idle_s: float = 2.0,
        timeout_s: float = 60.0, isolation_level: str = "read_committed",
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Everything in ``topic`` from the beginning, without a consumer group.

        Stops when ``expected`` records arrived (and nothing more within a short
        grace period), or when nothing new arrived for ``idle_s``.
        """
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, auto_offset_reset="earliest",
            enable_auto_commit=False, isolation_level=isolation_level, group_id=None,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic)
            for _ in range(50):
                if partitions:
                    break
                await asyncio.sleep(0.1)
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic)
            from aiokafka import TopicPartition

            tps = [TopicPartition(topic, p) for p in sorted(partitions or ())]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            out: list[ConsumerRecord[bytes, bytes]] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_s
            last_new = loop.time()
            while loop.time() < deadline:
                batch = await consumer.getmany(timeout_ms=200, max_records=5000)
                got = sum(len(v) for v in batch.values())
                for records in batch.values():
                    out.extend(records)
                now = loop.time()
                if got:
                    last_new = now
                if expected is not None and len(out) >= expected and now - last_new > 0.5:
                    break
                if expected is None and now - last_new > idle_s:
                    break
            return out
        finally:
            await consumer.stop()

    async def close(self) -> None:
        for client in reversed(self._closing):
            try:
                if isinstance(client, AIOKafkaAdminClient):
                    await client.close()
                else:
                    await client.stop()
            except Exception:
                pass
        self._closing.clear()
