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
* The **signature** is a 128-permutation MinHash from rensa (Rust, ~7 µs a story,
  measured in ``bench/bench_dedup_scale.py``), truncated to the low 16 bits per
  permutation ("b-bit MinHash", Li & König 2010): 256 bytes instead of 512, and
  the Jaccard estimate only gains a 2^-16 collision bias, corrected in
  :func:`jaccard`. rensa's own LSH cannot be rebuilt from stored digests (its
  pickle format is private), so banding lives in :mod:`consumer.dedup.index`.
* **Facts** are the things a boilerplate agency report changes while keeping
  most words: numbers and capitalised tokens (names, places, companies). Plain
  shingle Jaccard calls two market reports with other figures near-duplicates;
  comparing fact sets does not. Each fact is a 32-bit hash: numbers as ``#`` plus
  their digits (``155,221`` and ``155.221`` agree, ``155,222`` does not) and
  capitalised tokens case-folded. Storing hashes, not words, keeps state small;
  :func:`typo_variants` lets the decision tell a typo fix in a name (one edit)
  from another name without the stored text.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import rensa

NUM_PERM = 128
SEED = 0x5EED
SHINGLE = 3
_B_BITS_COLLISION = 1.0 / 65536.0

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d(?:[\d.,]*\d)?")
_CAPITALISED = re.compile(r"\b[^\W\d_][\w'’-]*")
_CAPITALISED_AT = re.compile(r"[^\W\d_][\w'’-]*")
_LETTER = re.compile(r"[^\W\d_]")
_WORD_CHAR = re.compile(r"\w")
_TOKEN_CHAR = re.compile(r"[\w'’-]")
_JOINERS = frozenset("'’-")
_LATIN1_CAPITAL = re.compile(r"\b[A-ZÀ-ÖØ-Þ]")  # the Latin-1 letters with str.isupper()

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
    words = _WORD.findall(normalized_text)
    if len(words) < SHINGLE:
        return words or [normalized_text]
    trigrams = zip(words, words[1:], words[2:], strict=False)  # SHINGLE = 3
    return [f"{a} {b} {c}" for a, b, c in trigrams]


def signature(tokens: list[str]) -> Signature:
    """b-bit (16) MinHash signature of a token set."""
    mh = rensa.RMinHash(NUM_PERM, SEED)
    mh.update(tokens)
    return np.asarray(mh.digest(), dtype=np.uint32).astype(np.uint16)


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


def _latin1_capitals(text: str) -> bool:
    """Whether every upper-case letter of ``text`` is in Latin-1, where
    :data:`_LATIN1_CAPITAL` finds exactly the letters ``str.isupper()`` accepts."""
    return text.isascii() or not any(c > "\xff" and c.isupper() for c in set(text))


def _token_start(text: str, pos: int) -> bool:
    """Whether a left-to-right scan of :data:`_CAPITALISED` starts a match at ``pos``
    (a letter after a word boundary): not if an earlier match runs through it, which
    can only happen across an apostrophe or hyphen ("l'Oréal", "abc-Def")."""
    if pos == 0 or text[pos - 1] not in _JOINERS:
        return True
    start = pos
    while start > 0 and _TOKEN_CHAR.match(text, start - 1) is not None:
        start -= 1
    # a letter in that run with a non-word character (or the run start) before it starts
    # a match that extends through pos
    for i in range(start, pos):
        if _LETTER.match(text, i) is not None and (
            i == start or _WORD_CHAR.match(text, i - 1) is None
        ):
            return False
    return True


def _capitalised(text: str) -> Iterator[tuple[int, str]]:
    """(start, token) of the matches of :data:`_CAPITALISED` whose first letter is
    upper case. Fast path: visit only the capitals (the common case: no upper-case
    letter beyond Latin-1), not every lower-case word."""
    if _latin1_capitals(text):
        for m in _LATIN1_CAPITAL.finditer(text):
            pos = m.start()
            if _token_start(text, pos):
                yield pos, _CAPITALISED_AT.match(text, pos).group()  # type: ignore[union-attr]
        return
    for m in _CAPITALISED.finditer(text):
        tok = m.group()
        if tok[0].isupper():
            yield m.start(), tok


def facts(body_text: str) -> tuple[npt.NDArray[np.uint32], dict[int, tuple[str, int]]]:
    """Sorted fact hashes (a multiset: the k-th occurrence hashes with k), and the
    entity words behind them (numbers have none, so they are never typo-matched).

    A multiset, because a figure changed into one the story already quotes
    elsewhere must still change the facts. ``body_text`` should be the blocks
    joined by spaces: sentence starts are then found by punctuation alone, so
    re-wrapping a paragraph does not move a word in or out of the facts.
    """
    words: dict[int, tuple[str, int]] = {}
    hashes: list[int] = []
    seen: dict[str, int] = {}
    for num in _NUMBER.findall(body_text):
        token = "#" + num.replace(".", "").replace(",", "")  # a match holds \d . , only
        seen[token] = k = seen.get(token, 0) + 1
        hashes.append(fact_hash(token, k))
    for pos, tok in _capitalised(body_text):
        if len(tok) < 2 or _sentence_start(body_text, pos):
            continue
        folded = tok.casefold()
        seen[folded] = k = seen.get(folded, 0) + 1
        h = fact_hash(folded, k)
        hashes.append(h)
        words[h] = (folded, k)
    return np.unique(np.array(hashes, dtype=np.uint32)), words


def _sentence_start(text: str, pos: int) -> bool:
    """Sentence-initial capitals are grammar, not names: a trivial punctuation edit
    ("said. The" -> "said, the") must not change the facts."""
    before = text[max(0, pos - 3) : pos].rstrip(" \t\"'„“”»«(")
    return not before or before[-1] in ".!?:\n"


def typo_variants(word: str) -> set[str]:
    """Every string one edit (delete, transpose, replace, insert) from ``word``.

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
            for c in alphabet:
                out.add(left + c + right[1:])
        for c in alphabet:
            out.add(left + c + right)
    out.discard(word)
    return out


def features(normalized_text: str, body_text: str) -> Features:
    """All features of one story, computed once per record."""
    sh = shingles(normalized_text)
    fact_arr, words = facts(body_text)
    return Features(
        fingerprint=fingerprint(normalized_text),
        signature=signature(sh),
        shingle_count=len(set(sh)),
        facts=fact_arr,
        entity_words=words,
    )
