"""Decoding and normalisation: the rules every parser relies on."""

from __future__ import annotations

import unicodedata

import pytest

from consumer.errors import ParseError, Reason
from consumer.text import (
    canonical_encoding,
    charset_from_content_type,
    clean,
    clean_line,
    decode,
    looks_like_text,
)


def test_decode_utf8_with_and_without_bom() -> None:
    assert decode("Müller".encode()) == ("Müller", "utf-8")
    assert decode(b"\xef\xbb\xbf" + "Müller".encode()) == ("Müller", "utf-8")


def test_decode_falls_back_to_cp1252() -> None:
    text, codec = decode("Müller – „Zitat“ €".encode("cp1252"))
    assert (text, codec) == ("Müller – „Zitat“ €", "cp1252")


def test_declared_latin1_is_read_as_cp1252_and_wrong_labels_fall_back() -> None:
    assert decode("Grüße".encode("latin-1"), "ISO-8859-1") == ("Grüße", "cp1252")
    # a UTF-8 body labelled latin-1 still decodes as cp1252 mojibake only if UTF-8 fails;
    # a cp1252 body labelled utf-8 falls back to detection instead of failing
    assert decode("Grüße".encode("cp1252"), "utf-8") == ("Grüße", "cp1252")


@pytest.mark.parametrize("raw", [b"abc\x00def", b"\x07\x07\x07 text", bytes(range(256))])
def test_binary_junk_is_undecodable(raw: bytes) -> None:
    with pytest.raises(ParseError) as info:
        decode(raw)
    assert info.value.reason is Reason.UNDECODABLE


def test_undefined_cp1252_bytes_are_undecodable() -> None:
    with pytest.raises(ParseError) as info:
        decode(b"caf\xe9 \x81\x8d\x8f\x90\x9d")
    assert info.value.reason is Reason.UNDECODABLE


def test_clean_normalises_characters_and_keeps_lines() -> None:
    raw = "Ver\u00adhand\u00adlung\r\nZeile\u00a0zwei\x0b\rdrei\tvier" + "e\u0301"
    out = clean(raw)
    assert out == "Verhandlung\nZeile zwei\ndrei\tvier\u00e9"
    assert unicodedata.is_normalized("NFC", out)


def test_clean_line_collapses_whitespace() -> None:
    assert clean_line("  a \t b\n\nc  ") == "a b c"
    assert clean_line("already clean") == "already clean"


def test_charset_helpers() -> None:
    assert charset_from_content_type('text/plain; charset="ISO-8859-1"') == "iso-8859-1"
    assert charset_from_content_type("application/json") is None
    assert canonical_encoding("Windows-1252") == "cp1252"
    assert canonical_encoding("klingon") is None


def test_looks_like_text() -> None:
    assert looks_like_text("Ein ganz normaler Satz mit Wörtern.")
    assert not looks_like_text("#$%&*+<>|~^" * 20)
    assert not looks_like_text("   \n ")


def test_clean_fast_path_characters_are_clean_nfc() -> None:
    # clean() returns text made of these and plain ASCII unchanged: each must
    # be printable, untouched by clean()'s fixes, NFC quick-check Yes (NFC by
    # itself, combining class 0, never the second character of a composition)
    import re
    import sys

    from consumer.text import ANY_FIX_RE, CLEAN_NFC_RANGES

    seconds = set()
    for cp in range(sys.maxunicode + 1):
        mapping = unicodedata.decomposition(chr(cp))
        if mapping and not mapping.startswith("<"):
            seconds.update(chr(int(part, 16)) for part in mapping.split()[1:])
    ranges = re.findall("(.)-(.)", CLEAN_NFC_RANGES)
    assert ranges
    for lo, hi in ranges:
        for cp in range(ord(lo), ord(hi) + 1):
            c = chr(cp)
            assert c.isprintable(), hex(cp)
            assert ANY_FIX_RE.search(c) is None, hex(cp)
            assert unicodedata.combining(c) == 0, hex(cp)
            assert unicodedata.normalize("NFC", c) == c, hex(cp)
            assert c not in seconds, hex(cp)


@pytest.mark.parametrize(
    "text",
    [
        "Grüße aus Köln – „Zitat“ … 5 € ™",
        "e\u0301 after ASCII",  # a combining mark composes with the ASCII before it
        "A\u030a and \u212b",  # Å two ways; the Angstrom sign is NFC "No"
        "tab\tand\nline",
        "nbsp\u00a0soft\u00adhyphen",
        "\u1100\u1161 Hangul jamo",
        "lone \ud800 surrogate",
        "ctrl \x0c form feed",
    ],
)
def test_clean_fast_path_matches_the_full_rules(text: str) -> None:
    assert clean(text) == _clean_reference(text)
    padded = "x" * 300 + text  # long enough for the byte-level shortcut
    assert clean(padded) == _clean_reference(padded)


def _clean_reference(text: str) -> str:
    """clean() without any shortcut: the fixes, then NFC."""
    from consumer.text import CONTROL_RE, REMOVE_TABLE, SPACE_RE

    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = SPACE_RE.sub(" ", CONTROL_RE.sub(lambda m: REMOVE_TABLE[ord(m[0])] or "", text))
    return unicodedata.normalize("NFC", text)


def test_clean_equals_the_full_rules_on_random_text() -> None:
    import random

    rng = random.Random(7)
    pool = "aZ \n\t\r\x0c\x85äÖß€–„“…\u00a0\u00ad\u200b\u2028\u0301\u0308\u212b\u1161\u0958Ωёσ"
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))
        assert clean(text) == _clean_reference(text), repr(text)
        text = "Wörter " * 40 + text  # long enough for the byte-level shortcut
        assert clean(text) == _clean_reference(text), repr(text)


@pytest.mark.parametrize(
    ("raw", "declared"),
    [
        ("Grüße – „Zitat“ €".encode(), None),
        ("Grüße".encode(), "utf-8"),
        ("Grüße".encode(), "x-unknown"),
        ("Grüße".encode("cp1252"), None),
        ("Grüße".encode(), "iso-8859-1"),
        (b"\xef\xbb\xbfBOM text", None),
        (b"line\r\nbreaks", None),
        (b"form\x0cfeed", None),
        ("e\u0301 combining".encode(), None),
        ("nbsp\u00a0here".encode(), None),
        (b"\xc3a\xa4 broken UTF-8", None),
        (b"", None),
    ],
)
def test_decode_clean_is_decode_then_clean(raw: bytes, declared: str | None) -> None:
    from consumer.text import decode_clean

    for variant in (raw, b"plain ASCII " * 30 + raw):  # short; mostly ASCII (the shortcut)
        text, codec = decode(variant, declared)
        assert decode_clean(variant, declared) == (clean(text), codec)


def test_decode_clean_rejects_junk_like_decode() -> None:
    from consumer.text import decode_clean

    with pytest.raises(ParseError) as info:
        decode_clean(b"abc\x00def")
    assert info.value.reason is Reason.UNDECODABLE
