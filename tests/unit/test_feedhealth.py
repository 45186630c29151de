"""Per-agency feed health: labels of the real samples, bounded cardinality, the last-story time."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer import feedhealth
from consumer.feedhealth import agency_label, labels
from consumer.metrics import Metrics
from consumer.model import RawRecord, Story
from consumer.parse import parse_record

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "wire_fixtures"


def _parse(path: Path) -> Story:
    return parse_record(RawRecord(value=path.read_bytes(), key=None, headers=(), timestamp_ms=0,
                                  topic="t", partition=0, offset=0))


@pytest.mark.parametrize(("sample", "expected"), [
    ("anpa1312/ap_anpa-1.tst", ("ap", "anpa1312")),
    ("iptc7901_dpa/dpa_two_line.txt", ("dpa", "iptc7901")),
    ("newsml_1_2/afp.xml", ("afp", "newsml12")),
    ("newsml_1_2/ana1.xml", ("ana-mpe", "newsml12")),
    ("newsml_g2/ansa-newsmlg2-text.xml", ("ansa", "newsml_g2")),
])
def test_real_samples_count_under_their_agency(sample: str, expected: tuple[str, str]) -> None:
    assert tuple(labels(_parse(FIXTURES / sample))) == expected


def test_names_and_domains_fold_to_one_label() -> None:
    for name in ("Reuters", "reuters.com", "tag:reuters.com,0000:newsml_L1", " REUTERS "):
        assert agency_label(name) == "reuters", name
    assert agency_label("Australian Associated Press") == agency_label("AAP") == "aap"
    assert agency_label("Agencia EFE") == "efe"
    assert agency_label("dpa-AFX") == "dpa-afx"
    assert agency_label("PA Sport") == "pa"
    assert agency_label("ninjs.example.com") == feedhealth.OTHER
    assert agency_label("Automated Insights") == feedhealth.OTHER
    assert agency_label(None) == agency_label("  ") == feedhealth.NONE


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_claimed_agency_is_one_of_a_closed_set(name: str) -> None:
    allowed = set(feedhealth.AGENCIES) | {feedhealth.OTHER, feedhealth.NONE}
    assert agency_label(name) in allowed


def _story(agency: str | None, fmt: str = "nitf") -> Story:
    return Story(format=fmt, body=(), normalized_text="", agency=agency)


def test_series_stay_bounded_whatever_the_input_claims() -> None:
    metrics = Metrics()
    for i in range(500):
        metrics.feed_health.observe(_story(f"Agency {i}", fmt=f"fmt{i % 7}"), 1_000)
        metrics.feed_health.observe(_story("AP"), 1_000)
    samples = {s.labels["agency"] + "/" + s.labels["format"]
               for s in next(iter(metrics.agency_stories.collect())).samples
               if s.name.endswith("_total")}
    assert samples == {"other/other", "ap/nitf"}
    assert metrics.registry.get_sample_value(
        "wirefeed_agency_stories_total", {"agency": "other", "format": "other"}) == 500


def test_last_story_time_is_the_latest_record_never_the_future() -> None:
    metrics = Metrics()
    health = metrics.feed_health
    get = metrics.registry.get_sample_value
    name = "wirefeed_agency_last_story_timestamp_seconds"
    health.observe(_story("dpa"), 1_700_000_000_000, now=1_700_000_100)
    assert get(name, {"agency": "dpa"}) == 1_700_000_000
    health.observe(_story("dpa"), 1_600_000_000_000, now=1_700_000_200)  # a replayed old one
    assert get(name, {"agency": "dpa"}) == 1_700_000_000
    health.observe(_story("dpa"), 9_999_999_999_000, now=1_700_000_300)  # a clock far ahead
    assert get(name, {"agency": "dpa"}) == 1_700_000_300
    health.observe(None, 1_800_000_000_000)  # a dead letter names no agency
    assert get(name, {"agency": "dpa"}) == 1_700_000_300
    assert get(name, {"agency": "none"}) is None


def test_a_format_no_parser_names_folds_into_other() -> None:
    assert labels(_story("dpa", fmt="made-up")).format == feedhealth.OTHER
    assert labels(_story("dpa", fmt="plain")).format == "plain"
