"""SASL against a real broker: PLAIN and SCRAM work; a wrong password is not ready, no crash."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from consumer.devtools.broker import Cluster
from tests.integration.worker_helpers import InProcessWorker, make_topics
from tests.kafka_helpers import KafkaHelper

pytestmark = pytest.mark.integration

USER, PASSWORD = "wirefeed", "s3cret-Pa55"


@pytest.fixture(scope="module")
async def sasl_cluster() -> AsyncIterator[Cluster]:
    cluster = Cluster(nodes=1, sasl_users={USER: PASSWORD})
    await asyncio.to_thread(cluster.start)
    try:
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_worker_over_sasl(
    sasl_cluster: Cluster, mechanism: str, unique_name: Callable[[str], str], shared_dir: Path
) -> None:
    kafka = KafkaHelper(sasl_cluster.bootstrap_servers)  # admin and checks over PLAINTEXT
    try:
        topics = await make_topics(kafka, unique_name)
        settings = topics.settings(
            sasl_cluster.sasl_bootstrap_servers, unique_name("g"),
            security_protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism,
            sasl_username=USER, sasl_password=PASSWORD,
        )
        seed = next((shared_dir / "seeds").glob("*.txt")).read_bytes()
        async with InProcessWorker(settings):
            await kafka.produce(topics.input, [seed])
            (record,) = await kafka.consume_all(topics.output, expected=1)
        assert orjson.loads(record.value)["story"]["located"] == "KIEW"
    finally:
        await kafka.close()


async def test_wrong_password_is_not_ready_and_stops_cleanly(
    sasl_cluster: Cluster, unique_name: Callable[[str], str], caplog: pytest.LogCaptureFixture,
) -> None:
    kafka = KafkaHelper(sasl_cluster.bootstrap_servers)
    try:
        topics = await make_topics(kafka, unique_name)
    finally:
        await kafka.close()
    settings = topics.settings(
        sasl_cluster.sasl_bootstrap_servers, unique_name("g"),
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256",
        sasl_username=USER, sasl_password="wrong-password-xyz",
    )
    worker = InProcessWorker(settings)
    worker.task = asyncio.create_task(worker.worker.run())
    await asyncio.sleep(6)
    assert not worker.task.done(), "a rejected login must not end the worker"
    ready, why = worker.worker.readiness()
    assert not ready
    assert why == "broker unreachable: sasl_authentication_failed"
    assert worker.counter("wirefeed_broker_connection_failures_total",
                          reason="sasl_authentication_failed") >= 1
    assert await worker.stop() == 0
    assert "wrong-password-xyz" not in caplog.text
