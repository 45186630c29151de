"""The worker's timing: when a batch counts as opened (the record's own timestamp, within
a cap), and how late its event loop runs."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry

from consumer.commit import opened_at
from consumer.health import watch_loop_lag
from consumer.metrics import Metrics

NOW = 1_000.0  # monotonic seconds
WALL = 1_800_000_000_000.0  # epoch ms


def test_a_record_that_waited_behind_a_commit_opens_its_batch_when_it_arrived() -> None:
    assert opened_at(int(WALL) - 12, 100, NOW, WALL) == pytest.approx(NOW - 0.012)


@pytest.mark.parametrize(
    ("age_ms", "interval_ms", "earlier_s"),
    [
        (5_000, 100, 0.025),  # a backlog or a replay: at most a quarter of the interval
        (60_000, 1_000, 0.25),
        (25, 100, 0.025),
    ],
)
def test_old_records_shorten_the_interval_by_a_quarter_at_most(
    age_ms: int, interval_ms: int, earlier_s: float
) -> None:
    assert opened_at(int(WALL) - age_ms, interval_ms, NOW, WALL) == pytest.approx(NOW - earlier_s)


@pytest.mark.parametrize("ts", [None, 0, -1, int(WALL) + 30_000])
def test_missing_or_future_timestamps_open_the_batch_now(ts: int | None) -> None:
    # -1 is what Kafka reports for a record without a timestamp; a producer's
    # clock ahead of ours must not make the transaction longer either
    assert opened_at(ts, 100, NOW, WALL) == NOW


def test_loop_lag_shows_a_step_that_held_the_loop() -> None:
    metrics = Metrics(CollectorRegistry())

    async def run() -> None:
        watcher = asyncio.create_task(watch_loop_lag(metrics.event_loop_lag, every_s=0.02))
        await asyncio.sleep(0.1)  # a few quiet ticks
        time.sleep(0.3)  # one step that holds the loop  # noqa: ASYNC251
        await asyncio.sleep(0.1)
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher

    asyncio.run(run())
    registry = metrics.registry
    count = registry.get_sample_value("wirefeed_event_loop_lag_seconds_count")
    under = registry.get_sample_value("wirefeed_event_loop_lag_seconds_bucket", {"le": "0.25"})
    late = registry.get_sample_value("wirefeed_event_loop_lag_seconds_sum")
    assert count is not None
    assert under is not None
    assert late is not None
    assert count >= 5
    assert under == count - 1  # one tick held: late by the step less what was left of its 20 ms
    assert late >= 0.28
