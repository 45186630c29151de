"""wirefeed on a real local broker, side by side with the limit of its Kafka client.

Run: ``.venv/bin/python bench/bench_pipeline.py [--quick] [--records N] [--bootstrap H:P]``
(``make bench`` runs it through ``bench/run_all.py``; needs requirements/bench.lock).

Every figure that matters is a ratio measured in the same run on the same
broker, topic and records, because the absolute numbers on a shared 2-core
machine move with whatever else is running:

1. baseline A: bare aiokafka consume -> produce passthrough, exactly-once
   (transactional producer per partition, offsets in the transaction) and
   at-least-once (idempotent producer, manual commits), with the worker's
   commit policy: the ceiling of the worker's client in Python;
2. baseline B: the same passthrough with confluent-kafka (librdkafka);
3. the real Worker, both guarantees: committed records/s and the ratio to A;
   plus the same Worker with parse+dedup replaced by replayed outcomes
   ("shell only"), which isolates what the worker's shell itself costs per record;
4. added latency at fixed offered loads, both guarantees (``wirefeed run``
   subprocess, receive time at a read_committed consumer - input CreateTime),
   each after the same steps through baseline A as a subprocess
   (``_latency_passthrough.py``, the worker's commit policy): the latency the
   client, the broker and the shared cores cost before wirefeed does anything;
   each step also reports the broker's collector pauses inside it (its -Xlog:gc
   file: the local broker's own, or ``--broker-gc-log``) and how often the
   worker's event loop stood still (``wirefeed_event_loop_lag_seconds``);
   ``--modes`` and ``--loads`` narrow a run to one guarantee or one load;
5. a py-spy (else pyinstrument) profile of the worker, folded into stages (parse, dedup
   features, dedup lookup, dedup state, events, Kafka client, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import _broker_bench as bb  # noqa: E402
import _wire_stream  # noqa: E402

from consumer import log  # noqa: E402

PARTITIONS = 3
# WIREFEED_PARSE_PROCESSES for the pool variants: the cores the worker's loop leaves over
POOL_PROCESSES = max(1, (os.cpu_count() or 2) - 1)
LOADS = (100, 500, 2000)


# --- profile folding ----------------------------------------------------------
# functions of the index's modules that answer a query; the rest of them (inserts,
# deletes, evictions, resizes, restore) is "dedup state". Everything under decide.py is
# lookup anyway: the first specific frame from the top wins.
_INDEX_LOOKUP = {"scan", "lookup", "describe", "entry", "_entry", "get", "by_agency_id",
                 "latest_event", "cutoff_ms"}
_INDEX_MODULES = tuple(f"consumer/dedup/{m}.py" for m in ("index", "columns", "bandtable", "bulk"))


def _stage(stack: list[tuple[str, str]]) -> str:
    """The pipeline stage a sample belongs to: first specific frame from the top wins.

    Top-down, because a parser calling ``re`` is parse time and the worker
    calling aiokafka is client time, whatever leaf the sample ended in.
    """
    fallback = "event loop, other"
    for path, func in stack:
        p = path.replace("\\", "/")
        if "/aiokafka/" in p:
            return "kafka client (aiokafka)"
        if "/prometheus_client/" in p:
            return "metrics"
        if "/structlog/" in p or p.endswith("consumer/log.py"):
            return "logging"
        if "/consumer/formats/" in p or p.endswith(("consumer/parse.py", "consumer/enrich.py",
                                                    "consumer/text.py")):
            return "parse"
        if p.endswith("consumer/dedup/decide.py"):
            return "dedup lookup"
        if p.endswith("consumer/dedup/fingerprint.py"):  # not under decide: features
            return "dedup features"
        if p.endswith(_INDEX_MODULES):
            return "dedup lookup" if func.rsplit(".", 1)[-1] in _INDEX_LOOKUP else "dedup state"
        if p.endswith("consumer/dedup/state.py"):
            return "dedup state"
        if p.endswith(("consumer/events.py", "consumer/ninjs_out.py")):
            return "events (build)"
        if p.endswith("consumer/changelog.py"):
            return "changelog follower"
        if p.endswith("selectors.py") and func.endswith("select"):
            return "idle (select)"
        if p.endswith(_SHELL):
            fallback = "worker shell (incl. orjson, RawRecord)"
        elif p.endswith("consumer/pipeline.py") and fallback.startswith("event"):
            fallback = "pipeline glue"
    return fallback


def pyinstrument_stacks(session: Any) -> list[tuple[list[tuple[str, str]], float]]:
    """Root-first stacks with their seconds from a pyinstrument session (leaves carry time)."""
    out: list[tuple[list[tuple[str, str]], float]] = []
    root = session.root_frame()
    todo: list[tuple[Any, list[tuple[str, str]]]] = [(root, [])] if root is not None else []
    while todo:
        frame, stack = todo.pop()
        here = [*stack, (frame.file_path or "", frame.function or "")]
        if frame.children:
            todo.extend((child, here) for child in frame.children)
        else:
            out.append((here, frame.time))
    return out


# the worker's shell: the loop, processing, routing, commit policies, state owner, health
_SHELL = tuple(f"consumer/{m}.py" for m in ("worker", "processing", "routing", "commit",
                                             "statestore", "health"))


def fold_profile(stacks: list[tuple[list[tuple[str, str]], float]]) -> dict[str, float]:
    """Seconds per stage."""
    out: dict[str, float] = defaultdict(float)
    for stack, seconds in stacks:
        out[_stage(stack)] += seconds
    return dict(out)


def shares(seconds: dict[str, float]) -> dict[str, float]:
    """Shares of busy (non-idle) time, in percent."""
    busy = sum(v for k, v in seconds.items() if not k.startswith("idle"))
    return {k: round(100 * v / busy, 1) for k, v in sorted(seconds.items(), key=lambda x: -x[1])
            if not k.startswith("idle") and busy > 0}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --- the run -----------------------------------------------------------------
async def broker_benches(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    t = time.perf_counter()
    values = _wire_stream.records(args.records)
    src = f"bench-{run_id}.in"
    mean_bytes = sum(map(len, values)) / len(values)
    await bb.create_topics(bootstrap, [(src, PARTITIONS, {})] + [
        (f"bench-{run_id}.pass-{k}", PARTITIONS, {}) for k in ("a-eos", "a-alo", "b-eos", "b-alo")
    ])
    load_s = bb.load_input(bootstrap, src, values, PARTITIONS)
    print(f"  input: {len(values)} records ({mean_bytes:.0f} B mean) on {src}, "
          f"{PARTITIONS} partitions, loaded in {load_s:.1f}s", flush=True)
    sample = values[:600]
    n = len(values)
    del values
    runs: list[bb.Run] = []

    def show(run: bb.Run) -> None:
        runs.append(run)
        cap = " (time cap)" if run.extra.get("capped") else ""
        split = ""
        if run.extra.get("commit_share") is not None:
            split = (f"  [wall: {run.extra['process_share']:.0%} processing, "
                     f"{run.extra['commit_share']:.0%} committing]")
        print(f"  {run.name:28s} {run.records:>7} records {run.seconds:6.1f}s "
              f"{run.rate:>8.0f}/s{cap}{split}", flush=True)

    only = set(args.only.split(",")) if args.only else {"baselines", "shell", "worker",
                                                         "profile", "latency"}
    for eos in args.guarantees if "baselines" in only else ():
        mode = "eos" if eos else "alo"
        show(await bb.aiokafka_passthrough(bootstrap, src, f"bench-{run_id}.pass-a-{mode}", n,
                                           PARTITIONS, eos=eos, group=f"pa-{mode}-{run_id}"))
        show(await asyncio.to_thread(
            bb.confluent_passthrough, bootstrap, src, f"bench-{run_id}.pass-b-{mode}", n,
            PARTITIONS, eos=eos, group=f"pb-{mode}-{run_id}"))
    for eos in args.guarantees if "shell" in only else ():
        mode = "eos" if eos else "alo"
        names = await bb.worker_topics(bootstrap, f"bench-{run_id}.shell-{mode}", PARTITIONS)
        settings = bb.worker_settings(bootstrap, src, names, f"ws-{mode}-{run_id}", eos=eos)
        show(await bb.run_worker(settings, n, args.shell_cap, f"wirefeed shell-only {mode}",
                                 prepare=lambda w: bb.shell_only(w, sample, src)))
    variants = [(eos, procs) for eos in args.guarantees for procs in (0, POOL_PROCESSES)]
    for eos, procs in variants if "worker" in only else ():
        mode = "eos" if eos else "alo"
        label = f"wirefeed+pool({procs}) {mode}" if procs else f"wirefeed {mode}"
        slug = f"wf{procs}-{mode}"
        names = await bb.worker_topics(bootstrap, f"bench-{run_id}.{slug}", PARTITIONS)
        settings = bb.worker_settings(bootstrap, src, names, f"{slug}-{run_id}", eos=eos,
                                      parse_processes=procs)
        show(await bb.run_worker(settings, n, args.cap, label))
        events = runs[-1].extra["events"]
        dead = events.get("dead_letter", 0) / max(1, sum(events.values()))
        if dead > 0.05:  # a half-edited parser in a shared tree looks like a fast worker
            print(f"  WARNING: {dead:.0%} dead letters: the parser is failing, the "
                  "wirefeed figures are not meaningful", flush=True)

    profiles: dict[str, Any] = {}
    if args.profile_s > 0 and "profile" in only:
        use_spy = bb.SpyProfiler.available()
        for label, prepare in (("wirefeed eos", None),
                               ("shell-only eos", lambda w: bb.shell_only(w, sample, src))):
            slug = label.replace(" ", "_")
            names = await bb.worker_topics(bootstrap, f"bench-{run_id}.prof-{label[:5]}",
                                           PARTITIONS)
            settings = bb.worker_settings(bootstrap, src, names, f"pr-{label[:5]}-{run_id}",
                                          eos=True)
            prof: Any
            if use_spy:
                prof = bb.SpyProfiler(Path(args.results_dir) / f"profile-{slug}.pyspy.txt")
            else:
                from pyinstrument import Profiler

                prof = Profiler(interval=0.001, async_mode="disabled")
            run = await bb.run_worker(settings, n, args.profile_s, f"profiled {label}",
                                      prepare=prepare, profiler=prof)
            if use_spy:
                stacks = prof.stacks()
            else:
                stacks = pyinstrument_stacks(prof.last_session)
                await asyncio.to_thread(_write, Path(args.results_dir) / f"profile-{slug}.txt",
                                        prof.output_text(show_all=False))
            folded = fold_profile(stacks)
            profiles[label] = {"profiler": "py-spy" if use_spy else "pyinstrument",
                               "records_per_s": round(run.rate, 1),
                               "seconds": {k: round(v, 3) for k, v in folded.items()},
                               "busy_share_pct": shares(folded)}
            print(f"  profile {label} ({profiles[label]['profiler']}, {run.rate:.0f}/s while "
                  "profiled), % of busy time:", flush=True)
            for stage, pct in profiles[label]["busy_share_pct"].items():
                print(f"      {stage:40s} {pct:5.1f}")

    latency: dict[str, list[dict[str, Any]]] = {}
    if args.step_s > 0 and "latency" in only:
        lat_values = _wire_stream.records(min(args.records, 30_000))
        for eos in args.guarantees:
            mode = "eos" if eos else "alo"
            # baseline A first: the share of the latency that is the client's and the machine's
            asrc, adst = f"bench-{run_id}.lat-a-{mode}.in", f"bench-{run_id}.lat-a-{mode}.out"
            await bb.create_topics(bootstrap, [(asrc, PARTITIONS, {}), (adst, PARTITIONS, {})])
            logfile = Path(args.results_dir) / f"passthrough-latency-{mode}.log"
            logfile.parent.mkdir(parents=True, exist_ok=True)
            passthrough = bb.PassthroughProcess(bootstrap, asrc, adst, f"lat-a-{mode}-{run_id}",
                                                PARTITIONS, eos=eos, log_path=logfile)
            print(f"  latency, {mode}, baseline A (aiokafka passthrough subprocess):", flush=True)
            try:
                await passthrough.wait_ready()
                latency[f"A {mode}"] = await bb.latency_steps(
                    bootstrap, asrc, [adst], PARTITIONS, lat_values, args.loads, args.step_s,
                    args.drain_s, gc_log=args.gc_log)
            finally:
                passthrough.stop()
            lsrc = f"bench-{run_id}.lat-{mode}.in"
            await bb.create_topics(bootstrap, [(lsrc, PARTITIONS, {})])
            names = await bb.worker_topics(bootstrap, f"bench-{run_id}.lat-{mode}", PARTITIONS)
            settings = bb.worker_settings(bootstrap, lsrc, names, f"lat-{mode}-{run_id}", eos=eos,
                                          parse_processes=args.latency_processes)
            logfile = Path(args.results_dir) / f"worker-latency-{mode}.log"
            proc = bb.WorkerProcess(settings, logfile)
            print(f"  latency, {mode} (wirefeed run subprocess):", flush=True)
            try:
                await proc.wait_ready()
                latency[mode] = await bb.latency_steps(
                    bootstrap, lsrc, [names[k] for k in ("out", "dup", "dlq")], PARTITIONS,
                    lat_values, args.loads, args.step_s, args.drain_s, scrape=proc.processing,
                    gc_log=args.gc_log)
            finally:
                proc.stop()

    by_name = {r.name: r for r in runs}

    def ratio(a: str, b: str) -> float:
        ra, rb = by_name.get(a), by_name.get(b)
        return round(ra.rate / rb.rate, 3) if ra and rb and rb.rate else float("nan")

    ratios = {}
    for mode in ("eos", "alo"):
        ratios[f"wirefeed {mode} / A {mode}"] = ratio(f"wirefeed {mode}", f"A aiokafka {mode}")
        ratios[f"wirefeed+pool {mode} / A {mode}"] = ratio(
            f"wirefeed+pool({POOL_PROCESSES}) {mode}", f"A aiokafka {mode}")
        ratios[f"shell-only {mode} / A {mode}"] = ratio(f"wirefeed shell-only {mode}",
                                                        f"A aiokafka {mode}")
        ratios[f"A {mode} / B {mode}"] = ratio(f"A aiokafka {mode}", f"B confluent {mode}")
    return {
        "input": {"records": n, "mean_bytes": round(mean_bytes), "partitions": PARTITIONS,
                  "load_seconds": round(load_s, 2)},
        "throughput": [r.as_dict() for r in runs],
        "ratios": ratios,
        "profiles": profiles,
        "latency_ms": latency,
        "seconds": round(time.perf_counter() - t, 1),
    }


def print_tables(res: dict[str, Any]) -> None:
    """The tables the README quotes; ratios next to absolute figures."""
    thr = {r["name"]: r for r in res["throughput"]}
    print("\nthroughput (committed input records/s; ratio to baseline A of the same guarantee)")
    print(f"  {'variant':30s} {'records':>8s} {'rec/s':>9s} {'x A':>6s} {'x B':>6s}")
    for r in res["throughput"]:
        mode = r["name"].split()[-1]
        a = thr.get(f"A aiokafka {mode}", {}).get("records_per_s")
        b = thr.get(f"B confluent {mode}", {}).get("records_per_s")
        xa = f"{r['records_per_s'] / a:6.2f}" if a else "     -"
        xb = f"{r['records_per_s'] / b:6.2f}" if b else "     -"
        print(f"  {r['name']:30s} {r['records']:>8} {r['records_per_s']:>9.0f} {xa} {xb}")
    if res["latency_ms"]:
        lat = res["latency_ms"]
        print("\nadded latency (ms): input CreateTime -> visible to a read_committed consumer;")
        print("  A = the aiokafka passthrough under the worker's commit policy, same machine")
        print(f"  {'variant':9s} {'offered/s':>9s} {'records':>8s} {'p50':>8s} {'p99':>8s} "
              f"{'max':>8s} {'late':>6s} {'busy':>5s} {'>10ms':>6s} {'stalls':>7s} "
              f"{'p99-A':>7s} {'broker GC':>10s}")
        for mode, rows in lat.items():
            label = mode if mode.startswith("A ") else f"wf {mode}"
            base = {r["offered_per_s"]: r for r in lat.get(f"A {mode}", [])}
            for row in rows:
                slow = (row.get("slow_records") or {}).get(">0.01s", "-")
                stalls = row.get("loop_stalls")
                held = "-" if not stalls else f"{stalls['>0.01s']}/{stalls['>0.05s']}"
                a = base.get(row["offered_per_s"])
                gap = f"{row['p99'] - a['p99']:7.1f}" if a else "      -"
                pauses = row.get("broker_gc_ms")
                gc = "-" if pauses is None else f"{len(pauses)}/{max(pauses, default=0):.0f}"
                print(f"  {label:9s} {row['offered_per_s']:>9} {row['records']:>8} "
                      f"{row['p50']:>8} {row['p99']:>8} {row['max']:>8} {row['undelivered']:>6} "
                      f"{row.get('worker_busy', '-'):>5} {slow:>6} {held:>7} {gap} {gc:>10}")
        print("  late = not visible within the drain time; busy = worker processing s per s; "
              ">10ms = records whose processing took over 10 ms; stalls = the worker's event "
              "loop held over 10 / 50 ms; p99-A = wirefeed's p99 minus A's at the same load; "
              "broker GC = the broker's collector pauses during the step / the longest (ms)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, short steps (~2 min)")
    ap.add_argument("--records", type=int, default=None, help="input records (default 100000)")
    ap.add_argument("--bootstrap", default="", help="use this broker instead of starting one")
    ap.add_argument("--broker-gc-log", default="", metavar="PATH",
                    help="with --bootstrap: that broker's -Xlog:gc file, to report its pauses "
                         "in each latency step (python -m consumer.devtools.broker run prints it)")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--latency-processes", type=int, default=0, metavar="N",
                    help="WIREFEED_PARSE_PROCESSES of the worker in the latency steps")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--only", default="",
                    help="comma list of baselines,shell,worker,profile,latency")
    ap.add_argument("--modes", default="eos,alo",
                    help="comma list of the guarantees to run: eos,alo")
    ap.add_argument("--loads", default=",".join(map(str, LOADS)),
                    help="comma list of the offered loads of the latency steps (records/s)")
    ap.add_argument("--results-dir", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)
    finish_args(args)
    return args


def finish_args(args: argparse.Namespace) -> None:
    """Sizes for full and quick runs: full stays inside make bench's 10-minute budget."""
    quick = bool(args.quick)
    if args.records is None:
        args.records = 20_000 if quick else 100_000
    args.cap = 10.0 if quick else 35.0
    args.shell_cap = 8.0 if quick else 25.0
    args.profile_s = 0.0 if getattr(args, "no_profile", False) else (6.0 if quick else 12.0)
    args.step_s = 0.0 if getattr(args, "no_latency", False) else (5.0 if quick else 12.0)
    args.drain_s = 5.0 if quick else 8.0
    args.gc_log = Path(args.broker_gc_log) if getattr(args, "broker_gc_log", "") else None
    args.loads = [int(x) for x in str(getattr(args, "loads", "") or "").split(",") if x] or LOADS
    modes = str(getattr(args, "modes", "") or "eos,alo").split(",")
    if not set(modes) <= {"eos", "alo"}:
        raise SystemExit(f"--modes: eos and/or alo, not {','.join(modes)}")
    args.guarantees = [m == "eos" for m in modes]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start a broker unless one is given, run everything, stop the broker."""
    log.configure("error")
    if args.bootstrap:
        return asyncio.run(broker_benches(args.bootstrap, args))
    from consumer.devtools.broker import running_cluster

    started = time.perf_counter()
    # Kafka's own heap and collector (kafka-run-class.sh), whose pauses are shorter than
    # the test broker's serial collector's (bench/ROUNDS.md): the steps report any
    # broker pause as wirefeed's added latency
    with running_cluster(1, production_jvm=True) as cluster:
        bootstrap = cluster.bootstrap_servers
        args.gc_log = cluster.members[0].gc_log
        print(f"  broker up in {time.perf_counter() - started:.1f}s at {bootstrap}", flush=True)
        return asyncio.run(broker_benches(bootstrap, args))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    res = run(args)
    print_tables(res)
    print(json.dumps(res["ratios"], indent=1))


if __name__ == "__main__":
    main()
