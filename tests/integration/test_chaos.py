"""Nothing lost, nothing doubled: SIGKILL, rebalances and a broker restart mid-stream.

Each test streams real Reuters stories (with their real re-sends) into a
3-partition input topic while workers run as real ``wirefeed run``
subprocesses, and at the end reads the output, duplicates and dead-letter
topics ``read_committed``: every input offset must appear exactly once.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.corpus import reuters_wire
from tests.integration.audit import accounted, assert_exactly_once
from tests.integration.worker_helpers import Topics, WorkerProcess, make_topics
from tests.kafka_helpers import KafkaHelper
from tests.processes import children, still_running

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDS = 5000
PARTITIONS = 3


async def _stream(kafka: KafkaHelper, topic: str, values: list[bytes], seconds: float) -> None:
    """Produce ``values`` spread over about ``seconds``, round-robin over partitions."""
    producer = await kafka.producer(acks="all", enable_idempotence=True, linger_ms=5)
    chunk = 50
    pause = seconds / (len(values) / chunk)
    for i in range(0, len(values), chunk):
        for j, value in enumerate(values[i:i + chunk]):
            await producer.send(topic, value, partition=(i + j) % PARTITIONS)
        await producer.flush()
        await asyncio.sleep(pause)


async def _wait_all_accounted(
    kafka: KafkaHelper, topics: Topics, total: int, timeout: float = 240
) -> Counter[tuple[int, int]]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: Counter[tuple[int, int]] = Counter()
    while loop.time() < deadline:
        seen = await accounted(kafka, topics)
        if len(seen) >= total:
            return seen
        await asyncio.sleep(2)
    return seen


async def _input_offsets(
    kafka: KafkaHelper, topic: str, expected: int = RECORDS
) -> set[tuple[int, int]]:
    return {(r.partition, r.offset) for r in await kafka.consume_all(topic, expected=expected)}


@pytest.mark.parametrize("parse_processes", ["0", "1"], ids=["in-loop", "parse-pool"])
async def test_sigkill_five_times_mid_stream(
    kafka: KafkaHelper, unique_name: Callable[[str], str], tmp_path: Path, parse_processes: str,
) -> None:
    """With the parse pool, a kill also takes the records in flight in the pool's
    process: none may be lost or doubled, and the pool's processes must not outlive
    the worker."""
    topics = await make_topics(kafka, unique_name, partitions=PARTITIONS)
    env = topics.env(kafka.bootstrap, unique_name("g"), session_timeout_ms="6000",
                     parse_processes=parse_processes)
    values = reuters_wire(RECORDS)
    rng = random.Random(20261126)
    kills = 0
    orphans: set[int] = set()
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    feeder = asyncio.create_task(_stream(kafka, topics.input, values, seconds=30))
    try:
        await worker.wait_ready()
        while kills < 5:
            await asyncio.sleep(rng.uniform(2.0, 5.0))
            assert worker.proc is not None
            pool = children(worker.proc.pid)
            assert len(pool) == int(parse_processes)
            worker.kill()
            orphans |= await still_running(pool)
            kills += 1
            worker = WorkerProcess(env, tmp_path / "worker.log").start()
            await worker.wait_ready()
        await feeder
        await _wait_all_accounted(kafka, topics, RECORDS)
        status, metrics = await asyncio.to_thread(worker.http, "/metrics")
        assert status == 200
        assert "wirefeed_transactions_total" in metrics
    finally:
        feeder.cancel()
        worker.ensure_stopped()
    assert kills == 5
    assert not orphans, "parse processes outlived their killed worker"
    inputs = await _input_offsets(kafka, topics.input)
    assert len(inputs) == RECORDS
    await assert_exactly_once(kafka, topics, inputs)


@pytest.mark.parametrize("parse_processes", ["0", "1"], ids=["in-loop", "parse-pool"])
async def test_two_workers_rebalance_midway(
    kafka: KafkaHelper, unique_name: Callable[[str], str], tmp_path: Path, parse_processes: str,
) -> None:
    topics = await make_topics(kafka, unique_name, partitions=PARTITIONS)
    env = topics.env(kafka.bootstrap, unique_name("g"), session_timeout_ms="6000",
                     parse_processes=parse_processes)
    values = reuters_wire(RECORDS, start=5000)
    first = WorkerProcess(env, tmp_path / "a.log").start()
    second = WorkerProcess(env, tmp_path / "b.log")
    feeder = asyncio.create_task(_stream(kafka, topics.input, values, seconds=25))
    try:
        await first.wait_ready()
        await asyncio.sleep(6)
        second.start()  # joins the group mid-stream: partitions move
        await second.wait_ready()
        await asyncio.sleep(6)
        first.kill()  # and the first one dies with open transactions
        await feeder
        await _wait_all_accounted(kafka, topics, RECORDS)
        code, took = second.terminate()
    finally:
        feeder.cancel()
        first.ensure_stopped()
        second.ensure_stopped()
    await assert_exactly_once(kafka, topics, await _input_offsets(kafka, topics.input))
    assert code == 0
    assert took < 20


async def test_broker_stop_and_restart(unique_name: Callable[[str], str], tmp_path: Path) -> None:
    """A dedicated broker, stopped for a while mid-stream: the worker waits, never exits."""
    from consumer.devtools.broker import Cluster

    cluster = Cluster(nodes=1)
    await asyncio.to_thread(cluster.start)
    kafka = KafkaHelper(cluster.bootstrap_servers)
    worker: WorkerProcess | None = None
    try:
        topics = await make_topics(kafka, unique_name, partitions=PARTITIONS)
        env = topics.env(kafka.bootstrap, unique_name("g"), session_timeout_ms="6000")
        values = reuters_wire(3000, start=10000)
        worker = WorkerProcess(env, tmp_path / "w.log").start()
        await worker.wait_ready()
        await _stream(kafka, topics.input, values[:1500], seconds=5)
        await kafka.close()
        node = cluster.members[0]
        await asyncio.to_thread(cluster.stop_node, node)
        await asyncio.sleep(8)
        assert worker.proc is not None
        assert worker.proc.poll() is None, "the worker must not exit when the broker goes away"
        status, _ = await asyncio.to_thread(worker.http, "/readyz")
        assert status == 503
        await asyncio.to_thread(cluster.start_node, node)
        await asyncio.to_thread(cluster.wait_ready)
        await worker.wait_ready(timeout=120)
        await _stream(kafka, topics.input, values[1500:], seconds=5)
        await _wait_all_accounted(kafka, topics, len(values))
        inputs = await _input_offsets(kafka, topics.input, len(values))
        await assert_exactly_once(kafka, topics, inputs)
    finally:
        if worker is not None:
            worker.ensure_stopped()
        await kafka.close()
        await asyncio.to_thread(cluster.stop)


async def test_at_least_once_mode_loses_nothing_and_replays_keep_their_ids(
    kafka: KafkaHelper, unique_name: Callable[[str], str], tmp_path: Path,
) -> None:
    """at_least_once may replay after SIGKILL, but never loses a record, and a replayed
    record carries the event id of its first delivery, so consumers can drop it."""
    topics = await make_topics(kafka, unique_name, partitions=PARTITIONS)
    env = topics.env(kafka.bootstrap, unique_name("g"), session_timeout_ms="6000",
                     processing_guarantee="at_least_once")
    values = reuters_wire(2000, start=15000)
    worker = WorkerProcess(env, tmp_path / "alo.log").start()
    feeder = asyncio.create_task(_stream(kafka, topics.input, values, seconds=12))
    try:
        await worker.wait_ready()
        for _ in range(2):
            await asyncio.sleep(3.5)
            worker.kill()
            worker = WorkerProcess(env, tmp_path / "alo.log").start()
            await worker.wait_ready()
        await feeder
        seen = await _wait_all_accounted(kafka, topics, len(values))
        ids: dict[tuple[int, int], set[str]] = {}
        for topic in (topics.output, topics.duplicates):
            for record in await kafka.consume_all(topic, idle_s=1.0):
                h = dict(record.headers)
                key = (int(h["wirefeed-source-partition"]), int(h["wirefeed-source-offset"]))
                ids.setdefault(key, set()).add(orjson.loads(record.value)["event_id"])
    finally:
        feeder.cancel()
        worker.ensure_stopped()
    inputs = await _input_offsets(kafka, topics.input, len(values))
    assert inputs <= set(seen), f"{len(inputs - set(seen))} records lost"
    assert all(len(event_ids) == 1 for event_ids in ids.values()), "a replay changed its event id"


async def test_frozen_zombie_is_fenced(
    kafka: KafkaHelper, unique_name: Callable[[str], str], tmp_path: Path,
) -> None:
    """The KIP-447 case without KIP-447: a worker frozen (SIGSTOP) mid-transaction loses
    its partitions to another; when it wakes up (SIGCONT) its transactions are fenced
    by the per-partition transactional ids, so nothing it had in flight is committed twice."""
    import signal

    topics = await make_topics(kafka, unique_name, partitions=PARTITIONS)
    env = topics.env(kafka.bootstrap, unique_name("g"), session_timeout_ms="6000",
                     commit_interval_ms="1000")  # long transactions: likely open when frozen
    values = reuters_wire(3000, start=18000)
    zombie = WorkerProcess(env, tmp_path / "zombie.log").start()
    successor = WorkerProcess(env, tmp_path / "successor.log")
    feeder = asyncio.create_task(_stream(kafka, topics.input, values, seconds=15))
    try:
        await zombie.wait_ready()
        await asyncio.sleep(4)
        assert zombie.proc is not None
        zombie.proc.send_signal(signal.SIGSTOP)
        successor.start()
        await successor.wait_ready()
        await asyncio.sleep(8)  # the successor owns everything and has fenced the zombie
        zombie.proc.send_signal(signal.SIGCONT)
        await feeder
        await _wait_all_accounted(kafka, topics, len(values))
        assert zombie.proc.poll() is None, "a fenced worker recovers, it does not exit"
    finally:
        feeder.cancel()
        if zombie.proc is not None and zombie.proc.poll() is None:
            zombie.proc.send_signal(signal.SIGCONT)
        zombie.ensure_stopped()
        successor.ensure_stopped()
    inputs = await _input_offsets(kafka, topics.input, len(values))
    await assert_exactly_once(kafka, topics, inputs)


async def test_restart_storm_overlapping_restores(
    kafka: KafkaHelper, unique_name: Callable[[str], str], tmp_path: Path,
) -> None:
    """Two workers killed and restarted at random, faster than a group settles: every
    start restores the whole changelog while rebalances move partitions and abort
    the survivor's transactions, whose own restores then overlap with the
    follower's (issue 24 item 3: a restore finished with another's end offsets left
    a nearly empty index, and re-sends became new stories or phantom duplicates).
    A killed worker is restarted without waiting for it to be ready."""
    topics = await make_topics(kafka, unique_name, partitions=PARTITIONS)
    env = topics.env(kafka.bootstrap, unique_name("g"), session_timeout_ms="6000")
    values = reuters_wire(3000, start=7000)
    rng = random.Random(20261202)
    workers = [WorkerProcess(env, tmp_path / f"w{i}.log").start() for i in range(2)]
    feeder = asyncio.create_task(_stream(kafka, topics.input, values, seconds=30))
    try:
        for worker in workers:
            await worker.wait_ready()
        await asyncio.sleep(6)  # a changelog to restore: the storm's restores take a while
        for _ in range(8):
            await asyncio.sleep(rng.uniform(0.5, 4.0))
            i = rng.randrange(2)
            workers[i].kill()
            workers[i] = WorkerProcess(env, tmp_path / f"w{i}.log").start()
        for worker in workers:
            await worker.wait_ready(timeout=120)
        await feeder
        await _wait_all_accounted(kafka, topics, len(values))
    finally:
        feeder.cancel()
        for worker in workers:
            worker.ensure_stopped()
    inputs = await _input_offsets(kafka, topics.input, len(values))
    found = await assert_exactly_once(kafka, topics, inputs)
    assert found.kinds["story.duplicate"] > 0, "the stream must exercise dedup decisions"
