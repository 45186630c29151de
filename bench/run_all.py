"""``make bench``: every benchmark in one reproducible run, tables + JSON + PNG.

Run: ``.venv/bin/python bench/run_all.py [--quick] [--skip-broker] [--skip-core] [--results-dir D]``

Order and why: the broker benchmarks (bench_pipeline.py: passthrough ceilings
of aiokafka and confluent-kafka, the real worker, latency at fixed loads, a
profile) run first on a fresh local broker, then the core benches
(bench_parse.py, bench_dedup_scale.py) as subprocesses, one at a time, so no
two measurements share the 2 cores. The verdicts are ratios taken within this
run; the raw figures go to ``bench/results/<timestamp>.json`` and
``latest.json`` (git-ignored), the plot to ``<timestamp>.png`` and
``latest.png``. A full run stays under 10 minutes; ``--quick`` takes about 3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import bench_pipeline  # noqa: E402
import bench_pool  # noqa: E402

RESULTS = BENCH / "results"
COMMIT_INTERVAL_MS = 100


# --- machine -----------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the figures were measured on: they only compare within one machine."""
    cpu = ""
    mem_kib = 0
    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = re.search(r"model name\s*:\s*(.+)", text).group(1).strip()  # type: ignore[union-attr]
        mem = Path("/proc/meminfo").read_text()
        mem_kib = int(re.search(r"MemTotal:\s+(\d+)", mem).group(1))  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass
    info: dict[str, Any] = {
        "nproc": os.cpu_count(), "cpu": cpu or platform.processor(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1), "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import aiokafka
        import confluent_kafka

        info["aiokafka"] = aiokafka.__version__
        info["confluent_kafka"] = confluent_kafka.version()[0]
        info["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        pass
    try:
        from consumer.devtools.broker import kafka_version

        info["kafka_broker"] = kafka_version()
    except Exception:
        pass
    git = shutil.which("git")
    if git:
        rev = subprocess.run([git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=False)
        dirty = subprocess.run([git, "status", "--porcelain", "--", "consumer"], cwd=ROOT,
                               capture_output=True, text=True, check=False)
        info["git"] = rev.stdout.strip() + ("+dirty(consumer)" if dirty.stdout.strip() else "")
    return info


# --- core benches (other engineers' scripts, run unchanged) ---------------------
_PARSE_ROW = re.compile(r"^(?P<name>.+?)\s+(?P<n>\d+)\s+(?P<kib>[\d.]+)\s+(?P<floor>\d+)\s+"
                        r"(?P<rate>\d+)\s+(?P<ratio>\d+)x\s*$")
# bench_dedup_scale.py's columns, by header label: its table gains columns as
# its owner extends it, so rows are read by label, not by position
_SCALE_COLS = (("held", "held"), ("restore s", "restore_s"), ("RAM B/story", "ram_bytes_per_story"),
               ("arrays B", "array_bytes_per_story"), ("exact µs", "exact_us"),
               ("lookup µs", "lookup_us"), ("x exact", "x_exact"), ("cands/q", "candidates"),
               ("µs @0", "lookup_no_candidate_us"), ("q w/ c", "queries_with_candidate_pct"),
               ("µs @≥1", "lookup_with_candidate_us"), ("stories/s", "stories_per_s"))
_FEATURES = re.compile(r"features.*?:\s*([\d.]+)\s*µs/story")
_FILL = re.compile(r"filling a fresh index .*? to ([\d,]+) held: mean ([\d.]+) µs an add, "
                   r"slowest ([\d.]+) ms \(at ([\d,]+) held")


def run_script(code_or_path: list[str], timeout: float) -> tuple[str, float, int]:
    """A bench as a subprocess: its own interpreter, nothing shared with the broker benches."""
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, *code_or_path], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, check=False)
        out, code = proc.stdout + proc.stderr[-3000:], proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        out, code = out + f"\n[timed out after {timeout}s]", -1
    return out, time.perf_counter() - started, code


def core_parse(quick: bool) -> dict[str, Any]:
    out, took, code = run_script(
        [str(BENCH / "bench_parse.py"), "--repeat", "1" if quick else "2"], 240)
    rows = []
    for line in out.splitlines():
        m = _PARSE_ROW.match(line)
        if m:
            rate = int(m["rate"])
            rows.append({"input": m["name"].strip(), "stories": int(m["n"]),
                         "kib_per_story": float(m["kib"]), "floor_per_s": int(m["floor"]),
                         "parse_per_s": rate, "x_floor": int(m["ratio"]),
                         "us_per_story": round(1e6 / rate, 1) if rate else None})
    return {"rows": rows, "seconds": round(took, 1), "returncode": code, "stdout": out}


def core_dedup_scale(quick: bool) -> dict[str, Any]:
    """bench_dedup_scale.py as is; --quick stops at 100k held (1M takes most of its time)."""
    if quick:
        code = ("import sys; sys.argv=['bench_dedup_scale.py']; sys.path.insert(0, 'bench'); "
                "import bench_dedup_scale as m; m.SIZES = (10_000, 100_000); m.main()")
        out, took, rc = run_script(["-c", code], 300)
    else:
        out, took, rc = run_script([str(BENCH / "bench_dedup_scale.py")], 420)
    rows = []
    cols: list[str] = []
    for line in out.splitlines():
        if line.split()[:1] == ["held"]:
            found = sorted((line.find(label), key) for label, key in _SCALE_COLS
                           if line.find(label) >= 0)
            cols = [key for _, key in found]
            continue
        nums = line.split()
        if not cols or len(nums) != len(cols) or not nums[0].isdigit():
            continue
        try:
            row: dict[str, Any] = {k: float(v.rstrip("%"))
                                   for k, v in zip(cols, nums, strict=True)}
        except ValueError:
            continue
        row["held"] = int(row["held"])
        rate = row.get("stories_per_s") or 0
        row["us_per_story"] = round(1e6 / rate, 1) if rate else None
        rows.append(row)
    feats = _FEATURES.search(out)
    fill = _FILL.search(out)
    return {"rows": rows, "features_us": float(feats.group(1)) if feats else None,
            "fill": None if fill is None else {
                "held": int(fill[1].replace(",", "")), "mean_add_us": float(fill[2]),
                "slowest_add_ms": float(fill[3]), "slowest_at": int(fill[4].replace(",", ""))},
            "seconds": round(took, 1), "returncode": rc, "stdout": out}


# --- verdicts ----------------------------------------------------------------
def goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, each with the figure measured in this run and a verdict."""
    out: list[dict[str, Any]] = []

    def add(goal: str, value: Any, ok: bool | None, note: str = "") -> None:
        out.append({"goal": goal, "measured": value,
                    "met": "n/a" if ok is None else ("yes" if ok else "NO"), "note": note})

    broker = res.get("broker") or {}
    ratios = broker.get("ratios", {})
    eos = ratios.get("wirefeed eos / A eos")
    shell = ratios.get("shell-only eos / A eos")
    pool = ratios.get("wirefeed+pool eos / A eos")
    add("exactly-once >= 0.7x baseline A", eos, None if eos is None else eos >= 0.7,
        "no broker run" if eos is None else
        f"with a parse pool: {pool}x; shell alone (parse+dedup replayed): {shell}x")
    lat = broker.get("latency_ms", {})

    def p99(mode: str, load: int) -> float | None:
        for row in lat.get(mode, []):
            if row["offered_per_s"] == load and not row["undelivered"]:
                return float(row["p99"])
        return None

    def pauses(mode: str, load: int) -> str:
        """The broker's collector pauses in that step: a short step's tail depends on them."""
        for row in lat.get(mode, []):
            if row["offered_per_s"] == load and row.get("broker_gc_ms") is not None:
                return f" ({len(row['broker_gc_ms'])} broker GC pauses in the step)"
        return ""

    def client(mode: str) -> str:
        """What the client alone reaches at the same load: the machine's share of the figure."""
        at100, at500 = p99(f"A {mode}", 100), p99(f"A {mode}", 500)
        ours = p99(mode, 100)
        return (f"wirefeed{pauses(mode, 500)}; baseline A (aiokafka passthrough, same commit "
                f"policy): {at500} ms at 500/s{pauses(f'A {mode}', 500)}; at 100/s wirefeed "
                f"{ours} ms, A {at100} ms") if at500 is not None else ""

    alo = p99("alo", 500)
    add("p99 added latency <= 20 ms at 500/s, at-least-once", alo,
        None if alo is None else alo <= 20, client("alo") if lat else "no latency run")
    e = p99("eos", 500)
    add(f"p99 added latency <= {COMMIT_INTERVAL_MS + 20} ms at 500/s, exactly-once", e,
        None if e is None else e <= COMMIT_INTERVAL_MS + 20,
        client("eos") if lat else "no latency run")
    rows = {r["held"]: r for r in (res.get("core", {}).get("dedup_scale") or {}).get("rows", [])}
    if rows:
        lo, hi = min(rows), max(rows)
        growth = round(rows[hi]["lookup_us"] / rows[lo]["lookup_us"], 2)
        at0 = [rows[k].get("lookup_no_candidate_us") for k in (lo, hi)]
        add(f"dedup lookup flat {lo:,} -> {hi:,} held (<= 1.5x)", growth, growth <= 1.5,
            f"{rows[lo]['lookup_us']} -> {rows[hi]['lookup_us']} µs; queries without a "
            f"candidate {at0[0]} -> {at0[1]} µs; candidates/query "
            f"{rows[lo].get('candidates')} -> {rows[hi].get('candidates')}")
        if all(at0):
            flat0 = round(at0[1] / at0[0], 2)
            add(f"dedup table lookup flat {lo:,} -> {hi:,} held, queries without a candidate "
                "(<= 1.5x)", flat0, flat0 <= 1.5,
                "the index alone; verifying more candidates is the data's growth, not the "
                "table's (the line above)")
        if 1_000_000 in rows:
            r = rows[1_000_000]["restore_s"]
            add("restore of 1M stories <= 30 s", r, r <= 30)
    return out


# --- plot --------------------------------------------------------------------
def plot(res: dict[str, Any], path: Path) -> None:
    """Four panels: throughput vs ceilings, latency vs load, CPU breakdown, dedup at scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    broker = res.get("broker") or {}
    ax = axes[0][0]
    thr = broker.get("throughput", [])
    if thr:
        names = [r["name"] for r in thr]
        colors = ["#999" if n.startswith(("A ", "B ")) else "#3a7" if "shell" in n else "#37c"
                  for n in names]
        rates = [r["records_per_s"] for r in thr]
        ax.barh(names, rates, color=colors)
        ax.set_xscale("log")
        # minor ticks unlabelled: "2x10^3 3x10^3 ..." ran into each other
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlim(right=max(rates) * 4)  # room for the labels right of the longest bar
        a_rate = {n.split()[-1]: r for n, r in zip(names, rates, strict=True) if n.startswith("A ")}
        for i, (name, rate) in enumerate(zip(names, rates, strict=True)):
            base = a_rate.get(name.split()[-1])
            ratio = f" ({rate / base:.2f}x A)" if base and not name.startswith("A ") else ""
            ax.text(rate * 1.08, i, f"{rate:,.0f}/s{ratio}", va="center", fontsize=8)
        ax.set_xlabel("committed input records/s (log)")
        ax.invert_yaxis()
    ax.set_title("throughput: wirefeed vs client ceilings")
    ax = axes[0][1]
    for mode, rows in broker.get("latency_ms", {}).items():
        loads = [r["offered_per_s"] for r in rows]
        if mode.startswith("A "):  # the client's own floor, in grey
            ax.plot(loads, [r["p99"] for r in rows], "x:", color="#888" if "alo" in mode
                    else "#444", label=f"{mode} p99")
            continue
        ax.plot(loads, [r["p50"] for r in rows], "o--", label=f"{mode} p50")
        ax.plot(loads, [r["p99"] for r in rows], "s-", label=f"{mode} p99")
    ax.axhline(20, color="#c33", lw=0.8, ls=":", label="20 ms (alo goal)")
    ax.axhline(COMMIT_INTERVAL_MS + 20, color="#c93", lw=0.8, ls=":", label="120 ms (eos goal)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered records/s")
    ax.set_ylabel("added latency ms (log)")
    ax.set_title("added latency at fixed offered load")
    ax.legend(fontsize=8)
    ax = axes[1][0]
    prof = broker.get("profiles", {}).get("wirefeed eos", {}).get("busy_share_pct", {})
    if prof:
        ax.barh(list(prof), list(prof.values()), color="#37c")
        ax.invert_yaxis()
        ax.set_xlabel("% of busy CPU time (exactly-once worker)")
    ax.set_title("where the worker's time goes")
    ax = axes[1][1]
    rows = (res.get("core", {}).get("dedup_scale") or {}).get("rows", [])
    if rows:
        held = [r["held"] for r in rows]
        ax.plot(held, [r["lookup_us"] for r in rows], "o-", label="lookup µs/story")
        if all("lookup_no_candidate_us" in r for r in rows):
            ax.plot(held, [r["lookup_no_candidate_us"] for r in rows], "o--",
                    label="lookup, queries without a candidate")
        ax.plot(held, [r["us_per_story"] for r in rows], "s-", label="features+decide+commit µs")
        ax.set_xscale("log")
        ax.set_xlabel("stories held")
        ax.set_ylabel("µs")
        ax2 = ax.twinx()
        ax2.plot(held, [r["restore_s"] for r in rows], "^:", color="#c33", label="restore s")
        ax2.set_ylabel("restore seconds")
        ax.legend(loc="upper left", fontsize=8)
        ax2.legend(loc="lower right", fontsize=8)
    ax.set_title("dedup at scale")
    fig.suptitle(f"wirefeed bench {res['started']} — {res['machine'].get('cpu', '')}, "
                 f"{res['machine'].get('nproc')} cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def print_core(core: dict[str, Any]) -> None:
    parse = core.get("parse") or {}
    if parse.get("rows"):
        print("\ncore: parse, one core (bench_parse.py)")
        print(f"  {'input':36s} {'KiB':>5s} {'µs/story':>9s} {'x floor':>8s}")
        for r in parse["rows"]:
            print(f"  {r['input']:36s} {r['kib_per_story']:5.1f} {r['us_per_story']:9.1f} "
                  f"{r['x_floor']:7d}x")
    scale = core.get("dedup_scale") or {}
    if scale.get("rows"):
        print(f"\ncore: dedup at scale (bench_dedup_scale.py); features "
              f"{scale.get('features_us')} µs/story")
        print(f"  {'held':>9s} {'lookup µs':>10s} {'µs/story':>9s} {'RAM B/story':>11s} "
              f"{'restore s':>10s}")
        for r in scale["rows"]:
            print(f"  {r['held']:>9,} {r.get('lookup_us', 0):>10.1f} "
                  f"{r.get('us_per_story') or 0:>9.1f} {r.get('ram_bytes_per_story', 0):>11.0f} "
                  f"{r.get('restore_s', 0):>10.2f}")
        if scale.get("fill"):
            f = scale["fill"]
            print(f"  filling a fresh index by add() to {f['held']:,}: mean {f['mean_add_us']} µs, "
                  f"slowest add {f['slowest_add_ms']} ms (at {f['slowest_at']:,} held): the "
                  "longest the worker's loop stands still while its index grows")
    pool = core.get("pool") or {}
    if pool.get("rows"):
        print(f"\ncore: parse pool, no Kafka (bench_pool.py), {pool['records']} records, "
              f"{pool['cores']} cores")
        for r in pool["rows"]:
            print(f"  {r['variant']:14s} {r['records_per_s']:>8} rec/s {r['x_in_loop']:>6.2f}x")
    for name in ("parse", "dedup_scale"):
        part = core.get(name) or {}
        if part and (part.get("returncode") or not part.get("rows")):
            print(f"\n  {name}: exit {part.get('returncode')}, output tail:\n"
                  + part.get("stdout", "")[-1500:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, short steps (~3 min)")
    ap.add_argument("--records", type=int, default=None, help="broker input records")
    ap.add_argument("--bootstrap", default="", help="an existing broker instead of a fresh one")
    ap.add_argument("--skip-broker", action="store_true")
    ap.add_argument("--skip-core", action="store_true")
    ap.add_argument("--results-dir", default=str(RESULTS),
                    help="where the JSON and the plot go (default bench/results)")
    args = ap.parse_args(argv)
    results = Path(args.results_dir)
    started = time.perf_counter()
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    results.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"started": stamp, "quick": args.quick, "machine": machine(),
                           "command": " ".join(["bench/run_all.py", *(argv or sys.argv[1:])])}
    print(f"wirefeed bench {stamp}: {res['machine']}", flush=True)
    if not args.skip_broker:
        print("\n== broker benchmarks (bench_pipeline.py)", flush=True)
        bargs = bench_pipeline.parse_args(
            (["--quick"] if args.quick else []) + (["--records", str(args.records)]
                                                   if args.records else [])
            + (["--bootstrap", args.bootstrap] if args.bootstrap else [])
            + ["--results-dir", str(results)])
        res["broker"] = bench_pipeline.run(bargs)
    if not args.skip_core:
        print("\n== core benchmarks (bench_parse.py, bench_dedup_scale.py)", flush=True)
        res["core"] = {"parse": core_parse(args.quick)}
        print(f"  bench_parse: {res['core']['parse']['seconds']}s", flush=True)
        res["core"]["dedup_scale"] = core_dedup_scale(args.quick)
        print(f"  bench_dedup_scale: {res['core']['dedup_scale']['seconds']}s", flush=True)
        t = time.perf_counter()
        res["core"]["pool"] = bench_pool.run(3000 if args.quick else 12_000)
        print(f"  bench_pool: {time.perf_counter() - t:.1f}s", flush=True)
    res["goals"] = goals(res)
    res["seconds"] = round(time.perf_counter() - started, 1)
    if res.get("broker"):
        bench_pipeline.print_tables(res["broker"])
        prof = res["broker"].get("profiles", {})
        for label, p in prof.items():
            print(f"\nprofile {label} ({p['profiler']}), % of busy CPU: " + ", ".join(
                f"{k} {v}" for k, v in p["busy_share_pct"].items()))
    print_core(res.get("core", {}))
    print("\ngoals")
    for g in res["goals"]:
        measured = "-" if g["measured"] is None else g["measured"]
        print(f"  [{g['met']:>3s}] {g['goal']:58s} {measured}  {g['note']}")
    out = results / f"{stamp}.json"
    out.write_text(json.dumps(res, indent=1, default=str))
    shutil.copyfile(out, results / "latest.json")
    png = results / f"{stamp}.png"
    try:
        plot(res, png)
        shutil.copyfile(png, results / "latest.png")
    except ImportError as exc:  # matplotlib comes with requirements/bench.lock
        print(f"no plot: {exc}")
    shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"\nwrote {shown} (+ latest.json, {png.name}); "
          f"total {res['seconds']:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
