"""The per-story state entry and its compact binary encoding.

One entry a story *version* (each created/updated/corrected event), keyed by
its exact fingerprint: the changelog topic is compacted on that key, so Kafka
keeps one record a version, and a tombstone (``None``) evicts it.

Why a hand-rolled ``struct`` layout rather than orjson: the entry is mostly
fixed-width binary (fingerprint, ids, a 256-byte signature, 32-bit fact
hashes); JSON would base64 or list them and triple the size, and decoding 1M
entries on restore is dominated by per-entry work, which ``struct`` keeps to one
``unpack_from`` and two slices.

Layout (little-endian), version byte first so the format can evolve::

    B   format version (2)
    16s fingerprint     16s story_id     16s event_id
    q   event time (ms)     I shingle count     i version (-1 = none)
    B   flags bits          H fact count        B agency-id length
    256s signature (128 x uint16)
    agency id (utf-8)       fact hashes (count x uint32)
    text: the rest of the entry (format 2 on), what :mod:`consumer.diff` needs of
          this version to say what the next one changed (see ``diff.snapshot``);
          empty when not kept

Format versions, and what a reader does with each (:func:`upgrade`):

* 1: format 2 without the text (the layout before the ``changes`` object):
  converted by rewriting the version byte, as an entry that kept no text;
* 2: the current format, read as is;
* any other: not readable here (a newer worker's, or garbage): treated as
  expired (the caller counts it by version and logs it), never a crash. A
  change of the signature's algorithm (issue 22's compiled MinHash) makes a
  new version whose reader maps the older versions to ``None`` (incomparable
  signatures), or to a converted entry where the old one can be re-derived.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from consumer.dedup.fingerprint import NUM_PERM, Signature

FORMAT_VERSION = 2
# what this reader converts, and how: version -> encoded entry -> current encoding or None
_CONVERT: dict[int, Callable[[bytes], bytes | None]] = {
    1: lambda data: bytes((FORMAT_VERSION,)) + data[1:],
}
_HEAD = struct.Struct("<B16s16s16sqIiBHB")
_SIG_BYTES = NUM_PERM * 2
HEAD_SIZE = _HEAD.size + _SIG_BYTES  # the fixed-size prefix of every entry
# the same prefix as a numpy record, to decode many entries at once (Index.restore)
HEAD_DTYPE = np.dtype(
    {
        "names": ["format", "fp", "story", "event", "time", "count", "version", "flags",
                  "nfacts", "alen", "sig"],
        "formats": ["u1", ("u1", (16,)), ("u1", (16,)), ("u1", (16,)), "<i8", "<u4", "<i4",
                    "u1", "<u2", "u1", ("<u2", (NUM_PERM,))],
        "offsets": [0, 1, 17, 33, 49, 57, 61, 65, 66, 68, _HEAD.size],
        "itemsize": HEAD_SIZE,
    }
)

FLAG_CORRECTION = 1
FLAG_UPDATE = 2
FLAG_REPEAT = 4


@dataclass(frozen=True, slots=True)
class StateEntry:
    """What the dedup index keeps about one story version."""

    fingerprint: bytes
    story_id: str  # 32 hex chars: the event id of the story's first event
    event_id: str  # 32 hex chars: the event this version produced
    event_time_ms: int
    signature: Signature
    shingle_count: int
    facts: npt.NDArray[np.uint32]
    agency_id: str | None = None
    version: int | None = None
    flags: int = 0
    text: bytes = b""  # the version's snapshot for diffs (consumer.diff), b"" = not kept

    @property
    def key(self) -> str:
        """Changelog key: the exact fingerprint in hex."""
        return self.fingerprint.hex()

    def encode(self) -> bytes:
        aid = (self.agency_id or "").encode("utf-8")[:254]
        head = _HEAD.pack(
            FORMAT_VERSION,
            self.fingerprint,
            bytes.fromhex(self.story_id),
            bytes.fromhex(self.event_id),
            self.event_time_ms,
            self.shingle_count,
            -1 if self.version is None else self.version,
            self.flags,
            len(self.facts),
            len(aid) if self.agency_id is not None else 255,
        )
        return b"".join(
            (
                head,
                self.signature.astype("<u2").tobytes(),
                aid,
                self.facts.astype("<u4").tobytes(),
                self.text,
            )
        )

    def encodes_as_is(self) -> bool:
        """True when ``decode(encode())`` holds the same values as this entry (what
        :meth:`Index.apply_entry` relies on): encode truncates or pads what does not
        fit its fixed layout."""
        sig, facts, aid = self.signature, self.facts, self.agency_id
        return (
            len(self.fingerprint) == 16
            and len(self.story_id) == 32
            and len(self.event_id) == 32
            and sig.dtype == np.uint16
            and sig.shape == (NUM_PERM,)
            and facts.dtype == np.uint32
            and facts.ndim == 1
            and (aid is None or len(aid.encode("utf-8")) <= 254)
        )

    @classmethod
    def decode(cls, data: bytes) -> StateEntry:
        (fmt, fp, sid, eid, t, count, version, flags, nfacts, alen) = _HEAD.unpack_from(data)
        if fmt != FORMAT_VERSION:
            raise UnreadableEntryError(fmt)
        pos = _HEAD.size
        # read-only views on the encoded bytes (little-endian hosts): no copy per entry
        sig = np.frombuffer(data, dtype=np.uint16, count=NUM_PERM, offset=pos)
        pos += _SIG_BYTES
        agency_id: str | None = None
        if alen != 255:
            agency_id = data[pos : pos + alen].decode("utf-8")
            pos += alen
        facts = np.frombuffer(data, dtype=np.uint32, count=nfacts, offset=pos)
        pos += 4 * nfacts
        return cls(
            fingerprint=fp,
            story_id=sid.hex(),
            event_id=eid.hex(),
            event_time_ms=t,
            signature=sig,
            shingle_count=count,
            facts=facts,
            agency_id=agency_id,
            version=None if version == -1 else version,
            flags=flags,
            text=data[pos:],
        )


class UnreadableEntryError(ValueError):
    """An encoded entry of a format this worker cannot read (see :func:`upgrade`)."""

    def __init__(self, version: int) -> None:
        super().__init__(f"unknown state entry format {version}")
        self.version = version


def format_of(data: bytes) -> int:
    """The format version byte of an encoded entry (-1 for an empty value)."""
    return data[0] if data else -1


def upgrade(data: bytes) -> bytes | None:
    """``data`` in the current format: as is, converted, or None when it cannot be read.

    None means "treat as expired": a story whose entry is dropped here may be
    published again as ``story.created`` if re-sent, which is why the README's
    rolling upgrade says when that can happen.
    """
    fmt = format_of(data)
    if fmt == FORMAT_VERSION:
        return data
    convert = _CONVERT.get(fmt)
    return None if convert is None else convert(data)


def upgrade_all(values: list[bytes]) -> tuple[list[bytes], dict[int, int]]:
    """:func:`upgrade` over many values: the readable ones in the same order (converted),
    and how many were dropped, by format version. One byte compare an entry when all
    are current (the restore of a million entries pays ~50 ms for this check)."""
    current = bytes((FORMAT_VERSION,))
    if all(v[:1] == current for v in values):
        return values, {}
    out: list[bytes] = []
    dropped: dict[int, int] = {}
    for v in values:
        up = upgrade(v)
        if up is None:
            fmt = format_of(v)
            dropped[fmt] = dropped.get(fmt, 0) + 1
        else:
            out.append(up)
    return out, dropped
