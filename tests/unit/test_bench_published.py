"""The benchmark figures the docs quote must trace back to a committed run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "bench" / "published"
DOCS = [ROOT / "README.md", ROOT / "bench" / "ROUNDS.md"]
_RUN = re.compile(r"(?:bench/published/)?(\d{8}-\d{6})\.(json|png)")


def _load(run: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PUBLISHED / f"{run}.json").read_text(encoding="utf-8"))
    return data


def test_every_run_the_docs_name_is_published() -> None:
    named = {m.group(1) + "." + m.group(2)
             for doc in DOCS for m in _RUN.finditer(doc.read_text("utf-8"))}
    assert named, "the docs name no run"
    missing = sorted(n for n in named if not (PUBLISHED / n).is_file())
    assert not missing, f"quoted but not in bench/published: {missing}"


@pytest.mark.parametrize("path", sorted(PUBLISHED.glob("*.json")), ids=lambda p: p.stem)
def test_published_run_is_a_full_run_with_its_commit(path: Path) -> None:
    run = _load(path.stem)
    assert run["quick"] is False
    assert re.fullmatch(r"[0-9a-f]{7,40}", run["machine"]["git"])
    names = {row["name"] for row in run["broker"]["throughput"]}
    assert {"A aiokafka eos", "A aiokafka alo", "wirefeed eos", "wirefeed alo"} <= names
    # the floor: the input replicated to at least 100,000 records, all through A
    assert run["broker"]["input"]["records"] >= 100_000
    a_rows = [row for row in run["broker"]["throughput"] if row["name"].startswith("A ")]
    assert all(row["records"] == run["broker"]["input"]["records"] for row in a_rows)


def test_readme_throughput_table_is_the_latest_run_it_names() -> None:
    """The first run the README's Performance section names is the one its first table shows."""
    text = (ROOT / "README.md").read_text("utf-8")
    perf = text[text.index("## Performance"):]
    first = _RUN.search(perf)
    assert first is not None
    run = _load(first.group(1))
    table = perf[: perf.index("| added latency")]
    for row in run["broker"]["throughput"]:
        assert f"{row['records_per_s']:,.0f}" in table, (row["name"], row["records_per_s"])
    for key, ratio in run["broker"]["ratios"].items():
        if key.startswith(("wirefeed", "shell")):
            assert f"({ratio:.2f}×)" in table, (key, ratio)
