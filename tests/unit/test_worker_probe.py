"""The readiness probe's broker question, against a stub client (the real broker: test_worker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from consumer.health import ask_brokers


@dataclass(frozen=True)
class _Broker:
    nodeId: int  # noqa: N815 - aiokafka's BrokerMetadata field name


@dataclass
class _Cluster:
    ids: list[int]

    def brokers(self) -> set[_Broker]:
        return {_Broker(i) for i in self.ids}


@dataclass
class _Response:
    brokers: list[int]
    topics: list[Any] = field(default_factory=list)


@dataclass
class _Client:
    """Brokers ``down`` refuse the connection; the others answer with the broker list."""

    ids: list[int]
    down: set[int]
    asked: list[tuple[int, list[str] | None]] = field(default_factory=list)

    @property
    def cluster(self) -> _Cluster:
        return _Cluster(self.ids)

    async def send(self, node: int, request: Any) -> _Response:
        self.asked.append((node, request._topics))
        if node in self.down:
            raise KafkaConnectionError(f"connection to {node} refused")
        return _Response(brokers=list(self.ids))


def _ask(client: _Client) -> Any:
    return asyncio.run(ask_brokers(client))


@pytest.mark.parametrize("attempt", range(12))  # the order is random: cover the orders
def test_one_broker_down_of_three_keeps_the_worker_ready(attempt: int) -> None:
    client = _Client([1, 2, 3], down={2})
    response = _ask(client)
    assert response.brokers == [1, 2, 3]
    assert client.asked[-1][0] != 2
    assert all(topics == [] for _, topics in client.asked)  # the broker list, no topic


def test_no_broker_answering_fails_with_every_reason() -> None:
    client = _Client([1, 2, 3], down={1, 2, 3})
    with pytest.raises(KafkaConnectionError) as info:
        _ask(client)
    assert sorted(node for node, _ in client.asked) == [1, 2, 3]
    for node in (1, 2, 3):
        assert f"connection to {node} refused" in str(info.value)


def test_no_broker_known_fails() -> None:
    with pytest.raises(KafkaConnectionError, match="none known"):
        _ask(_Client([], down=set()))
