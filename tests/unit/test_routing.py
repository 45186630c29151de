"""Output routing without a broker: an outcome of a real record -> the records to send."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from consumer.model import RawRecord
from consumer.pipeline import Pipeline
from consumer.routing import ERROR_HEADER_MAX, Topics, route

TOPICS = Topics(output="out", duplicates="dup", dead_letter="dlq", state="state")
TRACE = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def seed(shared_dir: Path) -> bytes:
    return next((shared_dir / "seeds").glob("*.txt")).read_bytes()


def _raw(value: bytes, offset: int, **kw: object) -> RawRecord:
    return RawRecord(value=value, key=b"in-key", topic="wire.raw", partition=2, offset=offset,
                     timestamp_ms=1_700_000_000_000, **kw)  # type: ignore[arg-type]


def test_a_new_story_goes_to_the_output_then_its_state_entries(seed: bytes) -> None:
    raw = _raw(seed, 5, headers=(("traceparent", TRACE),))
    outcome = Pipeline().run(raw)
    sends = route(outcome, raw, TOPICS)
    assert [s.topic for s in sends] == ["out"] + ["state"] * len(outcome.changes)
    event = orjson.loads(sends[0].value or b"")
    assert event == outcome.event
    assert sends[0].key == event["story_id"].encode()
    headers = dict(sends[0].headers)
    assert headers["wirefeed-event-type"] == b"story.created"
    assert headers["wirefeed-source-topic"] == b"wire.raw"
    assert headers["wirefeed-source-partition"] == b"2"
    assert headers["wirefeed-source-offset"] == b"5"
    assert headers["traceparent"] == TRACE
    assert [(s.key, s.value) for s in sends[1:]] == [
        (k.encode(), v) for k, v in outcome.changes]


def test_a_duplicate_goes_to_the_duplicates_topic_or_nowhere(seed: bytes) -> None:
    pipe = Pipeline()
    pipe.run(_raw(seed, 0))
    raw = _raw(seed, 1)
    outcome = pipe.run(raw)
    assert outcome.event_type == "story.duplicate"
    assert [s.topic for s in route(outcome, raw, TOPICS)] == ["dup"]
    dropping = Topics(output="out", duplicates="", dead_letter="dlq", state="state")
    assert route(outcome, raw, dropping) == []


def test_a_dead_letter_keeps_the_original_record_and_adds_the_reason() -> None:
    junk = os.urandom(512)
    raw = _raw(junk, 9, headers=(("x-origin", b"r9"),))
    outcome = Pipeline().run(raw)
    (send,) = route(outcome, raw, TOPICS)
    assert (send.topic, send.key, send.value) == ("dlq", b"in-key", junk)
    headers = dict(send.headers)
    assert headers["x-origin"] == b"r9"
    assert headers["wirefeed-reason"].decode() in {"undecodable", "unknown_format"}
    assert headers["wirefeed-source-offset"] == b"9"
    assert len(headers["wirefeed-error"]) <= ERROR_HEADER_MAX
