"""NITF parser against the real AAP, AP, EFE, NTB and PA samples."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest

from consumer.enrich import finish
from consumer.errors import ParseError, Reason
from consumer.formats import nitf
from consumer.formats.base import Draft, Hints
from tests.unit._mutation import mutants

FILES = ["aap.xml", "ap-nitf.xml", "efe_nitf.xml", "nitf-ntb.xml", "pa1.xml"]


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> dict[str, bytes]:
    folder = shared_dir / "data" / "wire_fixtures" / "nitf"
    return {name: (folder / name).read_bytes() for name in FILES}


def parse(raw: bytes) -> Draft:
    return nitf.parse(raw, Hints())


def tz(hours: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours))


def test_aap(samples: dict[str, bytes]) -> None:
    d = parse(samples["aap.xml"])
    assert d.headline == "The main stories on today's 1900 ABC TV news"
    assert d.agency == "AAP"
    assert d.agency_id == "AAP.115314987.5417374"
    assert d.datetime == dt.datetime(2013, 10, 20, 19, 27, 51, tzinfo=tz(11))
    assert d.date == dt.date(2013, 10, 20)
    assert d.located == "Sydney"
    assert d.byline == "By John Doe"
    assert d.urgency == 5
    assert d.language is None  # AAP does not say; finish() detects it
    assert len(d.body) == 13
    assert d.body[0].text == "The main stories on ABC television's 1900 news:"
    # <br/> is line wrapping inside a sentence, not a paragraph break
    assert d.body[1].text.startswith(
        "1A) More extreme weather forecast over the next few days the fire"
    )
    assert d.body[-1].text == "AAP RTV ar"


def test_ap(samples: dict[str, bytes]) -> None:
    d = parse(samples["ap-nitf.xml"])
    assert d.headline == "Can trading pollution like stocks help fight climate change?"
    assert d.agency == "AP"
    assert d.agency_id is None
    assert d.datetime == dt.datetime(2015, 12, 10, 19, 10, 44, tzinfo=dt.UTC)
    assert d.located == "NEW YORK"
    assert d.byline == "By BERNARD CONDON"  # without the <byttl> job title
    assert d.extra["ednote"] == "For global distribution"
    assert len(d.body) == 28
    assert all(b.kind == "paragraph" for b in d.body)
    assert d.body[0].text.startswith("NEW YORK (AP) — The gas produced by hog manure")
    # the hedline's hl2 (a copy of the headline) is not a body subheading
    assert d.body[0].text != d.headline


def test_efe(samples: dict[str, bytes]) -> None:
    d = parse(samples["efe_nitf.xml"])
    assert d.headline == "Honduran president announces Cabinet changes"
    assert d.agency == "Agencia EFE"
    assert d.agency_id == "22751909"
    assert d.datetime == dt.datetime(2017, 1, 2, 22, 28, tzinfo=dt.UTC)
    assert d.located == "Tegucigalpa"  # from evloc: the dateline is only a timestamp
    assert d.language == "en-US"
    assert d.keywords == ["HONDURAS GOVERNMENT"]
    assert d.urgency == 5
    assert [b.text for b in d.body] == ["Tegucigalpa, Jan 2 (EFE).- Test body."]


def test_ntb_norwegian_with_subheadings(samples: dict[str, bytes]) -> None:
    d = parse(samples["nitf-ntb.xml"])
    assert d.headline == (
        "Faktisk.no: Nei, dette dokumentet beskriver ikke FNs Agenda 21 eller Agenda 2030"
    )
    assert d.agency == "NTB"
    assert d.agency_id == "faktisk-d9cde75b-256e-4989-b6a3-b8ad27f43a5c_47"
    assert d.version == 48
    assert d.language == "nb-NO"
    assert d.located == "Oslo"
    assert d.byline == "Geir Molnes / Faktisk.no"
    # no offset in the document: the date is kept, no time zone is invented
    assert d.datetime is None
    assert d.date == dt.date(2020, 9, 7)
    assert d.extra["datetime_local"] == "2020-09-07T14:45:26"
    subheadings = [b.text for b in d.body if b.kind == "subheading"]
    assert subheadings[:3] == ["Påstand", "Konklusjon: Faktisk helt feil", "Gjennomgang"]
    assert len(subheadings) == 11
    kinds = [b.kind for b in d.body]
    assert kinds[:3] == ["paragraph", "subheading", "paragraph"]
    assert d.body[0].text == "Nei, dette dokumentet beskriver ikke FNs Agenda 21 eller Agenda 2030"
    texts = [b.text for b in d.body]
    # list items are paragraphs; the media caption is not body text
    assert "Én global verdensregjering" in texts
    assert not any("Scanpix" in t for t in texts)
    # ISO-8859-1 declaration plus character references decode to real letters
    assert "Ingenting med saken å gjøre" in subheadings


def test_pa_iso_8859_1(samples: dict[str, bytes]) -> None:
    d = parse(samples["pa1.xml"])
    assert d.headline == "PA SPORT TRIVIA (OCTOBER 14)"
    assert d.agency == "PA Sport"
    assert d.agency_id == "af1f7ad5-5619-49de-84cc-2e608538c77fSSS-3-1"
    assert d.datetime == dt.datetime(2015, 10, 14, 4, 30, 1, tzinfo=tz(1))
    assert d.urgency == 4
    assert d.keywords == ["Trivia (Oct 14)"]
    assert d.located is None
    assert len(d.body) == 43
    assert d.body[0].text == "ON THIS DAY IN SPORT"
    # inline entity markup (<person>, <org>) does not split or drop text
    assert d.body[2].text.startswith("1996: Mark Bosnich, then of Aston Villa, was charged")
    golf = next(b.text for b in d.body if b.text.startswith("GOLF:"))
    assert "Sky Sports 4 1130-1330 & 1500-1800;" in golf


@pytest.mark.parametrize("name", FILES)
def test_finish_accepts_every_sample(samples: dict[str, bytes], name: str) -> None:
    story = finish(parse(samples[name]))
    assert story.format == "nitf"
    assert story.paragraphs
    assert story.datetime is None or story.datetime.utcoffset() is not None


def test_real_latin1_bytes() -> None:
    raw = (
        '<?xml version="1.0" encoding="iso-8859-1"?><nitf><body><body.head><hedline>'
        "<hl1>Kåre går på ski</hl1></hedline></body.head><body.content>"
        "<p>Sjøen er blå.</p><hl2>Før</hl2><p>Ærlig talt.</p></body.content></body></nitf>"
    ).encode("latin-1")
    d = parse(raw)
    assert d.headline == "Kåre går på ski"
    assert [(b.kind, b.text) for b in d.body] == [
        ("paragraph", "Sjøen er blå."),
        ("subheading", "Før"),
        ("paragraph", "Ærlig talt."),
    ]


@pytest.mark.parametrize(
    "raw",
    [
        b"<nitf><head/><body><body.content></body.content></body></nitf>",
        b"<nitf><body><body.head><hedline><hl1>Only a headline</hl1></hedline></body.head></body>"
        b"</nitf>",
        b"<nitf><body><body.content><p>  </p><media><media-caption>x</media-caption></media>"
        b"</body.content></body></nitf>",
    ],
)
def test_missing_body(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse(raw)
    assert err.value.reason is Reason.MISSING_BODY


def test_wrong_root_is_not_nitf() -> None:
    with pytest.raises(ParseError) as err:
        parse(b"<html><body><p>x</p></body></html>")
    assert err.value.reason is Reason.MALFORMED_XML


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            b'<nitf><head><docdata><date.issue norm="yesterday"/></docdata></head>'
            b"<body><body.content><p>x</p></body.content></body></nitf>",
            Reason.INVALID_FIELD,
        ),
        (
            b'<nitf><head><docdata><urgency ed-urg="high"/></docdata></head>'
            b"<body><body.content><p>x</p></body.content></body></nitf>",
            Reason.INVALID_FIELD,
        ),
        (
            b'<nitf><head><docdata><du-key version="v2"/></docdata></head>'
            b"<body><body.content><p>x</p></body.content></body></nitf>",
            Reason.INVALID_FIELD,
        ),
    ],
)
def test_invalid_fields(raw: bytes, reason: Reason) -> None:
    with pytest.raises(ParseError) as err:
        parse(raw)
    assert err.value.reason is reason


@pytest.mark.parametrize("name", FILES)
def test_truncation_is_malformed(samples: dict[str, bytes], name: str) -> None:
    raw = samples[name]
    end = raw.rstrip().rfind(b"</nitf>")
    cuts = sorted({0, 1, 10, end - 1, end + 3, *range(0, end, max(1, end // 40))})
    for cut in cuts:
        with pytest.raises(ParseError) as err:
            parse(raw[:cut])
        assert err.value.reason in {Reason.MALFORMED_XML, Reason.UNDECODABLE}, cut


@pytest.mark.parametrize("name", FILES)
def test_mutations_only_raise_parse_error(samples: dict[str, bytes], name: str) -> None:
    inserts = [b"<", b">", b"&", b"<p>", b"</p>", b'"', b"\xc3"]
    for data in mutants(samples[name], f"nitf-{name}", inserts, count=150, max_cut=40):
        with contextlib.suppress(ParseError):
            finish(parse(data))
