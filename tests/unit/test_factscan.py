"""The compiled fact scan gives ``facts()``'s hashes and words byte for byte: the plain
per-token reference of ``test_fingerprint_facts`` on its tricky texts, generated texts of
every alphabet, and real story bodies; texts beyond the BMP are handed back."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.dedup import factscan
from consumer.dedup import fingerprint as fp
from tests.corpus import SHARED
from tests.unit.test_fingerprint_facts import ALPHABETS, TRICKY, ref_facts, texts


def assert_same(text: str) -> None:
    got = factscan.facts_of(text.encode("utf-8"))
    if any(ord(c) > 0xFFFF for c in text):
        assert got is None
        return
    assert got is not None, text
    want, want_words = ref_facts(text)
    assert got[0].dtype == np.uint32
    assert got[0].tobytes() == want.tobytes(), text
    assert list(got[1].items()) == list(want_words.items()), text


def test_tricky_texts() -> None:
    for text in TRICKY:
        assert_same(text)


def test_real_bodies() -> None:
    for name in ("de_articles.jsonl", "en_wire.jsonl"):
        with (SHARED / "data" / "corpus" / name).open(encoding="utf-8") as fh:
            for line in itertools.islice(fh, 0, None, 53):
                text = " ".join(str(json.loads(line)["text"]).split())
                assert_same(text)
                got = factscan.facts_of(text.encode())
                assert got is not None
                assert got[0].tobytes() == fp.facts(text)[0].tobytes()


def test_beyond_the_bmp_is_handed_back() -> None:
    assert factscan.facts_of("Der DAX 😀 steigt, sagte Müller".encode()) is None
    assert factscan.facts_of("Der DAX steigt, sagte Müller".encode()) is not None


@pytest.mark.parametrize("alphabet", sorted(ALPHABETS))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_generated_texts(alphabet: str, data: st.DataObject) -> None:
    assert_same(data.draw(texts(ALPHABETS[alphabet])))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    assert_same(text)
