"""ANPA-1312 on the real AP samples."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from consumer.model import Story
from consumer.parse import parse_bytes

DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "wire_fixtures" / "anpa1312"


def _parse(name: str) -> Story:
    return parse_bytes((DIR / name).read_bytes())


def test_feature_story() -> None:
    s = _parse("anpa-1.tst")
    assert s.format == "anpa1312"
    assert (s.agency, s.agency_id, s.urgency) == ("AP", "W2870", 1)
    assert s.headline == "For Argentine chemo patients, mirrors can hurt"
    assert s.byline == "PAUL BYRNE and ALMUDENA CALATRAVA"
    assert (s.located, s.dateline_agency) == ("BUENOS AIRES, Argentina", "AP")
    assert s.datetime == dt.datetime(2013, 11, 13, 15, 9, tzinfo=dt.UTC)
    assert s.lede is not None
    assert s.lede.startswith("For cancer patients dealing with")
    assert len(s.paragraphs) == 14
    assert "Look Good Feel Better" in s.quotes
    assert s.extra["photos"].startswith("AP Photo XNP101")
    assert "___" not in s.body_text


def test_writethru_take_key() -> None:
    s = _parse("ap_anpa-4.tst")
    assert s.flags == ("roundup", "update")
    assert s.roundup_level == 3
    assert s.headline == "AP Exclusive: China lawyer's family says US helped them flee"
    assert s.located == "BEIJING"
    assert len(s.paragraphs) == 25


def test_short_items() -> None:
    lobster = _parse("ap_anpa-3.tst")
    assert lobster.headline == "$210 lobster is found dead"
    assert lobster.paragraphs == ("A lobster died.",)
    assert lobster.located == "CHATHAM, Mass."
    alert = _parse("ap_anpa-5.tst")
    assert alert.headline is None
    assert alert.urgency == 2
    assert alert.lede is not None
    assert alert.lede.startswith("Hawaii files court challenge")


def test_headline_package_uses_header_lines_as_body() -> None:
    s = _parse("anpa-4.tst")
    assert s.headline == "AP Top Entertainment News at 11:23 p.m. EST"
    assert s.lede == "Ex-bodyguard testifies about lewd messages sent to Paltrow"
    assert len(s.body) == 10


def test_tabular_story_with_cp1252_byte() -> None:
    s = _parse("ap_anpa-6.tst")
    assert s.extra["tabular"] == "true"
    assert s.extra["charset"] == "cp1252"
    assert "López" in s.body_text
    assert s.headline == "Wild Card Glance"
