"""The generic JSON envelope, and its separation from ninjs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from consumer.errors import ParseError, Reason
from consumer.formats import generic_json
from consumer.formats.base import Hints
from consumer.parse import parse_bytes

NINJS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "wire_fixtures" / "ninjs"


def test_default_field_names_and_string_body() -> None:
    doc = {
        "id": "abc-1",
        "headline": "WDH/Dax steigt",
        "date": "2026-01-03T10:15:00+01:00",
        "agency": "dpa-AFX",
        "body": "FRANKFURT (dpa-AFX) - Der Dax stieg.\n\nZweiter Absatz.",
    }
    s = parse_bytes(orjson.dumps(doc))
    assert s.format == "generic_json"
    assert (s.agency_id, s.headline, s.flags) == ("abc-1", "Dax steigt", ("repeat",))
    assert s.datetime == dt.datetime(2026, 1, 3, 10, 15, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert s.date == dt.date(2026, 1, 3)
    assert s.located == "FRANKFURT"
    assert s.paragraphs == ("Der Dax stieg.", "Zweiter Absatz.")


def test_field_map_nested_keys_and_list_body() -> None:
    doc = {
        "meta": {"title": "Kiew: Gespräche", "lang": "de"},
        "content": [
            "KIEW (dpa) - Erster Absatz.",
            {"type": "subheading", "text": "Zwischentitel"},
            {"text": "Zweiter Absatz."},
        ],
    }
    hints = Hints(field_map={"headline": "meta.title", "body": "content", "language": "meta.lang"})
    s = parse_bytes(orjson.dumps(doc), hints)
    assert s.headline == "Kiew: Gespräche"
    assert s.language == "de"
    assert s.language_detected is False
    assert [b.kind for b in s.body] == ["paragraph", "subheading", "paragraph"]
    assert s.lede == "Erster Absatz."
    assert s.located == "KIEW"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"headline": "x", "body": ', Reason.MALFORMED_JSON),
        (b'{"headline": "x"}', Reason.MISSING_BODY),
        (b'{"body": "   "}', Reason.MISSING_BODY),
        (b'{"body": 5}', Reason.INVALID_FIELD),
        (b'{"body": "Text hier.", "date": "yesterday"}', Reason.INVALID_FIELD),
        (b'{"body": ["ok", 3]}', Reason.INVALID_FIELD),
    ],
)
def test_bad_envelopes(raw: bytes, reason: Reason) -> None:
    with pytest.raises(ParseError) as info:
        parse_bytes(raw)
    assert info.value.reason is reason


def test_cp1252_envelope() -> None:
    raw = '{"body": "Grüße aus Köln, sagte er."}'.encode("cp1252")
    assert parse_bytes(raw).lede == "Grüße aus Köln, sagte er."


def test_top_level_array_is_not_an_envelope() -> None:
    with pytest.raises(ParseError) as info:
        parse_bytes(b'[{"body": "x"}]')
    assert info.value.reason is Reason.UNKNOWN_FORMAT


@pytest.mark.parametrize("path", sorted(NINJS.glob("*.json")), ids=lambda p: p.name)
def test_real_ninjs_is_never_sniffed_as_generic(path: Path) -> None:
    assert not generic_json.sniff(path.read_bytes()[:4096])
