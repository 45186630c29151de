"""dpa-AFX plain text: the real seed story, rendered German/English corpus stories, variants."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import pytest

from consumer.errors import ParseError, Reason
from consumer.formats import dpa_afx
from consumer.model import Story
from consumer.parse import parse_bytes
from tests.corpus import reuters_rows

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SEED = SHARED / "seeds" / "000_34eca767715a4b5f.txt"
CORPUS = SHARED / "data" / "corpus"


@pytest.fixture(scope="module")
def seed() -> Story:
    return parse_bytes(SEED.read_bytes())


def test_seed_metadata(seed: Story) -> None:
    assert seed.format == "dpa_afx"
    assert seed.date == dt.date(2026, 1, 3)
    assert seed.located == "KIEW"
    assert seed.agency == "dpa-AFX"
    assert seed.dateline_agency == "dpa-AFX"
    assert seed.language == "de"
    assert seed.language_detected is True
    assert seed.headline is None
    assert seed.flags == ()


def test_seed_body_structure(seed: Story) -> None:
    kinds = [b.kind for b in seed.body]
    assert kinds == ["paragraph", "paragraph", "subheading", "paragraph", "paragraph", "paragraph"]
    assert seed.subheadings == ("Auch politisch-militärische Fragen erörtert",)
    assert len(seed.paragraphs) == 5
    assert seed.lede is not None
    assert seed.lede.startswith("In der ukrainischen Hauptstadt Kiew")
    assert seed.paragraphs[1].startswith("Per Video sei der US-Beauftragte Steve Witkoff")
    assert seed.paragraphs[-1].endswith("nicht in Sicht.")


def test_seed_signature_quotes_and_normalized_text(seed: Story) -> None:
    assert seed.signature == "/mau/DP/he"
    assert seed.signature_codes == ("mau", "DP", "he")
    assert "Ich hoffe, dass 2026 das Jahr des Friedens wird" in seed.quotes
    norm = seed.normalized_text
    assert norm.startswith("in der ukrainischen hauptstadt kiew")
    assert norm.endswith("nicht in sicht.")
    for absent in ("date 2026", "(dpa-afx)", "/mau", "kiew (dpa"):
        assert absent not in norm
    assert "  " not in norm
    assert "\n" not in norm
    assert seed.word_count == len(norm.split())


def test_signature_on_its_own_line_and_crlf() -> None:
    raw = (
        "date 2026-02-01\r\nFRANKFURT/NEW YORK (dpa-AFX) - Die Börsen schlossen fester.\r\n\r\n"
        "Händler sprachen von Gewinnmitnahmen.\r\n/abc/DP/xy\r\n"
    ).encode()
    story = parse_bytes(raw)
    assert story.located == "FRANKFURT/NEW YORK"
    assert story.signature_codes == ("abc", "DP", "xy")
    assert story.paragraphs == (
        "Die Börsen schlossen fester.",
        "Händler sprachen von Gewinnmitnahmen.",
    )


@pytest.mark.parametrize(
    ("headline", "clean", "flags", "level", "note"),
    [
        ("ROUNDUP 2/Kiew: Gespräche gehen weiter", "Kiew: Gespräche gehen weiter", ("roundup",), 2, None),  # noqa: E501
        ("WDH/ROUNDUP: Kiew", "Kiew", ("repeat", "roundup"), None, None),
        ("KORREKTUR: Dax fällt", "Dax fällt", ("correction",), None, None),
        ("Berichtigung: Dax fällt", "Dax fällt", ("correction",), None, None),
        ("AKTIE IM FOKUS: Siemens legt zu", "Siemens legt zu", ("focus",), None, None),
        ("dpa-AFX-Überblick: KONJUNKTUR vom 03.01.2026", "KONJUNKTUR vom 03.01.2026", ("overview",), None, None),  # noqa: E501
        ("Kiew: Treffen der Berater (neu: Zitate, Details)", "Kiew: Treffen der Berater", ("update",), None, "Zitate, Details"),  # noqa: E501
    ],
)  # fmt: skip
def test_headline_prefixes_become_flags(
    headline: str, clean: str, flags: tuple[str, ...], level: int | None, note: str | None
) -> None:
    raw = f"date 2026-01-03\n{headline}\n\nKIEW (dpa-AFX) - Ein Satz mit Inhalt./mau/DP/he"
    story = parse_bytes(raw.encode())
    assert story.headline == clean
    assert story.flags == flags
    assert story.roundup_level == level
    assert story.update_note == note
    assert story.paragraphs == ("Ein Satz mit Inhalt.",)


def test_headline_directly_above_the_dateline() -> None:
    story = parse_bytes(
        b"Dax schliesst fester\nFRANKFURT (dpa-AFX) - Der Dax stieg um ein Prozent."
    )
    assert story.headline == "Dax schliesst fester"
    assert story.lede == "Der Dax stieg um ein Prozent."


def test_plain_text_without_dateline_is_format_plain() -> None:
    story = parse_bytes(b"Ein Titel\n\nErster Absatz mit Text.\n\nZweiter Absatz mit Text.")
    assert story.format == "plain"
    assert story.headline == "Ein Titel"
    assert story.paragraphs == ("Erster Absatz mit Text.", "Zweiter Absatz mit Text.")


def test_isins_only_when_checksum_valid() -> None:
    raw = b"BERLIN (dpa-AFX) - Siemens (ISIN DE0007236101) und DE0007236102 sowie US0378331005."
    assert parse_bytes(raw).isins == ("DE0007236101", "US0378331005")


def _reuters(limit: int) -> list[dict[str, str]]:
    out = []
    with (CORPUS / "en_wire.jsonl").open(encoding="utf-8") as fh:
        for line in itertools.islice(fh, 0, 4000, 10):
            doc = json.loads(line)
            if doc.get("dateline") and len(doc["text"]) > 200 and doc["dateline"].endswith(" -"):
                out.append(doc)
            if len(out) >= limit:
                break
    return out


def test_english_reuters_wire_shape() -> None:
    docs = _reuters(60)
    assert len(docs) == 60
    english = 0
    for doc in docs:
        dateline = doc["dateline"]
        story = parse_bytes(f"{doc['title']}\n\n{dateline} {doc['text']}".encode())
        place = dateline.split(",")[0]
        assert story.format == "dpa_afx", dateline
        assert story.located is not None
        assert story.located.startswith(place)
        first_words = " ".join(doc["text"].split()[:4])
        assert story.lede is not None
        assert story.lede.startswith(first_words)
        assert story.headline == " ".join(doc["title"].split())
        assert "REUTER" not in story.normalized_text.upper().split()[-1:]
        english += story.language == "en"
        # indented lines start paragraphs; wrapped lines are re-joined
        indented = sum(1 for ln in doc["text"].split("\n") if ln.startswith("    "))
        assert len(story.body) >= indented
    assert english >= 57


def test_reuters_dateline_with_agency() -> None:
    story = parse_bytes(
        b"LONDON, Jan 3 (Reuters) - Oil prices rose on Monday.\n    Traders said so."
    )
    assert (story.located, story.dateline_agency, story.agency) == ("LONDON", "Reuters", "Reuters")
    assert story.paragraphs == ("Oil prices rose on Monday.", "Traders said so.")


def test_german_corpus_rendered_as_dpa_afx() -> None:
    with (CORPUS / "de_articles.jsonl").open(encoding="utf-8") as fh:
        docs = [json.loads(line) for line in itertools.islice(fh, 0, 2000, 40)]
    for doc in docs:
        title = doc["title"] or "Ohne Titel"
        raw = f"date 2016-05-04\n{title}\n\nWIEN (dpa-AFX) - {doc['text']}/abc/DP/xy"
        story = parse_bytes(raw.encode())
        assert story.date == dt.date(2016, 5, 4)
        assert story.located == "WIEN"
        assert story.language == "de"
        assert story.signature_codes == ("abc", "DP", "xy")
        assert story.lede is not None
        assert story.lede.startswith(" ".join(doc["text"].split()[:3]))


def test_headline_only_is_missing_body() -> None:
    with pytest.raises(ParseError) as info:
        dpa_afx.parse_text("KIEW (dpa-AFX) - ", dpa_afx.Draft(format="dpa_afx", body=[]))
    assert info.value.reason is Reason.MISSING_BODY


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("BERLIN (dpa-AFX) - Text", True),
        ("LONDON, Jan 3 - Text", True),
        ("SALVADOR, Feb 26 – Text", True),
        ("Berlin - no agency, no date", False),
        ("KIEW (dpa-AFX) Text without a dash", False),
        ("Neue Regeln für Elektroautos", False),
        ("FRANKFURT_(AFX)_Text", False),
    ],
)
def test_match_dateline_prefilter_keeps_the_regex_answer(head: str, expected: bool) -> None:
    assert (dpa_afx.match_dateline(head) is not None) == expected


def test_a_lone_line_before_the_dateline_is_the_headline_even_ending_in_a_comma() -> None:
    """Headlines cut at a comma (the corpus' untitled articles, shortened) still frame the story."""
    with (CORPUS / "de_articles.jsonl").open(encoding="utf-8") as fh:
        docs = [json.loads(line) for line in itertools.islice(fh, 0, 400)]
    cut = [d for d in docs if "," in d["text"][:70]][:5]
    assert cut
    for doc in cut:
        head = doc["text"][: doc["text"].index(",", 0, 70) + 1]
        raw = f"date 2016-05-04\n{head}\n\nWIEN (dpa-AFX) - {doc['text']}/abc/DP/xy"
        story = parse_bytes(raw.encode())
        assert (story.format, story.headline, story.located) == ("dpa_afx", head, "WIEN")
        assert story.lede is not None
        assert story.lede.startswith(doc["text"][:20])
    # a sentence line followed by more text and no dateline is still body, not a headline
    plain = parse_bytes(f"{cut[0]['text'][:60]}.\n\n{cut[0]['text']}".encode())
    assert plain.headline is None


def test_reuters_dateline_with_day_before_month() -> None:
    """Reuters' Amsterdam and Paris desks write "2 March"; a real Reuters-21578 story."""
    row = next(r for r in reuters_rows() if str(r.get("dateline", "")).startswith("AMSTERDAM, 2"))
    raw = f"{row['title']}\n\n{row['dateline']} {row['text']}"
    story = parse_bytes(raw.encode())
    assert (story.format, story.located, story.headline) == ("dpa_afx", "AMSTERDAM", row["title"])
