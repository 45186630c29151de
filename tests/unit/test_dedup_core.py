"""Dedup decisions on real text (the dpa-AFX seed, Reuters-21578, German articles)."""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pytest

from consumer.dedup import Index, StateEntry, features
from consumer.dedup.bandtable import EMPTY, BandTable, band_keys
from consumer.dedup.decide import facts_match
from consumer.dedup.fingerprint import Signature
from consumer.dedup.kernels import ENTRY_CELLS
from consumer.model import RawRecord
from consumer.parse import parse_record
from consumer.pipeline import Outcome, Pipeline

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SEED = SHARED / "seeds" / "000_34eca767715a4b5f.txt"
HOUR = 3_600_000


def seed_paragraphs() -> list[str]:
    raw = SEED.read_text(encoding="utf-8")
    body = raw.split("(dpa-AFX) - ", 1)[1].rsplit("/mau/DP/he", 1)[0]
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]


def reuters(n: int, *, min_paras: int = 3) -> list[list[str]]:
    out: list[list[str]] = []
    seen: set[str] = set()  # the corpus holds real re-sends: keep one of each
    with (SHARED / "data" / "corpus" / "en_wire.jsonl").open("rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            if row.get("text_type") != "NORM":
                continue
            paras = [" ".join(p.split()) for p in re.split(r"\n\s{2,}", row["text"]) if p.strip()]
            key = " ".join(row["text"].split())[:300]
            if len(paras) >= min_paras and len(row["text"]) > 600 and key not in seen:
                seen.add(key)
                out.append(paras)
            if len(out) == n:
                break
    return out


def render(paras: list[str], *, headline: str = "Kiew: Verhandlungen", day: str = "2026-01-03",
           sig: str = "/mau/DP/he", place: str = "KIEW") -> bytes:
    body = "\n\n".join(paras)
    return f"date {day}\n{headline}\n\n{place} (dpa-AFX) - {body}{sig}".encode()


class Feed:
    """Records through the real parser and pipeline, committed one by one."""

    def __init__(self, **kw: int) -> None:
        self.pipe = Pipeline(parser=parse_record, **kw)
        self.offset = 0

    def send(self, value: bytes, ts: int | None = None) -> Outcome:
        out = self.pipe.run(RawRecord(value=value, offset=self.offset, timestamp_ms=ts))
        self.offset += 1
        return out


@pytest.fixture
def seed() -> list[str]:
    return seed_paragraphs()


def test_exact_resend_with_other_signature_and_date_header(seed: list[str]) -> None:
    feed = Feed()
    first = feed.send(render(seed))
    again = feed.send(render(seed, sig="/xyz/DP/ab", day="2026-01-04", headline="Andere Zeile"))
    assert first.event_type == "story.created"
    assert again.event_type == "story.duplicate"
    assert again.event["reason"] == "exact"
    assert again.event["duplicate_of"] == first.event["event_id"]
    assert again.event["story_id"] == first.event["story_id"]
    assert again.changes == ()


def test_near_resend_with_typo_fix_punctuation_and_rewrap(seed: list[str]) -> None:
    feed = Feed()
    typo = [seed[0].replace("Sicherheitsberater", "Sicherheitsbertaer", 1), *seed[1:]]
    first = feed.send(render(typo))
    fixed = [seed[0].replace(", sagte", " - sagte"), seed[1] + " " + seed[2], *seed[3:]]
    out = feed.send(render(fixed, sig="/abc/DP/xy"))
    assert out.event_type == "story.duplicate"
    assert out.event["reason"] == "near"
    assert 0.7 <= out.event["similarity"] < 1.0
    assert out.event["duplicate_of"] == first.event["event_id"]


def test_typo_fix_in_a_name_is_near(seed: list[str]) -> None:
    feed = Feed()
    feed.send(render([p.replace("Umjerow", "Umjreow") for p in seed]))
    out = feed.send(render(seed))
    assert (out.event_type, out.event["reason"]) == ("story.duplicate", "near")


def test_changed_figure_unflagged_is_a_new_story(seed: list[str]) -> None:
    feed = Feed()
    feed.send(render(seed))
    out = feed.send(render([seed[0].replace("14 Staaten", "15 Staaten"), *seed[1:]]))
    assert out.event_type == "story.created"
    assert out.event["story_id"] == out.event["event_id"]


def test_other_company_same_boilerplate_is_a_new_story() -> None:
    paras = reuters(1)[0]
    feed = Feed()
    feed.send(render(paras, place="NEW YORK"))
    name = re.findall(r"(?<=[a-z] )[A-Z][a-z]{4,}", " ".join(paras))[0]
    other = [p.replace(name, "Siemens") for p in paras]
    assert feed.send(render(other, place="NEW YORK")).event_type == "story.created"


def test_repeat_flag_is_a_repeat_duplicate(seed: list[str]) -> None:
    feed = Feed()
    first = feed.send(render(seed))
    out = feed.send(render(seed, headline="WDH/Kiew: Verhandlungen", sig="/he/DP/mau"))
    assert (out.event_type, out.event["reason"]) == ("story.duplicate", "repeat")
    assert out.event["duplicate_of"] == first.event["event_id"]


def test_roundup_adding_paragraphs_is_an_update_that_supersedes(seed: list[str]) -> None:
    feed = Feed()
    first = feed.send(render(seed[:3]))
    upd = feed.send(render(seed, headline="ROUNDUP/Kiew: Verhandlungen"))
    assert upd.event_type == "story.updated"
    assert upd.event["story_id"] == first.event["story_id"]
    assert upd.event["supersedes"] == first.event["event_id"]
    # a re-send of the first version is still its duplicate; the next update supersedes the latest
    assert feed.send(render(seed[:3])).event["duplicate_of"] == first.event["event_id"]
    extra = "Die Gespräche sollen am Montag in Paris fortgesetzt werden, teilte Umjerow mit."
    upd2 = feed.send(render([*seed, extra], headline="ROUNDUP 2/Kiew: Verhandlungen"))
    assert upd2.event_type == "story.updated"
    assert upd2.event["supersedes"] == upd.event["event_id"]
    assert upd2.event["story_id"] == first.event["story_id"]


def test_correction_of_a_figure_is_linked(seed: list[str]) -> None:
    feed = Feed()
    first = feed.send(render(seed))
    fixed = [seed[0].replace("14 Staaten", "15 Staaten"), *seed[1:]]
    out = feed.send(render(fixed, headline="KORREKTUR/Kiew: Verhandlungen"))
    assert out.event_type == "story.corrected"
    assert out.event["supersedes"] == first.event["event_id"]
    assert out.event["story_id"] == first.event["story_id"]


def test_different_stories_on_the_same_subject_are_created() -> None:
    feed = Feed()
    for paras in reuters(40):
        assert feed.send(render(paras, place="NEW YORK")).event_type == "story.created"


def test_agency_id_with_higher_version_is_an_update_or_correction() -> None:
    from consumer.dedup.decide import decide
    from consumer.model import Block, Story

    paras = reuters(1)[0]

    def mk(ps: list[str], version: int, flags: tuple[str, ...] = ()) -> Story:
        text = " ".join(" ".join(p.split()) for p in ps).casefold()
        return Story(format="t", body=tuple(Block("paragraph", p) for p in ps),
                     normalized_text=text, agency_id="urn:x:1", version=version, flags=flags)

    pipe = Pipeline()
    first = pipe.process_story(mk(paras, 1), RawRecord(value=None, offset=0, timestamp_ms=0))
    pipe.commit(first)
    rewritten = [p[::-1] for p in paras]  # no shared text at all: only the id links it
    upd = pipe.process_story(mk(rewritten, 2), RawRecord(value=None, offset=1, timestamp_ms=1))
    assert upd.event_type == "story.updated"
    assert upd.event["supersedes"] == first.event["event_id"]
    fixed = [paras[0] + " It corrects 17 figures.", *paras[1:]]
    corr = mk(fixed, 2, ("correction",))
    feats = features(corr.normalized_text, " ".join(fixed))
    assert decide(corr, feats, 1, pipe.index).kind == "corrected"


def test_facts_match_tolerates_one_edit_in_names_only(seed: list[str]) -> None:
    text = " ".join(seed)
    a = features(text.casefold(), text)
    held = StateEntry(a.fingerprint, "0" * 32, "1" * 32, 0, a.signature, a.shingle_count, a.facts)
    cases = [("Witkoff", "Witkof", True), ("Witkoff", "Kushner", False), ("14 ", "41 ", False)]
    for old, new, same in cases:
        t = text.replace(old, new, 1)
        b = features(t.casefold(), t)
        assert facts_match(b, held) is same, (old, new)


# -- window, state and restore -------------------------------------------------


def test_eviction_by_arrival_time() -> None:
    stories = reuters(5)
    minute = 60_000
    feed = Feed(window_ms=2 * minute)
    first = feed.send(render(stories[0]), ts=0)
    for k, p in enumerate(stories[1:4], 1):  # a record moves the watermark a minute at most
        feed.send(render(p), ts=k * HOUR)
    # the watermark moved 3 minutes on: the first story left the window and was evicted
    assert feed.pipe.index.watermark_ms == 3 * minute
    assert first.entry is not None
    assert first.entry.key not in feed.pipe.index
    again = feed.send(render(stories[0]), ts=4 * HOUR)
    assert again.event_type == "story.created"


def test_eviction_by_size_emits_tombstones_for_the_oldest() -> None:
    stories = reuters(4)
    feed = Feed(max_entries=2)
    outs = [feed.send(render(p)) for p in stories]
    assert len(feed.pipe.index) == 2
    tomb = [(k, v) for k, v in outs[2].changes if v is None]
    assert outs[0].entry is not None
    assert tomb == [(outs[0].entry.key, None)]
    assert outs[0].entry is not None
    assert outs[0].entry.key not in feed.pipe.index
    assert outs[3].entry is not None
    assert outs[3].entry.key in feed.pipe.index


def test_decide_does_not_mutate_the_index(seed: list[str]) -> None:
    pipe = Pipeline(parser=parse_record)
    out = pipe.process(RawRecord(value=render(seed)))
    assert len(pipe.index) == 0
    assert out.entry is not None
    again = pipe.process(RawRecord(value=render(seed), offset=1))
    assert again.event_type == "story.created"


def test_state_entry_round_trip_and_size(seed: list[str]) -> None:
    text = " ".join(seed)
    f = features(text.casefold(), text)
    e = StateEntry(f.fingerprint, "ab" * 16, "cd" * 16, 1_767_400_000_000, f.signature,
                   f.shingle_count, f.facts, agency_id="dpa-afx:123", version=3, flags=5)
    data = e.encode()
    d = StateEntry.decode(data)
    assert (d.fingerprint, d.story_id, d.event_id, d.event_time_ms) == (
        e.fingerprint, e.story_id, e.event_id, e.event_time_ms)
    assert (d.agency_id, d.version, d.flags) == ("dpa-afx:123", 3, 5)
    assert d.shingle_count == e.shingle_count
    assert np.array_equal(d.signature, e.signature)
    assert np.array_equal(d.facts, e.facts)
    assert len(data) < 800  # no text: signature 256 B + facts 4 B each + ~90 B header
    none = StateEntry.decode(StateEntry(f.fingerprint, "ab" * 16, "cd" * 16, 0, f.signature,
                                        1, f.facts[:0]).encode())
    assert none.agency_id is None
    assert none.version is None


def test_restore_from_changelog_gives_the_same_decisions(seed: list[str]) -> None:
    stories = reuters(30)
    feed = Feed(max_entries=20)
    log: list[tuple[str, bytes | None]] = []
    for p in stories:
        log.extend(feed.send(render(p)).changes)
    log.extend(feed.send(render(seed)).changes)
    restored = Index.restore(log, max_entries=20)
    live = feed.pipe.index
    assert {e.key for e in entries(restored)} == {e.key for e in entries(live)}
    assert restored.watermark_ms == live.watermark_ms
    replay = Index(max_entries=20)
    replay.apply_all(log)
    assert {e.key for e in entries(replay)} == {e.key for e in entries(live)}
    probes = [render(p, sig="/zz/DP/yy") for p in stories] + [
        render(seed[:3]), render(seed, headline="ROUNDUP/Kiew: Verhandlungen"),
        render([seed[0].replace("14", "16"), *seed[1:]], headline="KORREKTUR/Kiew"),
    ]
    for i, value in enumerate(probes):
        rec = RawRecord(value=value, offset=1000 + i)
        a = Pipeline(live, parser=parse_record).process(rec).event
        b = Pipeline(restored, parser=parse_record).process(rec).event
        c = Pipeline(replay, parser=parse_record).process(rec).event
        assert a == b == c


# -- column store, band table and feature fast paths ---------------------------


@dataclass(frozen=True, slots=True)
class Held:
    """A held entry a lookup found: ``matches`` = equal signature positions."""

    entry: StateEntry
    slot: int
    matches: int = 0


def candidates(index: Index, sig: Signature, min_time_ms: int | None = None) -> list[Held]:
    """Held entries sharing at least one LSH band with ``sig``, in slot order."""
    slots, counts = index.scan(sig, min_time_ms)
    return [
        Held(index.entry(s), s, c)
        for s, c in zip(slots.tolist(), counts.tolist(), strict=True)
    ]


def entries(index: Index) -> list[StateEntry]:
    """Live entries in slot order."""
    return [index.entry(int(s)) for s in index.slots()]


def _random_entry(rng: np.random.Generator, i: int, base: np.ndarray) -> StateEntry:
    sig = base[rng.integers(0, len(base))].copy()
    redraw = rng.random(128) < 0.8
    sig[redraw] = rng.integers(0, 1 << 16, int(redraw.sum()), dtype=np.uint16)
    facts = np.unique(rng.integers(0, 1 << 32, int(rng.integers(0, 40)), dtype=np.uint32))
    return StateEntry(
        i.to_bytes(16, "little"), f"{int(rng.integers(0, 300)):032x}", f"{i:032x}",
        int(rng.integers(-10**6, 10**6)), sig, int(rng.integers(1, 500)), facts,
        agency_id=None if rng.random() < 0.5 else f"a{rng.integers(0, 50)}",
        version=None if rng.random() < 0.5 else int(rng.integers(0, 9)),
        flags=int(rng.integers(0, 8)),
    )


def test_index_matches_a_brute_force_model_live_and_restored() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 1 << 16, (40, 128), dtype=np.uint16)
    index = Index(max_entries=10**9)
    model: dict[bytes, StateEntry] = {}
    log: list[tuple[str, bytes | None]] = []
    for step in range(4000):
        if model and rng.random() < 0.45:
            fp = list(model)[int(rng.integers(0, len(model)))]
            index.remove(fp)
            del model[fp]
            log.append((fp.hex(), None))
        else:
            i = int(rng.integers(0, 3000)) if rng.random() < 0.2 else 10**6 + step
            e = _random_entry(rng, i, base)
            index.add(e)
            model.pop(e.fingerprint, None)
            model[e.fingerprint] = e
            log.append((e.key, e.encode()))
    restored = Index.restore(log, max_entries=10**9)
    oldest: list[list[bytes]] = []
    for idx in (index, restored):
        assert len(idx) == len(model)
        for _ in range(30):
            sig = _random_entry(rng, 0, base).signature
            keys = band_keys(sig[None, :])[0]
            want = sorted(fp for fp, e in model.items()
                          if (band_keys(e.signature[None, :])[0] == keys).any())
            assert sorted(h.entry.fingerprint for h in candidates(idx, sig)) == want
        for fp, e in model.items():
            got = idx.get(fp)
            assert got is not None
            assert (got.story_id, got.event_id, got.event_time_ms, got.agency_id, got.version,
                    got.flags, got.shingle_count) == (e.story_id, e.event_id, e.event_time_ms,
                                                      e.agency_id, e.version, e.flags,
                                                      e.shingle_count)
            assert np.array_equal(got.signature, e.signature)
            assert np.array_equal(got.facts, e.facts)
        versions: dict[str, list[StateEntry]] = {}
        for e in model.values():
            versions.setdefault(e.story_id, []).append(e)
        for sid, es in versions.items():
            assert idx.latest_event(sid) == es[-1].event_id
        oldest.append(idx.eviction_order())
    assert oldest[0] == oldest[1]


def test_index_answers_the_same_while_its_band_table_is_resized() -> None:
    """A resize moves stories into the new table a few per add: lookups, removals and
    re-adds in the middle of a move find every held story, as a brute force does, and
    the move is spread over many adds (one add doing it all was a stall of O(held))."""
    rng = np.random.default_rng(11)
    base = rng.integers(0, 1 << 16, (60, 128), dtype=np.uint16)
    index = Index(max_entries=10**9)
    model: dict[bytes, StateEntry] = {}
    checked_mid_move = adds_mid_move = 0
    sizes: list[int] = []
    for step in range(11000):
        growing = step < 6000
        if model and rng.random() < (0.15 if growing else 0.9):
            fp = list(model)[int(rng.integers(0, len(model)))]
            assert index.remove(fp)
            del model[fp]
        else:
            i = int(rng.integers(0, 5000)) if rng.random() < 0.2 else 10**6 + step
            e = _random_entry(rng, i, base)
            adds_mid_move += index.bands.resizing
            index.add(e)
            model.pop(e.fingerprint, None)
            model[e.fingerprint] = e
        sizes.append(index.bands.buckets)
        if step % 97 == 0 and model:
            checked_mid_move += index.bands.resizing
            held = list(model.values())
            keys = band_keys(np.stack([e.signature for e in held]))
            for _ in range(4):
                sig = _random_entry(rng, 0, base).signature
                hit = (keys == band_keys(sig[None, :])).any(axis=1)
                want = sorted(e.fingerprint for e, h in zip(held, hit, strict=True) if h)
                assert sorted(h.entry.fingerprint for h in candidates(index, sig)) == want
    assert len(index) == len(model)
    assert checked_mid_move >= 10
    assert adds_mid_move >= 1000  # moves span many adds
    assert max(sizes) > 4 * sizes[0]  # it grew ...
    assert sizes[-1] < max(sizes)  # ... and gave memory back


def test_band_table_survives_many_equal_bands() -> None:
    rng = np.random.default_rng(5)
    sig = rng.integers(0, 1 << 16, 128, dtype=np.uint16)
    index = Index()
    log: list[tuple[str, bytes | None]] = []
    for i in range(2000):  # one bucket's chain runs far past its neighbours
        s = sig.copy()
        if i % 2:
            s[rng.integers(0, 128, 5)] = 7
        e = StateEntry(i.to_bytes(16, "little"), f"{i:032x}", f"{i:032x}", i, s, 10,
                       np.zeros(0, np.uint32))
        index.add(e)
        log.append((e.key, e.encode()))
    assert len(candidates(index, sig)) == 2000
    for i in range(0, 2000, 3):
        fp = i.to_bytes(16, "little")
        index.remove(fp)
        log.append((fp.hex(), None))
    assert len(candidates(index, sig)) == len(index) == 1333
    assert len(candidates(Index.restore(log), sig)) == 1333


def test_restore_rejects_corrupt_entries(seed: list[str]) -> None:
    text = " ".join(seed)
    f = features(text.casefold(), text)
    data = StateEntry(f.fingerprint, "ab" * 16, "cd" * 16, 0, f.signature, 1, f.facts).encode()
    with pytest.raises(ValueError, match="length"):
        Index.restore([("k", data[:-1])])
    # an entry of an unknown format is no corruption: it is dropped as unreadable, counted
    other = Index.restore([("k", b"\x09" + data[1:]), (f.fingerprint.hex(), data)])
    assert len(other) == 1
    assert other.unreadable == {9: 1}


def _state(index: Index) -> list[tuple[object, ...]]:
    return sorted(
        (e.key, e.encode(), slot) for slot, e in
        ((int(s), index.entry(int(s))) for s in index.slots())
    )


def test_apply_entry_equals_apply_of_its_bytes() -> None:
    rng = np.random.default_rng(11)
    base = rng.integers(0, 1 << 16, (30, 128), dtype=np.uint16)
    by_entry, by_bytes = Index(max_entries=10**9), Index(max_entries=10**9)
    for step in range(600):
        e = _random_entry(rng, int(rng.integers(0, 200)), base)
        if step % 7 == 0:  # longer than the 254 bytes the encoding keeps
            e = StateEntry(e.fingerprint, e.story_id, e.event_id, e.event_time_ms, e.signature,
                           e.shingle_count, e.facts, agency_id="ü" * 200)
            assert not e.encodes_as_is()
        elif step % 11 == 0:  # facts of another dtype: stored as uint32 all the same
            e = StateEntry(e.fingerprint, e.story_id, e.event_id, e.event_time_ms, e.signature,
                           e.shingle_count, e.facts.astype(np.int64))
            assert not e.encodes_as_is()
        else:
            assert e.encodes_as_is()
        value = e.encode()
        by_entry.apply_entry(e, value)
        by_bytes.apply(e.key, value)
        if step % 3 == 0:
            fp = by_bytes.fingerprints()[int(rng.integers(0, len(by_bytes)))]
            by_entry.apply(fp.hex(), None)
            by_bytes.apply(fp.hex(), None)
    assert _state(by_entry) == _state(by_bytes)
    assert by_entry.watermark_ms == by_bytes.watermark_ms
    for _ in range(20):
        sig = _random_entry(rng, 0, base).signature
        a, b = by_entry.scan(sig), by_bytes.scan(sig)
        assert np.array_equal(a[0], b[0])
        assert np.array_equal(a[1], b[1])


def test_pipeline_commit_equals_applying_the_changes(seed: list[str]) -> None:
    docs = reuters(40)
    values = [orjson.dumps({"headline": f"H{i}", "body": "\n\n".join(p)}) for i, p in
              enumerate(docs + docs[:10])]
    a = Pipeline(max_entries=25, parser=parse_record)
    b = Pipeline(max_entries=25, parser=parse_record)
    for i, value in enumerate(values):
        rec = RawRecord(value=value, offset=i, timestamp_ms=1_700_000_000_000 + i * 60_000)
        oa, ob = a.process(rec), b.process(rec)
        assert oa.changes == ob.changes
        assert oa.event == ob.event
        a.commit(oa)
        b.index.apply_all(ob.changes)
    assert _state(a.index) == _state(b.index)


def test_band_table_overflow_counts_return_to_zero() -> None:
    from consumer.dedup.kernels import query_hashes

    rng = np.random.default_rng(7)
    table = BandTable(nbuckets=16, pad=2)  # too small: chains, a grown pad
    base = rng.integers(0, 1 << 16, (5, 128), dtype=np.uint16)
    held: dict[int, np.ndarray] = {}
    for step in range(400):
        if held and rng.random() < 0.45:
            slot = list(held)[int(rng.integers(0, len(held)))]
            table.delete(slot, held.pop(slot))
        else:
            slot = step
            sig = base[rng.integers(0, 5)].copy()
            redraw = rng.random(128) < 0.3
            sig[redraw] = rng.integers(0, 1 << 16, int(redraw.sum()), dtype=np.uint16)
            held[slot] = np.unique(query_hashes(sig))
            table.insert(slot, held[slot])
        if step % 50 == 0:
            for slot, h in held.items():  # every cell of every held story is reachable
                assert slot in set(table.lookup(h).tolist())
    assert table.live == sum(h.size for h in held.values())
    for slot, h in held.items():
        table.delete(slot, h)
    assert table.live == 0
    assert (table.cells[:, :ENTRY_CELLS] == EMPTY).all()
    assert (table.cells[:, ENTRY_CELLS] == 0).all()  # every overflow count back to zero


@pytest.mark.parametrize("nbuckets", [4, 64])
def test_band_table_shared_home_buckets_keep_every_cell_reachable(nbuckets: int) -> None:
    """A story's cells sharing a home bucket, or spilling into the next one together,
    are placed in one vectorised step: every cell stays reachable and counted."""
    from consumer.dedup.kernels import query_hashes

    rng = np.random.default_rng(nbuckets)
    table = BandTable(nbuckets=nbuckets, pad=1)
    held: dict[int, np.ndarray] = {}
    for step in range(300):
        if held and rng.random() < 0.4:
            slot = list(held)[int(rng.integers(0, len(held)))]
            table.delete(slot, held.pop(slot))
        else:
            held[step] = np.unique(query_hashes(rng.integers(0, 1 << 16, 128, dtype=np.uint16)))
            table.insert(step, held[step])
        assert table.live == sum(h.size for h in held.values())
        assert int((table.cells[:, :ENTRY_CELLS] != EMPTY).sum()) == table.live
        if step % 25 == 0:
            for slot, h in held.items():
                found = table.lookup(h).tolist()
                assert found.count(slot) >= h.size  # each of its cells, at least once
    for slot, h in held.items():
        table.delete(slot, h)
    assert table.live == 0
    assert (table.cells[:, :ENTRY_CELLS] == EMPTY).all()
    assert (table.cells[:, ENTRY_CELLS] == 0).all()


def test_crc32_before_runs_crc32_backwards() -> None:
    from consumer.dedup.fingerprint import crc32_before

    rng = random.Random(7)
    for _ in range(2000):
        a = rng.randbytes(rng.randrange(0, 20))
        b = rng.randbytes(rng.randrange(0, 6))
        assert crc32_before(zlib.crc32(a + b), b) == zlib.crc32(a), (a, b)


def test_typo_hits_equal_fact_hash_of_each_variant() -> None:
    """The backwards-crc shortcut finds exactly the facts that hashing every variant
    with every occurrence count finds: true variants, other names, other k's."""
    from consumer.dedup.decide import typo_hits
    from consumer.dedup.fingerprint import fact_hash, typo_variants

    rng = random.Random(11)
    for word in ("merkel", "lufthansa", "österreich", "straße", "ab", "l'oréal"):
        variants = sorted(typo_variants(word))
        for kmax in (1, 3, 8):
            facts = {fact_hash(rng.choice(variants), rng.randrange(1, 10)) for _ in range(6)}
            facts |= {fact_hash(variants[0], kmax), fact_hash(word, 1), fact_hash("siemens", 2),
                      fact_hash("4,5", 1)}
            want = {h for h in facts
                    if h in {fact_hash(v, k) for v in variants for k in range(1, kmax + 1)}}
            memo: dict[str, frozenset[int]] = {}
            assert typo_hits(word, kmax, facts, memo) == want
            assert typo_hits(word, kmax, facts, memo) == want  # from the memo
            assert want  # hits and non-hits both exercised
            assert want < facts

