"""A changelog replay decoded in bulk, column-wise, for :meth:`Index.restore`.

Why in bulk: restore reads up to a million entries, and building a
:class:`StateEntry` a record would be a million Python objects. Here the replay
is first reduced to the surviving value per key (a replaced or re-added key
moves to the end, as :meth:`Index.add` gives it the newest sequence number);
the fixed-size heads (struct fields + signature) of all survivors are then
joined and read as one numpy structured array, the facts likewise as one
``uint32`` buffer: per entry, Python only slices bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consumer.dedup.state import FORMAT_VERSION, HEAD_DTYPE, HEAD_SIZE, upgrade_all

_TIME_OFFSET = 1 + 16 * 3  # byte offset of the event time in an encoded entry
_TIME = struct.Struct("<q")


@dataclass(frozen=True, slots=True)
class Survivors:
    """What a replay leaves held, in the order :meth:`Index.add` would hold it."""

    head: npt.NDArray[np.void]  # HEAD_DTYPE records, one a survivor
    facts: npt.NDArray[np.uint32]  # every survivor's fact hashes, one after another
    nfacts: npt.NDArray[np.int64]  # how many of them each survivor has
    agency: list[str | None]
    fingerprints: list[bytes]
    stories: list[bytes]
    text: list[bytes]  # each survivor's snapshot for diffs (format 2), b"" when none
    watermark_ms: int | None  # the newest event time the replay saw, removed ones included
    unreadable: dict[int, int]  # entries of another format dropped as expired, by format

    def __len__(self) -> int:
        return len(self.fingerprints)


def decode(changes: Iterable[tuple[str, bytes | None]]) -> Survivors:
    """The surviving entries of a changelog replay; ValueError on a corrupt one."""
    changes = list(changes)
    live: dict[str, bytes] = {}
    dropped: list[bytes] = []
    if all(value is not None for _, value in changes):  # e.g. a compacted changelog
        live = dict(changes)  # type: ignore[arg-type]
    if len(live) < len(changes):  # tombstones or repeated keys: replay in order
        live = {}
        for key, value in changes:
            old = live.pop(key, None)
            if old is not None:
                dropped.append(old)
            if value is not None:
                live[key] = value
    watermark: int | None = None
    for value in dropped:
        (t,) = _TIME.unpack_from(value, _TIME_OFFSET)
        watermark = t if watermark is None else max(watermark, t)
    vals, unreadable = upgrade_all(list(live.values()))
    del live, dropped
    n = len(vals)
    if not n:
        return Survivors(np.zeros(0, dtype=HEAD_DTYPE), np.zeros(0, dtype=np.uint32),
                         np.zeros(0, dtype=np.int64), [], [], [], [], watermark, unreadable)
    lens = np.fromiter(map(len, vals), dtype=np.int64, count=n)
    if int(lens.min()) < HEAD_SIZE:
        raise ValueError("truncated state entry")
    head = np.frombuffer(b"".join([v[:HEAD_SIZE] for v in vals]), dtype=HEAD_DTYPE)
    if (head["format"] != FORMAT_VERSION).any():
        bad = int(head["format"][head["format"] != FORMAT_VERSION][0])
        raise ValueError(f"unknown state entry format {bad}")
    alen = head["alen"].astype(np.int64)
    alen[alen == 255] = 0
    nfacts = head["nfacts"].astype(np.int64)
    ends = HEAD_SIZE + alen + 4 * nfacts  # the text (format 2) is the rest
    if (ends > lens).any():
        raise ValueError("state entry length does not match its header")

    alens = alen.tolist()
    fact_ends = ends.tolist()
    tails = b"".join(
        [v[HEAD_SIZE + a : e] for v, a, e in zip(vals, alens, fact_ends, strict=True)]
    )
    agency: list[str | None] = [None] * n
    for slot in np.flatnonzero(head["alen"] != 255).tolist():
        agency[slot] = vals[slot][HEAD_SIZE : HEAD_SIZE + alens[slot]].decode("utf-8")
    live_max = int(head["time"].max())
    return Survivors(
        head=head,
        facts=np.frombuffer(tails, dtype="<u4"),
        nfacts=nfacts,
        agency=agency,
        fingerprints=[v[1:17] for v in vals],
        stories=[v[17:33] for v in vals],
        text=[v[e:] for v, e in zip(vals, fact_ends, strict=True)],
        watermark_ms=live_max if watermark is None else max(watermark, live_max),
        unreadable=unreadable,
    )
