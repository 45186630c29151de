"""``make bench`` is not part of the tests, so its core half runs here at its quick
sizes: a refactor of the core that breaks a benchmark fails CI, not the next person
who runs ``make bench``. Figures are not asserted (speed is the benchmarks' business);
that every table is there and the goals are judged on what ran is."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import run_all  # noqa: E402

from tests.corpus import SHARED  # noqa: E402

FORMATS = {"anpa1312", "iptc7901_dpa", "newsml_1_2", "newsml_g2", "ninjs", "nitf", "ritzau"}


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="the benches read ../shared/data")
def test_core_benches_run_and_fill_every_table(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run_all.main(["--skip-broker", "--quick", "--results-dir", str(tmp_path)]) == 0
    (written,) = [p for p in tmp_path.glob("2*.json")]
    res = json.loads(written.read_text(encoding="utf-8"))
    assert json.loads((tmp_path / "latest.json").read_text(encoding="utf-8")) == res

    parse = res["core"]["parse"]
    assert parse["returncode"] == 0, parse["stdout"][-2000:]
    inputs = {row["input"] for row in parse["rows"]}
    assert inputs >= FORMATS, inputs
    assert any(i.startswith("dpa_afx") for i in inputs), inputs
    assert all(row["us_per_story"] > 0 for row in parse["rows"])

    scale = res["core"]["dedup_scale"]
    assert [row["held"] for row in scale["rows"]] == [10_000, 100_000], scale["stdout"][-2000:]
    for row in scale["rows"]:
        assert row["lookup_us"] > 0
        assert row["lookup_no_candidate_us"] > 0
        assert row["restore_s"] >= 0
        assert row["ram_bytes_per_story"] > 0
    assert scale["features_us"] > 0
    assert scale["fill"]["slowest_add_ms"] > 0

    pool = res["core"]["pool"]
    assert pool["records"] == 3000
    assert len(pool["rows"]) >= 2

    verdicts = {g["goal"]: g["met"] for g in res["goals"]}
    assert verdicts["exactly-once >= 0.7x baseline A"] == "n/a"  # no broker run: not judged
    assert verdicts["dedup lookup flat 10,000 -> 100,000 held (<= 1.5x)"] in {"yes", "NO"}
    out = capsys.readouterr().out
    assert "core: parse, one core" in out
    assert "goals" in out
    assert "None" not in out.split("\ngoals\n", 1)[1]  # a goal without a figure says why
