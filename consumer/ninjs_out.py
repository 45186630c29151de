"""A Story as an IPTC ninjs 2.x document (``wirefeed parse --output-format ninjs``).

ninjs 2.2 requires only ``uri``; we emit what the story knows, under ninjs
names. The uri is built from the event id because a story has no agency guid
in most wire formats; the agency's own id (7901/ANPA story number, JSON
``id``) goes to ``altids`` where a downstream system can still match it.
Body text is plain (``text/plain``), paragraphs separated by blank lines, so
that the ninjs body round-trips to our paragraphs; subheadings are kept in
place (ninjs has no block structure in plain text).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from consumer.model import Story

URI_PREFIX = "urn:wirefeed:story:"


def to_ninjs(story: Story, *, story_id: str) -> dict[str, Any]:
    """A ninjs 2.2 document for one story."""
    doc: dict[str, Any] = {
        "uri": f"{URI_PREFIX}{story_id}",
        "standard": {"name": "ninjs", "version": "2.2",
                     "schema": "http://www.iptc.org/std/ninjs/ninjs-schema_2.2.json"},
        "type": "text",
        "bodies": [{"role": "main", "contenttype": "text/plain", "value": story.body_text,
                    "charcount": len(story.body_text), "wordcount": story.word_count}],
    }  # fmt: skip
    if story.headline:
        doc["headlines"] = [{"role": "main", "value": story.headline}]
    if story.version is not None:
        doc["version"] = str(story.version)
    if story.datetime is not None:
        doc["versioncreated"] = story.datetime.isoformat()
    elif story.date is not None:
        midnight = dt.datetime.combine(story.date, dt.time(), tzinfo=dt.UTC)
        doc["contentcreated"] = midnight.isoformat()
    if story.urgency is not None and 1 <= story.urgency <= 9:
        doc["urgency"] = story.urgency
    if story.language:
        doc["language"] = story.language
    if story.located:
        doc["located"] = story.located
    if story.byline:
        doc["by"] = story.byline
    if story.slugline:
        doc["slugline"] = story.slugline
    elif story.keywords:
        doc["slugline"] = "/".join(story.keywords)
    if story.agency:
        doc["infosources"] = [{"name": story.agency, "role": "source"}]
    if story.agency_id:
        doc["altids"] = [{"role": "agency_id", "value": story.agency_id}]
    if story.lede:
        doc["descriptions"] = [{"role": "lede", "contenttype": "text/plain", "value": story.lede}]
    return doc
