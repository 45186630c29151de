"""The structured story: what every format parser produces.

Plain frozen dataclasses, no behaviour beyond cheap derived views: the model is
shared by the parsers, the dedup core, the event builder and the shell, and
must stay importable without any of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

BlockKind = Literal["paragraph", "subheading"]


@dataclass(frozen=True, slots=True)
class Block:
    """One body block in reading order."""

    kind: BlockKind
    text: str


@dataclass(frozen=True, slots=True)
class Story:
    """One parsed wire story.

    Fields follow IPTC ninjs names where ninjs has the concept (``headline``,
    ``language``, ``version``, ``located``...). ``normalized_text`` is the
    canonical text the dedup core fingerprints: body only, Unicode-normalised,
    without transport headers, the ``date`` header or the editor signature, so
    that a re-delivery with another signature is still an exact duplicate.
    """

    format: str
    body: tuple[Block, ...]
    normalized_text: str
    agency: str | None = None
    agency_id: str | None = None
    version: int | None = None
    date: dt.date | None = None
    datetime: dt.datetime | None = None
    located: str | None = None
    dateline_agency: str | None = None
    headline: str | None = None
    flags: tuple[str, ...] = ()
    metadata_located: str | None = None
    date_source: str | None = None
    slugline: str | None = None
    credits: str | None = None
    roundup_level: int | None = None
    update_note: str | None = None
    lede: str | None = None
    signature: str | None = None
    signature_codes: tuple[str, ...] = ()
    language: str | None = None
    language_detected: bool = False
    isins: tuple[str, ...] = ()
    quotes: tuple[str, ...] = ()
    word_count: int = 0
    byline: str | None = None
    urgency: int | None = None
    keywords: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return tuple(b.text for b in self.body if b.kind == "paragraph")

    @property
    def subheadings(self) -> tuple[str, ...]:
        return tuple(b.text for b in self.body if b.kind == "subheading")

    @property
    def body_text(self) -> str:
        return "\n\n".join(b.text for b in self.body)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A Kafka-like input record: the unit the pipeline accounts for exactly once.

    ``topic``/``partition``/``offset`` identify it in the source; the offline
    mode uses topic ``"file"``, partition 0 and the 0-based record index.
    """

    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None
    topic: str = "file"
    partition: int = 0
    offset: int = 0

    def header(self, name: str) -> str | None:
        """Last value of a header, case-insensitive, decoded leniently."""
        wanted = name.lower()
        found: str | None = None
        for k, v in self.headers:
            if k.lower() == wanted:
                found = v.decode("utf-8", "replace")
        return found
