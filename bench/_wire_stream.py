"""The benchmark input stream: real stories from ../shared/data as raw wire records.

Why this shape: throughput of a dedup pipeline depends on its outcome mix (a
created story writes a changelog entry, a duplicate does not) and on how many
stories the index holds, so the stream must look like a feed, not like one
story copied 100,000 times. Every text is real; only the wrapper a wire
service adds (date header, dateline, signature, WDH/ROUNDUP headline prefix)
is composed, as ../shared/data/README.md allows.

One *round* is a few months of news:

* Reuters-21578 in corpus order (with its real re-sends and updated versions),
  as English wire text ``date YYYY-MM-DD\\nTITLE\\n\\nDATELINE text``;
* the German articles spread over the same timeline as dpa-AFX text
  ``date YYYY-MM-DD\\nHEADLINE\\n\\nPLACE (dpa-AFX) - text.../abc/DP/xy``, where
  one in seven first goes out as a short version followed later by a
  ``ROUNDUP`` with the full text, and one in ten is repeated as ``WDH:``;
* one in twelve stories of either kind re-sent a little later with another
  signature and time (the wrapper varies, the text does not).

Rounds are replicated with the year moved on (1987, 1988, ...), which keeps the
stream a continuing feed: the dedup window (72 h of event time) lets a
story from an earlier round age out instead of making every copy a duplicate.
The data is read at run time and never copied into the repository.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "data" / "corpus"
PLACES = ("FRANKFURT", "BERLIN", "WIEN", "FRANKFURT/NEW YORK", "MÜNCHEN", "HAMBURG", "ZÜRICH")
INITIALS = ("abc", "jha", "mis", "stk", "fba", "men", "he", "xy", "jkr", "bgf")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜ\"„])")


@dataclass(frozen=True, slots=True)
class Item:
    """One story of a round before rendering: kind, text parts and its place in time."""

    kind: str  # "reuters" | "dpa"
    day: dt.date
    headline: str
    place: str
    paras: tuple[str, ...]


def _reuters_day(raw: str) -> dt.date:
    try:
        return dt.datetime.strptime(raw.split()[0], "%d-%b-%Y").date()
    except (ValueError, IndexError):
        return dt.date(1987, 3, 1)


def _german_paras(text: str) -> list[str]:
    parts = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    if len(parts) == 1:
        sents = _SENT.split(text)
        parts = [" ".join(sents[i : i + 3]) for i in range(0, len(sents), 3)]
    return [" ".join(p.split()) for p in parts if p.strip()]


def _rows(name: str) -> list[dict[str, object]]:
    with (CORPUS / name).open("rb") as fh:
        return [orjson.loads(line) for line in fh]


def _render(item: Item, year_shift: int, rng: random.Random, prefix: str = "") -> bytes:
    day = item.day.replace(year=item.day.year + year_shift)
    head = prefix + item.headline
    if item.kind == "reuters":
        body = "\n    ".join(item.paras)
        text = f"date {day.isoformat()}\n{head}\n\n{item.place} {body}"
    else:
        sig = f"/{rng.choice(INITIALS)}/DP/{rng.choice(INITIALS)}"
        body = "\n\n".join(item.paras)
        text = f"date {day.isoformat()}\n{head}\n\n{item.place} (dpa-AFX) - {body}{sig}"
    return text.encode("utf-8")


def _round_items() -> list[tuple[Item, str]]:
    """One round: (item, variant) in stream order; variant is '', 'short', 'roundup', 'wdh'."""
    rng = random.Random(8)
    reuters = [
        Item("reuters", _reuters_day(str(r["date"])), str(r.get("title") or "").strip(),
             str(r.get("dateline") or "").strip(), (str(r["text"]).strip(),))
        for r in _rows("en_wire.jsonl") if r.get("text")
    ]
    german = _rows("de_articles.jsonl")
    stream: list[tuple[Item, str]] = []
    every = max(1, len(reuters) // max(1, len(german)))
    pending: list[tuple[int, Item, str]] = []  # (position due, item, variant)
    g = 0
    for i, rec in enumerate(reuters):
        stream.append((rec, ""))
        if i % every == 0 and g < len(german):
            doc = german[g]
            g += 1
            paras = _german_paras(str(doc["text"]))
            title = str(doc.get("title") or "") or str(doc["text"])[:70].rsplit(" ", 1)[0]
            item = Item("dpa", rec.day, title, PLACES[g % len(PLACES)], tuple(paras))
            if g % 7 == 0 and len(paras) >= 3:
                short = Item("dpa", rec.day, title, item.place, tuple(paras[: len(paras) // 2]))
                stream.append((short, ""))
                pending.append((len(stream) + rng.randint(20, 400), item, "roundup"))
            else:
                stream.append((item, ""))
                if g % 10 == 3:
                    pending.append((len(stream) + rng.randint(5, 200), item, "wdh"))
        if i % 12 == 5:
            pending.append((len(stream) + rng.randint(3, 300), rec, "resend"))
        due = [p for p in pending if p[0] <= len(stream)]
        for p in due:
            pending.remove(p)
            stream.append((p[1], p[2]))
    stream.extend((p[1], p[2]) for p in pending)
    return stream


def records(n: int, *, seed: int = 8) -> list[bytes]:
    """``n`` raw records: rounds of the corpus, the year moved on each round."""
    rng = random.Random(seed)
    one_round = _round_items()
    out: list[bytes] = []
    for year_shift in itertools.count():
        for item, variant in one_round:
            prefix = {"roundup": "ROUNDUP: ", "wdh": "WDH: "}.get(variant, "")
            out.append(_render(item, year_shift, rng, prefix))
            if len(out) >= n:
                return out
    return out  # pragma: no cover - itertools.count never ends


def iter_cycle(values: list[bytes]) -> Iterator[bytes]:
    """Endless stream over ``values`` (the latency bench's paced producer)."""
    return itertools.cycle(values)


if __name__ == "__main__":
    import collections
    import time

    t = time.perf_counter()
    recs = records(100_000)
    took = time.perf_counter() - t
    kinds = collections.Counter(v for _, v in _round_items())
    print(f"{len(recs)} records, {sum(map(len, recs)) / len(recs):.0f} B mean, built in "
          f"{took:.1f}s; one round: {sum(kinds.values())} items {dict(kinds)}")
