"""NewsML 1.2 parser against the real AFP (English, French) and ANA-MPE samples."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest

from consumer.enrich import finish
from consumer.errors import ParseError, Reason
from consumer.formats import newsml12
from consumer.formats.base import Draft, Hints
from tests.unit._mutation import mutants

FILES = ["afp.xml", "afp20.xml", "ana1.xml"]


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> dict[str, bytes]:
    folder = shared_dir / "data" / "wire_fixtures" / "newsml_1_2"
    return {name: (folder / name).read_bytes() for name in FILES}


def parse(raw: bytes) -> Draft:
    return newsml12.parse(raw, Hints())


def test_afp_english_nitf_content(samples: dict[str, bytes]) -> None:
    d = parse(samples["afp.xml"])
    assert d.headline == "Sweden court accepts receivership for Saab carmaker"
    assert d.agency == "afp.com"
    assert d.extra["provider"] == "AFP"
    assert d.agency_id == "TX-PAR-FXW86"
    assert d.version == 1
    assert d.datetime == dt.datetime(2014, 8, 29, 13, 49, 51, tzinfo=dt.UTC)
    assert d.extra["first_created"] == "20140829T134951+0000"
    assert d.language == "en"
    assert d.located == "STOCKHOLM"
    assert d.dateline_agency == "AFP"
    assert d.urgency == 4
    assert d.keywords == ["Sweden", "China", "auto", "business", "bankruptcy", "Saab"]
    assert len(d.body) == 10
    assert d.body[0].text.startswith("A Chinese-owned company set up to take over Saab's assets")
    assert d.body[-1].text == "hh/ph/ts/hd"


def test_afp_french_mislabelled_latin1(samples: dict[str, bytes]) -> None:
    """afp20.xml says iso-8859-1 but its bytes are UTF-8: no mojibake may come out."""
    d = parse(samples["afp20.xml"])
    assert d.headline == ("Décès de Naomi Musenga: l'opératrice du Samu définitivement condamnée")
    assert d.language == "fr"
    assert d.agency_id == "240710125902.qpsp2jzk"
    assert d.version == 1
    assert d.datetime == dt.datetime(2024, 7, 10, 12, 59, 2, tzinfo=dt.UTC)
    assert d.located == "Strasbourg"
    assert d.dateline_agency == "AFP"
    assert d.slugline == "procès-santé-secours"
    assert len(d.body) == 2
    assert d.body[0].text.startswith("L'opératrice du Samu condamnée pour non-assistance à")
    assert not any("Ã" in b.text for b in d.body)


def test_ana_cdata_html(samples: dict[str, bytes]) -> None:
    d = parse(samples["ana1.xml"])
    assert d.headline == "Wage employment balance positive in Jan-March"  # CDATA, trimmed
    assert d.agency == "ana-mpe.gr"
    assert d.agency_id == "19336333"
    assert d.version == 1
    assert d.language == "en"  # FormalName="EN"
    assert d.datetime == dt.datetime(
        2018, 4, 4, 17, 58, 59, tzinfo=dt.timezone(dt.timedelta(hours=3))
    )
    # DateLine is only a date; the place comes from the City property
    assert d.located == "Athens"
    assert d.urgency == 5  # envelope Priority, no item Urgency
    assert d.extra["subheadline"].startswith("Wage employment in the private sector grew")
    assert len(d.body) == 4  # the empty <P> </P> is dropped
    assert d.body[0].text.startswith("Wage employment in the private sector grew in March")
    assert d.body[3].text.startswith("© ΑΠΕ-ΜΠΕ ΑΕ.")


@pytest.mark.parametrize("name", FILES)
def test_finish_accepts_every_sample(samples: dict[str, bytes], name: str) -> None:
    story = finish(parse(samples[name]))
    assert story.format == "newsml12"
    assert story.datetime is not None
    assert story.datetime.utcoffset() is not None
    assert story.paragraphs


def test_true_latin1_document() -> None:
    raw = (
        '<?xml version="1.0" encoding="iso-8859-1"?><NewsML><NewsItem><NewsComponent>'
        "<NewsLines><HeadLine>Élection à Genève</HeadLine></NewsLines><ContentItem>"
        "<DataContent><p>Résultats définitifs.</p></DataContent></ContentItem>"
        "</NewsComponent></NewsItem></NewsML>"
    ).encode("latin-1")
    d = parse(raw)
    assert d.headline == "Élection à Genève"
    assert [b.text for b in d.body] == ["Résultats définitifs."]


def test_plain_text_data_content() -> None:
    raw = (
        b"<NewsML><NewsItem><NewsComponent><ContentItem><DataContent>First para.\n\n"
        b"Second para.</DataContent></ContentItem></NewsComponent></NewsItem></NewsML>"
    )
    assert [b.text for b in parse(raw).body] == ["First para.", "Second para."]


def test_canceled_status_is_flagged() -> None:
    raw = (
        b"<NewsML><NewsItem><NewsManagement><Status FormalName='Canceled'/></NewsManagement>"
        b"</NewsItem></NewsML>"
    )
    d = parse(raw)
    assert d.flags == ["canceled"]


@pytest.mark.parametrize(
    "raw",
    [
        b"<NewsML/>",
        b"<NewsML><NewsItem><NewsComponent><ContentItem><MediaType FormalName='Photo'/>"
        b"<DataContent>not text</DataContent></ContentItem></NewsComponent></NewsItem></NewsML>",
        b"<NewsML><NewsItem><NewsComponent><NewsLines><HeadLine>h</HeadLine></NewsLines>"
        b"</NewsComponent></NewsItem></NewsML>",
    ],
)
def test_missing_body(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse(raw)
    assert err.value.reason is Reason.MISSING_BODY


@pytest.mark.parametrize(
    "fragment",
    [
        b"<NewsManagement><ThisRevisionCreated>29 Aug 2014</ThisRevisionCreated></NewsManagement>",
        b"<Identification><NewsIdentifier><RevisionId>one</RevisionId></NewsIdentifier>"
        b"</Identification>",
        b"<NewsManagement><Urgency FormalName='11'/></NewsManagement>",
    ],
)
def test_invalid_fields(fragment: bytes) -> None:
    raw = (
        b"<NewsML><NewsItem>"
        + fragment
        + b"<NewsComponent><ContentItem><DataContent><p>x</p></DataContent></ContentItem>"
        b"</NewsComponent></NewsItem></NewsML>"
    )
    with pytest.raises(ParseError) as err:
        parse(raw)
    assert err.value.reason is Reason.INVALID_FIELD


@pytest.mark.parametrize("name", FILES)
def test_truncation_is_malformed(samples: dict[str, bytes], name: str) -> None:
    raw = samples[name]
    end = raw.rstrip().rfind(b"</NewsML>")
    for cut in sorted({0, end - 1, end + 4, *range(0, end, max(1, end // 40))}):
        with pytest.raises(ParseError) as err:
            parse(raw[:cut])
        assert err.value.reason in {Reason.MALFORMED_XML, Reason.UNDECODABLE}, cut


@pytest.mark.parametrize("name", FILES)
def test_mutations_only_raise_parse_error(samples: dict[str, bytes], name: str) -> None:
    inserts = [b"<", b"]]>", b"<![CDATA[", b"<P>", b"\xc3", b"9"]
    for data in mutants(samples[name], f"newsml12-{name}", inserts, count=150, max_cut=40):
        with contextlib.suppress(ParseError):
            finish(parse(data))
