"""Dedup quality on real text: precision/recall per decision, false duplicates on distinct articles.

Run: ``.venv/bin/python bench/bench_dedup_quality.py`` (about a minute on 2 cores).

Two streams, both through :class:`consumer.pipeline.Pipeline` (the parser is
bypassed: stories are built as the parser builds them from a dpa-AFX rendering):

A. labelled cases made from real articles (Reuters-21578 + German articles):
   each base article is followed, later in the stream, by one variant: an exact
   re-send (other signature, time, line wrapping), a near re-send (a typo fixed,
   punctuation, a re-wrapped paragraph), a WDH repeat, an update adding
   paragraphs (ROUNDUP flag, or the same agency id with a higher version), a
   flagged correction of one figure or name, and unflagged "same boilerplate,
   other figure/name" variants that must stay new stories. Every other article
   (not part of a natural duplicate structure) is streamed once as a distinct story.
B. the natural Reuters stream in date order: real exact re-send groups
   (expected ``exact``), real near pairs (J3 >= 0.8, decision distribution
   reported), real recurring reports with other figures (J3 >= 0.5, numbers
   differ, >= 20 h apart: must not be duplicates), and distinct stories.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _dedup_data as data

from consumer.model import RawRecord, Story
from consumer.pipeline import Pipeline

NUM = re.compile(r"\d+(?:[.,]\d+)?")
WORD = re.compile(r"\w+")
NAME = re.compile(r"(?<=[a-zäöü,] )[A-ZÄÖÜ][a-zäöüß]{3,}")
DEBUG = False
BASE_DAY = dt.datetime(2026, 1, 3, 8, 0, tzinfo=dt.UTC)


def shingle_set(text: str) -> set[int]:
    w = WORD.findall(text.casefold())
    return {hash((w[i], w[i + 1], w[i + 2])) for i in range(len(w) - 2)}


def related_pairs(texts: list[str], min_j: float) -> dict[tuple[int, int], float]:
    """Exact word-3-shingle Jaccard >= min_j, via an inverted index (independent of MinHash)."""
    sets = [shingle_set(t) for t in texts]
    post: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for h in s:
            post[h].append(i)
    out: dict[tuple[int, int], float] = {}
    for i, s in enumerate(sets):
        shared: Counter[int] = Counter()
        for h in s:
            p = post[h]
            if len(p) <= 200:
                shared.update(j for j in p if j > i)
        for j, n in shared.items():
            if n >= 2:
                jac = len(s & sets[j]) / len(s | sets[j])
                if jac >= min_j:
                    out[(i, j)] = jac
    return out


def typo(text: str, rng: random.Random) -> str:
    words = [m for m in WORD.finditer(text) if len(m.group()) >= 6 and m.group().isalpha()]
    if not words:
        return text
    for _ in range(20):
        m = rng.choice(words)
        w = m.group()
        k = rng.randrange(1, len(w) - 2)
        bad = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
        if bad != w:
            return text[: m.start()] + bad + text[m.end() :]
    return text


def punct(text: str, rng: random.Random) -> str:
    commas = [m.start() for m in re.finditer(r",(?= [a-zäöü])", text)]
    if commas:
        i = rng.choice(commas)
        return text[:i] + (" -" if rng.random() < 0.5 else "") + text[i + 1 :]
    return text.replace(" - ", ", ", 1) if " - " in text else text + " "


def rewrap(paras: list[str], rng: random.Random) -> list[str]:
    if len(paras) >= 2 and rng.random() < 0.5:
        i = rng.randrange(len(paras) - 1)
        return [*paras[:i], paras[i] + " " + paras[i + 1], *paras[i + 2 :]]
    i = rng.randrange(len(paras))
    words = paras[i].split()
    if len(words) < 8:
        return paras
    cut = len(words) // 2
    return [*paras[:i], " ".join(words[:cut]), " ".join(words[cut:]), *paras[i + 1 :]]


def change_figure(paras: list[str], rng: random.Random) -> list[str] | None:
    spots = [(pi, m) for pi, p in enumerate(paras) for m in NUM.finditer(p)]
    if not spots:
        return None
    pi, m = rng.choice(spots)
    old = m.group()
    new = str(int(re.sub(r"\D", "", old) or "0") + rng.randrange(1, 9))
    p = paras[pi]
    return [*paras[:pi], p[: m.start()] + new + p[m.end() :], *paras[pi + 1 :]]


def change_name(paras: list[str], rng: random.Random, pool: list[str]) -> list[str] | None:
    spots = [(pi, m) for pi, p in enumerate(paras) for m in NAME.finditer(p)]
    if not spots:
        return None
    pi, m = rng.choice(spots)
    new = rng.choice([n for n in pool if n.casefold() != m.group().casefold()])
    p = paras[pi]
    return [*paras[:pi], p[: m.start()] + new + p[m.end() :], *paras[pi + 1 :]]


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def stream_a(rows: list[dict[str, str]], rng: random.Random) -> None:
    kinds = ["exact", "near", "repeat", "update", "correction", "figure", "name"]
    names = [m.group() for r in rows[:3000] for m in NAME.finditer(r["text"])]
    multi = [r for r in rows if len(data.paragraphs(r)) >= 3]
    rng.shuffle(multi)
    bases = multi[: 300 * len(kinds)]
    base_ids = {r["id"] for r in bases}
    distinct = [r for r in rows if r["id"] not in base_ids]
    # (label, first story, variant story) per case
    cases: list[tuple[str, Story, Story]] = []
    for n, row in enumerate(bases):
        kind = kinds[n % len(kinds)]
        paras = data.paragraphs(row)
        t0 = BASE_DAY + dt.timedelta(minutes=n % 600)
        t1 = t0 + dt.timedelta(minutes=30)
        first = data.story(paras, when=t0, signature="/mau/DP/he")
        if kind == "exact":
            v = [" \n ".join(p.split(" ", 1)) if " " in p else p for p in paras]
            var = data.story(v, when=t1, signature="/xyz/DP/ab", headline="OTHER HEADLINE")
        elif kind == "near":
            i = max(range(len(paras)), key=lambda k: len(paras[k]))
            with_typo = [*paras[:i], typo(paras[i], rng), *paras[i + 1 :]]
            if with_typo == paras:
                continue
            first = data.story(with_typo, when=t0)
            edited = list(paras)
            if rng.random() < 0.5:
                j = rng.randrange(len(edited))
                edited[j] = punct(edited[j], rng)
            if rng.random() < 0.5:
                edited = rewrap(edited, rng)
            var = data.story(edited, when=t1, signature="/abc/DP/xy")
        elif kind == "repeat":
            edited = list(paras)
            if rng.random() < 0.5:
                j = rng.randrange(len(edited))
                edited[j] = typo(edited[j], rng)
            var = data.story(edited, when=t1, flags=("repeat",))
        elif kind == "update":
            keep = max(1, round(len(paras) * rng.uniform(0.5, 0.75)))
            if rng.random() < 0.5:
                first = data.story(paras[:keep], when=t0)
                var = data.story(paras, when=t1, flags=("roundup",))
            else:
                aid = f"dpa-afx:{row['id']}"
                first = data.story(paras[:keep], when=t0, agency_id=aid, version=1)
                var = data.story(paras, when=t1, agency_id=aid, version=2)
        elif kind == "correction":
            changed = change_figure(paras, rng) if rng.random() < 0.5 else None
            changed = changed or change_name(paras, rng, names) or change_figure(paras, rng)
            if changed is None:
                continue
            var = data.story(changed, when=t1, flags=("correction",))
        elif kind == "figure":
            changed = change_figure(paras, rng)
            if changed is None:
                continue
            var = data.story(changed, when=t1)
        else:
            changed = change_name(paras, rng, names)
            if changed is None:
                continue
            var = data.story(changed, when=t1)
        cases.append((kind, first, var))

    expected = {
        "exact": ("story.duplicate", "exact"),
        "near": ("story.duplicate", "near"),
        "repeat": ("story.duplicate", "repeat"),
        "update": ("story.updated", None),
        "correction": ("story.corrected", None),
        "figure": ("story.created", None),
        "name": ("story.created", None),
    }
    # stream: all bases first (shuffled with distinct articles), then the variants
    items: list[tuple[str, Story, int]] = []  # (role, story, case index or -1)
    for ci, (_, first, _) in enumerate(cases):
        items.append(("base", first, ci))
    for k, row in enumerate(distinct):
        when = BASE_DAY + dt.timedelta(minutes=k % 600)
        items.append(("distinct", data.story(data.paragraphs(row), when=when), -1))
    rng.shuffle(items)
    items += [("variant", var, ci) for ci, (_, _, var) in enumerate(cases)]
    pipe = Pipeline(window_ms=72 * 3_600_000)
    base_event: dict[int, str] = {}
    got: list[tuple[str, str | None, bool]] = [("", None, False)] * len(cases)
    false_dup = 0
    n_distinct = 0
    started = time.perf_counter()
    for off, (role, st, ci) in enumerate(items):
        out = pipe.process_story(st, RawRecord(value=None, offset=off))
        pipe.commit(out)
        ev = out.event
        if role == "base":
            base_event[ci] = ev["event_id"]
            if ev["event_type"] != "story.created":
                false_dup += ev["event_type"] == "story.duplicate"
        elif role == "distinct":
            n_distinct += 1
            false_dup += ev["event_type"] == "story.duplicate"
            if ev["event_type"] == "story.duplicate" and DEBUG:
                print("FD", ev["reason"], ev["similarity"], st.normalized_text[:150])
        else:
            link = ev.get("duplicate_of") or ev.get("supersedes")
            linked = link == base_event[ci] and (
                ev["event_type"] == "story.created" or ev["story_id"] == base_event[ci]
            )
            got[ci] = (ev["event_type"], ev.get("reason"), linked)
            if DEBUG and cases[ci][0] == "near" and ev["event_type"] == "story.created":
                from consumer.dedup.fingerprint import features
                base = cases[ci][1]
                fb = features(base.normalized_text, " ".join(base.paragraphs))
                fv = features(st.normalized_text, " ".join(st.paragraphs))
                en = set(fv.facts.tolist()) - set(fb.facts.tolist())
                eo = set(fb.facts.tolist()) - set(fv.facts.tolist())
                print("NEARMISS", ev.get("similarity"), [fv.entity_words.get(h) for h in en],
                      [fb.entity_words.get(h) for h in eo])
    secs = time.perf_counter() - started
    labels = [
        ("exact", ("story.duplicate", "exact")),
        ("near", ("story.duplicate", "near")),
        ("repeat", ("story.duplicate", "repeat")),
        ("updated", ("story.updated", None)),
        ("corrected", ("story.corrected", None)),
    ]
    print(f"A. labelled variants of real articles: {len(cases)} cases, {n_distinct} distinct, "
          f"{len(items)} records in {secs:.1f}s")
    print(f"   {'decision':<10}{'cases':>7}{'precision':>11}{'recall':>9}{'F1':>7}   (linked)")
    for name, want in labels:
        tp = fp = fn = 0
        for ci, (kind, _, _) in enumerate(cases):
            exp = expected[kind]
            etype, reason, linked = got[ci]
            pred = (etype, reason if etype == "story.duplicate" else None)
            ok = pred == want and (linked or want[0] == "story.created")
            if exp == want:
                tp += ok
                fn += not ok
            elif pred == want:
                fp += 1
        n = sum(1 for k, _, _ in cases if expected[k] == want)
        p, r, f = prf(tp, fp, fn)
        print(f"   {name:<10}{n:>7}{p:>11.4f}{r:>9.4f}{f:>7.4f}")
    for kind in ("figure", "name"):
        ks = [ci for ci, (k, _, _) in enumerate(cases) if k == kind]
        bad = Counter(got[ci][0] for ci in ks if got[ci][0] != "story.created")
        print(f"   unflagged other {kind}: {len(ks)} cases, kept as new story "
              f"{len(ks) - sum(bad.values())}/{len(ks)}; otherwise {dict(bad)}")
    confusion = Counter((k, got[ci][0], got[ci][1]) for ci, (k, _, _) in enumerate(cases)
                        if (got[ci][0], got[ci][1] if got[ci][0] == "story.duplicate" else None)
                        != expected[k])
    if confusion:
        print("   misses:", dict(confusion.most_common(8)))
    total = n_distinct + len(cases)
    print(f"   false duplicates on distinct real articles: {false_dup}/{total} "
          f"= {100 * false_dup / total:.3f} %")


def stream_b(rows: list[dict[str, str]]) -> None:
    rows = sorted((r for r in rows if r.get("source") == "Reuters"), key=data.reuters_date)
    norm = [" ".join(" ".join(p.split()) for p in data.paragraphs(r)).casefold() for r in rows]
    first_of: dict[str, int] = {}
    exact_of: dict[int, int] = {}
    for i, t in enumerate(norm):
        if t in first_of:
            exact_of[i] = first_of[t]
        else:
            first_of[t] = i
    pairs = related_pairs(norm, 0.3)
    touched = {i for p in pairs for i in p} | set(exact_of) | set(exact_of.values())
    near = {(i, j) for (i, j), jac in pairs.items() if jac >= 0.8 and norm[i] != norm[j]}
    recurring = set()
    for (i, j), jac in pairs.items():
        far = (data.reuters_date(rows[j]) - data.reuters_date(rows[i])) >= dt.timedelta(hours=20)
        if jac >= 0.5 and far and sorted(NUM.findall(norm[i])) != sorted(NUM.findall(norm[j])):
            recurring.add(j)
    pipe = Pipeline(window_ms=10 * 365 * 24 * 3_600_000, max_entries=10_000_000)
    events = []
    for off, (r, _t) in enumerate(zip(rows, norm, strict=True)):
        st = data.story(data.paragraphs(r), when=data.reuters_date(r))
        out = pipe.process_story(st, RawRecord(value=None, offset=off))
        pipe.commit(out)
        events.append(out.event)
    tp = sum(1 for i, j in exact_of.items()
             if events[i]["reason"] == "exact" and events[i]["story_id"] == events[j]["story_id"])
    fp = sum(1 for i, e in enumerate(events) if e["reason"] == "exact" and i not in exact_of)
    p, r, _ = prf(tp, fp, len(exact_of) - tp)
    print(f"B. natural Reuters stream: {len(rows)} stories in date order")
    print(f"   real exact re-sends: {len(exact_of)} (in {len(set(exact_of.values()))} groups): "
          f"precision {p:.4f} recall {r:.4f}")
    dist = Counter((events[j]["event_type"], events[j]["reason"]) for i, j in near)
    print(f"   real near pairs (J3 >= 0.8, not exact): {len(near)}; later one -> {dict(dist)}")
    rec_dup = sum(1 for j in recurring if events[j]["event_type"] == "story.duplicate")
    print(f"   recurring reports with other figures >= 20 h apart: {len(recurring)}; "
          f"called duplicate: {rec_dup}")
    distinct = [i for i in range(len(rows)) if i not in touched]
    fd = sum(1 for i in distinct if events[i]["event_type"] != "story.created")
    print(f"   distinct stories (no pair with J3 >= 0.3): {len(distinct)}; "
          f"not created: {fd} = {100 * fd / len(distinct):.3f} %")


def main() -> None:
    rng = random.Random(20260103)
    en = data.reuters()
    de = data.german()
    # stream A must not contain natural duplicates or near pairs: drop the later
    # member of every pair with exact word-3-shingle Jaccard >= 0.5
    pool = en + de
    norm = [" ".join(data.paragraphs(r)).casefold() for r in pool]
    drop = {j for (_, j) in related_pairs(norm, 0.5)}
    seen: set[str] = set()
    rows = []
    for k, r in enumerate(pool):
        if k not in drop and norm[k] not in seen:
            seen.add(norm[k])
            rows.append(r)
    print(f"pool: {len(pool)} real articles, {len(rows)} after dropping natural near pairs")
    stream_a(rows, rng)
    stream_b(en)


if __name__ == "__main__":
    main()
