"""Is the worker fit to take records: readiness, the broker probe, the event loop's lag.

Kept apart from the loop so that each signal has one owner and a test: the
loop only reports that it turned (:meth:`Health.turned`), the commit policy
when its commit started, the state store whether it is restored.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.metadata import MetadataRequest
from prometheus_client import Histogram

from consumer import log
from consumer.metrics import Metrics

Clock = Callable[[], float]


class Health:
    """The readiness verdict, from the flags the worker sets and two progress clocks.

    Not ready while the state is not restored, the broker does not answer, a
    failed transaction is being recovered, no partition was ever assigned, or
    for longer than ``stall_s`` the loop has not turned or a commit has not
    finished (a commit can hang on a partition without a leader).
    """

    def __init__(self, metrics: Metrics, stall_s: float, *,
                 restored: Callable[[], bool] = lambda: False,
                 commit_since: Callable[[], float | None] = lambda: None,
                 clock: Clock = time.monotonic) -> None:
        self._metrics = metrics
        self.stall_s = stall_s
        self._restored = restored
        self._commit_since = commit_since
        self._clock = clock
        self._last_turn = clock()
        self.broker_ok = False
        self.recovering = False
        self.assigned_once = False

    def turned(self) -> None:
        """The loop finished one turn (fetched, processed, committed what was due)."""
        self._last_turn = self._clock()

    def readiness(self) -> tuple[bool, str]:
        if not self._restored():
            return False, "restoring dedup state"
        if not self.broker_ok:
            return False, "broker unreachable"
        if self.recovering:
            return False, "recovering from a failed transaction"
        if not self.assigned_once:
            return False, "waiting for partition assignment"
        now = self._clock()
        since = self._commit_since()
        if since is not None and now - since > self.stall_s:
            return False, f"a commit has not finished for {now - since:.0f} s"
        if now - self._last_turn > self.stall_s:
            return False, f"the loop has not turned for {now - self._last_turn:.0f} s"
        return True, "ready"

    def update(self) -> None:
        self._metrics.ready.set(1 if self.readiness()[0] else 0)


async def ask_brokers(client: Any) -> Any:
    """The broker list from the first known broker that answers; raises if none does.

    It asks for no topic, only the brokers: a request for every topic (what
    aiokafka's ``fetch_all_metadata`` sends) costs event-loop time that grows
    with the cluster (bench/ROUNDS.md). Every broker is tried in random order, as
    aiokafka's own metadata update does: one broker of several being down must
    not make the worker not-ready. An empty topic list (protocol version 1 and
    later) means no topic; aiokafka's own helpers turn an empty list into "all".
    """
    nodes = [broker.nodeId for broker in client.cluster.brokers()]
    random.shuffle(nodes)
    failures: list[str] = []
    for node in nodes:
        try:
            response = await client.send(node, MetadataRequest([], allow_auto_topic_creation=False))
        except (KafkaError, OSError, TimeoutError) as exc:
            failures.append(f"{node}: {exc!r}")
            continue
        if response.brokers:
            return response
        failures.append(f"{node}: metadata without brokers")
    raise KafkaConnectionError(f"no broker answered ({'; '.join(failures) or 'none known'})")


async def probe_broker(client: Any, health: Health, every_s: float = 2.0) -> None:
    """Readiness must notice a broker that went away even when no record flows: an idle
    consumer's fetches fail silently inside aiokafka, so a metadata request on the
    consumer's own connection is the signal. Runs until cancelled."""
    logger = log.get("wirefeed.health")
    while True:
        try:
            await asyncio.wait_for(ask_brokers(client), 3)
            health.broker_ok = True
        except Exception:
            if health.broker_ok:
                logger.warning("broker_unreachable")
            health.broker_ok = False
        health.update()
        await asyncio.sleep(every_s)


async def consumer_lag(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                       metrics: Metrics) -> None:
    """Set the records-behind gauge of each partition (from the fetched high watermark)."""
    for tp in tps:
        high = consumer.highwater(tp)
        if high is None:
            continue
        with contextlib.suppress(Exception):
            position = await consumer.position(tp)
            metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))


async def watch_loop_lag(histogram: Histogram, every_s: float = 0.1) -> None:
    """Observe how late a timer of ``every_s`` fires, forever.

    Everything in the worker shares one event loop: while one step runs (a fetch
    being parsed, a slow callback, a throttled CPU quota, the process
    descheduled), fetches, acknowledgements, heartbeats and probes wait. The
    lateness of a regular timer is that wait, seen from inside, at the cost of
    ten wake-ups a second and no per-record bookkeeping.
    """
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + every_s
        await asyncio.sleep(every_s)
        histogram.observe(max(0.0, loop.time() - due))
