"""IPTC NewsML-G2 text items (``newsItem``), bare or inside a ``newsMessage``.

A ``newsMessage`` may carry several items (AP batches three stories, Reuters
and BusinessDesk add package items). One record must yield one story, so we
take the **first** ``newsItem`` that is a text item (``itemClass`` ending in
``:text``) or, failing that, the first ``newsItem`` with inline content; the
number of items is kept in ``extra["items_in_message"]`` so an operator can
see that a batch was truncated. A message with only a ``packageItem``, an
item with only ``remoteContent`` and a picture/video/graphic item carry no
story text by design: ``by_reference``; an empty text item is ``missing_body``.

Identity: ``guid`` is the agency id and ``@version`` the version. Reuters
versions are large opaque integers (978556838 then 1542761538 for the same
guid) but they do increase, which is all the dedup core relies on.

A canceled item (``pubStatus stat:canceled``: Reuters sends a kill as a new
version with an empty body) is returned *with* an empty body and the flag
``canceled`` instead of ``missing_body``, so the decision whether a kill
becomes an event stays with finish()/the pipeline rather than being lost here.

Flags (vocabulary shared with the text parser): ``sig:correction`` /
``sig:update`` signals, Reuters-style markers in the slugline and headline
(``(UPDATE 1, PIX, CORRECTED)``, ``CORRECTED-``, ``REFILE-``), AP
``Ld-Writethru`` sluglines, and edNotes that say "correct"/"update".
"""

from __future__ import annotations

import re
from typing import Final

from lxml import etree

from consumer.errors import ParseError, Reason
from consumer.formats import fields
from consumer.formats import html_body as hb
from consumer.formats import nitf as nitf_format
from consumer.formats import xmlsafe as xs
from consumer.formats.base import Draft, Hints
from consumer.model import Block
from consumer.text import clean_inline, clean_unique, opt_inline

NAME: Final = "newsml_g2"
NAR_NS: Final = "http://iptc.org/std/nar/2006-10-01/"

_ROOTS: Final = frozenset({"newsItem", "newsMessage", "packageItem"})

_SIGNALS: Final = {
    "correction": "correction",
    "corrected": "correction",
    "update": "update",
    "repeat": "repeat",
    "refile": "repeat",
    "roundup": "roundup",
    "wrapup": "roundup",
}
_MARKER_RE: Final = re.compile(
    r"\b(CORRECTED|CORRECTION|UPDATE\s*\d*|REFILE|REPEAT|WRAPUP\s*\d*|ROUNDUP|"
    r"\d+(?:st|nd|rd|th)\s+Ld-Writethru|Writethru)\b",
    re.IGNORECASE,
)
_EDNOTE_CORRECTION_RE: Final = re.compile(
    r"\b(correct(?:s|ed|ion|ing)?|berichtigung|korrektur|rectifi\w*)\b", re.IGNORECASE
)
_EDNOTE_UPDATE_RE: Final = re.compile(
    r"\b(updates?|updated|adds|writethru|aktualisiert\w*|neufassung)\b", re.IGNORECASE
)


def sniff(head: bytes) -> bool:
    """Root ``newsItem``/``newsMessage``/``packageItem`` (camelCase: NewsML 1.2 is ``NewsML``)."""
    name, _ = xs.root_name(head)
    return name in _ROOTS


def _marker_flags(*texts: str | None) -> list[str]:
    flags: list[str] = []
    for t in texts:
        if not t:
            continue
        for m in _MARKER_RE.finditer(t):
            word = m.group(1).lower()
            if "writethru" in word or word.startswith("update"):
                flag = "update"
            elif word.startswith(("corrected", "correction")):
                flag = "correction"
            elif word.startswith("wrapup") or word == "roundup":
                flag = "roundup"
            else:
                flag = "repeat"
            if flag not in flags:
                flags.append(flag)
    return flags


def _qcode_tail(el: etree._Element | None) -> str | None:
    q = xs.attr(el, "qcode")
    if q is None:
        return None
    return q.rpartition(":")[2] or None


def _name(el: etree._Element | None) -> str | None:
    """A concept's label: its first ``name`` child, else ``literal``, else its own text.

    ``name`` first because dpa uses ``literal`` as an internal reference id.
    """
    if el is None:
        return None
    return (
        opt_inline(xs.text(xs.child(el, "name"))) or xs.attr(el, "literal") or opt_inline(el.text)
    )


def _pick_item(root: etree._Element) -> tuple[etree._Element, int]:
    top = xs.local(root)
    if top == "newsItem":
        return root, 1
    items = list(xs.descendants(root, "newsItem")) if top == "newsMessage" else []
    if not items:
        if top == "packageItem" or xs.first_descendant(root, "packageItem") is not None:
            raise ParseError(
                Reason.BY_REFERENCE, f"NewsML-G2 {top} holds a package: its items come separately"
            )
        raise ParseError(Reason.MISSING_BODY, f"NewsML-G2 {top} holds no newsItem")
    for it in items:
        cls = xs.attr(xs.child(it, "itemMeta", "itemClass"), "qcode") or ""
        if cls.endswith(":text"):
            return it, len(items)
    for it in items:
        cs = xs.child(it, "contentSet")
        if xs.child(cs, "inlineXML") is not None or xs.child(cs, "inlineData") is not None:
            return it, len(items)
    return items[0], len(items)


def _inline_xml_blocks(inline: etree._Element) -> list[Block]:
    for c in inline:
        name = xs.local(c)
        if name == "nitf":
            return nitf_format.body_blocks(c)
        if name == "html":
            return hb.blocks_from_element(xs.child(c, "body"))
    return hb.blocks_from_element(inline)


def _body(item: etree._Element) -> list[Block]:
    """Blocks of the first inline rendition that has text.

    ``inlineXML`` holds NITF or XHTML; ``inlineData`` holds text, which ANSA
    fills with HTML-ish ``<p>`` markup and indented paragraphs although it
    says ``text/plain``, so markup in text is stripped before splitting.
    """
    cs = xs.child(item, "contentSet")
    if cs is None:
        return []
    for c in cs:
        name = xs.local(c)
        if name == "inlineXML":
            blocks = _inline_xml_blocks(c)
        elif name == "inlineData":
            data = xs.text(c)
            ctype = (xs.attr(c, "contenttype") or "").lower()
            if "html" in ctype:
                blocks = hb.blocks_from_html(data)
            elif "<" in data:
                doc = hb.parse_html(data)
                body = xs.child(doc, "body") if doc is not None else None
                plain = "\n".join(xs.itertext(body)) if body is not None else data
                blocks = hb.blocks_from_text(plain)
            else:
                blocks = hb.blocks_from_text(data)
        else:
            continue
        if hb.has_paragraph(blocks):
            return blocks
    return []


def _headline(
    content_meta: etree._Element | None, item_meta: etree._Element | None
) -> tuple[str | None, str | None]:
    main: str | None = None
    sub: str | None = None
    if content_meta is not None:
        for h in xs.children(content_meta, "headline"):
            role = (xs.attr(h, "role") or "").lower()
            value = opt_inline(xs.text(h))
            if value is None:
                continue
            if "sub" in role:
                sub = sub or value
            elif main is None:
                main = value
    if main is None:
        main = opt_inline(xs.text(xs.child(item_meta, "title")))
    return main, sub


def _inline_meta(item: etree._Element) -> tuple[str | None, str | None]:
    """Headline and byline from the inline NITF/XHTML, for items whose metadata lacks them.

    BusinessDesk (scoop.xml) puts its headline only in the NITF ``title``.
    """
    inline = xs.child(item, "contentSet", "inlineXML")
    if inline is None:
        return None, None
    for c in inline:
        name = xs.local(c)
        if name == "nitf":
            body_head = xs.child(c, "body", "body.head")
            headline = opt_inline(xs.text(xs.child(body_head, "hedline", "hl1")))
            headline = headline or opt_inline(xs.text(xs.child(c, "head", "title")))
            return headline, nitf_format.byline_of(xs.child(body_head, "byline"))
        if name == "html":
            return opt_inline(xs.text(xs.child(c, "head", "title"))), None
    return None, None


def parse_item(item: etree._Element) -> Draft:
    """Draft from one ``newsItem`` element; the body may be empty (caller decides)."""
    item_meta = xs.child(item, "itemMeta")
    content_meta = xs.child(item, "contentMeta")
    extra: dict[str, str] = {}

    guid = xs.attr(item, "guid")
    version = fields.to_int(xs.attr(item, "version"), "newsItem@version")

    first = opt_inline(xs.text(xs.child(item_meta, "firstCreated")))
    stamp = fields.first_stamp(
        (
            ("versionCreated", opt_inline(xs.text(xs.child(item_meta, "versionCreated")))),
            ("contentModified", opt_inline(xs.text(xs.child(content_meta, "contentModified")))),
            ("firstCreated", first),
            ("contentCreated", opt_inline(xs.text(xs.child(content_meta, "contentCreated")))),
        )
    )
    if stamp.local:
        extra["datetime_local"] = stamp.local
    if first:
        fields.when(first, "firstCreated")  # validates; kept verbatim
        extra["first_created"] = first

    provider = xs.child(item_meta, "provider")
    pq = xs.attr(provider, "qcode") or ""
    rights_holder = xs.child(item, "rightsInfo", "copyrightHolder")
    agency = (
        (_qcode_tail(provider) if pq.startswith("nprov:") else None)
        or xs.attr(provider, "literal")
        or opt_inline(xs.text(xs.child(provider, "name")))
        or _name(rights_holder)
    )

    headline, subheadline = _headline(content_meta, item_meta)
    if subheadline:
        extra["subheadline"] = subheadline
    byline = opt_inline(xs.text(xs.child(content_meta, "by")))
    if headline is None or byline is None:
        inline_headline, inline_byline = _inline_meta(item)
        headline = headline or inline_headline
        byline = byline or inline_byline
    slug = opt_inline(xs.text(xs.child(content_meta, "slugline")))

    located, dl_agency = fields.dateline(xs.text(xs.child(content_meta, "dateline")))
    if located is None:
        located = _name(xs.child(content_meta, "located"))

    lang = fields.language_tag(
        xs.attr(xs.child(content_meta, "language"), "tag") or xs.xml_lang(item)
    )

    keywords = clean_unique(
        [xs.text(k) for k in xs.children(content_meta, "keyword")]
        + [n for n in (_name(s) for s in xs.children(content_meta, "subject")) if n]
        if content_meta is not None
        else []
    )

    flags: list[str] = []
    update_note: str | None = None
    for sig in xs.children(item_meta, "signal") if item_meta is not None else ():
        q = (xs.attr(sig, "qcode") or "").lower()
        scheme, _, code = q.partition(":")
        if scheme == "sig" and code in _SIGNALS and _SIGNALS[code] not in flags:
            flags.append(_SIGNALS[code])
    notes: list[str] = []
    signature: str | None = None
    for n in xs.children(item_meta, "edNote") if item_meta is not None else ():
        role = (xs.attr(n, "role") or "").lower()
        note = clean_inline(xs.text(n))
        if not note:
            continue
        if role.endswith(":closingline"):
            # dpa's editor signature ("dpa pre yyhe n1 deg"), like the 7901 trailer
            signature = signature or note
        elif xs.child(n, "section") is not None:
            pass  # dpa's rendered notepad: a copy of the other edNotes
        elif "nonpublic" in (xs.attr(n, "pubconstraint") or "").lower():
            pass  # internal contacts, not to be republished
        else:
            notes.append(note)
    if notes:
        extra["ednote"] = " | ".join(notes)
    for note in notes:
        for pattern, flag in ((_EDNOTE_CORRECTION_RE, "correction"), (_EDNOTE_UPDATE_RE, "update")):
            if pattern.search(note):
                update_note = update_note or note
                if flag not in flags:
                    flags.append(flag)
    for f in _marker_flags(slug, headline):
        if f not in flags:
            flags.append(f)
    status = (xs.attr(xs.child(item_meta, "pubStatus"), "qcode") or "").rpartition(":")[2]
    if status:
        extra["pubstatus"] = status.lower()
    if status.lower() in fields.CANCELED_STATUSES:
        flags.append("canceled")

    return Draft(
        format=NAME,
        body=_body(item),
        agency=agency,
        agency_id=guid,
        version=version,
        date=stamp.date,
        datetime=stamp.datetime,
        date_source=stamp.source,
        located=located,
        dateline_agency=dl_agency,
        headline=headline,
        flags=flags,
        update_note=update_note,
        slugline=slug,
        language=lang,
        byline=byline,
        signature=signature,
        urgency=fields.urgency(opt_inline(xs.text(xs.child(content_meta, "urgency")))),
        keywords=keywords,
        extra=extra,
    )


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse a NewsML-G2 document into the draft of its first text item."""
    root = xs.load(raw, declared_encoding=hints.declared_encoding)
    if xs.local(root) not in _ROOTS:
        raise ParseError(Reason.MALFORMED_XML, f"root element is {xs.local(root)!r}")
    item, count = _pick_item(root)
    draft = parse_item(item)
    if count > 1:
        draft.extra["items_in_message"] = str(count)
    hb.require_body(
        draft.body, draft.flags, "NewsML-G2 item has no inline text", by_reference=_reference(item)
    )
    return draft


def _reference(item: etree._Element) -> str | None:
    """Why an item carries no inline text by design, or None (then an empty item is broken)."""
    cls = (xs.attr(xs.child(item, "itemMeta", "itemClass"), "qcode") or "").rpartition(":")[2]
    if cls and cls != "text":
        return f"NewsML-G2 {cls} item: no text of its own"
    cs = xs.child(item, "contentSet")
    if xs.child(cs, "remoteContent") is not None and xs.child(cs, "inlineXML") is None and (
        xs.child(cs, "inlineData") is None
    ):
        return "NewsML-G2 item delivers its content by reference (remoteContent)"
    return None
