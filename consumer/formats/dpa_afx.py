"""dpa-AFX plain text, and agency wire text of the same shape.

The shape (see the seed story)::

    date 2026-01-03                      <- optional header, may share a line with the lede
    ROUNDUP 2/Headline (neu: Details)    <- optional headline line
                                         <- blank line(s)
    KIEW (dpa-AFX) - Lede paragraph ...  <- dateline, then the lede
    Paragraph ...                        <- paragraphs separated by blank lines
    Short subheading                     <- a lone short line without final punctuation
    Last sentence./mau/DP/he             <- editor signature, maybe glued to the text

The same code reads English wire copy (``LONDON, Jan 3 (Reuters) - ``,
``SALVADOR, Feb 26 - ``) whose paragraphs are hard-wrapped lines with
indented first lines, and it is the body reader of the framed formats
(IPTC 7901, ANPA-1312), which import the helpers below.

Text that decodes cleanly, looks like prose but carries no dateline is still a
story of format ``plain`` (the feed may strip datelines; rejecting would lose
real copy). Binary junk never gets that far: :func:`consumer.text.decode` and
:func:`consumer.text.looks_like_text` reject it.

Every regex here is applied to a bounded slice (a paragraph head or tail) and
has no nested unbounded quantifiers, so run time stays linear in the input.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final

from consumer.errors import ParseError, Reason
from consumer.formats.base import Draft, Hints
from consumer.formats.dateline import match as dateline_match
from consumer.model import Block
from consumer.text import collapse, collapse_clean, decode_clean, looks_like_text

NAME: Final = "dpa_afx"
PLAIN: Final = "plain"

_HEAD_SLICE: Final = 240  # characters of a paragraph a dateline may span
_TAIL_SLICE: Final = 120  # characters at the end of the body a signature may span
_MAX_HEADLINE: Final = 300
_MAX_SUBHEADING: Final = 120

_DATE_HEADER: Final = re.compile(
    r"[ \t]*date[ \t]+(\d{4})-(\d{2})-(\d{2})(?![\d-])[ \t]*\n?", re.IGNORECASE
)
# The same header on the raw bytes, for sniff(): a match here implies a match
# of _DATE_HEADER on the decoded text (ASCII pattern; no non-ASCII character
# case-folds to d, a, t or e), so most dpa-AFX records skip the decode.
_DATE_HEADER_BYTES: Final = re.compile(
    rb"[ \t]*date[ \t]+\d{4}-\d{2}-\d{2}(?![\d-])", re.IGNORECASE
)
# After final punctuation, whitespace or nothing; or glued to the last word
# when a dpa desk code (DP, dpa, AFX) is among the codes: ``...Statistiken/wdw/DP/mis``
# (no final punctuation). Without such a code a glued "word/word" is text (und/oder).
_SIGNATURE: Final = re.compile(
    r"(?:(?<=[.!?:;\"“”»«)\]'’])|[ \t\n]+|^"
    r"|(?<=[^\W\d_])(?=(?:/[A-Za-z0-9]{1,10}){0,4}/(?:DP|dP|DPA|dpa|AFX)"
    r"(?:/[A-Za-z0-9]{1,10}){1,4}/?[ \t\n]*$))"
    r"(?P<sig>(?:/[A-Za-z0-9]{1,10}){1,8})/?[ \t\n]*$"
)
_REUTER_SIGNOFF: Final = re.compile(r"\s*\b(REUTERS?|Reuters?)\s*$")
_BLANK_LINES: Final = re.compile(r"\n[ \t]*\n")
_FINAL_PUNCT: Final = frozenset(".!?:;,\"“”„»«'’)…-–")

# Headline prefixes, chained with "/" (``WDH/ROUNDUP 2/...``) or ended by ":".
_PREFIX: Final = re.compile(
    r"[ ]*(?:(?P<roundup>ROUNDUP)(?:[ ](?P<level>\d{1,2}))?"
    r"|(?P<repeat>WDH|WIEDERHOLUNG|REFILE|REPEAT)"
    r"|(?P<correction>KORREKTUR|BERICHTIGUNG|CORRECTED|CORRECTION)"
    r"|(?P<focus>AKTIE IM FOKUS|IM FOKUS)(?:[ ]\d{1,2})?"
    r"|(?P<overview>dpa-AFX-Überblick|dpa-AFX Überblick|ÜBERBLICK)"
    r"|(?P<urgent>EILMELDUNG|EIL|URGENT|FLASH))"
    r"[ ]*[/:][ ]*",
    re.IGNORECASE,
)
_NOTE: Final = re.compile(
    r"[ ]*\((?P<kind>neu|aktualisiert|berichtigt|berichtigung|korrektur|korrigiert"
    r"|wiederholung|updates?|corrects?)\b[: ]*(?P<note>[^()\n]{0,200})\)",
    re.IGNORECASE,
)
_NOTE_FLAG: Final = {
    "neu": "update",
    "aktualisiert": "update",
    "update": "update",
    "updates": "update",
    "berichtigt": "correction",
    "berichtigung": "correction",
    "korrektur": "correction",
    "korrigiert": "correction",
    "corrects": "correction",
    "correct": "correction",
    "wiederholung": "repeat",
}
_TAKE_KEY: Final = re.compile(
    r"(?P<lead>\d{1,2})(?:ST|ND|RD|TH)[ ]?(?:LEAD|LD)\b|(?P<refile>REFILE|WDH|REPEAT)\b"
    r"|(?P<correction>CORRECT\w*|KORREKTUR|BERICHTIGUNG)\b|(?P<urgent>URGENT|EILMELDUNG|FLASH)\b"
    r"|(?P<extra>EXTRA)\b|(?P<advisory>ACHTUNG|ADVISORY)\b|(?P<update>WRITETHRU|UPDATES?)\b",
    re.IGNORECASE,
)
_TAKE_FLAG: Final = {
    "refile": "repeat",
    "correction": "correction",
    "urgent": "urgent",
    "extra": "extra",
    "advisory": "advisory",
    "update": "update",
}


#: The dateline at the start of a paragraph (:func:`consumer.formats.dateline.match`).
match_dateline: Final = dateline_match


def split_signature(paragraph: str) -> tuple[str, str | None, list[str]]:
    """Split a trailing editor signature (``/mau/DP/he``) or Reuters sign-off off a paragraph."""
    cut = max(0, len(paragraph) - _TAIL_SLICE)
    tail = paragraph[cut:]
    # A signature match starts at its first "/" or at the whitespace run just
    # before it, so the regex (slow to scan: three alternatives at every
    # position) only needs to start there, and not at all without a "/".
    start = tail.find("/")
    m = None
    if start >= 0:
        while start and tail[start - 1] in " \t\n":
            start -= 1
        m = _SIGNATURE.search(tail, start)
    if m is not None:
        sig = m.group("sig")
        return paragraph[: cut + m.start()].rstrip(), sig, [c for c in sig.split("/") if c]
    m = _REUTER_SIGNOFF.search(tail)
    if m is not None:
        return paragraph[: cut + m.start()].rstrip(), m.group(1), []
    return paragraph, None, []


def headline_flags(headline: str) -> tuple[str, list[str], int | None, str | None]:
    """Strip agency prefixes and update notes off a headline; return them as flags.

    ``"WDH/ROUNDUP 2/Kiew: Gespräche (neu: Zitate)"`` gives headline
    ``"Kiew: Gespräche"``, flags ``["repeat", "roundup", "update"]``, level 2,
    update note ``"Zitate"``. Flag names are a stable, lowercase vocabulary.
    """
    flags: list[str] = []
    level: int | None = None
    note: str | None = None
    pos = 0
    # a prefix ends in "/" or ":", a note is in parentheses: without them the
    # (case-insensitive, slow to fail) regexes are skipped
    chained = "/" in headline or ":" in headline
    for _ in range(6 if chained else 0):  # a bounded chain of prefixes
        m = _PREFIX.match(headline, pos)
        if m is None:
            break
        kind = m.lastgroup if m.lastgroup != "level" else "roundup"
        if m.group("roundup"):
            kind = "roundup"
            level = int(m.group("level")) if m.group("level") else level
        if kind and kind not in flags:
            flags.append(kind)
        pos = m.end()
    rest = headline[pos:]
    n = _NOTE.search(rest[: _MAX_HEADLINE + 200]) if "(" in rest else None
    if n is not None:
        flag = _NOTE_FLAG.get(n.group("kind").lower(), "update")
        if flag not in flags:
            flags.append(flag)
        note = n.group("note").strip() or None
        rest = (rest[: n.start()] + rest[n.end() :]).strip()
    return rest.strip(), flags, level, note


def take_key_flags(keys: list[str]) -> tuple[list[str], int | None]:
    """Flags from framed-format take keys such as ``1ST LEAD``, ``REFILE``, ``1st Ld-Writethru``."""
    flags: list[str] = []
    level: int | None = None
    for key in keys:
        for m in _TAKE_KEY.finditer(key[:200]):
            if m.group("lead"):
                level = int(m.group("lead"))
                flag = "roundup"
            else:
                flag = _TAKE_FLAG[m.lastgroup or "update"]
            if flag not in flags:
                flags.append(flag)
    return flags, level


def split_paragraphs(text: str) -> list[tuple[str, bool]]:
    """Paragraphs in order, each collapsed to one line, with a flag "stood alone".

    Blocks are separated by blank lines. Inside a block, hard-wrapped lines
    are re-joined, and a line indented by whitespace starts a new paragraph
    (English wire copy marks paragraphs only by indentation). A block that is
    one single line "stands alone": only such blocks can be subheadings.
    ``text`` is :func:`consumer.text.clean` output, so a one-line block that is
    already single-spaced (the dpa-AFX norm) is kept without re-joining.
    """
    out: list[tuple[str, bool]] = []
    for block in _BLANK_LINES.split(text):
        if "\n" not in block:
            line = collapse_clean(block)
            if line:
                out.append((line, True))
            continue
        lines = [ln for ln in block.split("\n") if ln.strip()]
        current: list[str] = []
        for line in lines:
            if current and line[0] in " \t":
                out.append((collapse(" ".join(current)), False))
                current = []
            current.append(line)
        if current:
            out.append((collapse(" ".join(current)), len(lines) == 1))
    return out


def is_subheading(text: str) -> bool:
    """A short line without final punctuation: a subheading when it stands alone mid-body."""
    return (
        len(text) <= _MAX_SUBHEADING
        and text[-1] not in _FINAL_PUNCT
        and text.count(" ") < 15
        and not text.startswith(("-", "*", "#"))
    )


def _looks_like_headline(text: str) -> bool:
    return len(text) <= _MAX_HEADLINE and text[-1] not in ".!?,;"


def build_body(paragraphs: list[tuple[str, bool]]) -> list[Block]:
    """Paragraphs to body blocks: lone short lines between paragraphs become subheadings."""
    body: list[Block] = []
    last = len(paragraphs) - 1
    for i, (text, alone) in enumerate(paragraphs):
        if alone and 0 < i < last and is_subheading(text):
            body.append(Block("subheading", text))
        else:
            body.append(Block("paragraph", text))
    return body


def parse_text(text: str, draft: Draft) -> Draft:
    """Fill ``draft`` from cleaned wire text: date header, headline, dateline, body, signature.

    The headline is the first paragraph when it is a lone line of at most 300
    characters without sentence punctuation and the dateline (or, without a
    dateline, more text) follows it. ``draft.format`` becomes ``plain`` when
    the caller asked for ``dpa_afx`` and no dateline is found.
    """
    m = _DATE_HEADER.match(text)
    if m is not None:
        try:
            draft.date = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            draft.date_source = "date header"
        except ValueError:
            draft.extra["date_header"] = m.group(0).strip()
        text = text[m.end() :]
    paragraphs = split_paragraphs(text)
    if not paragraphs:
        raise ParseError(Reason.MISSING_BODY, "the story has no body text")

    start = 0
    dateline = match_dateline(paragraphs[0][0])
    known_headline = draft.headline is not None
    if dateline is None and len(paragraphs) > 1 and _looks_like_headline(paragraphs[0][0]):
        dateline = match_dateline(paragraphs[1][0])
        if known_headline and paragraphs[0][0] != draft.headline:
            dateline = None  # the framing gave the headline: never drop body text
        elif dateline is not None or (paragraphs[0][1] and not known_headline):
            start = 1
    elif (dateline is None and len(paragraphs) > 1 and paragraphs[0][1] and not known_headline
          and len(paragraphs[0][0]) <= _MAX_HEADLINE
          and (dateline := match_dateline(paragraphs[1][0])) is not None):
        # a lone line right before the dateline is the headline, even when it ends in
        # punctuation (a headline cut at a comma): the dateline starts the body
        start = 1
    elif dateline is None and not paragraphs[0][1] and not known_headline:
        # "HEADLINE\nPLACE (dpa-AFX) - ..." without a blank line: split it off
        first_line, _, rest = text.lstrip().partition("\n")
        head = collapse(first_line)
        rest_dl = match_dateline(collapse(rest)[:_HEAD_SLICE])
        if rest_dl is not None and _looks_like_headline(head):
            paragraphs[0] = (collapse(rest), False)
            paragraphs.insert(0, (head, True))
            dateline, start = rest_dl, 1
    if start == 1 and not known_headline:
        draft.headline = paragraphs[0][0]
    paragraphs = paragraphs[start:]
    if not paragraphs:
        raise ParseError(Reason.MISSING_BODY, "the story has a headline but no body text")

    draft.dateline_checked = True  # conventions.apply need not look again
    if dateline is not None:
        lede = paragraphs[0][0][dateline.end :].strip()
        draft.located = dateline.place
        draft.dateline_agency = dateline.agency
        if draft.agency is None:
            draft.agency = dateline.agency
        if dateline.month_day:
            draft.extra["dateline_date"] = dateline.month_day
        if lede:
            paragraphs[0] = (lede, False)
        else:
            paragraphs.pop(0)
    elif draft.format == NAME:
        draft.format = PLAIN

    if paragraphs:
        last, sig, codes = split_signature(paragraphs[-1][0])
        if sig is not None:
            draft.signature, draft.signature_codes = sig, codes
            if last:
                paragraphs[-1] = (last, paragraphs[-1][1])
            else:
                paragraphs.pop()
    if not paragraphs:
        raise ParseError(Reason.MISSING_BODY, "the story has no body text")

    if draft.headline is not None:
        headline, flags, level, note = headline_flags(draft.headline)
        draft.headline = headline or None
        draft.flags.extend(f for f in flags if f not in draft.flags)
        draft.roundup_level = level if level is not None else draft.roundup_level
        draft.update_note = note or draft.update_note
    draft.body = build_body(paragraphs)
    draft.body_clean = True  # collapsed pieces of clean() text: finish() need not redo it
    return draft


def sniff(head: bytes) -> bool:
    """A ``date`` header or a dateline on one of the first lines."""
    if _DATE_HEADER_BYTES.match(head[:2048].lstrip()):
        return True
    s = head[:2048].decode("utf-8", "replace")
    if _DATE_HEADER.match(s.lstrip()):
        return True
    lines = [ln.strip() for ln in s.split("\n")[:6] if ln.strip()]
    return any(match_dateline(ln) is not None for ln in lines[:3])


def parse(raw: bytes, hints: Hints) -> Draft:
    """Parse a plain-text story (``dpa_afx`` with a dateline, ``plain`` without)."""
    text, codec = decode_clean(raw, hints.declared_encoding)
    text = text.strip()
    if not text:
        raise ParseError(Reason.EMPTY, "the text is blank")
    if not looks_like_text(text):
        raise ParseError(Reason.UNKNOWN_FORMAT, "not prose: too few letters for a text story")
    draft = Draft(format=NAME, body=[])
    if codec != "utf-8":
        draft.extra["charset"] = codec
    return parse_text(text, draft)
