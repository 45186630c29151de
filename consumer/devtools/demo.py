"""``make demo``: a local broker, the topics, the sample feed, the worker and a live summary.

Grows with the project; today it starts the local KRaft broker and creates the
topics the worker uses, then waits for Ctrl-C (or ``--duration``) and stops
everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time

from consumer.devtools.broker import BrokerError, Cluster

TOPICS: dict[str, dict[str, str]] = {
    "wire.raw": {},
    "wire.stories": {},
    "wire.duplicates": {},
    "wire.dlq": {},
    "wirefeed.state": {"cleanup.policy": "compact"},
}


async def create_topics(bootstrap: str, partitions: int = 3) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(name, partitions, 1, topic_configs=cfg)
            for name, cfg in TOPICS.items() if name not in existing
        ]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop by itself after this many seconds (for CI)")
    args = parser.parse_args(argv)
    cluster = Cluster(nodes=1)
    try:
        print("starting a local Apache Kafka broker (KRaft) ...", flush=True)
        cluster.start()
        asyncio.run(create_topics(cluster.bootstrap_servers))
        print(f"broker: {cluster.bootstrap_servers}; topics: {', '.join(TOPICS)}", flush=True)
        print("Ctrl-C stops everything.", flush=True)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        if args.duration is None:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        else:
            deadline = time.monotonic() + args.duration
            while (left := deadline - time.monotonic()) > 0:
                if signal.sigtimedwait({signal.SIGINT, signal.SIGTERM}, left) is not None:
                    break
        return 0
    except BrokerError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        print("stopping ...", flush=True)
        cluster.stop()


if __name__ == "__main__":
    raise SystemExit(main())
