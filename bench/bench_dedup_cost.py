"""What the dedup decision costs a story, against another checkout measured in the same run.

Run: ``.venv/bin/python bench/bench_dedup_cost.py [--records N] [--baseline-tree DIR]``

The stream is the pipeline bench's (``_wire_stream``: real Reuters and German
articles with their re-sends, WDH repeats and ROUNDUPs), records one second
apart. Each record is parsed and its features computed once (``prepare``), then
the timed part runs: ``process_prepared`` + ``commit``, i.e. the window, the
decision and the state changes, and separately the whole core (``prepare`` +
decision). Each tree runs in its own subprocess, alternating, three times; the
fastest run of each counts (the machine is shared). ``--baseline-tree`` is a
checkout of the code to compare with (e.g. ``git worktree add /tmp/old main``):
the ratio table is this tree over that one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(n: int) -> dict[str, object]:
    """Run in the tree under test (its ``consumer`` first on sys.path)."""
    sys.path.insert(0, str(HERE))
    import _wire_stream

    from consumer.model import RawRecord
    from consumer.pipeline import Pipeline, prepare

    values = _wire_stream.records(n)
    records = [RawRecord(value=v, topic="in", partition=0, offset=i,
                         timestamp_ms=1_767_427_200_000 + 1000 * i)
               for i, v in enumerate(values)]
    t = time.perf_counter()
    prepared = [prepare(r) for r in records]
    prepare_s = time.perf_counter() - t
    pipe = Pipeline()
    kinds: Counter[str] = Counter()
    t = time.perf_counter()
    for p, r in zip(prepared, records, strict=True):
        out = pipe.process_prepared(p, r)
        pipe.commit(out)
        kinds[out.event_type] += 1
    decide_s = time.perf_counter() - t
    return {"records": n, "decide_us": 1e6 * decide_s / n, "prepare_us": 1e6 * prepare_s / n,
            "kinds": dict(kinds)}


def run_tree(tree: Path, n: int) -> dict[str, object]:
    code = (f"import sys, json; sys.path.insert(0, {str(tree)!r}); "
            f"sys.path.insert(1, {str(HERE)!r}); import bench_dedup_cost as b; "
            f"print(json.dumps(b.measure({n})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=5000)
    ap.add_argument("--baseline-tree", default="")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    trees = {"this tree": HERE.parent}
    if args.baseline_tree:
        trees["baseline"] = Path(args.baseline_tree).resolve()
    best: dict[str, dict[str, object]] = {}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            got = run_tree(tree, args.records)
            old = best.get(name)
            if old is None or float(got["decide_us"]) < float(old["decide_us"]):  # type: ignore[arg-type]
                best[name] = got
    print(f"{args.records} records, best of {args.rounds} runs a tree (shared machine)")
    print(f"{'tree':<12}{'decide+commit µs':>18}{'prepare µs':>12}{'core µs':>10}  outcomes")
    for name, r in best.items():
        d, p = float(r["decide_us"]), float(r["prepare_us"])  # type: ignore[arg-type]
        print(f"{name:<12}{d:>18.1f}{p:>12.1f}{d + p:>10.1f}  {r['kinds']}")
    if "baseline" in best:
        a, b = best["this tree"], best["baseline"]
        da, db = float(a["decide_us"]), float(b["decide_us"])  # type: ignore[arg-type]
        pa, pb = float(a["prepare_us"]), float(b["prepare_us"])  # type: ignore[arg-type]
        print(f"ratio this/baseline: decide+commit {da / db:.3f}, "
              f"core (prepare + decide) {(da + pa) / (db + pb):.3f}")


if __name__ == "__main__":
    main()
