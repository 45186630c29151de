"""The one dateline recogniser: every format's first paragraph goes through :func:`match`.

A dateline says where a story happened and which agency filed it, at the
start of the lede. Agencies write it in a handful of shapes, which this one
pattern family covers (examples from real copy)::

    KIEW (dpa-AFX) - ...                 German: place, agency in parentheses
    London (dpa) - ...
    LONDON, Nov 26 (Reuters) - ...       English: month-day before the agency
    SEOUL, Nov 26 AFP - ...              AFP/AAP English: the agency without parentheses
    SYDNEY, Nov 26 AAP - ...
    WASHINGTON (AP) — ...  /  FORT WASHINGTON, Pa. (AP) _ ...
    PARIS, 26 nov 2024 (AFP) - ...       French: day-month, year
    Tegucigalpa, Jan 2 (EFE).- ...       Spanish: ").-"
    ROMA, 26 NOV - (ANSA) - ...          Italian: a dash between the date and the agency
    (ANSA) - Rome, October 11 - ...      ANSA English: the agency first
    Oslo (NTB): ...                      Nordic: a colon after the agency
    Jan. 12 (BusinessDesk) - ...         no place: only the date and the agency
    (Sports Network) - ...               no place: only the agency (IPTC's G2 sample)
    (New York, NY - October 21) ...      place and date in parentheses (IPTC's G2 sample)
    BERLIN, 26. Nov (Reuters) - ...      German day with a dot

A dateline needs an agency or a month-day: a capitalised word followed by
a dash alone ("Berlin - ...") is too common in prose. Month names are the
English, German, French, Spanish, Italian and Nordic ones (abbreviated or
not). Every pattern is anchored and applied to a bounded head of the
paragraph, with no nested unbounded quantifiers: linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_HEAD_SLICE: Final = 240  # characters of a paragraph a dateline may span

# Month stems in the six language families: jan, feb/fév, mar/mär, apr/avr/abr,
# mai/may/maj/mag, jun/jui/giu, jul/lug, aug/aoû/ago, sep/set, oct/okt/ott,
# nov, dec/dez/des/déc/dic, ene, gen; up to 8 more letters ("novembre"), a dot.
_MONTH_NAME: Final = (
    r"(?i:(?:jan|feb|f[eé]v|m[aä]r|apr|avr|abr|ma[iyj]|mag|jun|jui|giu|jul|lug|aug|ao[uû]|ago"
    r"|sep|set|o[ck]t|ott|nov|de[czs]|d[eé]c|dic|ene|gen)[a-zäéèûôì]{0,8})\.?"
)
_YEAR: Final = r"(?:,?[ ]\d{4})?"
# "Nov 26" (Reuters' usual order), "26 March", "26. Nov", "26 novembre 2024"
_MONTH_DAY: Final = (
    rf"(?:{_MONTH_NAME}[ ]\d{{1,2}}{_YEAR}|\d{{1,2}}\.?[ ]{_MONTH_NAME}{_YEAR})"
)
_UPPER: Final = "A-ZÀ-ÖØ-ÞĀ-Ž"  # capital first letters of place words (Latin-1 + Latin Ext-A)
_PLACE_WORD: Final = rf"(?:[{_UPPER}][\w.'’&/-]{{0,40}}|de|del|da|do|am|an|im|la|le|upon|on)"
_PLACE: Final = rf"[{_UPPER}][\w.'’&/-]{{0,40}}(?:[ ]{_PLACE_WORD}){{0,4}}?"
# a region ("Argentina", "Mass.") is up to two capitalised words
_REGION: Final = rf"[{_UPPER}][\w.]{{0,30}}(?:[ ][{_UPPER}][\w.]{{0,30}})?"
_PAREN_AGENCY: Final = r"\((?P<agency>[^()\n]{1,30})\)"
# An agency written without parentheses (AFP, AAP): only after a month-day
_BARE_AGENCY: Final = r"(?P<bare>[A-Z][A-Za-z]{1,5}(?:[-/][A-Za-z]{1,5})?)"
_DASH: Final = r"[-–—_]{1,2}"
_END: Final = r"(?:[ ]+|$)"

_PLACE_FIRST: Final = re.compile(
    rf"(?P<place>{_PLACE})"
    rf"(?:,[ ](?P<region>{_REGION}))?"
    rf"(?:,?[ ](?P<mdate>{_MONTH_DAY}))?"
    rf"(?:"
    rf"(?:[ ]?{_DASH}[ ]?(?=\())?[ ]?{_PAREN_AGENCY}\.?[ ]?(?:{_DASH}|:)"  # (AP) -  ).-  ):
    rf"|[ ]{_BARE_AGENCY}[ ]?{_DASH}"  # Nov 26 AFP -
    rf"|[ ]?{_DASH}"  # no agency
    rf"){_END}"
)
_AGENCY_FIRST: Final = re.compile(
    rf"{_PAREN_AGENCY}[ ]?{_DASH}[ ](?:(?P<place>{_PLACE})"
    rf"(?:,[ ](?P<mdate>{_MONTH_DAY}))?[ ]?{_DASH}{_END})?"
)
_PAREN_DATELINE: Final = re.compile(
    rf"\((?P<place>{_PLACE})(?:,[ ](?P<region>{_REGION}))?[ ]?{_DASH}[ ]?(?P<mdate>{_MONTH_DAY})\)"
    rf"{_END}"
)
_DATE_FIRST: Final = re.compile(
    rf"(?P<mdate>{_MONTH_DAY})[ ]?{_PAREN_AGENCY}\.?[ ]?{_DASH}{_END}"
)
_DIGIT: Final = re.compile(r"\d")


@dataclass(slots=True)  # not frozen: a frozen __init__ costs a microsecond per story
class Dateline:
    """What a dateline says, and where the lede text starts after it."""

    place: str | None  # None: a dateline of only a date and an agency
    agency: str | None
    month_day: str | None
    end: int


def match(paragraph: str) -> Dateline | None:
    """The dateline at the start of a paragraph, if there is one."""
    head = paragraph[:_HEAD_SLICE]
    # The match needs a dash or colon, and "(" for the agency or a digit for
    # the month day; most paragraphs fail these C scans and skip the regex.
    if not ("-" in head or "–" in head or "—" in head or "_" in head or ":" in head) or (
        "(" not in head and _DIGIT.search(head) is None
    ):
        return None
    if head[:1] == "(":
        return _parenthesised(head)
    m = _PLACE_FIRST.match(head)
    if m is None:
        m = _DATE_FIRST.match(head) if "(" in head else None
        if m is None:
            return None
        return Dateline(None, m.group("agency").strip(), m.group("mdate"), m.end())
    place, region, mdate, agency, bare = m.group("place", "region", "mdate", "agency", "bare")
    if mdate is None and (bare is not None or agency is None):
        return None
    if region:
        place = f"{place}, {region}"
    agency = agency or bare
    return Dateline(place, agency.strip() if agency else None, mdate, m.end())


def _parenthesised(head: str) -> Dateline | None:
    """``(ANSA) - Rome, October 11 -``, ``(Sports Network) -``, ``(New York, NY - October 21)``."""
    m = _AGENCY_FIRST.match(head)
    if m is not None:
        agency = m.group("agency").strip()
        # a place-less "(...) -" must name something and start a sentence, not a remark
        nxt = head[m.end() : m.end() + 1]
        if m.group("place") is None and not (agency[:1].isupper() and (nxt.isupper() or
                                                                      nxt.isdigit())):
            return None
        return Dateline(m.group("place"), agency, m.group("mdate"), m.end())
    m = _PAREN_DATELINE.match(head)
    if m is None:
        return None
    place = m.group("place")
    if m.group("region"):
        place = f"{place}, {m.group('region')}"
    return Dateline(place, None, m.group("mdate"), m.end())
