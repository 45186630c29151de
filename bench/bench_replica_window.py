"""How long two replicas can miss each other: the cross-replica dedup window.

Each replica holds the whole dedup index, fed by the changelog. A re-send
handled by replica B is caught only once B has applied the original's entry,
which replica A wrote in its transaction. This bench runs two real workers
(in-process, one input partition each) against a local broker, sends real
stories to A's partition, and for each one measures:

* produce -> B knows: the whole window in which a re-send on B's partition
  would be missed (A's processing + commit interval + B's changelog poll);
* commit visible -> B knows: the follower's share alone.

Run: ``.venv/bin/python bench/bench_replica_window.py [--stories 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consumer import log  # noqa: E402
from consumer.dedup import features  # noqa: E402
from consumer.devtools.broker import Cluster  # noqa: E402
from consumer.parse import parse_bytes  # noqa: E402
from tests.corpus import reuters_wire  # noqa: E402
from tests.integration.worker_helpers import InProcessWorker, make_topics  # noqa: E402
from tests.kafka_helpers import KafkaHelper  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(bootstrap: str, stories: int, commit_interval_ms: int) -> dict[str, list[float]]:
    kafka = KafkaHelper(bootstrap)
    counter = iter(range(1_000_000))
    topics = await make_topics(kafka, lambda kind: f"{kind}.window.{next(counter)}", partitions=2)
    settings = topics.settings(bootstrap, "window", commit_interval_ms=commit_interval_ms,
                               session_timeout_ms=6000)
    values, fingerprints = [], []
    for value in reuters_wire(stories * 2, start=3000):
        story = parse_bytes(value)
        fp = features(story.normalized_text, story.body_text).fingerprint
        if fp not in fingerprints:  # a re-send adds no entry: nothing to wait for
            values.append(value)
            fingerprints.append(fp)
    values, fingerprints = values[:stories], fingerprints[:stories]
    to_produce: list[float] = []
    to_commit: list[float] = []
    commit_to_known: list[float] = []
    async with InProcessWorker(settings) as a, InProcessWorker(settings) as b:
        while not (len(a.worker.assignment) == 1 and len(b.worker.assignment) == 1):
            await asyncio.sleep(0.05)
        a_partition = a.worker.assignment[0].partition
        producer = await kafka.producer(acks="all", enable_idempotence=True)
        consumed = 0.0
        for value, fp in zip(values, fingerprints, strict=True):
            started = time.monotonic()
            await producer.send_and_wait(topics.input, value, partition=a_partition)
            consumed += 1
            # A has committed the record when it was consumed and nothing is pending
            while (a.counter("wirefeed_records_consumed_total", topic=topics.input) < consumed
                   or a.worker.pending()):
                await asyncio.sleep(0.001)
            committed = time.monotonic()
            if a.worker.state.index.get(fp) is None:
                continue  # A decided it was a (near) duplicate: no new entry to learn
            while b.worker.state.index.get(fp) is None:
                if time.monotonic() - started > 10:
                    raise RuntimeError("replica B never learned a story: changelog broken?")
                await asyncio.sleep(0.001)
            known = time.monotonic()
            to_produce.append((known - started) * 1000)
            to_commit.append((committed - started) * 1000)
            commit_to_known.append((known - committed) * 1000)
    await kafka.close()
    return {"produce -> B knows": to_produce, "produce -> A committed": to_commit,
            "A committed -> B knows": commit_to_known}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stories", type=int, default=60)
    parser.add_argument("--commit-interval-ms", type=int, default=100)
    args = parser.parse_args()
    log.configure("warning")
    with Cluster(nodes=1) as cluster:
        figures = asyncio.run(measure(cluster.bootstrap_servers, args.stories,
                                      args.commit_interval_ms))
    print(f"cross-replica window, {args.stories} real stories, commit interval "
          f"{args.commit_interval_ms} ms (ms)")
    print(f"{'span':<26}{'p50':>8}{'p90':>8}{'max':>8}")
    for name, values in figures.items():
        print(f"{name:<26}{statistics.median(values):>8.1f}{_pct(values, 0.9):>8.1f}"
              f"{max(values):>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
