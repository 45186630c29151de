"""Readiness without a broker: each reason in turn, and the progress bound (a commit that
hangs on a partition without a leader, a loop that stopped turning)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from consumer.config import load
from consumer.health import Health
from consumer.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _health(clock: Clock, commit_since: list[float | None]) -> tuple[Health, dict[str, bool]]:
    flags = {"restored": False}
    health = Health(Metrics(CollectorRegistry()), 60.0, restored=lambda: flags["restored"],
                    commit_since=lambda: commit_since[0], clock=clock)
    return health, flags


def test_each_reason_in_turn() -> None:
    clock = Clock()
    health, flags = _health(clock, [None])
    assert health.readiness() == (False, "restoring dedup state")
    flags["restored"] = True
    assert health.readiness() == (False, "broker unreachable")
    health.broker_ok = True
    health.recovering = True
    assert health.readiness() == (False, "recovering from a failed transaction")
    health.recovering = False
    assert health.readiness() == (False, "waiting for partition assignment")
    health.assigned_once = True
    assert health.readiness() == (True, "ready")


def test_a_commit_without_progress_past_the_bound_makes_the_worker_not_ready() -> None:
    clock = Clock()
    since: list[float | None] = [None]
    health, flags = _health(clock, since)
    flags["restored"] = health.broker_ok = health.assigned_once = True
    since[0] = clock.now
    clock.now += 59
    health.turned()  # other turns may go on (at-least-once commits in the background)
    assert health.readiness()[0]
    clock.now += 2
    ok, why = health.readiness()
    assert not ok
    assert why.startswith("a commit has not finished for 61")
    since[0] = None  # it finished
    assert health.readiness()[0]


def test_a_loop_that_stopped_turning_makes_the_worker_not_ready() -> None:
    clock = Clock()
    health, flags = _health(clock, [None])
    flags["restored"] = health.broker_ok = health.assigned_once = True
    health.turned()
    clock.now += 61
    ok, why = health.readiness()
    assert not ok
    assert why.startswith("the loop has not turned for 61")
    health.turned()
    assert health.readiness()[0]


def test_the_bound_is_a_setting_defaulting_to_the_transaction_timeout() -> None:
    from consumer.commit import TRANSACTION_TIMEOUT_MS

    assert load({}, environ={}).progress_timeout_s == TRANSACTION_TIMEOUT_MS / 1000
    assert load({}, environ={"WIREFEED_PROGRESS_TIMEOUT_S": "5"}).progress_timeout_s == 5.0
