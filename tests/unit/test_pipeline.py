"""The shared pipeline: one outcome a record, dead letters instead of exceptions, purity."""

from __future__ import annotations

from pathlib import Path

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


def test_event_time_is_the_record_timestamp_not_the_printed_date() -> None:
    pipe = Pipeline()
    out = pipe.run(RawRecord(value=render(seed_paragraphs()), timestamp_ms=5_000))
    assert out.entry is not None
    assert out.entry.event_time_ms == 5_000  # not 2026-01-03T00:00Z, the date line's
    assert out.event["story"]["date"] == "2026-01-03"  # the printed date stays data


def test_agency_kill_is_a_canceled_event_linked_to_the_story(shared_dir: Path) -> None:
    """Reuters sends a kill as a new version of the guid with pubStatus canceled and no
    text: it must reach downstream as story.canceled of the story it kills, valid v1."""
    import json

    from jsonschema import Draft202012Validator

    g2 = shared_dir / "data" / "wire_fixtures" / "newsml_g2"
    first = (g2 / "tag_reuters.com_2016_newsml_L1N14N0FF_version_978556838").read_bytes()
    kill = (g2 / "tag_reuters.com_2016_newsml_L1N14N0FF_version_1542761538").read_bytes()
    pipeline = Pipeline()
    created = pipeline.run(RawRecord(value=first, offset=0))
    canceled = pipeline.run(RawRecord(value=kill, offset=1))

    assert created.event_type == "story.created"
    assert canceled.event_type == "story.canceled"
    assert canceled.event["story_id"] == created.event["story_id"]
    assert canceled.event["supersedes"] == created.event["event_id"]
    assert canceled.changes == ()
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "story.v1.json")
                        .read_text())
    Draft202012Validator(schema).validate(canceled.event)

    # a kill of a story never seen is still published, with a story id of its own
    alone = Pipeline().run(RawRecord(value=kill, offset=7))
    assert alone.event_type == "story.canceled"
    assert alone.event["story_id"] == alone.event["event_id"]
    assert alone.event["supersedes"] is None


def test_a_jump_in_event_time_evicts_in_batches_and_expired_stories_never_match() -> None:
    """Thousands of entries expiring at once must not stall one commit (see Index.changes_for)."""
    from consumer.dedup.index import EVICT_BATCH
    from tests.corpus import reuters_wire

    minute = 60_000
    stories = reuters_wire(120)
    pipe = Pipeline(window_ms=2 * minute)
    for text in stories[:100]:  # all seen in the same second
        pipe.run(RawRecord(value=text, timestamp_ms=0))
    held = len(pipe.index)
    assert held > 2 * EVICT_BATCH
    # minutes later: a record moves the watermark one step (max_step_ms) at most
    tombstones = []
    for text in stories[100:103]:
        out = pipe.run(RawRecord(value=text, timestamp_ms=10 * minute))
        tombstones.append(sum(1 for _, value in out.changes if value is None))
    assert pipe.index.watermark_ms == 3 * minute  # all held at 0 are out of the window
    for i, text in enumerate(stories[103:113]):
        out = pipe.run(RawRecord(value=text, timestamp_ms=3 * minute))
        tombstones.append(sum(1 for _, value in out.changes if value is None))
        assert tombstones[-1] <= EVICT_BATCH
        # an expired story sent again is a new story even while its entry is still held
        again = pipe.run(RawRecord(value=stories[i], timestamp_ms=3 * minute))
        assert again.event_type == "story.created"
        tombstones.append(sum(1 for _, value in again.changes if value is None))
        assert tombstones[-1] <= EVICT_BATCH
    assert tombstones[:4] == [0, 0, EVICT_BATCH, EVICT_BATCH]
    assert sum(tombstones) == held
