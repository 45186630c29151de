"""Decoding and text normalisation shared by every format parser.

Pure functions, no I/O. Two stages are deliberately kept apart:

* :func:`decode` turns raw bytes into ``str`` (declared charset first, then
  strict UTF-8, then cp1252) and rejects binary junk. It keeps control
  characters because framed formats (IPTC 7901, ANPA-1312) need SOH/STX/ETX to
  find their structure.
* :func:`clean` is the character-level normalisation applied to any text that
  ends up in a story: NFC, LF line ends, no soft hyphens, no non-breaking
  spaces, no control characters except ``\\n`` and ``\\t``. It keeps line
  structure, because the text parsers read paragraphs from it;
  :func:`collapse` then flattens one block to single-spaced text.

The hot path matters (the dpa-AFX benchmark targets 10k stories/s on one
core), so each step first checks with a C-level search whether it has anything
to do at all; clean input costs a few scans, not a per-character Python loop.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from consumer.errors import ParseError, Reason

# Characters removed or replaced by clean(). C0 controls except TAB/LF (CR is
# handled first), DEL, the C1 block (only reachable through latin-1 or broken
# UTF-8 producers), zero-width/bidi format marks that break word matching.
CONTROL_RE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b\u200e\u200f\u2028\u2029\ufeff\ufffe]"
)
SPACE_RE: Final = re.compile("[\u00a0\u2000-\u200a\u202f\u205f\u3000]")
# Anything clean() would change except CR: one scan decides whether there is work.
ANY_FIX_RE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\xa0\u00ad\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff\ufffe]"
)
REMOVE_TABLE: Final = {
    **{c: None for c in range(0x00, 0x09)},
    **{c: None for c in range(0x0B, 0x20)},
    **{c: None for c in range(0x7F, 0xA0)},
    0x00AD: None,
    0x200B: None,
    0x200E: None,
    0x200F: None,
    0xFEFF: None,
    0xFFFE: None,
    0x2028: "\n",
    0x2029: "\n",
}
# Bytes clean() never changes: printable ASCII, TAB and LF.
_PLAIN_ASCII: Final = bytes([0x09, 0x0A, *range(0x20, 0x7F)])
# Outside these ranges of European text characters, clean() takes the long
# way. Each of them is printable, not one clean() replaces, NFC by itself
# (quick-check Yes, combining class 0) and never the second character of a
# canonical composition, so text of them plus plain ASCII is clean NFC text
# (tests/unit/test_text.py checks every one of them).
CLEAN_NFC_RANGES: Final = (
    "\u00a1-\u00ac\u00ae-\u024f\u1e00-\u1eff\u2010-\u2027\u2030-\u205e\u20a0-\u20c0"
)
_NOT_CLEAN_AND_NFC: Final = re.compile(f"[^{CLEAN_NFC_RANGES}]")
_SHORT: Final = 250  # characters: below, clean() checks the plain way (measured break-even)
# Runs of horizontal whitespace inside one line.
_HSPACE_RUN_RE: Final = re.compile(r"[ \t]{2,}|\t")
_WORD_OR_SPACE_RUN: Final = re.compile(r"[\w\s]+")
_ASCII_WORD_SPACE: Final = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_ \t\n\r\x0b\x0c"
)

# Bytes that never occur in text, even framed wire text: NUL and the C0
# controls that no wire format uses for framing (7901/ANPA use SOH STX ETX EOT
# BS DLE DC1-4 SYN US RS FF DEL). Counted with bytes.translate, which runs at
# memchr speed, instead of a regex scan.
_JUNK_CONTROL_BYTES: Final = b"\x00\x05\x06\x07\x0e\x0f\x15\x17\x18\x19\x1a\x1c"
_CONTROL_BYTES: Final = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])

_ENCODING_ALIASES: Final = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "us-ascii": "utf-8",  # ASCII is a UTF-8 subset; a wrong label then still decodes
    "ascii": "utf-8",
    "iso-8859-1": "cp1252",  # WHATWG: the latin-1 label means windows-1252 in practice
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "cp1252": "cp1252",
    "windows-1252": "cp1252",
    "iso-8859-15": "iso-8859-15",
    "latin-9": "iso-8859-15",
    "utf-16": "utf-16",
}

_CHARSET_RE: Final = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._:-]{1,40})", re.IGNORECASE)


def charset_from_content_type(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a MIME content type, if any."""
    if not content_type:
        return None
    m = _CHARSET_RE.search(content_type[:200])
    return m.group(1).lower() if m else None


def canonical_encoding(name: str | None) -> str | None:
    """Map a declared charset label to the codec we actually use, or None if unknown.

    Unknown labels are ignored rather than rejected: a wrong label on a feed
    is common, and detection below is a better fallback than a dead letter.
    """
    if not name:
        return None
    return _ENCODING_ALIASES.get(name.strip().lower().replace("_", "-"))


def decode(raw: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode wire bytes; return ``(text, codec)``.

    Order: the declared charset if we know it and it decodes cleanly; strict
    UTF-8 (a BOM is dropped); cp1252, which only fails on its five undefined
    bytes. NUL bytes, controls that no wire format uses, or a high share of
    control characters mean binary junk: ``undecodable``.
    """
    controls = len(raw) - len(raw.translate(None, _CONTROL_BYTES))
    if controls:  # the junk bytes are control bytes: text without any skips both checks
        if len(raw.translate(None, _JUNK_CONTROL_BYTES)) != len(raw):
            raise ParseError(Reason.UNDECODABLE, "binary content: NUL or non-text control bytes")
        # > 15 % control bytes; real ANPA tables reach 7 %
        if controls * 20 > len(raw) * 3:
            raise ParseError(Reason.UNDECODABLE, "binary content: too many control bytes")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
        declared = "utf-8"
    codec = canonical_encoding(declared)
    if codec is not None:
        try:
            return raw.decode(codec), codec
        except UnicodeDecodeError:
            pass  # the label lies; fall through to detection
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise ParseError(
            Reason.UNDECODABLE, f"neither UTF-8 nor cp1252 (byte 0x{raw[exc.start]:02x})"
        ) from None


def decode_clean(raw: bytes, declared: str | None = None) -> tuple[str, str]:
    """``clean(decode(raw, declared)[0])`` and the codec, for text read as a whole.

    UTF-8 input with nothing to clean (the usual story) is decided from one
    byte pass shared by both steps: the bytes other than printable ASCII, TAB
    and LF contain any control byte decode() looks for and any character
    clean() would change.
    """
    if canonical_encoding(declared) in (None, "utf-8") and not raw.startswith(b"\xef\xbb\xbf"):
        rest = raw.translate(None, _PLAIN_ASCII)
        try:  # mostly non-ASCII text would only pay for the attempt
            if not rest or (
                len(rest) * 8 < len(raw)
                and _NOT_CLEAN_AND_NFC.search(rest.decode("utf-8")) is None
            ):
                return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass  # decode() tells what it is
    text, codec = decode(raw, declared)
    return clean(text), codec


def _printable_lines(text: str) -> bool:
    """Whether every character but LF is printable (``str.isprintable``, a C loop).

    Every character :func:`clean` changes is non-printable (controls, format
    marks, line/paragraph separators, all spaces but U+0020), so a yes here
    means there is nothing to fix; a no only sends the text to the regex path.
    """
    return text.isprintable() or ("\n" in text and text.replace("\n", " ").isprintable())


def clean(text: str) -> str:
    """Character-level normalisation that keeps line structure.

    NFC; CRLF and CR to LF; soft hyphens, zero-width marks and control
    characters (except LF and TAB) removed; non-breaking and typographic
    spaces to a plain space.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Most text has nothing to fix. For a body, deciding that from the
    # characters other than printable ASCII, TAB and LF (a few C passes over
    # the UTF-8 form) is 2-3x cheaper than isprintable() plus is_normalized()
    # over all of it; for short fields their fixed cost is not worth it.
    if len(text) > _SHORT:
        rest = text.encode("utf-8", "surrogatepass").translate(None, _PLAIN_ASCII)
        if not rest or _NOT_CLEAN_AND_NFC.search(rest.decode("utf-8", "surrogatepass")) is None:
            return text
    if _printable_lines(text):
        if text.isascii() or unicodedata.is_normalized("NFC", text):
            return text
        return unicodedata.normalize("NFC", text)
    if text.isascii():
        if CONTROL_RE.search(text) is not None:
            text = text.translate(REMOVE_TABLE)
        return text
    if ANY_FIX_RE.search(text) is not None:
        if CONTROL_RE.search(text) is not None:
            text = text.translate(REMOVE_TABLE)
        if SPACE_RE.search(text) is not None:
            text = SPACE_RE.sub(" ", text)
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def collapse(text: str) -> str:
    """One block as single-spaced text: hard line wraps and runs of spaces become one space.

    Text that is already single-spaced is returned as it is: any whitespace
    but U+0020 is non-printable, so ``isprintable`` plus a double-space search
    (both C loops) decide that without building a word list.
    """
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def collapse_clean(text: str) -> str:
    """:func:`collapse` for :func:`clean` output, without the per-character pass.

    After :func:`clean` the only whitespace left is space, TAB, LF and U+1680
    (the Ogham space mark, a Zs character it does not map). Without the last
    three, collapsing means squeezing runs of spaces and trimming, which
    substring searches and ``replace`` do at C speed; already single-spaced
    text (the dpa-AFX norm) comes back as it is.
    """
    if "\n" in text or "\t" in text or "\u1680" in text:
        return " ".join(text.split())
    while "  " in text:
        text = text.replace("  ", " ")
    return text.strip(" ") if text[:1] == " " or text[-1:] == " " else text


def clean_line(text: str) -> str:
    """:func:`clean` plus :func:`collapse`: for one-line fields such as headlines.

    Already single-spaced text (what the text parsers produce) skips the
    split/join, which is most of the cost on long paragraphs.
    """
    text = clean(text)
    if "  " in text or "\n" in text or "\t" in text or text[:1] == " " or text[-1:] == " ":
        return " ".join(text.split())
    return text


def collapse_inline(text: str) -> str:
    """Collapse horizontal whitespace runs inside each line, keeping the line breaks."""
    if "\t" in text or "  " in text:
        text = _HSPACE_RUN_RE.sub(" ", text)
    return text


def looks_like_text(text: str) -> bool:
    """Whether decoded text is prose-like enough to be read as a plain-text story.

    Used only for the ``plain`` fallback: at most 30 % of the first 1,024
    characters may be neither word characters nor whitespace, so that
    cp1252-decoded binary (which always "decodes") is rejected instead of
    becoming a story of mojibake.
    """
    sample = text[:1024]
    if not sample or sample.isspace():
        return False
    # Upper bound first, at C speed: every symbol survives deleting ASCII word
    # and space bytes from the UTF-8 form (non-ASCII characters count as
    # symbols there, with 2-4 bytes each). Prose passes on the bound alone.
    bound = len(sample.encode("utf-8", "surrogatepass").translate(None, _ASCII_WORD_SPACE))
    if bound * 10 <= len(sample) * 3:
        return True
    symbols = len(_WORD_OR_SPACE_RUN.sub("", sample))
    return symbols * 10 <= len(sample) * 3


# Entities that survived one round of decoding (STT sends ``&amp;#39;``). The
# list is narrow on purpose: a literal "&quot;" is never intended story text.
_DOUBLE_ESCAPED_RE: Final = re.compile(
    r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|quot|amp|apos|lt|gt|nbsp);"
)


# Markup that survived as text: escaped in the XML (``&lt;p&gt;``, G2's
# ``35<endash>-</endash>40``) or double-escaped in HTML. Only known tag names
# count, so that "a <b and c> d" in prose is left alone.
_CHAR_TAGS: Final = {"endash": "–", "ndash": "–", "emdash": "—", "mdash": "—", "nbsp": " "}
_CHAR_TAG_RE: Final = re.compile(
    r"<(endash|ndash|emdash|mdash|nbsp)\s*(?:/>|>[^<]{0,8}</\1\s*>)", re.IGNORECASE
)
_DROP_ELEMENT_RE: Final = re.compile(
    r"<(script|style|iframe|object|noscript)\b[^<>]{0,2000}>.{0,20000}?</\1\s*>"
    r"|<!--.{0,20000}?-->",
    re.IGNORECASE | re.DOTALL,
)
_TAG_NAMES: Final = (
    "a|abbr|address|article|aside|audio|b|bdi|bdo|big|blockquote|body|br|caption|center|chron"
    "|cite|classifier|code|col|colgroup|dd|del|dfn|div|dl|dt|em|embed|figcaption|figure|font"
    "|footer|h[1-6]|head|header|hl1|hl2|hr|html|i|iframe|img|ins|kbd|li|link|location|main"
    "|mark|meta|money|nav|num|object|ol|org|p|person|pre|q|s|samp|script|section|small"
    "|source|span|strike|strong|style|sub|sup|table|tbody|td|tfoot|th|thead|title|tr|tt|u|ul"
    "|var|video|wbr"
)
_TAG_RE: Final = re.compile(
    rf"</?(?:{_TAG_NAMES})(?:\s[^<>]{{0,2000}}?)?/?>", re.IGNORECASE
)


def strip_markup(value: str) -> str:
    """Text of markup that arrived as text: character tags to their character, tags removed.

    Scripts, styles and embeds go with their content (an NTB body carries a
    fact-check widget as escaped ``<div>``/``<script>``); entities left by
    the double escape are decoded.
    """
    if "<" not in value:
        return value
    value = _CHAR_TAG_RE.sub(lambda m: _CHAR_TAGS[m.group(1).lower()], value)
    value = _DROP_ELEMENT_RE.sub(" ", value)
    value = _TAG_RE.sub(" ", value)
    if "&" in value:
        value = html.unescape(value)
    return value


def clean_inline(value: str | None) -> str:
    """One-line text for a block or field: ``clean_line`` plus double-escape and markup repair."""
    if not value:
        return ""
    if "&" in value and _DOUBLE_ESCAPED_RE.search(value) is not None:
        value = _DOUBLE_ESCAPED_RE.sub(lambda m: html.unescape(m.group(0)), value)
    if "<" in value:
        value = strip_markup(value)
    return clean_line(value)


def opt_inline(value: str | None) -> str | None:
    """:func:`clean_inline`, with empty results as None (for optional Draft fields)."""
    out = clean_inline(value)
    return out or None


def clean_unique(values: Iterable[str]) -> list[str]:
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


_ASCII_BYTES: Final = bytes(range(128))


def _fold_changes() -> re.Pattern[str]:
    """The non-ASCII BMP characters casefold() changes, as ranges, plus all astral ones."""
    ranges: list[str] = []
    start = prev = -2
    for cp in [*range(0x80, 0xD800), *range(0xE000, 0x10000), -1]:
        if cp >= 0 and chr(cp).casefold() == chr(cp):
            continue
        if cp == prev + 1:
            prev = cp
            continue
        if start >= 0:
            ranges.append(f"{chr(start)}-{chr(prev)}" if prev > start else chr(start))
        start = prev = cp
    return re.compile(f"[{''.join(ranges)}\U00010000-\U0010ffff]")


# About 1,400 characters in 350 ranges, built at import (30 ms) from this
# Python's own Unicode tables.
FOLD_CHANGES: Final = _fold_changes()


def casefold(text: str, encoded: bytes | None = None) -> str:
    """``text.casefold()``, at C speed for text that is mostly ASCII.

    ``str.casefold`` on non-ASCII text runs a per-character Unicode lookup
    (14 µs on a 2.6 KB German story). Case folding maps each character on
    its own (no context, unlike ``lower``'s final sigma), so it can be split:
    ``bytes.lower`` folds the ASCII letters of the UTF-8 form, and each
    distinct non-ASCII character that folding changes (Ä, ß ...: found in the
    non-ASCII characters alone) is replaced by its folding. The replacements
    never feed each other: every character of a folding is its own folding
    (tests/unit/test_enrich.py checks that over all of Unicode).
    ``encoded`` is ``text.encode("utf-8", "surrogatepass")`` if the caller has it.
    """
    if text.isascii():
        return text.lower()
    if len(text) < _SHORT:
        return text.casefold()
    if encoded is None:
        encoded = text.encode("utf-8", "surrogatepass")
    # UTF-8 bytes beyond one per character: 1-3 per non-ASCII character.
    # Beyond a few per cent (German news: 1-3 %) the byte passes cost more.
    if (len(encoded) - len(text)) * 12 > len(text):
        return text.casefold()
    out = encoded.lower().decode("utf-8", "surrogatepass")
    # deleting the ASCII bytes leaves whole UTF-8 sequences: the non-ASCII characters
    rest = encoded.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
    for char in set(FOLD_CHANGES.findall(rest)):
        folded = char.casefold()
        if folded != char:  # astral characters are all candidates
            out = out.replace(char, folded)
    return out
