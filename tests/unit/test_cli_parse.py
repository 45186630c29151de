"""``wirefeed parse``: output per input, exit status, errors on stderr."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from consumer.cli import main
from consumer.events import event_id
from consumer.model import RawRecord

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SEED = str(SHARED / "seeds" / "000_34eca767715a4b5f.txt")
IPTC = str(SHARED / "data" / "wire_fixtures" / "iptc7901_dpa" / "IPTC7901.txt")


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    except TypeError:  # click >= 8.2 always separates stderr
        return CliRunner()


def test_parse_files_prints_one_event_each() -> None:
    result = _runner().invoke(main, ["parse", SEED, IPTC])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().split("\n")
    assert len(lines) == 2
    first, second = (orjson.loads(line) for line in lines)
    assert first["event_type"] == "story.created"
    assert first["event_id"] == event_id(RawRecord(value=None, topic="file", offset=0))
    assert first["story_id"] == first["event_id"]
    assert first["source"]["topic"] == "file"
    assert second["source"]["offset"] == 1
    assert first["story"]["located"] == "KIEW"
    assert second["story"]["format"] == "iptc7901"


def test_stdin_pretty_and_forced_format() -> None:
    result = _runner().invoke(
        main, ["parse", "--pretty", "--format", "plain", "-"], input="Ein Absatz.\n\nNoch einer."
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("{\n  ")
    assert orjson.loads(result.stdout)["story"]["format"] == "plain"


def test_ninjs_output() -> None:
    result = _runner().invoke(main, ["parse", "--output-format", "ninjs", SEED])
    assert result.exit_code == 0
    doc = orjson.loads(result.stdout)
    assert doc["uri"].startswith("urn:wirefeed:story:")
    assert doc["located"] == "KIEW"
    assert doc["language"] == "de"


def test_failures_exit_1_with_json_on_stderr(tmp_path: Path) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00\x01junk")
    result = _runner().invoke(main, ["parse", SEED, str(bad), str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert len(result.stdout.strip().split("\n")) == 1
    errors = [orjson.loads(line) for line in result.stderr.strip().split("\n")]
    assert errors[0] == {"file": str(bad), "reason": "undecodable", "message": errors[0]["message"]}
    assert errors[1]["reason"] == "unreadable"
