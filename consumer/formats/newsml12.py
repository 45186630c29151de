"""IPTC NewsML 1.2 (AFP, ANA-MPE): ``NewsML/NewsItem`` with nested ``NewsComponent``s.

Identity comes from ``Identification/NewsIdentifier``: ``ProviderId`` is the
agency (a domain such as ``afp.com``: it is what the identifier scheme is
scoped by, so it stays stable where the display name ``Party@FormalName`` does
not), ``NewsItemId`` the agency id and ``RevisionId`` the version.

The text lives in the first ``ContentItem`` whose ``DataContent`` has text;
agencies put NITF there (AFP), bare XHTML paragraphs (AFP's newer feed) or
HTML escaped in CDATA (ANA), so all three are accepted. Only the first
``NewsItem`` of a ``NewsML`` document is read, as for NewsML-G2 messages.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from consumer.errors import ParseError, Reason
from consumer.formats import fields
from consumer.formats import html_body as hb
from consumer.formats import nitf as nitf_format
from consumer.formats import xmlsafe as xs
from consumer.formats.base import Draft, Hints
from consumer.model import Block
from consumer.text import clean_unique, opt_inline

NAME: Final = "newsml12"


def sniff(head: bytes) -> bool:
    """Root ``NewsML`` (or a bare ``NewsItem``); case matters: G2 uses ``newsItem``."""
    name, _ = xs.root_name(head)
    return name in {"NewsML", "NewsItem"}


def _formal(el: etree._Element | None) -> str | None:
    return xs.attr(el, "FormalName")


def _data_blocks(data: etree._Element, fmt: str) -> list[Block]:
    nitf_el = xs.first_descendant(data, "nitf")
    if nitf_el is not None:
        return nitf_format.body_blocks(nitf_el)
    if len(data):
        return hb.blocks_from_element(data)
    payload = data.text or ""
    if "<" in payload or "html" in fmt.lower():
        return hb.blocks_from_html(payload)
    return hb.blocks_from_text(payload)


def _body(item: etree._Element) -> list[Block]:
    for ci in xs.descendants(item, "ContentItem"):
        media = (_formal(xs.child(ci, "MediaType")) or "Text").lower()
        data = xs.child(ci, "DataContent")
        if media != "text" or data is None:
            continue
        blocks = _data_blocks(data, _formal(xs.child(ci, "Format")) or "")
        if hb.has_paragraph(blocks):
            return blocks
    return []


def _property(scope: etree._Element | None, name: str) -> list[str]:
    if scope is None:
        return []
    return [
        v
        for v in (
            xs.attr(p, "Value")
            for p in xs.descendants(scope, "Property")
            if xs.attr(p, "FormalName") == name
        )
        if v
    ]


def parse_item(item: etree._Element) -> Draft:
    """Draft from one ``NewsItem``; the body may be empty (caller decides)."""
    ident = xs.child(item, "Identification", "NewsIdentifier")
    mgmt = xs.child(item, "NewsManagement")
    component = xs.child(item, "NewsComponent")
    lines = xs.first_descendant(component, "NewsLines") if component is not None else None
    described = (
        xs.first_descendant(component, "DescriptiveMetadata") if component is not None else None
    )
    extra: dict[str, str] = {}

    revision = xs.child(ident, "RevisionId")
    version = fields.to_int(opt_inline(xs.text(revision)), "RevisionId")

    first = opt_inline(xs.text(xs.child(mgmt, "FirstCreated")))
    stamp = fields.first_stamp(
        (
            ("ThisRevisionCreated", opt_inline(xs.text(xs.child(mgmt, "ThisRevisionCreated")))),
            ("DateId", opt_inline(xs.text(xs.child(ident, "DateId")))),
            ("FirstCreated", first),
        )
    )
    if first:
        fields.when(first, "FirstCreated")
        extra["first_created"] = first
    public_id = opt_inline(xs.text(xs.child(ident, "PublicIdentifier")))
    if public_id:
        extra["public_identifier"] = public_id

    headline = opt_inline(xs.text(xs.child(lines, "HeadLine")))
    sub = opt_inline(xs.text(xs.child(lines, "SubHeadLine")))
    if sub:
        extra["subheadline"] = sub

    located, dl_agency = fields.dateline(xs.text(xs.child(lines, "DateLine")))
    if located is None:
        cities = _property(described, "City")
        located = cities[0] if cities else None

    lang = fields.language_tag(_formal(xs.child(described, "Language")))
    if lang is None:
        lang = fields.language_tag(xs.xml_lang(item)) or fields.language_tag(
            xs.xml_lang(xs.child(lines, "HeadLine"))
        )

    urgency = fields.urgency(_formal(xs.child(mgmt, "Urgency")))
    if urgency is None:
        envelope = item.getparent()
        urgency = fields.urgency(
            _formal(xs.child(xs.child(envelope, "NewsEnvelope"), "Priority"))
            if envelope is not None
            else None
        )

    flags: list[str] = []
    status = (_formal(xs.child(mgmt, "Status")) or "").lower()
    if status:
        extra["pubstatus"] = status
    if status in fields.CANCELED_STATUSES:
        flags.append("canceled")
    provider_party = (
        _formal(xs.first_descendant(component, "Party")) if component is not None else None
    )
    if provider_party:
        extra["provider"] = provider_party

    return Draft(
        format=NAME,
        body=_body(item),
        agency=opt_inline(xs.text(xs.child(ident, "ProviderId"))) or provider_party,
        agency_id=opt_inline(xs.text(xs.child(ident, "NewsItemId"))),
        version=version,
        date=stamp.date,
        datetime=stamp.datetime,
        date_source=stamp.source,
        slugline=opt_inline(xs.text(xs.child(lines, "SlugLine"))),
        located=located,
        dateline_agency=dl_agency,
        headline=headline,
        flags=flags,
        language=lang,
        byline=opt_inline(xs.text(xs.child(lines, "ByLine"))),
        urgency=urgency,
        keywords=clean_unique(_property(described, "Keyword")),
        extra=extra,
    )


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse a NewsML 1.2 document into the draft of its first ``NewsItem``."""
    root = xs.load(raw, declared_encoding=hints.declared_encoding)
    top = xs.local(root)
    if top == "NewsItem":
        item: etree._Element | None = root
    elif top == "NewsML":
        item = xs.child(root, "NewsItem")
    else:
        raise ParseError(Reason.MALFORMED_XML, f"root element is {top!r}, not NewsML")
    if item is None:
        raise ParseError(Reason.MISSING_BODY, "NewsML document holds no NewsItem")
    draft = parse_item(item)
    hb.require_body(draft.body, draft.flags, "NewsML item has no text content")
    return draft
