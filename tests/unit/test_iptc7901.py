"""IPTC 7901 on the real dpa samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.errors import ParseError, Reason
from consumer.model import Story
from consumer.parse import parse_bytes

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "wire_fixtures"
DIR = FIXTURES / "iptc7901_dpa"


def _parse(name: str) -> Story:
    return parse_bytes((DIR / name).read_bytes())


def test_basic_message() -> None:
    s = _parse("IPTC7901.txt")
    assert s.format == "iptc7901"
    assert (s.agency, s.agency_id, s.urgency) == ("dpa", "eca062", 4)
    assert s.headline == "Germany Social Democrats: Coalition talks with Merkel could fail"
    assert (s.located, s.dateline_agency) == ("Berlin", "dpa")
    assert len(s.paragraphs) == 5
    assert s.lede is not None
    assert s.lede.startswith("Negotiations between German conservatives")
    assert s.paragraphs[-1].endswith("before Christmas.")
    assert s.signature == "dpa wsz jln npr"
    assert s.signature_codes == ("wsz", "jln", "npr")
    assert s.keywords == ("Germany-politics",)
    assert s.language == "en"
    # the "not for publication" notebook is not body text
    assert "notebook" not in s.normalized_text
    assert "englishservice" not in s.normalized_text
    assert s.extra["transmitted"] == "131137 GMT Nov 13"


def test_odd_charset_latin1_byte() -> None:
    s = _parse("IPTC7901_odd_charset.txt")
    assert s.extra["charset"] == "cp1252"
    assert "Thomas Müller" in s.body_text
    assert s.flags == ("roundup",)
    assert s.roundup_level == 1
    assert s.byline == "Manuel Schwarz, dpa"
    assert s.located == "Munich"
    assert s.quotes[0].startswith("Without the goals of Gerd Mueller")


def test_take_keys_and_byline() -> None:
    s = _parse("dpa_four_line.txt")
    assert s.headline == "Switzerland joins list of countries resisting UN migration pact"
    assert s.flags == ("repeat", "roundup")
    assert s.byline == "dpa correspondents"
    assert s.located == "Geneva"
    assert s.keywords == ("Switzerland", "migration", "UN")
    assert "\u00a0" not in s.body_text


def test_two_by_line_and_co_agency() -> None:
    s = _parse("dpa_two_by_line.txt")
    assert s.headline == "Chiefs-Rams 2.0? Would be a fun Super Bowl, but don't count on it"
    assert s.byline == "Tom Krasovic, The San Diego Union-Tribune"
    assert (s.located, s.dateline_agency) == ("San Diego", "tca/dpa")
    assert s.extra["service"] == "dpa-tns"
    assert s.signature_codes == ("tca", "bag")


def test_extra_take_key_and_german_notice() -> None:
    s = _parse("dpa_two_line.txt")
    assert s.flags == ("extra",)
    assert len(s.paragraphs) == 4
    c = _parse("dpa_copyright.txt")
    assert (c.headline, c.flags, c.extra["category"]) == ("Impressum", ("advisory",), "rs")


def test_concatenated_messages_take_the_first() -> None:
    one = (DIR / "dpa_two_line.txt").read_bytes()
    two = (DIR / "IPTC7901.txt").read_bytes()
    s = parse_bytes(one + two)
    assert s.headline == "Peace talks on Yemen to take place in Sweden next month, Mattis says"
    assert s.extra["messages"] == "2"


def test_header_without_text_is_an_error() -> None:
    with pytest.raises(ParseError) as info:
        parse_bytes(b"\x01eca062 4 i 211 dpa 061\r\n\r\nGermany/\r\n")
    assert info.value.reason is Reason.MALFORMED_RECORD
