"""The streaming worker against the real broker: routing, dead letters, metrics, readiness."""

from __future__ import annotations

import asyncio
import os
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.integration.worker_helpers import InProcessWorker, make_topics
from tests.kafka_helpers import KafkaHelper

pytestmark = pytest.mark.integration

BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<nitf><body>&lol3;</body></nitf>"
)


def _seed(shared_dir: Path) -> bytes:
    return next((shared_dir / "seeds").glob("*.txt")).read_bytes()


def _headers(record: object) -> dict[str, bytes]:
    return {k: v for k, v in getattr(record, "headers", ())}


async def test_routes_stories_duplicates_and_poison(
    kafka: KafkaHelper, unique_name: Callable[[str], str], shared_dir: Path
) -> None:
    topics = await make_topics(kafka, unique_name)
    seed = _seed(shared_dir)
    resend_other_signature = seed.replace(b"/mau/DP/he", b"/ab/DP/xy")
    junk = os.urandom(2048)
    huge = b"FRANKFURT (dpa-AFX) - " + b"Lorem ipsum dolor. " * 280_000  # ~5 MB
    values: list[bytes | None] = [seed, seed, resend_other_signature, junk, BOMB, huge, b""]
    headers = [[("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]]
    headers += [[("x-origin", f"r{i}".encode())] for i in range(1, len(values))]
    keys = [f"key-{i}".encode() for i in range(len(values))]
    settings = topics.settings(kafka.bootstrap, unique_name("g"))

    async with InProcessWorker(settings) as w:
        await kafka.produce(topics.input, values, keys=keys, headers=headers)
        out = await kafka.consume_all(topics.output, expected=1)
        dups = await kafka.consume_all(topics.duplicates, expected=2)
        dlq = await kafka.consume_all(topics.dlq, expected=4)
        status, body = await asyncio.to_thread(_get, w.worker.http_port, "/metrics")
        ready_status, _ = await asyncio.to_thread(_get, w.worker.http_port, "/readyz")
        health_status, _ = await asyncio.to_thread(_get, w.worker.http_port, "/healthz")

    assert len(out) == 1
    event = orjson.loads(out[0].value)
    assert event["event_type"] == "story.created"
    assert event["story"]["located"] == "KIEW"
    assert out[0].key == event["story_id"].encode()
    h = _headers(out[0])
    assert h["traceparent"].startswith(b"00-0af7651916cd43dd")
    assert h["wirefeed-event-type"] == b"story.created"
    assert h["wirefeed-source-offset"] == b"0"

    assert [orjson.loads(r.value)["reason"] for r in dups] == ["exact", "exact"]
    assert all(orjson.loads(r.value)["duplicate_of"] == event["event_id"] for r in dups)

    by_offset = {int(_headers(r)["wirefeed-source-offset"]): r for r in dlq}
    assert sorted(by_offset) == [3, 4, 5, 6]
    for offset, record in by_offset.items():
        assert record.value == values[offset], "dead letter must keep the original bytes"
        assert record.key == keys[offset]
        assert _headers(record)["x-origin"] == f"r{offset}".encode()
    reasons = {o: _headers(r)["wirefeed-reason"].decode() for o, r in by_offset.items()}
    assert reasons[4] == "forbidden_xml"
    assert reasons[5] == "too_large"
    assert reasons[6] == "empty"
    assert reasons[3] in {"undecodable", "unknown_format"}

    assert (status, ready_status, health_status) == (200, 200, 200)
    assert 'wirefeed_records_consumed_total{topic="' in body
    assert 'wirefeed_events_published_total{event_type="story.created"} 1.0' in body
    assert 'wirefeed_duplicates_total{reason="exact"} 2.0' in body
    assert 'wirefeed_dead_letters_total{reason="too_large"} 1.0' in body
    assert 'wirefeed_transactions_total{outcome="committed"}' in body
    # every record was parsed once and timed (the warm-up does not count)
    assert "wirefeed_parse_duration_seconds_count 7.0" in body


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.parametrize("parse_processes", [0, 1], ids=["in-loop", "parse-pool"])
async def test_streamed_corpus_matches_offline_pipeline_event_by_event(
    kafka: KafkaHelper, unique_name: Callable[[str], str], shared_dir: Path,
    parse_processes: int,
) -> None:
    """The worker and the offline pipeline make the same decisions on the same records.

    One input partition keeps the order identical, and event ids derive from
    the record's coordinates, so the events must be equal field for field,
    also when a process pool parses (``parse_processes``).
    Also scrapes the running worker and checks that every metric the alert
    rules and the dashboard use is exported.
    """
    from consumer.model import RawRecord
    from consumer.pipeline import Pipeline
    from tests.corpus import reuters_wire
    from tests.deploy.metric_names import exported_sample_names, referenced_metric_names

    topics = await make_topics(kafka, unique_name)
    values = reuters_wire(2500)
    values[100:100] = [_seed(shared_dir), os.urandom(512), b""]
    values += values[200:260]  # re-deliveries of earlier records, much later
    settings = topics.settings(kafka.bootstrap, unique_name("g"),
                               parse_processes=parse_processes)
    await kafka.produce(topics.input, values)

    async with InProcessWorker(settings) as w:
        for _ in range(1200):  # until every record was handled (bounded: 120 s)
            handled = sum(
                w.counter("wirefeed_events_published_total", event_type=t)
                for t in ("story.created", "story.updated", "story.corrected", "story.duplicate")
            ) + sum(s.value for m in w.metrics.dead_letters.collect() for s in m.samples
                    if s.name.endswith("_total"))
            if handled >= len(values):
                break
            await asyncio.sleep(0.1)
        streamed: dict[int, dict[str, object]] = {}
        for topic in (topics.output, topics.duplicates):
            for r in await kafka.consume_all(topic, idle_s=3.0):
                streamed[int(_headers(r)["wirefeed-source-offset"])] = orjson.loads(r.value)
        dead = {int(_headers(r)["wirefeed-source-offset"]): _headers(r)["wirefeed-reason"].decode()
                for r in await kafka.consume_all(topics.dlq, idle_s=1.0)}
        _, scraped = await asyncio.to_thread(_get, w.worker.http_port, "/metrics")
        pool = w.worker.processor.pool
        assert (pool.records if pool else 0) >= (len(values) // 2 if parse_processes else 0)

    inputs = await kafka.consume_all(topics.input, expected=len(values))
    pipeline = Pipeline()
    offline_dead: dict[int, str] = {}
    mismatches = []
    for rec in inputs:
        raw = RawRecord(value=rec.value, key=rec.key, headers=tuple(rec.headers),
                        timestamp_ms=rec.timestamp, topic=rec.topic, partition=rec.partition,
                        offset=rec.offset)
        outcome = pipeline.run(raw)
        if outcome.event_type == "dead_letter":
            offline_dead[rec.offset] = outcome.event["reason"]
        elif streamed.get(rec.offset) != outcome.event:
            mismatches.append(rec.offset)
    assert len(streamed) + len(dead) == len(values)
    assert dead == offline_dead
    assert not mismatches, f"{len(mismatches)} events differ, first offsets {mismatches[:5]}"
    types = {str(e["event_type"]) for e in streamed.values()}
    assert {"story.created", "story.duplicate"} <= types
    assert sum(1 for e in streamed.values() if e["event_type"] == "story.duplicate") >= 60

    missing = referenced_metric_names() - exported_sample_names(scraped)
    assert not missing, f"alerts/dashboard use metrics the worker does not export: {missing}"


async def test_resend_on_another_replicas_partition_is_caught(
    kafka: KafkaHelper, unique_name: Callable[[str], str], shared_dir: Path
) -> None:
    """Each replica follows the whole changelog: a re-send handled by the other replica
    (another partition) is still a duplicate once the original's transaction committed."""
    topics = await make_topics(kafka, unique_name, partitions=2)
    settings = topics.settings(kafka.bootstrap, unique_name("g"), session_timeout_ms=6000)
    seed = _seed(shared_dir)
    async with InProcessWorker(settings) as a, InProcessWorker(settings) as b:
        for _ in range(300):  # until the group settled on one partition each
            if len(a.worker.assignment) == 1 and len(b.worker.assignment) == 1:
                break
            await asyncio.sleep(0.1)
        assert len(a.worker.assignment) == len(b.worker.assignment) == 1
        await kafka.produce(topics.input, [seed], partition=0)
        (original,) = await kafka.consume_all(topics.output, expected=1)
        await asyncio.sleep(1.0)  # well above commit interval + changelog poll
        await kafka.produce(topics.input, [seed.replace(b"/mau/DP/he", b"/xy/DP/ab")],
                            partition=1)
        (dup,) = await kafka.consume_all(topics.duplicates, expected=1)
    assert _headers(original)["wirefeed-source-partition"] == b"0"
    assert _headers(dup)["wirefeed-source-partition"] == b"1"
    event = orjson.loads(dup.value)
    assert event["duplicate_of"] == orjson.loads(original.value)["event_id"]
    assert event["reason"] == "exact"


async def test_input_topics_by_pattern(
    kafka: KafkaHelper, unique_name: Callable[[str], str], shared_dir: Path
) -> None:
    """WIREFEED_INPUT_TOPICS=^regex subscribes to every matching topic, one event per record."""
    from tests.corpus import reuters_wire

    topics = await make_topics(kafka, unique_name)
    prefix = unique_name("feeds")
    for agency in ("dpa", "reuters"):
        await kafka.create_topic(f"{prefix}.{agency}")
    settings = topics.settings(kafka.bootstrap, unique_name("g"),
                               input_topics=f"^{prefix.replace('.', chr(92) + '.')}\\..*")
    seed = _seed(shared_dir)
    async with InProcessWorker(settings):
        await kafka.produce(f"{prefix}.dpa", [seed])
        await kafka.produce(f"{prefix}.reuters", reuters_wire(1))
        out = await kafka.consume_all(topics.output, expected=2)
    sources = sorted(_headers(r)["wirefeed-source-topic"].decode() for r in out)
    assert sources == [f"{prefix}.dpa", f"{prefix}.reuters"]


async def test_at_least_once_stop_leaves_every_offset_committed(
    kafka: KafkaHelper, unique_name: Callable[[str], str]
) -> None:
    """Offsets commit in the background in at-least-once mode; a stop must still wait for them.

    Otherwise a rolling restart would replay the records of the last interval.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from tests.corpus import reuters_wire

    topics = await make_topics(kafka, unique_name, partitions=3)
    group = unique_name("g")
    settings = topics.settings(kafka.bootstrap, group, processing_guarantee="at_least_once")
    values = reuters_wire(600)
    async with InProcessWorker(settings) as w:
        consumer = w.worker.consumer
        assert consumer is not None
        commit = consumer.commit

        async def slow_commit(*args: Any, **kwargs: Any) -> None:  # a slow coordinator
            await asyncio.sleep(0.3)
            await commit(*args, **kwargs)

        consumer.commit = slow_commit  # type: ignore[method-assign]
        await kafka.produce(topics.input, values)
        for _ in range(600):  # bounded: 60 s
            if w.counter("wirefeed_records_consumed_total", topic=topics.input) >= len(values):
                break
            await asyncio.sleep(0.1)
        # stop while the last offsets are in flight and no record waits in a batch: the
        # shutdown's own commit then has nothing due, and must still wait for that one
        worker = w.worker
        for _ in range(5000):  # bounded: ~10 s
            commits = worker.commits
            assert commits is not None
            if (commits.commit_running_since() is not None
                    and not any(b.timestamps for b in commits.batches.values())):
                break
            await asyncio.sleep(0.001)
        else:
            raise AssertionError("never saw an offset commit in flight")
    reader = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=group,
                              enable_auto_commit=False)
    await reader.start()
    try:
        tps = [TopicPartition(topics.input, p) for p in range(3)]
        ends = await reader.end_offsets(tps)
        committed = {tp: await reader.committed(tp) for tp in tps}
    finally:
        await reader.stop()
    assert sum(ends.values()) == len(values)
    assert committed == ends


async def test_broker_probe_asks_for_the_brokers_only(
    bootstrap: str, kafka: KafkaHelper, unique_name: Callable[[str], str]
) -> None:
    """The readiness probe runs every 2 s on the event loop: a metadata request for
    every topic (aiokafka's ``fetch_all_metadata``) costs decode time that grows with
    the cluster, and the records in flight wait for it."""
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import KafkaConnectionError

    from consumer.health import ask_brokers

    await kafka.create_topic(unique_name("probe"), partitions=3)
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        everything = await client.fetch_all_metadata()
        assert everything.topics(), "the cluster holds topics the probe must not ask for"
        response = await ask_brokers(client)
        assert response.brokers
        assert list(response.topics) == []
    finally:
        await client.close()
    never_bootstrapped = AIOKafkaClient(bootstrap_servers=bootstrap)  # knows no broker
    with pytest.raises(KafkaConnectionError):
        await ask_brokers(never_bootstrapped)


async def test_a_failed_restore_after_an_abort_decides_nothing_until_one_succeeds(
    kafka: KafkaHelper, unique_name: Callable[[str], str], shared_dir: Path
) -> None:
    """A commit fails after its record was decided (its entry is in the index), then the
    restore that must drop that entry fails twice. The worker stays not ready and decides
    nothing until a restore succeeds; the record then is a new story, not a duplicate of
    its own aborted event."""
    from aiokafka.errors import KafkaConnectionError

    topics = await make_topics(kafka, unique_name)
    settings = topics.settings(kafka.bootstrap, unique_name("g"))
    async with InProcessWorker(settings) as w:
        worker = w.worker
        commits = worker.commits
        assert commits is not None
        commit_due, restore = commits.commit_due, worker.state.restore
        failed = asyncio.Event()
        restores = 0

        async def failing_commit_due(*args: Any, **kwargs: Any) -> bool:
            if commits.pending() and not failed.is_set():
                failed.set()
                raise KafkaConnectionError("injected: the commit failed")
            return await commit_due(*args, **kwargs)

        async def failing_restore() -> float:
            nonlocal restores
            restores += 1
            if restores <= 2:
                raise KafkaConnectionError("injected: the restore failed")
            return await restore()

        commits.commit_due = failing_commit_due  # type: ignore[method-assign]
        worker.state.restore = failing_restore  # type: ignore[method-assign]
        await kafka.produce(topics.input, [_seed(shared_dir)])
        await asyncio.wait_for(failed.wait(), 30)
        consumed = "wirefeed_records_consumed_total"
        not_ready: set[str] = set()
        while restores < 3:  # bounded by the backoff: about 0.5 + 1 + 2 s
            ok, why = worker.readiness()
            if not ok:
                not_ready.add(why)
            assert w.counter(consumed, topic=topics.input) == 1, "decided on a stale index"
            await asyncio.sleep(0.02)
        out = await kafka.consume_all(topics.output, expected=1)
        await w.wait_ready()
        dups = await kafka.consume_all(topics.duplicates, idle_s=1.0)
        assert w.counter(consumed, topic=topics.input) == 2
    assert not_ready
    assert [orjson.loads(r.value)["event_type"] for r in out] == ["story.created"]
    assert _headers(out[0])["wirefeed-source-offset"] == b"0"
    assert dups == []
