"""The README's configuration table is generated from the code; keep them equal."""

from __future__ import annotations

from pathlib import Path

from consumer.config import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_the_code() -> None:
    assert markdown_table() in README.read_text(encoding="utf-8"), (
        "README configuration table is stale: paste the output of `python -m consumer.config`"
    )


def test_readme_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text
