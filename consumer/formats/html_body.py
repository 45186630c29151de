"""Body markup (and plain-text bodies) to ordered Blocks, for every XML/JSON format.

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

import re
from collections.abc import Iterable
from typing import Final

from lxml import etree

from consumer.errors import ParseError, Reason
from consumer.formats import xmlsafe
from consumer.model import Block
from consumer.text import clean, clean_inline

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


def require_body(
    blocks: Iterable[Block], flags: Iterable[str], message: str, *, by_reference: str | None = None
) -> None:
    """``missing_body`` unless there is a paragraph; a canceled item may be empty (a kill).

    ``by_reference``: why the item has no inline text by design (a package,
    remote content, a picture): then the reason is ``by_reference``, so an
    operator can tell a feed that sends text separately from an empty story.
    """
    if not has_paragraph(blocks) and "canceled" not in flags:
        if by_reference is not None:
            raise ParseError(Reason.BY_REFERENCE, by_reference)
        raise ParseError(Reason.MISSING_BODY, message)
