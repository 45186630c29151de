"""Real stories from ``../shared/data`` rendered as raw wire records for tests.

The text is real (Reuters-21578, German news articles); only the wrapper a
wire service adds (headline line, dateline) is composed, as the data README
allows where the target format has no public corpus.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@functools.cache
def reuters_rows() -> list[dict[str, object]]:
    path = SHARED / "data" / "corpus" / "en_wire.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def reuters_wire(limit: int, *, start: int = 0) -> list[bytes]:
    """Reuters stories (with their real re-sends) as English wire text, in corpus order."""
    out: list[bytes] = []
    for row in reuters_rows()[start:]:
        text = row.get("text")
        if not text:
            continue
        dateline = row.get("dateline") or ""
        title = row.get("title") or ""
        out.append(f"{title}\n\n{dateline} {text}".encode())
        if len(out) >= limit:
            break
    return out
