"""Start wirefeed workers against the test broker: in-process tasks or real subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumer.config import Settings, load
from consumer.metrics import Metrics
from consumer.worker import Worker
from tests.kafka_helpers import KafkaHelper


@dataclass
class Topics:
    input: str
    output: str
    duplicates: str
    dlq: str
    state: str

    def settings(self, bootstrap: str, group: str, **extra: Any) -> Settings:
        overrides: dict[str, Any] = {
            "bootstrap_servers": bootstrap, "input_topics": self.input,
            "output_topic": self.output, "duplicates_topic": self.duplicates,
            "dead_letter_topic": self.dlq, "state_topic": self.state, "group_id": group,
            "metrics_port": 0, "metrics_host": "127.0.0.1", "commit_interval_ms": 100,
        }
        overrides.update(extra)
        return load(overrides, environ={})

    def env(self, bootstrap: str, group: str, **extra: str) -> dict[str, str]:
        env = {
            "WIREFEED_BOOTSTRAP_SERVERS": bootstrap, "WIREFEED_INPUT_TOPICS": self.input,
            "WIREFEED_OUTPUT_TOPIC": self.output, "WIREFEED_DUPLICATES_TOPIC": self.duplicates,
            "WIREFEED_DEAD_LETTER_TOPIC": self.dlq, "WIREFEED_STATE_TOPIC": self.state,
            "WIREFEED_GROUP_ID": group, "WIREFEED_METRICS_HOST": "127.0.0.1",
            "WIREFEED_COMMIT_INTERVAL_MS": "100",
        }
        env.update({f"WIREFEED_{k.upper()}": v for k, v in extra.items()})
        return env


async def make_topics(kafka: KafkaHelper, name: Any, partitions: int = 1) -> Topics:
    topics = Topics(name("in"), name("out"), name("dup"), name("dlq"), name("state"))
    await kafka.create_topic(topics.input, partitions=partitions)
    for t in (topics.output, topics.duplicates, topics.dlq):
        await kafka.create_topic(t, partitions=partitions)
    await kafka.create_topic(topics.state, partitions=3, config={"cleanup.policy": "compact"})
    return topics


class InProcessWorker:
    """A Worker running as a task on the test's loop."""

    def __init__(self, settings: Settings) -> None:
        self.metrics = Metrics()
        self.worker = Worker(settings, self.metrics)
        self.task: asyncio.Task[int] | None = None

    async def __aenter__(self) -> InProcessWorker:
        self.task = asyncio.create_task(self.worker.run())
        await self.wait_ready()
        return self

    async def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.worker.readiness()[0]:
            assert self.task is not None
            if self.task.done():
                self.task.result()
                raise AssertionError("worker exited before it was ready")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not ready: {self.worker.readiness()[1]}")
            await asyncio.sleep(0.1)

    def counter(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or None)
        return value or 0.0

    async def stop(self) -> int:
        self.worker.request_stop()
        assert self.task is not None
        return await asyncio.wait_for(self.task, 30)

    async def __aexit__(self, *exc: object) -> None:
        if self.task is not None and not self.task.done():
            await self.stop()


REPO = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """``wirefeed run`` as a real subprocess: for SIGKILL, SIGTERM and multi-replica tests."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.env.setdefault("WIREFEED_METRICS_PORT", str(_free_port()))
        self.port = int(self.env["WIREFEED_METRICS_PORT"])
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "consumer.cli", "run"], env=self.env, cwd=REPO,
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def http(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    async def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited {self.proc.returncode}: {self.tail()}")
            status, _ = await asyncio.to_thread(self.http, "/readyz")
            if status == 200:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout}s: {self.tail()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def ensure_stopped(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _free_port() -> int:
    from consumer.devtools.broker import free_port

    return free_port()
