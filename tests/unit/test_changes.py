"""The ``changes`` object on real text: through the real parser and pipeline, and the diff alone.

Versions are built from real articles (the dpa-AFX seed, Reuters-21578, German
articles): only what a correction, update or re-send changes is edited.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from consumer.dedup import Index
from consumer.dedup.state import FORMAT_VERSION, StateEntry, upgrade, upgrade_all
from consumer.diff import (
    MAX_ITEMS,
    MAX_SNAPSHOT_BYTES,
    MAX_TEXT,
    Snapshot,
    changes_between,
    compare,
    read_snapshot,
    snapshot,
)
from consumer.model import Block, RawRecord, Story
from consumer.parse import parse_record
from consumer.pipeline import Pipeline
from tests.unit.test_dedup_core import render, reuters, seed_paragraphs

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Draft202012Validator(json.loads((ROOT / "schemas" / "story.v1.json").read_text()))
GERMAN = ROOT.parent / "shared" / "data" / "corpus" / "de_articles.jsonl"


def german(n: int) -> list[list[str]]:
    """Real German articles with at least three blank-line paragraphs."""
    out: list[list[str]] = []
    with GERMAN.open(encoding="utf-8") as fh:
        for line in fh:
            text = json.loads(line)["text"]
            paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]
            if len(paras) >= 3 and len(text) > 600:
                out.append(paras)
            if len(out) == n:
                break
    return out


def run(*versions: bytes) -> list[dict[str, object]]:
    pipe = Pipeline(parser=parse_record)
    events = []
    for off, value in enumerate(versions):
        out = pipe.run(RawRecord(value=value, offset=off))
        SCHEMA.validate(out.event)
        events.append(out.event)
    return events


def _story(paras: list[str], headline: str | None = None) -> Story:
    text = " ".join(paras).casefold()
    return Story(format="plain", body=tuple(Block("paragraph", p) for p in paras),
                 normalized_text=text, headline=headline)


# -- through the parser and the pipeline ------------------------------------------------


def test_correction_of_one_figure_in_the_seed_names_exactly_that_figure() -> None:
    paras = seed_paragraphs()
    spot = next((i, m) for i, p in enumerate(paras) if (m := re.search(r"\b\d+\b", p)))
    i, m = spot
    old = m.group()
    new = old[:-1] + str((int(old[-1]) + 3) % 10)
    fixed = [*paras[:i], paras[i][: m.start()] + new + paras[i][m.end() :], *paras[i + 1 :]]
    first, corrected = run(render(paras), render(fixed, headline="KORREKTUR: Kiew: Verhandlungen"))
    assert corrected["event_type"] == "story.corrected"
    changes = corrected["changes"]
    assert changes["available"] is True
    assert len(changes["figures"]) == 1
    fig = changes["figures"][0]
    assert old in fig["old"]
    assert fig["old"].replace(old, new) == fig["new"]
    assert fig["at"] == fig["old_at"] == i
    assert changes["material"] is True
    assert [c["at"] for c in changes["paragraphs"]["changed"]] == [i]
    assert not changes["paragraphs"]["added"]
    assert not changes["paragraphs"]["removed"]
    assert "headline" not in changes  # the parser keeps KORREKTUR as a flag, not headline text
    assert "changes" not in first


def test_update_adding_paragraphs_lists_exactly_those() -> None:
    # articles of four paragraphs or more: the first version is at least half the update
    for paras in [p for p in german(20) if len(p) >= 4][:5]:
        keep = len(paras) - 2
        events = run(render(paras[:keep], headline="Berlin: Haushalt"),
                     render(paras, headline="ROUNDUP: Berlin: Haushalt"))
        update = events[1]
        assert update["event_type"] == "story.updated", update["reason"]
        p = update["changes"]["paragraphs"]
        assert p["added"] == [{"at": j, "text": paras[j]} for j in range(keep, len(paras))]
        assert p["removed"] == p["changed"] == []
        assert update["changes"]["figures"] == []
        assert update["changes"]["material"] is True


def test_typo_fix_resend_is_a_near_duplicate_that_is_not_material() -> None:
    paras = seed_paragraphs()
    i = max(range(len(paras)), key=lambda k: len(paras[k]))
    word = next(w for w in re.findall(r"[^\W\d_]{8,}", paras[i]))
    typo = word[:3] + word[4] + word[3] + word[5:]
    with_typo = [*paras[:i], paras[i].replace(word, typo, 1), *paras[i + 1 :]]
    _, resend = run(render(with_typo), render(paras, sig="/abc/DP/xy"))
    assert (resend["event_type"], resend["reason"]) == ("story.duplicate", "near")
    changes = resend["changes"]
    assert changes["material"] is False
    assert changes["figures"] == []
    assert [c["at"] for c in changes["paragraphs"]["changed"]] == [i]


def test_a_version_whose_previous_left_the_window_says_so() -> None:
    paras = seed_paragraphs()
    pipe = Pipeline(parser=parse_record, window_ms=30_000)
    t0 = 1_767_398_400_000  # 2026-01-03, when the first version arrived
    pipe.run(RawRecord(value=render(paras, day="2026-01-03"), offset=0, timestamp_ms=t0))
    # arriving a minute later: the first version is outside a 30-second window
    later = pipe.run(RawRecord(value=render([*paras, "Neu: ein Absatz."], day="2026-01-03",
                                            headline="ROUNDUP: Kiew: Verhandlungen"),
                               offset=1, timestamp_ms=t0 + 60_000))
    assert later.event_type == "story.created"
    assert later.event["changes"] == {"available": False, "reason": "previous_not_held"}
    SCHEMA.validate(later.event)


def test_previous_version_stored_without_text_says_so() -> None:
    """A format 1 entry (written before the text was kept) converts, without text."""
    paras = seed_paragraphs()
    pipe = Pipeline(parser=parse_record)
    first = pipe.process(RawRecord(value=render(paras), offset=0))
    assert first.entry is not None
    v1 = bytes((1,)) + first.entry.encode()[1:]
    v1 = v1[: len(v1) - len(first.entry.text)]  # format 1 had no text
    pipe = Pipeline(Index.restore([(first.entry.key, v1)]), parser=parse_record)
    assert pipe.index.unreadable == {}
    out = pipe.run(RawRecord(value=render([*paras, "Neu: ein Absatz."],
                                          headline="ROUNDUP: Kiew"), offset=1))
    assert out.event_type == "story.updated"
    assert out.event["changes"] == {"available": False, "reason": "previous_text_not_kept"}


def test_restored_replica_computes_the_same_changes() -> None:
    paras = reuters(3)
    live = Pipeline(parser=parse_record)
    log = []
    for off, p in enumerate(paras):
        out = live.run(RawRecord(value=render(p, place="NEW YORK"), offset=off))
        log.extend(out.changes)
    restored = Pipeline(Index.restore(log), parser=parse_record)
    for off, p in enumerate(paras):
        rec = RawRecord(value=render([*p, "The company said it would appeal."],
                                     headline="ROUNDUP: Story", place="NEW YORK"),
                        offset=100 + off)
        a, b = live.process(rec).event, restored.process(rec).event
        # an update or a near duplicate (one short sentence), the same on both replicas
        assert a["event_type"] in ("story.updated", "story.duplicate")
        assert a == b
        added = a["changes"]["paragraphs"]["added"]
        assert added == [{"at": len(p), "text": "The company said it would appeal."}]


# -- the diff on real text ------------------------------------------------------------------


def _lone_names(n: int) -> list[tuple[list[str], str]]:
    """Reuters stories with a capitalised word alone mid-sentence that occurs once in the
    story (a person, company or place), and that word."""
    out = []
    for paras in reuters(n):
        text = "\n".join(paras)
        words = text.split()
        cands = [w for prev, w, nxt in zip(words, words[1:], words[2:], strict=False)
                 if re.fullmatch(r"[a-z]+,?", prev) and nxt.islower()
                 and re.fullmatch(r"[A-Z][a-z]{3,}", w)
                 and len(re.findall(rf"\b{w}", text)) == 1]
        if cands:
            out.append((paras, cands[0]))
    return out


@pytest.mark.parametrize("k", range(6))
def test_one_name_changed_in_a_reuters_story_is_named(k: int) -> None:
    paras, name = _lone_names(80)[k * 3]
    edited = [p.replace(name, "Kowalski") for p in paras]
    changes = compare(Snapshot(None, tuple(paras)), Snapshot(None, tuple(edited)))
    assert changes["names"] == {"added": ["Kowalski"], "removed": [name]}
    assert changes["figures"] == []
    assert changes["material"] is True


def test_one_date_changed_in_a_german_article_is_the_figure() -> None:
    paras = german(3)[0]
    dated = [*paras[:1], paras[1] + " Die Sitzung ist für den 15. März 2016 angesetzt.",
             *paras[2:]]
    moved = [*paras[:1], paras[1] + " Die Sitzung ist für den 17. März 2016 angesetzt.",
             *paras[2:]]
    changes = compare(Snapshot(None, tuple(dated)), Snapshot(None, tuple(moved)))
    assert changes["figures"] == [{"old": "15. März 2016", "new": "17. März 2016",
                                   "at": 1, "old_at": 1}]
    assert changes["names"] == {"added": [], "removed": []}


def test_german_amount_in_its_own_notation() -> None:
    paras = german(4)[3]
    a = [*paras, "Der Umsatz lag bei 4,5 Milliarden Euro."]
    b = [*paras, "Der Umsatz lag bei 4,2 Milliarden Euro."]
    changes = compare(Snapshot("H", tuple(a)), Snapshot("H", tuple(b)))
    assert changes["figures"] == [{"old": "4,5 Milliarden Euro", "new": "4,2 Milliarden Euro",
                                   "at": len(paras), "old_at": len(paras)}]
    assert "headline" not in changes


def test_whitespace_and_rewrapping_change_nothing() -> None:
    paras = reuters(2)[1]
    rewrapped = [p.replace(" ", "\n", 3) + "  " for p in paras]
    changes = compare(Snapshot(None, tuple(paras)), Snapshot(None, tuple(rewrapped)))
    assert changes["paragraphs"] == {"added": [], "removed": [], "changed": [], "cut": False}
    assert changes["figures"] == []
    assert changes["material"] is False


def test_sizes_are_bounded_and_cut_is_marked() -> None:
    paras = [p * 20 for p in seed_paragraphs()] * 10
    changes = compare(Snapshot(None, ()), Snapshot(None, tuple(paras)))
    p = changes["paragraphs"]
    assert len(p["added"]) == MAX_ITEMS
    assert p["omitted"] == len(paras) - MAX_ITEMS
    assert p["cut"] is True
    assert all(len(a["text"]) <= MAX_TEXT for a in p["added"])
    assert p["added"][0]["text"].endswith("…")


def test_snapshot_round_trip_and_bounds() -> None:
    story = _story(seed_paragraphs(), "Kiew")
    assert read_snapshot(snapshot(story)) == Snapshot("Kiew", tuple(seed_paragraphs()))
    huge = _story(["x" * (MAX_SNAPSHOT_BYTES + 1)])
    assert snapshot(huge) == b""
    assert changes_between(b"", story) == {"available": False, "reason": "previous_text_not_kept"}
    assert read_snapshot(b"\x00garbage") is None


@functools.cache
def _base_event() -> dict[str, object]:
    return run(render(seed_paragraphs()))[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=60), max_size=8),
       st.lists(st.text(min_size=1, max_size=60), max_size=8))
def test_any_pair_of_versions_gives_a_valid_bounded_changes_object(
        old: list[str], new: list[str]) -> None:
    changes = compare(Snapshot("x", tuple(old)), Snapshot("x", tuple(new)))
    event = _base_event() | {"changes": changes}
    SCHEMA.validate(event)
    if old == new:
        assert changes["material"] is False
        assert changes["figures"] == []


# -- the state entry's format version ---------------------------------------------------


def test_format_versions_convert_or_are_dropped_and_counted() -> None:
    paras = seed_paragraphs()
    out = Pipeline(parser=parse_record).process(RawRecord(value=render(paras), offset=0))
    assert out.entry is not None
    current = out.entry.encode()
    assert current[0] == FORMAT_VERSION == 2
    assert StateEntry.decode(current).text == out.entry.text != b""
    v1 = bytes((1,)) + current[1 : len(current) - len(out.entry.text)]
    assert StateEntry.decode(upgrade(v1) or b"").text == b""
    newer = bytes((3,)) + current[1:]
    assert upgrade(newer) is None
    kept, dropped = upgrade_all([current, newer, v1, newer])
    assert len(kept) == 2
    assert dropped == {3: 2}
    # live: an unreadable entry under a held key evicts what was held there, counted
    index = Index()
    index.apply(out.entry.key, current)
    index.apply(out.entry.key, newer)
    assert len(index) == 0
    assert index.unreadable == {3: 1}


# -- wirefeed tail ------------------------------------------------------------------------


def test_tail_prints_a_short_diff_under_a_new_version() -> None:
    import orjson

    from consumer.cli.tail_cmd import describe

    paras = german(1)[0]
    fixed = [*paras, "Der Umsatz lag bei 4,2 Milliarden Euro."]
    events = run(render([*paras, "Der Umsatz lag bei 4,5 Milliarden Euro."]),
                 render(fixed, headline="KORREKTUR: Kiew: Verhandlungen"),
                 render([*fixed, "Neu: ein weiterer Absatz mit Angela Merkel in Berlin.",
                         *paras], headline="ROUNDUP: Kiew: Verhandlungen"))
    assert [e["event_type"] for e in events] == ["story.created", "story.corrected",
                                                 "story.updated"]
    corrected = describe(orjson.dumps(events[1]), None, None).plain().splitlines()
    assert corrected[0].startswith("story.corrected")
    assert "4,5 Milliarden Euro -> 4,2 Milliarden Euro" in corrected[1]
    updated = describe(orjson.dumps(events[2]), None, None).plain()
    assert f"+ [{len(fixed)}] Neu: ein weiterer Absatz" in updated
    assert "+Angela Merkel" in updated
    created = describe(orjson.dumps(events[0]), None, None).plain()
    assert "\n" not in created  # no diff under a first version
