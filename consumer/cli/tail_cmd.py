"""``wirefeed tail``: watch what the worker publishes, one readable line a record.

Reads the output, duplicates or dead-letter topic ``read_committed`` (so only
what a downstream consumer would see: aborted transactions stay invisible)
with no consumer group, every partition assigned: tailing never joins or
disturbs the worker's group and never commits offsets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import click
import orjson

from consumer.config import load
from consumer.errors import ConfigError

_STYLES = {
    "story.created": "green", "story.updated": "cyan", "story.corrected": "yellow",
    "story.canceled": "bold red",
    "story.duplicate": "magenta", "dead_letter": "red",
}
TYPES = tuple(_STYLES)
TYPE_WIDTH = max(len(t) for t in TYPES)
TEXT_WIDTH = 80


@dataclass(frozen=True, slots=True)
class Line:
    """One record, described: its type, then (text, style) parts for plain or coloured output."""

    type: str
    parts: tuple[tuple[str, str], ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)
    # lines printed under it: what a new version changed (see diff_lines)
    details: tuple[tuple[str, str], ...] = ()

    def plain(self) -> str:
        head = "  ".join([self.type.ljust(TYPE_WIDTH), *(t for t, _ in self.parts if t)])
        return "\n".join([head, *(_INDENT + t for t, _ in self.details)])

    def rich(self) -> Any:
        from rich.text import Text

        text = Text(self.type.ljust(TYPE_WIDTH), style=_STYLES.get(self.type, "bold"))
        for part, style in self.parts:
            if part:
                text.append("  ")
                text.append(part, style=style)
        for part, style in self.details:
            text.append("\n" + _INDENT)
            text.append(part, style=style)
        return text


_INDENT = " " * (TYPE_WIDTH + 2)
_DIFF_ITEMS = 4  # a kind of change shown at most this many times under an event
_WHY = {"previous_not_held": "no earlier version in the window",
        "previous_text_not_kept": "the earlier version was kept without its text"}


def diff_lines(changes: object) -> tuple[tuple[str, str], ...]:
    """A short readable diff of an event's ``changes``: old -> new figures, + and -
    paragraphs, names; one line each, a few of each kind."""
    if not isinstance(changes, dict):
        return ()
    if not changes.get("available"):
        reason = str(changes.get("reason"))
        return ((f"(no diff: {_WHY.get(reason, reason)})", "dim"),)
    out: list[tuple[str, str]] = []

    def some(items: list[Any], line: Any, style: str) -> None:
        for item in items[:_DIFF_ITEMS]:
            out.append((line(item), style))
        if len(items) > _DIFF_ITEMS:
            out.append((f"  … {len(items) - _DIFF_ITEMS} more", "dim"))

    head = changes.get("headline")
    if isinstance(head, dict):
        out.append((f"headline: {_truncate(str(head.get('old')), 36)} -> "
                    f"{_truncate(str(head.get('new')), 36)}", "yellow"))
    some(changes.get("figures") or [],
         lambda f: f"{f.get('old') or '(none)'} -> {f.get('new') or '(none)'}", "bold yellow")
    paragraphs = changes.get("paragraphs") or {}
    some(paragraphs.get("changed") or [],
         lambda c: f"~ [{c['at']}] {_truncate(c['new'], TEXT_WIDTH - 6)}", "yellow")
    some(paragraphs.get("added") or [],
         lambda c: f"+ [{c['at']}] {_truncate(c['text'], TEXT_WIDTH - 6)}", "green")
    some(paragraphs.get("removed") or [],
         lambda c: f"- [{c['at']}] {_truncate(c['text'], TEXT_WIDTH - 6)}", "red")
    names = changes.get("names") or {}
    added, removed = names.get("added") or [], names.get("removed") or []
    if added or removed:
        out.append((_truncate(" ".join([*(f"+{n}" for n in added), *(f"-{n}" for n in removed)]),
                              TEXT_WIDTH), "cyan"))
    if changes.get("material") is False:
        out.append(("(not material: whitespace, punctuation or typo fixes)", "dim"))
    return tuple(out)


def _short(value: object) -> str:
    return str(value)[:8] if value else "-"


def _truncate(text: str, width: int = TEXT_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _headers(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    return {k.lower(): (v or b"").decode("utf-8", "replace") for k, v in headers or ()}


def describe(value: bytes | None, key: bytes | None,
             headers: Sequence[tuple[str, bytes]] | None) -> Line:
    """What a record of the output, duplicates or dead-letter topic says, in one line."""
    hdrs = _headers(headers)
    size = len(value or b"")
    if "wirefeed-reason" in hdrs:
        src_topic = hdrs.get("wirefeed-source-topic", "?")
        src = (f"{src_topic}:{hdrs.get('wirefeed-source-partition', '?')}"
               f"@{hdrs.get('wirefeed-source-offset', '?')}")
        key_text = key.decode("utf-8", "replace") if key is not None else None
        raw: dict[str, Any] = {
            "event_type": "dead_letter", "reason": hdrs["wirefeed-reason"],
            "error": hdrs.get("wirefeed-error"), "size": size, "key": key_text,
            "source": {"topic": hdrs.get("wirefeed-source-topic"),
                       "partition": hdrs.get("wirefeed-source-partition"),
                       "offset": hdrs.get("wirefeed-source-offset")},
            "value_b64": base64.b64encode(value).decode() if value is not None else None,
        }
        return Line("dead_letter", (
            (hdrs["wirefeed-reason"], "bold red"), (f"{size} B", ""),
            (f"key={key_text}" if key_text else "", "dim"), (src, "dim"),
            (_truncate(hdrs.get("wirefeed-error", ""), 60), "dim"),
        ), raw)
    try:
        event = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        event = None
    if not isinstance(event, dict) or "event_type" not in event:
        return Line("record", ((f"{size} B, not a wirefeed event", "dim"),),
                    {"event_type": None, "size": size})
    story = event.get("story") or {}
    located, agency = story.get("located"), story.get("dateline_agency")
    dateline = f"{located} ({agency})" if located and agency else located or agency or "-"
    text = story.get("headline") or story.get("lede") or ""
    link = ""
    if event.get("supersedes"):
        link = f"supersedes {_short(event['supersedes'])}"
    elif event.get("duplicate_of"):
        sim = event.get("similarity")
        detail = event.get("reason") or "?"
        if isinstance(sim, float) and sim < 1.0:
            detail += f", similarity {sim:.2f}"
        link = f"duplicate_of {_short(event['duplicate_of'])} ({detail})"
    # the event's own id, not its story's: a story's first event id is its story id, so a
    # new version showed as "a5d18f29 ... supersedes a5d18f29"; with the event id each line
    # names itself and its link points at the line it replaces or repeats
    return Line(str(event["event_type"]), (
        (_short(event.get("event_id")), "bold"), (dateline, "blue"),
        (_truncate(text) if text else "(no headline)", ""), (link, "italic"),
    ), event, diff_lines(event.get("changes")))


def _print(line: Line, *, as_json: bool, console: Any) -> None:
    if as_json:
        click.echo(orjson.dumps(line.raw).decode())
    elif console is not None:
        console.print(line.rich(), soft_wrap=True, highlight=False)
    else:
        click.echo(line.plain())


async def _assign(consumer: Any, topic: str, wait_s: float) -> list[Any]:
    from aiokafka import TopicPartition

    deadline = time.monotonic() + wait_s
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            return tps
        if time.monotonic() >= deadline:
            raise click.ClickException(f"topic {topic} does not exist (waited {wait_s:.0f} s)")
        with contextlib.suppress(Exception):
            await consumer._client.force_metadata_update()
        await asyncio.sleep(0.3)


async def _tail(kafka: dict[str, Any], topic: str, *, from_beginning: bool,
                types: set[str], as_json: bool, max_records: int | None,
                timeout: float | None, wait_s: float) -> int:
    from aiokafka import AIOKafkaConsumer

    console = None
    if sys.stdout.isatty() and not as_json:
        from rich.console import Console

        console = Console()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    from aiokafka.errors import KafkaError

    consumer = AIOKafkaConsumer(
        group_id=None, enable_auto_commit=False, isolation_level="read_committed",
        auto_offset_reset="earliest" if from_beginning else "latest",
        max_partition_fetch_bytes=16 * 1024 * 1024, **kafka,
    )
    try:
        await consumer.start()
    except KafkaError as exc:
        with contextlib.suppress(Exception):
            await consumer.stop()
        raise click.ClickException(
            f"cannot reach the broker at {kafka.get('bootstrap_servers')}: {exc!r}") from None
    shown = 0
    try:
        tps = await _assign(consumer, topic, wait_s)
        if from_beginning:
            await consumer.seek_to_beginning(*tps)
        else:
            await consumer.seek_to_end(*tps)
        last_new = time.monotonic()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=300, max_records=500)
            records = sorted((r for rs in batch.values() for r in rs),
                             key=lambda r: (r.timestamp, r.partition, r.offset))
            if records:
                last_new = time.monotonic()
            for rec in records:
                line = describe(rec.value, rec.key, rec.headers)
                if types and line.type not in types:
                    continue
                _print(line, as_json=as_json, console=console)
                shown += 1
                if max_records is not None and shown >= max_records:
                    return shown
            if timeout is not None and time.monotonic() - last_new >= timeout:
                break
    finally:
        await consumer.stop()
    return shown


@click.command("tail")
@click.option("--topic", required=True,
              help="Output, duplicates or dead-letter topic (e.g. wire.stories, wire.dlq).")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest record, not the end.")
@click.option("--type", "types", multiple=True, type=click.Choice(TYPES),
              help="Only these event types (repeatable).")
@click.option("--json", "as_json", is_flag=True,
              help="Raw events, one JSON object a line (dead letters: reason, size, value_b64).")
@click.option("--max", "max_records", type=click.IntRange(min=1), default=None,
              help="Exit after printing this many records.")
@click.option("--timeout", type=click.FloatRange(min=0), default=None,
              help="Exit after this many seconds without a new record (default: follow).")
@click.option("--bootstrap-servers", default=None,
              help="Kafka bootstrap servers [env WIREFEED_BOOTSTRAP_SERVERS].")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to wait for the topic to exist.")
def tail(topic: str, from_beginning: bool, types: tuple[str, ...], as_json: bool,
         max_records: int | None, timeout: float | None, bootstrap_servers: str | None,
         wait_s: float) -> None:
    """Print the events of a wirefeed topic as they are committed.

    One line a record: type, story id (short), dateline, headline or lede,
    and the link to the version it supersedes or the original it duplicates,
    with a short diff under a new version or near duplicate (old -> new
    figures, + and - paragraphs, names); for dead letters the reason, size,
    key and source coordinates. Colour only on a terminal. Ctrl-C exits.
    """
    try:
        settings = load({"bootstrap_servers": bootstrap_servers})
    except ConfigError as exc:
        click.echo(f"wirefeed tail: invalid configuration: {exc.message}", err=True)
        sys.exit(2)
    # aiokafka logs every failed connection attempt; the one error that matters is ours
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    asyncio.run(_tail(settings.kafka_common(), topic, from_beginning=from_beginning,
                      types=set(types), as_json=as_json, max_records=max_records,
                      timeout=timeout, wait_s=wait_s))
