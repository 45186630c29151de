"""IPTC ninjs (News in JSON) 1.x, 2.x and 3.x text items.

The three major versions name the same things differently: 1.x has flat
``headline``/``body_html``/``body_text``/``byline``/``subject``; 2.x moves to
``headlines[]``/``bodies[]``/``by``/``subjects[]``; 3.x keeps that but
camel-cases every key (``versionCreated``, ``copyrightHolder``,
``contentType``). Keys are therefore looked up case-insensitively and each
concept tries its 1.x name, then its 2.x/3.x array.

Distribution APIs wrap items: the AP Media API as ``{"data": {"item": {...}}}``
and BBC's feed as ``{"item": [{...}]}``. Those two shapes are unwrapped (first
item only, as for NewsML messages) because they are ninjs on the inside; any
other JSON is left to the generic JSON envelope parser, which is why
:func:`sniff` insists on keys that only ninjs uses.

An HTML body is preferred to a text body when both exist: the IPTC examples
ship the same story as one unbroken ``body_text`` line and as ``<p>``s, and
only the markup keeps the paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

import orjson

from consumer.errors import ParseError, Reason
from consumer.formats import fields, generic_json
from consumer.formats import html_body as hb
from consumer.formats.base import Draft, Hints
from consumer.model import Block
from consumer.text import clean_unique, decode, opt_inline

NAME: Final = "ninjs"

# Keys that only ninjs uses (lower-cased); generic JSON envelopes use
# "headline"/"body"/"id" too, so those do not count.
_NINJS_KEYS: Final = frozenset(
    {
        "versioncreated",
        "firstcreated",
        "pubstatus",
        "body_html",
        "body_text",
        "body_xhtml",
        "bodies",
        "headlines",
        "copyrightholder",
        "copyrightnotice",
        "usageterms",
        "embargoed",
        "embargoeduntil",
        "descriptions",
        "description_text",
        "description_html",
    }
)
_KEY_RE: Final = re.compile(rb'"([A-Za-z_]{2,20})"\s*:')
_HTML_TYPES: Final = ("html", "xhtml", "xml")


def sniff(head: bytes) -> bool:
    """A JSON object whose first bytes show a key that only ninjs uses.

    Keys are matched anywhere in the head, not only at the top level, so the
    API wrappers handled by :func:`parse` are recognised too. The claim is
    deliberately a superset of what ``generic_json.sniff`` refuses (it checks
    the same ``generic_json.NINJS_MARKERS`` first): every JSON object is
    claimed by one of the two, so none falls through to ``unknown_format``.
    """
    if generic_json.OBJECT_START.match(head) is None:
        return False
    if any(marker in head for marker in generic_json.NINJS_MARKERS):
        return True
    keys = {k.decode("ascii").lower() for k in _KEY_RE.findall(head)}
    return bool(keys & _NINJS_KEYS)


class _Obj:
    """Case-insensitive, type-checked view of one JSON object."""

    def __init__(self, data: Mapping[str, object], where: str = "") -> None:
        self._data: dict[str, object] = {}
        for k, v in data.items():
            self._data.setdefault(k.lower(), v)
        self._where = where

    def raw(self, key: str) -> object:
        return self._data.get(key.lower())

    def has(self, key: str) -> bool:
        return self.raw(key) is not None

    def text(self, key: str) -> str | None:
        v = self.raw(key)
        if v is None:
            return None
        if not isinstance(v, str):
            raise ParseError(
                Reason.INVALID_FIELD,
                f"{self._where}{key}: expected a string, got {type(v).__name__}",
            )
        return v

    def objects(self, key: str) -> list[_Obj]:
        """A list of objects (``headlines``, ``subjects``...); a single object is a list of one."""
        v = self.raw(key)
        if v is None:
            return []
        items = [v] if isinstance(v, dict) else v
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ParseError(
                Reason.INVALID_FIELD, f"{self._where}{key}: expected a list of objects"
            )
        return [_Obj(i, f"{self._where}{key}[].") for i in items]

    def strings(self, key: str) -> list[str]:
        v = self.raw(key)
        if v is None:
            return []
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ParseError(
                Reason.INVALID_FIELD, f"{self._where}{key}: expected a list of strings"
            )
        return list(items)


def _load(raw: bytes, hints: Hints) -> object:
    """JSON value of the record: ``malformed_json`` if bad syntax, ``undecodable`` if bad bytes."""
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raise ParseError(Reason.MALFORMED_JSON, f"invalid JSON: {str(exc)[:160]}") from None
    # Not UTF-8: accept a declared legacy charset, as the text formats do.
    text, _codec = decode(body, hints.declared_encoding)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ParseError(Reason.MALFORMED_JSON, f"invalid JSON: {str(exc)[:160]}") from None


def _unwrap(value: object) -> _Obj:
    if not isinstance(value, dict):
        raise ParseError(Reason.INVALID_FIELD, "top-level JSON value is not an object")
    top = _Obj(value)
    if not any(top.has(k) for k in _NINJS_KEYS | {"uri", "guid", "headline"}):
        data = top.raw("data")
        inner = data.get("item") if isinstance(data, dict) else top.raw("item")
        if isinstance(inner, list) and inner:
            inner = inner[0]
        if isinstance(inner, dict):
            return _Obj(inner, "item.")
    return top


def _headline(item: _Obj) -> str | None:
    single = opt_inline(item.text("headline"))
    if single:
        return single
    heads = item.objects("headlines")
    for h in heads:
        if (h.text("role") or "main").lower() == "main" and opt_inline(h.text("value")):
            return opt_inline(h.text("value"))
    for h in heads:
        value = opt_inline(h.text("value"))
        if value:
            return value
    return None


def _body(item: _Obj) -> list[Block]:
    for key in ("body_html", "body_xhtml"):
        blocks = hb.blocks_from_html(item.text(key))
        if hb.has_paragraph(blocks):
            return blocks
    bodies = item.objects("bodies")
    ranked = sorted(
        bodies,
        key=lambda b: (
            0 if any(t in (b.text("contenttype") or "").lower() for t in _HTML_TYPES) else 1
        ),
    )
    for b in ranked:
        value = b.text("value")
        ctype = (b.text("contenttype") or "").lower()
        is_markup = any(t in ctype for t in _HTML_TYPES)
        blocks = hb.blocks_from_html(value) if is_markup else hb.blocks_from_text(value)
        if hb.has_paragraph(blocks):
            return blocks
    return hb.blocks_from_text(item.text("body_text"))


def _agency(item: _Obj) -> str | None:
    for key in ("provider", "copyrightholder", "source"):
        v = item.raw(key)
        if isinstance(v, dict):
            v = _Obj(v, f"{key}.").text("name")
        elif v is not None and not isinstance(v, str):
            raise ParseError(Reason.INVALID_FIELD, f"{key}: expected a string or object")
        name = opt_inline(v)
        if name:
            return name
    uri = item.text("uri") or ""
    if uri.lower().startswith(("http://", "https://")):
        return urlsplit(uri).hostname or None
    if uri.lower().startswith("urn:newsml:"):
        return uri.split(":")[2] or None
    return None


def _keywords(item: _Obj) -> list[str]:
    names = list(item.strings("keywords"))
    for key in ("subject", "subjects"):
        names.extend(n for n in (s.text("name") for s in item.objects(key)) if n)
    return clean_unique(names)


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse one ninjs document (or a supported API wrapper around one)."""
    item = _unwrap(_load(raw, hints))
    extra: dict[str, str] = {}

    stamp = fields.first_stamp(
        (name, item.text(name)) for name in ("versioncreated", "firstcreated", "contentcreated")
    )
    if stamp.local:
        extra["datetime_local"] = stamp.local
    first = item.text("firstcreated")
    if first:
        fields.when(first, "firstcreated")
        extra["first_created"] = first

    flags: list[str] = []
    status = (item.text("pubstatus") or "").lower()
    if status:
        extra["pubstatus"] = status
    if status in fields.CANCELED_STATUSES:
        flags.append("canceled")
    for sig in item.strings("signals"):
        s = sig.lower()
        for word, flag in (("correct", "correction"), ("update", "update")):
            if word in s and flag not in flags:
                flags.append(flag)
    ednote = opt_inline(item.text("ednote"))
    if ednote:
        extra["ednote"] = ednote

    located = opt_inline(item.text("located"))
    body = _body(item)
    draft = Draft(
        format=NAME,
        body=body,
        agency=_agency(item),
        agency_id=opt_inline(item.text("uri")) or opt_inline(item.text("guid")),
        version=fields.to_int(item.raw("version"), "version"),
        date=stamp.date,
        datetime=stamp.datetime,
        date_source=stamp.source,
        located=located,
        slugline=opt_inline(item.text("slugline")),
        headline=_headline(item),
        flags=flags,
        language=fields.language_tag(item.text("language")),
        byline=opt_inline(item.text("byline")) or opt_inline(item.text("by")),
        urgency=fields.urgency(item.raw("urgency")),
        keywords=_keywords(item),
        extra=extra,
    )
    hb.require_body(draft.body, flags, "ninjs item has no body text", by_reference=_reference(item))
    return draft


_MEDIA_TYPES: Final = frozenset({"picture", "graphic", "video", "audio", "composite", "component"})


def _reference(item: _Obj) -> str | None:
    """Why an item has no body by design: a media item, or links to renditions (AP Media API)."""
    kind = (item.text("type") or "").lower()
    if kind in _MEDIA_TYPES:
        return f"ninjs {kind} item: no text of its own"
    renditions = item.raw("renditions")
    if isinstance(renditions, dict) and renditions:
        return "ninjs item delivers its text as renditions by reference (href)"
    if item.has("associations"):
        return "ninjs item is a package of associations"
    return None
