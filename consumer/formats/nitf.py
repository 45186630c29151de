"""NITF (News Industry Text Format) XML, as sent by AAP, AP, EFE, NTB, PA.

Where NITF offers several homes for one fact, the order below follows what
the agencies actually fill in (see the fixtures): the agency comes from
``doc-id@regsrc`` (AP, NTB), then ``doc.rights@owner`` (AAP's short code),
then the copyright holder (PA), then ``rights.owner``/``distributor`` (EFE).
The dateline's place comes from the visible dateline (``location``/``city``
or its text), falling back to ``docdata/evloc@city`` (EFE carries its
dateline only as a date).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from consumer.errors import ParseError, Reason
from consumer.formats import fields
from consumer.formats import html_body as hb
from consumer.formats import xmlsafe as xs
from consumer.formats.base import Draft, Hints
from consumer.model import Block
from consumer.text import clean_inline, clean_unique, opt_inline

NAME: Final = "nitf"


def sniff(head: bytes) -> bool:
    """Root element ``nitf``, whatever its namespace (AP's is the 2006 NITF URI)."""
    name, _ = xs.root_name(head)
    return name == "nitf"


def body_blocks(nitf: etree._Element) -> list[Block]:
    """Blocks of ``body/body.content`` (``body.head`` is metadata, not story text)."""
    content = xs.first_descendant(nitf, "body.content")
    return hb.blocks_from_element(content)


def byline_of(el: etree._Element | None) -> str | None:
    """Byline text without ``byttl`` (the writer's title); parts space-joined.

    Space-joined because agencies nest the name without separating whitespace
    (BusinessDesk: ``By<person>Staff Reporter</person>``).
    """
    if el is None:
        return None
    parts: list[str] = [el.text or ""]
    for c in el:
        if xs.local(c) != "byttl":
            parts.append(xs.text(c))
        parts.append(c.tail or "")
    return opt_inline(" ".join(parts))


def _place(
    body_head: etree._Element | None, docdata: etree._Element | None
) -> tuple[str | None, str | None]:
    dl = xs.child(body_head, "dateline")
    place: str | None = None
    agency: str | None = None
    if dl is not None:
        loc = xs.first_descendant(dl, "city")
        if loc is None:
            loc = xs.first_descendant(dl, "location")
        if loc is not None:
            place = opt_inline(xs.text(loc))
        else:
            # text of the dateline minus story.date (a machine timestamp)
            parts = [dl.text or ""]
            for c in dl:
                if xs.local(c) != "story.date":
                    parts.append(xs.text(c))
                parts.append(c.tail or "")
            place, agency = fields.dateline(" ".join(parts))
    if place is None:
        place = xs.attr(xs.child(docdata, "evloc"), "city")
    return place, agency


def parse_root(root: etree._Element, *, fmt: str = NAME) -> Draft:
    """Draft from a parsed ``nitf`` element (also used for NITF inside NewsML wrappers)."""
    head = xs.child(root, "head")
    docdata = xs.child(head, "docdata")
    body_head = xs.child(root, "body", "body.head")

    doc_id = xs.child(docdata, "doc-id")
    agency = (
        xs.attr(doc_id, "regsrc")
        or xs.attr(xs.child(docdata, "doc.rights"), "owner")
        or xs.attr(xs.child(docdata, "doc.copyright"), "holder")
        or opt_inline(xs.text(xs.child(body_head, "rights", "rights.owner")))
        or opt_inline(xs.text(xs.child(body_head, "distributor")))
    )

    stamp = fields.first_stamp(
        (
            ("date.issue", xs.attr(xs.child(docdata, "date.issue"), "norm")),
            ("date.release", xs.attr(xs.child(docdata, "date.release"), "norm")),
            ("date.publication", xs.attr(xs.child(head, "pubdata"), "date.publication")),
            ("story.date", xs.attr(xs.child(body_head, "dateline", "story.date"), "norm")),
        )
    )

    headline = opt_inline(xs.text(xs.child(body_head, "hedline", "hl1"))) or opt_inline(
        xs.text(xs.child(head, "title"))
    )
    located, dateline_agency = _place(body_head, docdata)
    du_key = xs.child(docdata, "du-key")
    version = fields.to_int(xs.attr(du_key, "version"), "du-key@version")
    lang = _language(root, head)
    keywords = (
        clean_unique(
            kw
            for kw in (xs.attr(k, "key") for k in xs.descendants(docdata, "keyword"))
            if kw is not None
        )
        if docdata is not None
        else []
    )

    extra: dict[str, str] = {}
    ed_msg = xs.attr(xs.child(docdata, "ed-msg"), "info")
    if ed_msg:
        extra["ednote"] = clean_inline(ed_msg)
    abstract = opt_inline(xs.text(xs.child(body_head, "abstract")))
    if abstract:
        extra["abstract"] = abstract
    if stamp.local:
        extra["datetime_local"] = stamp.local

    status = xs.attr(docdata, "management-status")
    flags: list[str] = []
    if status is not None and status.lower() in fields.CANCELED_STATUSES:
        flags.append("canceled")

    return Draft(
        format=fmt,
        body=body_blocks(root),
        agency=agency,
        agency_id=xs.attr(doc_id, "id-string"),
        version=version,
        date=stamp.date,
        datetime=stamp.datetime,
        date_source=stamp.source,
        located=located,
        dateline_agency=dateline_agency,
        headline=headline,
        flags=flags,
        language=lang,
        byline=byline_of(xs.child(body_head, "byline")),
        urgency=fields.urgency(xs.attr(xs.child(docdata, "urgency"), "ed-urg")),
        keywords=keywords,
        slugline=xs.attr(du_key, "key"),
        extra=extra,
    )


def _language(root: etree._Element, head: etree._Element | None) -> str | None:
    """The declared language: ``xml:lang``/``lang``/``baselang`` on the root, body or
    ``body.content``, else a ``<meta name="language">`` in the head."""
    body = xs.child(root, "body")
    for el in (root, body, xs.child(body, "body.content")):  # direct children: no tree walk
        tag = fields.language_tag(
            xs.xml_lang(el) or xs.attr(el, "lang") or xs.attr(el, "baselang")
        )
        if tag:
            return tag
    for meta in xs.children(head, "meta") if head is not None else ():
        if (xs.attr(meta, "name") or "").lower() in ("language", "lang", "dc.language"):
            tag = fields.language_tag(xs.attr(meta, "content"))
            if tag:
                return tag
    return None


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse one NITF document; ``missing_body`` when ``body.content`` has no paragraph."""
    root = xs.load(raw, declared_encoding=hints.declared_encoding)
    if xs.local(root) != "nitf":
        raise ParseError(Reason.MALFORMED_XML, f"root element is {xs.local(root)!r}, not nitf")
    draft = parse_root(root)
    hb.require_body(draft.body, draft.flags, "NITF body.content has no text")
    return draft
