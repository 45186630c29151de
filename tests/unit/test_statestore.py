"""The dedup state owner without a broker: the memo of own writes, restores through a fake
changelog consumer (one at a time, each to its own end offsets), and a failed restore that
keeps the worker not ready."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from consumer.health import Health
from consumer.metrics import Metrics
from consumer.model import RawRecord
from consumer.pipeline import Pipeline
from consumer.statestore import StaleStateError, StateStore

TOPIC = "state"


class SpyIndex:
    """Counts what reaches the index."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, bytes | None]] = []
        self.unreadable: dict[int, int] = {}  # what the index dropped by format version

    def apply(self, key: str, value: bytes | None) -> None:
        self.applied.append((key, value))


def _store(memo_max: int = 200_000) -> tuple[StateStore, SpyIndex]:
    store = StateStore(3_600_000, 1000, Metrics(CollectorRegistry()), memo_max=memo_max)
    spy = SpyIndex()
    store.index = spy  # type: ignore[assignment]
    return store, spy


def test_entries_of_an_unreadable_format_are_counted_once() -> None:
    registry = CollectorRegistry()
    store = StateStore(3_600_000, 1000, Metrics(registry))
    spy = SpyIndex()
    store.index = spy  # type: ignore[assignment]
    spy.unreadable[9] = 2  # as if the index had just dropped two format-9 entries
    with capture_logs() as logs:
        store.apply("a", b"x")
        store.apply("b", b"y")
    counted = registry.get_sample_value("wirefeed_state_entries_unreadable_total",
                                        {"format": "9"})
    assert counted == 2.0
    assert spy.unreadable == {}
    assert [e["event"] for e in logs] == ["state_entries_unreadable"]


def test_own_writes_read_back_are_not_applied_again() -> None:
    store, spy = _store()
    store.wrote("a", b"1")
    store.wrote("a", b"2")
    store.apply("a", b"1")
    store.apply("a", b"2")
    assert spy.applied == []
    assert store.remembered == 0
    store.apply("a", b"3")  # someone else's write after ours
    assert spy.applied == [("a", b"3")]


def test_a_foreign_write_drops_the_keys_memo_so_the_log_order_wins() -> None:
    store, spy = _store()
    store.wrote("a", b"mine")
    store.wrote("a", None)  # then a tombstone of mine
    store.apply("a", b"theirs")
    store.apply("a", b"mine")
    store.apply("a", None)
    assert spy.applied == [("a", b"theirs"), ("a", b"mine"), ("a", None)]


def test_forgotten_and_overflowing_memos_only_mean_applying_again() -> None:
    store, spy = _store(memo_max=2)
    store.wrote("a", b"1")
    store.forget_writes()  # an abort: the write never reaches the changelog
    store.apply("a", b"1")
    assert spy.applied == [("a", b"1")]
    for key in "bcde":
        store.wrote(key, b"x")
    assert store.remembered <= 3


def test_the_pipeline_reads_the_index_the_store_holds_now(shared_dir: Path) -> None:
    """A restore replaces the index; the pipeline must decide on the new one."""
    seed = next((shared_dir / "seeds").glob("*.txt")).read_bytes()
    store = StateStore(10 * 365 * 24 * 3_600_000, 1000, Metrics(CollectorRegistry()))
    pipeline = Pipeline(state=store)
    first = pipeline.run(RawRecord(value=seed, topic="in", partition=0, offset=0))
    assert first.event_type == "story.created"
    assert pipeline.process(RawRecord(value=seed, offset=1)).event_type == "story.duplicate"
    store.load([])  # an empty changelog: the first story never committed
    assert pipeline.index is store.index
    assert pipeline.process(RawRecord(value=seed, offset=1)).event_type == "story.created"
    store.load(list(first.changes))
    assert pipeline.process(RawRecord(value=seed, offset=2)).event_type == "story.duplicate"


# --- restores against a fake changelog consumer --------------------------------
@dataclass
class Rec:
    key: bytes
    value: bytes | None


class FakeChangelog:
    """One partition held in memory; ``end_offsets`` can fail or block on demand."""

    def __init__(self, records: list[tuple[str, bytes | None]]) -> None:
        self.tp = TopicPartition(TOPIC, 0)
        self.log = [Rec(k.encode(), v) for k, v in records]
        self.pos = 0
        self.fail_end_offsets = 0
        self.gate: asyncio.Event | None = None
        self.ends: list[int] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def assign(self, tps: list[TopicPartition]) -> None:
        pass

    def assignment(self) -> set[TopicPartition]:
        return {self.tp}

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        self.pos = 0

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        if self.fail_end_offsets:
            self.fail_end_offsets -= 1
            raise ConnectionError("broker away")
        end = len(self.log)
        self.ends.append(end)
        if self.gate is not None:
            await self.gate.wait()
        return {self.tp: end}

    async def position(self, tp: TopicPartition) -> int:
        return self.pos

    async def getmany(self, timeout_ms: int = 0, max_records: int = 0) -> dict[Any, list[Rec]]:
        chunk = self.log[self.pos:self.pos + 2]  # small fetches: restores take turns
        self.pos += len(chunk)
        await asyncio.sleep(0.001 if chunk else timeout_ms / 1000)
        return {self.tp: chunk} if chunk else {}


class RecordingStore(StateStore):
    """Records what each bulk load received."""

    def __init__(self) -> None:
        super().__init__(3_600_000, 1000, Metrics(CollectorRegistry()))
        self.loads: list[list[tuple[str, bytes | None]]] = []
        self.applied: list[str] = []

    def load(self, changes: list[tuple[str, bytes | None]]) -> None:
        self.loads.append(list(changes))

    def apply(self, key: str, value: bytes | None) -> None:
        self.applied.append(key)


async def _connected(log: FakeChangelog, store: StateStore | None = None) -> StateStore:
    store = store or RecordingStore()
    await store.connect(TOPIC, {}, consumer=log)  # type: ignore[arg-type]
    return store


async def _wait(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition never held")


async def test_a_failed_restore_keeps_the_worker_not_ready_until_one_succeeds() -> None:
    log = FakeChangelog([("a", b"1")])
    store = await _connected(log)
    health = Health(Metrics(CollectorRegistry()), 60, restored=lambda: store.restored)
    health.broker_ok = health.assigned_once = True
    log.fail_end_offsets = 2
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await store.restore()
        assert not store.restored
        assert health.readiness() == (False, "restoring dedup state")
    await store.restore()
    assert store.restored
    assert health.readiness() == (True, "ready")
    store.invalidate()  # an abort: the index holds entries that never committed
    assert health.readiness() == (False, "restoring dedup state")
    await store.close()


async def test_restores_take_turns_each_to_its_own_end_offsets() -> None:
    log = FakeChangelog([(f"k{i}", b"v") for i in range(6)])
    store = await _connected(log)
    assert isinstance(store, RecordingStore)
    log.gate = asyncio.Event()
    first = asyncio.create_task(store.restore())
    await _wait(lambda: len(log.ends) == 1)  # the first captured its end (6)
    log.log += [Rec(f"k{i}".encode(), b"v") for i in range(6, 10)]
    second = asyncio.create_task(store.restore())
    await asyncio.sleep(0.01)
    assert len(log.ends) == 1, "a second restore started while the first ran"
    with capture_logs() as logs:
        log.gate.set()
        with pytest.raises(StaleStateError):  # a newer restore was asked for meanwhile
            await first
        assert not store.restored, "ready after the first restore while a second one waits"
        await second
    assert store.restored
    assert log.ends == [6, 10]
    assert [len(load) for load in store.loads] == [6, 10]
    events = [e["event"] for e in logs if e["event"].startswith("state_restore")]
    assert events == ["state_restore_started", "state_restored"] * 2
    await store.close()


async def test_after_a_restore_live_records_are_applied_one_by_one() -> None:
    log = FakeChangelog([("a", b"1")])
    store = await _connected(log)
    assert isinstance(store, RecordingStore)
    await store.restore()
    log.log.append(Rec(b"b", b"2"))
    await _wait(lambda: store.applied == ["b"])
    assert store.loads == [[("a", b"1")]]
    await store.close()


async def test_a_cancelled_restore_leaves_the_state_stale_and_not_followed() -> None:
    log = FakeChangelog([("a", b"1")])
    store = await _connected(log)
    log.gate = asyncio.Event()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(store.restore(), 0.05)
    assert not store.restored
    log.gate = None
    await store.restore()
    assert store.restored
    await store.close()
