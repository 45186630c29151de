"""Baseline A for latency: an aiokafka consume -> produce passthrough, run until SIGTERM.

The latency goals are absolute (p99 <= 20 ms at 500 records/s at-least-once,
<= commit interval + 20 ms exactly-once), but on a small machine the broker,
the load generator and the consumer that times the output share the cores
with what is measured, so part of any figure is the machine's. This process
shows that part: the same client, the same commit code
(:mod:`consumer.commit`, through :func:`_broker_bench.copy_records`) and the
same latency-relevant settings as :class:`consumer.worker.Worker`, minus parsing
and dedup:

* exactly-once: one transactional producer per input partition, all open
  partitions committed together once the oldest is due, overlapped, each after
  its sends are acknowledged.
* at-least-once: one idempotent producer, no linger; the offsets of due
  batches are committed in the background once their sends are acknowledged,
  one commit in flight.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _broker_bench import copy_records


async def passthrough(args: argparse.Namespace, stop: asyncio.Event) -> None:
    await copy_records(args.bootstrap, args.src, args.dst, args.partitions, args.group,
                       eos=args.eos, until=lambda _: stop.is_set(),
                       ready=lambda: print("ready", flush=True))


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
