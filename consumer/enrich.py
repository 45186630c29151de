"""Derived story fields shared by all formats (placeholder until the parse issue lands)."""

from __future__ import annotations

from consumer.errors import ParseError, Reason
from consumer.formats.base import Draft
from consumer.model import Story


def finish(draft: Draft) -> Story:
    paragraphs = [b.text for b in draft.body if b.kind == "paragraph"]
    if not paragraphs:
        raise ParseError(Reason.MISSING_BODY, "the story has no body text")
    text = " ".join(" ".join(b.text.split()) for b in draft.body).casefold()
    return Story(
        format=draft.format,
        body=tuple(draft.body),
        normalized_text=text,
        agency=draft.agency,
        agency_id=draft.agency_id,
        version=draft.version,
        date=draft.date,
        datetime=draft.datetime,
        located=draft.located,
        dateline_agency=draft.dateline_agency,
        headline=draft.headline,
        flags=tuple(draft.flags),
        roundup_level=draft.roundup_level,
        update_note=draft.update_note,
        lede=paragraphs[0],
        signature=draft.signature,
        signature_codes=tuple(draft.signature_codes),
        language=draft.language,
        byline=draft.byline,
        urgency=draft.urgency,
        keywords=tuple(draft.keywords),
        extra=dict(draft.extra),
        word_count=len(text.split()),
    )
