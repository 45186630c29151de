"""IPTC 7901, the classic agency line format, as dpa sends it.

Byte layout of one message (see wire_fixtures/iptc7901_dpa, ``od -c``)::

    SOH eca062 4 i 211 ccccb   dpa 061 CRLF     service+number, priority, category,
                                                 word count, addressing, source, seq
    Germany-politics/ CRLF                       keywords, "/"-separated
    STX 1ST LEAD LF                              take keys (optional, one a line)
    Headline LF                                  headline
    By Manuel Schwarz, dpa = CRLF                byline (optional); "=" ends the header
    Munich (dpa) - Lede ...                      body: blank-line paragraphs, hard-wrapped
    # Notebook / * * * *                         notes not for publication: dropped
    dpa bwh bag                                  editor signature
    ETX 071341 GMT Okt 15                        transmission time (no year): kept in extra
    DEL LF DEL EOT

Several messages may arrive concatenated in one record; the first complete
one is the story (``extra["messages"]`` counts them) because a record is
one story in our pipeline. The charset is undeclared in the fixtures: the
"odd charset" sample is latin-1 (``M\\xfcller``), which the shared decoder
reads as cp1252.
"""

from __future__ import annotations

import re
from typing import Final

from consumer.errors import ParseError, Reason
from consumer.formats import dpa_afx
from consumer.formats.base import Draft, Hints
from consumer.text import clean, clean_line, decode

NAME: Final = "iptc7901"

_SNIFF: Final = re.compile(rb"[\r\n\x7f]{0,8}\x01[A-Za-z]{0,8}\d{1,8} \S ")
_HEADER: Final = re.compile(
    r"(?P<service>[A-Za-z]{0,8})(?P<number>\d{1,8}) (?P<priority>\S) (?P<category>\S{1,3})"
    r"(?: +(?P<words>\d{1,6}))?(?P<rest>[^\n]{0,120})"
)
_NOTES: Final = re.compile(r"^(?:#[ #]|\* \* \*|The following information is not)", re.MULTILINE)
_SIGNATURE: Final = re.compile(r"\n[ \t]*(?P<sig>dpa(?:[ ][a-z]{1,5}){1,8})[ \t]*\n*\Z")


def sniff(head: bytes) -> bool:
    """SOH, then a header ``<service><number> <priority> <category>``; not ANPA's SYN SYN SOH."""
    return _SNIFF.match(head) is not None


def _header(draft: Draft, line: str) -> None:
    m = _HEADER.match(line)
    if m is None:
        raise ParseError(Reason.MALFORMED_RECORD, "IPTC 7901: unreadable message header")
    draft.agency_id = f"{m.group('service')}{m.group('number')}"
    if m.group("priority").isdigit():
        draft.urgency = int(m.group("priority"))
    draft.extra["category"] = m.group("category")
    if m.group("words"):
        draft.extra["word_count_declared"] = m.group("words")
    tokens = m.group("rest").split()
    sources = [t for t in tokens if not t.isdigit()]
    if sources:
        draft.extra["service"] = sources[-1]
        draft.agency = sources[-1].split("-")[0]


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse the first message of an IPTC 7901 record."""
    text, codec = decode(raw, hints.declared_encoding)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    messages = [m for m in text.split("\x01") if "\x02" in m]
    if not messages:
        raise ParseError(Reason.MALFORMED_RECORD, "IPTC 7901: no SOH ... STX message")
    message = messages[0]
    draft = Draft(format=NAME, body=[])
    if len(messages) > 1:
        draft.extra["messages"] = str(len(messages))
    if codec != "utf-8":
        draft.extra["charset"] = codec

    pre, _, content = message.partition("\x02")
    header_line, _, keyword_part = pre.partition("\n")
    _header(draft, header_line.strip())
    draft.keywords = [k for k in (clean_line(k) for k in keyword_part.split("/")) if k]
    # the keyword line is 7901's slugline; its parts are the keywords
    draft.slugline = "/".join(draft.keywords) or None

    content, _, trailer = content.partition("\x03")
    trailer_line = clean_line(trailer.split("\n", 1)[0])
    if trailer_line:
        draft.extra["transmitted"] = trailer_line
    content = clean(content)

    # header block: up to the line ending in "=", or the first blank line
    head_lines: list[str] = []
    pos = 0
    while pos < len(content) and len(head_lines) < 12:
        nl = content.find("\n", pos)
        line = content[pos:] if nl < 0 else content[pos:nl]
        pos = len(content) if nl < 0 else nl + 1
        stripped = line.strip()
        if not stripped:
            if head_lines:
                break
            continue
        head_lines.append(stripped.rstrip("=").strip())
        if stripped.endswith("="):
            break
    head_lines = [h for h in head_lines if h]
    byline = next((h for h in head_lines if h.lower().startswith("by ")), None)
    if byline is not None:
        draft.byline = byline[3:].strip()
        head_lines.remove(byline)
    if head_lines:
        draft.headline = head_lines[-1]
        flags, level = dpa_afx.take_key_flags(head_lines[:-1])
        draft.flags.extend(flags)
        draft.roundup_level = level
        if len(head_lines) > 1:
            draft.extra["take_keys"] = " / ".join(head_lines[:-1])

    body = content[pos:]
    sig = _SIGNATURE.search(body[-200:])
    if sig is not None:
        draft.signature = sig.group("sig")
        draft.signature_codes = sig.group("sig").split()[1:]
        body = body[: len(body) - len(body[-200:]) + sig.start()]
    notes = _NOTES.search(body)
    if notes is not None:
        body = body[: notes.start()]
    if not body.strip():
        raise ParseError(Reason.MISSING_BODY, "IPTC 7901: the message has no body text")
    return dpa_afx.parse_text(body.strip("\n"), draft)
