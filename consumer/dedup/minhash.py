"""Shingles, their hashes and the MinHash signature in one compiled pass over a story's text.

Why compiled: the Python path (:func:`consumer.dedup.fingerprint.shingles` and rensa)
builds a ``str`` per word and per 3-gram, a list of them and a set, only to hash each
one once; the compiled pass walks the UTF-8 bytes of the normalised text (the bytes
the exact fingerprint hashes anyway) and never makes a Python object per shingle.

The shingle unit and size are :mod:`consumer.dedup.fingerprint`'s: word 3-grams over
``\\w+`` tokens (Python's ``re`` definition of a word character, taken from ``re``
itself by :func:`word_table`), the words themselves when a text has fewer than
three, the whole text when it has no word. Each word hashes to 64 bits (FNV-1a over
its UTF-8 bytes, then murmur3's finaliser); a 3-gram's hash mixes its three word
hashes in order; the distinct count is taken on those 64-bit values (a collision
within a story has probability ~n²/2^65).

The signature is a 128-permutation MinHash with Dietzfelbinger's multiply-add-shift
family ``h_p(x) = (a_p·x + b_p) mod 2^64 >> 32`` on the low 32 bits of a shingle's
hash (2-independent for 32-bit keys, one multiply and add per permutation, which
LLVM vectorises), keeping the low 16 bits of each minimum (b-bit MinHash, as before).
It is not rensa's hash: signatures from the two are not comparable, which is why
the changelog entry carries a format version.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

from consumer.jit import jit

NUM_PERM = 128
SEED = 0x5EED
U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
U64 = npt.NDArray[np.uint64]

_FNV_OFFSET = np.uint64(0xCBF2_9CE4_8422_2325)
_FNV_PRIME = np.uint64(0x0000_0100_0000_01B3)
_M1 = np.uint64(0xFF51_AFD7_ED55_8CCD)
_M2 = np.uint64(0xC4CE_B9FE_1A85_EC53)
_K1 = np.uint64(0x9E37_79B9_7F4A_7C15)
_K2 = np.uint64(0xC2B2_AE3D_27D4_EB4F)
_WORD_DOMAIN = np.uint64(0x5157_4F52_4400_0001)  # a lone word's token (texts under 3 words)
_TEXT_DOMAIN = np.uint64(0x5157_4F52_4400_0002)  # a whole text's token (no word at all)
_LOW32 = np.uint64(0xFFFF_FFFF)
BEYOND_TABLE = -1  # what the kernel returns when a code point is past the word table


def _splitmix64(state: int) -> tuple[int, int]:
    """One step of splitmix64: (next state, output). Plain integers, so the
    permutation parameters do not depend on numpy's generator streams."""
    state = (state + 0x9E37_79B9_7F4A_7C15) & 0xFFFF_FFFF_FFFF_FFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & 0xFFFF_FFFF_FFFF_FFFF
    z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & 0xFFFF_FFFF_FFFF_FFFF
    return state, z ^ (z >> 31)


def permutations(num_perm: int = NUM_PERM, seed: int = SEED) -> tuple[U64, U64]:
    """The multipliers and addends of the ``num_perm`` hash functions."""
    state, values = seed, []
    for _ in range(2 * num_perm):
        state, out = _splitmix64(state)
        values.append(out)
    a = np.array(values[:num_perm], dtype=np.uint64)
    b = np.array(values[num_perm:], dtype=np.uint64)
    return a, b


PERM_A, PERM_B = permutations()


def _table(limit: int) -> U8:
    r"""1 for the code points below ``limit`` that ``re``'s ``\w`` matches, else 0."""
    text = np.arange(limit, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    table = np.zeros(limit, dtype=np.uint8)
    for m in re.finditer(r"\w+", text):
        table[m.start() : m.end()] = 1
    return table


# The Basic Multilingual Plane costs ~2 ms at import; the astral planes (~0.1 s) are
# classified on the first text that holds one of their code points.
_BMP_TABLE = _table(0x10000)
_full_table: U8 | None = None


def word_table(full: bool = False) -> U8:
    r"""Word-character table by code point: the BMP, or every plane when ``full``."""
    global _full_table
    if not full:
        return _BMP_TABLE
    if _full_table is None:
        _full_table = _table(0x110000)
    return _full_table


@jit
def _fmix64(k: np.uint64) -> np.uint64:
    """murmur3's 64-bit finaliser: every input bit moves every output bit."""
    k ^= k >> np.uint64(33)
    k *= _M1
    k ^= k >> np.uint64(33)
    k *= _M2
    k ^= k >> np.uint64(33)
    return k


@jit
def _bytes_hash(buf: U8, start: int, end: int) -> np.uint64:
    h = _FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return _fmix64(h)


@jit
def _words(buf: U8, table: U8, out: U64) -> int:
    """Hash each ``\\w+`` run of the UTF-8 text ``buf`` into ``out``; the number of
    words, or BEYOND_TABLE when a code point is past ``table``."""
    n = buf.size
    nw = 0
    i = 0
    start = -1  # byte offset of the current word, -1 between words
    while i < n:
        c = np.int64(buf[i])
        if c < 0x80:
            cp, width = c, 1
        elif c < 0xE0:
            cp, width = ((c & 0x1F) << 6) | (np.int64(buf[i + 1]) & 0x3F), 2
        elif c < 0xF0:
            cp = ((c & 0x0F) << 12) | ((np.int64(buf[i + 1]) & 0x3F) << 6)
            cp |= np.int64(buf[i + 2]) & 0x3F
            width = 3
        else:
            cp = ((c & 0x07) << 18) | ((np.int64(buf[i + 1]) & 0x3F) << 12)
            cp |= ((np.int64(buf[i + 2]) & 0x3F) << 6) | (np.int64(buf[i + 3]) & 0x3F)
            width = 4
        if cp >= table.size:
            return BEYOND_TABLE
        if table[cp]:
            if start < 0:
                start = i
        elif start >= 0:
            out[nw] = _bytes_hash(buf, start, i)
            nw += 1
            start = -1
        i += width
    if start >= 0:
        out[nw] = _bytes_hash(buf, start, n)
        nw += 1
    return nw


@jit
def token_hashes(buf: U8, table: U8) -> U64:
    """The 64-bit hash of every token (3-gram, else word, else the text) in text
    order, repeats included; an empty array when a code point is past ``table``."""
    words = np.empty(buf.size // 2 + 1, dtype=np.uint64)  # a word and a separator each
    nw = _words(buf, table, words)
    if nw == BEYOND_TABLE:
        return np.empty(0, dtype=np.uint64)
    if nw >= 3:
        out = np.empty(nw - 2, dtype=np.uint64)
        for j in range(nw - 2):
            h = _fmix64(words[j] * _K1 + words[j + 1])
            out[j] = _fmix64(h * _K2 + words[j + 2])
        return out
    if nw > 0:
        out = np.empty(nw, dtype=np.uint64)
        for j in range(nw):
            out[j] = _fmix64(words[j] ^ _WORD_DOMAIN)
        return out
    out = np.empty(1, dtype=np.uint64)
    out[0] = _fmix64(_bytes_hash(buf, 0, buf.size) ^ _TEXT_DOMAIN)
    return out


@jit
def signature_of(tokens: U64, a: U64, b: U64, sig: U16) -> int:
    """Write the b-bit MinHash of the set of ``tokens`` into ``sig``; return the set's
    size. Repeats are skipped with an open-addressing set before the permutations."""
    size = 8
    while size < 2 * tokens.size:
        size *= 2
    seen = np.zeros(size, dtype=np.uint64)
    used = np.zeros(size, dtype=np.bool_)
    mask = size - 1
    perm = a.size
    # uint32 minima: LLVM vectorises the unsigned 32-bit min (AVX2 has no 64-bit one),
    # 2.5x faster than uint64 minima in the same loop
    mins = np.full(perm, 0xFFFF_FFFF, dtype=np.uint32)
    distinct = 0
    for t in tokens:
        slot = np.int64(t & np.uint64(mask))
        new = True
        while used[slot]:
            if seen[slot] == t:
                new = False
                break
            slot = (slot + 1) & mask
        if not new:
            continue
        used[slot] = True
        seen[slot] = t
        distinct += 1
        x = t & _LOW32
        for p in range(perm):
            mins[p] = min(mins[p], np.uint32((a[p] * x + b[p]) >> np.uint64(32)))
    for p in range(perm):
        sig[p] = np.uint16(mins[p] & np.uint32(0xFFFF))
    return distinct


def text_bytes(normalized_text: str) -> U8:
    """The UTF-8 bytes of a text as the array the kernels read (no copy)."""
    return np.frombuffer(normalized_text.encode("utf-8"), dtype=np.uint8)


def tokens_of(buf: U8) -> U64:
    """:func:`token_hashes` with the word table the text needs (the full one only for
    texts with a code point beyond the BMP)."""
    out = token_hashes(buf, _BMP_TABLE)
    if out.size == 0:  # never for a text within the table: it has at least one token
        out = token_hashes(buf, word_table(full=True))
    return out


def minhash(buf: U8) -> tuple[U16, int]:
    """The b-bit signature and the distinct shingle count of a text's UTF-8 bytes."""
    sig = np.empty(NUM_PERM, dtype=np.uint16)
    count = signature_of(tokens_of(buf), PERM_A, PERM_B, sig)
    return sig, count


_warmed = False


def warm() -> None:
    """Compile (or load from the cache) the kernels before the first record. Idempotent."""
    global _warmed
    if not _warmed:
        minhash(text_bytes("warm up the shingle kernels, ä"))
        _warmed = True
