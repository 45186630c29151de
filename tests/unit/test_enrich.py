"""The derived-field shortcuts in consumer.enrich/consumer.text give the plain results."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pytest

from consumer.enrich import LANGID_PREFIX, find_isins, language_classifier, language_identifier
from consumer.text import casefold

FOLD_SAMPLES = [
    "",
    "plain ascii ONLY",
    "Straße, ÄRGER über Österreich „Zitat“ – ẞ µ ſ",
    "ΣΑΣ σς İstanbul ǅ ᾈ ﬀ Ꭰ 𐐀 \ud800",
    "Ünïcödé only ÀÉÎÕÜ",
]


@pytest.mark.parametrize("text", FOLD_SAMPLES)
def test_casefold_equals_str_casefold(text: str) -> None:
    # short, long mostly ASCII (the byte-level path), long mostly non-ASCII
    for variant in (text, "Lange Zeile " * 30 + text, "Длинная строка " * 30 + text):
        assert casefold(variant) == variant.casefold()
        encoded = variant.encode("utf-8", "surrogatepass")
        assert casefold(variant, encoded) == variant.casefold()


def test_casefold_replacements_never_feed_each_other() -> None:
    # what casefold() relies on: every character of a folding folds to itself,
    # and no character but the space folds to (something with) a space
    # and it finds every non-ASCII character that folding changes
    from consumer.text import FOLD_CHANGES

    for cp in range(sys.maxunicode + 1):
        folded = chr(cp).casefold()
        assert all(ch.casefold() == ch for ch in folded), hex(cp)
        assert cp == 0x20 or " " not in folded, hex(cp)
        if cp >= 0x80 and folded != chr(cp):
            assert FOLD_CHANGES.match(chr(cp)), hex(cp)


LANG_SAMPLES = [
    "Die Bundesregierung will die Förderung von Elektroautos deutlich ausweiten.",
    "The company said on Tuesday it would cut 1,200 jobs in Europe by next year.",
    "Le gouvernement a annoncé mardi une nouvelle réforme des retraites.",
    "Правительство объявило о новых мерах поддержки экономики.",
    "12345 67890 !!!",
    "ab",
]


@pytest.mark.parametrize("text", LANG_SAMPLES)
def test_classifier_label_is_py3langid_label(text: str) -> None:
    assert language_classifier().classify(text) == language_identifier().classify(text)[0]


def test_classifier_label_is_py3langid_label_on_real_text(shared_dir: Path) -> None:
    """The compiled walk against py3langid itself on 1,200 real German and English
    texts, at the detector's prefix length and at whole paragraphs (longer walks,
    features seen many times)."""
    texts: list[str] = []
    for name in ("de_articles.jsonl", "en_wire.jsonl"):
        with (shared_dir / "data" / "corpus" / name).open(encoding="utf-8") as fh:
            for line in itertools.islice(fh, 300):
                text = str(json.loads(line).get("text") or "")
                texts += [text[:LANGID_PREFIX], text[:2000]]
    assert len(texts) == 1200
    labels = [language_classifier().classify(t) for t in texts]
    assert labels == [language_identifier().classify(t)[0] for t in texts]
    assert {"de", "en"} <= set(labels)


def test_find_isins_with_a_shared_encoding() -> None:
    text = "Aktie DE0007164600\nund US0378331005 sowie XX0000000000"
    spaced = text.replace("\n", " ")
    assert find_isins(text, spaced.encode()) == find_isins(text) == ("DE0007164600", "US0378331005")
