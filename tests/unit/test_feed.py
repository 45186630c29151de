"""The demo feed builder: the promised mix of formats and hard cases, deterministic for a seed."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pytest

from consumer.devtools.feed import Feed, FeedRecord, build_feed
from consumer.model import RawRecord
from consumer.pipeline import Pipeline
from consumer.process import read_jsonl

DAY = dt.date(2026, 1, 10)


@pytest.fixture(scope="module")
def feed(shared_dir: Path) -> Feed:
    return build_feed(shared_dir, seed=7, day=DAY)


def _outcomes(feed: Feed) -> list[tuple[FeedRecord, dict[str, object]]]:
    pipe = Pipeline()
    return [(r, pipe.run(RawRecord(value=r.value, key=(r.key or "").encode(), offset=i)).event)
            for i, r in enumerate(feed.records)]


def test_a_few_hundred_records_in_every_format(feed: Feed, shared_dir: Path) -> None:
    formats = feed.counts("format")
    assert 250 <= len(feed.records) <= 400
    assert formats["dpa_afx"] >= 100
    assert formats["reuters"] >= 100
    fixtures = shared_dir / "data" / "wire_fixtures"
    for folder in ("nitf", "newsml_g2", "ninjs", "iptc7901_dpa", "anpa1312"):
        # the real samples go in as they are, every file
        files = {p.read_bytes() for p in (fixtures / folder).iterdir() if p.is_file()}
        assert formats[folder] == len(files) > 0
        assert {r.value for r in feed.records if r.format == folder} == files
    assert any(r.value.startswith(b"date 2026-01-10\n") and b"(dpa-AFX) - " in r.value
               for r in feed.records)


def test_the_hard_cases_are_there_and_follow_their_original(feed: Feed) -> None:
    kinds = feed.counts("kind")
    assert kinds["update"] == kinds["correction"] == kinds["repeat"] == 1
    assert kinds["resend"] >= 2  # one dpa-AFX copy, and Reuters' real re-sends
    index = {id(r): i for i, r in enumerate(feed.records)}
    for rec in feed.records:
        if rec.kind in ("story", "broken"):
            continue
        originals = [o for o in feed.records if o.kind == "story" and o.key == rec.of]
        assert len(originals) == 1, rec.key
        original = originals[0]
        assert rec.key == original.key  # same partition, so the worker sees them in order
        assert index[id(original)] < index[id(rec)]
        if rec.kind == "update":
            assert re.search(rb"\nROUNDUP/", rec.value)
            assert len(rec.value) > len(original.value)
        elif rec.kind == "correction":
            assert b"\nKORREKTUR/" in rec.value
            old = re.findall(rb"\d+", original.value.split(b"\n\n", 1)[1])
            new = re.findall(rb"\d+", rec.value.split(b"\n\n", 1)[1])
            assert len(old) == len(new)
            assert sum(a != b for a, b in zip(old, new, strict=True)) == 1  # one changed figure
        elif rec.kind == "repeat":
            assert b"\nWDH/" in rec.value
        elif rec.kind == "resend" and rec.format == "dpa_afx":
            assert rec.value == original.value  # an exact copy


def test_the_broken_records(feed: Feed) -> None:
    broken = {r.format: r.value for r in feed.records if r.kind == "broken"}
    assert set(broken) == {"truncated_xml", "binary_junk", "empty", "xml_bomb"}
    assert broken["empty"] == b""
    nitf = [r.value for r in feed.records if r.format == "nitf"]
    cut = broken["truncated_xml"]
    assert any(v.startswith(cut) and len(cut) < len(v) for v in nitf)  # a real NITF, cut short
    assert b"<!ENTITY" in broken["xml_bomb"]


def test_the_pipeline_sees_what_the_feed_promises(feed: Feed) -> None:
    outcomes = _outcomes(feed)
    got = Counter((r.kind, e["event_type"], e.get("reason")) for r, e in outcomes)
    assert got[("update", "story.updated", None)] == 1
    assert got[("correction", "story.corrected", None)] == 1
    assert got[("repeat", "story.duplicate", "repeat")] == 1
    assert got[("resend", "story.duplicate", "exact")] == feed.counts("kind")["resend"]
    dead = {r.format: e["reason"] for r, e in outcomes if r.kind == "broken"}
    assert dead == {"truncated_xml": "malformed_xml", "binary_junk": "undecodable",
                    "empty": "empty", "xml_bomb": "forbidden_xml"}
    assert got[("story", "story.created", None)] >= 250


def test_deterministic_for_a_seed(feed: Feed, shared_dir: Path) -> None:
    again = build_feed(shared_dir, seed=7, day=DAY)
    assert again.records == feed.records
    other = build_feed(shared_dir, seed=8, day=DAY)
    assert [r.value for r in other.records] != [r.value for r in feed.records]


def test_jsonl_round_trips_through_the_process_reader(feed: Feed, tmp_path: Path) -> None:
    path = feed.write_jsonl(tmp_path / "feed.jsonl", start_ms=1_700_000_000_000)
    with path.open("rb") as fh:
        items = list(read_jsonl(fh))
    assert len(items) == len(feed.records)
    for i, (item, rec) in enumerate(zip(items, feed.records, strict=True)):
        assert item.error is None
        assert item.record.value == rec.value  # binary junk travels as value_b64
        assert item.record.key == (rec.key.encode() if rec.key is not None else None)
        assert dict((k, v.decode()) for k, v in item.record.headers) == rec.headers
        assert item.record.timestamp_ms == 1_700_000_000_000 + i * 1000


def test_without_shared_data_the_authors_samples_still_show_every_case() -> None:
    fallback = build_feed(None, seed=1, day=DAY)
    assert "tests/fixtures/feed" in fallback.origin
    kinds = fallback.counts("kind")
    assert kinds["story"] == 3
    assert kinds["update"] == kinds["correction"] == kinds["repeat"] == kinds["resend"] == 1
    assert kinds["broken"] == 4
    got = Counter((r.kind, e["event_type"]) for r, e in _outcomes(fallback))
    assert got[("update", "story.updated")] == got[("correction", "story.corrected")] == 1
    assert got[("resend", "story.duplicate")] == got[("repeat", "story.duplicate")] == 1
    assert got[("broken", "dead_letter")] == 4
