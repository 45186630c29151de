"""Dedup at scale: lookup time, throughput, state bytes per story, restore time at 10k..1M held.

Run: ``.venv/bin/python bench/bench_dedup_scale.py`` (about 2 minutes on 2 cores);
``--text-cost [N ...]`` instead compares, at N held (default 100,000 and 1,000,000), the
restore time, RAM and changelog bytes of entries with the version's compressed text (state
format 2, for the ``changes`` object) and without it (what format 1 held), each in a fresh
process so that one's freed memory does not hide the other's growth.

Held entries are synthesised from real text variations: features of the real
Reuters + German articles, each copied with 90 % of its signature positions
and its facts re-drawn (a distinct story of the same shape, Jaccard ~0.1 to its
source), so the index holds realistic band collisions and entry sizes. Queries
are the real articles themselves. Baseline, measured in the same run: an
exact-hash dict lookup of the 16-byte fingerprint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _dedup_data as data

from consumer.dedup import Features, Index, StateEntry, decide, features
from consumer.diff import snapshot
from consumer.model import RawRecord, Story
from consumer.pipeline import Pipeline

SIZES = (10_000, 100_000, 1_000_000)
QUERIES = 2000
FILL = 150_000  # stories added one at a time in fill()
T0 = 1_767_400_000_000


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    rows = data.reuters() + data.german()
    stories = [data.story(data.paragraphs(r)) for r in rows]
    t = time.perf_counter()
    feats = [features(s.normalized_text, " ".join(s.paragraphs)) for s in stories]
    feat_us = (time.perf_counter() - t) / len(stories) * 1e6
    n_max = SIZES[-1]
    print(f"features (shingles + MinHash + facts): {feat_us:.0f} µs/story over {len(feats)} "
          "real articles")
    t = time.perf_counter()
    log = synthesise(n_max, True, (stories, feats))
    print(f"synthesised {n_max} encoded entries in {time.perf_counter() - t:.1f}s; "
          f"mean {np.mean([len(v) for _, v in log[:100_000] if v]):.0f} B/entry on the changelog "
          "(with the version's compressed text, state format 2)")
    queries = list(zip(stories[:QUERIES], feats[:QUERIES], strict=True))
    print()
    print(f"{'held':>10} {'restore s':>10} {'RAM B/story':>12} {'arrays B':>9} {'exact µs':>9} "
          f"{'lookup µs':>10} {'x exact':>8} {'cands/q':>7} {'µs @0':>7} {'q w/ c':>7} "
          f"{'µs @≥1':>7} {'stories/s':>10}")
    for n in SIZES:
        before = rss_bytes()
        t = time.perf_counter()
        index = Index.restore(log[:n], max_entries=n + QUERIES + 10)
        restore_s = time.perf_counter() - t
        ram = (rss_bytes() - before) / n
        arrays = index.memory_bytes() / n
        exact = dict.fromkeys(index.fingerprints())
        t = time.perf_counter()
        for _, f in queries:
            exact.get(f.fingerprint)
        exact_us = (time.perf_counter() - t) / QUERIES * 1e6
        now = T0 + n
        cutoff = index.cutoff_ms(now)
        # true LSH candidates (a band equal, in the window) of each query: how many the
        # synthetic copies give grows with n (see below), and each costs verification
        ncand = [index.scan(f.signature, cutoff)[0].size for _, f in queries]
        cands = sum(ncand) / QUERIES
        none = [q for q, c in zip(queries, ncand, strict=True) if not c]
        some = [q for q, c in zip(queries, ncand, strict=True) if c]
        runs, runs0, runs1 = [], [], []
        for _ in range(3):  # shared cores: thread CPU time, the median of three passes
            t = time.thread_time()
            for s, f in none:
                decide(s, f, now, index)
            t0 = time.thread_time() - t
            t = time.thread_time()
            for s, f in some:
                decide(s, f, now, index)
            t1 = time.thread_time() - t
            runs.append((t0 + t1) / QUERIES * 1e6)
            runs0.append(t0 / max(1, len(none)) * 1e6)
            runs1.append(t1 / max(1, len(some)) * 1e6)
        lookup_us = float(np.median(runs))
        pipe = Pipeline(index)
        t = time.perf_counter()
        for k, (s, _) in enumerate(queries):
            pipe.commit(pipe.process_story(s, RawRecord(value=None, offset=k, timestamp_ms=T0)))
        rate = QUERIES / (time.perf_counter() - t)
        print(f"{n:>10} {restore_s:>10.2f} {ram:>12.0f} {arrays:>9.0f} {exact_us:>9.2f} "
              f"{lookup_us:>10.1f} {lookup_us / exact_us:>8.0f} {cands:>7.2f} "
              f"{float(np.median(runs0)):>7.1f} {len(some) / QUERIES:>7.1%} "
              f"{float(np.median(runs1)) if some else float('nan'):>7.1f} {rate:>10.0f}")
        del index, exact, pipe
    print("\nRAM B/story = RSS growth over restore / held (numpy columns, band table, facts, "
          "dicts, heap); arrays B = the numpy part alone")
    print("lookup µs = decide() (exact + agency + LSH candidates + verification), thread CPU "
          "time; stories/s = features + decide + event + commit")
    print("cands/q = true LSH candidates (a band equal, in the window) a query; µs @0 = "
          "decide() for the queries with none (the table lookup alone), q w/ c = share of "
          "queries with at least one, µs @≥1 = decide() for those (verification, scoring)")
    print("The synthetic copies keep 10 % of their source's positions, so a copy shares a "
          "band with its source with p = 1-(1-0.1^3)^42 = 4 %; at n held that is ~n/19000 "
          "copies a source: cands/q grows ~linearly with n. That growth, not the table, is "
          "what the lookup µs at 1M adds: compare the µs @0 column.")
    fill(log[:FILL])


def fill(log: list[tuple[str, bytes | None]]) -> None:
    """A fresh index filled one add() at a time, as a worker fills it after a cold start:
    the slowest single add is a stall of the worker's event loop (a band table resize
    included, which moves stories a few per add)."""
    index = Index(max_entries=len(log) + 10)
    slowest, at, total = 0.0, 0, 0.0
    for i, (_, value) in enumerate(log):
        assert value is not None
        entry = StateEntry.decode(value)
        t = time.perf_counter()
        index.add(entry)
        took = time.perf_counter() - t
        total += took
        if took > slowest:
            slowest, at = took, i + 1
    print(f"\nfilling a fresh index one add() at a time to {len(log):,} held: mean "
          f"{total / len(log) * 1e6:.0f} µs an add, slowest {slowest * 1e3:.1f} ms (at {at:,} "
          "held; column arrays double at powers of two, the band table moves 8 stories an add)")




Sources = tuple[list[Story], list[Features]]


def synthesise(n: int, with_text: bool, sources: Sources | None = None
               ) -> list[tuple[str, bytes | None]]:
    """n encoded entries: each copies a real article's features with 90 % of its signature
    and its facts re-drawn, with the compressed snapshot of the article (a real text of the
    real size) or without text."""
    if sources is None:
        rows = data.reuters() + data.german()
        stories = [data.story(data.paragraphs(r)) for r in rows]
        feats = [features(s.normalized_text, " ".join(s.paragraphs)) for s in stories]
    else:
        stories, feats = sources
    texts = [snapshot(s) if with_text else b"" for s in stories]
    rng = np.random.default_rng(1)
    src = rng.integers(0, len(feats), n)
    sigs = np.stack([f.signature for f in feats])[src]
    mask = rng.random(sigs.shape) < 0.9
    sigs[mask] = rng.integers(0, 1 << 16, int(mask.sum()), dtype=np.uint16)
    log: list[tuple[str, bytes | None]] = []
    for i in range(n):
        f = feats[src[i]]
        fp = i.to_bytes(16, "little")
        facts = rng.integers(0, 1 << 32, f.facts.size, dtype=np.uint32)
        e = StateEntry(fp, f"{i:032x}", f"{i:032x}", T0 + i, sigs[i], f.shingle_count, facts,
                       text=texts[src[i]])
        log.append((fp.hex(), e.encode()))
    return log


def probe(n: int, with_text: bool) -> dict[str, float]:
    """One restore of n entries in this (fresh) process: seconds, RSS growth a story."""
    import gc

    base = rss_bytes()  # before anything is built: the log itself is freed before the end
    log = synthesise(n, with_text)
    changelog = sum(len(v) for _, v in log if v) / n
    gc.collect()
    t = time.perf_counter()
    index = Index.restore(log, max_entries=n + 10)
    took = time.perf_counter() - t
    del log
    gc.collect()
    ram = (rss_bytes() - base) / n
    assert len(index) == n
    texts = [e.text for e in index.entries()]
    # the text's own share: its bytes objects (33 B of header each) and a list pointer
    text_b = sum(len(x) + 33 + 8 for x in texts) / n
    return {"n": n, "restore_s": took, "ram_b": ram, "changelog_b": changelog,
            "text_b": text_b}


def text_cost(sizes: list[int]) -> None:
    print("restore with the versions' text (format 2) against without it (format 1's entry), "
          "each a fresh process; wall-clock, shared machine. RAM B/story: RSS after the "
          "restore, the changelog freed, over the process before it; text B: the held "
          "texts' own bytes a story")
    print(f"{'held':>10} {'restore s':>10} {'x':>6} {'RAM B/story':>12} {'x':>6} "
          f"{'changelog B':>12} {'x':>6} {'text B':>7}   (without text: restore s, RAM, "
          "changelog)")
    for n in sizes:
        got = {}
        for with_text in (False, True):
            out = subprocess.run([sys.executable, __file__, "--probe", str(n), str(int(with_text))],
                                 check=True, capture_output=True, text=True)
            got[with_text] = json.loads(out.stdout.strip().splitlines()[-1])
        a, b = got[False], got[True]
        print(f"{n:>10} {b['restore_s']:>10.2f} {b['restore_s'] / a['restore_s']:>6.2f} "
              f"{b['ram_b']:>12.0f} {b['ram_b'] / a['ram_b']:>6.2f} {b['changelog_b']:>12.0f} "
              f"{b['changelog_b'] / a['changelog_b']:>6.2f} {b['text_b']:>7.0f}   "
              f"({a['restore_s']:.2f} s, "
              f"{a['ram_b']:.0f} B, {a['changelog_b']:.0f} B)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        print(json.dumps(probe(int(sys.argv[2]), sys.argv[3] == "1")))
    elif sys.argv[1:2] == ["--text-cost"]:
        text_cost([int(a) for a in sys.argv[2:]] or [100_000, 1_000_000])
    else:
        main()
