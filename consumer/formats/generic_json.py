"""A generic JSON envelope: one object with a headline, a body and a few metadata keys.

Our field names are ``headline``, ``body``, ``date``, ``id``, ``agency``,
``language`` (plus optional ``version``, ``urgency``, ``byline``);
``Hints.field_map`` maps any of them to the envelope's own key, and a dotted
key (``"content.text"``) reaches into nested objects. ``body`` is a string
with blank-line paragraphs (a dateline at its start is read as in dpa-AFX
text) or a list of strings / ``{"type": "subheading"|"paragraph", "text": ...}``.

Not to be confused with ninjs, which has its own module: ninjs documents
carry ``uri``, ``body_text``/``body_html``, ``headlines``, ``bodies``,
``versioncreated``, ``associations``, ``pubstatus`` or ``renditions``.
:func:`sniff` refuses a head showing any of those keys, and
:mod:`consumer.parse` asks the ninjs module first, so detection does not
depend on import order.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from consumer.errors import ParseError, Reason
from consumer.formats import dpa_afx
from consumer.formats.base import Draft, Hints
from consumer.model import Block, BlockKind
from consumer.text import clean, clean_line, decode

NAME: Final = "generic_json"

NINJS_MARKERS: Final = (
    b'"uri"', b'"body_text"', b'"body_html"', b'"headlines"', b'"bodies"',
    b'"versioncreated"', b'"associations"', b'"pubstatus"', b'"renditions"',
)  # fmt: skip
OBJECT_START: Final = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]{0,64}\{")


def sniff(head: bytes) -> bool:
    """A JSON object that does not look like ninjs."""
    return OBJECT_START.match(head) is not None and not any(m in head for m in NINJS_MARKERS)


def _get(doc: Mapping[str, Any], key: str) -> Any:
    value: Any = doc
    for part in key.split(".")[:8]:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _str(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise ParseError(Reason.INVALID_FIELD, f"field {field!r} must be a string")


def _int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ParseError(Reason.INVALID_FIELD, f"field {field!r} must be an integer")


def _date(draft: Draft, value: str, field: str) -> None:
    draft.date_source = field
    try:
        if len(value) == 10:
            draft.date = dt.date.fromisoformat(value)
            return
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ParseError(Reason.INVALID_FIELD, f"date {value[:40]!r} is not ISO 8601") from None
    draft.datetime = stamp if stamp.tzinfo is not None else None
    draft.date = stamp.date()
    if stamp.tzinfo is None:
        draft.extra["datetime_local"] = stamp.isoformat()


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse the envelope; the body goes through the dpa-AFX text reader when it is a string."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson only reads UTF-8: retry a cp1252/latin-1 (or BOM-prefixed) envelope decoded
        text, codec = decode(raw, hints.declared_encoding)
        if codec == "utf-8" and not raw.startswith(b"\xef\xbb\xbf"):
            raise ParseError(Reason.MALFORMED_JSON, f"invalid JSON: {exc}") from None
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc2:
            raise ParseError(Reason.MALFORMED_JSON, f"invalid JSON: {exc2}") from None
    if not isinstance(doc, dict):
        raise ParseError(Reason.MALFORMED_JSON, "the JSON document is not an object")
    names = {k: hints.field_map.get(k, k) for k in (
        "headline", "body", "date", "id", "agency", "language", "version", "urgency", "byline",
    )}  # fmt: skip

    draft = Draft(format=NAME, body=[])
    draft.headline = _str(_get(doc, names["headline"]), "headline")
    draft.agency_id = _str(_get(doc, names["id"]), "id")
    draft.agency = _str(_get(doc, names["agency"]), "agency")
    draft.language = _str(_get(doc, names["language"]), "language")
    draft.byline = _str(_get(doc, names["byline"]), "byline")
    draft.version = _int(_get(doc, names["version"]), "version")
    draft.urgency = _int(_get(doc, names["urgency"]), "urgency")
    date = _str(_get(doc, names["date"]), "date")
    if date:
        _date(draft, date.strip(), names["date"])

    body = _get(doc, names["body"])
    if isinstance(body, str):
        text = clean(body).strip()
        if not text:
            raise ParseError(Reason.MISSING_BODY, f"field {names['body']!r} is empty")
        return dpa_afx.parse_text(text, draft)
    if isinstance(body, list):
        for item in body[:10_000]:
            kind: BlockKind = "paragraph"
            if isinstance(item, str):
                value = item
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                kind = "subheading" if item.get("type") == "subheading" else "paragraph"
                value = item["text"]
            else:
                raise ParseError(Reason.INVALID_FIELD, "body items must be strings or {text}")
            line = clean_line(value)
            if line:
                draft.body.append(Block(kind, line))
        if not draft.body:
            raise ParseError(Reason.MISSING_BODY, f"field {names['body']!r} has no text")
        # a dateline at the start of the first item: consumer.formats.conventions
        if draft.headline:
            draft.headline, draft.flags, draft.roundup_level, draft.update_note = (
                dpa_afx.headline_flags(draft.headline)
            )
        return draft
    if body is None:
        raise ParseError(Reason.MISSING_BODY, f"no body field {names['body']!r}")
    raise ParseError(Reason.INVALID_FIELD, f"field {names['body']!r} must be a string or list")
