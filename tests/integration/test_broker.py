"""The foundation: a real broker round trip, and transactions as the worker will use them."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest

from consumer.devtools.broker import (
    BrokerError,
    Cluster,
    PartitionState,
    partition_leaders,
    partition_states,
)
from tests.conftest import TopicFactory
from tests.kafka_helpers import KafkaHelper

pytestmark = pytest.mark.integration


async def test_thousand_records_round_trip(kafka: KafkaHelper, new_topic: TopicFactory) -> None:
    topic = await new_topic("roundtrip", partitions=3)
    values = [f"story-{i}".encode() for i in range(1000)]
    keys = [f"k{i % 17}".encode() for i in range(1000)]
    await kafka.produce(topic, values, keys=keys)

    records = await kafka.consume_all(topic, expected=1000)

    assert len(records) == 1000
    assert sorted(r.value for r in records) == sorted(values)
    # the same key always lands on the same partition
    partition_of: dict[bytes, int] = {}
    for r in records:
        assert r.key is not None
        assert partition_of.setdefault(r.key, r.partition) == r.partition
    # per-partition order is production order
    for p in {r.partition for r in records}:
        seq = [int(r.value.split(b"-")[1]) for r in records if r.partition == p]
        assert seq == sorted(seq)


async def test_read_committed_never_sees_aborted(
    kafka: KafkaHelper, new_topic: TopicFactory, unique_name: object
) -> None:
    topic = await new_topic("tx")
    assert callable(unique_name)
    producer = await kafka.producer(transactional_id=unique_name("txid"), enable_idempotence=True)

    async with producer.transaction():
        for i in range(50):
            await producer.send(topic, f"committed-{i}".encode())

    await producer.begin_transaction()
    for i in range(30):
        await producer.send(topic, f"aborted-{i}".encode())
    await producer.flush()
    await producer.abort_transaction()

    async with producer.transaction():
        for i in range(50, 60):
            await producer.send(topic, f"committed-{i}".encode())

    committed = await kafka.consume_all(topic, expected=60)
    values = [r.value for r in committed]
    assert values == [f"committed-{i}".encode() for i in range(60)]

    # read_uncommitted sees the aborted records too: proves they really were written
    everything = await kafka.consume_all(topic, isolation_level="read_uncommitted", expected=90)
    assert sum(1 for r in everything if r.value.startswith(b"aborted-")) == 30


async def test_three_node_cluster_keeps_serving_when_one_broker_dies() -> None:
    """The failover setup: replication factor 3, min.insync.replicas 2, acks=all."""
    import asyncio

    from consumer.devtools.broker import Cluster

    cluster = Cluster(nodes=3)
    await asyncio.to_thread(cluster.start, 120.0)
    kafka = KafkaHelper(cluster.bootstrap_servers)
    try:
        await kafka.create_topic("failover", partitions=3, replication=3)
        await kafka.produce("failover", [f"before-{i}".encode() for i in range(300)])
        await asyncio.to_thread(cluster.stop_node, cluster.members[0], kill=True)
        await kafka.close()
        kafka = KafkaHelper(",".join(n.bootstrap for n in cluster.members[1:]))
        await kafka.produce("failover", [f"after-{i}".encode() for i in range(300)])
        records = await kafka.consume_all("failover", expected=600)
        expected = [f"{when}-{i}".encode() for when in ("before", "after") for i in range(300)]
        assert sorted(r.value for r in records) == sorted(expected)
        admin = await kafka.admin()
        (desc,) = await admin.describe_topics(["failover"])
        assert all(len(p["replicas"]) == 3 for p in desc["partitions"])
    finally:
        await kafka.close()
        await asyncio.to_thread(cluster.stop)


async def test_broker_collector_log_records_pauses(kafka_cluster: object) -> None:
    """The benchmarks read the broker's pauses from this log to explain a latency tail."""
    from consumer.devtools.broker import Cluster, gc_pauses

    if not isinstance(kafka_cluster, Cluster):
        pytest.skip("external broker: its collector log is not ours to read")
    jcmd = shutil.which("jcmd")
    if jcmd is None:
        pytest.skip("no jcmd beside java")
    node = kafka_cluster.members[0]
    assert node.proc is not None
    started = time.time()
    await asyncio.to_thread(subprocess.run, [jcmd, str(node.proc.pid), "GC.run"], check=True,
                            capture_output=True, timeout=60)
    for _ in range(50):  # the JVM writes the line right after the pause
        if gc_pauses(node.gc_log, started - 1, time.time() + 1):
            break
        await asyncio.sleep(0.1)
    pauses = gc_pauses(node.gc_log, started - 1, time.time() + 1)
    assert pauses
    assert all(ms >= 0 for ms in pauses)


async def test_partition_leaders_name_the_serving_node(
    kafka: KafkaHelper, unique_name: Callable[[str], str], kafka_cluster: object,
) -> None:
    """The outage tests stop "the node that leads partition p": the helper must name it."""
    topic = unique_name("leaders")
    await kafka.create_topic(topic, placement={0: [1], 1: [1]})
    leaders = await partition_leaders(kafka.bootstrap, topic)
    states = await partition_states(kafka.bootstrap, topic)
    assert leaders == {0: 1, 1: 1}
    assert states[1] == PartitionState(leader=1, replicas=(1,), isr=(1,))
    if isinstance(kafka_cluster, Cluster):  # not with an external broker
        assert kafka_cluster.node(1).bootstrap in kafka.bootstrap
        with pytest.raises(KeyError):
            kafka_cluster.node(7)
    with pytest.raises(BrokerError):
        await partition_leaders(kafka.bootstrap, unique_name("missing"))
