"""Real agency feeds as they arrive (issue 20): every field a format carries reaches the story.

Two kinds of test. Fixtures written here, one group per item of the issue,
in the shapes the agencies send (each fails on the main branch before issue
20). Then properties over every real sample in ``../shared/data`` and over
real corpus text wrapped in each structured format: a dateline found is a
dateline cut, no paragraph is only a sign-off or a code line, XML with an
external DOCTYPE parses, a declared language is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from pathlib import Path

import pytest

from consumer.enrich import detect_language
from consumer.errors import ParseError, Reason
from consumer.events import story_payload
from consumer.formats import conventions, dateline
from consumer.model import Story
from consumer.parse import parse_bytes
from tests.corpus import SHARED, reuters_rows

DATA = SHARED / "data"

# --- builders: the smallest document of each format that agencies send ---


def nitf(paragraphs: list[str], *, head: str = "", root_attrs: str = "", dl: str = "") -> bytes:
    ps = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<nitf{root_attrs}><head>'
        f'<docdata><doc-id id-string="x-1"/>{head}</docdata></head>'
        f"<body><body.head><hedline><hl1>Headline</hl1></hedline>{dl}</body.head>"
        f"<body.content>{ps}</body.content></body></nitf>"
    ).encode()


def g2(
    paragraphs: list[str],
    *,
    meta: str = "",
    content_meta: str = "",
    item_class: str = "ninat:text",
    created: str = "<versionCreated>2013-11-26T10:00:00Z</versionCreated>",
    content: str | None = None,
) -> bytes:
    ps = "".join(f"<p>{p}</p>" for p in paragraphs)
    body = (
        content
        if content is not None
        else '<inlineXML contenttype="application/xhtml+xml">'
        f'<html xmlns="http://www.w3.org/1999/xhtml"><body>{ps}</body></html></inlineXML>'
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<newsItem xmlns="http://iptc.org/std/nar/2006-10-01/" guid="tag:x,2013:1" version="1">'
        f'<itemMeta><itemClass qcode="{item_class}"/>{created}{meta}</itemMeta>'
        f"<contentMeta><headline>Headline</headline>{content_meta}</contentMeta>"
        f"<contentSet>{body}</contentSet></newsItem>"
    ).encode()


def ninjs(paragraphs: list[str], **fields: object) -> bytes:
    doc: dict[str, object] = {
        "uri": "urn:x:1",
        "versioncreated": "2013-11-26T10:00:00Z",
        "headline": "Headline",
        "body_html": "".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs),
    }
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


BUILDERS: dict[str, Callable[[list[str]], bytes]] = {
    "nitf": lambda ps: nitf([escape(p, quote=False) for p in ps]),
    "newsml_g2": lambda ps: g2([escape(p, quote=False) for p in ps]),
    "ninjs": ninjs,
}

LEDE = "North Korea fired two missiles into the sea on Tuesday, officials said."
SECOND = "The launches came a day after talks in the region had broken down."

# --- item 2: datelines in XML and JSON bodies, every agency style ---

DATELINES = [
    ("SEOUL, Nov 26 AFP - ", "SEOUL", "AFP"),
    ("WASHINGTON (AP) — ", "WASHINGTON", "AP"),
    ("LONDON, Nov 26 (Reuters) - ", "LONDON", "Reuters"),
    ("SYDNEY, Nov 26 AAP - ", "SYDNEY", "AAP"),
    ("ROMA, 26 NOV - (ANSA) - ", "ROMA", "ANSA"),
    ("(ANSA) - Rome, October 11 - ", "Rome", "ANSA"),
    ("BERLIN (dpa) - ", "BERLIN", "dpa"),
    ("PARIS, 26 nov 2013 (AFP) - ", "PARIS", "AFP"),
    ("MADRID, 26 dic (EFE).- ", "MADRID", "EFE"),
    ("Oslo (NTB): ", "Oslo", "NTB"),
    ("STOCKHOLM, 26 mars (TT) - ", "STOCKHOLM", "TT"),
    ("HELSINKI (STT) - ", "HELSINKI", "STT"),
]


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
@pytest.mark.parametrize(("line", "place", "agency"), DATELINES, ids=[d[1] for d in DATELINES])
def test_body_dateline_is_located_and_cut(fmt: str, line: str, place: str, agency: str) -> None:
    story = parse_bytes(BUILDERS[fmt]([line + LEDE, SECOND]))
    assert story.format == fmt
    assert story.located == place
    assert story.dateline_agency == agency
    assert story.paragraphs[0] == LEDE
    assert story.lede == LEDE
    assert place.casefold() not in story.normalized_text.split(" north")[0]


def test_a_paragraph_that_is_only_a_dateline_goes_whole() -> None:
    story = parse_bytes(nitf(["WASHINGTON (AP) —", LEDE]))
    assert story.located == "WASHINGTON"
    assert story.paragraphs == (LEDE,)


# --- item 3: the dateline wins over the metadata place ---


def test_dateline_wins_over_metadata_place_which_is_kept() -> None:
    raw = g2(
        ["DAMASCUS, Nov 26 (Reuters) - " + LEDE, SECOND],
        content_meta='<located qcode="geo:1"><name>Bangalore</name></located>',
    )
    story = parse_bytes(raw)
    assert story.located == "DAMASCUS"
    assert story.metadata_located == "Bangalore"
    assert story_payload(story)["metadata_located"] == "Bangalore"


def test_agreeing_metadata_place_is_not_repeated() -> None:
    raw = ninjs(["GROSSETO, Italy (AP) -- " + LEDE], located="Grosseto, Italy")
    story = parse_bytes(raw)
    assert story.located == "GROSSETO, Italy"
    assert story.metadata_located is None


# --- item 4: sign-offs, credits, end markers, routing lines, dpa signatures ---


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
@pytest.mark.parametrize(
    ("tail", "signature", "credits"),
    [
        (["AFP sn"], "AFP sn", None),
        (["AAP RTV ar"], "AAP RTV ar", None),
        (["AAP gfr"], "AAP gfr", None),
        (["ends"], None, None),
        (["hh/ph/ts/hd"], "hh/ph/ts/hd", None),
        (
            ["(Reporting by Jane Doe in Seoul; Editing by John Roe)"],
            None,
            "Reporting by Jane Doe in Seoul; Editing by John Roe",
        ),
        (["(Additional reporting by Ann Lee; Editing by Bo Li)", "ends"], None,
         "Additional reporting by Ann Lee; Editing by Bo Li"),
        (["___", "AFP sn"], "AFP sn", None),
    ],
    ids=["afp", "aap-rtv", "aap-gfr", "pa-ends", "afp-slash", "reuters", "credits-ends", "rule"],
)
def test_signoffs_leave_the_body(
    fmt: str, tail: list[str], signature: str | None, credits: str | None
) -> None:
    story = parse_bytes(BUILDERS[fmt]([LEDE, SECOND, *tail]))
    assert story.paragraphs == (LEDE, SECOND)
    assert story.signature == signature
    assert story.credits == credits
    if signature:
        assert signature.split()[-1].casefold() not in story.normalized_text.split()


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_routing_code_lines_are_not_paragraphs(fmt: str) -> None:
    routing = "51 77 03 CRO01 1113 APE4800 XX"
    story = parse_bytes(BUILDERS[fmt]([routing, "ROMA, 26 NOV - (ANSA) - " + LEDE, SECOND]))
    assert story.paragraphs == (LEDE, SECOND)
    assert story.located == "ROMA"


def test_dpa_signature_glued_to_the_last_word() -> None:
    """Issue 19 part 2: ``...Hintergrundstatistiken/wdw/DP/mis`` (no final punctuation)."""
    text = (
        "date 2026-01-03\nAktien Frankfurt: Dax im Plus\n\n"
        "FRANKFURT (dpa-AFX) - Der Dax hat am Freitag zugelegt. Händler verwiesen auf "
        "Hintergrundstatistiken"
    )
    glued = parse_bytes((text + "/wdw/DP/mis").encode())
    plain = parse_bytes(text.encode())
    assert glued.signature == "/wdw/DP/mis"
    assert glued.signature_codes == ("wdw", "DP", "mis")
    assert glued.paragraphs[-1].endswith("Hintergrundstatistiken")
    assert glued.normalized_text == plain.normalized_text
    assert "wdw" not in glued.normalized_text


def test_a_slash_inside_the_last_word_is_not_a_signature() -> None:
    story = parse_bytes(b"FRANKFURT (dpa-AFX) - Die Zahl der Kunden stieg und/oder")
    assert story.signature is None
    assert story.paragraphs[-1].endswith("und/oder")


# --- item 5: sluglines ---


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        (g2([LEDE], content_meta="<slugline>US-SYRIA-CRISIS-ASSAD</slugline>"),
         "US-SYRIA-CRISIS-ASSAD"),
        (g2([LEDE], content_meta="<slugline>SOCCER-ENGLAND/CHELSEA-BENITEZ</slugline>"),
         "SOCCER-ENGLAND/CHELSEA-BENITEZ"),
        (nitf([LEDE], head='<du-key key="PA-SSS-SPORT-Trivia"/>'), "PA-SSS-SPORT-Trivia"),
        (ninjs([LEDE], slugline="GLOBAL-OIL"), "GLOBAL-OIL"),
    ],
    ids=["g2", "g2-slash", "nitf-du-key", "ninjs"],
)
def test_slugline_reaches_field_and_keywords(raw: bytes, slug: str) -> None:
    story = parse_bytes(raw)
    assert story.slugline == slug
    assert slug in story.keywords
    assert story_payload(story)["slugline"] == slug


def test_iptc7901_and_anpa_keyword_lines_are_sluglines() -> None:
    base = DATA / "wire_fixtures"
    s7901 = parse_bytes((base / "iptc7901_dpa" / "dpa_four_line.txt").read_bytes())
    assert s7901.slugline == "Switzerland/migration/UN"
    assert s7901.keywords == ("Switzerland", "migration", "UN")
    anpa = parse_bytes((base / "anpa1312" / "ap_anpa-1.tst").read_bytes())
    assert anpa.slugline == "BC-BKN--Heat-Hawks"


# --- item 6: date fallback, with its time zone, saying which field ---


@pytest.mark.parametrize(
    ("raw", "iso", "source"),
    [
        (g2([LEDE], created="<versionCreated/>",
            meta="<firstCreated>2013-11-25T08:00:00+09:00</firstCreated>",
            content_meta="<contentModified>2013-11-26T10:00:00+01:00</contentModified>"),
         "2013-11-26T10:00:00+01:00", "contentModified"),
        (g2([LEDE], created="", meta="<firstCreated>2013-11-25T08:00:00+09:00</firstCreated>"),
         "2013-11-25T08:00:00+09:00", "firstCreated"),
        (ninjs([LEDE], versioncreated=None, firstcreated="2013-11-25T08:00:00-05:00"),
         "2013-11-25T08:00:00-05:00", "firstcreated"),
        (nitf([LEDE], head='<date.release norm="20131126T100000+0100"/>'),
         "2013-11-26T10:00:00+01:00", "date.release"),
    ],
    ids=["g2-contentModified", "g2-firstCreated", "ninjs-firstcreated", "nitf-date.release"],
)
def test_date_falls_back_and_says_from_where(raw: bytes, iso: str, source: str) -> None:
    story = parse_bytes(raw)
    assert story.datetime is not None
    assert story.datetime.isoformat() == iso
    assert story.date_source == source
    assert story_payload(story)["date_source"] == source


def test_versioncreated_is_still_first() -> None:
    story = parse_bytes(g2([LEDE], meta="<firstCreated>2013-11-25T08:00:00Z</firstCreated>"))
    assert story.date_source == "versionCreated"
    assert story.datetime is not None
    assert story.datetime.day == 26


# --- item 7: escaped inline markup ---


@pytest.mark.parametrize(
    "raw",
    [
        g2(["Temperatures of 35&lt;endash&gt;-&lt;/endash&gt;40 degrees are expected."]),
        nitf(["Temperatures of 35&lt;endash&gt;-&lt;/endash&gt;40 degrees are expected."]),
        ninjs(["Temperatures of 35<endash>-</endash>40 degrees are expected."]),
    ],
    ids=["g2", "nitf", "ninjs"],
)
def test_escaped_character_markup_becomes_the_character(raw: bytes) -> None:
    assert parse_bytes(raw).paragraphs == ("Temperatures of 35–40 degrees are expected.",)


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_escaped_tags_and_scripts_leave_no_markup(fmt: str) -> None:
    widget = '<div class="embed"></div><script src="https://x.example/e.js"></script>'
    story = parse_bytes(BUILDERS[fmt](["He said <b>no</b> &amp; left.", widget, SECOND]))
    assert story.paragraphs == ("He said no & left.", SECOND)


def test_a_less_than_sign_in_prose_stays() -> None:
    story = parse_bytes(nitf(["Inflation stayed at &lt; 2 percent, below the target."]))
    assert story.paragraphs == ("Inflation stayed at < 2 percent, below the target.",)


# --- item 8: declared language wins; no guess on short or list-like text ---

LINEUP = [
    "Chelsea: Cech; Ivanovic, Terry, Cahill, Cole; Ramires, Lampard; Mata, Oscar, Hazard; Torres.",
    "Subs: Turnbull, Bertrand, Luiz, Moses, Mikel, Benayoun, Sturridge.",
]


def test_list_like_text_gets_no_language_rather_than_a_guess() -> None:
    story = parse_bytes(nitf(LINEUP))
    assert story.language is None
    assert story.language_detected is False


@pytest.mark.parametrize(
    "raw",
    [
        nitf(LINEUP, root_attrs=' xml:lang="en-GB"'),
        nitf(LINEUP, root_attrs=' baselang="en-GB"'),
        nitf(LINEUP, head="", root_attrs="").replace(b"<body.content>",
                                                     b'<body.content lang="en-GB">'),
        ninjs(LINEUP, language="en-GB"),
        g2(LINEUP).replace(b'version="1">', b'version="1" xml:lang="en-GB">'),
    ],
    ids=["nitf-xml-lang", "nitf-baselang", "nitf-body-lang", "ninjs", "g2"],
)
def test_declared_language_is_kept(raw: bytes) -> None:
    story = parse_bytes(raw)
    assert story.language == "en-GB"
    assert story.language_detected is False


def test_declared_language_wins_over_the_text() -> None:
    german = "Die Bundesregierung hat am Dienstag neue Regeln für den Handel beschlossen."
    story = parse_bytes(ninjs([german], language="en"))
    assert story.language == "en"
    assert story.language_detected is False


def test_detection_still_labels_prose() -> None:
    assert detect_language(LEDE + " " + SECOND) == "en"
    assert detect_language("Die Bundesregierung hat am Dienstag neue Regeln beschlossen.") == "de"


# --- item 9: text delivered by reference is not a broken story ---

PACKAGE = (
    b'<?xml version="1.0"?><packageItem xmlns="http://iptc.org/std/nar/2006-10-01/" '
    b'guid="tag:x,2013:p" version="1"><itemMeta><itemClass qcode="ninat:composite"/>'
    b"</itemMeta><groupSet root="
    b'"main"><group id="main"><itemRef residref="tag:x,2013:1"/></group></groupSet></packageItem>'
)


@pytest.mark.parametrize(
    "raw",
    [
        PACKAGE,
        g2([], content='<remoteContent href="https://x.example/text.xml" '
                       'contenttype="application/nitf+xml"/>'),
        g2([], item_class="ninat:picture",
           content='<remoteContent href="https://x.example/p.jpg" contenttype="image/jpeg"/>'),
        json.dumps({"data": {"item": {"uri": "https://x.example/1", "type": "text",
                                      "versioncreated": "2019-07-03T04:05:12Z",
                                      "renditions": {"nitf": {"href": "https://x.example/n"}}}}})
        .encode(),
        ninjs([], body_html=None, type="picture",
              renditions={"main": {"href": "https://x.example/p.jpg"}}),
    ],
    ids=["g2-package", "g2-remote", "g2-picture", "ap-media-api", "ninjs-picture"],
)
def test_by_reference_items_have_their_own_reason(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse_bytes(raw)
    assert err.value.reason is Reason.BY_REFERENCE


@pytest.mark.parametrize("raw", [g2([]), ninjs([], body_html=None), nitf([])],
                         ids=["g2", "ninjs", "nitf"])
def test_an_empty_text_item_is_still_missing_body(raw: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse_bytes(raw)
    assert err.value.reason is Reason.MISSING_BODY


# --- properties over every real sample ---


def _real_samples() -> list[Path]:
    fixtures = sorted(p for p in (DATA / "wire_fixtures").rglob("*") if p.is_file())
    examples = sorted((DATA / "ninjs" / "examples").glob("*.json"))
    return [p for p in fixtures + examples if p.name != "PROVENANCE.md"]


REAL = _real_samples()


def _story(raw: bytes) -> Story | None:
    try:
        return parse_bytes(raw)
    except ParseError as exc:
        reason = exc.reason
    assert reason in (Reason.MISSING_BODY, Reason.BY_REFERENCE)
    return None


def _no_convention_left(story: Story) -> None:
    """No paragraph is only a sign-off, credit, end marker, rule or code line; the first
    paragraph does not start with a dateline."""
    for text in story.paragraphs:
        assert conventions.signoff(text) is None, text
        assert not conventions.is_end_marker(text), text
        assert not conventions.is_rule(text), text
        assert not conventions.is_routing_line(text), text
    assert story.paragraphs[-1:] == () or conventions.credits(story.paragraphs[-1]) is None
    if story.paragraphs:
        assert dateline.match(story.paragraphs[0]) is None, story.paragraphs[0][:80]


@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_samples_keep_no_agency_convention_in_the_body(path: Path) -> None:
    raw = path.read_bytes()
    story = _story(raw)
    if story is None:
        return
    _no_convention_left(story)
    if story.dateline_agency is not None or story.extra.get("dateline_date"):
        assert story.located or story.dateline_agency


def _declared_language(raw: bytes) -> str | None:
    """The item's own language: top-level ``language`` of JSON (inside an API wrapper), the
    first ``xml:lang``/``baselang`` of XML (the root's or the item's in these samples)."""
    if raw.lstrip()[:1] == b"{":
        doc = json.loads(raw)
        item = doc.get("data", {}).get("item", doc) if isinstance(doc.get("data"), dict) else doc
        if isinstance(item.get("item"), list):
            item = item["item"][0]
        lang = {k.lower(): v for k, v in item.items()}.get("language")
        return lang if isinstance(lang, str) else None
    text = raw.decode("utf-8", "replace")
    for key in ('xml:lang="', 'baselang="'):
        at = text.find(key)
        if at >= 0:
            return text[at + len(key) : text.index('"', at + len(key))]
    return None


@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_samples_with_an_external_doctype_parse_alike(path: Path) -> None:
    raw = path.read_bytes()
    head = raw.lstrip(b"\xef\xbb\xbf \r\n\t")
    if not head.startswith(b"<"):
        pytest.skip("not XML")
    story = _story(raw)
    from consumer.formats import xmlsafe

    name = xmlsafe.root_name(raw[:4096])[0] or "x"
    line = f'<!DOCTYPE {name} SYSTEM "{name}.dtd">\n'.encode()
    if head.startswith(b"<?xml"):
        end = raw.index(b"?>") + 2
        declared = raw[:end] + b"\n" + line + raw[end:]
    else:
        declared = line + raw
    again = _story(declared)
    assert (story is None) == (again is None)
    if story is not None and again is not None:
        assert again.body == story.body
        assert again.language == story.language


@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_samples_keep_their_declared_language(path: Path) -> None:
    raw = path.read_bytes()
    story = _story(raw)
    declared = _declared_language(raw)
    if story is None or declared is None or declared.lower() == "x-default":
        return
    assert story.language is not None
    assert story.language_detected is False
    assert story.language.lower().split("-")[0] == declared.lower().replace("_", "-").split("-")[0]


# --- properties over real corpus text wrapped in each structured format ---

STYLES = [
    ("{place}, Nov 26 (Reuters) - ", "(Reporting by Jane Doe; Editing by John Roe)"),
    ("{place}, Nov 26 AFP - ", "AFP sn"),
    ("{place} (AP) — ", "___"),
    ("{place}, 26 NOV - (ANSA) - ", "ends"),
    ("{place} (dpa) - ", "dpa wsz jln"),
]


def _corpus_cases(limit: int = 40) -> list[tuple[str, list[str]]]:
    out = []
    for row in reuters_rows()[::97]:
        place = str(row.get("dateline") or "").split(",")[0].strip()
        text = str(row.get("text") or "")
        paras = [" ".join(p.split()) for p in text.split("\n    ") if p.strip()]
        if not place or not place.isupper() or len(paras) < 2 or not paras[0][:1].isalpha():
            continue
        out.append((place, paras[:6]))
        if len(out) >= limit:
            break
    return out


CORPUS = _corpus_cases()


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_corpus_in_every_format_located_and_cut(fmt: str) -> None:
    assert len(CORPUS) >= 30
    for i, (place, paras) in enumerate(CORPUS):
        head, tail = STYLES[i % len(STYLES)]
        line = head.format(place=place)
        story = parse_bytes(BUILDERS[fmt]([line + paras[0], *paras[1:], tail]))
        assert story.located == place, (line, paras[0][:60])
        assert story.paragraphs[0] == paras[0]
        assert story.paragraphs[-1] == paras[-1]
        _no_convention_left(story)


def test_ninjs_output_carries_the_slugline() -> None:
    from consumer.ninjs_out import to_ninjs

    story = parse_bytes(g2([LEDE], content_meta="<slugline>US-SYRIA-CRISIS-ASSAD</slugline>"))
    assert to_ninjs(story, story_id="x")["slugline"] == "US-SYRIA-CRISIS-ASSAD"


def test_a_broken_fallback_date_is_still_invalid_field() -> None:
    with pytest.raises(ParseError) as err:
        parse_bytes(g2([LEDE], created="", meta="<firstCreated>yesterday</firstCreated>"))
    assert err.value.reason is Reason.INVALID_FIELD
