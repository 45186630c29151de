"""Ritzau RBNews XML against the real Danish sample."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from pathlib import Path

import pytest

from consumer.enrich import finish
from consumer.errors import ParseError, Reason
from consumer.formats import ritzau
from consumer.formats.base import Draft, Hints


@pytest.fixture(scope="module")
def sample(shared_dir: Path) -> bytes:
    return (shared_dir / "data" / "wire_fixtures" / "ritzau" / "ritzau_news.xml").read_bytes()


def parse(raw: bytes) -> Draft:
    return ritzau.parse(raw, Hints())


def test_ritzau_sample(sample: bytes) -> None:
    assert ritzau.sniff(sample[:2048])
    d = parse(sample)
    assert d.agency == "Ritzau"
    assert d.agency_id == "9a6955fc-11da-46b6-9903-439ebb288f2d"
    assert d.version == 1
    assert d.headline is None  # i:nil in the record
    assert d.located == "Haag"
    assert d.byline == "Peder Top Poulsen"
    assert d.urgency == 3
    assert d.datetime is None  # PublishDate has no offset
    assert d.date == dt.date(2018, 1, 30)
    assert d.extra["strapline"] == "NU/FLASH-U"
    assert d.flags == []
    # the escaped HTML in <content> becomes three paragraphs with Danish letters intact
    assert [b.text[:30] for b in d.body] == [
        'Hollandske forskere har "i åre',
        "Det fortæller forskerne selv t",
        "Historien kommer frem på et ti",
    ]
    story = finish(d)
    assert story.paragraphs[1] == "Det fortæller forskerne selv til nyhedsbureauet AFP."


def test_ritzau_flags(sample: bytes) -> None:
    raw = sample.replace(b"<Korrektion>false", b"<Korrektion>true").replace(
        b"<NyVersion>false", b"<NyVersion>true"
    )
    assert parse(raw).flags == ["correction", "update"]
    killed = sample.replace(b"<Annuleret>false", b"<Annuleret>true")
    assert "canceled" in parse(killed).flags


def test_ritzau_empty_content_is_missing_body(sample: bytes) -> None:
    start = sample.index(b"<content>")
    end = sample.index(b"</content>") + len(b"</content>")
    with pytest.raises(ParseError) as err:
        parse(sample[:start] + b"<content/>" + sample[end:])
    assert err.value.reason is Reason.MISSING_BODY


def test_ritzau_bad_date_is_invalid_field(sample: bytes) -> None:
    raw = sample.replace(b"2018-01-30T17:32:18.397", b"30.01.2018 17:32")
    with pytest.raises(ParseError) as err:
        parse(raw)
    assert err.value.reason is Reason.INVALID_FIELD


def test_truncation_and_mutation(sample: bytes) -> None:
    end = sample.rstrip().rfind(b"</RBNews>")
    for cut in range(0, end, max(1, end // 40)):
        with pytest.raises(ParseError) as err:
            parse(sample[:cut])
        assert err.value.reason in {Reason.MALFORMED_XML, Reason.UNDECODABLE}, cut
    rng = random.Random("ritzau")
    for _ in range(200):
        data = bytearray(sample)
        pos = rng.randrange(len(data))
        if rng.random() < 0.5:
            data[pos] = rng.randrange(256)
        else:
            data[pos:pos] = rng.choice([b"&lt;p&gt;", b"<", b"&", b"true", b"\xc3"])
        with contextlib.suppress(ParseError):
            finish(parse(bytes(data)))
