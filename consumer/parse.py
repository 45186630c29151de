"""Format detection, dispatch and input caps: raw bytes in, a Story or a ParseError out.

Detection order is fixed and documented, because two formats can both
claim a document (a JSON object may be ninjs or a generic envelope):

1. ``Hints.forced_format`` (CLI ``--format``, Kafka header ``wirefeed-format``):
   that module parses, no sniffing;
2. framed line formats by their magic bytes: ``anpa1312`` (SYN SYN SOH),
   ``iptc7901`` (SOH + header);
3. XML: ``nitf``, ``newsml_g2``, ``newsml12``, ``ritzau`` (their own sniffs);
4. JSON: ``ninjs`` first, then ``generic_json`` (which refuses ninjs keys);
5. ``dpa_afx`` text (a ``date`` header or a dateline near the top);
6. fallback: the dpa-AFX text reader, which yields format ``plain`` for
   prose without a dateline, or fails with ``unknown_format`` for anything
   that is not prose. Input starting with ``<`` or ``{`` that no module
   claimed is ``unknown_format`` (a broken XML/JSON document is not prose),
   except XML carrying an internal DTD subset or ENTITY declaration in its
   prolog (billion laughs with any root name, a bare ``<!ENTITY``; a DOCTYPE
   naming only an external DTD is accepted): that is ``forbidden_xml``,
   whichever root it names, exactly as when an XML module claims it.

A ``content-type`` hint narrows the candidates to one family (json, xml,
text) before sniffing; it never forces a parser.

The XML/ninjs modules are written separately; a module that is not
installed yet is skipped (only a ``ModuleNotFoundError`` for that very
module), so this dispatcher works before and after they land.

Nothing here does I/O. Any exception a parser raises that is not a
ParseError is a bug; it is still converted to a ParseError with reason
``internal_error`` so that one record can never stop the stream.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Final

from consumer.enrich import finish
from consumer.errors import ParseError, Reason
from consumer.formats import xmlsafe
from consumer.formats.base import Hints
from consumer.model import RawRecord, Story
from consumer.text import charset_from_content_type

DEFAULT_MAX_BYTES: Final = 2 * 1024 * 1024
SNIFF_BYTES: Final = 4096

# (format name, module, family) in detection order.
REGISTRY: Final[tuple[tuple[str, str, str], ...]] = (
    ("anpa1312", "consumer.formats.anpa1312", "text"),
    ("iptc7901", "consumer.formats.iptc7901", "text"),
    ("nitf", "consumer.formats.nitf", "xml"),
    ("newsml_g2", "consumer.formats.newsml_g2", "xml"),
    ("newsml12", "consumer.formats.newsml12", "xml"),
    ("ritzau", "consumer.formats.ritzau", "xml"),
    ("ninjs", "consumer.formats.ninjs", "json"),
    ("generic_json", "consumer.formats.generic_json", "json"),
    ("dpa_afx", "consumer.formats.dpa_afx", "text"),
)
FALLBACK: Final = "dpa_afx"
# Names accepted by --format / wirefeed-format besides the registry's.
ALIASES: Final = {"plain": "dpa_afx", "text": "dpa_afx", "json": "generic_json", "anpa": "anpa1312"}


@cache
def _load(module_name: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def available_formats() -> list[str]:
    """Names of the formats whose modules are importable, in detection order."""
    return [name for name, module, _ in REGISTRY if _load(module) is not None]


def _family(content_type: str | None) -> str | None:
    if not content_type:
        return None
    ct = content_type.split(";", 1)[0].strip().lower()
    if "json" in ct:
        return "json"
    if "xml" in ct:
        return "xml"
    if ct.startswith("text/plain"):
        return "text"
    return None


def _looks_like_xml(head: bytes, first: bytes) -> bool:
    """Markup first (after a UTF-8 BOM and whitespace), or UTF-16 by its BOM or zero bytes."""
    return first == b"<" or head[:2] in (b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")


def detect(raw: bytes, hints: Hints) -> ModuleType:
    """The module that will parse ``raw``; see the module docstring for the order."""
    if hints.forced_format:
        name = ALIASES.get(hints.forced_format, hints.forced_format)
        for fmt, module_name, _ in REGISTRY:
            if fmt == name:
                module = _load(module_name)
                if module is not None:
                    return module
        raise ParseError(Reason.UNKNOWN_FORMAT, f"format {hints.forced_format!r} is not available")
    head = raw[:SNIFF_BYTES]
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    # The first significant byte already names the family: sniffing only that
    # family's modules keeps detection cheap (text stories skip 4 XML sniffs).
    family = _family(hints.content_type) or (
        "xml" if first == b"<" else "json" if first in (b"{", b"[") else "text"
    )
    for _fmt, module_name, fam in REGISTRY:
        if family is not None and fam != family:
            continue
        module = _load(module_name)
        if module is not None and module.sniff(head):
            return module
    if _looks_like_xml(head, first) and xmlsafe.has_forbidden_declaration(raw):
        raise ParseError(
            Reason.FORBIDDEN_XML, "internal DTD subsets and ENTITY declarations are not accepted"
        )
    if family is not None:  # the guess or hint was wrong: sniff everything
        for _fmt, module_name, _fam in REGISTRY:
            module = _load(module_name)
            if module is not None and module.sniff(head):
                return module
    if first in (b"<", b"{", b"["):
        kind = "XML" if first == b"<" else "JSON"
        raise ParseError(Reason.UNKNOWN_FORMAT, f"{kind} document of no known format")
    fallback = _load(f"consumer.formats.{FALLBACK}")
    assert fallback is not None
    return fallback


def parse_bytes(
    raw: bytes, hints: Hints | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Story:
    """Parse one record's value into a Story, or raise ParseError with a stable reason."""
    hints = hints or Hints()
    if not raw or not raw.strip():
        raise ParseError(Reason.EMPTY, "the record is empty")
    if len(raw) > max_bytes:
        raise ParseError(Reason.TOO_LARGE, f"{len(raw)} bytes exceed the {max_bytes}-byte cap")
    if hints.declared_encoding is None and hints.content_type:
        charset = charset_from_content_type(hints.content_type)
        if charset:
            hints = Hints(
                content_type=hints.content_type,
                forced_format=hints.forced_format,
                declared_encoding=charset,
                field_map=hints.field_map,
            )
    try:
        module = detect(raw, hints)
        return finish(module.parse(raw, hints))
    except ParseError:
        raise
    except (RecursionError, MemoryError, ValueError, LookupError, TypeError,
            AttributeError, UnicodeError, AssertionError) as exc:  # fmt: skip
        raise ParseError(Reason.INTERNAL, f"parser failure: {type(exc).__name__}: {exc}") from exc


def hints_from_record(record: RawRecord) -> Hints:
    """Hints from Kafka headers ``content-type`` and ``wirefeed-format``."""
    content_type = record.header("content-type")
    forced = record.header("wirefeed-format")
    return Hints(
        content_type=content_type,
        forced_format=forced.strip() if forced and forced.strip() else None,
        declared_encoding=charset_from_content_type(content_type),
    )


def parse_record(record: RawRecord, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Story:
    """Parse a Kafka-like record; a tombstone (no value) is ``empty``."""
    if record.value is None:
        raise ParseError(Reason.EMPTY, "the record has no value (tombstone)")
    return parse_bytes(record.value, hints_from_record(record), max_bytes=max_bytes)
