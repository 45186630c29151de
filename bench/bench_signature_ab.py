"""The dedup quality bench's decisions with each MinHash, side by side in one run.

Run: ``.venv/bin/python bench/bench_signature_ab.py [--bench bench/bench_dedup_quality.py]``
(the quality bench's time: both runs at once, a core each).

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


def start(bench: Path, kind: str) -> subprocess.Popen[str]:
    code = _RUN.format(root=str(ROOT), kind=kind, bench=str(bench))
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)


def report(proc: subprocess.Popen[str]) -> list[str]:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"the quality bench failed ({proc.returncode})")
    return out.splitlines()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bench", type=Path, default=ROOT / "bench" / "bench_dedup_quality.py")
    args = ap.parse_args()
    # both at once, one a core: the bench is single-threaded and the two runs share nothing
    procs = {kind: start(args.bench.resolve(), kind) for kind in ("rensa", "compiled")}
    runs = {kind: report(proc) for kind, proc in procs.items()}
    print(f"{args.bench.name}: each line with SIGNATURE='rensa', then 'compiled' where it "
          "differs (*)")
    for old, new in itertools.zip_longest(runs["rensa"], runs["compiled"], fillvalue=""):
        # run times differ from run to run: not a difference in decisions
        same = old == new or (" in " in old and old.split(" in ")[0] == new.split(" in ")[0])
        print(f"  {old}" if same else f"  {old}\n* {new}")


if __name__ == "__main__":
    main()
