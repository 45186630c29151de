"""The safe XML loader: attacks are refused before expansion, bad input maps to stable reasons."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import ModuleType

import pytest

from consumer.enrich import finish
from consumer.errors import ParseError, Reason
from consumer.formats import fields, html_body, newsml12, newsml_g2, ninjs, nitf, ritzau, xmlsafe
from consumer.formats.base import Hints
from consumer.parse import parse_bytes

# --- attack payloads (tiny on purpose: they must be refused without expansion) ---

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<nitf><body><body.content><p>&lol9;</p></body.content></body></nitf>"""

QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?>\n<!DOCTYPE nitf [<!ENTITY a "'
    + b"x" * 50_000
    + b'">]>\n<nitf><body><body.content><p>'
    + b"&a;" * 5_000
    + b"</p></body.content></body></nitf>"
)

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE nitf [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<nitf><body><body.content><p>&xxe;</p></body.content></body></nitf>"""

XXE_URL = b"""<?xml version="1.0"?>
<!DOCTYPE nitf [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/secret">]>
<nitf><body><body.content><p>&xxe;</p></body.content></body></nitf>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE nitf [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<nitf><body><body.content><p>x</p></body.content></body></nitf>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE nitf SYSTEM "http://127.0.0.1:9/nitf-3-4.dtd">
<nitf><body><body.content><p>x</p></body.content></body></nitf>"""

PUBLIC_DTD = b"""<!DOCTYPE nitf PUBLIC "-//IPTC//DTD NITF 3.4//EN" "nitf-3-4.dtd">
<nitf><body><body.content><p>x</p></body.content></body></nitf>"""

ATTACKS = {
    "billion_laughs": BILLION_LAUGHS,
    "quadratic_blowup": QUADRATIC_BLOWUP,
    "xxe_file": XXE_FILE,
    "xxe_url": XXE_URL,
    "parameter_entity": PARAMETER_ENTITY,
    # an external identifier does not make an internal subset harmless
    "external_and_internal": b'<!DOCTYPE nitf SYSTEM "nitf.dtd" [<!ENTITY a "b">]><nitf>&a;</nitf>',
    "external_then_entity": b'<!DOCTYPE nitf SYSTEM "nitf.dtd"><!ENTITY a "b"><nitf/>',
    "two_doctypes": b'<!DOCTYPE nitf SYSTEM "a.dtd"><!DOCTYPE nitf SYSTEM "b.dtd"><nitf/>',
    "utf16_external": EXTERNAL_DTD.decode()
    .replace('version="1.0"?>', 'version="1.0" encoding="utf-16"?>')
    .encode("utf-16"),
    # hiding places before the root element
    "after_bom_and_comment": b"\xef\xbb\xbf<!-- hi --><?pi x?>\n" + XXE_FILE.split(b"?>", 1)[1],
    "utf16": XXE_FILE.decode()
    .replace('version="1.0"?>', 'version="1.0" encoding="utf-16"?>')
    .encode("utf-16"),
    "bare_entity_decl": b"<!ENTITY x 'y'><nitf/>",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_are_forbidden_xml(name: str) -> None:
    with pytest.raises(ParseError) as err:
        xmlsafe.load(ATTACKS[name])
    assert err.value.reason is Reason.FORBIDDEN_XML


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_has_forbidden_declaration_spots_every_attack_without_parsing(name: str) -> None:
    assert xmlsafe.has_forbidden_declaration(ATTACKS[name])


@pytest.mark.parametrize("module", [nitf, newsml_g2, newsml12, ritzau], ids=lambda m: str(m.NAME))
@pytest.mark.parametrize("name", ["billion_laughs", "xxe_file", "external_and_internal"])
def test_every_xml_format_refuses_attacks(module: ModuleType, name: str) -> None:
    with pytest.raises(ParseError) as err:
        module.parse(ATTACKS[name], Hints())
    assert err.value.reason is Reason.FORBIDDEN_XML


def test_attacks_are_routed_to_their_format_and_refused() -> None:
    """The DOCTYPE names the root, so sniffing hands the attack to a parser that refuses it."""
    for name in ("xxe_file", "external_and_internal", "quadratic_blowup"):
        head = ATTACKS[name][:4096]
        assert nitf.sniff(head), name
        with pytest.raises(ParseError) as err:
            nitf.parse(ATTACKS[name], Hints())
        assert err.value.reason is Reason.FORBIDDEN_XML


# --- issue 20 item 1: a DOCTYPE that only names an external DTD is accepted ---

ACCEPTED = {
    "system": EXTERNAL_DTD,
    "public": PUBLIC_DTD,
    "no_identifier": b"<!DOCTYPE nitf>\n<nitf><body><body.content><p>x</p>"
    b"</body.content></body></nitf>",
    "single_quotes_after_comment": b"<?xml version='1.0'?><!-- c --><!DOCTYPE nitf SYSTEM 'n.dtd'>"
    b"<!-- d --><nitf><body><body.content><p>x</p></body.content></body></nitf>",
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_external_doctype_is_accepted(name: str) -> None:
    assert not xmlsafe.has_forbidden_declaration(ACCEPTED[name])
    assert xmlsafe.external_doctype(ACCEPTED[name]) is not None
    root = xmlsafe.load(ACCEPTED[name])
    assert xmlsafe.local(root) == "nitf"
    assert xmlsafe.text(root) == "x"
    assert parse_bytes(ACCEPTED[name]).format == "nitf"


def test_external_dtd_is_never_loaded(tmp_path: Path) -> None:
    """A DTD that exists and declares the entity the body uses: were it loaded, the text would
    say "LOADED"; it is not, so the reference is undeclared and the document malformed."""
    dtd = tmp_path / "nitf.dtd"
    dtd.write_text('<!ENTITY marker "LOADED">')
    raw = (
        f'<?xml version="1.0"?>\n<!DOCTYPE nitf SYSTEM "{dtd.as_uri()}">\n'
        "<nitf><body><body.content><p>&marker;</p></body.content></body></nitf>"
    ).encode()
    with pytest.raises(ParseError) as err:
        xmlsafe.load(raw)
    assert err.value.reason is Reason.MALFORMED_XML


def _with_doctype(raw: bytes, root: str) -> bytes:
    """A real sample with a DOCTYPE line naming an external DTD, after its XML declaration."""
    line = f'<!DOCTYPE {root} SYSTEM "{root}.dtd">\n'.encode()
    if raw.lstrip().startswith(b"<?xml"):
        end = raw.index(b"?>") + 2
        return raw[:end] + b"\n" + line + raw[end:]
    return line + raw


@pytest.mark.parametrize(
    ("module", "sample", "root"),
    [
        (nitf, "nitf/pa1.xml", "nitf"),
        (newsml_g2, "newsml_g2/ap.xml", "newsMessage"),
        (newsml12, "newsml_1_2/afp.xml", "NewsML"),
        (ritzau, "ritzau/ritzau_news.xml", "RBNews"),
    ],
    ids=lambda v: getattr(v, "NAME", None) or str(v),
)
def test_every_xml_format_accepts_an_external_doctype(
    shared_dir: Path, module: ModuleType, sample: str, root: str
) -> None:
    raw = (shared_dir / "data" / "wire_fixtures" / sample).read_bytes()
    plain = finish(module.parse(raw, Hints()))
    declared = _with_doctype(raw, xmlsafe.root_name(raw[:4096])[0] or root)
    assert b"<!DOCTYPE" in declared
    story = parse_bytes(declared)
    assert story.format == module.NAME
    assert story.body == plain.body
    assert story.headline == plain.headline


def test_xxe_content_never_reaches_the_story() -> None:
    """Even an undeclared entity reference is an error, never a file read."""
    with pytest.raises(ParseError) as err:
        xmlsafe.load(b"<nitf><p>&xxe;</p></nitf>")
    assert err.value.reason is Reason.MALFORMED_XML


def test_xinclude_is_not_processed() -> None:
    root = xmlsafe.load(
        b'<r xmlns:xi="http://www.w3.org/2001/XInclude">'
        b'<xi:include href="file:///etc/passwd" parse="text"/></r>'
    )
    assert "root:" not in xmlsafe.text(root)
    assert xmlsafe.local(root[0]) == "include"


def test_html_doctype_inside_cdata_is_not_a_declaration() -> None:
    raw = b"<NewsML><DataContent><![CDATA[<!DOCTYPE html><p>ok</p>]]></DataContent></NewsML>"
    assert not xmlsafe.has_forbidden_declaration(raw)
    root = xmlsafe.load(raw)
    assert "<!DOCTYPE html>" in xmlsafe.text(root)


def test_excessive_depth_is_forbidden() -> None:
    raw = b"<a>" * 5000 + b"</a>" * 5000
    with pytest.raises(ParseError) as err:
        xmlsafe.load(raw)
    assert err.value.reason is Reason.FORBIDDEN_XML


def test_too_many_elements_is_too_large() -> None:
    raw = b"<r>" + b"<p/>" * (xmlsafe.MAX_MARKUP + 1) + b"</r>"
    with pytest.raises(ParseError) as err:
        xmlsafe.load(raw)
    assert err.value.reason is Reason.TOO_LARGE


def test_too_many_elements_in_an_html_body_is_too_large() -> None:
    with pytest.raises(ParseError) as err:
        html_body.blocks_from_html("<p>x</p>" * (xmlsafe.MAX_MARKUP + 1))
    assert err.value.reason is Reason.TOO_LARGE


# --- malformed and undecodable ---


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b"<nitf>",
        b"<nitf><p></nitf>",
        b"not xml at all",
        b"<a b='1' b='2'/>",
        b"<a>\x00</a>",
        b"<a></a><b></b>",
        b"<?xml version='1.0'?>",
    ],
)
def test_malformed(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        xmlsafe.load(raw)
    assert err.value.reason is Reason.MALFORMED_XML


@pytest.mark.parametrize(
    "raw",
    [
        b"<a>caf\xe9</a>",  # Latin-1 byte in a document that is UTF-8 by default
        b'<?xml version="1.0" encoding="utf-8"?><a>\xff\xfe\xfd</a>',
        b'<?xml version="1.0" encoding="x-no-such-charset"?><a>x</a>',
    ],
)
def test_undecodable(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        xmlsafe.load(raw)
    assert err.value.reason is Reason.UNDECODABLE


def test_declared_iso_8859_1_is_honoured() -> None:
    raw = '<?xml version="1.0" encoding="ISO-8859-1"?><p>Æble, søster, façade</p>'.encode("latin-1")
    assert xmlsafe.load(raw).text == "Æble, søster, façade"


def test_utf8_mislabelled_as_latin1_is_repaired() -> None:
    raw = '<?xml version="1.0" encoding="iso-8859-1"?><p>Décès à Strasbourg</p>'.encode()
    assert xmlsafe.load(raw).text == "Décès à Strasbourg"


def test_transport_charset_is_a_fallback_only() -> None:
    raw = "<p>Grüße</p>".encode("cp1252")
    with pytest.raises(ParseError):
        xmlsafe.load(raw)
    assert xmlsafe.load(raw, declared_encoding="windows-1252").text == "Grüße"
    # a wrong hint does not override a document that decodes as it is
    assert xmlsafe.load("<p>Grüße</p>".encode(), declared_encoding="latin-1").text == "Grüße"


def test_utf16_document_with_bom() -> None:
    raw = '<?xml version="1.0" encoding="utf-16"?><p>Καλημέρα</p>'.encode("utf-16")
    assert xmlsafe.load(raw).text == "Καλημέρα"


@pytest.mark.parametrize(
    "raw", [bytes(range(256)), b"\xfe\xff\x00<", b"<\x00a\x00>", b"\xef\xbb\xbf", b"\x00" * 8]
)
def test_binary_junk_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        xmlsafe.load(raw)


# --- sniff helper ---


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'<?xml version="1.0"?>\n<!-- c -->\n<nitf version="x">', ("nitf", None)),
        (b"\xef\xbb\xbf<?xml version='1.0'?><newsMessage xmlns='urn:x'>", ("newsMessage", "urn:x")),
        (
            b'<ns0:newsMessage xmlns:html="h" xmlns:ns0="http://iptc.org/std/nar/2006-10-01/">',
            ("newsMessage", "http://iptc.org/std/nar/2006-10-01/"),
        ),
        ("<NewsML>".encode("utf-16"), ("NewsML", None)),
        (b'<RBNews xmlns="" ', ("RBNews", "")),
        (b'{"uri": "x"}', (None, None)),
        (BILLION_LAUGHS, ("lolz", None)),
        (XXE_FILE, ("nitf", None)),
        (b"", (None, None)),
    ],
)
def test_root_name(head: bytes, expected: tuple[str | None, str | None]) -> None:
    assert xmlsafe.root_name(head) == expected


def test_sniffers_are_mutually_exclusive_on_real_samples(shared_dir: Path) -> None:
    modules = [nitf, newsml_g2, newsml12, ninjs, ritzau]
    base = shared_dir / "data" / "wire_fixtures"
    expected = {
        "nitf": "nitf",
        "newsml_g2": "newsml_g2",
        "newsml_1_2": "newsml12",
        "ninjs": "ninjs",
        "ritzau": "ritzau",
    }
    for folder, fmt in expected.items():
        for path in sorted((base / folder).iterdir()):
            head = path.read_bytes()[:2048]
            hits = [m.NAME for m in modules if m.sniff(head)]
            assert hits == [fmt], path.name
    for folder in ("anpa1312", "iptc7901_dpa"):
        for path in sorted((base / folder).iterdir()):
            head = path.read_bytes()[:2048]
            assert [m.NAME for m in modules if m.sniff(head)] == [], path.name


# --- shared body/field helpers (consumer.formats.html_body) ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("STOCKHOLM, Aug 29, 2014 (AFP) -", ("STOCKHOLM", "AFP")),
        ("Strasbourg, 10 juil 2024 (AFP)", ("Strasbourg", "AFP")),
        ("London (dpa) - ", ("London", "dpa")),
        ("FORT WASHINGTON, Pa.", ("FORT WASHINGTON, Pa.", None)),
        ("4/4/2018", (None, None)),
        ("2014-07-17 00:24:11 GMT+00:00", (None, None)),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_dateline(value: str | None, expected: tuple[str | None, str | None]) -> None:
    assert fields.dateline(value) == expected


def test_when() -> None:
    utc = dt.UTC
    assert fields.when("20131020T192751+1100", "f")[0] == dt.datetime(
        2013, 10, 20, 19, 27, 51, tzinfo=dt.timezone(dt.timedelta(hours=11))
    )
    assert fields.when("2016-01-04T16:34:45.000Z", "f")[0] == dt.datetime(
        2016, 1, 4, 16, 34, 45, tzinfo=utc
    )
    assert fields.when("2017-10-11T10:41:00+0100", "f")[1] == dt.date(2017, 10, 11)
    assert fields.when("2016-01-12 12:35:40", "f") == (None, dt.date(2016, 1, 12))
    assert fields.when("  ", "f") == (None, None)
    for bad in ("yesterday", "2016-13-01T00:00:00Z", "20161301", "2016-01-01T25:00:00Z"):
        with pytest.raises(ParseError) as err:
            fields.when(bad, "f")
        assert err.value.reason is Reason.INVALID_FIELD


def test_language_tags() -> None:
    assert fields.language_tag("EN") == "en"
    assert fields.language_tag("nb-no") == "nb-NO"
    assert fields.language_tag("x-default") is None
    assert fields.language_tag("") is None
    assert fields.language_tag("FI_fi") == "fi-FI"
    assert fields.language_tag("zh-hant-tw") == "zh-Hant-TW"
    assert fields.language_tag("es-419") == "es-419"
    assert fields.language_tag("en-x-us") == "en-x-us"  # after a singleton: no region


def test_blocks_from_text_indented_paragraphs() -> None:
    text = "  First line\nwrapped.\n   Second para\ncontinues.\n\nThird after blank."
    assert [b.text for b in html_body.blocks_from_text(text)] == [
        "First line wrapped.",
        "Second para continues.",
        "Third after blank.",
    ]


def test_blocks_from_html_structure() -> None:
    html = (
        "<div><header><h1>Title copy</h1></header>loose text<p>One<br>two</p>"
        "<p><h3>Nested sub</h3></p><ul><li>Item</li></ul><figure><figcaption>cap"
        "</figcaption></figure><p>Don&amp;#39;t</p></div>"
    )
    assert [(b.kind, b.text) for b in html_body.blocks_from_html(html)] == [
        ("paragraph", "loose text"),
        ("paragraph", "One two"),
        ("subheading", "Nested sub"),
        ("paragraph", "Item"),
        ("paragraph", "Don't"),
    ]


def test_html_body_with_xml_declaration() -> None:
    html = '<?xml version="1.0" encoding="utf-8"?><p>Body</p>'
    assert [b.text for b in html_body.blocks_from_html(html)] == ["Body"]


@pytest.mark.parametrize("depth", [50, 300, 20_000])
def test_deep_html_never_raises(depth: int) -> None:
    """libxml2's HTML parser caps depth (~255), so the recursive walker stays shallow."""
    blocks = html_body.blocks_from_html("<p>ok</p>" + "<div>" * depth + "x" + "</div>" * depth)
    assert blocks[0].text == "ok"
    assert len(blocks) == (2 if depth < 255 else 1)
