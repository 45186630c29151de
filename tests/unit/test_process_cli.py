"""``wirefeed process``: one line per record, in order, offsets, reasons, dead letters."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
from click.testing import CliRunner

from consumer.cli import main
from tests.unit.test_dedup_core import render, seed_paragraphs


def _rec(value: bytes, ts: int = 1_767_400_000_000) -> bytes:
    return orjson.dumps({"key": None, "value": value.decode(), "headers": {}, "timestamp": ts})


def _stream() -> list[bytes]:
    seed = seed_paragraphs()
    return [
        _rec(render(seed)),
        b'{"value": 12}',  # malformed: value not a string
        _rec(render(seed, sig="/xx/DP/yy")),
        b"not json at all",
        orjson.dumps({"value_b64": base64.b64encode(render(seed, headline="WDH/Kiew")).decode()}),
        _rec(render([*seed, "Umjerow kündigte weitere Gespräche mit 20 Staaten an."],
                    headline="ROUNDUP/Kiew")),
        _rec(b""),
    ]


def _run(tmp_path: Path, *args: str) -> tuple[list[dict[str, object]], str]:
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"\n".join(_stream()) + b"\n")
    res = CliRunner().invoke(main, ["process", "--input", str(src), *args])
    assert res.exit_code == 0, res.output
    lines = [orjson.loads(x) for x in res.stdout.splitlines()]
    return lines, res.stderr


def test_one_line_per_record_in_order_with_offsets_and_reasons(tmp_path: Path) -> None:
    lines, err = _run(tmp_path)
    assert [x["source"]["offset"] for x in lines] == list(range(7))  # type: ignore[index]
    kinds = [(x["event_type"], x.get("reason")) for x in lines]
    assert kinds == [
        ("story.created", None),
        ("dead_letter", "malformed_record"),
        ("story.duplicate", "exact"),
        ("dead_letter", "malformed_record"),
        ("story.duplicate", "repeat"),
        ("story.updated", None),
        ("dead_letter", "empty"),
    ]
    assert lines[2]["duplicate_of"] == lines[0]["event_id"]
    assert lines[2]["similarity"] == 1.0
    assert lines[5]["supersedes"] == lines[0]["event_id"]
    assert "records 7, created 1, updated 1" in err
    assert "duplicates 2 (exact 1, repeat 1)" in err
    assert "dead letters 3" in err


def test_duplicates_drop_leaves_only_duplicates_out(tmp_path: Path) -> None:
    lines, _ = _run(tmp_path, "--duplicates", "drop")
    assert [x["source"]["offset"] for x in lines] == [0, 1, 3, 5, 6]  # type: ignore[index]


def test_directory_input_in_name_order(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    seed = seed_paragraphs()
    (d / "b.txt").write_bytes(render(seed, sig="/aa/DP/bb"))
    (d / "a.txt").write_bytes(render(seed))
    res = CliRunner().invoke(main, ["process", "--input", str(d)])
    out = [orjson.loads(x) for x in res.stdout.splitlines()]
    assert [(x["source"]["key"], x["event_type"]) for x in out] == [
        ("a.txt", "story.created"), ("b.txt", "story.duplicate")]


def test_stdin_and_output_file(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    data = b"\n".join(_stream()[:3]) + b"\n"
    res = CliRunner().invoke(main, ["process", "--input", "-", "--output", str(target)], input=data)
    assert res.exit_code == 0
    assert len(target.read_bytes().splitlines()) == 3
