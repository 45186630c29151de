"""Field helpers every format shares: timestamps, integers, urgency, language tags, datelines.

One implementation each, used by the XML and JSON formats and by
:func:`consumer.enrich.finish` (language tags); text cleaning lives in
:mod:`consumer.text`, body markup in :mod:`consumer.formats.html_body`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from consumer.errors import ParseError, Reason
from consumer.text import clean_inline

#: ``pubStatus``/``management-status`` values that mean the item was withdrawn.
CANCELED_STATUSES: Final = frozenset({"canceled", "cancelled", "withheld"})


def when(value: str | None, field: str) -> tuple[dt.datetime | None, dt.date | None]:
    """``(datetime, date)`` of an ISO 8601 timestamp, basic or extended format.

    A timestamp without an offset yields only its date: inventing a time zone
    would shift stories across midnight, while the date alone is still true.
    A value that is present but not a timestamp is ``invalid_field``.
    """
    s = (value or "").strip()
    if not s:
        return None, None
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(s)
    except ValueError:
        raise ParseError(Reason.INVALID_FIELD, f"{field}: not a timestamp: {s[:40]!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, parsed.date()
    return parsed, parsed.date()


@dataclass(frozen=True, slots=True)
class Stamp:
    """The date a format states, and which of its fields stated it."""

    datetime: dt.datetime | None = None
    date: dt.date | None = None
    #: the field's name as the format spells it (``versionCreated``, ``date.issue``...)
    source: str | None = None
    #: the value verbatim when it has no time zone (only its date is kept)
    local: str | None = None


def first_stamp(candidates: Iterable[tuple[str, str | None]]) -> Stamp:
    """The first non-empty timestamp among ``(field name, value)`` pairs, in the format's order.

    One rule for every format's date fallback (issue 20 item 6): an item
    whose ``versionCreated`` is empty still has a date if it carries
    ``contentModified`` or ``firstCreated``, and the story says which field
    gave it. A value that is present but not a timestamp is ``invalid_field``
    (as :func:`when`), not skipped: a broken field should be seen.
    """
    for name, value in candidates:
        s = (value or "").strip()
        if not s:
            continue
        moment, day = when(s, name)
        return Stamp(moment, day, name, s if moment is None else None)
    return Stamp()


def to_int(value: object, field: str, *, lo: int = 0, hi: int = 2**63 - 1) -> int | None:
    """An integer field given as int or digit string; None if absent/blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ParseError(Reason.INVALID_FIELD, f"{field}: boolean where a number is expected")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        if not s.isascii() or not s.lstrip("+-").isdigit() or len(s) > 19:
            raise ParseError(Reason.INVALID_FIELD, f"{field}: not an integer: {s[:20]!r}")
        n = int(s)
    else:
        raise ParseError(
            Reason.INVALID_FIELD, f"{field}: expected an integer, got {type(value).__name__}"
        )
    if not lo <= n <= hi:
        raise ParseError(Reason.INVALID_FIELD, f"{field}: {n} out of range {lo}..{hi}")
    return n


def urgency(value: object) -> int | None:
    """IPTC urgency 1 (flash) .. 9; 0 is used by some feeds for 'none' and is dropped."""
    n = to_int(value, "urgency", lo=0, hi=9)
    return n or None


_LANG_RE: Final = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def language_tag(value: str | None) -> str | None:
    """A BCP 47 tag in its conventional case, or None if it is not a language tag.

    RFC 5646 2.1.1: language lowercase, script titlecase, region uppercase,
    everything after a singleton (``x-``, ``u-``) lowercase: ``EN`` -> ``en``,
    ``nb-no`` -> ``nb-NO``, ``zh-hant-tw`` -> ``zh-Hant-TW``; ``_`` becomes ``-``.
    ``x-default`` and other non-language tags are None, so that finish()
    detects the language instead of trusting a placeholder.
    """
    s = (value or "").strip()
    if not s or _LANG_RE.match(s) is None:
        return None
    parts = s.replace("_", "-").split("-")
    out = [parts[0].lower()]
    extension = False
    for p in parts[1:]:
        extension = extension or len(p) == 1
        if not extension and len(p) == 2 and p.isalpha():
            out.append(p.upper())
        elif not extension and len(p) == 4 and p.isalpha():
            out.append(p.title())
        else:
            out.append(p.lower())
    return "-".join(out)


_DATELINE_AGENCY_RE: Final = re.compile(r"\(([^()]{1,40})\)\s*[-–—:]*\s*$")


def dateline(value: str | None) -> tuple[str | None, str | None]:
    """``(place, agency)`` from a dateline such as ``STOCKHOLM, Aug 29, 2014 (AFP) -``.

    Trailing comma-separated parts containing digits are dates and are
    dropped; a dateline that is only a date (ANA's ``4/4/2018``, Reuters'
    timestamps) has no place. ``FORT WASHINGTON, Pa.`` stays whole.
    """
    s = clean_inline(value).strip(" -–—:")
    if not s:
        return None, None
    agency: str | None = None
    m = _DATELINE_AGENCY_RE.search(s)
    if m is not None:
        agency = clean_inline(m.group(1)) or None
        s = s[: m.start()].strip(" ,-–—:")
    parts = [p.strip() for p in s.split(",")]
    while parts and any(ch.isdigit() for ch in parts[-1]):
        parts.pop()
    place = ", ".join(p for p in parts if p)
    if not place or len(place) > 80:
        return None, agency
    return place, agency
