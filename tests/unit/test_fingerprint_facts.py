"""The fast fact and shingle extraction equals the straightforward code it replaced.

Fact hashes and signatures are stored in the dedup changelog, so the fast paths in
:mod:`consumer.dedup.fingerprint` must give byte-identical results to the plain
per-token loop below (the implementation before issue 8), on every input.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import rensa
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.dedup import fingerprint as fp

# ---- the reference: the pre-issue-8 code, kept obviously correct -----------------

_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d(?:[\d.,]*\d)?")
_CAPITALISED = re.compile(r"\b[^\W\d_][\w'’-]*")


def _ref_capitalised(text: str) -> Iterator[tuple[int, str]]:
    for m in _CAPITALISED.finditer(text):
        if m.group()[0].isupper():
            yield m.start(), m.group()


def _ref_sentence_start(text: str, pos: int) -> bool:
    before = text[max(0, pos - 3) : pos].rstrip(" \t\"'„“”»«(")
    return not before or before[-1] in ".!?:\n"


def _ref_hash(token: str, k: int) -> int:
    return zlib.crc32(f"{token}\x00{k}".encode())


def ref_facts(text: str) -> tuple[npt.NDArray[np.uint32], dict[int, tuple[str, int]]]:
    words: dict[int, tuple[str, int]] = {}
    hashes: list[int] = []
    seen: dict[str, int] = {}
    for num in _NUMBER.findall(text):
        token = "#" + num.replace(".", "").replace(",", "")
        seen[token] = k = seen.get(token, 0) + 1
        hashes.append(_ref_hash(token, k))
    for pos, tok in _ref_capitalised(text):
        if len(tok) < 2 or _ref_sentence_start(text, pos):
            continue
        folded = tok.casefold()
        seen[folded] = k = seen.get(folded, 0) + 1
        h = _ref_hash(folded, k)
        hashes.append(h)
        words[h] = (folded, k)
    return np.unique(np.array(hashes, dtype=np.uint32)), words


def ref_shingles(text: str) -> list[str]:
    words = _WORD.findall(text)
    if len(words) < 3:
        return words or [text]
    return [f"{a} {b} {c}" for a, b, c in zip(words, words[1:], words[2:], strict=False)]


def ref_signature(tokens: list[str]) -> npt.NDArray[np.uint16]:
    mh = rensa.RMinHash(fp.NUM_PERM, fp.SEED)
    mh.update(tokens)
    return np.asarray(mh.digest(), dtype=np.uint32).astype(np.uint16)


# ---- comparisons ----------------------------------------------------------------


def assert_same_facts(text: str) -> None:
    got, got_words = fp.facts(text)
    want, want_words = ref_facts(text)
    assert got.dtype == want.dtype == np.uint32
    assert got.tobytes() == want.tobytes(), text
    assert list(got_words.items()) == list(want_words.items()), text


def assert_same_features(text: str) -> None:
    feats = fp.features(text.casefold(), text)
    sh = ref_shingles(text.casefold())
    assert fp.shingles(text) == ref_shingles(text)
    assert feats.shingle_count == len(set(sh))
    assert feats.signature.dtype == np.uint16
    assert feats.signature.tobytes() == ref_signature(sh).tobytes()
    assert_same_facts(text)


# letters of both cases, digits, the joiners, sentence ends, the openers the sentence
# test skips, and line breaks; then letters beyond ASCII and beyond Latin-1 (each
# alphabet takes another code path)
_ASCII = "abcxyzABCXYZ_0123456789.,!?:'-\"( \t\n"
_LATIN1 = _ASCII + "äöüßÄÖÜÉÞ²’„“”»«ªµº¼ÿ×÷\u00a0\u0085"
_ALPHABET = _LATIN1 + "łŁΣσДдİǅ٣&#;"
ALPHABETS = {"ascii": _ASCII, "latin1": _LATIN1, "beyond latin1": _ALPHABET}  # other tests'
# word-sized pieces (a separator, a run head, a word), so that names, joiners, digits
# and sentence ends meet often, mixed with random characters
_SEPARATORS = ["", " ", " ", "\n", ". ", ": ", "„", "(", " '", "\t", "? "]
_HEADS = ["", "", "", "7-", "x-", "l'", "'", "’", "_", "1a-", "-"]
_WORDS = ["Ab", "ABC", "abc", "A", "a", "Öl", "É", "7", "1,5", "Łódź", "Σα", "&#321;x", "&#65;"]


def texts(alphabet: str) -> st.SearchStrategy[str]:
    def pick(pieces: list[str]) -> st.SearchStrategy[str]:
        return st.sampled_from([p for p in pieces if all(c in alphabet for c in p)])

    word = st.tuples(pick(_SEPARATORS), pick(_HEADS), pick(_WORDS)).map("".join)
    return st.lists(st.one_of(word, st.text(alphabet, max_size=3)), max_size=25).map("".join)


TRICKY = [
    "",
    "A",
    "said l'Oréal and L'Oréal, d’Alembert",
    "the abc-Def Ghi, 12-Foo, x 1abc-Def, __Abc-Def",
    "said dpa-AFX. The US-Präsident and the ex-Präsident",
    "x. 'Oréal-Paris x -'-Abc ''Abc ’’Abc’s O'Neil",
    "Łódź and Łódź, the ŁÓDŹ city. Gdańsk",
    "Αθήνα και η Ελλάδα. Η Αθήνα",
    "Москва и Россия. Путин сказал Москва",
    "„Der Präsident sagte: „Der Mann (The man) «The» \"'The",
    "said: The man; said:The man\nThe man\n The man 1.The a1The",
    "ISSUED\n7-APR FOR PREVIOUS DAY\n  D-MARK  747-SR",
    "Numbers 155,221 and 155.221 and 155,222 1,2,3 1. 2 3.5, 10,000,000.00 ,5. 007",
    "The X, the X, and X X X Xy Xy Xy",
    "Müller and MÜLLER and Straße STRASSE, İstanbul, ǅemal, Ⅰx, ²x, Ⓐbc, ΣΑΣ σας",
    # a character reference already in the text, Latin-1 word characters that are not
    # letters, Latin-1 non-word characters between letters, digits beyond ASCII
    "x &#321;odz and &#65; &#1114112; &#99999999999; Ab&#322;c „Der“ Bank",
    "x ª Ab µCd ºEf ¼Gh ÿIj ×Kl ÷Mn Ab×Cd Ab÷Cd Ab\u00a0Cd Ab\u0085Cd 1×2 ²3 ٣4 ٣,٣",
    "x 7-Ab, 7-Ab and 7-Ab; l'Ab x-Ab 1a-Bc ’Ab — Ab-Cd 7-Ef. Gh",
    # every Latin-1 character starting a token, then after a joiner and a digit
    "x " + " ".join(f"{chr(c)}b 7-{chr(c)}c x’{chr(c)}d" for c in range(0xA0, 0x100)),
    "x " + " ".join(f"{chr(c)}b 7-{chr(c)}c x'{chr(c)}d" for c in range(0x20, 0x80)),
    # occurrence numbers from 256 on
    "x" + " Ab 7, Cd" * 300,
    "x" + " Äb 7, Cd" * 300,
]


def test_latin1_word_class_is_the_regex_word_class() -> None:
    for code in range(256):
        word = re.fullmatch(r"\w", chr(code)) is not None
        assert fp.LATIN1_WORD_BYTES[code] == (code if word else 0x20), code


def test_tricky_texts() -> None:
    for text in TRICKY:
        assert_same_features(text)


@settings(max_examples=600, deadline=None)
@given(texts(_ASCII))
def test_facts_equal_reference_ascii(text: str) -> None:
    assert_same_facts(text)


@settings(max_examples=400, deadline=None)
@given(texts(_LATIN1))
def test_features_equal_reference_latin1(text: str) -> None:
    assert_same_features(text)


@settings(max_examples=400, deadline=None)
@given(texts(_ALPHABET))
def test_features_equal_reference(text: str) -> None:
    assert_same_features(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_facts_equal_reference_any_text(text: str) -> None:
    assert_same_facts(text)
