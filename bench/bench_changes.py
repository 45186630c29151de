"""What-changed quality and cost: the ``changes`` object on labelled real-text streams.

Run: ``.venv/bin/python bench/bench_changes.py [--quick]`` (about a minute on 2 cores).

1. Quality. Labelled cases built from real articles (Reuters-21578 + German
   articles, ``bench/_dedup_data.py``), streamed through
   :class:`consumer.pipeline.Pipeline` (parser bypassed, as in
   ``bench_dedup_quality.py``): each base article is followed later by one
   variant:

   * a flagged correction where one figure changes *in its own notation* (one
     digit of a number, a day of a date): is exactly that figure named, old
     and new, and nothing else as a figure;
   * an update (ROUNDUP, or the agency id with a higher version) that adds the
     article's last paragraphs: are exactly those paragraphs listed as added,
     at their positions, and none removed or changed;
   * an exact re-send (whitespace and line breaks moved, another signature):
     the diff of the two versions must invent nothing (no paragraph, figure or
     name; ``material`` false). An exact re-send carries no ``changes`` on its
     event, so this asks :func:`consumer.diff.changes_between` directly;
   * a re-send with a typo fixed: a near duplicate, ``material`` must be false.

   Goal: >= 0.98 for the first two, 0 invented changes on exact re-sends.

2. Cost. A diff is computed only for new versions and near duplicates, but
   every stored version keeps its compressed snapshot; both are timed on the
   same stream and set against the pipeline's own time a record (parse
   excluded), measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _dedup_data as data

from consumer.diff import changes_between, snapshot
from consumer.model import RawRecord, Story
from consumer.pipeline import Outcome, Pipeline

DAY = dt.datetime(2026, 1, 3, 8, 0, tzinfo=dt.UTC)
# a number as a correction edits it: digits with their grouping and decimal marks
FIGURE = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w])")
WORDS = re.compile(r"\S+")


def one_figure(paras: list[str], rng: random.Random) -> tuple[list[str], str, str] | None:
    """``paras`` with one digit of one number changed: (paragraphs, old number, new)."""
    spots = [(pi, m) for pi, p in enumerate(paras) for m in FIGURE.finditer(p)]
    if not spots:
        return None
    pi, m = rng.choice(spots)
    old = m.group()
    digits = [k for k, c in enumerate(old) if c.isdigit()]
    k = rng.choice(digits)
    d = int(old[k])
    new_digit = str((d + rng.randrange(1, 9)) % 10)
    if k == 0 and new_digit == "0":
        new_digit = str(d % 9 + 1)  # no leading zero: it reads as another notation
    new = old[:k] + new_digit + old[k + 1 :]
    p = paras[pi]
    return [*paras[:pi], p[: m.start()] + new + p[m.end() :], *paras[pi + 1 :]], old, new


def rewrap(paras: list[str]) -> list[str]:
    """Same words, other line breaks: what a re-send through another system does."""
    out = []
    for p in paras:
        words = WORDS.findall(p)
        out.append("\n".join(" ".join(words[i : i + 9]) for i in range(0, len(words), 9)))
    return out


def typo_fix(paras: list[str], rng: random.Random) -> tuple[list[str], list[str]] | None:
    """(version with a typo, the fixed version): two letters of a long word swapped."""
    spots = [(pi, m) for pi, p in enumerate(paras) for m in re.finditer(r"[^\W\d_]{7,}", p)]
    if not spots:
        return None
    pi, m = rng.choice(spots)
    w = m.group()
    k = rng.randrange(1, len(w) - 2)
    bad = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
    if bad == w:
        return None
    p = paras[pi]
    return [*paras[:pi], p[: m.start()] + bad + p[m.end() :], *paras[pi + 1 :]], paras


def figure_exact(changes: dict[str, Any], old: str, new: str) -> bool:
    """Exactly one figure named, and it is the edited number (with its unit words, if any)."""
    figs = changes.get("figures", [])
    if len(figs) != 1 or figs[0]["old"] is None or figs[0]["new"] is None:
        return False
    o, n = figs[0]["old"], figs[0]["new"]
    return old in o and o.replace(old, new, 1) == n


def added_exact(changes: dict[str, Any], paras: list[str], keep: int) -> bool:
    p = changes.get("paragraphs", {})
    want = [{"at": j, "text": paras[j]} for j in range(keep, len(paras))]
    return p.get("added") == want and not p.get("removed") and not p.get("changed")


def invented(changes: dict[str, Any]) -> bool:
    p = changes.get("paragraphs", {})
    return bool(
        p.get("added") or p.get("removed") or p.get("changed") or changes.get("figures")
        or changes["names"]["added"] or changes["names"]["removed"] or changes["material"]
    )


def quality(rows: list[dict[str, str]], per_kind: int, rng: random.Random) -> None:
    multi = [r for r in rows if len(data.paragraphs(r)) >= 3]
    rng.shuffle(multi)
    kinds = ("correction", "update", "exact", "typo")
    cases: list[tuple[str, Story, Story, Any]] = []
    for n, row in enumerate(multi[: per_kind * len(kinds)]):
        kind = kinds[n % len(kinds)]
        paras = data.paragraphs(row)
        t0 = DAY + dt.timedelta(minutes=n % 600)
        t1 = t0 + dt.timedelta(minutes=30)
        first = data.story(paras, when=t0, signature="/mau/DP/he")
        if kind == "correction":
            edit = one_figure(paras, rng)
            if edit is None:
                continue
            changed, old, new = edit
            cases.append((kind, first, data.story(changed, when=t1, flags=("correction",)),
                          (old, new)))
        elif kind == "update":
            first, var, keep = data.update_pair(row, paras, rng, t0, t1)
            cases.append((kind, first, var, (paras, keep)))
        elif kind == "exact":
            var = data.story(rewrap(paras), when=t1, signature="/xyz/DP/ab")
            cases.append((kind, first, var, None))
        else:
            pair = typo_fix(paras, rng)
            if pair is None:
                continue
            with_typo, fixed = pair
            cases.append((kind, data.story(with_typo, when=t0),
                          data.story(fixed, when=t1, signature="/abc/DP/xy"), None))

    pipe = Pipeline(window_ms=72 * 3_600_000)
    off = 0
    for _, first, _, _ in cases:
        pipe.commit(pipe.process_story(first, RawRecord(value=None, offset=off)))
        off += 1
    tally: dict[str, list[int]] = {k: [0, 0, 0] for k in kinds}  # cases, decided, exact
    misses: list[str] = []
    for kind, first, var, truth in cases:
        out = pipe.process_story(var, RawRecord(value=None, offset=off))
        pipe.commit(out)
        off += 1
        ev = out.event
        t = tally[kind]
        t[0] += 1
        if kind == "correction":
            if ev["event_type"] == "story.corrected":
                t[1] += 1
                ok = figure_exact(ev["changes"], *truth)
                t[2] += ok
                if not ok and len(misses) < 6:
                    misses.append(f"figure {truth} -> {ev['changes']['figures']}")
        elif kind == "update":
            if ev["event_type"] == "story.updated":
                t[1] += 1
                ok = added_exact(ev["changes"], *truth)
                t[2] += ok
                if not ok and len(misses) < 6:
                    p = ev["changes"]["paragraphs"]
                    misses.append(f"update keep={truth[1]} of {len(truth[0])}: "
                                  f"+{[a['at'] for a in p['added']]} "
                                  f"-{[a['at'] for a in p['removed']]} "
                                  f"~{[a['at'] for a in p['changed']]}")
        elif kind == "exact":
            t[1] += ev["event_type"] == "story.duplicate"
            t[2] += not invented(changes_between(snapshot(first), var))
        else:
            if ev["event_type"] == "story.duplicate" and ev["reason"] == "near":
                t[1] += 1
                t[2] += ev["changes"]["material"] is False
    print(f"1. quality: {len(cases)} labelled cases from real articles")
    print(f"   {'case':<12}{'cases':>7}{'decided':>9}{'exact':>7}{'of decided':>12}{'of all':>8}")
    what = {"correction": "figure named exactly (old and new)",
            "update": "added paragraphs listed exactly",
            "exact": "nothing invented (diff of the two versions)",
            "typo": "near duplicate with material false"}
    for k in kinds:
        n, d, e = tally[k]
        # an exact re-send's diff is asked directly, whatever the decision: no "of decided"
        of_decided = "-" if k == "exact" else f"{e / max(1, d):.4f}"
        print(f"   {k:<12}{n:>7}{d:>9}{e:>7}{of_decided:>12}{e / max(1, n):>8.4f}   {what[k]}")
    inv = tally["exact"][0] - tally["exact"][2]
    print(f"   invented changes on exact re-sends: {inv}")
    for m in misses:
        print("   miss:", m)


def split(process: Callable[[Pipeline, int], Outcome], n: int) -> tuple[float, float, float, int]:
    """Thread CPU seconds of ``n`` records through a fresh pipeline (``process(pipe, off)``
    then commit), and of the snapshot and diff parts of that work repeated alone: the median
    of three runs by pipeline time, and how many records had a diff."""
    runs = []
    for _ in range(3):
        pipe = Pipeline(window_ms=72 * 3_600_000)
        outs = []
        t = time.thread_time()
        for off in range(n):
            out = process(pipe, off)
            pipe.commit(out)
            outs.append(out)
        total = time.thread_time() - t
        stored = [o.story for o in outs if o.entry is not None and o.story is not None]
        versions = [(o.decision.matched, o.story) for o in outs
                    if o.decision is not None and o.decision.matched is not None
                    and o.story is not None
                    and (o.event_type != "story.duplicate" or o.decision.reason == "near")]
        t = time.thread_time()
        for st in stored:
            snapshot(st)
        snap = time.thread_time() - t
        t = time.thread_time()
        for matched, st in versions:
            changes_between(matched.text, st)
        diffs = time.thread_time() - t
        runs.append((total, snap, diffs, len(versions)))
    runs.sort()
    return runs[1]


def report(title: str, n: int, measured: tuple[float, float, float, int]) -> None:
    total, snap, diffs, nv = measured
    print(f"\n{title}: {n} records ({nv} new versions or near duplicates), thread CPU time, "
          "median of 3 runs")
    print(f"   µs a record: {total / n * 1e6:.0f} (of which snapshot {snap / n * 1e6:.1f}, "
          f"diffs {diffs / n * 1e6:.1f}); a diff {diffs / max(1, nv) * 1e6:.0f} µs; "
          f"ratio with / without changes: {total / (total - snap - diffs):.3f}")


def cost(rows: list[dict[str, str]], n: int) -> None:
    """µs a record of the pipeline without parse (decide + event + state) against the
    snapshot and diff parts of it, on a stream of real articles with ROUNDUPs and
    corrections; the baseline is the same work less those parts."""
    rng = random.Random(7)
    stream: list[Story] = []
    for k, row in enumerate(rows[:n]):
        paras = data.paragraphs(row)
        when = DAY + dt.timedelta(seconds=30 * k)
        stream.append(data.story(paras, when=when))
        if k % 7 == 0 and len(paras) >= 3:  # one in seven gets a later ROUNDUP
            stream.append(data.story([*paras, *paras[:1]], when=when + dt.timedelta(minutes=5),
                                     flags=("roundup",)))
        if k % 10 == 0 and (edit := one_figure(paras, rng)) is not None:
            stream.append(data.story(edit[0], when=when + dt.timedelta(minutes=9),
                                     flags=("correction",)))
    measured = split(lambda pipe, off: pipe.process_story(stream[off], RawRecord(
        value=None, offset=off)), len(stream))
    report("2. cost, pipeline without parse", len(stream), measured)
    sizes = [len(snapshot(st)) for st in stream]
    raw = [len(" ".join(b.text for b in st.body).encode()) for st in stream]
    print(f"   snapshot: mean {sum(sizes) / len(sizes):.0f} B compressed a version "
          f"(text {sum(raw) / len(raw):.0f} B)")


def cost_stream(n: int) -> None:
    """The same split on the throughput bench's own stream (``_wire_stream``: real stories
    as dpa-AFX and Reuters wire text, ROUNDUPs, WDH repeats, re-sends), parse included."""
    import _wire_stream

    values = _wire_stream.records(n)
    measured = split(lambda pipe, off: pipe.process(RawRecord(value=values[off], offset=off)),
                     len(values))
    report("3. cost on the throughput bench's stream, parse + features + decide + event + "
           "state", len(values), measured)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rows = data.reuters() + data.german()
    rng = random.Random(20261202)
    rng.shuffle(rows)
    quality(rows, 150 if args.quick else 600, rng)
    cost(rows, 400 if args.quick else 2000)
    cost_stream(1000 if args.quick else 4000)


if __name__ == "__main__":
    main()
