"""Content features of one story: exact fingerprint, shingles, MinHash signature, facts.

Why these features:

* The **exact fingerprint** hashes ``Story.normalized_text`` (body only,
  whitespace-collapsed, case-folded by the parser), so a re-delivery with another
  signature, ``date`` header, headline or transport header is still ``exact``.
  Punctuation and typo changes are *not* folded here: they are ``near``.
* **Shingles** are word 3-grams over ``\\w+`` tokens with digits kept, so a changed
  figure changes three shingles instead of vanishing into a "<num>" placeholder.
  3-grams (not 5) keep a one-word typo fix from moving a short story below the
  near threshold.
* The **signature** is a 128-permutation MinHash truncated to the low 16 bits per
  permutation ("b-bit MinHash", Li & König 2010): 256 bytes instead of 512, and
  the Jaccard estimate only gains a 2^-16 collision bias, corrected in
  :func:`jaccard`. Two implementations, chosen by :data:`SIGNATURE`: rensa's
  (Rust) over the shingle strings of :func:`shingles`, which the changelog entries
  written so far hold, and the compiled pass of :mod:`consumer.dedup.minhash` over
  the text's UTF-8 bytes (same shingles, another hash: its signatures are not
  comparable with rensa's, so switching needs a changelog format version).
  rensa's own LSH cannot be rebuilt from stored digests (its pickle format is
  private), so banding lives in :mod:`consumer.dedup.bandtable`.
* **Facts** are the things a boilerplate agency report changes while keeping
  most words: numbers and capitalised tokens (names, places, companies). Plain
  shingle Jaccard calls two market reports with other figures near-duplicates;
  comparing fact sets does not. Each fact is a 32-bit hash: numbers as ``#`` plus
  their digits (``155,221`` and ``155.221`` agree, ``155,222`` does not) and
  capitalised tokens case-folded. Storing hashes, not words, keeps state small;
  :func:`typo_variants` lets the decision tell a typo fix in a name (one edit)
  from another name without the stored text. :func:`facts` runs the compiled scan
  of :mod:`consumer.dedup.factscan` (the same hashes and words, tested against
  the plain reference) and falls back to :func:`python_facts`, the regex path
  below, for a text beyond the scan's tables.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rensa

from consumer.dedup import factscan, minhash

NUM_PERM = 128
SEED = 0x5EED
SHINGLE = 3
_B_BITS_COLLISION = 1.0 / 65536.0

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d(?:[\d.,]*\d)?")
_U32 = next(code for code in "IL" if array(code).itemsize == 4)  # array typecode of a uint32
# \w on Latin-1 text: str.isalnum() or "_" (the regex module's definition), and \d is [0-9]
_LATIN1_WORD = "0-9A-Z_a-z\xaa\xb2\xb3\xb5\xb9\xba\xbc-\xbe\xc0-\xd6\xd8-\xf6\xf8-\xff"
# bytes.translate tables for Latin-1 bytes: word characters kept, every other byte a space;
# digits kept, every other byte a space (the caller deletes "." and ",")
LATIN1_WORD_BYTES = bytes(b if re.match(f"[{_LATIN1_WORD}]", chr(b)) else 0x20 for b in range(256))
_DIGIT_BYTES = bytes(b if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_CHAR_REF = re.compile(rb"&#([0-9]+);")
# Which MinHash :func:`features` computes: "rensa" (what stored changelog entries hold)
# or "compiled" (:mod:`consumer.dedup.minhash`). Not comparable with each other: the
# default moves to "compiled" together with the changelog entry's format version.
SIGNATURE = "rensa"


def _latin1_words(text: str) -> bool:
    r"""Whether no character of ``text`` beyond Latin-1 is a word character (\w), so that
    its Latin-1 encoding with ``?`` for those characters has the same words and digits.

    Encoding with character references finds the characters beyond Latin-1 faster than
    a regex scan; a reference already in the text only adds a character to check."""
    if text.isascii():
        return True
    for ref in set(_CHAR_REF.findall(text.encode("latin-1", "xmlcharrefreplace"))):
        code = int(ref)
        if code > 0x10FFFF or chr(code).isalnum():
            return False
    return True


Signature = npt.NDArray[np.uint16]


@dataclass(frozen=True, slots=True)
class Features:
    """Everything the dedup decision needs from one story's text."""

    fingerprint: bytes
    signature: Signature
    shingle_count: int
    facts: npt.NDArray[np.uint32]
    entity_words: dict[int, tuple[str, int]]  # fact hash -> (word, occurrence), new story only


def fingerprint(normalized_text: str) -> bytes:
    """128-bit exact fingerprint: collisions are negligible below 2^64 stories."""
    return hashlib.blake2b(normalized_text.encode("utf-8"), digest_size=16).digest()


def shingles(normalized_text: str) -> list[str]:
    """Word 3-grams; texts shorter than one 3-gram fall back to their words."""
    words = _words(normalized_text)
    if len(words) < SHINGLE:
        return words or [normalized_text]
    # " ".join over zip: no per-shingle Python frame, unlike an f-string comprehension
    return list(map(" ".join, zip(words, words[1:], words[2:], strict=False)))  # SHINGLE = 3


def _words(text: str) -> list[str]:
    """``_WORD.findall(text)``. When no word character is beyond Latin-1, bytes.translate
    and str.split find the same words, in 40% of the regex's time on the bench stream's
    German texts (90 -> 35 µs) and about half on ASCII texts."""
    if _latin1_words(text):
        encoded = text.encode("latin-1", "replace").translate(LATIN1_WORD_BYTES)
        return encoded.decode("latin-1").split()
    return _WORD.findall(text)


def signature(tokens: list[str]) -> Signature:
    """b-bit (16) MinHash signature of a token set."""
    mh = rensa.RMinHash(NUM_PERM, SEED)
    mh.update(tokens)
    # array("I") reads the digest list faster than numpy does; astype keeps the low 16 bits
    return np.frombuffer(array(_U32, mh.digest()), dtype=np.uint32).astype(np.uint16)


def jaccard(a: Signature, b: Signature) -> float:
    """Unbiased Jaccard estimate from two b-bit signatures."""
    matches = float(np.count_nonzero(a == b)) / a.shape[0]
    return from_matches(matches)


def from_matches(matches: float) -> float:
    """Jaccard from the share of equal b-bit values, minus the chance collisions."""
    return max(0.0, (matches - _B_BITS_COLLISION) / (1.0 - _B_BITS_COLLISION))


def containment(j: float, size_old: int, size_new: int) -> float:
    """Share of the old story's shingles found in the new one, from Jaccard and set sizes.

    |A∩B| = J/(1+J)·(|A|+|B|); an update that keeps the old text and adds to it
    has containment near 1 even though its Jaccard falls with every paragraph added.
    """
    if size_old <= 0:
        return 0.0
    inter = j / (1.0 + j) * (size_old + size_new)
    return min(1.0, inter / size_old)


def fact_hash(token: str, occurrence: int = 1) -> int:
    return zlib.crc32(f"{token}\x00{occurrence}".encode())


# How :func:`facts` finds its names with regex scans, not a Python loop per capital
# (that loop cost ~110 µs of the ~210 µs ``features()`` took per story). The tokens
# must stay exactly those the loop kept, or every stored fact hash would change:
# tests/unit/test_fingerprint_facts.py keeps the loop as the reference.
#
# Scanning ``\b[^\W\d_][\w'’-]*`` left to right yields at most one match per maximal
# run of token characters ``[\w'’-]``: from the run's first *qualifying* letter (one
# at the run start or right after a joiner ``'’-``) to the run end: "abc-Def" ->
# "abc-Def", "12-Foo" -> "Foo", "l'Oréal" -> "l'Oréal". Such a match is a name if its
# first letter is upper case, it is two characters or longer, and it does not start
# a sentence: sentence-initial capitals are grammar, not names, and a trivial
# punctuation edit ("said. The" -> "said, the") must not change the facts. It starts
# one if, of the (up to) three characters before it, the last that is not one of
# ``_OPENERS`` is missing or ends a sentence; the patterns test that with one
# fixed-width lookbehind per number of openers.
_OPENERS = " \t\"'„“”»«("  # skipped when looking back for the end of a sentence
_SENTENCE_END = ".!?:\n"
_BEYOND_LATIN1 = re.compile(r"[^\x00-\xff]")


def _not_sentence_start(lookback: str = "") -> str:
    """Lookbehinds: the name ``lookback`` (a pattern) ends at does not start a sentence."""
    other = f"[^{re.escape(_OPENERS + _SENTENCE_END)}]"
    opener = f"[{re.escape(_OPENERS)}]"
    return "(?:" + "|".join(f"(?<={other}{opener * n}{lookback})" for n in range(3)) + ")"


@dataclass(frozen=True, slots=True)
class _NameScan:
    r"""The name patterns for one kind of text. ``word`` and ``digit`` are the contents
    of a character class for ``\w`` and ``\d``: explicit ranges where the text allows
    (they match faster), else ``\w`` and ``\d``; ``upper`` is a class of the upper-case
    letters the text can hold."""

    run_start: re.Pattern[str]  # names whose capital starts its run: one fast scan
    joined: tuple[re.Pattern[str], ...]  # a joiner before a capital: needed by `headed`
    headed: re.Pattern[str]  # a name after an unqualifying head ("12-Foo", "'Foo")
    every: re.Pattern[str]  # all names in one scan, in text order; search " " + text

    @classmethod
    def build(cls, word: str, digit: str, upper: str, joiners: str = "'’-") -> _NameScan:
        token = f"[{word}'’-]"
        # the head of a run before its first qualifying letter: joiners, and word
        # characters after a digit or _ ("12-", "1abc-", "'")
        unqualifying = f"(?:['’-]|[{digit}_][{word}]*+)*+"
        return cls(
            # starting with a character class lets the regex engine skip to the capitals
            run_start=re.compile(f"{upper}(?<!{token}.){_not_sentence_start('.')}{token}+"),
            # a literal first character: the regex engine skips to it at memchr speed
            joined=tuple(re.compile(f"{joiner}{upper}") for joiner in joiners),
            # the run's first character: a joiner, or a digit or _ and the word
            # characters after it; the name is group 1
            headed=re.compile(
                f"[{digit}_'’-](?<!{token}.)(?:(?<=[{digit}_])[{word}]*+)?+{unqualifying}\\b"
                f"{_not_sentence_start()}({upper}{token}+)"
            ),
            every=re.compile(
                f"[^{word}'’-]{unqualifying}\\b{_not_sentence_start()}({upper}{token}+)"
            ),
        )

    def names(self, text: str) -> list[str]:
        # a headed name's capital follows a joiner; most texts have no joiner before a
        # capital, and a literal search per joiner costs a tenth of one headed scan
        if not any(p.search(text) for p in self.joined):
            return self.run_start.findall(text)
        # between headed names (one per run at most, and few), the run_start names
        out: list[str] = []
        pos = 0
        for m in self.headed.finditer(text):
            out += self.run_start.findall(text, pos, m.start())
            out.append(m.group(1))
            pos = m.end()
        return out + self.run_start.findall(text, pos) if pos else self.run_start.findall(text)


_ASCII_NAMES = _NameScan.build("A-Za-z0-9_", "0-9", "[A-Z]", joiners="'-")  # no ’ in ASCII
# Latin-1's str.isupper() letters; explicit Latin-1 classes when no word character is
# beyond Latin-1, else \w and \d when no upper-case letter is beyond Latin-1
_LATIN1_NAMES = _NameScan.build(_LATIN1_WORD, "0-9", "[A-ZÀ-ÖØ-Þ]")
_LATIN1_UPPER_NAMES = _NameScan.build(r"\w", r"\d", "[A-ZÀ-ÖØ-Þ]")
_ANY_CASE_WORDS = _NameScan.build(r"\w", r"\d", r"[^\W\d_]").every  # filter str.isupper()


def _names(body_text: str, latin1: bool) -> list[str]:
    """The capitalised, non-sentence-initial tokens of ``body_text``, in text order;
    ``latin1``: :func:`_latin1_words` of the text."""
    if body_text.isascii():
        return _ASCII_NAMES.names(body_text)
    if latin1:
        return _LATIN1_NAMES.names(body_text)
    if not any(c.isupper() for c in set(_BEYOND_LATIN1.findall(body_text))):
        return _LATIN1_UPPER_NAMES.names(body_text)
    return [tok for tok in _ANY_CASE_WORDS.findall(" " + body_text) if tok[0].isupper()]


def _number_tokens(body_text: str, latin1: bool) -> list[str]:
    """``"#"`` and the digits of each :data:`_NUMBER` match (a match holds digits . and ,
    only): on Latin-1 words the digit runs left after deleting "." and "," and blanking
    every other byte."""
    if latin1:
        encoded = body_text.encode("latin-1", "replace").translate(_DIGIT_BYTES, b".,")
        return list(map("#".__add__, encoded.decode("ascii").split()))
    return ["#" + n.replace(".", "").replace(",", "") for n in _NUMBER.findall(body_text)]


# "\x00" and the occurrence number k of a fact token, as bytes, for the k below 256
_OCCURRENCE = [f"\x00{k}".encode() for k in range(256)]


def _crc_table() -> tuple[list[int], list[int]]:
    """zlib's CRC-32 table, and which entry has each top byte (they are a permutation)."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    by_top = [0] * 256
    for i, c in enumerate(table):
        by_top[c >> 24] = i
    return table, by_top


_CRC_TABLE, _CRC_BY_TOP = _crc_table()


def crc32_before(crc: int, tail: bytes) -> int:
    """The crc32 of a prefix, given the crc32 of ``prefix + tail``:
    ``crc32_before(zlib.crc32(a + b), b) == zlib.crc32(a)`` for any bytes."""
    reg = ~crc & 0xFFFFFFFF
    for byte in reversed(tail):
        i = _CRC_BY_TOP[reg >> 24]
        reg = (((reg ^ _CRC_TABLE[i]) << 8) & 0xFFFFFFFF) | ((i ^ byte) & 0xFF)
    return ~reg & 0xFFFFFFFF


def token_crcs(facts: Iterable[int], kmax: int) -> dict[int, set[int]]:
    """The crc32 a token must have for :func:`fact_hash` of it as its k-th occurrence,
    k in 1..kmax, to be one of ``facts`` -> those facts: a fact hash run backwards."""
    out: dict[int, set[int]] = {}
    for h in facts:
        for tail in _OCCURRENCE[1: kmax + 1]:
            out.setdefault(crc32_before(h, tail), set()).add(h)
    return out


def _fact_hashes(tokens: list[str]) -> tuple[list[int], list[int]]:
    """:func:`fact_hash` of each token with its occurrence number k (the k-th time the
    token appears), and the k, in token order. The tokens hold no space: one join, one
    encode and one split make the bytes to hash, with no Python-level call per token."""
    if not tokens:
        return [], []
    crc32 = zlib.crc32
    if len(set(tokens)) == len(tokens):  # every k is 1
        encoded = ("\x001 ".join(tokens) + "\x001").encode()
        return list(map(crc32, encoded.split(b" "))), [1] * len(tokens)
    seen: dict[str, int] = {}
    ks: list[int] = []
    for tok in tokens:
        seen[tok] = k = seen.get(tok, 0) + 1
        ks.append(k)
    if max(ks) >= len(_OCCURRENCE):
        return [crc32(f"{tok}\x00{k}".encode()) for tok, k in zip(tokens, ks, strict=True)], ks
    # crc32(token + suffix) is crc32(suffix) continued from crc32(token)
    token_crcs = map(crc32, " ".join(tokens).encode().split(b" "))
    return list(map(crc32, map(_OCCURRENCE.__getitem__, ks), token_crcs)), ks


def _sorted_unique(hashes: list[int]) -> npt.NDArray[np.uint32]:
    """``np.array(sorted(set(hashes)), dtype=np.uint32)``: numpy sorts faster."""
    out = np.frombuffer(array(_U32, set(hashes)), dtype=np.uint32).copy()
    out.sort()
    return out


def facts(body_text: str) -> tuple[npt.NDArray[np.uint32], dict[int, tuple[str, int]]]:
    """:func:`python_facts`, from the compiled scan where its tables cover the text."""
    got = factscan.facts_of(body_text.encode("utf-8", "surrogatepass"))
    return python_facts(body_text) if got is None else got


def python_facts(body_text: str) -> tuple[npt.NDArray[np.uint32], dict[int, tuple[str, int]]]:
    """Sorted fact hashes (a multiset: the k-th occurrence hashes with k), and the
    entity words behind them (numbers have none, so they are never typo-matched).

    A multiset, because a figure changed into one the story already quotes
    elsewhere must still change the facts. ``body_text`` should be the blocks
    joined by spaces: sentence starts are then found by punctuation alone, so
    re-wrapping a paragraph does not move a word in or out of the facts.
    """
    latin1 = _latin1_words(body_text)
    hashes, _ = _fact_hashes(_number_tokens(body_text, latin1))
    names = _names(body_text, latin1)
    if not names:
        return _sorted_unique(hashes), {}
    # one casefold call: it maps code point by code point, and a name holds no space
    folded = " ".join(names).casefold().split(" ")
    name_hashes, ks = _fact_hashes(folded)
    words = dict(zip(name_hashes, zip(folded, ks, strict=True), strict=True))  # later wins
    return _sorted_unique(hashes + name_hashes), words


def typo_variants(word: str, *, replace: bool = True) -> set[str]:
    """Every string one edit (delete, transpose, replace, insert) from ``word``;
    without replacements if not ``replace``.

    The alphabet is the word's own letters plus a-z and German umlauts: typo
    fixes in wire copy swap, drop or double a letter far more often than they
    introduce a character the name does not contain.
    """
    alphabet = set(word) | set("abcdefghijklmnopqrstuvwxyzäöüß")
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out: set[str] = set()
    for left, right in splits:
        if right:
            out.add(left + right[1:])
            if len(right) > 1:
                out.add(left + right[1] + right[0] + right[2:])
            if replace:
                for c in alphabet:
                    out.add(left + c + right[1:])
        for c in alphabet:
            out.add(left + c + right)
    out.discard(word)
    return out


def features(normalized_text: str, body_text: str) -> Features:
    """All features of one story, computed once per record; the fingerprint and the
    compiled signature read the same UTF-8 bytes."""
    encoded = normalized_text.encode("utf-8")
    if SIGNATURE == "compiled":
        sig, count = minhash.minhash(np.frombuffer(encoded, dtype=np.uint8))
    else:
        sh = shingles(normalized_text)
        sig, count = signature(sh), len(set(sh))
    fact_arr, words = facts(body_text)
    return Features(
        fingerprint=hashlib.blake2b(encoded, digest_size=16).digest(),
        signature=sig,
        shingle_count=count,
        facts=fact_arr,
        entity_words=words,
    )
