"""The demo feed: a few hundred real stories in the formats wirefeed reads, with the hard cases.

What a newcomer should see in ``make demo`` is wirefeed doing its job on real
copy, so the feed is built from the real data beside the checkout
(``../shared``), never copied into the repository:

* **dpa-AFX plain text** rendered from real German articles (10kGNAD, whose
  texts carry an agency-style dateline ``Wien – ...``); only the wrapper is
  composed (``date`` line, headline, ``PLACE (dpa-AFX) -``, signature), as the
  data README allows, plus the one real dpa-AFX story in ``../shared/seeds``;
* **Reuters wire text** from Reuters-21578, including real re-sends: the
  corpus holds groups of byte-identical bodies sent twice under new headlines;
* **the real agency samples** in ``wire_fixtures/`` as they are (NITF,
  NewsML-G2, NewsML 1.2, ninjs, IPTC 7901, ANPA-1312, Ritzau);
* the cases wirefeed exists for: an exact re-send, a ``ROUNDUP`` that adds a
  paragraph (update), a ``KORREKTUR`` with one changed figure (correction), a
  ``WDH`` repeat; and broken records (truncated XML, binary junk, an empty
  record, an XML entity bomb) that must become dead letters, not crashes.

A variant always carries its original's key, so both land on the same
partition and the worker sees them in order (agencies key by story id for the
same reason). Headers ``x-demo-kind``/``x-demo-format``/``x-demo-source`` say
what each record is; the parser ignores them. The build is deterministic for a
``seed`` and a ``day``. Without ``../shared`` the feed falls back to the four
sample stories in ``tests/fixtures/feed`` with the same variants and broken
records, so the demo still shows every outcome.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
FALLBACK_DIR = REPO_ROOT / "tests" / "fixtures" / "feed"

Kind = Literal["story", "resend", "update", "correction", "repeat", "broken"]

# 10kGNAD: "<subheadline>. <Place> – <body>"; the place must look like one or two words
_GNAD = re.compile(
    r"^(?P<sub>.{20,300}?[.!?])\s+"
    r"(?P<place>[A-ZÄÖÜ][a-zäöüß]+(?:[ -][A-ZÄÖÜ][a-zäöüß]+)?)\s+–\s+(?P<body>\S.*)$",
    re.S,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ„\"])")
_FIGURE = re.compile(r"(?<![\d.,])([1-9]\d{0,2})(?![\d.,]\d)(?= (?:Prozent|Millionen|Milliarden|"
                     r"Menschen|Euro|Jahre|Tage|Personen|Staaten|Dollar|Kilometer|Stunden|"
                     r"percent|billion|million|flights|passengers))")
_SAMPLE_HEAD = re.compile(r"^date (?P<day>\S+)\n(?P<headline>[^\n]+)\n\n(?P<place>[^(\n]+?) "
                          r"\(dpa-AFX\) - (?P<body>.*?)(?P<sig>/\w+/DP/\w+)\s*$", re.S)

# billion laughs; the DOCTYPE names a known root so that it reaches a parser, which must
# refuse it before expanding anything
XML_BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE nitf [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    b'<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
    b"<nitf><body><body.content><p>&lol4;</p></body.content></body></nitf>"
)


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """One record of the feed, in the shape ``wirefeed replay`` produces."""

    key: str | None
    value: bytes
    kind: Kind
    format: str
    source: str
    of: str | None = None  # the key of the original a variant refers to

    @property
    def headers(self) -> dict[str, str]:
        out = {"x-demo-kind": self.kind, "x-demo-format": self.format, "x-demo-source": self.source}
        if self.of is not None:
            out["x-demo-of"] = self.of
        return out

    def jsonl(self, timestamp_ms: int | None = None) -> bytes:
        """The record as one line of the ``wirefeed process`` / ``wirefeed replay`` format."""
        obj: dict[str, object] = {"key": self.key, "headers": self.headers}
        try:
            obj["value"] = self.value.decode("utf-8")
        except UnicodeDecodeError:
            obj["value_b64"] = base64.b64encode(self.value).decode()
        if timestamp_ms is not None:
            obj["timestamp"] = timestamp_ms
        return orjson.dumps(obj) + b"\n"


@dataclass(slots=True)
class Feed:
    """The built feed plus where it came from (for the demo's banner)."""

    records: list[FeedRecord]
    origin: str
    notes: list[str] = field(default_factory=list)

    def counts(self, attr: Literal["kind", "format"]) -> Counter[str]:
        return Counter(getattr(r, attr) for r in self.records)

    def write_jsonl(self, path: Path, *, start_ms: int | None = None) -> Path:
        """Write the feed as JSONL; with ``start_ms`` every record gets timestamp start+i s."""
        with path.open("wb") as fh:
            for i, rec in enumerate(self.records):
                fh.write(rec.jsonl(None if start_ms is None else start_ms + i * 1000))
        return path


# --- rendering ---------------------------------------------------------------
def render_dpa(paras: list[str], *, headline: str, place: str, day: dt.date, sig: str) -> bytes:
    """A dpa-AFX plain-text story, the shape of the seed in ``../shared/seeds``."""
    body = "\n\n".join(paras)
    return f"date {day.isoformat()}\n{headline}\n\n{place} (dpa-AFX) - {body}{sig}".encode()


def render_reuters(row: dict[str, object]) -> bytes:
    """Reuters wire text: headline, blank line, ``SALVADOR, Feb 26 -`` dateline and body."""
    return f"{row.get('title') or ''}\n\n{row.get('dateline') or ''} {row['text']}".encode()


def _signature(rng: random.Random) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    editor, desk = "".join(rng.choices(letters, k=3)), "".join(rng.choices(letters, k=2))
    return f"/{editor}/DP/{desk}"


def _headline(sub: str, limit: int = 90) -> str:
    sub = " ".join(sub.split()).rstrip(".!?")
    if len(sub) <= limit:
        return sub
    return sub[:limit].rsplit(" ", 1)[0]


def _paragraphs(body: str, per: int = 2) -> list[str]:
    sentences = [s for s in _SENTENCE.split(" ".join(body.split())) if s]
    return [" ".join(sentences[i:i + per]) for i in range(0, len(sentences), per)]


@dataclass(slots=True)
class _Story:
    """A dpa-AFX story before rendering, so that variants can be derived from it."""

    key: str
    paras: list[str]
    headline: str
    place: str
    source: str
    sig: str = ""
    day: dt.date | None = None  # the story's own date; None: the feed's day


# --- sources -----------------------------------------------------------------
def _german(path: Path, rng: random.Random, n: int) -> list[_Story]:
    stories: list[_Story] = []
    with path.open("rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            m = _GNAD.match(row.get("text") or "")
            if m is None or not 600 < len(m["body"]) < 4000:
                continue
            paras = _paragraphs(m["body"])
            if len(paras) >= 3:
                stories.append(_Story(row["id"], paras, _headline(m["sub"]), m["place"].upper(),
                                      row["id"]))
    return rng.sample(stories, min(n, len(stories)))


def _reuters(path: Path, rng: random.Random, n: int, resends: int) -> list[FeedRecord]:
    """``n`` Reuters stories, ``resends`` of them followed later by their real re-send."""
    rows: list[dict[str, object]] = []
    groups: dict[str, list[int]] = {}
    with path.open("rb") as fh:
        for line in fh:
            row = orjson.loads(line)
            if row.get("text_type") != "NORM" or len(str(row.get("text") or "")) < 400:
                continue
            groups.setdefault(" ".join(str(row["text"]).split()), []).append(len(rows))
            rows.append(row)
    pairs = [g[:2] for g in groups.values() if len(g) > 1]
    singles = [g[0] for g in groups.values() if len(g) == 1]
    chosen_pairs = rng.sample(pairs, min(resends, len(pairs)))
    chosen = rng.sample(singles, max(0, n - len(chosen_pairs)))
    out: list[FeedRecord] = []
    for i in chosen:
        rid = str(rows[i]["id"])
        out.append(FeedRecord(rid, render_reuters(rows[i]), "story", "reuters", rid))
    for first, second in chosen_pairs:
        key = str(rows[first]["id"])
        out.append(FeedRecord(key, render_reuters(rows[first]), "story", "reuters", key))
        out.append(FeedRecord(key, render_reuters(rows[second]), "resend", "reuters",
                              str(rows[second]["id"]), of=key))
    return out


def _fixtures(root: Path) -> list[FeedRecord]:
    out: list[FeedRecord] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(p for p in folder.iterdir() if p.is_file()):
            key = f"{folder.name}/{file.name}"
            out.append(FeedRecord(key, file.read_bytes(), "story", folder.name, key))
    return out


def _seed_story(seeds: Path) -> _Story | None:
    files = sorted(seeds.glob("*.txt"))
    if not files:
        return None
    raw = files[0].read_text(encoding="utf-8")
    body = raw.split("(dpa-AFX) - ", 1)[1].rsplit("/mau/DP/he", 1)[0]
    paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]
    headline = "Kiew: Verhandlungen über Sicherheitsgarantien"
    return _Story(f"dpa-afx/{files[0].stem}", paras, headline, "KIEW", f"seeds/{files[0].name}",
                  "/mau/DP/he")


def _samples(folder: Path) -> tuple[list[_Story], list[FeedRecord]]:
    """The authors' sample stories, and the files among them that re-send an earlier one."""
    stories: list[_Story] = []
    resends: list[FeedRecord] = []
    seen: dict[str, str] = {}
    for file in sorted(folder.glob("*.txt")):
        raw = file.read_bytes()
        m = _SAMPLE_HEAD.match(raw.decode("utf-8"))
        if m is None:
            continue
        if m["body"] in seen:  # sample-04 is an exact re-send of sample-01
            key = seen[m["body"]]
            resends.append(FeedRecord(key, raw, "resend", "dpa_afx", f"fixtures/{file.name}", key))
            continue
        seen[m["body"]] = file.stem
        paras = [" ".join(p.split()) for p in re.split(r"\n\s*\n", m["body"]) if p.strip()]
        stories.append(_Story(file.stem, paras, m["headline"], m["place"], f"fixtures/{file.name}",
                              m["sig"], dt.date.fromisoformat(m["day"])))
    return stories, resends


# --- variants ----------------------------------------------------------------
def _changed_figure(paras: list[str]) -> list[str] | None:
    for i, para in enumerate(paras):
        m = _FIGURE.search(para)
        if m is not None:
            new = str(int(m[1]) + 2)
            return [*paras[:i], para[:m.start()] + new + para[m.end():], *paras[i + 1:]]
    return None


def _variants(stories: list[_Story], rng: random.Random, day: dt.date, extra_para: str | None,
              kinds: tuple[Kind, ...] = ("update", "correction", "repeat", "resend"),
              ) -> tuple[list[FeedRecord], list[FeedRecord]]:
    """The originals, and one variant of each of ``kinds``, on the first story that fits.

    The update is a ``ROUNDUP`` re-send with one more paragraph (the story's
    real last paragraph, held back from the original, or ``extra_para``); the
    correction is a ``KORREKTUR`` with one figure changed; the repeat a ``WDH``
    with another editor's signature; the resend the same bytes again. Each
    kind prefers a story no other kind used, so the links stay easy to follow.
    """
    sigs = {s.key: s.sig or _signature(rng) for s in stories}
    held_back: set[str] = set()  # update stories whose original lacks the last paragraph

    def paras(s: _Story) -> list[str]:
        return s.paras[:-1] if s.key in held_back else s.paras

    def rec(s: _Story, body: list[str], kind: Kind, headline: str, sig: str) -> FeedRecord:
        value = render_dpa(body, headline=headline, place=s.place, day=s.day or day, sig=sig)
        return FeedRecord(s.key, value, kind, "dpa_afx", s.source,
                          None if kind == "story" else s.key)

    def fits(kind: Kind, s: _Story) -> bool:
        if kind == "update":
            return extra_para is not None or len(s.paras) >= 3
        if kind == "correction":
            return _changed_figure(s.paras) is not None and s.key not in held_back
        return True

    chosen: list[tuple[Kind, _Story]] = []
    used: set[str] = set()
    for kind in kinds:
        fitting = [s for s in stories if fits(kind, s)]
        pick = next((s for s in fitting if s.key not in used), fitting[0] if fitting else None)
        if pick is None:
            continue
        used.add(pick.key)
        chosen.append((kind, pick))
        if kind == "update" and extra_para is None:
            held_back.add(pick.key)

    originals = [rec(s, paras(s), "story", s.headline, sigs[s.key]) for s in stories]
    by_key = {r.key: r for r in originals}
    variants: list[FeedRecord] = []
    for kind, s in chosen:
        sig = sigs[s.key]
        if kind == "update":
            grown = [*s.paras, extra_para] if extra_para is not None else s.paras
            variants.append(rec(s, grown, kind, f"ROUNDUP/{s.headline}", sig))
        elif kind == "correction":
            fixed = _changed_figure(s.paras)
            assert fixed is not None
            variants.append(rec(s, fixed, kind, f"KORREKTUR/{s.headline}", sig))
        elif kind == "repeat":
            variants.append(rec(s, s.paras, kind, f"WDH/{s.headline}", _signature(rng)))
        else:
            original = by_key[s.key]
            variants.append(FeedRecord(s.key, original.value, "resend", "dpa_afx", s.source,
                                       s.key))
    return originals, variants


def _broken(rng: random.Random, xml_sample: bytes) -> list[FeedRecord]:
    return [
        FeedRecord("broken/truncated.xml", xml_sample[: len(xml_sample) // 2], "broken",
                   "truncated_xml", "broken"),
        FeedRecord("broken/junk.bin", rng.randbytes(512), "broken", "binary_junk", "broken"),
        FeedRecord("broken/empty", b"", "broken", "empty", "broken"),
        FeedRecord("broken/bomb.xml", XML_BOMB, "broken", "xml_bomb", "broken"),
    ]


def _interleave(originals: list[FeedRecord], later: list[FeedRecord],
                rng: random.Random) -> list[FeedRecord]:
    """Shuffle the originals; put every variant somewhere after its original."""
    out = list(originals)
    rng.shuffle(out)
    for rec in later:
        after = 0
        if rec.of is not None:
            after = max(i for i, r in enumerate(out) if r.key == rec.of) + 1
        out.insert(rng.randint(after, len(out)), rec)
    return out


_FALLBACK_EXTRA = ("The group also said it would publish its annual report in March, two weeks "
                   "earlier than planned.")
_XML_FALLBACK = (b'<?xml version="1.0" encoding="UTF-8"?>\n<nitf><head><title>Sample</title>'
                 b"</head><body><body.head><hedline><hl1>Sample headline</hl1></hedline>"
                 b"</body.head><body.content><p>Sample paragraph one.</p></body.content></body>"
                 b"</nitf>\n")


def build_feed(shared: Path | None = SHARED, *, seed: int = 7, german: int = 110,
               english: int = 110, resends: int = 8, day: dt.date | None = None) -> Feed:
    """The demo feed; deterministic for ``seed`` and ``day`` (default: today, UTC).

    ``day`` dates the dpa-AFX stories: their event time must be recent, or the
    worker's 72 h dedup window would evict an original before its re-send.
    """
    rng = random.Random(seed)
    day = day or dt.datetime.now(dt.UTC).date()
    data = shared / "data" if shared is not None else None
    if data is None or not (data / "corpus").is_dir():
        stories, copies = _samples(FALLBACK_DIR)
        originals, variants = _variants(stories, rng, day, _FALLBACK_EXTRA,
                                        ("update", "correction", "repeat"))
        records = _interleave(originals, [*variants, *copies], rng)
        records += _broken(rng, _XML_FALLBACK)
        return Feed(records, str(FALLBACK_DIR),
                    [f"{FALLBACK_DIR} (../shared not found beside the checkout)"])
    assert shared is not None
    stories = _german(data / "corpus" / "de_articles.jsonl", rng, german)
    seed_story = _seed_story(shared / "seeds")
    if seed_story is not None:
        stories.insert(0, seed_story)
    originals, variants = _variants(stories, rng, day, None)
    reuters = _reuters(data / "corpus" / "en_wire.jsonl", rng, english, resends)
    fixtures = _fixtures(data / "wire_fixtures")
    later = [*variants, *(r for r in reuters if r.kind == "resend")]
    base = [*originals, *(r for r in reuters if r.kind == "story"), *fixtures]
    records = _interleave(base, later, rng)
    nitf = next((r.value for r in fixtures if r.format == "nitf"), _XML_FALLBACK)
    # broken records spread through the feed, not bunched at the end
    for rec in _broken(rng, nitf):
        records.insert(rng.randint(0, len(records)), rec)
    return Feed(records, str(shared / "data"))


def iter_jsonl(records: Iterable[FeedRecord]) -> Iterator[bytes]:
    """JSONL lines of ``records`` (no timestamps: the producer stamps them)."""
    for rec in records:
        yield rec.jsonl()
