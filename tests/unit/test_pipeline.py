"""The shared pipeline: one outcome a record, dead letters instead of exceptions, purity."""

from __future__ import annotations

from consumer.errors import Reason
from consumer.model import RawRecord
from consumer.pipeline import Pipeline
from tests.unit.test_dedup_core import render, seed_paragraphs


def test_bad_record_is_a_dead_letter_with_the_parse_reason() -> None:
    pipe = Pipeline()
    out = pipe.process(RawRecord(value=b"", offset=7))
    assert out.event_type == "dead_letter"
    assert out.event["reason"] == Reason.EMPTY.value
    assert out.event["source"]["offset"] == 7
    assert out.changes == ()


def test_parser_bug_is_an_internal_dead_letter_not_a_crash() -> None:
    def broken(record: RawRecord) -> object:
        raise RuntimeError("boom")

    out = Pipeline(parser=broken).process(RawRecord(value=b"x"))  # type: ignore[arg-type]
    assert (out.event_type, out.event["reason"]) == ("dead_letter", "internal_error")


def test_created_outcome_carries_the_entry_keyed_by_fingerprint() -> None:
    pipe = Pipeline()
    out = pipe.process(RawRecord(value=render(seed_paragraphs()), offset=3))
    assert out.event_type == "story.created"
    assert out.entry is not None
    assert out.changes == ((out.entry.key, out.entry.encode()),)
    assert out.entry.event_id == out.event["event_id"] == out.event["story_id"]
    assert len(pipe.index) == 0  # process is pure; commit applies
    pipe.commit(out)
    assert out.entry.key in pipe.index


def test_event_time_comes_from_the_story_date_not_the_transport() -> None:
    pipe = Pipeline()
    out = pipe.run(RawRecord(value=render(seed_paragraphs()), timestamp_ms=0))
    assert out.entry is not None
    assert out.entry.event_time_ms == 1_767_398_400_000  # 2026-01-03T00:00Z
