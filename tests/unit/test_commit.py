"""The commit policies without a broker: a fake producer and consumer through the public verbs.

What must hold whatever the broker does: a transaction commits only after every
send in it is acknowledged (aiokafka commits one whose produce batch expired), a
failed send aborts instead, offsets of at-least-once commit only after their
sends, and a failed send's error is retrieved and logged once, not left for
asyncio to print.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError, ProducerFenced
from structlog.testing import capture_logs

from consumer.commit import (
    Committed,
    OffsetCommits,
    Transactions,
    UnacknowledgedSendError,
    discard_sends,
)

TP0 = TopicPartition("in", 0)
TP1 = TopicPartition("in", 1)


class FakeProducer:
    """Records the calls; each send returns a future the test resolves."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.sent: list[asyncio.Future[Any]] = []
        self.fail_abort: Exception | None = None

    async def begin_transaction(self) -> None:
        self.calls.append("begin")

    async def send(self, topic: str, value: bytes | None, *, key: bytes | None = None,
                   headers: Any = None) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append(future)
        self.calls.append(f"send {topic}")
        return future

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        self.calls.append("offsets")

    async def commit_transaction(self) -> None:
        self.calls.append("commit")

    async def abort_transaction(self) -> None:
        self.calls.append("abort")
        if self.fail_abort is not None:
            raise self.fail_abort

    async def stop(self) -> None:
        self.calls.append("stop")


class FakeConsumer:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.committed: list[dict[TopicPartition, Any]] = []

    async def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.calls.append("offset-commit")
        self.committed.append(offsets)


@pytest.fixture
def calls() -> list[str]:
    return []


def _transactions(calls: list[str], done: list[Committed]) -> tuple[Transactions,
                                                                     list[FakeProducer]]:
    producers: list[FakeProducer] = []

    async def start(tp: TopicPartition) -> Any:
        calls.append(f"init {tp.partition}")
        producers.append(FakeProducer(calls))
        return producers[-1]

    return Transactions(100, done.append, "group", start), producers


async def _one_record(policy: Any, tp: TopicPartition, offset: int = 7) -> None:
    batch = policy.batches[tp]
    producer = await policy.begin(batch, None)
    await policy.send(batch, producer, "out", b"event", b"key", [])
    await policy.send(batch, producer, "state", b"entry", b"k", [])
    policy.record(batch, offset, 1_000, "story.created")


async def test_a_transaction_commits_only_after_every_send_is_acknowledged(
    calls: list[str],
) -> None:
    done: list[Committed] = []
    policy, producers = _transactions(calls, done)
    await policy.add(TP0)
    await _one_record(policy, TP0)
    commit = asyncio.create_task(policy.commit_due(force=True))
    await asyncio.sleep(0.01)
    assert "commit" not in calls, "committed while a send was unacknowledged"
    for future in producers[0].sent:
        future.set_result(None)
    assert await commit is True
    assert calls[-1] == "commit"
    assert [(d.tp, d.timestamps, dict(d.kinds)) for d in done] == [
        (TP0, [1_000], {"story.created": 1})]
    assert policy.pending() == 0


@pytest.mark.parametrize("error", [KafkaTimeoutError(), ProducerFenced()],
                         ids=["expired", "fenced"])
async def test_a_failed_send_fails_the_commit_and_the_abort_drops_it(
    calls: list[str], error: Exception,
) -> None:
    done: list[Committed] = []
    policy, producers = _transactions(calls, done)
    await policy.add(TP0)
    await _one_record(policy, TP0)
    producers[0].sent[0].set_exception(error)  # the other send never answers
    with pytest.raises(UnacknowledgedSendError):
        await policy.commit_due(force=True)
    assert "commit" not in calls
    assert done == []
    assert await policy.abort() == 1
    assert calls[-2:] == ["abort", "stop"], "a producer whose send failed is not reused"
    assert policy.pending() == 0
    assert calls.count("init 0") == 1, "an abort alone must not re-initialise (and fence)"
    await policy.ready(policy.batches[TP0])
    assert calls.count("init 0") == 2


async def test_an_abort_after_clean_sends_keeps_the_producer(calls: list[str]) -> None:
    policy, producers = _transactions(calls, [])
    await policy.add(TP0)
    await _one_record(policy, TP0)
    for future in producers[0].sent:
        future.set_result(None)
    await policy.abort()
    assert calls[-1] == "abort"
    assert "stop" not in calls


async def test_due_batches_commit_together_once_the_oldest_is_due(calls: list[str]) -> None:
    done: list[Committed] = []
    policy, producers = _transactions(calls, done)
    for tp in (TP0, TP1):
        await policy.add(tp)
        await _one_record(policy, tp)
    for producer in producers:
        for future in producer.sent:
            future.set_result(None)
    assert await policy.commit_due() is False  # not due yet: the interval is 100 ms
    assert policy.until_due_ms() <= 100
    await asyncio.sleep(0.11)
    assert await policy.commit_due() is True
    assert sorted(d.tp.partition for d in done) == [0, 1]
    assert calls.count("commit") == 2


async def test_a_fenced_producer_is_replaced_only_when_readied_again(calls: list[str]) -> None:
    policy, producers = _transactions(calls, [])
    await policy.add(TP0)
    await _one_record(policy, TP0)
    producers[0].fail_abort = ProducerFenced()
    await policy.abort()
    assert "stop" in calls  # the fenced producer is closed, not reused
    assert calls.count("init 0") == 1, "an abort alone must not re-initialise (and fence)"
    await policy.ready(policy.batches[TP0])
    assert calls.count("init 0") == 2


async def test_at_least_once_commits_offsets_after_the_sends_in_the_background(
    calls: list[str],
) -> None:
    done: list[Committed] = []
    producer = FakeProducer(calls)
    consumer = FakeConsumer(calls)
    policy = OffsetCommits(100, done.append, consumer, producer)  # type: ignore[arg-type]
    await policy.add(TP0)
    await _one_record(policy, TP0, offset=41)
    assert await policy.commit_due(force=False) is False
    await asyncio.sleep(0.11)
    assert await policy.commit_due() is True  # handed to the background
    assert policy.pending() == 1
    assert policy.commit_running_since() is not None
    await asyncio.sleep(0.01)
    assert consumer.committed == []
    for future in producer.sent:
        future.set_result(None)
    await policy.settle()
    assert consumer.committed[0][TP0].offset == 42
    assert policy.pending() == 0
    assert [d.timestamps for d in done] == [[1_000]]


async def test_at_least_once_never_commits_past_a_failed_send(calls: list[str]) -> None:
    producer = FakeProducer(calls)
    consumer = FakeConsumer(calls)
    policy = OffsetCommits(100, lambda _: None, consumer, producer)  # type: ignore[arg-type]
    await policy.add(TP0)
    await _one_record(policy, TP0)
    await policy.commit_due(force=False)
    await asyncio.sleep(0.11)
    await policy.commit_due()
    producer.sent[0].set_exception(KafkaTimeoutError())
    await asyncio.sleep(0.01)
    with pytest.raises(UnacknowledgedSendError):
        policy.check()
    assert consumer.committed == []
    await policy.abort()
    assert policy.pending() == 0


def _never_retrieved(discard: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """Fail 15 sends (a fenced producer fails them all), discarded or not; what asyncio
    then reports as never retrieved, and what was logged."""
    reported: list[str] = []

    async def run() -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: reported.append(str(context["message"])))
        futures: list[asyncio.Future[Any]] = [loop.create_future() for _ in range(15)]
        with capture_logs() as logs:
            if discard:
                discard_sends(futures)
            for future in futures:
                future.set_exception(ProducerFenced())
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        futures.clear()
        del future
        gc.collect()
        await asyncio.sleep(0)
        return logs

    logs = asyncio.run(run())
    return reported, logs


def test_discarded_sends_are_retrieved_and_logged_once_by_kind() -> None:
    reported, _ = _never_retrieved(discard=False)
    assert any("never retrieved" in r for r in reported)  # what the worker used to print
    reported, logs = _never_retrieved(discard=True)
    assert not reported
    failed = [e for e in logs if e["event"] == "send_discarded"]
    assert len(failed) == 1
    assert failed[0]["error_type"] == "ProducerFenced"
