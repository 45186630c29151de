"""Baseline A for latency: an aiokafka consume -> produce passthrough, run until SIGTERM.

The latency goals are absolute (p99 <= 20 ms at 500 records/s at-least-once,
<= commit interval + 20 ms exactly-once), but on a small machine the broker,
the load generator and the consumer that times the output share the cores
with what is measured, so part of any figure is the machine's. This process
shows that part: the same client, the same commit policy and the same
latency-relevant settings as :class:`consumer.worker.Worker`, minus parsing
and dedup:

* exactly-once: one transactional producer per input partition (linger 5 ms,
  transaction retry backoff as the worker's); a batch's interval counts from
  its first record's timestamp as in :func:`consumer.worker.opened_at`; all
  open partitions commit together once the oldest is due, overlapped.
* at-least-once: one idempotent producer, no linger; the offsets of due
  batches are committed in the background once their sends are acknowledged,
  one commit in flight, as the worker does.

Each output carries the ``wirefeed-source-partition`` / ``-offset`` headers
the latency consumer matches on. It runs as a subprocess for the same reason
the worker does: the paced producer and the timing consumer must not share
its event loop. It prints ``ready`` once its partitions are assigned.

    python bench/_latency_passthrough.py --bootstrap H:P --src T --dst T2 --group G \
        --partitions 3 [--eos]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _broker_bench import COMMIT_INTERVAL_MS, MAX_IN_FLIGHT, passthrough_clients
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from consumer.worker import _TXN_RETRY_BACKOFF_MS, opened_at


async def passthrough(args: argparse.Namespace, stop: asyncio.Event) -> None:
    tps = [TopicPartition(args.src, p) for p in range(args.partitions)]
    consumer, producers = await passthrough_clients(
        args.bootstrap, args.src, args.partitions, args.group, eos=args.eos, alo_linger_ms=0,
        retry_backoff_ms=_TXN_RETRY_BACKOFF_MS)
    opened: dict[TopicPartition, float] = {}
    nxt: dict[TopicPartition, int] = {}
    futures: dict[TopicPartition, list[asyncio.Future[Any]]] = {tp: [] for tp in tps}
    in_flight: asyncio.Task[None] | None = None

    async def commit_txn(tp: TopicPartition) -> None:
        await producers[tp].send_offsets_to_transaction(
            {tp: OffsetAndMetadata(nxt[tp], "")}, args.group)
        await producers[tp].commit_transaction()

    async def commit_offsets(sent: list[asyncio.Future[Any]],
                             offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        await asyncio.gather(*sent)
        await consumer.commit(offsets)

    async def commit() -> None:
        nonlocal in_flight
        if not opened or time.monotonic() - min(opened.values()) < COMMIT_INTERVAL_MS / 1000:
            return
        due = list(opened)
        if args.eos:
            await asyncio.gather(*(commit_txn(tp) for tp in due))
        else:
            if in_flight is not None:
                if not in_flight.done():
                    return  # one offset commit at a time; these stay due
                await in_flight
            sent = [f for tp in due for f in futures[tp]]
            in_flight = asyncio.create_task(
                commit_offsets(sent, {tp: OffsetAndMetadata(nxt[tp], "") for tp in due}))
        for tp in due:
            futures[tp] = []
            del opened[tp]

    print("ready", flush=True)
    try:
        while not stop.is_set():
            wait_ms = COMMIT_INTERVAL_MS
            if opened:
                due_in = (min(opened.values()) + COMMIT_INTERVAL_MS / 1000 - time.monotonic())
                wait_ms = max(1, min(COMMIT_INTERVAL_MS, int(due_in * 1000) + 1))
            fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=MAX_IN_FLIGHT)
            for tp, recs in fetched.items():
                producer = producers[tp]
                if tp not in opened:
                    if args.eos:
                        await producer.begin_transaction()
                    opened[tp] = opened_at(recs[0].timestamp, COMMIT_INTERVAL_MS)
                for rec in recs:
                    headers = [("wirefeed-source-partition", str(rec.partition).encode()),
                               ("wirefeed-source-offset", str(rec.offset).encode())]
                    futures[tp].append(await producer.send(args.dst, rec.value, key=rec.key,
                                                           headers=headers))
                    nxt[tp] = rec.offset + 1
            await commit()
    finally:
        if in_flight is not None:
            await in_flight
        for p in set(producers.values()):
            await p.stop()
        await consumer.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--eos", action="store_true")
    args = ap.parse_args()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await passthrough(args, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
