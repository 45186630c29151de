"""German re-sends that fix a typo are near duplicates, whatever word it is in (issue 19,
part 2): every German noun is capitalised, so the facts see nouns as names."""

from __future__ import annotations

import re

import pytest

from tests.unit.test_dedup_core import Feed, render, seed_paragraphs

T0 = 1_767_427_200_000


def _everywhere(paras: list[str], word: str, bad: str) -> list[str]:
    return [re.sub(rf"\b{word}\b", bad, p) for p in paras]


@pytest.mark.parametrize(("word", "bad"), [
    ("Ukraine", "Ukriane"),  # swapped letters, four occurrences
    ("Sicherheitsberater", "Sicherheitsbreater"),  # two occurrences
    ("Umjerow", "Umjeorw"),  # a name, four occurrences
    ("Russland", "Russsland"),  # a doubled letter
    ("Kiew", "Kiwe"),  # a short name, swapped letters, five occurrences
    ("Staaten", "Stataen"),
])
def test_a_typo_fixed_in_every_occurrence_of_a_noun_is_near(word: str, bad: str) -> None:
    seed = seed_paragraphs()
    feed = Feed()
    first = feed.send(render(_everywhere(seed, word, bad)), ts=T0)
    fixed = [seed[0].replace(", sagte", " , sagte"), *seed[1:]]
    out = feed.send(render(fixed, sig="/abc/DP/xy", day="2026-01-04", place="BERLIN"), ts=T0 + 1)
    assert (out.event_type, out.event["reason"]) == ("story.duplicate", "near")
    assert out.event["duplicate_of"] == first.event["event_id"]


def test_two_typos_in_two_nouns_one_in_a_single_occurrence_is_near() -> None:
    seed = seed_paragraphs()
    typo = _everywhere(seed, "Ukraine", "Ukarine")
    typo[1] = typo[1].replace("Waffenstillstands", "Waffenstilstands", 1)
    feed = Feed()
    first = feed.send(render(typo), ts=T0)
    out = feed.send(render(seed, sig="/xy/DP/zz"), ts=T0 + 1)
    assert (out.event_type, out.event["reason"]) == ("story.duplicate", "near")
    assert out.event["duplicate_of"] == first.event["event_id"]


@pytest.mark.parametrize(("word", "other"), [
    ("Kiew", "Kiel"),  # a short name with one letter replaced is another place
    ("Russland", "Rumänien"),
])
def test_another_name_in_every_occurrence_stays_a_new_story(word: str, other: str) -> None:
    seed = seed_paragraphs()
    feed = Feed()
    feed.send(render(seed), ts=T0)
    out = feed.send(render(_everywhere(seed, word, other)), ts=T0 + 1)
    assert out.event_type == "story.created"


def test_a_typo_fix_and_another_figure_is_a_new_story() -> None:
    seed = seed_paragraphs()
    feed = Feed()
    feed.send(render(_everywhere(seed, "Ukraine", "Ukriane")), ts=T0)
    changed = [seed[0].replace("14 Staaten", "15 Staaten"), *seed[1:]]
    assert feed.send(render(changed), ts=T0 + 1).event_type == "story.created"


def test_a_signature_glued_to_a_last_word_is_not_part_of_the_text() -> None:
    seed = seed_paragraphs()
    body = [*seed[:-1], seed[-1].rstrip(".") + " laut Hintergrundstatistiken"]
    feed = Feed()
    first = feed.send(render(body, sig="/wdw/DP/mis"), ts=T0)
    out = feed.send(render(body, sig="/abc/DP/xy"), ts=T0 + 1)
    assert (out.event_type, out.event["reason"]) == ("story.duplicate", "exact")
    assert out.event["duplicate_of"] == first.event["event_id"]
