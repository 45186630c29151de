"""A story's facts (numbers and names, hashed) in one compiled pass over its body text.

Why compiled: :func:`consumer.dedup.fingerprint.facts` found its tokens with regex
scans, then built a string per token, counted repeats in a dict and hashed each token
with a Python call: about half of what the features of a story cost. This pass walks
the body's code points once and writes the same fact hashes: the rules are those
documented in :mod:`consumer.dedup.fingerprint` (numbers ``\\d(?:[\\d.,]*\\d)?`` as
``#`` and their digits; names: the capitalised, non-sentence-initial token of a run
of ``[\\w'’-]``, case-folded; each hashed as ``crc32(token \\x00 k)`` for its k-th
occurrence), and ``tests/unit/test_factscan.py`` holds it to ``facts()`` on real and
generated text. The case-folded names come back as one byte string, so the words
behind the hashes cost one ``decode`` and one ``split``, not a call a name.

The character tables (word, digit, upper case, case folding) cover the Basic
Multilingual Plane; a text with a code point beyond it takes ``facts()`` instead.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from consumer.dedup import minhash
from consumer.jit import jit

U8 = npt.NDArray[np.uint8]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]

_WORD, _DIGIT, _UPPER, _TOKEN, _OPENER, _END = 1, 2, 4, 8, 16, 32
_OPENERS = " \t\"'„“”»«("  # as fingerprint's: skipped looking back for a sentence end
_SENTENCE_END = ".!?:\n"
BEYOND = -1  # the kernel's answer for a text with a code point past the tables
_LIMIT = 0x10000


def _tables() -> tuple[U8, U32]:
    """Per BMP code point: class bits, and its case folding (up to 3 code points, 0-padded)."""
    text = np.arange(_LIMIT, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    flags = minhash.word_table().astype(np.uint8) * np.uint8(_WORD)
    for m in re.finditer(r"\d+", text):
        flags[m.start() : m.end()] |= _DIGIT
    fold = np.zeros((_LIMIT, 3), dtype=np.uint32)
    for cp, char in enumerate(text):
        if char.isupper():
            flags[cp] |= _UPPER
        folded = char.casefold()
        for j, c in enumerate(folded):
            fold[cp, j] = ord(c)
    for c in "'’-":
        flags[ord(c)] |= _TOKEN
    flags[(flags & _WORD) != 0] |= _TOKEN
    for c in _OPENERS:
        flags[ord(c)] |= _OPENER
    for c in _SENTENCE_END:
        flags[ord(c)] |= _END
    return flags, fold


_tabs: tuple[U8, U32] | None = None


def tables() -> tuple[U8, U32]:
    """The tables, built on first use (~25 ms: a call per BMP code point)."""
    global _tabs
    if _tabs is None:
        _tabs = _tables()
    return _tabs


def _crc_table() -> U32:
    table = np.zeros(256, dtype=np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table[i] = c
    return table


_CRC = _crc_table()
_FNV_OFFSET = np.uint64(0xCBF2_9CE4_8422_2325)
_FNV_PRIME = np.uint64(0x0000_0100_0000_01B3)


@jit
def _decode(buf: U8, out: I64) -> int:
    """UTF-8 bytes -> code points in ``out``; their number, or BEYOND past the BMP."""
    n = buf.size
    i = 0
    m = 0
    while i < n:
        c = np.int64(buf[i])
        if c < 0x80:
            cp = c
            i += 1
        elif c < 0xE0:
            cp = ((c & 0x1F) << 6) | (np.int64(buf[i + 1]) & 0x3F)
            i += 2
        elif c < 0xF0:
            cp = ((c & 0x0F) << 12) | ((np.int64(buf[i + 1]) & 0x3F) << 6)
            cp |= np.int64(buf[i + 2]) & 0x3F
            i += 3
        else:
            return BEYOND
        out[m] = cp
        m += 1
    return m


@jit
def _put_utf8(cp: np.int64, out: U8, n: int) -> int:
    if cp < 0x80:
        out[n] = cp
        return n + 1
    if cp < 0x800:
        out[n] = 0xC0 | (cp >> 6)
        out[n + 1] = 0x80 | (cp & 0x3F)
        return n + 2
    out[n] = 0xE0 | (cp >> 12)
    out[n + 1] = 0x80 | ((cp >> 6) & 0x3F)
    out[n + 2] = 0x80 | (cp & 0x3F)
    return n + 3


@jit
def _crc32(data: U8, start: int, end: int, crc: np.uint32, table: U32) -> np.uint32:
    """zlib's CRC-32 of ``data[start:end]`` continued from ``crc`` (0 to start)."""
    c = crc ^ np.uint32(0xFFFF_FFFF)
    for i in range(start, end):
        c = table[(c ^ np.uint32(data[i])) & np.uint32(0xFF)] ^ (c >> np.uint32(8))
    return c ^ np.uint32(0xFFFF_FFFF)


@jit
def _occurrence(data: U8, start: int, end: int, keys: npt.NDArray[np.uint64],
                counts: I64) -> int:
    """The token's occurrence number so far (1 the first time), counted in an
    open-addressing table keyed by a 64-bit hash of its bytes."""
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * _FNV_PRIME
    h ^= h >> np.uint64(29)
    h |= np.uint64(1)  # 0 marks an empty key
    mask = keys.size - 1
    slot = np.int64(h & np.uint64(mask))
    while keys[slot] != 0 and keys[slot] != h:
        slot = (slot + 1) & mask
    keys[slot] = h
    counts[slot] += 1
    return int(counts[slot])


@jit
def _hash_token(data: U8, start: int, end: int, k: int, table: U32) -> np.uint32:
    """crc32(token + b"\\x00" + str(k)), the token being ``data[start:end]``."""
    c = _crc32(data, start, end, np.uint32(0), table) ^ np.uint32(0xFFFF_FFFF)
    c = table[c & np.uint32(0xFF)] ^ (c >> np.uint32(8))  # the NUL byte
    power = 1
    while power * 10 <= k:
        power *= 10
    while power:
        digit = np.uint32(0x30 + (k // power) % 10)
        c = table[(c ^ digit) & np.uint32(0xFF)] ^ (c >> np.uint32(8))
        power //= 10
    return np.uint32(c ^ np.uint32(0xFFFF_FFFF))


@jit
def scan(buf: U8, flags: U8, fold: U32, crc_table: U32) -> tuple[U32, U32, I64, U8, int]:
    """Fact hashes of a body text's UTF-8 ``buf``: (sorted unique hashes, the names'
    hashes and occurrence numbers in text order, their case-folded UTF-8 bytes joined by
    NUL, status: the number of names, or BEYOND when the text needs ``facts()``)."""
    cps = np.empty(buf.size, dtype=np.int64)
    m = _decode(buf, cps)
    if m == BEYOND:
        return (np.empty(0, np.uint32), np.empty(0, np.uint32), np.empty(0, np.int64),
                np.empty(0, np.uint8), BEYOND)
    size = 16
    while size < m:  # tokens are at most m/2 + 1: the table stays at most half full
        size *= 2
    keys = np.zeros(size, dtype=np.uint64)
    counts = np.zeros(size, dtype=np.int64)
    hashes = np.empty(m + 1, dtype=np.uint32)
    nh = 0
    token = np.empty(4 * m + 2, dtype=np.uint8)  # "#" and digits, as UTF-8
    # numbers: in each run of digits, "." and ",", the digits from its first to its last
    i = 0
    while i < m:
        f = flags[cps[i]]
        if not (f & _DIGIT or cps[i] == 0x2E or cps[i] == 0x2C):
            i += 1
            continue
        e = i
        while e < m and (flags[cps[e]] & _DIGIT or cps[e] == 0x2E or cps[e] == 0x2C):
            e += 1
        token[0] = 0x23  # "#"
        n = 1
        for j in range(i, e):
            if flags[cps[j]] & _DIGIT:
                n = _put_utf8(cps[j], token, n)
        if n > 1:
            k = _occurrence(token, 0, n, keys, counts)
            hashes[nh] = _hash_token(token, 0, n, k, crc_table)
            nh += 1
        i = e
    # names: per run of token characters, the first letter at a word boundary starts the
    # one candidate; it runs to the run's end
    names = np.empty(13 * m + 1, dtype=np.uint8)  # folded UTF-8 (<= 9 bytes a code point)
    name_hashes = np.empty(m + 1, dtype=np.uint32)
    name_ks = np.empty(m + 1, dtype=np.int64)
    nn = 0
    nb = 0
    i = 0
    while i < m:
        if not flags[cps[i]] & _TOKEN:
            i += 1
            continue
        e = i
        while e < m and flags[cps[e]] & _TOKEN:
            e += 1
        p = -1
        for j in range(i, e):
            fj = flags[cps[j]]
            letter = fj & _WORD and not fj & _DIGIT and cps[j] != 0x5F
            if letter and (j == 0 or not flags[cps[j - 1]] & _WORD):
                p = j
                break
        i = e
        if p < 0 or e - p < 2 or not flags[cps[p]] & _UPPER:
            continue
        start_of_sentence = True
        for back in range(1, 4):
            if p - back < 0:
                break
            fb = flags[cps[p - back]]
            if fb & _OPENER:
                continue
            start_of_sentence = (fb & _END) != 0
            break
        if start_of_sentence:
            continue
        begin = nb
        for j in range(p, e):
            for r in range(3):
                c = fold[cps[j], r]
                if c == 0:
                    break
                nb = _put_utf8(np.int64(c), names, nb)
        k = _occurrence(names, begin, nb, keys, counts)
        h = _hash_token(names, begin, nb, k, crc_table)
        hashes[nh] = h
        nh += 1
        name_hashes[nn] = h
        name_ks[nn] = k
        nn += 1
        names[nb] = 0
        nb += 1
    unique = np.unique(hashes[:nh])
    return unique, name_hashes[:nn], name_ks[:nn], names[: max(0, nb - 1)], nn


def facts_of(body_utf8: bytes) -> tuple[U32, dict[int, tuple[str, int]]] | None:
    """``fingerprint.facts`` of the text whose UTF-8 bytes are ``body_utf8``, or None when
    the text has a code point beyond the tables (the caller uses ``facts()`` then)."""
    flags, fold = tables()
    unique, hashes, ks, names, n = scan(np.frombuffer(body_utf8, dtype=np.uint8), flags, fold,
                                        _CRC)
    if n == BEYOND:
        return None
    if n == 0:
        return unique, {}
    words = names.tobytes().decode("utf-8").split("\x00")
    return unique, dict(zip(hashes.tolist(), zip(words, ks.tolist(), strict=True), strict=True))


_warmed = False


def warm() -> None:
    """Build the tables and compile (or load) the kernel before the first record."""
    global _warmed
    if not _warmed:
        facts_of("Warm up: 3,5 Mio. bei Müller-Lüdenscheid AG.".encode())
        _warmed = True
