"""``wirefeed parse FILE... | -``: parse files offline and print one JSON event per input.

The shell around :func:`consumer.parse.parse_bytes`: reads files (or stdin
for ``-``), prints ``story.created`` events (or ninjs documents) as JSON
lines on stdout and errors as JSON lines on stderr. The exit status is 1 if
any input failed, so scripts can use it as a validity check.
"""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from consumer.errors import ParseError
from consumer.events import event_id, story_event
from consumer.formats.base import Hints
from consumer.model import RawRecord
from consumer.ninjs_out import to_ninjs
from consumer.parse import DEFAULT_MAX_BYTES, parse_bytes


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    with open(name, "rb") as fh:
        return fh.read(DEFAULT_MAX_BYTES * 4 + 1)


def _emit(doc: dict[str, Any], *, pretty: bool, err: bool = False) -> None:
    option = orjson.OPT_INDENT_2 if pretty else 0
    stream = sys.stderr.buffer if err else sys.stdout.buffer
    stream.write(orjson.dumps(doc, option=option) + b"\n")
    stream.flush()


@click.command("parse")
@click.argument("files", nargs=-1, required=True)
@click.option("--pretty", is_flag=True, help="Indent the JSON output.")
@click.option(
    "--output-format",
    type=click.Choice(["event", "ninjs"]),
    default="event",
    show_default=True,
    help="story.v1 event or an IPTC ninjs 2.2 document.",
)
@click.option("--format", "forced", default=None, help="Force a format (no detection).")
@click.option("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, show_default=True)
def parse(
    files: tuple[str, ...], pretty: bool, output_format: str, forced: str | None, max_bytes: int
) -> None:
    """Parse wire stories from FILES ('-' for stdin) and print one JSON document per input."""
    failed = False
    hints = Hints(forced_format=forced)
    for index, name in enumerate(files):
        try:
            raw = _read(name)
        except OSError as exc:
            failed = True
            _emit(
                {"file": name, "reason": "unreadable", "message": str(exc)}, pretty=False, err=True
            )
            continue
        source = RawRecord(value=raw, key=name.encode(), topic="file", offset=index)
        try:
            story = parse_bytes(raw, hints, max_bytes=max_bytes)
        except ParseError as exc:
            failed = True
            _emit({"file": name, **exc.as_dict()}, pretty=False, err=True)
            continue
        story_id = event_id(source)
        if output_format == "ninjs":
            _emit(to_ninjs(story, story_id=story_id), pretty=pretty)
        else:
            event = story_event(
                event_type="story.created", story=story, source=source, story_id=story_id
            )
            _emit(event, pretty=pretty)
    sys.exit(1 if failed else 0)
