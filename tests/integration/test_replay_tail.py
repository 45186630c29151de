"""``wirefeed replay`` and ``wirefeed tail`` against the real broker.

The central check: the same records replayed into Kafka and processed by the
streaming worker give the same events as ``wirefeed process`` on the file,
event by event, with the same links between them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.devtools.feed import SHARED, build_feed
from consumer.model import RawRecord
from consumer.pipeline import Pipeline
from consumer.process import read_jsonl
from consumer.process import run as process_run
from consumer.replay import TokenBucket
from tests.conftest import TopicFactory
from tests.integration.worker_helpers import InProcessWorker, make_topics
from tests.kafka_helpers import KafkaHelper

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FEED_DIR = REPO / "tests" / "fixtures" / "feed"


def wirefeed(*args: str, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumer.cli", *args], cwd=REPO, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})}, check=False,
    )


async def _spawn(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "consumer.cli", *args, cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


def _hdrs(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers or ()}


# --- the token bucket ---------------------------------------------------------------
def test_token_bucket_limits_rate_and_bounds_the_burst() -> None:
    now = [100.0]
    bucket = TokenBucket(10.0, burst=2.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(2)] == [0.0, 0.0]  # the burst
    assert bucket.take() == pytest.approx(0.1)  # then one token every 1/rate s
    assert bucket.take() == pytest.approx(0.2)  # waits queue up behind each other
    now[0] += 60.0  # a long idle minute must not save up 600 tokens
    assert [bucket.take() for _ in range(2)] == [0.0, 0.0]
    assert bucket.take() > 0
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


# --- replay, then process vs run ------------------------------------------------------------
def _signature(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Per input offset: type, reason and links, with event ids mapped to source offsets.

    Event ids derive from topic/partition/offset, so they differ between the
    file and the topic; the offsets they point to must not.
    """
    offset_of = {e["event_id"]: e["source"]["offset"] for e in events}
    out = []
    for e in sorted(events, key=lambda e: e["source"]["offset"]):
        def link(name: str, e: dict[str, Any] = e) -> int | None:
            value = e.get(name)
            return offset_of[value] if value is not None else None

        out.append((e["source"]["offset"], e["event_type"], e.get("reason"),
                    link("story_id"), link("supersedes"), link("duplicate_of")))
    return out


def _from_topics(records: list[Any]) -> list[dict[str, Any]]:
    """Worker output back into events; dead letters rebuilt from their headers."""
    events: list[dict[str, Any]] = []
    for rec in records:
        h = _hdrs(rec)
        if "wirefeed-reason" in h:
            offset = int(h["wirefeed-source-offset"])
            events.append({"event_id": f"dlq-{offset}", "event_type": "dead_letter",
                           "reason": h["wirefeed-reason"], "source": {"offset": offset}})
        else:
            events.append(orjson.loads(rec.value))
    return events


async def test_replay_then_run_equals_replay_then_process(
    kafka: KafkaHelper, unique_name: Callable[[str], str], bootstrap: str, tmp_path: Path,
) -> None:
    feed = build_feed(SHARED, seed=3, german=12, english=12, resends=2,
                      day=dt.datetime.now(dt.UTC).date())
    kinds = feed.counts("kind")
    assert kinds["update"] == kinds["correction"] == kinds["repeat"] == 1
    path = feed.write_jsonl(tmp_path / "feed.jsonl", start_ms=int(time.time() * 1000) - 60_000)
    n = len(feed.records)
    topics = await make_topics(kafka, unique_name, partitions=1)

    done = await asyncio.to_thread(wirefeed, "replay", str(path), "--topic", topics.input,
                                   "--bootstrap-servers", bootstrap)
    assert done.returncode == 0, done.stderr
    assert f"replayed {n} records to {topics.input}" in done.stderr

    # the topic holds the file's records: keys, headers, timestamps and bytes kept
    raw = await kafka.consume_all(topics.input, expected=n)
    with path.open("rb") as fh:
        items = list(read_jsonl(fh))
    assert [r.offset for r in raw] == list(range(n))
    for rec, item in zip(raw, items, strict=True):
        assert rec.value == item.record.value
        assert rec.key == item.record.key
        assert tuple(rec.headers) == item.record.headers
        assert rec.timestamp == item.record.timestamp_ms

    async with InProcessWorker(topics.settings(bootstrap, unique_name("g"))) as worker:
        for _ in range(600):
            if worker.counter("wirefeed_records_consumed_total", topic=topics.input) >= n:
                break
            await asyncio.sleep(0.2)
        assert worker.counter("wirefeed_records_consumed_total", topic=topics.input) == n
    streamed = _from_topics(
        await kafka.consume_all(topics.output, idle_s=1)
        + await kafka.consume_all(topics.duplicates, idle_s=1)
        + await kafka.consume_all(topics.dlq, idle_s=1)
    )

    buf = io.BytesIO()
    with path.open("rb") as fh:
        process_run(read_jsonl(fh), Pipeline(), buf)
    offline = [orjson.loads(line) for line in buf.getvalue().splitlines()]
    for e in offline:  # the streaming dead letter carries no event id either
        if e["event_type"] == "dead_letter":
            e["event_id"] = f"dlq-{e['source']['offset']}"

    assert len(streamed) == len(offline) == n
    assert _signature(streamed) == _signature(offline)
    types = {t for _, t, *_ in _signature(offline)}
    assert types >= {"story.created", "story.updated", "story.corrected", "story.duplicate",
                     "dead_letter"}


async def test_replay_a_directory_in_name_order_with_file_names_as_keys(
    kafka: KafkaHelper, new_topic: TopicFactory, bootstrap: str,
) -> None:
    topic = await new_topic("in", partitions=1)
    done = await asyncio.to_thread(wirefeed, "replay", str(FEED_DIR), "--topic", topic,
                                   "--rate", "100", env={"WIREFEED_BOOTSTRAP_SERVERS": bootstrap})
    assert done.returncode == 0, done.stderr
    files = sorted(FEED_DIR.iterdir())
    got = await kafka.consume_all(topic, expected=len(files))
    assert [r.key for r in got] == [f.name.encode() for f in files]
    assert [r.value for r in got] == [f.read_bytes() for f in files]
    # a file's mtime is not a record timestamp: the producer stamps it now
    assert all(r.timestamp > (time.time() - 600) * 1000 for r in got)


async def test_replay_loop_until_ctrl_c_reports_what_it_wrote(
    kafka: KafkaHelper, new_topic: TopicFactory, bootstrap: str,
) -> None:
    topic = await new_topic("in", partitions=2)
    proc = await _spawn("replay", str(FEED_DIR), "--topic", topic, "--loop", "--rate", "40",
                        "--bootstrap-servers", bootstrap)
    try:
        seen: list[Any] = []
        for _ in range(60):  # more than one pass of the 4 files went out
            # records keep coming, so never idle: read for a bounded while
            seen = await kafka.consume_all(topic, idle_s=0.5, timeout_s=2)
            if len(seen) > 8:
                break
        assert len(seen) > 8
        proc.send_signal(signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), 60)
        err = err_bytes.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err
    total = len(await kafka.consume_all(topic, idle_s=1))
    assert f"replayed {total} records to {topic} (2 partitions) in " in err
    assert "(stopped)" in err


async def test_replay_waits_for_the_topic_but_not_forever(
    kafka: KafkaHelper, unique_name: Callable[[str], str], bootstrap: str,
) -> None:
    missing = await asyncio.to_thread(wirefeed, "replay", str(FEED_DIR), "--topic",
                                      unique_name("none"), "--wait", "1",
                                      "--bootstrap-servers", bootstrap)
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr

    late = unique_name("late")
    proc = await _spawn("replay", str(FEED_DIR), "--topic", late, "--wait", "60",
                        env={"WIREFEED_BOOTSTRAP_SERVERS": bootstrap})
    try:
        await asyncio.sleep(2)  # the replayer is up before the topic, like in compose
        assert proc.returncode is None
        await kafka.create_topic(late)
        _, err_bytes = await asyncio.wait_for(proc.communicate(), 90)
        err = err_bytes.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert len(await kafka.consume_all(late, expected=4)) == 4


# --- tail ----------------------------------------------------------------------------
def _known_events() -> list[dict[str, Any]]:
    """Created, updated (ROUNDUP with a paragraph more) and an exact re-send, via the pipeline."""
    first = (FEED_DIR / "sample-01-quarterly-results.txt").read_bytes()
    extra = b" The company will publish its annual report in March./abc/DP/xy"
    roundup = first.replace(b"SAMPLE: Example", b"ROUNDUP/SAMPLE: Example").replace(
        b"/abc/DP/xy", b"\n\nIt also said it hired 200 engineers in Frankfurt." + extra)
    resend = (FEED_DIR / "sample-04-quarterly-results-resend.txt").read_bytes()
    pipe = Pipeline()
    return [pipe.run(RawRecord(value=v, topic="wire.raw", offset=i)).event
            for i, v in enumerate((first, roundup, resend))]


async def _produce_events(kafka: KafkaHelper, topic: str, events: list[dict[str, Any]]) -> None:
    await kafka.produce(
        topic, [orjson.dumps(e) for e in events], keys=[e["story_id"].encode() for e in events],
        headers=[[("wirefeed-event-type", e["event_type"].encode())] for e in events],
    )


async def test_tail_prints_events_readably_filters_and_dumps_json(
    kafka: KafkaHelper, new_topic: TopicFactory, bootstrap: str,
) -> None:
    events = _known_events()
    assert [e["event_type"] for e in events] == ["story.created", "story.updated",
                                                 "story.duplicate"]
    topic = await new_topic("out", partitions=1)
    await _produce_events(kafka, topic, events)
    base = ("tail", "--topic", topic, "--from-beginning", "--timeout", "3",
            "--bootstrap-servers", bootstrap)

    done = await asyncio.to_thread(wirefeed, *base)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    # an event is one line; a new version's diff follows it, indented
    lines = [line for line in out if not line.startswith(" ")]
    assert len(lines) == 3
    first_id = events[0]["event_id"][:8]
    created, updated, duplicate = lines
    diff = out[out.index(updated) + 1 : out.index(duplicate)]
    assert any(line.strip().startswith("+ [") and "200 engineers" in line for line in diff), diff
    assert created.startswith("story.created ")
    assert f"  {first_id}  FRANKFURT (dpa-AFX)  SAMPLE: Example Industries lifts" in created
    assert updated.startswith("story.updated ")
    # each line names its own event; the link names the event it replaces or repeats
    assert f"  {events[1]['event_id'][:8]}  " in updated
    assert updated.endswith(f"supersedes {first_id}")
    assert duplicate.startswith("story.duplicate ")
    assert f"  {events[2]['event_id'][:8]}  " in duplicate
    assert duplicate.endswith(f"duplicate_of {first_id} (exact)")
    assert len({events[i]["event_id"][:8] for i in range(3)}) == 3
    assert "\x1b[" not in done.stdout  # no colour codes when stdout is not a terminal

    only = await asyncio.to_thread(wirefeed, *base, "--type", "story.updated")
    assert only.stdout.splitlines() == [updated, *diff]

    raw = await asyncio.to_thread(wirefeed, *base, "--json", "--max", "2")
    assert [orjson.loads(line) for line in raw.stdout.splitlines()] == events[:2]


async def test_tail_shows_dead_letters_with_reason_and_size(
    kafka: KafkaHelper, new_topic: TopicFactory, bootstrap: str,
) -> None:
    topic = await new_topic("dlq", partitions=2)
    poison = b"\x00\x01binary junk\xff" * 10
    await kafka.produce(topic, [poison], keys=[b"junk-1"], headers=[[
        ("wirefeed-reason", b"undecodable"), ("wirefeed-error", b"not text"),
        ("wirefeed-source-topic", b"wire.raw"), ("wirefeed-source-partition", b"1"),
        ("wirefeed-source-offset", b"42"),
    ]])
    done = await asyncio.to_thread(wirefeed, "tail", "--topic", topic, "--from-beginning",
                                   "--max", "1", "--bootstrap-servers", bootstrap)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"dead_letter      undecodable  {len(poison)} B  key=junk-1  wire.raw:1@42  not text"
    ]
    dumped = await asyncio.to_thread(wirefeed, "tail", "--topic", topic, "--from-beginning",
                                     "--max", "1", "--json", "--bootstrap-servers", bootstrap)
    event = orjson.loads(dumped.stdout)
    assert (event["event_type"], event["reason"], event["size"]) == ("dead_letter",
                                                                     "undecodable", len(poison))
