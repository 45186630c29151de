"""Ritzau (Denmark) RBNews XML: a flat record whose ``content`` is HTML escaped as text.

The body is HTML *inside* XML text (``&lt;p&gt;``), so it is parsed a second
time with the lenient HTML parser. Ritzau's own booleans map onto the shared
flag vocabulary: ``Korrektion`` -> ``correction``, ``NyVersion`` -> ``update``,
``Annuleret`` (cancelled) -> ``canceled``. ``PublishDate`` carries no offset,
so only the date is kept (see :func:`consumer.formats.html_body.when`). The
language is not stated in the record and is left to detection.
"""

from __future__ import annotations

from typing import Final

from consumer.errors import ParseError, Reason
from consumer.formats import fields
from consumer.formats import html_body as hb
from consumer.formats import xmlsafe as xs
from consumer.formats.base import Draft, Hints
from consumer.text import opt_inline

NAME: Final = "ritzau"


def sniff(head: bytes) -> bool:
    """Root element ``RBNews``."""
    name, _ = xs.root_name(head)
    return name == "RBNews"


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse one RBNews record."""
    root = xs.load(raw, declared_encoding=hints.declared_encoding)
    if xs.local(root) != "RBNews":
        raise ParseError(Reason.MALFORMED_XML, f"root element is {xs.local(root)!r}, not RBNews")

    def field(name: str) -> str | None:
        return opt_inline(xs.text(xs.child(root, name)))

    def flag(name: str) -> bool:
        return (field(name) or "").lower() == "true"

    stamp = field("PublishDate")
    moment, day = fields.when(stamp, "PublishDate")
    extra: dict[str, str] = {}
    if stamp and moment is None:
        extra["datetime_local"] = stamp
    for name, key in (("strapline", "strapline"), ("section", "section"), ("format", "genre")):
        value = field(name)
        if value:
            extra[key] = value

    flags: list[str] = []
    if flag("Korrektion"):
        flags.append("correction")
    if flag("NyVersion"):
        flags.append("update")
    if flag("Annuleret"):
        flags.append("canceled")

    origin = (field("origin") or "").strip("/")
    draft = Draft(
        format=NAME,
        body=hb.blocks_from_html(xs.text(xs.child(root, "content"))),
        agency=origin.capitalize() if origin else "Ritzau",
        agency_id=field("NewsID"),
        version=fields.to_int(field("version"), "version"),
        date=day,
        datetime=moment,
        date_source="PublishDate" if day else None,
        located=field("town"),
        headline=field("headline") or field("subtitle"),
        flags=flags,
        byline=field("byLine"),
        urgency=fields.urgency(field("Priority")),
        extra=extra,
    )
    hb.require_body(draft.body, flags, "RBNews content is empty")
    return draft
