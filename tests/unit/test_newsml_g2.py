"""NewsML-G2 parser against the real dpa, Reuters, AP, ANSA, STT and BusinessDesk samples."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest

from consumer.enrich import finish
from consumer.errors import ParseError, Reason
from consumer.formats import newsml_g2
from consumer.formats.base import Draft, Hints
from tests.unit._mutation import mutants

REUTERS_V1 = "tag_reuters.com_2016_newsml_L1N14N0FF_version_978556838"
REUTERS_V2 = "tag_reuters.com_2016_newsml_L1N14N0FF_version_1542761538"
REUTERS_PACKAGE = "tag_reuters.com_2014_newsml_KBN0FL0NM_version_10"
LISTING = "LISTING 1 A NewsML-G2 News Item.xml"
WITH_BODY = [
    "dpa.xml",
    "ap.xml",
    "ansa-newsmlg2-text.xml",
    "scoop.xml",
    "stt_newsml_test.xml",
    REUTERS_V1,
]
FILES = [*WITH_BODY, REUTERS_V2, REUTERS_PACKAGE, LISTING]


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> dict[str, bytes]:
    folder = shared_dir / "data" / "wire_fixtures" / "newsml_g2"
    return {name: (folder / name).read_bytes() for name in FILES}


def parse(raw: bytes) -> Draft:
    return newsml_g2.parse(raw, Hints())


def test_dpa_german(samples: dict[str, bytes]) -> None:
    d = parse(samples["dpa.xml"])
    assert d.headline == "Eintracht in London: Hintereggers Tränen und Attacke auf Reporter"
    assert d.agency == "dpa"
    assert d.agency_id == "urn:newsml:dpa.com:20090101:221011-930-4303"
    assert d.version == 1
    assert d.language == "de"
    assert d.datetime == dt.datetime(
        2022, 10, 11, 11, 14, 42, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    assert d.located == "London"
    assert d.dateline_agency == "dpa"
    assert d.urgency == 4
    assert d.signature == "dpa pre yyhe n1 deg"
    assert d.keywords[:3] == ["Champions League", "Frankfurt", "London"]
    assert "Fußball" in d.keywords
    # the XHTML <header> (slugline list, genre, a copy of the headline) is not body
    assert [b.kind for b in d.body] == ["paragraph"] * 3
    assert d.body[0].text.startswith("London (dpa) - 2019 gab es bittere Tränen in der Kurve")
    # non-public contact notes are not carried along
    assert "reichardt.patrick@dpa.com" not in d.extra.get("ednote", "")
    assert d.flags == []


def test_reuters_versions_share_the_guid(samples: dict[str, bytes]) -> None:
    v1 = parse(samples[REUTERS_V1])
    v2 = parse(samples[REUTERS_V2])
    assert v1.agency_id == v2.agency_id == "tag:reuters.com,0000:newsml_L1N14N0FF"
    assert v1.version == 978556838
    assert v2.version == 1542761538
    assert v1.version < v2.version
    assert v1.datetime == dt.datetime(2016, 1, 4, 15, 43, 34, tzinfo=dt.UTC)
    assert v2.datetime == dt.datetime(2016, 1, 4, 16, 34, 45, tzinfo=dt.UTC)
    assert (
        v1.headline
        == v2.headline
        == ("CORRECTED-S. Illinois battles flooding as Mississippi River builds downstream")
    )
    assert v1.agency == "reuters.com"
    assert v1.language == "en"
    assert v1.urgency == 3


def test_reuters_first_version_body_and_flags(samples: dict[str, bytes]) -> None:
    d = parse(samples[REUTERS_V1])
    assert len(d.body) == 16
    assert d.body[0].text.startswith("(In Jan. 3 story, corrects last paragraph")
    assert d.body[1].text.startswith("Jan 3 (Reuters) - Residents of flooded areas")
    # hard-wrapped lines inside <p> are one paragraph
    assert "\n" not in d.body[1].text
    # "(UPDATE 1, PIX, CORRECTED)" slugline and "CORRECTED-" headline
    assert set(d.flags) == {"update", "correction"}
    assert "canceled" not in d.flags


def test_reuters_cancellation_keeps_identity(samples: dict[str, bytes]) -> None:
    d = parse(samples[REUTERS_V2])
    assert "canceled" in d.flags
    assert d.extra["pubstatus"] == "canceled"
    assert d.body == []
    # an empty kill is a story that tells nothing but whom it kills
    story = finish(d)
    assert story.body == ()
    assert story.lede is None
    assert story.agency_id == d.agency_id
    assert story.version == 1542761538


def test_ap_message_takes_first_text_item(samples: dict[str, bytes]) -> None:
    d = parse(samples["ap.xml"])
    assert d.agency_id == "tag:ap.org,2011:5e565888b587889c5c8bd62b6164118c-text"
    assert d.version == 2
    assert d.extra["items_in_message"] == "3"
    assert d.headline == "Nutrisystem beats 4Q earnings and revenue expectations"
    assert d.agency == "Automated Insights"
    assert d.datetime == dt.datetime(2018, 2, 26, 21, 20, 34, tzinfo=dt.UTC)
    assert d.extra["first_created"] == "2018-02-26T21:20:36Z"
    # the dateline (story origin) wins over <located> (company geo-tag)
    assert d.located == "FORT WASHINGTON, Pa."
    assert d.keywords[:3] == ["Nutrisystem", "Earnings Report", "Pennsylvania"]
    # "Eds: Adds full-year results." and "1st Ld-Writethru"
    assert d.flags == ["update"]
    assert d.update_note == "Eds: Adds full-year results."
    assert len(d.body) == 10
    assert d.body[0].text.startswith("FORT WASHINGTON, Pa. (AP) _ Nutrisystem Inc. (NTRI)")


def test_ansa_plain_text_inline_data(samples: dict[str, bytes]) -> None:
    d = parse(samples["ansa-newsmlg2-text.xml"])
    assert d.headline == "Catalan independence declaration unacceptable - Alfano"
    assert d.extra["subheadline"] == "Foreign minister expresses faith in Spanish government"
    assert d.agency == "ansa.it"
    assert d.language == "it"
    assert d.located == "Rome"
    assert d.datetime == dt.datetime(
        2017, 10, 11, 10, 41, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )
    # indented first lines mark paragraphs in old-style wire copy
    assert [b.text[:24] for b in d.body] == [
        "(ANSA) - Rome, October 1",
        '"Unacceptable Catalan un',
        '"Our faith in the Spanis',
        "Catalan leader Carles Pu",
    ]


def test_stt_subheadings_and_update_signal(samples: dict[str, bytes]) -> None:
    d = parse(samples["stt_newsml_test.xml"])
    assert d.agency == "STT"
    assert d.agency_id == "urn:newsml:stt.fi:20171219:101801633"
    assert d.version == 4
    assert d.language == "fi-FI"
    assert d.located == "Helsinki"
    assert d.urgency == 3
    assert "update" in d.flags  # <signal qcode="sig:update"/>
    assert d.body[0].text == "*** DISCLAIMER: THIS IS AN AUTOMATED TRANSLATION FROM FINNISH ***"
    assert [b.text for b in d.body if b.kind == "subheading"] == [
        "Also the unemployment law went through",
        "Rinne: Hallitus runnoi läpi työttömiä kurittavan lain",  # <h3> nested in <p>
    ]
    # double-escaped entities (&amp;#39;) are repaired
    assert any("4 o'clock" in b.text for b in d.body)
    assert not any("&#39;" in b.text for b in d.body)


def test_scoop_nitf_inline_and_naive_time(samples: dict[str, bytes]) -> None:
    d = parse(samples["scoop.xml"])  # starts with a UTF-8 BOM
    assert d.agency_id == "BD-20160112123540"
    assert d.version == 3
    # headline and byline only exist in the inline NITF
    assert d.headline == (
        "Dick Smith receivers install Don Grover as acting CEO as Abboud quits; "
        "retailer put up for sale"
    )
    assert d.byline == "By Staff Reporter"
    assert d.datetime is None
    assert d.date == dt.date(2016, 1, 12)
    assert len(d.body) == 9
    assert d.body[1].text.startswith("Jan. 12 (BusinessDesk) - The receivers of Dick Smith")


@pytest.mark.parametrize(
    ("name", "reason"),
    [(REUTERS_PACKAGE, Reason.BY_REFERENCE), (LISTING, Reason.MISSING_BODY)],
)
def test_no_text_is_missing_body(samples: dict[str, bytes], name: str, reason: Reason) -> None:
    """A package's items come separately (by_reference); an empty inlineXML is a broken item."""
    with pytest.raises(ParseError) as err:
        parse(samples[name])
    assert err.value.reason is reason


def test_listing_metadata_still_parses_through_parse_item(samples: dict[str, bytes]) -> None:
    """The IPTC spec example: metadata is right even though its inlineXML is empty."""
    from consumer.formats import xmlsafe

    d = newsml_g2.parse_item(xmlsafe.load(samples[LISTING]))
    assert d.agency == "REUTERS"  # nprov:REUTERS
    assert d.version == 9
    assert d.language == "en-GB"
    assert d.headline == 'Fed to halt QE to avert "bubble"'
    assert d.located == "Berlin"
    assert d.datetime == dt.datetime(
        2016, 10, 21, 16, 25, 32, tzinfo=dt.timezone(dt.timedelta(hours=-5))
    )
    assert d.extra["first_created"] == "2016-10-18T13:12:21-05:00"
    assert "update" in d.flags
    assert d.keywords == ["economy, business and finance", "labour market"]


@pytest.mark.parametrize("name", WITH_BODY)
def test_finish_accepts_every_sample(samples: dict[str, bytes], name: str) -> None:
    story = finish(parse(samples[name]))
    assert story.format == "newsml_g2"
    assert story.agency_id
    assert story.version is not None
    assert story.paragraphs


def test_correction_signal() -> None:
    raw = (
        b'<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="g" version="2">'
        b'<itemMeta><signal qcode="sig:correction"/><edNote>Corrects spelling of name</edNote>'
        b"</itemMeta><contentSet><inlineXML><html xmlns='http://www.w3.org/1999/xhtml'><body>"
        b"<h2>Sub</h2><p>Text.</p></body></html></inlineXML></contentSet></newsItem>"
    )
    d = parse(raw)
    assert d.flags == ["correction"]
    assert d.update_note == "Corrects spelling of name"
    assert [(b.kind, b.text) for b in d.body] == [("subheading", "Sub"), ("paragraph", "Text.")]


@pytest.mark.parametrize(
    "meta",
    [
        b'<newsItem guid="g" version="two">',
        b'<newsItem guid="g"><itemMeta><versionCreated>soon</versionCreated></itemMeta>',
        b'<newsItem guid="g"><contentMeta><urgency>urgent</urgency></contentMeta>',
    ],
)
def test_invalid_fields(meta: bytes) -> None:
    raw = meta + b"<contentSet><inlineXML><p>x</p></inlineXML></contentSet></newsItem>"
    with pytest.raises(ParseError) as err:
        parse(raw)
    assert err.value.reason is Reason.INVALID_FIELD


def test_newsml12_is_not_g2() -> None:
    assert not newsml_g2.sniff(b"<NewsML><NewsItem>")
    assert newsml_g2.sniff(b"<?xml version='1.0'?>\n<ns0:newsMessage xmlns:ns0='x'>")


@pytest.mark.parametrize("name", ["dpa.xml", "ap.xml", REUTERS_V1, "scoop.xml"])
def test_truncation_is_malformed(samples: dict[str, bytes], name: str) -> None:
    raw = samples[name]
    end = raw.rstrip().rfind(b"</")
    for cut in sorted({0, 1, end - 1, *range(0, end, max(1, end // 40))}):
        with pytest.raises(ParseError) as err:
            parse(raw[:cut])
        assert err.value.reason in {Reason.MALFORMED_XML, Reason.UNDECODABLE}, cut


@pytest.mark.parametrize("name", FILES)
def test_mutations_only_raise_parse_error(samples: dict[str, bytes], name: str) -> None:
    inserts = [b"<", b"&", b"<p>", b"</newsItem>", b'"', b"\xe2"]
    for data in mutants(samples[name], f"g2-{name}", inserts, count=100, max_cut=60):
        with contextlib.suppress(ParseError):
            finish(parse(data))
