"""``make demo``: a local broker, the topics, the worker, a real sample feed and a live summary.

The newcomer's first contact with wirefeed, so it must work unattended and
explain itself: it starts the local KRaft broker (:mod:`consumer.devtools.broker`),
creates the topics, starts ``wirefeed run`` as a real subprocess (the same
command a deployment runs, metrics on port 9108 or a free one), replays the
demo feed (:mod:`consumer.devtools.feed`) into ``wire.raw`` and shows what
happens: records in, events out by type, duplicates and dead letters by
reason, lag and p99 latency, all scraped from the worker's ``/metrics`` the
way Prometheus would, plus the latest headlines read back from the output
topic. It also counts what is committed in the three output topics, which is
the exactly-once check a newcomer can verify: every record in, one record out.

Stopping is ordered and complete: the worker gets SIGTERM first (it commits
and leaves its group), then the broker stops. Both children run in their own
process group, so a terminal's Ctrl-C reaches only this script, which then
stops them in that order; both also die with this process
(``PR_SET_PDEATHSIG``) if it is killed outright.

``--once`` exits as soon as the whole feed is accounted for, ``--duration``
after N seconds (status 0 only if the worker published events and its counts
add up), ``--no-live`` prints plain lines for CI logs.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consumer.devtools.broker import REPO_ROOT, BrokerError, Cluster, die_with_parent, free_port
from consumer.devtools.feed import SHARED, Feed, build_feed
from consumer.events import STORY_EVENT_TYPES

INPUT = "wire.raw"
OUTPUT = "wire.stories"
DUPLICATES = "wire.duplicates"
DLQ = "wire.dlq"
STATE = "wirefeed.state"
TOPICS: dict[str, dict[str, str]] = {
    INPUT: {},
    OUTPUT: {},
    DUPLICATES: {},
    DLQ: {},
    STATE: {"cleanup.policy": "compact"},
}
PARTITIONS = 3
DEFAULT_PORT = 9108
STORY_TYPES: tuple[str, ...] = STORY_EVENT_TYPES


async def create_topics(bootstrap: str, partitions: int = PARTITIONS) -> None:
    """Create the demo topics (skipping existing ones) and wait until they have leaders."""
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
        for _ in range(100):
            desc = await admin.describe_topics(list(TOPICS))
            if all(d.get("partitions") and all(p.get("leader", -1) >= 0 for p in d["partitions"])
                   for d in desc):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


# --- metrics -------------------------------------------------------------------
def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile`` on cumulative (upper bound, count) buckets.

    Linear interpolation inside the bucket holding the rank, as Prometheus does,
    so the demo's p99 is the figure a Grafana panel on the same metric shows.
    """
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


@dataclass(slots=True)
class Snapshot:
    """The worker's counters at one scrape."""

    consumed: float = 0.0
    events: collections.Counter[str] = field(default_factory=collections.Counter)
    duplicates: collections.Counter[str] = field(default_factory=collections.Counter)
    dead_letters: collections.Counter[str] = field(default_factory=collections.Counter)
    lag: float = 0.0
    p99: float | None = None
    ready: bool = False

    @property
    def stories(self) -> int:
        return int(sum(self.events[t] for t in STORY_TYPES))

    @property
    def adds_up(self) -> bool:
        """Every consumed record became exactly one story event, duplicate or dead letter."""
        return self.consumed == (self.stories + sum(self.duplicates.values())
                                 + sum(self.dead_letters.values()))


def parse_metrics(text: str) -> Snapshot:
    """The demo's figures from a ``/metrics`` page, read with Prometheus' own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    snap = Snapshot()
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "wirefeed_records_consumed_total":
                snap.consumed += s.value
            elif s.name == "wirefeed_events_published_total":
                snap.events[s.labels["event_type"]] += int(s.value)
            elif s.name == "wirefeed_duplicates_total":
                snap.duplicates[s.labels["reason"]] += int(s.value)
            elif s.name == "wirefeed_dead_letters_total":
                snap.dead_letters[s.labels["reason"]] += int(s.value)
            elif s.name == "wirefeed_consumer_lag":
                snap.lag += s.value
            elif s.name == "wirefeed_ready":
                snap.ready = s.value == 1
            elif s.name == "wirefeed_end_to_end_latency_seconds_bucket":
                buckets.append((float(s.labels["le"]), s.value))
    snap.p99 = histogram_quantile(0.99, buckets)
    return snap


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return int(resp.status), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


# --- the worker subprocess -----------------------------------------------------------
def pick_port(preferred: int) -> int:
    """``preferred`` when it is free on loopback, else any free port.

    SO_REUSEADDR as the worker's server (asyncio's default on Unix) binds: a port whose
    last connections wait in TIME_WAIT, as after the previous demo, is free for it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            return free_port()


def start_worker(bootstrap: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """``wirefeed run`` as its own process, exactly as deployed, configured by environment."""
    env = {
        **os.environ,
        "WIREFEED_BOOTSTRAP_SERVERS": bootstrap,
        "WIREFEED_METRICS_HOST": "127.0.0.1",
        "WIREFEED_METRICS_PORT": str(port),
        "WIREFEED_INPUT_TOPICS": INPUT,
        "WIREFEED_OUTPUT_TOPIC": OUTPUT,
        "WIREFEED_DUPLICATES_TOPIC": DUPLICATES,
        "WIREFEED_DEAD_LETTER_TOPIC": DLQ,
        "WIREFEED_STATE_TOPIC": STATE,
        "WIREFEED_GROUP_ID": "wirefeed-demo",
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "consumer.cli", "run"], env=env, cwd=REPO_ROOT,
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        )


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, so the worker commits and leaves its group; SIGKILL only if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


# --- watching the output topics ------------------------------------------------------------
@dataclass(slots=True)
class Outputs:
    """What is committed in the output topics (read_committed), and the latest headlines."""

    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    latest: collections.deque[Any] = field(default_factory=lambda: collections.deque(maxlen=5))
    # updates and corrections are rare and the point of the demo: keep them visible
    versions: collections.deque[Any] = field(default_factory=lambda: collections.deque(maxlen=3))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def watch_outputs(bootstrap: str, outputs: Outputs, stop: asyncio.Event) -> None:
    """Follow the three output topics from the start, like a downstream consumer would."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from consumer.cli.tail_cmd import describe

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        isolation_level="read_committed", auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in (OUTPUT, DUPLICATES, DLQ) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=300)
            for tp, records in batch.items():
                outputs.counts[tp.topic] += len(records)
                if tp.topic == OUTPUT:
                    for rec in records:
                        line = describe(rec.value, rec.key, rec.headers)
                        # headlines one line each; a new version with its diff under it
                        outputs.latest.append(dataclasses.replace(line, details=()))
                        if line.type != "story.created":
                            outputs.versions.append(line)
    finally:
        await consumer.stop()


# --- the display ----------------------------------------------------------------------
def _by(counter: collections.Counter[str], order: tuple[str, ...] = ()) -> str:
    keys = [k for k in order if counter[k]] + sorted(k for k in counter if k not in order)
    parts = [f"{k.removeprefix('story.')} {int(counter[k])}" for k in keys if counter[k]]
    return ", ".join(parts) or "none"


@dataclass(slots=True)
class View:
    """Everything the summary shows; rendered as a rich table or as plain lines."""

    feed: Feed
    bootstrap: str
    metrics_url: str
    started: float = field(default_factory=time.monotonic)
    replayed: int = 0
    snap: Snapshot = field(default_factory=Snapshot)
    outputs: Outputs = field(default_factory=Outputs)

    def rows(self) -> list[tuple[str, str]]:
        s = self.snap
        stories = collections.Counter({t: s.events[t] for t in STORY_TYPES})
        p99 = f"{s.p99 * 1000:.0f} ms" if s.p99 is not None else "-"
        committed = self.outputs.total
        n = len(self.feed.records)
        check = "all accounted for" if committed == n else "in progress"
        return [
            ("feed", f"{n} records from {self.feed.origin}, {self.replayed} replayed to {INPUT}"),
            ("records in", f"{int(s.consumed)}"),
            ("events out", f"{s.stories} ({_by(stories, STORY_TYPES)})"),
            ("duplicates", f"{sum(s.duplicates.values())} ({_by(s.duplicates)})"),
            ("dead letters", f"{sum(s.dead_letters.values())} ({_by(s.dead_letters)})"),
            ("lag", f"{int(s.lag)}"),
            ("p99 latency", p99),
            ("committed out", f"{committed} of {n} ({OUTPUT} {self.outputs.counts[OUTPUT]}, "
                              f"{DUPLICATES} {self.outputs.counts[DUPLICATES]}, "
                              f"{DLQ} {self.outputs.counts[DLQ]}): {check}"),
            ("metrics", self.metrics_url),
        ]

    def line(self) -> str:
        s = self.snap
        p99 = f"{s.p99 * 1000:.0f}ms" if s.p99 is not None else "-"
        return (f"[{time.monotonic() - self.started:5.1f}s] in {int(s.consumed)} | events "
                f"{s.stories} | duplicates {sum(s.duplicates.values())} | dead letters "
                f"{sum(s.dead_letters.values())} | lag {int(s.lag)} | p99 {p99} | committed "
                f"{self.outputs.total}/{len(self.feed.records)}")

    def report(self) -> str:
        width = max(len(k) for k, _ in self.rows())
        out = [f"  {k.ljust(width)}  {v}" for k, v in self.rows()]
        if self.outputs.latest:
            out.append("  latest headlines:")
            out += [f"    {line.plain()}" for line in self.outputs.latest]
        if self.outputs.versions:
            out.append("  latest new versions:")
            out += [f"    {text}" for line in self.outputs.versions
                    for text in line.plain().splitlines()]
        return "\n".join(out)

    def rich(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, value in self.rows():
            table.add_row(key, value)
        heads = Table.grid()
        heads.add_column(no_wrap=True, overflow="ellipsis")  # one line a headline, always
        for line in self.outputs.latest:
            heads.add_row(line.rich())
        if self.outputs.versions:
            heads.add_row("")
            heads.add_row("[bold]latest new versions[/bold]")
            for line in self.outputs.versions:
                heads.add_row(line.rich())
        title = (f"wirefeed demo · broker {self.bootstrap} · "
                 f"{time.monotonic() - self.started:.0f} s · Ctrl-C stops everything")
        return Panel(Group(table, "", "[bold]latest headlines[/bold]", heads), title=title)


# --- the session ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Options:
    duration: float | None
    once: bool
    live: bool
    timeout: float


async def _wait_ready(worker: subprocess.Popen[bytes], base: str, stop: asyncio.Event,
                      timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while not stop.is_set() and time.monotonic() < deadline:
        if worker.poll() is not None:
            return False
        status, _ = await asyncio.to_thread(_get, base + "/readyz")
        if status == 200:
            return True
        await asyncio.sleep(0.3)
    return False


async def session(feed: Feed, bootstrap: str, worker: subprocess.Popen[bytes], port: int,
                  opts: Options) -> int:
    """Replay, watch and report until Ctrl-C, ``--duration`` or (``--once``) the feed is done."""
    from consumer.model import RawRecord
    from consumer.replay import replay

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    base = f"http://127.0.0.1:{port}"
    view = View(feed, bootstrap, base + "/metrics")
    say = print if not opts.live else (lambda *a, **k: None)
    print(f"worker: wirefeed run (pid {worker.pid}), metrics {base}/metrics", flush=True)
    if not await _wait_ready(worker, base, stop):
        if stop.is_set():
            return 0
        print("demo: the worker did not become ready (see its log below)", file=sys.stderr)
        return 1
    print("worker ready; replaying the feed ...", flush=True)
    records = [
        RawRecord(value=r.value, key=r.key.encode() if r.key is not None else None,
                  headers=tuple((k, v.encode()) for k, v in r.headers.items()))
        for r in feed.records
    ]

    def sent(n: int) -> None:
        view.replayed = n

    watcher = asyncio.create_task(watch_outputs(bootstrap, view.outputs, stop))
    replayer = asyncio.create_task(replay(records, INPUT, {"bootstrap_servers": bootstrap},
                                          stop=stop, on_sent=sent))
    deadline = time.monotonic() + (opts.duration if opts.duration is not None else opts.timeout)
    bounded = opts.duration is not None or opts.once
    status = 0
    live: Any = None
    if opts.live:
        from rich.live import Live

        live = Live(view.rich(), refresh_per_second=4, transient=False)
        live.start()
    last_line = 0.0
    try:
        while not stop.is_set():
            code, text = await asyncio.to_thread(_get, base + "/metrics")
            if code == 200:
                view.snap = parse_metrics(text)
            if replayer.done() and replayer.exception() is not None:
                print(f"demo: replay failed: {replayer.exception()}", file=sys.stderr)
                status = 1
                break
            if live is not None:
                live.update(view.rich())
            elif time.monotonic() - last_line >= 2.0:
                say(view.line(), flush=True)
                last_line = time.monotonic()
            if worker.poll() is not None:
                print(f"demo: the worker exited ({worker.returncode})", file=sys.stderr)
                status = 1
                break
            done = (replayer.done() and view.outputs.total >= len(feed.records)
                    and view.snap.consumed >= len(feed.records) and view.snap.adds_up)
            if opts.once and done:
                break
            if bounded and time.monotonic() >= deadline:
                if opts.once:
                    print(f"demo: the feed was not accounted for in {opts.timeout:.0f} s",
                          file=sys.stderr)
                    status = 1
                elif not (view.snap.stories > 0 and view.snap.adds_up):
                    print("demo: no events, or the counts do not add up", file=sys.stderr)
                    status = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        if live is not None:
            live.update(view.rich())
            live.stop()
        stop.set()
        for task in (replayer, watcher):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
    if not opts.live:
        print(view.line())
    print("summary:\n" + view.report(), flush=True)
    s = view.snap
    print(f"check: consumed {int(s.consumed)} = events {s.stories} + duplicates "
          f"{sum(s.duplicates.values())} + dead letters {sum(s.dead_letters.values())}: "
          f"{'yes' if s.adds_up else 'NO'}", flush=True)
    return status


def _sigterm_to_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make demo", description="Local Kafka + wirefeed worker + a real sample feed.")
    parser.add_argument("--duration", type=float, default=None,
                        help="exit after N s; status 0 if events were published and counts add up")
    parser.add_argument("--once", action="store_true",
                        help="exit as soon as the whole feed is accounted for")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="--once gives up after this many seconds (default 300)")
    parser.add_argument("--no-live", action="store_true",
                        help="plain periodic lines instead of the live screen (CI logs)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="worker metrics port, if free (default 9108)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the feed's sample")
    args = parser.parse_args(argv)
    opts = Options(args.duration, args.once, not args.no_live and sys.stdout.isatty(),
                   args.timeout)
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)

    feed = build_feed(SHARED if (SHARED / "data").is_dir() else None, seed=args.seed)
    kinds = feed.counts("kind")
    print(f"feed: {len(feed.records)} records from {feed.origin}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())), flush=True)
    print("  formats: " + ", ".join(f"{k} {v}" for k, v in feed.counts("format").most_common()),
          flush=True)
    cluster = Cluster(nodes=1)
    workdir = Path(tempfile.mkdtemp(prefix="wirefeed-demo-"))
    log_path = workdir / "worker.log"
    worker: subprocess.Popen[bytes] | None = None
    status = 1
    try:
        print("starting a local Apache Kafka broker (KRaft) ...", flush=True)
        cluster.start()
        broker_pid = cluster.members[0].proc.pid if cluster.members[0].proc else None
        asyncio.run(create_topics(cluster.bootstrap_servers))
        print(f"broker: {cluster.bootstrap_servers} (pid {broker_pid}); topics: "
              f"{', '.join(TOPICS)} ({PARTITIONS} partitions)", flush=True)
        port = pick_port(args.port)
        worker = start_worker(cluster.bootstrap_servers, port, log_path)
        status = asyncio.run(session(feed, cluster.bootstrap_servers, worker, port, opts))
    except KeyboardInterrupt:
        status = 0
    except BrokerError as exc:
        print(f"demo: {exc}", file=sys.stderr)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the cleanup
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping ...", flush=True)
        if worker is not None:
            code = stop_worker(worker)
            print(f"worker exited with status {code}", flush=True)
            if code != 0 or status != 0:
                status = status or 1
                with contextlib.suppress(OSError):
                    tail = log_path.read_text(errors="replace").splitlines()[-15:]
                    print("worker log (last lines):\n" + "\n".join(tail), file=sys.stderr)
        cluster.stop()
        print("broker stopped", flush=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
