"""Broker-side benchmark primitives: input loading, passthrough baselines, the real worker.

Why each piece exists:

* The passthroughs copy the input topic to an output topic with no parsing.
  Baseline A commits with the worker's own code (:mod:`consumer.commit`: the
  same policy objects, transactions overlapped or offsets in the background,
  the same producer settings, ``getmany`` sized the same). They are the
  ceiling a client can reach in
  Python on this broker, so the worker's throughput is reported as a ratio to
  them, measured minutes apart on the same machine, not as an absolute number.
* aiokafka (baseline A) is the worker's own client; confluent-kafka
  (librdkafka, baseline B) shows what a Python process can move when the
  protocol work happens in C threads.
* The worker runs in-process with a commit listener that counts committed
  records and a processor that times itself, so the figure is committed
  records per second, timed from the first fetched record to the last commit
  (group join and state restore are start-up costs, not throughput).
* Latency runs the real ``wirefeed run`` as a subprocess, so that the paced
  producer and the read_committed consumer that time it do not share an event
  loop (or the GIL) with the worker they measure; baseline A runs the same
  steps as a subprocess too (:class:`PassthroughProcess`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from consumer.commit import Batch, CommitPolicy, Committed, commit_policy
from consumer.config import Settings, load
from consumer.devtools.broker import gc_pauses
from consumer.metrics import Metrics
from consumer.model import RawRecord
from consumer.pipeline import Outcome, Pipeline, Prepared
from consumer.processing import Processor
from consumer.worker import Worker

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 16 * 1024 * 1024
COMMIT_INTERVAL_MS = 100  # the worker's default, used by every variant
MAX_IN_FLIGHT = 2000  # the worker's default


@dataclass
class Run:
    """One throughput measurement."""

    name: str
    records: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "records": self.records, "seconds": round(self.seconds, 3),
                "records_per_s": round(self.rate, 1), **self.extra}


# --- topics and input ---------------------------------------------------------
async def create_topics(bootstrap: str, specs: Sequence[tuple[str, int, dict[str, str]]]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, p, 1, topic_configs=c) for n, p, c in specs])
        for name, parts, _ in specs:
            for _ in range(100):
                desc = await admin.describe_topics([name])
                got = desc[0].get("partitions", []) if desc else []
                if len(got) == parts and all(p.get("leader", -1) >= 0 for p in got):
                    break
                await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def worker_topics(bootstrap: str, prefix: str, partitions: int) -> dict[str, str]:
    """Fresh output, duplicates, dead-letter and state topics for one worker run."""
    names = {k: f"{prefix}.{k}" for k in ("out", "dup", "dlq", "state")}
    await create_topics(bootstrap, [
        (names["out"], partitions, {}), (names["dup"], partitions, {}),
        (names["dlq"], partitions, {}), (names["state"], 3, {"cleanup.policy": "compact"}),
    ])
    return names


def load_input(bootstrap: str, topic: str, values: Sequence[bytes], partitions: int) -> float:
    """Fill the input topic with librdkafka (fast, so loading 100k records takes seconds).

    Round-robin over partitions keeps them equal, so every consumer variant
    sees the same per-partition batches.
    """
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 20,
                         "message.max.bytes": MAX_BYTES})
    started = time.perf_counter()
    for i, value in enumerate(values):
        while True:
            try:
                producer.produce(topic, value, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("input not fully delivered")
    return time.perf_counter() - started


# --- baseline A: aiokafka passthrough -----------------------------------------
def passthrough_consumer(bootstrap: str, group: str) -> AIOKafkaConsumer:
    """A consumer of every partition of ``src`` (assigned by :func:`copy_records`)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        isolation_level="read_committed", auto_offset_reset="earliest",
        max_poll_records=MAX_IN_FLIGHT, max_partition_fetch_bytes=MAX_BYTES,
    )


async def copy_records(bootstrap: str, src: str, dst: str, partitions: int, group: str, *,
                       eos: bool, until: Callable[[int], bool],
                       ready: Callable[[], None] | None = None) -> tuple[int, float, float]:
    """Copy ``src`` -> ``dst`` from the beginning, committed by the worker's own commit
    policy (:mod:`consumer.commit`), until ``until(committed records)``.

    Each output carries the ``wirefeed-source-partition`` / ``-offset`` headers, as
    the worker's do. Returns (committed records, first fetch, last commit) in
    ``perf_counter`` seconds.
    """
    tps = [TopicPartition(src, p) for p in range(partitions)]
    done = 0
    first = last = 0.0

    def committed(c: Committed) -> None:
        nonlocal done, last
        done += len(c.timestamps)
        last = time.perf_counter()

    consumer = passthrough_consumer(bootstrap, group)
    await consumer.start()
    policy: CommitPolicy | None = None
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        policy = await commit_policy(eos, kafka={"bootstrap_servers": bootstrap},
                                     consumer=consumer, group_id=group, txn_prefix=group,
                                     interval_ms=COMMIT_INTERVAL_MS, on_committed=committed)
        for tp in tps:
            await policy.add(tp)
        if ready is not None:
            ready()
        while not until(done):
            policy.check()
            if policy.pending() >= MAX_IN_FLIGHT:
                await policy.commit_due(force=True)
            fetched = await consumer.getmany(timeout_ms=policy.until_due_ms(),
                                             max_records=MAX_IN_FLIGHT)
            for tp, recs in fetched.items():
                first = first or time.perf_counter()
                batch = policy.batches[tp]
                producer = await policy.begin(batch, recs[0].timestamp)
                for rec in recs:
                    headers = [("wirefeed-source-partition", str(rec.partition).encode()),
                               ("wirefeed-source-offset", str(rec.offset).encode())]
                    await policy.send(batch, producer, dst, rec.value, rec.key, headers)
                    policy.record(batch, rec.offset, rec.timestamp, "")
            await policy.commit_due()
        await policy.commit_due(force=True)
    finally:
        if policy is not None:
            await policy.close()
        await consumer.stop()
    return done, first, last


async def aiokafka_passthrough(bootstrap: str, src: str, dst: str, n: int, partitions: int, *,
                               eos: bool, group: str) -> Run:
    """Copy ``n`` records ``src`` -> ``dst`` the way the worker would, minus the pipeline."""
    done, first, last = await copy_records(bootstrap, src, dst, partitions, group, eos=eos,
                                           until=lambda committed: committed >= n)
    return Run(f"A aiokafka {'eos' if eos else 'alo'}", done, last - first)


# --- baseline B: confluent-kafka passthrough ---------------------------------
def confluent_passthrough(bootstrap: str, src: str, dst: str, n: int, partitions: int, *,
                          eos: bool, group: str) -> Run:
    """The same copy with librdkafka; one transactional producer, KIP-447 offsets.

    librdkafka's ``send_offsets_to_transaction`` carries the consumer group
    metadata, so one producer fences correctly: the idiomatic design there,
    and the cheapest, which is what a reference ceiling should be.
    """
    from confluent_kafka import Consumer, Producer
    from confluent_kafka import TopicPartition as KafkaPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "auto.offset.reset": "earliest", "fetch.max.bytes": MAX_BYTES})
    consumer.assign([KafkaPartition(src, p, -2) for p in range(partitions)])  # -2: beginning
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "acks": "all",
                            "enable.idempotence": True, "linger.ms": 5,
                            "message.max.bytes": MAX_BYTES}
    if eos:
        conf["transactional.id"] = f"{group}-txn"
    producer = Producer(conf)
    if eos:
        producer.init_transactions(30)
    nxt: dict[int, int] = {}
    pending = done = 0
    opened = 0.0
    first = last = 0.0
    try:
        while done < n:
            msgs = consumer.consume(num_messages=MAX_IN_FLIGHT, timeout=COMMIT_INTERVAL_MS / 1000)
            if msgs and not first:
                first = time.perf_counter()
            for msg in msgs:
                if msg.error():
                    continue
                if eos and not pending:
                    producer.begin_transaction()
                if not pending:
                    opened = time.monotonic()
                while True:
                    try:
                        producer.produce(dst, msg.value(), key=msg.key())
                        break
                    except BufferError:
                        producer.poll(0.01)
                nxt[msg.partition()] = msg.offset() + 1
                pending += 1
            producer.poll(0)
            due = pending and (pending >= MAX_IN_FLIGHT
                               or time.monotonic() - opened >= COMMIT_INTERVAL_MS / 1000)
            if due:
                offsets = [KafkaPartition(src, p, o) for p, o in nxt.items()]
                if eos:
                    producer.send_offsets_to_transaction(
                        offsets, consumer.consumer_group_metadata(), 30)
                    producer.commit_transaction(30)
                else:
                    producer.flush(30)
                    consumer.commit(offsets=offsets, asynchronous=False)
                done += pending
                pending = 0
                last = time.perf_counter()
    finally:
        consumer.close()
        producer.flush(10)
    return Run(f"B confluent {'eos' if eos else 'alo'}", done, last - first)


# --- the real worker, in-process ---------------------------------------------
def worker_settings(bootstrap: str, src: str, names: dict[str, str], group: str, *,
                    eos: bool, **extra: Any) -> Settings:
    overrides: dict[str, Any] = {
        "bootstrap_servers": bootstrap, "input_topics": src, "output_topic": names["out"],
        "duplicates_topic": names["dup"], "dead_letter_topic": names["dlq"],
        "state_topic": names["state"], "group_id": group, "metrics_port": 0,
        "metrics_host": "127.0.0.1", "log_level": "error",
        "processing_guarantee": "exactly_once" if eos else "at_least_once",
    }
    overrides.update(extra)
    return load(overrides, environ={})


class BenchProcessor(Processor):
    """The worker's processor, timed; with ``outcomes``, replaying those instead of parsing
    and deciding (the shell-only variant)."""

    def __init__(self, worker: Worker, outcomes: Sequence[Outcome] | None = None) -> None:
        pipeline = worker.processor.pipeline if outcomes is None else _Replay(outcomes)
        super().__init__(pipeline, worker.state, worker.processor.topics, worker.metrics)
        self.replay = outcomes is not None
        self.first = 0.0
        self.busy_s = 0.0

    async def process(self, commits: CommitPolicy, batch: Batch,
                      records: list[ConsumerRecord[bytes, bytes]]) -> None:
        started = time.perf_counter()
        self.first = self.first or started
        await super().process(commits, batch, records)
        self.busy_s += time.perf_counter() - started

    async def prepared(self, raws: list[RawRecord]
                       ) -> AsyncIterator[tuple[RawRecord, Prepared, float]]:
        if not self.replay:
            async for item in super().prepared(raws):
                yield item
            return
        nothing = Prepared(None)
        for raw in raws:
            yield raw, nothing, 0.0


class _Replay(Pipeline):
    """Outcomes of real records, handed out by offset; nothing applied to the index."""

    def __init__(self, outcomes: Sequence[Outcome]) -> None:
        super().__init__()
        self._outcomes = outcomes

    def process_prepared(self, prepared: Prepared, record: RawRecord) -> Outcome:
        return self._outcomes[(record.offset or 0) % len(self._outcomes)]

    def commit(self, outcome: Outcome) -> None:
        pass


class Counting:
    """Counts the worker's committed records and their event types (a commit listener)."""

    def __init__(self) -> None:
        self.committed = 0
        self.last = 0.0
        self.events: Counter[str] = Counter()

    def __call__(self, done: Committed) -> None:
        self.committed += len(done.timestamps)
        self.events.update(done.kinds)
        self.last = time.perf_counter()


def shell_only(worker: Worker, sample: Sequence[bytes], topic: str) -> None:
    """Replace parse+dedup by replaying precomputed outcomes of real records.

    The sends (event, changelog entries) and their sizes stay those of the real
    pipeline; only its CPU time goes. What remains is the shell's own cost per
    record, the part a change in the shell can move.
    """
    pipe = Pipeline()
    outcomes = [pipe.run(RawRecord(value=v, topic=topic, partition=0, offset=i, timestamp_ms=0))
                for i, v in enumerate(sample)]
    worker.processor = BenchProcessor(worker, outcomes)


async def run_worker(settings: Settings, n: int, cap_s: float, name: str, *,
                     prepare: Callable[[Worker], None] | None = None,
                     profiler: Any = None) -> Run:
    """Run the worker until ``n`` records are committed or ``cap_s`` of processing passed."""
    worker = Worker(settings, Metrics())
    counts = Counting()
    worker.commit_listeners.append(counts)
    worker.processor = BenchProcessor(worker)
    if prepare is not None:
        prepare(worker)
    timed = worker.processor
    assert isinstance(timed, BenchProcessor)
    task = asyncio.create_task(worker.run())
    started = time.monotonic()
    try:
        while counts.committed < n:
            if task.done():
                task.result()
                raise RuntimeError("worker exited")
            if timed.first and profiler is not None and not profiler.is_running:
                profiler.start()
            if timed.first and time.perf_counter() - timed.first > cap_s:
                break
            if time.monotonic() - started > cap_s + 60:
                raise RuntimeError(f"worker never started: {worker.readiness()[1]}")
            await asyncio.sleep(0.05)
    finally:
        if profiler is not None and profiler.is_running:
            profiler.stop()
        worker.request_stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 60)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):  # the worker installed its own handlers
            loop.remove_signal_handler(sig)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    wall = counts.last - timed.first
    # the loop stands still while a commit runs: its share of the wall time
    commit_s = worker.metrics.registry.get_sample_value(
        "wirefeed_commit_duration_seconds_sum") or 0.0
    return Run(name, counts.committed, wall,
               {"events": dict(counts.events), "capped": counts.committed < n,
                "process_share": round(timed.busy_s / wall, 3) if wall else None,
                "commit_share": round(commit_s / wall, 3) if wall else None})


class SpyProfiler:
    """py-spy sampling this very process from outside (``--nonblocking``).

    Preferred over pyinstrument when installed: pyinstrument hooks every
    Python call, which slowed the worker about threefold here and inflates
    call-heavy stages; py-spy reads the stacks from another process and
    leaves the worker's speed (and so the shares) nearly untouched.
    """

    def __init__(self, out: Path, rate: int = 250) -> None:
        self.out = out
        self.rate = rate
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}") \
            is not None

    @property
    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        exe = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        assert exe is not None
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(os.getpid()), "--rate", str(self.rate), "--format",
             "raw", "--full-filenames", "--nonblocking", "-o", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def stacks(self) -> list[tuple[list[tuple[str, str]], float]]:
        """(root-first stack of (file, function), seconds) from py-spy's collapsed output."""
        out: list[tuple[list[tuple[str, str]], float]] = []
        if not self.out.exists():
            return out
        for line in self.out.read_text(errors="replace").splitlines():
            frames, _, count = line.rpartition(" ")
            if not frames or not count.isdigit():
                continue
            stack = []
            for frame in frames.split(";"):
                func, _, rest = frame.partition(" (")
                stack.append((rest.rsplit(":", 1)[0], func))
            out.append((stack, int(count) / self.rate))
        return out


# --- latency: the real `wirefeed run` subprocess ------------------------------
def _free_port() -> int:
    from consumer.devtools.broker import free_port

    return free_port()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 30 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class WorkerProcess:
    """``python -m consumer.cli run`` with WIREFEED_* settings; stopped with SIGTERM."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        port = _free_port()
        env = dict(os.environ)
        for key, value in settings.redacted().items():
            env[f"WIREFEED_{key.upper()}"] = str(value)
        env["WIREFEED_METRICS_PORT"] = str(port)
        self.port = port
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "consumer.cli", "run"], env=env,
                                         cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    async def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self.ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"worker not ready: {tail}")
            await asyncio.sleep(0.2)

    def processing(self) -> dict[str, float]:
        """The worker's processing-time and event-loop-lag histograms: cumulative counts by
        bucket, sum, count (the lag's keys prefixed ``lag:``).

        Differenced per load step they tell utilisation (seconds of processing
        per second), how many records took long (an index rebuild, a GC, or
        CPU taken by other processes) and how often the loop stood still, which
        explain a latency tail.
        """
        out: dict[str, float] = {}
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return out
        for line in text.splitlines():
            for metric, prefix in (("wirefeed_processing_duration_seconds", ""),
                                   ("wirefeed_event_loop_lag_seconds", "lag:")):
                if not line.startswith(metric):
                    continue
                name, _, value = line.rpartition(" ")
                if "_bucket" in name:
                    out[prefix + name.split('le="')[1].split('"')[0]] = float(value)
                elif name.endswith("_sum"):
                    out[prefix + "sum"] = float(value)
                elif name.endswith("_count"):
                    out[prefix + "count"] = float(value)
        return out

    def stop(self) -> None:
        _terminate(self.proc)


class PassthroughProcess:
    """Baseline A for latency (``bench/_latency_passthrough.py``) as a subprocess."""

    def __init__(self, bootstrap: str, src: str, dst: str, group: str, partitions: int, *,
                 eos: bool, log_path: Path) -> None:
        cmd = [sys.executable, str(ROOT / "bench" / "_latency_passthrough.py"),
               "--bootstrap", bootstrap, "--src", src, "--dst", dst, "--group", group,
               "--partitions", str(partitions)] + (["--eos"] if eos else [])
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log)

    async def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if line.strip() != b"ready":
            raise RuntimeError(f"passthrough not ready: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        _terminate(self.proc)
        self._log.close()


def percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    s = sorted(values)

    def q(p: float) -> float:
        return s[min(len(s) - 1, int(p * len(s)))]

    return {"p50": round(q(0.50), 2), "p99": round(q(0.99), 2), "max": round(s[-1], 2)}


async def latency_steps(bootstrap: str, src: str, outputs: Sequence[str], partitions: int,
                        values: Sequence[bytes], loads: Sequence[int], step_s: float,
                        drain_s: float,
                        scrape: Callable[[], dict[str, float]] | None = None,
                        gc_log: Path | None = None) -> list[dict[str, Any]]:
    """Offer each load for ``step_s``; added latency = receive time - input CreateTime.

    The output event carries its input's partition and offset in headers; the
    input's CreateTime is the timestamp this producer set, so the difference
    is everything the process under test adds: fetch, parse, dedup, produce,
    commit, and the read_committed consumer seeing the committed transaction.

    The paced producer and the timing consumer are librdkafka (confluent-kafka),
    run from a thread: on two cores shared with the broker and the process under
    test, an aiokafka producer and consumer here took 33-36 % of a core at
    500 records/s, CPU the measured process then competed for; librdkafka does
    the protocol work in C threads and stamps a record when ``consume`` returns it.

    With the broker's collector log (``gc_log``), each step also reports the
    broker's pauses from its first offered record to its last received one: a
    pause stops the broker and, on two cores, the collector's threads take both,
    so every record in flight waits it out; the tail of a short step depends on
    how many fell inside it.
    """
    return await asyncio.to_thread(_latency_steps, bootstrap, src, outputs, partitions, values,
                                   loads, step_s, drain_s, scrape, gc_log)


def _latency_steps(bootstrap: str, src: str, outputs: Sequence[str], partitions: int,
                   values: Sequence[bytes], loads: Sequence[int], step_s: float, drain_s: float,
                   scrape: Callable[[], dict[str, float]] | None,
                   gc_log: Path | None = None) -> list[dict[str, Any]]:
    from confluent_kafka import Consumer, Message, Producer
    from confluent_kafka import TopicPartition as KafkaPartition

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                         "enable.idempotence": True, "linger.ms": 0,
                         "message.max.bytes": MAX_BYTES})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"latency-{os.getpid()}",
                         "enable.auto.commit": False, "isolation.level": "read_committed",
                         "fetch.wait.max.ms": 20, "max.partition.fetch.bytes": MAX_BYTES,
                         "fetch.max.bytes": 4 * MAX_BYTES})
    # start at the current end of every output partition, resolved before any
    # record is offered (OFFSET_END would resolve lazily, after some are written)
    starts = []
    for topic in outputs:
        for p in range(partitions):
            _, high = consumer.get_watermark_offsets(KafkaPartition(topic, p), timeout=10)
            starts.append(KafkaPartition(topic, p, high))
    consumer.assign(starts)
    sent: dict[tuple[int, int], int] = {}  # input (partition, offset) -> CreateTime ms
    received: dict[tuple[int, int], float] = {}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            # poll returns as soon as one record is there (consume would wait
            # for its batch size or the timeout); the rest already fetched follow
            first = consumer.poll(0.05)
            if first is None:
                continue
            now_ms = time.time() * 1000
            for msg in [first, *consumer.consume(num_messages=1000, timeout=0)]:
                if msg.error():
                    continue
                hdr = dict(msg.headers() or ())
                part = hdr.get("wirefeed-source-partition")
                off = hdr.get("wirefeed-source-offset")
                if part is not None and off is not None:
                    received.setdefault((int(part), int(off)), now_ms)

    reader = threading.Thread(target=consume, name="latency-reader", daemon=True)
    reader.start()
    source = iter(values)
    counter = 0
    results: list[dict[str, Any]] = []

    def offer(rate: int, seconds: float) -> list[tuple[int, int]]:
        nonlocal counter, source
        keys: list[tuple[int, int]] = []
        failed: list[str] = []

        def delivered(err: Any, msg: Message) -> None:
            if err is not None:
                failed.append(str(err))
                return
            ts = msg.timestamp()[1]
            key = (msg.partition(), msg.offset())
            sent[key] = ts
            keys.append(key)

        started = time.monotonic()
        done = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(rate * elapsed) - done
            for _ in range(due):
                try:
                    value = next(source)
                except StopIteration:
                    source = iter(values)
                    value = next(source)
                producer.produce(src, value, partition=counter % partitions,
                                 timestamp=int(time.time() * 1000), on_delivery=delivered)
                counter += 1
            done += max(0, due)
            producer.poll(0)
            time.sleep(0.002)
        if producer.flush(30) != 0 or failed:
            raise RuntimeError(f"offered records not delivered: {failed[:3]}")
        return keys

    try:
        offer(50, 1.0)  # warm-up: first fetches, first transactions
        time.sleep(1.0)
        for rate in loads:
            before = scrape() if scrape else {}
            scraped_at = time.monotonic()
            keys = offer(rate, step_s)
            for _ in range(int(drain_s * 10)):  # the reader thread fills `received`
                if all(k in received for k in keys):
                    break
                time.sleep(0.1)
            lat = [received[k] - sent[k] for k in keys if k in received]
            missing = sum(1 for k in keys if k not in received)
            row = {"offered_per_s": rate, "records": len(keys), "undelivered": missing,
                   **percentiles(lat)}
            if gc_log is not None and keys:
                first = min(sent[k] for k in keys) / 1000
                last = max([received[k] for k in keys if k in received] or [first * 1000]) / 1000
                row["broker_gc_ms"] = gc_pauses(gc_log, first, last)
            after = scrape() if scrape else {}
            if before and after:
                delta = {k: after[k] - before.get(k, 0.0) for k in after}
                n = delta.get("count", 0.0)
                took = time.monotonic() - scraped_at
                row["worker_busy"] = round(delta.get("sum", 0.0) / took, 2)  # processing s/s
                row["slow_records"] = {f">{le}s": int(n - delta.get(le, n))
                                       for le in ("0.01", "0.05")}
                ticks = delta.get("lag:count", 0.0)
                # the worker's 100 ms timer fired late by more than this: the loop was held
                row["loop_stalls"] = {f">{le}s": int(ticks - delta.get(f"lag:{le}", ticks))
                                      for le in ("0.01", "0.05")}
            results.append(row)
            print(f"    load {rate:>5}/s: {len(keys)} records, p50 {row['p50']} ms, "
                  f"p99 {row['p99']} ms, max {row['max']} ms, undelivered {missing}, "
                  f"worker busy {row.get('worker_busy')}, slow {row.get('slow_records')}, "
                  f"loop stalls {row.get('loop_stalls')}"
                  + (f", broker GC pauses {row['broker_gc_ms']} ms" if "broker_gc_ms" in row
                     else ""), flush=True)
            time.sleep(0.5)
    finally:
        stop.set()
        reader.join(5)
        consumer.close()
        producer.flush(10)
    return results
