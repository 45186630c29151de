"""Shared fixtures: a real Kafka broker for the whole session, unique topics per test.

The broker is started once per test session by :mod:`consumer.devtools.broker`
(KRaft, loopback, jars from Maven Central) unless ``WIREFEED_TEST_BOOTSTRAP``
points at an existing broker. There is no mock: a test that needs Kafka gets
a real one or fails; it is never skipped for want of a broker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.kafka_helpers import KafkaHelper

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The real data beside the checkout (``../shared``); its absence is an error."""
    if not (SHARED / "data").is_dir():
        pytest.fail(f"real test data missing: expected {SHARED}/data beside the checkout")
    return SHARED


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    """Compile the numba kernels (dedup index, language detector, key hash) once, here,
    into their on-disk cache: in a fresh checkout every worker subprocess a test starts
    would otherwise compile them itself (about 7 s, several at once in the chaos tests)."""
    from consumer.worker import warm_process

    warm_process()


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[object]:
    """The session's Kafka cluster object (None when an external broker is used)."""
    if os.environ.get("WIREFEED_TEST_BOOTSTRAP"):
        yield None
        return
    from consumer.devtools.broker import Cluster

    cluster = Cluster(nodes=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def bootstrap(kafka_cluster: object) -> str:
    """Bootstrap servers of the session broker."""
    external = os.environ.get("WIREFEED_TEST_BOOTSTRAP")
    if external:
        return external
    from consumer.devtools.broker import Cluster

    assert isinstance(kafka_cluster, Cluster)
    return kafka_cluster.bootstrap_servers


@pytest.fixture
async def kafka(bootstrap: str) -> AsyncIterator[KafkaHelper]:
    """Producer/consumer/admin helpers bound to the session broker; cleans up its clients."""
    helper = KafkaHelper(bootstrap)
    try:
        yield helper
    finally:
        await helper.close()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Topic/group names unique to one test, readable in broker logs."""
    base = request.node.name.replace("[", "-").replace("]", "")[:40]

    def make(kind: str) -> str:
        return f"{kind}.{base}.{uuid.uuid4().hex[:8]}"

    return make


TopicFactory = Callable[..., Awaitable[str]]


@pytest.fixture
def new_topic(kafka: KafkaHelper, unique_name: Callable[[str], str]) -> TopicFactory:
    """Create a fresh topic for this test: ``await new_topic("in", partitions=3)``."""

    async def create(kind: str = "t", partitions: int = 1, **config: str) -> str:
        name = unique_name(kind)
        await kafka.create_topic(name, partitions=partitions, config=config)
        return name

    return create
