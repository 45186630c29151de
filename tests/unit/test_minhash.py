"""The compiled shingle pass against plain Python: the same shingles (unit, size, order)
as :func:`consumer.dedup.fingerprint.shingles`, hashed as documented in
:mod:`consumer.dedup.minhash`, and a signature equal to the textbook MinHash of their set."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.dedup import fingerprint as fp
from consumer.dedup import minhash as mh
from tests.corpus import SHARED

M64 = (1 << 64) - 1
WORD = re.compile(r"\w+")  # the shingle unit fingerprint.py documents


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    return k ^ (k >> 33)


def _bytes_hash(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & M64
    return _fmix64(h)


def ref_token_hashes(text: str) -> list[int]:
    """The documented hash of each token :func:`fp.shingles` gives, in its order."""
    tokens = fp.shingles(text)
    words = WORD.findall(text)
    if len(words) >= 3:
        out = []
        for shingle in tokens:
            a, b, c = (_bytes_hash(w.encode()) for w in shingle.split(" "))
            h = _fmix64((a * 0x9E3779B97F4A7C15 + b) & M64)
            out.append(_fmix64((h * 0xC2B2AE3D27D4EB4F + c) & M64))
        return out
    if words:
        return [_fmix64(_bytes_hash(w.encode()) ^ 0x51574F5244000001) for w in tokens]
    return [_fmix64(_bytes_hash(text.encode()) ^ 0x51574F5244000002)]


def ref_signature(hashes: list[int]) -> npt.NDArray[np.uint16]:
    """Textbook MinHash: per permutation, the least (a·x + b) mod 2^64 >> 32 over the set."""
    a, b = mh.permutations()
    xs = np.array(sorted({h & 0xFFFFFFFF for h in set(hashes)}), dtype=np.uint64)
    values = (a[:, None] * xs[None, :] + b[:, None]) >> np.uint64(32)
    return (values.min(axis=1) & np.uint64(0xFFFF)).astype(np.uint16)


def assert_matches_reference(text: str) -> None:
    buf = mh.text_bytes(text)
    got = mh.tokens_of(buf)
    want = ref_token_hashes(text)
    assert got.tolist() == want
    sig, count = mh.minhash(buf)
    assert count == len(set(fp.shingles(text)))
    assert sig.dtype == np.uint16
    assert sig.shape == (mh.NUM_PERM,)
    assert sig.tolist() == ref_signature(want).tolist()


def _corpus_texts(name: str, n: int) -> list[str]:
    with (SHARED / "data" / "corpus" / name).open(encoding="utf-8") as fh:
        rows = (json.loads(line) for line in itertools.islice(fh, 0, None, 37))
        return [" ".join(str(r["text"]).split()).casefold() for r in itertools.islice(rows, n)]


def test_real_texts_have_the_python_shingles_and_signature() -> None:
    texts = _corpus_texts("de_articles.jsonl", 25) + _corpus_texts("en_wire.jsonl", 25)
    for text in texts:
        assert_matches_reference(text)


def test_short_texts_fall_back_to_words_then_to_the_text() -> None:
    for text in ["", "  ", "!!! ...", "eins", "eins zwei", "eins, zwei", "a_b 1,5 c", "ä ö ü ß"]:
        assert_matches_reference(text)
    # the two fallbacks and a 3-gram never share a hash (another domain each)
    assert mh.tokens_of(mh.text_bytes("x y z")).size == 1
    distinct = {int(mh.tokens_of(mh.text_bytes(t))[0]) for t in ("xyz", "!!", "x y z")}
    assert len(distinct) == 3


def test_astral_word_characters_use_the_full_table() -> None:
    # mathematical bold letters and a CJK Extension B ideograph are \w; an emoji is not
    text = "kurs 𝐀𝐁 steigt 😀 um 𠀀 3,5 prozent 😀😀 heute"
    assert "𝐀𝐁" in WORD.findall(text)
    assert_matches_reference(text)


def test_word_table_is_re_word_definition() -> None:
    table = mh.word_table(full=True)
    rng = np.random.default_rng(5)
    for cp in itertools.chain(range(0x300), rng.integers(0x300, 0x110000, 3000)):
        if 0xD800 <= cp < 0xE000:
            continue
        assert bool(table[cp]) == bool(WORD.fullmatch(chr(cp))), hex(cp)


def test_order_and_repeats() -> None:
    a = mh.tokens_of(mh.text_bytes("der dax steigt der dax steigt"))
    assert a.size == 4
    assert a[0] == a[3]  # the same 3-gram twice
    assert len(set(a.tolist())) == 3
    sig, count = mh.minhash(mh.text_bytes("der dax steigt der dax steigt"))
    assert count == 3
    other, _ = mh.minhash(mh.text_bytes("steigt der dax der dax steigt"))
    assert not np.array_equal(sig, other)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_any_text_matches_the_reference(text: str) -> None:
    assert_matches_reference(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["dax", "steigt", "um", "3,5", "%", "müller", "ag", "-", "."]),
                max_size=40))
def test_word_soup_matches_the_reference(words: list[str]) -> None:
    assert_matches_reference(" ".join(words))


def test_features_switch_changes_only_the_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _corpus_texts("de_articles.jsonl", 5)
    for text in texts:
        body = text  # the facts read the body; any text will do for the comparison
        rensa_feats = fp.features(text, body)
        monkeypatch.setattr(fp, "SIGNATURE", "compiled")
        compiled = fp.features(text, body)
        monkeypatch.setattr(fp, "SIGNATURE", "rensa")
        assert compiled.fingerprint == rensa_feats.fingerprint == fp.fingerprint(text)
        assert compiled.shingle_count == rensa_feats.shingle_count
        assert compiled.facts.tobytes() == rensa_feats.facts.tobytes()
        assert compiled.entity_words == rensa_feats.entity_words
        assert compiled.signature.tolist() == mh.minhash(mh.text_bytes(text))[0].tolist()
        assert rensa_feats.signature.tolist() == fp.signature(fp.shingles(text)).tolist()
