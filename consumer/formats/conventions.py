"""Agency conventions inside story text, applied once to every format's draft.

Agencies put metadata into the text itself: a dateline at the start of the
lede, a desk sign-off (``AFP sn``, ``AAP RTV ar``, ``hh/ph/ts/hd``), an end
marker (PA's ``ends``), credits (Reuters' ``(Reporting by ...; Editing by
...)``), routing-code lines (ANSA's ``51 77 03 CRO01 1113 APE4800``, kept in
``extra["routing"]``), separator rules (AP's ``___``), a "By ..." byline
paragraph, and a slugline in the metadata (also made a keyword). Each
format's parser states what its markup says; :func:`apply` then moves these
out of the paragraphs into their fields, the same way for NITF, NewsML,
ninjs, JSON and the text formats, so that a subscriber gets the same fields
from every agency and the dedup fingerprint (body only) does not change
with a desk code.

The text parsers (dpa-AFX, IPTC 7901, ANPA) already cut the dateline and
the dpa signature while reading, with the same recogniser
(:mod:`consumer.formats.dateline`); they mark the draft ``dateline_checked``.
"""

from __future__ import annotations

import re
from typing import Final

from consumer.formats import dateline
from consumer.formats.base import Draft
from consumer.model import Block

# Agencies whose desk codes follow their name in a sign-off line.
_AGENCIES: Final = (
    "AFP|AAP|AP|APA|ANP|ANSA|Belga|BusinessDesk|CP|CTK|dpa|DPA|EFE|KNA|Kyodo|MTI|NTB|PA|PAP|"
    "Reuters|REUTERS|RTRS|SDA|STT|TASR|TT|Ritzau|Xinhua|Yonhap"
)
# "AFP sn", "AAP RTV ar", "dpa wsz jln", "(BusinessDesk)", "(AP)", "Reuters": desk codes
# are short, lower case or up to three capitals ("PA SPORT QUIZ" is a title, not a sign-off)
_DESK_SIGNOFF: Final = re.compile(
    rf"(?:(?P<agency>{_AGENCIES})(?P<codes>(?:[ /](?:[a-z][a-z0-9]{{0,4}}|[A-Z]{{1,3}}\d?)){{0,8}})"
    rf"|\((?:{_AGENCIES})\))"
)
# AFP's "hh/ph/ts/hd", dpa's "/mau/DP/he" standing alone
_SLASH_CODES: Final = re.compile(r"/?[A-Za-z]{1,5}(?:/[A-Za-z0-9]{1,5}){1,8}/?")
# "ends", "-ends-", "(END)", "- 30 -", "###", rule lines of _ - = *
_END_MARKER: Final = re.compile(
    r"(?i:[-(]?[ ]?(?:ends?|end of story|fin|slut|loppu)[ ]?[-).]?)|-?[ ]?30[ ]?-"
)
_RULE_CHARS: Final = frozenset("-_=*~#")
_RULE: Final = re.compile(r"[-_=*~#]{3,}|(?:[-_=*~#][ ]){2,}[-_=*~#]")
_BYLINE: Final = re.compile(r"By[ ]((?:[A-Z][\w.'’-]{0,30}[ ]?){1,5})")
_CREDITS: Final = re.compile(
    r"\(?(?P<credits>(?:Additional |Further )?(?:reporting|writing|editing|compiled|research"
    r"|graphics?|translation|text|photos?) by\b[^()]{1,600})\)?",
    re.IGNORECASE,
)
# A routing line: code tokens only, some of letters and digits (CRO01, APE4800)
_ROUTING_TOKEN: Final = re.compile(r"[A-Z0-9]{1,12}")
_MIXED_TOKEN: Final = re.compile(r"[A-Z]+[0-9]|[0-9]+[A-Z]")
_MAX_SIGNOFF: Final = 60
_MAX_ROUTING: Final = 200
_TRAILING: Final = 4  # paragraphs at the end that may be sign-off, credit or end lines
_LEADING: Final = 2  # paragraphs at the start that may be routing lines


def is_routing_line(text: str) -> bool:
    """Only code tokens (capitals, digits), at least four, some mixing letters and digits."""
    if len(text) > _MAX_ROUTING or not text.isupper():  # C-speed exit for prose
        return False
    tokens = text.split()
    return (
        len(tokens) >= 4
        and all(_ROUTING_TOKEN.fullmatch(t) for t in tokens)
        and any(_MIXED_TOKEN.match(t) for t in tokens)
    )


def signoff(text: str) -> tuple[str, list[str]] | None:
    """``(signature, codes)`` when the paragraph is only a desk sign-off."""
    if len(text) > _MAX_SIGNOFF:
        return None
    m = _DESK_SIGNOFF.fullmatch(text)
    if m is not None:
        codes = (m.group("codes") or "").replace("/", " ").split()
        return text, codes
    if _SLASH_CODES.fullmatch(text) is not None and any(c.islower() for c in text):
        return text, [c for c in text.split("/") if c]
    return None


def is_end_marker(text: str) -> bool:
    return len(text) <= 20 and _END_MARKER.fullmatch(text) is not None


def credits(text: str) -> str | None:
    """The credits of a ``(Reporting by ...; Editing by ...)`` paragraph, without parentheses."""
    if len(text) > 700 or " by " not in text[:40]:  # C-speed exit for prose
        return None
    m = _CREDITS.fullmatch(text)
    if m is None or (text[:1] == "(") != (text[-1:] == ")"):
        return None
    return m.group("credits").strip()


def _first_paragraph(body: list[Block]) -> int | None:
    for i, b in enumerate(body):
        if b.kind == "paragraph":
            return i
    return None


def _dateline(draft: Draft) -> None:
    """The dateline wins over metadata: it says where the story happened (issue 20 item 3)."""
    i = _first_paragraph(draft.body)
    if i is None:
        return
    text = draft.body[i].text
    m = dateline.match(text)
    if m is None:
        return
    if m.place is not None:
        if draft.located and draft.located.casefold() != m.place.casefold():
            draft.metadata_located = draft.located
        draft.located = m.place
    if m.agency:
        draft.dateline_agency = m.agency
        draft.agency = draft.agency or m.agency
    if m.month_day:
        draft.extra["dateline_date"] = m.month_day
    rest = text[m.end :].strip()
    if rest:
        draft.body[i] = Block("paragraph", rest)
    else:
        del draft.body[i]


def _furniture(draft: Draft) -> None:
    """Rule lines anywhere, routing-code lines among the first and last paragraphs: out.

    One pass of cheap tests per block (first character, length, ``isupper``);
    the regexes run only on the rare candidates.
    """
    body = draft.body
    n = len(body)
    keep: list[Block] | None = None
    for i, b in enumerate(body):
        text = b.text
        drop = text[:1] in _RULE_CHARS and is_rule(text)
        if not drop and (i < _LEADING or i >= n - _TRAILING) and is_routing_line(text):
            draft.extra.setdefault("routing", text)
            drop = True
        if drop and keep is None:
            keep = body[:i]
        elif not drop and keep is not None:
            keep.append(b)
    if keep is not None:
        body[:] = keep


def is_rule(text: str) -> bool:
    """A separator line (AP's ``___``, ``###``, ``* * *``): page furniture, not text."""
    return len(text) <= 80 and text[:1] in _RULE_CHARS and _RULE.fullmatch(text) is not None


def _byline(draft: Draft) -> None:
    """A first paragraph that is only "By Name Surname" is the byline (BusinessDesk's NITF)."""
    i = _first_paragraph(draft.body)
    if i is None or draft.body[i].text[:3] != "By ":
        return
    m = _BYLINE.fullmatch(draft.body[i].text)
    if m is not None:
        del draft.body[i]
        if draft.byline is None:
            draft.byline = m.group(1).strip()
        else:  # the metadata's byline stays (it may be a title): the name is kept too
            draft.extra["body_byline"] = m.group(1).strip()


def _signoffs(draft: Draft) -> None:
    """Trailing sign-off, credit and end-marker paragraphs move to their fields."""
    body = draft.body
    for _ in range(_TRAILING):
        if not body or body[-1].kind != "paragraph":
            return
        text = body[-1].text
        if is_end_marker(text):
            body.pop()
            continue
        found = signoff(text)
        if found is not None:
            body.pop()
            if draft.signature is None:
                draft.signature, draft.signature_codes = found
            continue
        credit = credits(text)
        if credit is not None:
            body.pop()
            draft.credits = f"{credit}; {draft.credits}" if draft.credits else credit
            continue
        return


def _slugline(draft: Draft) -> None:
    """The slugline is a keyword too, unless its parts already are (7901's keyword line)."""
    if not draft.slugline:
        return
    known = {k.casefold() for k in draft.keywords}
    slug = draft.slugline.casefold()
    if slug not in known and not all(p.strip() in known for p in slug.split("/") if p.strip()):
        draft.keywords.append(draft.slugline)


def apply(draft: Draft) -> Draft:
    """Move the conventions above out of the body into their fields; returns ``draft``."""
    if draft.body:
        _furniture(draft)
        if not draft.dateline_checked:
            _byline(draft)
            _dateline(draft)
        _signoffs(draft)
    _slugline(draft)
    return draft
