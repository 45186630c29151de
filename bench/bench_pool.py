"""The parse pool without Kafka: what moving parse + features out of the loop buys.

Run: ``.venv/bin/python bench/bench_pool.py [--records N]``

The same real records (``_wire_stream``) go through the pipeline three ways:
in the loop (``WIREFEED_PARSE_PROCESSES=0``), and with a pool of 1 .. cores-1
processes. Decisions stay in the calling process, in order, exactly as in the
worker; the run checks that all variants publish the same events. The ratio
to the in-loop run is the figure that matters: on a machine with a free core
it shows the serial part (decide, index update, unpickling) that bounds the
worker; on a busy machine the pool only adds IPC.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import _wire_stream  # noqa: E402

from consumer.model import RawRecord  # noqa: E402
from consumer.parallel import ParsePool  # noqa: E402
from consumer.pipeline import Pipeline  # noqa: E402

FETCH = 2000  # records handed to the pool at a time, like one fetch of the worker


def in_loop(raws: list[RawRecord]) -> tuple[float, list[str]]:
    pipeline = Pipeline()
    started = time.perf_counter()
    outcomes = [pipeline.run(r) for r in raws]
    took = time.perf_counter() - started
    return took, [f"{o.event['event_id']}:{o.event_type}" for o in outcomes]


async def pooled(raws: list[RawRecord], processes: int) -> tuple[float, list[str]]:
    pool = ParsePool(processes, max_bytes=2 * 1024 * 1024)
    await pool.start()
    try:
        pipeline = Pipeline()
        ids: list[str] = []
        started = time.perf_counter()
        for i in range(0, len(raws), FETCH):
            async for raw, prepared in pool.map(raws[i:i + FETCH]):
                outcome = pipeline.process_prepared(prepared, raw)
                pipeline.commit(outcome)
                ids.append(f"{outcome.event['event_id']}:{outcome.event_type}")
        took = time.perf_counter() - started
    finally:
        await pool.aclose()
    return took, ids


def run(records: int) -> dict[str, Any]:
    raws = [RawRecord(value=v, topic="in", partition=0, offset=i, timestamp_ms=0)
            for i, v in enumerate(_wire_stream.records(records))]
    base_s, reference = in_loop(raws)
    rows = [{"variant": "in the loop", "processes": 0,
             "records_per_s": round(len(raws) / base_s), "x_in_loop": 1.0}]
    for procs in range(1, max(2, os.cpu_count() or 2)):
        took, ids = asyncio.run(pooled(raws, procs))
        if ids != reference:
            raise SystemExit(f"pool({procs}) published other events than the loop")
        rows.append({"variant": f"pool of {procs}", "processes": procs,
                     "records_per_s": round(len(raws) / took),
                     "x_in_loop": round(base_s / took, 2)})
    return {"records": len(raws), "cores": os.cpu_count(), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=12_000)
    res = run(ap.parse_args().records)
    print(f"pipeline over {res['records']} real records, {res['cores']} cores "
          "(same events in every variant)")
    print(f"  {'variant':14s} {'rec/s':>8s} {'x loop':>7s}")
    for r in res["rows"]:
        print(f"  {r['variant']:14s} {r['records_per_s']:>8} {r['x_in_loop']:>7.2f}")


if __name__ == "__main__":
    main()
