"""Events published downstream (schema ``story.v1``, see ``schemas/story.v1.json``).

Event ids are derived from the input record's coordinates, never random: a
record processed twice (a replay after a crash in at-least-once mode) yields
the same event id, so downstream consumers can drop the replay by id.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal

from consumer.errors import WirefeedError
from consumer.model import RawRecord, Story

SCHEMA_VERSION = "story.v1"

EventType = Literal[
    "story.created", "story.updated", "story.corrected", "story.canceled", "story.duplicate",
    "dead_letter",
]

# the event types that go to the output topic (duplicates and dead letters do not)
STORY_EVENT_TYPES: tuple[EventType, ...] = (
    "story.created", "story.updated", "story.corrected", "story.canceled"
)


def event_id(source: RawRecord) -> str:
    """Deterministic id of the event made from one input record."""
    digest = hashlib.sha256(
        f"{source.topic}\x00{source.partition}\x00{source.offset}".encode()
    ).hexdigest()
    return digest[:32]


def source_payload(source: RawRecord) -> dict[str, Any]:
    return {
        "topic": source.topic,
        "partition": source.partition,
        "offset": source.offset,
        "key": source.key.decode("utf-8", "replace") if source.key is not None else None,
        "timestamp": source.timestamp_ms,
    }


def story_payload(story: Story) -> dict[str, Any]:
    """The structured story as JSON-ready data, field names after IPTC ninjs."""
    return {
        "format": story.format,
        "agency": story.agency,
        "agency_id": story.agency_id,
        "version": story.version,
        "date": story.date.isoformat() if story.date else None,
        "versioncreated": story.datetime.isoformat() if story.datetime else None,
        "located": story.located,
        "dateline_agency": story.dateline_agency,
        "headline": story.headline,
        "flags": list(story.flags),
        "roundup_level": story.roundup_level,
        "update_note": story.update_note,
        "lede": story.lede,
        "body": [{"type": b.kind, "text": b.text} for b in story.body],
        "signature": story.signature,
        "signature_codes": list(story.signature_codes),
        "language": story.language,
        "language_detected": story.language_detected,
        "isins": list(story.isins),
        "quotes": list(story.quotes),
        "word_count": story.word_count,
        "byline": story.byline,
        "urgency": story.urgency,
        "keywords": list(story.keywords),
        "slugline": story.slugline,
        "credits": story.credits,
        "metadata_located": story.metadata_located,
        "date_source": story.date_source,
    }


def story_event(
    *,
    event_type: EventType,
    story: Story,
    source: RawRecord,
    story_id: str,
    supersedes: str | None = None,
    duplicate_of: str | None = None,
    reason: str | None = None,
    similarity: float | None = None,
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An event for a parsed story: created, updated, corrected or duplicate.

    ``changes`` (what differs from the superseded or duplicated version, see
    :mod:`consumer.diff`) is present only where it was computed, so that the
    events of every other story keep their bytes.
    """
    event = {
        "schema": SCHEMA_VERSION,
        "event_id": event_id(source),
        "event_type": event_type,
        "story_id": story_id,
        "supersedes": supersedes,
        "duplicate_of": duplicate_of,
        "reason": reason,
        "similarity": similarity,
        "source": source_payload(source),
        "story": story_payload(story),
    }
    if changes is not None:
        event["changes"] = changes
    return event


def dead_letter_event(*, source: RawRecord, error: WirefeedError) -> dict[str, Any]:
    """The offline form of a dead letter: reason, message and the original bytes."""
    return {
        "schema": SCHEMA_VERSION,
        "event_id": event_id(source),
        "event_type": "dead_letter",
        "reason": error.reason.value,
        "message": error.message,
        "source": source_payload(source),
        "value_b64": base64.b64encode(source.value).decode() if source.value is not None else None,
    }
