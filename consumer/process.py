"""Offline batch mode: Kafka-like records from a file, directory or stdin, events to JSONL.

Runs the same :class:`consumer.pipeline.Pipeline` as the streaming worker, so a
captured topic replayed through ``wirefeed process`` yields the same events.
Contract: one output line per input record, in input order, ``source.offset``
= the record's 0-based line (or file) index; a line that is not a valid record
is a dead letter (``malformed_record``), never a crash. Whitespace-only lines
are not records and produce nothing (their index is still counted, so offsets
stay line numbers).
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

from consumer.errors import Reason, WirefeedError
from consumer.model import RawRecord
from consumer.pipeline import Outcome, Pipeline

DuplicatesMode = Literal["include", "drop"]


@dataclass(frozen=True, slots=True)
class Item:
    """One input record, or the raw bytes of one that could not be read as a record."""

    record: RawRecord
    error: WirefeedError | None = None


def _malformed(raw: bytes, offset: int, why: str) -> Item:
    return Item(
        RawRecord(value=raw, offset=offset),
        WirefeedError(f"malformed record: {why}", reason=Reason.MALFORMED_RECORD),
    )


def record_from_json(raw: bytes, offset: int) -> Item:
    """Parse one JSONL record ``{"key", "value" | "value_b64", "headers", "timestamp"}``."""
    try:
        obj: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _malformed(raw, offset, f"not JSON ({exc})")
    if not isinstance(obj, dict):
        return _malformed(raw, offset, "not a JSON object")
    value: bytes | None
    if "value_b64" in obj:
        if not isinstance(obj["value_b64"], str):
            return _malformed(raw, offset, "value_b64 is not a string")
        try:
            value = base64.b64decode(obj["value_b64"], validate=True)
        except (binascii.Error, ValueError):
            return _malformed(raw, offset, "value_b64 is not base64")
    elif "value" in obj:
        if obj["value"] is not None and not isinstance(obj["value"], str):
            return _malformed(raw, offset, "value is not a string")
        value = obj["value"].encode("utf-8") if obj["value"] is not None else None
    else:
        return _malformed(raw, offset, "no value or value_b64")
    key = obj.get("key")
    if key is not None and not isinstance(key, str):
        return _malformed(raw, offset, "key is not a string")
    headers = obj.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        return _malformed(raw, offset, "headers is not an object of strings")
    ts = obj.get("timestamp")
    if ts is not None and (not isinstance(ts, int) or isinstance(ts, bool)):
        return _malformed(raw, offset, "timestamp is not an integer")
    return Item(
        RawRecord(
            value=value,
            key=key.encode("utf-8") if key is not None else None,
            headers=tuple((k, v.encode("utf-8")) for k, v in headers.items()),
            timestamp_ms=ts,
            offset=offset,
        )
    )


def read_jsonl(stream: Iterable[bytes]) -> Iterator[Item]:
    for offset, line in enumerate(stream):
        if line.strip():
            yield record_from_json(line.rstrip(b"\r\n"), offset)


def read_directory(path: Path) -> Iterator[Item]:
    """One record a file (the file's bytes are the value), in name order; key = file name."""
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    for offset, file in enumerate(files):
        yield Item(
            RawRecord(
                value=file.read_bytes(),
                key=file.name.encode("utf-8"),
                timestamp_ms=int(file.stat().st_mtime * 1000),
                offset=offset,
            )
        )


def count_records(path: Path) -> int | None:
    """Cheap total for the progress bar (lines or files); None when unknown."""
    if path.is_dir():
        return sum(1 for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if path.is_file():
        with path.open("rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return None


@dataclass(slots=True)
class Summary:
    """Counts for the end-of-run line on stderr."""

    records: int = 0
    events: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.records += 1
        self.events[outcome.event_type] += 1
        if outcome.event_type == "story.duplicate":
            self.duplicates[str(outcome.event.get("reason"))] += 1
        elif outcome.event_type == "dead_letter":
            self.dead_letters[str(outcome.event.get("reason"))] += 1

    def line(self) -> str:
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        dups = sum(self.duplicates.values())
        by_reason = ", ".join(f"{k} {v}" for k, v in sorted(self.duplicates.items()))
        return (
            f"records {self.records}, created {self.events['story.created']}, "
            f"updated {self.events['story.updated']}, "
            f"corrected {self.events['story.corrected']}, "
            f"canceled {self.events['story.canceled']}, "
            f"duplicates {dups} ({by_reason or 'none'}), "
            f"dead letters {sum(self.dead_letters.values())}, {rate:.0f} stories/s"
        )


def run(
    items: Iterable[Item],
    pipeline: Pipeline,
    out: BinaryIO,
    *,
    duplicates: DuplicatesMode = "include",
    on_record: Callable[[], None] | None = None,
) -> Summary:
    """Process every item in order, writing one JSON line per record."""
    summary = Summary()
    started = time.perf_counter()
    for item in items:
        if item.error is not None:
            outcome = Pipeline.dead_letter(item.record, item.error)
        else:
            outcome = pipeline.run(item.record)
        summary.add(outcome)
        if not (duplicates == "drop" and outcome.event_type == "story.duplicate"):
            out.write(orjson.dumps(outcome.event))
            out.write(b"\n")
        if on_record is not None:
            on_record()
    out.flush()
    summary.seconds = time.perf_counter() - started
    return summary
