"""The worker's dedup state: the index, the memo of its own writes, restore, following.

One object owns the index; the :class:`~consumer.pipeline.Pipeline` reads it
through :attr:`StateStore.index`, so a bulk restore replaces the index in one
place and nobody swaps it from outside. The rule it keeps: no record is decided
on an index not known to match the committed changelog. After an abort the
index may hold entries of the aborted records, so :meth:`StateStore.invalidate`
marks it stale and the worker decides nothing until :meth:`StateStore.restore`
succeeds.
"""

from __future__ import annotations

import collections
from typing import Any

from aiokafka import AIOKafkaConsumer

from consumer import log
from consumer.changelog import Change, ChangelogFollower
from consumer.dedup import Index
from consumer.dedup.state import FORMAT_VERSION
from consumer.metrics import Metrics

# Own changelog writes remembered until the follower reads them back; past this many
# keys the memo is dropped, which only means re-applying, as without it.
OWN_WRITES_MAX = 200_000


class StaleStateError(RuntimeError):
    """A restore ended, but the index no longer matches the changelog (restore again)."""


class StateStore:
    """The index and how it stays equal to the committed changelog."""

    def __init__(self, window_ms: int, max_entries: int, metrics: Metrics | None = None,
                 memo_max: int = OWN_WRITES_MAX) -> None:
        self.index = Index(window_ms=window_ms, max_entries=max_entries)
        self._metrics = metrics or Metrics()
        self._memo: dict[str, collections.deque[bytes | None]] = {}
        self._memo_max = memo_max
        self._follower: ChangelogFollower | None = None

    # --- the memo of own writes ---------------------------------------------
    def wrote(self, key: str, value: bytes | None) -> None:
        """This worker sent ``value`` for ``key`` to the changelog (and applied it already)."""
        if len(self._memo) > self._memo_max:
            self._memo.clear()
        self._memo.setdefault(key, collections.deque()).append(value)

    def forget_writes(self) -> None:
        """Aborted writes never reach the follower: forget them all (re-applying is safe)."""
        self._memo.clear()

    @property
    def remembered(self) -> int:
        """Keys with own writes not yet read back."""
        return len(self._memo)

    def apply(self, key: str, value: bytes | None) -> None:
        """Apply a changelog record, unless it is this worker's own, already applied write.

        The follower reads every committed changelog record, this worker's own
        included, which the pipeline applied at processing time; re-applying them
        (decode, remove, re-insert) costs a share of the worker's CPU
        (bench/ROUNDS.md). A record is skipped only when it equals the oldest own
        write still pending for its key; a record from anyone else drops the
        key's pending writes, so from there on the key follows the log order.
        """
        pending = self._memo.get(key)
        if pending:
            if pending[0] == value:
                pending.popleft()
                if not pending:
                    del self._memo[key]
                return
            del self._memo[key]
        self.index.apply(key, value)
        if self.index.unreadable:
            self._report_unreadable()

    def _report_unreadable(self) -> None:
        """Count and log changelog entries of another state format dropped as expired
        (what the README's rolling upgrade is about); the index keeps the running totals."""
        unreadable = self.index.unreadable
        for fmt, n in unreadable.items():
            self._metrics.state_entries_unreadable.labels(str(fmt)).inc(n)
        log.get("wirefeed.state").warning("state_entries_unreadable", by_format=dict(unreadable),
                                          reading_format=FORMAT_VERSION)
        unreadable.clear()

    def load(self, changes: list[Change]) -> None:
        """Replace the index by one rebuilt in bulk from the changelog."""
        self._memo.clear()
        self.index = Index.restore(changes, window_ms=self.index.window_ms,
                                   max_entries=self.index.max_entries)
        if self.index.unreadable:
            self._report_unreadable()
        self._metrics.state_entries.set(len(self.index))

    # --- the changelog ------------------------------------------------------
    async def connect(self, topic: str, kafka: dict[str, Any],
                      consumer: AIOKafkaConsumer | None = None) -> None:
        """Attach to the changelog topic (no restore yet); ``consumer``: see the follower."""
        follower = ChangelogFollower(topic, self.load, self.apply, self._metrics, kafka,
                                     consumer)
        try:
            await follower.start()
        except BaseException:
            await follower.stop()
            raise
        self._follower = follower

    @property
    def restored(self) -> bool:
        """The index matches the committed changelog (restored, following, not invalidated)."""
        return self._follower is not None and self._follower.restored

    def invalidate(self) -> None:
        """The index may hold writes that never committed: stale until the next restore."""
        self.forget_writes()
        if self._follower is not None:
            self._follower.invalidate()

    async def restore(self) -> float:
        """Rebuild the index from the changelog; raises if it fails, or if the index was
        invalidated again meanwhile (it stays stale either way)."""
        assert self._follower is not None, "connect() first"
        took = await self._follower.restore()
        if not self._follower.restored:
            raise StaleStateError("the dedup state was invalidated during its restore")
        return took

    async def close(self) -> None:
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None
