"""Every event the parser produces validates against schemas/story.v1.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from consumer.errors import ParseError, Reason
from consumer.events import dead_letter_event, story_event
from consumer.model import RawRecord
from consumer.ninjs_out import to_ninjs
from consumer.parse import parse_bytes

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared"
SAMPLES = sorted(
    [p for p in (SHARED / "data" / "wire_fixtures").glob("*/*") if p.suffix != ".md"]
    + [SHARED / "seeds" / "000_34eca767715a4b5f.txt"]
)


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / "story.v1.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert "story.v1" in schema["$id"]
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def ninjs_validator() -> Draft202012Validator:
    path = SHARED / "data" / "ninjs" / "ninjs-schema_2.2.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _event(index: int, raw: bytes) -> dict[str, Any]:
    source = RawRecord(value=raw, key=b"k", topic="file", offset=index)
    try:
        story = parse_bytes(raw)
    except ParseError as exc:
        return dead_letter_event(source=source, error=exc)
    return story_event(event_type="story.created", story=story, source=source, story_id="s1")


def test_every_sample_event_validates(validator: Draft202012Validator) -> None:
    kinds = set()
    for index, path in enumerate(SAMPLES):
        event = _event(index, path.read_bytes())
        kinds.add(event["event_type"])
        errors = [e.message for e in validator.iter_errors(event)]
        assert errors == [], (path.name, errors[:3])
    assert "story.created" in kinds


def test_dead_letter_validates(validator: Draft202012Validator) -> None:
    event = _event(0, b"\x00junk")
    assert event["event_type"] == "dead_letter"
    assert event["reason"] == Reason.UNDECODABLE.value
    validator.validate(event)


def test_schema_rejects_broken_events(validator: Draft202012Validator) -> None:
    event = _event(0, (SAMPLES[-1]).read_bytes())
    broken = json.loads(json.dumps(event))
    broken["story"]["body"][0]["type"] = "table"
    assert not validator.is_valid(broken)
    mixed = json.loads(json.dumps(event))
    mixed["event_type"] = "dead_letter"  # a story event may not pose as a dead letter
    assert not validator.is_valid(mixed)
    missing = json.loads(json.dumps(event))
    del missing["story"]["lede"]
    assert not validator.is_valid(missing)
    naive = json.loads(json.dumps(event))
    naive["story"]["versioncreated"] = "2026-01-03T10:00:00"
    assert not validator.is_valid(naive)


def test_ninjs_output_validates_against_official_schema(
    ninjs_validator: Draft202012Validator,
) -> None:
    count = 0
    for path in SAMPLES:
        try:
            story = parse_bytes(path.read_bytes())
        except ParseError:
            continue
        doc = to_ninjs(story, story_id="0123abcd")
        errors = [e.message for e in ninjs_validator.iter_errors(doc)]
        assert errors == [], (path.name, errors[:3])
        assert doc["bodies"][0]["value"] == story.body_text
        count += 1
    assert count >= 30
