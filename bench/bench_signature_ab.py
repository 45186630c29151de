"""The dedup quality bench's decisions with each MinHash, side by side in one run.

Run: ``.venv/bin/python bench/bench_signature_ab.py [--bench bench/bench_dedup_quality.py]``
(twice the quality bench's time).

Runs the quality bench (unchanged, its own streams and labels) once with
``fingerprint.SIGNATURE = "rensa"`` (what stored changelog entries hold) and once with
``"compiled"`` (:mod:`consumer.dedup.minhash`), each in a fresh process, and prints
their reports line by line, the lines that differ marked ``*``. Only the signature
differs between the two runs: shingles, counts, facts and fingerprints are the same.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUN = """
import runpy, sys
sys.path.insert(0, {root!r})
from consumer.dedup import fingerprint
fingerprint.SIGNATURE = {kind!r}
sys.argv = [{bench!r}]
runpy.run_path({bench!r}, run_name="__main__")
"""


def report(bench: Path, kind: str) -> list[str]:
    code = _RUN.format(root=str(ROOT), kind=kind, bench=str(bench))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return out.stdout.splitlines()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bench", type=Path, default=ROOT / "bench" / "bench_dedup_quality.py")
    args = ap.parse_args()
    runs = {kind: report(args.bench.resolve(), kind) for kind in ("rensa", "compiled")}
    print(f"{args.bench.name}: each line with SIGNATURE='rensa', then 'compiled' where it "
          "differs (*)")
    for old, new in itertools.zip_longest(runs["rensa"], runs["compiled"], fillvalue=""):
        # run times differ from run to run: not a difference in decisions
        same = old == new or (" in " in old and old.split(" in ")[0] == new.split(" in ")[0])
        print(f"  {old}" if same else f"  {old}\n* {new}")


if __name__ == "__main__":
    main()
