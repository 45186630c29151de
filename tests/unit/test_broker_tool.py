"""The local broker tool's pure parts (the broker itself is exercised by every integration test)."""

from __future__ import annotations


def test_local_broker_cluster_ids_never_look_like_an_option() -> None:
    from consumer.devtools.broker import _cluster_id

    ids = [_cluster_id() for _ in range(5000)]
    assert not any(i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)
