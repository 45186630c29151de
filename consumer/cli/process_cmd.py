"""``wirefeed process``: the offline batch mode (see :mod:`consumer.process`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import click

from consumer.process import DuplicatesMode, Item, count_records, read_directory, read_jsonl, run


@click.command("process")
@click.option("--input", "input_", required=True, help="JSONL file of records, a directory, or -")
@click.option("--output", default="-", show_default=True, help="JSONL events file, or - for stdout")
@click.option(
    "--duplicates",
    type=click.Choice(["include", "drop"]),
    default="include",
    show_default=True,
    help="drop: leave story.duplicate events out of the output",
)
@click.option("--window-hours", type=float, default=72.0, show_default=True)
@click.option("--max-entries", type=click.IntRange(min=1), default=1_000_000, show_default=True)
def process(
    input_: str, output: str, duplicates: str, window_hours: float, max_entries: int
) -> None:
    """Parse and deduplicate records offline, with the streaming worker's code."""
    from consumer.pipeline import Pipeline

    mode: DuplicatesMode = "drop" if duplicates == "drop" else "include"
    pipeline = Pipeline(window_ms=int(window_hours * 3_600_000), max_entries=max_entries)
    total: int | None = None
    items: Iterator[Item]
    if input_ == "-":
        items = read_jsonl(sys.stdin.buffer)
    else:
        path = Path(input_)
        if not path.exists():
            raise click.BadParameter(f"{input_} does not exist", param_hint="--input")
        total = count_records(path)
        items = read_directory(path) if path.is_dir() else read_jsonl(path.open("rb"))
    out: BinaryIO = sys.stdout.buffer if output == "-" else Path(output).open("wb")  # noqa: SIM115
    try:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress

            with Progress(console=Console(stderr=True), transient=True) as bar:
                task = bar.add_task("processing", total=total)
                summary = run(
                    items, pipeline, out, duplicates=mode, on_record=lambda: bar.advance(task)
                )
        else:
            summary = run(items, pipeline, out, duplicates=mode)
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    click.echo(summary.line(), err=True)
