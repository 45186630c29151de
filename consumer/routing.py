"""Where one record's outcome goes: the Kafka records to send, with their headers. Pure.

A story event goes to the output topic, a duplicate to the duplicates topic
(or nowhere when that topic is empty), a dead letter to the dead-letter topic
as the original bytes, key and headers plus the reason; the outcome's
changelog entries go to the state topic. Every published record carries the
coordinates of its input record, which is how the exactly-once tests and the
latency bench match output to input.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from consumer import __version__
from consumer.events import SCHEMA_VERSION, STORY_EVENT_TYPES
from consumer.model import RawRecord
from consumer.pipeline import Outcome

Headers = list[tuple[str, bytes]]
# a dead letter's error header is cut here: headers count against the record size
ERROR_HEADER_MAX = 1000


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics an outcome can go to; an empty ``duplicates`` drops duplicates."""

    output: str
    duplicates: str
    dead_letter: str
    state: str


@dataclass(frozen=True, slots=True)
class Send:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


def source_headers(raw: RawRecord) -> Headers:
    """The input record's coordinates (and its trace context), on every published record."""
    coords: Headers = [
        ("wirefeed-source-topic", raw.topic.encode()),
        ("wirefeed-source-partition", str(raw.partition).encode()),
        ("wirefeed-source-offset", str(raw.offset).encode()),
        ("wirefeed-version", __version__.encode()),
    ]
    traceparent = raw.header("traceparent")
    if traceparent:
        coords.append(("traceparent", traceparent.encode()))
    return coords


def route(outcome: Outcome, raw: RawRecord, topics: Topics) -> list[Send]:
    """The records to send for ``outcome`` of ``raw``: its event (if published), then its
    changelog entries, in the order they must be written."""
    event = outcome.event
    etype = str(event["event_type"])
    coords = source_headers(raw)
    sends: list[Send] = []
    if etype == "dead_letter":
        headers = [*raw.headers, *coords,
                   ("wirefeed-reason", str(event["reason"]).encode()),
                   ("wirefeed-error", str(event.get("message", ""))[:ERROR_HEADER_MAX].encode())]
        sends.append(Send(topics.dead_letter, raw.key, raw.value, headers))
    else:
        headers = [("content-type", b"application/json"),
                   ("wirefeed-schema", SCHEMA_VERSION.encode()),
                   ("wirefeed-event-type", etype.encode()), *coords]
        topic = topics.output if etype in STORY_EVENT_TYPES else topics.duplicates
        if topic:
            sends.append(Send(topic, str(event["story_id"]).encode(), orjson.dumps(event),
                              headers))
    sends.extend(Send(topics.state, key.encode(), value, []) for key, value in outcome.changes)
    return sends
