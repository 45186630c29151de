"""What a format parser extracts (a :class:`Draft`) and the hints it is given.

Derived fields are computed by :func:`consumer.enrich.finish`; this module
imports nothing from it, so parsers and the finisher do not form an import circle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from consumer.model import Block


@dataclass(frozen=True, slots=True)
class Hints:
    """Out-of-band information about a record (Kafka headers, CLI options)."""

    content_type: str | None = None
    forced_format: str | None = None
    declared_encoding: str | None = None
    field_map: Mapping[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Draft:
    """Fields as a format states them; anything unknown stays None/empty."""

    format: str
    body: list[Block]
    agency: str | None = None
    agency_id: str | None = None
    version: int | None = None
    date: dt.date | None = None
    datetime: dt.datetime | None = None
    located: str | None = None
    #: The place the metadata names when the body's dateline names another
    #: (Reuters: the editing desk); the dateline wins ``located``.
    metadata_located: str | None = None
    dateline_agency: str | None = None
    headline: str | None = None
    flags: list[str] = field(default_factory=list)
    roundup_level: int | None = None
    update_note: str | None = None
    signature: str | None = None
    signature_codes: list[str] = field(default_factory=list)
    #: "Reporting by ...; Editing by ..." taken out of the body
    credits: str | None = None
    slugline: str | None = None
    #: which field of the format gave ``date``/``datetime`` (``versionCreated``...)
    date_source: str | None = None
    language: str | None = None
    byline: str | None = None
    urgency: int | None = None
    keywords: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    #: The body blocks are already ``clean_line`` output (the text reader's
    #: are: collapsed slices of cleaned text), so finish() keeps them as they are.
    body_clean: bool = False
    #: The text reader already looked for the dateline (and cut it): the
    #: shared conventions step does not look again.
    dateline_checked: bool = False

