"""The same input, two checkouts: do the events come out byte for byte the same?

Run: ``.venv/bin/python bench/compare_events.py [--base main] [--ignore FIELD ...]``

Renders every record of the real corpora (../shared/data): the German articles as
dpa-AFX text, Reuters-21578 as English wire text (in corpus order, with its real
re-sends and updates), and every wire fixture file; runs ``wirefeed process`` over
them with the code of ``--base`` (a git ref, exported with ``git archive`` into a
temporary directory: nothing is written into another checkout) and with this
checkout, and compares the output lines. ``--ignore`` drops a top-level event field
from the comparison (a field another change sets on purpose). Exit status 1 when
any event differs beyond the ignored fields.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_parse import FIXTURES, seed_like  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "corpus"
T0 = 1_700_000_000_000


def corpus_records() -> list[bytes]:
    """JSONL records: every corpus text and fixture, timestamps a second apart."""
    values: list[bytes] = seed_like(10**9)
    with (CORPUS / "en_wire.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row.get("text"):
                values.append(f"{row.get('title') or ''}\n\n{row.get('dateline') or ''} "
                              f"{row['text']}".encode())
    values += [p.read_bytes() for p in sorted(FIXTURES.rglob("*"))
               if p.is_file() and p.name != "PROVENANCE.md"]
    return [orjson.dumps({"value_b64": base64.b64encode(v).decode(), "timestamp": T0 + 1000 * i,
                          "key": f"k{i}"}) for i, v in enumerate(values)]


def export(ref: str, into: Path) -> Path:
    """``git archive ref`` unpacked under ``into``: the base code, untouched by this run."""
    tar = into / "base.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(tar), ref], check=True)
    with tarfile.open(tar) as tf:
        tf.extractall(into / "base", filter="data")
    return into / "base"


def process(checkout: Path, records: Path, out: Path, numba_cache: Path) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from consumer.cli import main; "
            "sys.argv = ['wirefeed', *sys.argv[2:]]; main()")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NUMBA_CACHE_DIR": str(numba_cache)}
    subprocess.run([sys.executable, "-c", code, str(checkout), "process", "--input",
                    str(records), "--output", str(out)], check=True, env=env, cwd=checkout)


def strip(line: bytes, ignore: set[str]) -> Any:
    event = orjson.loads(line)
    for field in ignore:
        event.pop(field, None)
    return event


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base", default="main", help="git ref of the code to compare against")
    ap.add_argument("--ignore", action="append", default=[], help="top-level event field")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        records = tmp / "records.jsonl"
        lines = corpus_records()
        records.write_bytes(b"\n".join(lines) + b"\n")
        base = export(args.base, tmp)
        process(base, records, tmp / "base.jsonl", tmp / "numba-base")
        process(ROOT, records, tmp / "head.jsonl", tmp / "numba-head")
        old = (tmp / "base.jsonl").read_bytes().splitlines()
        new = (tmp / "head.jsonl").read_bytes().splitlines()
    ignore = set(args.ignore)
    same_bytes = sum(a == b for a, b in zip(old, new, strict=False))
    differ = [i for i, (a, b) in enumerate(zip(old, new, strict=False))
              if a != b and strip(a, ignore) != strip(b, ignore)]
    fields: Counter[str] = Counter()
    for i in differ:
        a, b = strip(old[i], ignore), strip(new[i], ignore)
        fields.update(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    types = Counter(orjson.loads(x)["event_type"] for x in new)
    print(f"{len(lines)} records; events: base {len(old)}, this checkout {len(new)} {dict(types)}")
    print(f"byte-identical: {same_bytes}; differing beyond {sorted(ignore) or 'nothing'}: "
          f"{len(differ)}")
    if fields:
        print(f"fields that differ: {dict(fields.most_common())}")
        for i in differ[:3]:
            print(f"  line {i}:\n    base {old[i][:300]!r}\n    this {new[i][:300]!r}")
    return 1 if differ or len(old) != len(new) else 0


if __name__ == "__main__":
    sys.exit(main())
