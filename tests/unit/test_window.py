"""The dedup window runs on arrival: record timestamps, held near the watermark.

A printed date (a typo, an outlook piece) or a wrong record timestamp (a skewed
producer clock, a re-produced archive) must not empty the window or keep a
story out of it (issue 19, part 1).
"""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from consumer.cli import main
from consumer.dedup.index import DEFAULT_MAX_STEP_MS
from consumer.model import RawRecord
from consumer.parse import parse_record
from consumer.pipeline import Pipeline
from tests.unit.test_dedup_core import SEED, render, reuters

T0 = 1_767_427_200_000  # 2026-01-03T08:00Z
DAY = 24 * 3_600_000
YEAR = 365 * DAY


def _german_article() -> list[str]:
    """A real German article (derStandard.at, 10kGNAD) as paragraphs."""
    path = SEED.parents[1] / "data" / "corpus" / "de_articles.jsonl"
    with path.open("rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            if row["lang"] == "de" and len(row["text"]) > 800:
                text = " ".join(row["text"].split())
                return [text[: len(text) // 2], text[len(text) // 2 :]]
    raise AssertionError("no German article in the corpus")


def _jsonl(value: bytes, ts: int | None) -> bytes:
    obj: dict[str, object] = {"key": None, "value": value.decode()}
    if ts is not None:
        obj["timestamp"] = ts
    return orjson.dumps(obj)


def test_one_story_dated_years_ahead_does_not_empty_the_window(tmp_path: Path) -> None:
    """The issue's reproduction: the seed, another dpa-AFX story dated 2036-01-03, the
    seed again, one second apart, through ``wirefeed process``."""
    other = render(_german_article(), day="2036-01-03", headline="Wien: Gewerkschaft",
                   place="WIEN", sig="/bek/DP/zb")
    lines = [_jsonl(SEED.read_bytes(), T0), _jsonl(other, T0 + 1000),
             _jsonl(SEED.read_bytes(), T0 + 2000)]
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    res = CliRunner().invoke(main, ["process", "--input", str(src)])
    assert res.exit_code == 0, res.output
    events = [orjson.loads(x) for x in res.stdout.splitlines()]
    assert [(e["event_type"], e["reason"]) for e in events] == [
        ("story.created", None), ("story.created", None), ("story.duplicate", "exact")]
    assert events[2]["duplicate_of"] == events[0]["event_id"]
    assert events[1]["story"]["date"] == "2036-01-03"  # the printed date stays in the event


def test_a_far_future_timestamp_moves_the_watermark_one_step_only() -> None:
    stories = reuters(4)
    pipe = Pipeline(parser=parse_record)
    first = pipe.run(RawRecord(value=render(stories[0]), timestamp_ms=T0))
    skewed = pipe.run(RawRecord(value=render(stories[1]), timestamp_ms=T0 + 10 * YEAR))
    assert pipe.index.watermark_ms == T0 + DEFAULT_MAX_STEP_MS
    assert all(value is not None for _, value in skewed.changes)  # nothing evicted
    again = pipe.run(RawRecord(value=render(stories[0], sig="/xy/DP/zz"), timestamp_ms=T0 + 1))
    assert (again.event_type, again.event["reason"]) == ("story.duplicate", "exact")
    assert again.event["duplicate_of"] == first.event["event_id"]


def test_a_skewed_producer_cannot_flush_the_window_faster_than_a_step_a_record() -> None:
    """Every record of a producer ten years ahead moves the watermark one step: the
    window still holds the latest window_ms / max_step_ms records."""
    stories = reuters(12)
    pipe = Pipeline(parser=parse_record, window_ms=10 * DEFAULT_MAX_STEP_MS)
    first = pipe.run(RawRecord(value=render(stories[0]), timestamp_ms=T0))
    for k, paras in enumerate(stories[1:10], 1):
        pipe.run(RawRecord(value=render(paras), timestamp_ms=T0 + 10 * YEAR + k))
    again = pipe.run(RawRecord(value=render(stories[0]), timestamp_ms=T0 + 1))
    assert again.event["duplicate_of"] == first.event["event_id"]
    for paras in stories[10:12]:
        pipe.run(RawRecord(value=render(paras), timestamp_ms=T0 + 10 * YEAR))
    # eleven steps on, the first story left the 10-step window
    assert first.entry is not None
    assert first.entry.key not in pipe.index


def test_an_archive_reproduced_with_old_timestamps_is_held_and_its_resends_caught() -> None:
    stories = reuters(3)
    pipe = Pipeline(parser=parse_record)
    pipe.run(RawRecord(value=render(stories[0]), timestamp_ms=T0))
    old = pipe.run(RawRecord(value=render(stories[1]), timestamp_ms=T0 - 39 * YEAR))
    assert old.entry is not None
    assert old.entry.key in pipe.index  # held, not outside the window on arrival
    assert old.entry.event_time_ms == T0 - DEFAULT_MAX_STEP_MS
    again = pipe.run(RawRecord(value=render(stories[1], sig="/zz/DP/yy"), timestamp_ms=T0 + 5))
    assert again.event["duplicate_of"] == old.event["event_id"]
    assert pipe.index.watermark_ms == T0


def test_records_without_a_timestamp_count_at_the_last_known_time() -> None:
    stories = reuters(3)
    pipe = Pipeline(parser=parse_record)
    pipe.run(RawRecord(value=render(stories[0]), timestamp_ms=T0))
    out = pipe.run(RawRecord(value=render(stories[1], day="2036-01-03")))
    assert out.entry is not None
    assert out.entry.event_time_ms == T0
    # a file of records without timestamps: all at the same instant, none evicted by time
    fresh = Pipeline(parser=parse_record, window_ms=1)
    outs = [fresh.run(RawRecord(value=render(p, day=f"20{10 + i}-01-01")))
            for i, p in enumerate(stories)]
    assert len(fresh.index) == 3
    assert all(o.entry is not None and o.entry.event_time_ms == 0 for o in outs)
