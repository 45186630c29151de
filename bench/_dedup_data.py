"""Real articles for the dedup benches (read from ../shared, never copied into the repo)."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson

from consumer.model import Block, Story

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "data" / "corpus"
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ\"„])")


def reuters() -> list[dict[str, str]]:
    rows = [orjson.loads(line) for line in (CORPUS / "en_wire.jsonl").open("rb")]
    return [r for r in rows if r.get("text_type") == "NORM" and len(r["text"]) >= 200]


def german() -> list[dict[str, str]]:
    rows = [orjson.loads(line) for line in (CORPUS / "de_articles.jsonl").open("rb")]
    return [r for r in rows if len(r["text"]) >= 200]


def paragraphs(row: dict[str, str]) -> list[str]:
    """Reuters marks paragraphs by an indent; the German texts by blank lines or not at all."""
    text = row["text"]
    if row.get("source") == "Reuters":
        parts = re.split(r"\n\s{2,}", text)
    else:
        parts = re.split(r"\n\s*\n", text)
        if len(parts) == 1:
            sents = _SENT.split(text)
            parts = [" ".join(sents[i : i + 3]) for i in range(0, len(sents), 3)]
    return [" ".join(p.split()) for p in parts if p.strip()]


def reuters_date(row: dict[str, str]) -> dt.datetime:
    raw = row["date"].split(".")[0].strip()
    try:
        when = dt.datetime.strptime(raw, "%d-%b-%Y %H:%M:%S")
    except ValueError:  # a few real headers are garbled ("605:12:19"): keep the day
        when = dt.datetime.strptime(raw.split()[0], "%d-%b-%Y")
    return when.replace(tzinfo=dt.UTC)


def story(
    paras: Sequence[str],
    *,
    flags: tuple[str, ...] = (),
    when: dt.datetime | None = None,
    agency_id: str | None = None,
    version: int | None = None,
    signature: str | None = None,
    headline: str | None = None,
) -> Story:
    """A Story as the parser would make it from a dpa-AFX rendering of ``paras``.

    normalized_text follows consumer.enrich: blocks whitespace-collapsed, joined, case-folded.
    """
    body = tuple(Block("paragraph", p) for p in paras)
    text = " ".join(" ".join(p.split()) for p in paras).casefold()
    return Story(
        format="dpa_afx",
        body=body,
        normalized_text=text,
        agency="dpa-AFX",
        agency_id=agency_id,
        version=version,
        datetime=when,
        headline=headline,
        flags=flags,
        roundup_level=1 if "roundup" in flags else None,
        signature=signature,
        word_count=len(text.split()),
    )


def render_dpa_afx(headline: str, place: str, paras: Sequence[str], day: dt.date, sig: str) -> str:
    """The dpa-AFX text shape around real text: only the wrapper is composed."""
    body = "\n\n".join(paras)
    return f"date {day.isoformat()}\n{headline}\n\n{place} (dpa-AFX) - {body}/{sig}"


def chunks(seq: Sequence[str], n: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def update_pair(row: dict[str, str], paras: list[str], rng: random.Random, t0: dt.datetime,
                t1: dt.datetime) -> tuple[Story, Story, int]:
    """A real article's first version (its first half to three quarters) and its update with
    the whole text: a ROUNDUP, or the same agency id with a higher version, by coin toss;
    and how many paragraphs the first version kept."""
    keep = max(1, round(len(paras) * rng.uniform(0.5, 0.75)))
    if rng.random() < 0.5:
        return story(paras[:keep], when=t0), story(paras, when=t1, flags=("roundup",)), keep
    aid = f"dpa-afx:{row['id']}"
    return (story(paras[:keep], when=t0, agency_id=aid, version=1),
            story(paras, when=t1, agency_id=aid, version=2), keep)
