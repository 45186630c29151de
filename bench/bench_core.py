"""The per-story core, µs a story per format: parse + features + decide + event, one run.

Run: ``.venv/bin/python bench/bench_core.py [--records N] [--passes N] [--profile FORMAT]``

Inputs (real text, see ``bench_parse.py`` and ``_wire_stream.py``): the bench's
seed-like dpa-AFX stream (German articles in the dpa-AFX wrapper), English wire text
(Reuters-21578), the mixed stream the worker benches feed (``_wire_stream``), and
the real IPTC 7901 and ANPA 1312 fixtures (few files: repeated, so most of them
decide as duplicates).

Each pass feeds the records in order through a fresh :class:`~consumer.pipeline.Pipeline`
and times each stage in thread CPU time: ``parse`` (``parse_record``), ``features``,
``decide+event`` (``process_story``: the decision, the event dict, the state entry),
``bytes`` (``orjson.dumps`` of the event, as the worker sends it) and, outside the
core, ``commit`` (the index add). Best of ``--passes``. The features stage runs the
way ``features()`` ran on main (Python shingles, rensa, regex facts: the baseline),
with ``SIGNATURE = "rensa"`` (the default: compiled facts) and with ``SIGNATURE =
"compiled"``; ``core`` is parse + features + decide+event + bytes, and each ratio is
baseline core / that core, all measured in this run.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import _wire_stream  # noqa: E402
from bench_features import new_features, old_features, rensa_features  # noqa: E402
from bench_parse import FIXTURES, seed_like  # noqa: E402

from consumer.dedup import Features, minhash  # noqa: E402
from consumer.errors import WirefeedError  # noqa: E402
from consumer.model import RawRecord, Story  # noqa: E402
from consumer.parse import parse_record  # noqa: E402
from consumer.pipeline import Pipeline  # noqa: E402
from consumer.worker import warm_process  # noqa: E402

FeaturesFn = Callable[[str, str], Features]
STAGES = ("parse", "features", "decide+event", "bytes", "commit")


def inputs(n: int) -> dict[str, list[bytes]]:
    reuters = [r for r in _wire_stream.records(3 * n) if b"(dpa-AFX)" not in r][:n]
    return {
        "dpa-AFX seed-like": seed_like(n),
        "English wire (Reuters)": reuters,
        "bench stream (mixed)": _wire_stream.records(n),
        "IPTC 7901 (fixtures)": [p.read_bytes() for p in
                                 sorted((FIXTURES / "iptc7901_dpa").iterdir())] * 20,
        "ANPA 1312 (fixtures)": [p.read_bytes() for p in
                                 sorted((FIXTURES / "anpa1312").iterdir())] * 10,
    }


def one_pass(raws: list[bytes], feats_fn: FeaturesFn) -> dict[str, float]:
    """Seconds of thread CPU time per stage over the records, in stream order."""
    pipe = Pipeline()
    clock = time.thread_time
    spent = dict.fromkeys(STAGES, 0.0)
    for off, raw in enumerate(raws):
        record = RawRecord(value=raw, offset=off, timestamp_ms=1_700_000_000_000 + off)
        t0 = clock()
        try:
            story: Story = parse_record(record)
        except WirefeedError:
            spent["parse"] += clock() - t0
            continue
        t1 = clock()
        feats = None
        if "canceled" not in story.flags:
            feats = feats_fn(story.normalized_text, " ".join(b.text for b in story.body))
        t2 = clock()
        out = pipe.process_story(story, record, feats)
        t3 = clock()
        orjson.dumps(out.event)
        t4 = clock()
        pipe.commit(out)
        t5 = clock()
        spent["parse"] += t1 - t0
        spent["features"] += t2 - t1
        spent["decide+event"] += t3 - t2
        spent["bytes"] += t4 - t3
        spent["commit"] += t5 - t4
    return spent


def measure(raws: list[bytes], feats_fn: FeaturesFn, passes: int) -> dict[str, float]:
    """Per stage, µs a record: the best pass of each stage (least disturbed)."""
    best = dict.fromkeys(STAGES, float("inf"))
    for _ in range(passes):
        for stage, s in one_pass(raws, feats_fn).items():
            best[stage] = min(best[stage], s / len(raws) * 1e6)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=400)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--profile", metavar="FORMAT", help="cProfile the compiled core on one "
                    "input (a prefix of its name, e.g. dpa)")
    args = ap.parse_args()
    warm_process()
    minhash.warm()
    groups = inputs(args.records)
    print(f"core µs a story (thread CPU time, best of {args.passes} passes a stage). Features: "
          "main = as on main (Python shingles, rensa, regex facts: the baseline); rensa = "
          "SIGNATURE 'rensa', the default (compiled facts); compiled = SIGNATURE 'compiled'")
    head = f"{'input':24s} {'n':>5s} {'parse':>7s} {'f main':>7s} {'f rensa':>7s} " \
           f"{'f compl':>7s} {'dec+ev':>7s} {'bytes':>6s} | {'core main':>9s} {'rensa':>14s} " \
           f"{'compiled':>14s} | {'commit':>7s}"
    print(head)
    for name, raws in groups.items():
        runs = [measure(raws, fn, args.passes)
                for fn in (old_features, rensa_features, new_features)]
        parse, dec, byt, commit = (min(r[k] for r in runs)
                                   for k in ("parse", "decide+event", "bytes", "commit"))
        cores = [parse + r["features"] + dec + byt for r in runs]
        feats = " ".join(f"{r['features']:7.1f}" for r in runs)
        line = f"{name:24s} {len(raws):5d} {parse:7.1f} {feats} {dec:7.1f} {byt:6.1f} | "
        line += f"{cores[0]:9.1f} {cores[1]:7.1f} {cores[0] / cores[1]:5.2f}x "
        line += f"{cores[2]:7.1f} {cores[0] / cores[2]:5.2f}x | {commit:7.1f}"
        print(line)
    print("parse, dec+ev, bytes and commit do not depend on the features' implementation: the "
          "lowest of the three runs' figures is shown and used in every core")
    if args.profile:
        name = next(k for k in groups if k.lower().startswith(args.profile.lower()))
        prof = cProfile.Profile()
        prof.enable()
        one_pass(groups[name], new_features)
        prof.disable()
        print(f"\ncProfile of the compiled core on {name} (one pass, tottime)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
