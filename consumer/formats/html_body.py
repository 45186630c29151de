"""Body markup to ordered Blocks, plus the small field helpers the markup formats share.

NITF ``body.content``, NewsML-G2 inline XHTML, NewsML 1.2 ``DataContent``,
ninjs ``body_html`` and Ritzau's escaped HTML all describe the same thing: a
sequence of paragraphs with the odd subheading, wrapped in containers that
carry no meaning (``block``, ``section``, ``div``) and sprinkled with inline
markup that must not split a paragraph (``a``, ``person``, ``span``...). One
walker handles all of them so that the same story delivered as NITF and as
ninjs yields the same blocks, which is what the dedup fingerprint needs.

Rules of the walker, chosen from the real agency samples:

* headings (``hl2``, ``h1``-``h6``) become subheadings, wherever they sit
  (STT wraps ``<h3>`` in a ``<p>``);
* block elements (``p``, ``li``, ``div``...) end the current paragraph; text
  and inline elements between them accumulate into one paragraph, so text
  directly inside a container is not lost;
* ``br`` is a space, not a paragraph break: AAP uses it for line wrapping
  mid-sentence;
* page furniture is skipped: ``head``, HTML5 ``header`` (dpa puts slugline,
  genre and a copy of the headline there), ``script``, ``style``, media and
  figures (captions are not story text).

HTML strings (ninjs, CDATA in NewsML 1.2, Ritzau) are parsed with libxml2's
HTML parser with network access off; the HTML parser has no entity
declarations, so the XML bomb family does not apply to it. The same markup
count cap as :mod:`consumer.formats.xmlsafe` bounds its memory.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from typing import Final

from lxml import etree

from consumer.errors import ParseError, Reason
from consumer.formats import xmlsafe
from consumer.model import Block
from consumer.text import clean, clean_line

_HEADINGS: Final = frozenset({"hl2", "h1", "h2", "h3", "h4", "h5", "h6"})
_SKIP: Final = frozenset(
    {
        "head",
        "title",
        "header",
        "script",
        "style",
        "noscript",
        "template",
        "media",
        "media-reference",
        "media-caption",
        "media-producer",
        "figure",
        "img",
        "iframe",
        "object",
        "embed",
        "video",
        "audio",
        "meta",
        "link",
        "nav",
    }
)
_BLOCKS: Final = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "aside",
        "footer",
        "block",
        "body",
        "html",
        "body.content",
        "body.end",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "blockquote",
        "bq",
        "pre",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "td",
        "th",
        "caption",
        "hr",
        "fn",
        "nitf-table",
        "center",
        "address",
    }
)

# Entities that survived one round of decoding (STT sends ``&amp;#39;``). The
# list is narrow on purpose: a literal "&quot;" is never intended story text.
_DOUBLE_ESCAPED_RE: Final = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|quot|amp|apos|lt|gt|nbsp);"
)


def clean_inline(value: str | None) -> str:
    """One-line text for a block or field: ``clean_line`` plus double-escape repair."""
    if not value:
        return ""
    if "&" in value and _DOUBLE_ESCAPED_RE.search(value) is not None:
        value = _DOUBLE_ESCAPED_RE.sub(lambda m: html.unescape(m.group(0)), value)
    return clean_line(value)


def opt_inline(value: str | None) -> str | None:
    """:func:`clean_inline`, with empty results as None (for optional Draft fields)."""
    out = clean_inline(value)
    return out or None


class _Walker:
    """Accumulates inline text and emits blocks at block boundaries."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._run: list[str] = []

    def flush(self) -> None:
        if self._run:
            para = clean_inline("".join(self._run))
            self._run.clear()
            if para:
                self.blocks.append(Block("paragraph", para))

    def heading(self, el: etree._Element) -> None:
        self.flush()
        title = clean_inline(" ".join(xmlsafe.itertext(el)))
        if title:
            self.blocks.append(Block("subheading", title))

    def walk(self, el: etree._Element) -> None:
        """Content of ``el`` (not its tail), in document order."""
        if el.text:
            self._run.append(el.text)
        for c in el:
            name = local_lower(c)
            if not name or name in _SKIP:
                pass
            elif name in _HEADINGS:
                self.heading(c)
            elif name in _BLOCKS:
                self.flush()
                self.walk(c)
                self.flush()
            elif name == "br":
                self._run.append(" ")
            else:
                self.walk(c)
            if c.tail:
                self._run.append(c.tail)


def local_lower(el: etree._Element) -> str:
    """Local name, lower-cased: HTML from some agencies is upper case (ANA's ``<P>``)."""
    return xmlsafe.local(el).lower()


def blocks_from_element(el: etree._Element | None) -> list[Block]:
    """Blocks of a body element's content, in reading order."""
    if el is None:
        return []
    w = _Walker()
    w.walk(el)
    w.flush()
    return w.blocks


def parse_html(fragment: str) -> etree._Element | None:
    """Parse an HTML (or XHTML) fragment leniently; None when nothing parses.

    Lenient on purpose: HTML bodies in JSON are routinely invalid XML (``<br>``,
    unescaped ``&``), and rejecting a story for that would lose real news.
    """
    if fragment.count("<") > xmlsafe.MAX_MARKUP:
        raise ParseError(Reason.TOO_LARGE, "HTML body has too many elements")
    fragment = fragment.lstrip()
    if fragment.startswith("<?xml"):
        # lxml refuses str input that carries an encoding declaration
        end = fragment.find("?>")
        fragment = fragment[end + 2 :] if end >= 0 else ""
    if not fragment.strip():
        return None
    parser = etree.HTMLParser(
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        remove_blank_text=False,
        huge_tree=False,
        collect_ids=False,
    )
    try:
        root = etree.fromstring(fragment, parser)
    except (etree.XMLSyntaxError, etree.ParserError, ValueError):
        return None
    return root if root is not None else None


def blocks_from_html(fragment: str | None) -> list[Block]:
    """Blocks of an HTML fragment (``<p>``/``<h2>``... or plain text)."""
    if not fragment:
        return []
    return blocks_from_element(parse_html(fragment))


_BLANK_LINE_RE: Final = re.compile(r"\n[ \t]*\n")


def blocks_from_text(value: str | None) -> list[Block]:
    """Paragraphs of plain text: blank lines separate them.

    Old-style wire copy has no blank lines but indents each paragraph's first
    line (ANSA's ``   "Unacceptable..."``); when a chunk has some indented
    lines and some flush ones, each indented line starts a paragraph. A chunk
    with every line indented (pretty-printed markup) is one paragraph.
    """
    if not value:
        return []
    out: list[Block] = []
    for chunk in _BLANK_LINE_RE.split(clean(value)):
        lines = [ln for ln in chunk.split("\n") if ln.strip()]
        if not lines:
            continue
        indented = [ln[:1] in (" ", "\t") for ln in lines]
        if any(indented) and not all(indented):
            paras: list[list[str]] = []
            for ln, ind in zip(lines, indented, strict=True):
                if ind or not paras:
                    paras.append([ln])
                else:
                    paras[-1].append(ln)
        else:
            paras = [lines]
        for p in paras:
            text = clean_inline(" ".join(p))
            if text:
                out.append(Block("paragraph", text))
    return out


def has_paragraph(blocks: Iterable[Block]) -> bool:
    return any(b.kind == "paragraph" for b in blocks)


# ---------------------------------------------------------------------------
# Field helpers shared by the markup formats (candidates for consumer.text).


def when(value: str | None, field: str) -> tuple[dt.datetime | None, dt.date | None]:
    """``(datetime, date)`` of an ISO 8601 timestamp, basic or extended format.

    A timestamp without an offset yields only its date: inventing a time zone
    would shift stories across midnight, while the date alone is still true.
    A value that is present but not a timestamp is ``invalid_field``.
    """
    s = (value or "").strip()
    if not s:
        return None, None
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(s)
    except ValueError:
        raise ParseError(Reason.INVALID_FIELD, f"{field}: not a timestamp: {s[:40]!r}") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, parsed.date()
    return parsed, parsed.date()


def to_int(value: object, field: str, *, lo: int = 0, hi: int = 2**63 - 1) -> int | None:
    """An integer field given as int or digit string; None if absent/blank."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ParseError(Reason.INVALID_FIELD, f"{field}: boolean where a number is expected")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        s = value.strip()
        if not s:
            return None
        if not s.isascii() or not s.lstrip("+-").isdigit() or len(s) > 19:
            raise ParseError(Reason.INVALID_FIELD, f"{field}: not an integer: {s[:20]!r}")
        n = int(s)
    else:
        raise ParseError(
            Reason.INVALID_FIELD, f"{field}: expected an integer, got {type(value).__name__}"
        )
    if not lo <= n <= hi:
        raise ParseError(Reason.INVALID_FIELD, f"{field}: {n} out of range {lo}..{hi}")
    return n


def urgency(value: object) -> int | None:
    """IPTC urgency 1 (flash) .. 9; 0 is used by some feeds for 'none' and is dropped."""
    n = to_int(value, "urgency", lo=0, hi=9)
    return n or None


_LANG_RE: Final = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")


def language(value: str | None) -> str | None:
    """A BCP 47 tag in canonical case (``EN`` -> ``en``, ``nb-no`` -> ``nb-NO``), or None.

    ``x-default`` and other non-language tags are dropped so that finish()
    detects the language instead of trusting a placeholder.
    """
    s = (value or "").strip()
    if not s or _LANG_RE.match(s) is None:
        return None
    parts = s.replace("_", "-").split("-")
    out = [parts[0].lower()]
    for p in parts[1:]:
        out.append(p.upper() if len(p) == 2 and p.isalpha() else p.lower())
    return "-".join(out)


_DATELINE_AGENCY_RE: Final = re.compile(r"\(([^()]{1,40})\)\s*[-–—:]*\s*$")


def dateline(value: str | None) -> tuple[str | None, str | None]:
    """``(place, agency)`` from a dateline such as ``STOCKHOLM, Aug 29, 2014 (AFP) -``.

    Trailing comma-separated parts containing digits are dates and are
    dropped; a dateline that is only a date (ANA's ``4/4/2018``, Reuters'
    timestamps) has no place. ``FORT WASHINGTON, Pa.`` stays whole.
    """
    s = clean_inline(value).strip(" -–—:")
    if not s:
        return None, None
    agency: str | None = None
    m = _DATELINE_AGENCY_RE.search(s)
    if m is not None:
        agency = clean_inline(m.group(1)) or None
        s = s[: m.start()].strip(" ,-–—:")
    parts = [p.strip() for p in s.split(",")]
    while parts and any(ch.isdigit() for ch in parts[-1]):
        parts.pop()
    place = ", ".join(p for p in parts if p)
    if not place or len(place) > 80:
        return None, agency
    return place, agency


def dedup(values: Iterable[str]) -> list[str]:
    """Cleaned, non-empty, first occurrence wins (case-insensitive)."""
    seen: set[str] = set()
    out: list[str] = []
    for v in values:
        c = clean_inline(v)
        key = c.casefold()
        if c and key not in seen:
            seen.add(key)
            out.append(c)
    return out
