"""ninjs 1.x/2.x/3.x parser against Superdesk's samples and the official IPTC examples."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import orjson
import pytest

from consumer.enrich import finish
from consumer.errors import ParseError, Reason
from consumer.formats import ninjs
from consumer.formats.base import Draft, Hints
from tests.unit._mutation import mutants

WIRE = [
    "ninjs1.json",
    "ninjs2.json",
    "ninjsExMediumText1.json",
    "ninjsExSimpleText1.json",
    "bbc-ninjs-text-test.json",
    "ap_media_text_item.json",
]
IPTC = [
    "2.1_dpa_text.json",
    "3.0_dpa_text.json",
    "3.0_ninjsExSimpleText_3.json",
    "3.0_ntb_text.json",
    "doc-3.1_005_complex_text_article.json",
]


@pytest.fixture(scope="module")
def samples(shared_dir: Path) -> dict[str, bytes]:
    wire = shared_dir / "data" / "wire_fixtures" / "ninjs"
    iptc = shared_dir / "data" / "ninjs" / "examples"
    out = {name: (wire / name).read_bytes() for name in WIRE}
    out.update({name: (iptc / name).read_bytes() for name in IPTC})
    return out


def parse(raw: bytes) -> Draft:
    return ninjs.parse(raw, Hints())


def doc(**fields: object) -> bytes:
    base: dict[str, object] = {
        "uri": "urn:x:1",
        "versioncreated": "2024-01-02T03:04:05Z",
        "body_text": "Text.",
    }
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not None})


def test_dpa_german_2_1(samples: dict[str, bytes]) -> None:
    d = parse(samples["2.1_dpa_text.json"])
    assert d.headline == "Faktencheck Derby-Elfmeter: Hat Schiedsrichter Zwayer recht?"
    assert d.agency == "dpa"
    assert d.agency_id == "urn:newsml:dpa.com:20090101:190510-99-167362"
    assert d.version == 2
    assert d.language == "de"
    assert d.byline == "Von Christian Hollmann, dpa"
    assert d.urgency == 4
    assert d.datetime == dt.datetime(
        2019, 5, 10, 16, 2, 28, tzinfo=dt.timezone(dt.timedelta(hours=2))
    )
    assert len(d.body) == 9
    assert d.body[0].text.startswith("Für Lucien Favre war es «der größte Skandal im Fußball")


def test_dpa_3_0_camel_case_equals_2_1(samples: dict[str, bytes]) -> None:
    """The same dpa item in ninjs 2.1 and 3.0 must yield the same draft."""
    assert parse(samples["3.0_dpa_text.json"]) == parse(samples["2.1_dpa_text.json"])


def test_ninjs1_superdesk(samples: dict[str, bytes]) -> None:
    d = parse(samples["ninjs1.json"])
    assert d.headline == "headline"
    assert d.agency == "Australian Associated Press"
    assert d.agency_id is not None
    assert d.agency_id.startswith("urn:newsml:localhost:2017-08-24T14:37:19.783611:")
    assert d.version == 2  # "2" as a string
    assert d.language == "fr"
    assert d.located == "Milton Keynes"
    assert d.byline == "Peter and Jane"
    assert d.urgency == 3
    assert d.keywords == ["arts, culture and entertainment"]
    assert d.datetime == dt.datetime(2017, 8, 24, 4, 38, 34, tzinfo=dt.UTC)
    assert d.extra["first_created"] == "2017-08-24T04:37:19+0000"
    assert [b.text for b in d.body] == ["The story so far."]


def test_ninjs2_html_body(samples: dict[str, bytes]) -> None:
    d = parse(samples["ninjs2.json"])
    assert d.headline == "Oil prices edge up on first drop in US drilling in months"
    assert d.agency_id == "tag:localhost:2017:7ca07622-3b19-4d61-8daf-18500412d46b"
    assert d.version == 4
    assert d.located == "Singapore"
    assert d.byline == "By Henning Gloystein"
    assert len(d.body) == 9
    # the newlines inside <p> are line wrapping
    assert d.body[0].text == (
        "Oil prices edged up on Monday, supported by the first autumn in US drilling activity "
        "in months, although rising output from OPEC despite a pledge to cut supplies capped gains."
    )


@pytest.mark.parametrize(
    "name",
    [
        "ninjsExSimpleText1.json",
        "3.0_ninjsExSimpleText_3.json",
        "ninjsExMediumText1.json",
        "doc-3.1_005_complex_text_article.json",
    ],
)
def test_iptc_examples_prefer_markup_paragraphs(samples: dict[str, bytes], name: str) -> None:
    d = parse(samples[name])
    assert d.headline == "Captain of wrecked cruise ship on trial in Italy"
    assert d.agency == "ninjs.example.com"
    assert d.byline == "Paulo Santalucia and Frances d'Emilio"
    assert d.datetime == dt.datetime(2013, 7, 9, 10, 37, tzinfo=dt.UTC)
    # body_text is one line; the XHTML rendition has the four paragraphs
    assert len(d.body) == 4
    assert d.body[0].text.startswith("GROSSETO, Italy (AP) -- The trial of the captain")
    assert d.body[3].text.endswith("Schettino has denied wrongdoing.")


def test_medium_example_located_and_language(samples: dict[str, bytes]) -> None:
    d = parse(samples["ninjsExMediumText1.json"])
    assert d.located == "Grossetto, Italy"
    assert d.language == "en"
    assert d.agency_id == "http://ninjs.example.com/newsitems/20130709med123"


def test_bbc_list_wrapper(samples: dict[str, bytes]) -> None:
    d = parse(samples["bbc-ninjs-text-test.json"])
    assert d.headline == "advisory"
    assert d.agency_id == "https://www.example.com//12345"
    assert d.byline == "John Doe"
    assert d.keywords == ["Planning Permission"]
    assert d.datetime is None  # no offset given
    assert d.date == dt.date(2018, 5, 28)
    assert [b.text for b in d.body] == ["body"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        # the AP Media API envelope links its text as renditions (issue 20 item 9)
        ("ap_media_text_item.json", Reason.BY_REFERENCE),
        ("3.0_ntb_text.json", Reason.MISSING_BODY),
    ],
)
def test_items_without_body(samples: dict[str, bytes], name: str, reason: Reason) -> None:
    with pytest.raises(ParseError) as err:
        parse(samples[name])
    assert err.value.reason is reason


@pytest.mark.parametrize(
    "name", [n for n in WIRE + IPTC if n not in {"ap_media_text_item.json", "3.0_ntb_text.json"}]
)
def test_finish_accepts_every_sample(samples: dict[str, bytes], name: str) -> None:
    story = finish(parse(samples[name]))
    assert story.format == "ninjs"
    assert story.agency_id
    assert story.paragraphs


@pytest.mark.parametrize("name", WIRE + IPTC)
def test_sniff_real_samples(samples: dict[str, bytes], name: str) -> None:
    assert ninjs.sniff(samples[name][:2048])


@pytest.mark.parametrize(
    "head",
    [
        b'{"headline": "x", "body": "y", "id": 3}',  # a generic envelope
        b'{"records": [1, 2]}',
        b"[]",
        b"<nitf/>",
        b"",
        b'"uri"',
    ],
)
def test_sniff_rejects_other_json(head: bytes) -> None:
    assert not ninjs.sniff(head)


@pytest.mark.parametrize(
    "head",
    [
        b'{"uri": "x"}',
        b'{"title": "t", "associations": {}}',
        b'{"versionCreated": "2020-01-01T00:00:00Z", "headlines": []}',
        b'{"headline": "x", "body": "y", "id": 3}',
        b'{"id": 1, "copyrightHolder": "NTB"}',
        b"{}",
    ],
)
def test_no_json_object_is_claimed_by_neither_json_sniffer(head: bytes) -> None:
    """ninjs is asked first; whatever it leaves, the generic envelope must take."""
    from consumer.formats import generic_json

    assert ninjs.sniff(head) or generic_json.sniff(head)


def test_body_text_blank_line_paragraphs() -> None:
    d = parse(doc(body_text="First one.\n\nSecond\nline wrapped.\n \nThird."))
    assert [b.text for b in d.body] == ["First one.", "Second line wrapped.", "Third."]


def test_body_html_subheadings() -> None:
    d = parse(
        doc(body_text=None, body_html="<p>A</p><h2>Sub</h2><p>B &amp; C</p><script>x</script>")
    )
    assert [(b.kind, b.text) for b in d.body] == [
        ("paragraph", "A"),
        ("subheading", "Sub"),
        ("paragraph", "B & C"),
    ]


def test_html_body_cannot_pull_in_entities() -> None:
    html = '<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><p>&x;</p>'
    d = parse(doc(body_text=None, body_html=html))
    assert not any("root:" in b.text for b in d.body)


def test_headlines_3x_role_main_preferred() -> None:
    d = parse(doc(headlines=[{"role": "sub", "value": "Sub"}, {"role": "main", "value": "Main"}]))
    assert d.headline == "Main"


def test_provider_and_uri_host_as_agency() -> None:
    assert parse(doc(provider="AP")).agency == "AP"
    assert parse(doc(provider={"name": "NTB"})).agency == "NTB"
    assert parse(doc(uri="https://api.example.org/items/1")).agency == "api.example.org"
    assert parse(doc(uri="urn:newsml:dpa.com:20090101:x")).agency == "dpa.com"


def test_canceled_and_signals() -> None:
    d = parse(doc(pubstatus="canceled", body_text=None))
    assert d.flags == ["canceled"]
    assert parse(doc(signals=["correction"])).flags == ["correction"]


@pytest.mark.parametrize(
    "fields",
    [
        {"headline": 5},
        {"version": "v2"},
        {"version": True},
        {"urgency": "high"},
        {"urgency": 12},
        {"versioncreated": "yesterday"},
        {"versioncreated": 1700000000},
        {"body_text": ["a", "b"]},
        {"bodies": "text"},
        {"subject": [{"name": 3}]},
        {"keywords": "ok-but-then", "signals": {"a": 1}},
    ],
)
def test_wrong_types_are_invalid_field(fields: dict[str, object]) -> None:
    with pytest.raises(ParseError) as err:
        parse(doc(**fields))
    assert err.value.reason is Reason.INVALID_FIELD


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"3"])
def test_non_object_json(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse(raw)
    assert err.value.reason is Reason.INVALID_FIELD


@pytest.mark.parametrize("raw", [b"", b"{", b'{"uri": }', b"{'uri': 'x'}", b"[" * 5000])
def test_malformed_json(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse(raw)
    assert err.value.reason is Reason.MALFORMED_JSON


def test_undecodable_json() -> None:
    with pytest.raises(ParseError) as err:
        parse(b'{"uri": "\x00\xff"}')
    assert err.value.reason is Reason.UNDECODABLE


def test_latin1_json_with_declared_charset() -> None:
    raw = '{"uri": "u", "body_text": "Grüße aus Köln"}'.encode("latin-1")
    d = ninjs.parse(raw, Hints(declared_encoding="iso-8859-1"))
    assert [b.text for b in d.body] == ["Grüße aus Köln"]


@pytest.mark.parametrize("name", ["ninjs2.json", "2.1_dpa_text.json", "ninjs1.json"])
def test_truncation_is_a_parse_error(samples: dict[str, bytes], name: str) -> None:
    raw = samples[name].rstrip()
    for cut in range(0, len(raw) - 1, max(1, len(raw) // 40)):
        with pytest.raises(ParseError) as err:
            parse(raw[:cut])
        assert err.value.reason in {Reason.MALFORMED_JSON, Reason.UNDECODABLE}, cut


@pytest.mark.parametrize("name", WIRE + IPTC)
def test_mutations_only_raise_parse_error(samples: dict[str, bytes], name: str) -> None:
    inserts = [b"{", b"[", b'"', b"null", b"1", b"<p>", b"\\u0000"]
    for data in mutants(samples[name], f"ninjs-{name}", inserts, count=100, max_cut=30):
        with contextlib.suppress(ParseError):
            finish(parse(data))


def test_field_type_mutations_only_raise_parse_error(samples: dict[str, bytes]) -> None:
    """Replace each top-level field by values of every JSON type."""
    values: list[object] = [None, 0, -1, 10**18, 1.5, True, "", "x", [], [1], {}, {"name": 1}]
    for name in ("ninjs2.json", "2.1_dpa_text.json", "3.0_ntb_text.json"):
        item = orjson.loads(samples[name])
        for key in list(item):
            for v in values:
                mutated = dict(item)
                mutated[key] = v
                with contextlib.suppress(ParseError):
                    finish(parse(orjson.dumps(mutated)))


def test_every_generic_json_refusal_is_claimed_by_ninjs() -> None:
    """Guards the mirrored marker list against drift in generic_json."""
    from consumer.formats import generic_json

    for marker in generic_json.NINJS_MARKERS:
        head = b'{"id": 1, ' + marker + b": 2}"
        assert not generic_json.sniff(head)
        assert ninjs.sniff(head), marker
