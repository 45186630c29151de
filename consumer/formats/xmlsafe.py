"""The one XML loader every XML wire format goes through, and namespace-blind tree helpers.

Why lxml with our own DOCTYPE rejection instead of ``defusedxml.lxml``:

* ``defusedxml.lxml`` is deprecated upstream (it warns on import and is slated
  for removal) and it only inspects the tree *after* libxml2 has parsed the
  whole document, internal subset included.
* No wire format we accept needs a DTD: NITF and NewsML ship their DTDs out
  of band and the feeds we read are well-formed without them. Most NITF in
  the wild still names its DTD (``<!DOCTYPE nitf SYSTEM "nitf-3-2.dtd">``):
  such a declaration, an external identifier and nothing else, is accepted
  and blanked out (same length, so error positions stay true) before
  libxml2 sees the bytes, so the DTD is never fetched nor loaded, not even
  from a local file. Anything more (an internal subset ``[...]``, an
  ``<!ENTITY``, a second declaration) is an accident or an attack (billion
  laughs, quadratic blowup, XXE) and refused *before* libxml2 sees it. A
  prolog scan does that in microseconds, without expanding anything; a
  post-parse ``docinfo`` check is kept as a second line for encodings the
  byte scan cannot read (EBCDIC...). UTF-16/32 documents get no blanking:
  any declaration in them is refused.
* The parser itself is still configured defensively (no entity substitution,
  no network, no DTD loading, ``huge_tree`` off, which keeps libxml2's own
  limits: depth 256, 10 MB text nodes), so a bug in the scan is not a hole.

``defusedxml`` remains the right tool for the stdlib parsers; nothing here
uses them because lxml is several times faster on 10-50 KB wire documents.

Element count is capped by counting ``<`` bytes before parsing: it is an upper
bound of the number of elements in any ASCII-compatible encoding and costs one
C-level scan, whereas counting after the parse would come too late to bound
memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from lxml import etree

from consumer.errors import ParseError, Reason

#: ``<`` bytes allowed in one document: far above any wire story (a few hundred
#: elements) yet bounds libxml2's memory to tens of MB.
MAX_MARKUP: Final = 200_000
#: Raw size allowed before any parsing; larger records are ``too_large``.
MAX_BYTES: Final = 16 * 1024 * 1024

XML_NS: Final = "http://www.w3.org/XML/1998/namespace"
_XML_LANG: Final = f"{{{XML_NS}}}lang"

# Prolog items that may precede the root element: whitespace, the XML
# declaration / processing instructions, comments. Bounded quantifiers keep the
# scan linear even on hostile input.
_PROLOG_RE: Final = re.compile(rb"(?:\s+|<\?.{0,4096}?\?>|<!--.{0,65536}?-->)*", re.DOTALL)
_PROLOG_STR_RE: Final = re.compile(r"(?:\s+|<\?.{0,4096}?\?>|<!--.{0,65536}?-->)*", re.DOTALL)
# A document type declaration that only names an external DTD: no internal
# subset ("[" cannot occur), so it declares no entity. Literals are bounded.
_QUOTED: Final = r"""(?:"[^"<>\[\]]{0,1024}"|'[^'<>\[\]]{0,1024}')"""
_EXTERNAL_DOCTYPE: Final = (
    r"<!DOCTYPE\s+[A-Za-z_][\w.\-]{0,100}(?::[A-Za-z_][\w.\-]{0,100})?"
    rf"(?:\s+(?:SYSTEM\s+{_QUOTED}|PUBLIC\s+{_QUOTED}\s+{_QUOTED}))?\s*>"
)
_EXTERNAL_DOCTYPE_RE: Final = re.compile(_EXTERNAL_DOCTYPE.encode("ascii"))
_EXTERNAL_DOCTYPE_STR_RE: Final = re.compile(_EXTERNAL_DOCTYPE)
_QNAME_RE: Final = re.compile(r"<([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)")
_DOCTYPE_NAME_RE: Final = re.compile(r"<!DOCTYPE\s+([A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?)")
_XMLNS_RE: Final = re.compile(r"""xmlns(?::([\w.\-]+))?\s*=\s*["']([^"']*)["']""")

_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)

_UNDECODABLE_CODES: Final = frozenset(
    {
        etree.ErrorTypes.ERR_INVALID_ENCODING,
        etree.ErrorTypes.ERR_UNSUPPORTED_ENCODING,
        etree.ErrorTypes.ERR_UNKNOWN_ENCODING,
    }
)
_FORBIDDEN_CODES: Final = frozenset(
    {
        etree.ErrorTypes.ERR_ENTITY_LOOP,
        etree.ErrorTypes.ERR_RESOURCE_LIMIT,  # depth > 256 or a giant text node
    }
)


def _parser(encoding: str | None = None) -> etree.XMLParser:
    return etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        recover=False,
    )


def _as_text_head(head: bytes) -> str:
    """The head as text good enough to find markup: UTF-16/32 by BOM or zero bytes, else latin-1.

    Latin-1 never fails and maps every ASCII-compatible encoding's markup
    bytes to the same characters, which is all the prolog scan needs.
    """
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, "replace")
    if head[:2] == b"<\x00":
        return head.decode("utf-16-le", "replace")
    if head[:2] == b"\x00<":
        return head.decode("utf-16-be", "replace")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.decode("latin-1")


def _after_prolog(head: bytes, *, skip_doctype: bool = True) -> str:
    """The head from its root element on (or from a declaration that is not an external DOCTYPE)."""
    text = _as_text_head(head)
    m = _PROLOG_STR_RE.match(text)
    pos = m.end() if m else 0
    d = None
    if skip_doctype and text.startswith("<!D", pos):
        d = _EXTERNAL_DOCTYPE_STR_RE.match(text, pos)
    if d is not None:
        m = _PROLOG_STR_RE.match(text, d.end())
        pos = m.end() if m else d.end()
    return text[pos:]


def _prolog_end(raw: bytes) -> int:
    """Offset after the XML declaration, PIs, comments and whitespace (ASCII-compatible input)."""
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    m = _PROLOG_RE.match(raw, start)
    return m.end() if m else start


def _wide(raw: bytes) -> bool:
    return raw[:2] in (b"<\x00", b"\x00<") or raw[:2] in (b"\xff\xfe", b"\xfe\xff")


def external_doctype(raw: bytes) -> tuple[int, int] | None:
    """Byte span of an accepted DOCTYPE (external identifier only), or None.

    None also when the prolog holds a declaration :func:`has_forbidden_declaration`
    refuses: check that first.
    """
    if _wide(raw):
        return None
    end = _prolog_end(raw)
    m = _EXTERNAL_DOCTYPE_RE.match(raw, end) if raw.startswith(b"<!D", end) else None
    return m.span() if m else None


def has_forbidden_declaration(raw: bytes) -> bool:
    """Whether the prolog holds a markup declaration we refuse.

    Everything starting with ``<!`` (other than a comment) before the root
    element counts, except one DOCTYPE that only names an external DTD
    (:func:`external_doctype`). Only the prolog is looked at, so an HTML
    ``<!DOCTYPE html>`` quoted inside a CDATA body does not count. In
    UTF-16/32 every declaration is refused.
    """
    if _wide(raw):
        return _after_prolog(raw[:65536], skip_doctype=False).startswith("<!")
    end = _prolog_end(raw)
    if not raw.startswith(b"<!", end):
        return False
    m = _EXTERNAL_DOCTYPE_RE.match(raw, end) if raw.startswith(b"<!D", end) else None
    if m is None:
        return True
    after = _PROLOG_RE.match(raw, m.end())
    return raw.startswith(b"<!", after.end() if after else m.end())


def root_name(head: bytes) -> tuple[str | None, str | None]:
    """``(local name, namespace URI)`` of the root element, from the first bytes only.

    Used by every XML format's ``sniff``: no parse, so it works on a truncated
    head and costs a regex match. The namespace is only found when declared on
    the root start tag itself (which is where every agency puts it).
    """
    rest = _after_prolog(head[:4096])
    m = _QNAME_RE.match(rest)
    if m is None:
        # A DOCTYPE names the root: report it, so that the format's parser
        # (not the dispatcher) sees the document and refuses it as forbidden.
        d = _DOCTYPE_NAME_RE.match(rest)
        return (d.group(1).rpartition(":")[2], None) if d else (None, None)
    qname = m.group(1)
    prefix, _, local = qname.rpartition(":")
    end = rest.find(">", m.end())
    start_tag = rest[m.end() : end if end >= 0 else len(rest)]
    ns: str | None = None
    for pm in _XMLNS_RE.finditer(start_tag):
        if (pm.group(1) or "") == prefix:
            ns = pm.group(2)
    return local, ns


def load(raw: bytes, *, declared_encoding: str | None = None) -> etree._Element:
    """Parse wire bytes into an element tree or raise :class:`ParseError`.

    Reasons: ``too_large`` (size or markup count), ``forbidden_xml`` (a
    DOCTYPE with an internal subset, an ENTITY declaration, entity loops,
    libxml2 resource limits; a DOCTYPE naming only an external DTD is
    accepted and ignored),
    ``undecodable`` (bytes invalid in the declared/detected encoding, unknown
    encoding), ``malformed_xml`` (everything else libxml2 rejects).

    The encoding comes from the XML declaration (libxml2 reads it from the
    bytes); ``declared_encoding`` (a transport charset) is only tried when the
    document cannot be decoded as it stands, because agencies mislabel the
    transport far more often than the document.
    """
    if len(raw) > MAX_BYTES:
        raise ParseError(Reason.TOO_LARGE, f"XML document of {len(raw)} bytes")
    if raw.count(b"<") > MAX_MARKUP:
        raise ParseError(Reason.TOO_LARGE, "XML document has too many elements")
    if has_forbidden_declaration(raw):
        raise ParseError(
            Reason.FORBIDDEN_XML, "internal DTD subsets and ENTITY declarations are not accepted"
        )
    span = external_doctype(raw)
    if span is not None:  # blanked, so that libxml2 cannot try to load the DTD
        start, end = span
        raw = b"".join((raw[:start], b" " * (end - start), raw[end:]))
    try:
        root = _parse(raw, None)
    except ParseError as exc:
        if exc.reason is not Reason.UNDECODABLE or not declared_encoding:
            raise
        try:
            root = _parse(raw, declared_encoding)
        except (ParseError, LookupError):
            raise exc from None
    docinfo: object = root.getroottree().docinfo
    if _mislabeled_utf8(raw, str(getattr(docinfo, "encoding", "") or "")):
        root = _parse(raw, "utf-8")
        docinfo = root.getroottree().docinfo
    if (
        getattr(docinfo, "doctype", "")
        or getattr(docinfo, "internalDTD", None) is not None
        or getattr(docinfo, "externalDTD", None) is not None
    ):
        raise ParseError(Reason.FORBIDDEN_XML, "DOCTYPE declarations are not accepted")
    return root


_LATIN1_LABELS: Final = frozenset(
    {"iso-8859-1", "iso8859-1", "latin-1", "latin1", "l1", "windows-1252", "cp1252", "us-ascii"}
)


def _mislabeled_utf8(raw: bytes, declared: str) -> bool:
    """Whether a document labelled Latin-1 is in fact UTF-8 (AFP's afp20.xml is).

    Non-ASCII Latin-1 text almost never forms valid multi-byte UTF-8 by
    accident ("Ã©" would have to be the intended text), so strict UTF-8
    validity of the whole document is a reliable tell; decoding it as Latin-1
    would silently give mojibake in every accented word.
    """
    if declared.lower() not in _LATIN1_LABELS or raw.isascii():
        return False
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _parse(raw: bytes, encoding: str | None) -> etree._Element:
    try:
        return etree.fromstring(raw, _parser(encoding))
    except etree.XMLSyntaxError as exc:
        code = getattr(exc, "code", None)
        msg = str(getattr(exc, "msg", None) or exc)[:200]
        if code in _FORBIDDEN_CODES:
            raise ParseError(Reason.FORBIDDEN_XML, f"XML resource limit: {msg}") from None
        if code in _UNDECODABLE_CODES:
            raise ParseError(Reason.UNDECODABLE, f"XML encoding: {msg}") from None
        raise ParseError(Reason.MALFORMED_XML, msg or "malformed XML") from None
    except (ValueError, LookupError) as exc:
        # lxml raises ValueError e.g. for unicode strings with a declaration,
        # LookupError for an override encoding Python does not know.
        raise ParseError(Reason.MALFORMED_XML, str(exc)[:200]) from None


# ---------------------------------------------------------------------------
# Namespace-blind navigation. Agencies disagree on prefixes and even on the
# namespace URI of the same vocabulary (BusinessDesk binds the NAR URI to the
# xsi prefix, Reuters uses ns0:), so matching on local names is what works.


def local(el: etree._Element) -> str:
    """Local name of an element; '' for comments/PIs (their tag is not a string)."""
    tag: object = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def children(el: etree._Element, name: str) -> Iterator[etree._Element]:
    """Direct children with this local name, in document order."""
    for c in el:
        if local(c) == name:
            yield c


def child(el: etree._Element | None, *path: str) -> etree._Element | None:
    """The first element down a path of local names, or None."""
    cur = el
    for name in path:
        if cur is None:
            return None
        cur = next(children(cur, name), None)
    return cur


def descendants(el: etree._Element, name: str) -> Iterator[etree._Element]:
    """All descendants with this local name, document order."""
    for d in el.iter():
        if local(d) == name:
            yield d


def first_descendant(el: etree._Element, name: str) -> etree._Element | None:
    return next(descendants(el, name), None)


def text(el: etree._Element | None) -> str:
    """All text inside an element joined as-is ('' for None)."""
    if el is None:
        return ""
    return "".join(itertext(el))


def itertext(el: etree._Element) -> Iterator[str]:
    """Text pieces of an element (lxml's stubs type them as str | bytes; they are str)."""
    for t in el.itertext():
        if isinstance(t, str):
            yield t


def attr(el: etree._Element | None, name: str) -> str | None:
    """An attribute by local name (any namespace), stripped; None if absent or blank."""
    if el is None:
        return None
    value = el.get(name)
    if value is None:
        for key, v in el.attrib.items():
            if str(key).rpartition("}")[2] == name:
                value = str(v)
                break
    if value is None:
        return None
    value = value.strip()
    return value or None


def xml_lang(el: etree._Element | None) -> str | None:
    """``xml:lang`` of the element itself."""
    if el is None:
        return None
    value = el.get(_XML_LANG)
    return value.strip() or None if value else None
