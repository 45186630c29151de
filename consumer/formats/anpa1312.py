"""ANPA-1312, the AP wire format (see wire_fixtures/anpa1312, ``od -c``).

Byte layout::

    SYN SYN SOH W2870 US asian LF               service level + story number, US, selector
    f l DC3 DC1 BC-LT--Argentina-CancerB  11-13 1049 LF
        priority, category, format id (DC3 DC1 text / DC4 DC2 tabular), slug,
        take key ("1stLd-Writethru"), month-day, word count
    STX ^BC-LT--Argentina-Cancer Beauty,466<    header lines start with a literal "^"
    ^For Argentine chemo patients ... <         headline; then "^AP Photo ...",
    ^Eds: ...< ^By NAME= ^Associated Press=     editor's note, byline, byline title
    TAB "   BUENOS AIRES, Argentina (AP) _ ..."  body: one paragraph a TAB line
    TAB "   " ETX AP-WF-11-13-13 1509GMT<       ETX, then the transmission time (UTC)
    FF EOT

``<`` and ``=`` end lines (quad left / centre) and are dropped. When a story
has no TAB body lines (lists, headline packages), the header lines after the
headline are its body. Tabular stories keep each row as one paragraph, with
the TTS control bytes removed.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from consumer.errors import ParseError, Reason
from consumer.formats import dpa_afx
from consumer.formats.base import Draft, Hints
from consumer.text import clean, decode

NAME: Final = "anpa1312"

_SNIFF: Final = re.compile(rb"\x16{0,4}\x01[A-Za-z]\d{4}\x1f")
_HEADER1: Final = re.compile(
    r"\x16{0,4}\x01(?P<level>[A-Za-z])(?P<number>\d{4})\x1f(?P<sel>\S{0,20})"
)
_HEADER2: Final = re.compile(
    r"(?P<priority>[A-Za-z]) (?P<category>[A-Za-z])(?P<fmt>[\x13\x14][\x11\x12]) ?"
    r"(?P<slug>\S{1,60})(?P<take>[^\n]{0,60}?) +(?P<month>\d{1,2})-(?P<day>\d{1,2})"
    r"(?: +(?P<words>\d{1,5}))?"
)
_TRAILER: Final = re.compile(
    r"(?P<agency>[A-Za-z]{1,6})-(?P<desk>[A-Za-z]{1,6})-(?P<m>\d{2})-(?P<d>\d{2})-(?P<y>\d{2}) "
    r"(?P<hh>\d{2})(?P<mm>\d{2}) ?GMT"
)
_PRIORITY: Final = {"f": 1, "b": 2, "u": 3, "r": 5, "s": 5, "z": 5, "d": 6, "a": 8}
_RULE: Final = re.compile(r"[_\-=* ]{3,}")
_BYLINE_TITLE: Final = re.compile(r"\b(?:Press|Writer|Correspondent|Editor|Reporter)\b", re.I)


def sniff(head: bytes) -> bool:
    """SYN SYN SOH, a service level letter, a 4-digit story number and US."""
    return _SNIFF.match(head) is not None


def _strip_markers(line: str) -> str:
    return line.strip().lstrip("^").rstrip("<=^ ").strip()


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse one ANPA-1312 story."""
    text, codec = decode(raw, hints.declared_encoding)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    draft = Draft(format=NAME, body=[])
    if codec != "utf-8":
        draft.extra["charset"] = codec
    pre, stx, content = text.partition("\x02")
    if not stx:
        raise ParseError(Reason.MALFORMED_RECORD, "ANPA-1312: no STX: the story has no text")
    lines = pre.split("\n")
    m1 = _HEADER1.match(lines[0])
    if m1 is None:
        raise ParseError(Reason.MALFORMED_RECORD, "ANPA-1312: unreadable first header line")
    draft.agency_id = f"{m1.group('level')}{m1.group('number')}"
    if m1.group("sel").strip("-"):
        draft.extra["selector"] = m1.group("sel")
    m2 = _HEADER2.match(lines[1]) if len(lines) > 1 else None
    if m2 is not None:
        draft.urgency = _PRIORITY.get(m2.group("priority").lower())
        draft.extra["category"] = m2.group("category")
        draft.extra["slug"] = m2.group("slug")
        take = m2.group("take").strip()
        if take:
            draft.extra["take_key"] = take
            draft.flags, draft.roundup_level = dpa_afx.take_key_flags([take])
        if m2.group("fmt") == "\x14\x12":
            draft.extra["tabular"] = "true"

    content, _, trailer = content.partition("\x03")
    t = _TRAILER.search(trailer[:200])
    if t is not None:
        draft.agency = t.group("agency").upper()
        try:
            draft.datetime = dt.datetime(
                2000 + int(t.group("y")), int(t.group("m")), int(t.group("d")),
                int(t.group("hh")), int(t.group("mm")), tzinfo=dt.UTC,
            )  # fmt: skip
            draft.date = draft.datetime.date()
            draft.date_source = "trailer"
        except ValueError:
            draft.extra["transmitted"] = t.group(0)

    # TTS control bytes inside lines (DLE space band, BS, RS, US) act as spaces
    content = clean(re.sub("[\x08\x10\x1e\x1f]+", " ", content))
    header: list[str] = []
    body: list[str] = []
    for line in content.split("\n"):
        if line.startswith("\t"):
            item = _strip_markers(line)
            if item and not _RULE.fullmatch(item):
                body.append(item)
        elif line.startswith("^"):
            item = _strip_markers(line)
            if not item or item == "END":
                continue
            (body if body else header).append(item)

    slug_line = header.pop(0) if header else None
    if slug_line:
        draft.keywords = [slug_line.rsplit("^", 1)[-1].split(",")[0]]
        draft.slugline = draft.keywords[0]
    rest: list[str] = []
    byline_seen = False
    for item in header:
        low = item.lower()
        if low.startswith(("ap photo", "eds:", "(eds:", "editor's note", "*")):
            key = "photos" if low.startswith("ap photo") else "ednote"
            draft.extra[key] = f"{draft.extra[key]} {item}" if key in draft.extra else item
        elif low.startswith("by "):
            draft.byline = item[3:].strip()
            byline_seen = True
        elif byline_seen and "byline_title" not in draft.extra and _BYLINE_TITLE.search(item):
            draft.extra["byline_title"] = item
        else:
            rest.append(item)
    if rest:
        draft.headline = rest.pop(0)
    if not body:
        body = rest  # lists and packages: their header lines are the content
    elif rest:
        draft.extra["abstract"] = " ".join(rest)
    if not body:
        raise ParseError(Reason.MISSING_BODY, "ANPA-1312: the story has no body text")
    return dpa_afx.parse_text("\n\n".join(body), draft)
