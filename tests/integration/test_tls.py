"""TLS against a real broker's SSL listeners, with certificates made for the run.

The module's cluster has three TLS listeners beside PLAINTEXT (used for the
topics and the checks): SSL (the client verifies the broker), MTLS (the broker
requires a client certificate) and SASL_SSL (SCRAM inside TLS). The worker,
``wirefeed replay`` and ``wirefeed tail`` run over them with the same settings
an operator sets; a wrong CA and an expired client certificate leave a real
worker process not ready, alive, quiet and saying why.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from consumer import tlsprobe
from consumer.devtools.broker import Cluster
from consumer.devtools.certs import TlsMaterial
from tests.integration.worker_helpers import InProcessWorker, WorkerProcess, make_topics
from tests.kafka_helpers import KafkaHelper

pytestmark = pytest.mark.integration

USER, PASSWORD = "wirefeed", "tls-Pa55-w0rd"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def tls_cluster() -> AsyncIterator[Cluster]:
    cluster = Cluster(nodes=1, tls=True, sasl_users={USER: PASSWORD})
    await asyncio.to_thread(cluster.start)
    try:
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)


def _material(cluster: Cluster) -> TlsMaterial:
    assert cluster.tls_material is not None
    return cluster.tls_material


def _security(cluster: Cluster, listener: str) -> dict[str, str]:
    """The settings (field -> value) an operator gives for one of the TLS listeners."""
    m = _material(cluster)
    out = {"bootstrap_servers": cluster.tls_bootstrap_servers(listener),
           "security_protocol": "SASL_SSL" if listener == "SASL_SSL" else "SSL",
           "ssl_cafile": str(m.ca)}
    if listener == "MTLS":
        out |= {"ssl_certfile": str(m.client_cert), "ssl_keyfile": str(m.client_key)}
    if listener == "SASL_SSL":
        out |= {"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER,
                "sasl_password": PASSWORD}
    return out


@pytest.mark.parametrize("listener", ["SSL", "MTLS", "SASL_SSL"])
async def test_worker_over_tls(
    tls_cluster: Cluster, listener: str, unique_name: Callable[[str], str], shared_dir: Path,
) -> None:
    """SSL with the broker verified against the run's CA (and its IP in the certificate),
    mutual TLS with a client certificate, SCRAM-SHA-512 inside TLS: a real story in,
    its event out."""
    kafka = KafkaHelper(tls_cluster.bootstrap_servers)  # topics and checks over PLAINTEXT
    try:
        topics = await make_topics(kafka, unique_name)
        security = _security(tls_cluster, listener)
        settings = topics.settings(security.pop("bootstrap_servers"), unique_name("g"),
                                   **security)
        seed = next((shared_dir / "seeds").glob("*.txt")).read_bytes()
        async with InProcessWorker(settings) as worker:
            await kafka.produce(topics.input, [seed])
            (record,) = await kafka.consume_all(topics.output, expected=1)
            assert worker.counter("wirefeed_broker_connection_failures_total",
                                  reason="tls_server_not_trusted") == 0
        assert orjson.loads(record.value)["story"]["located"] == "KIEW"
    finally:
        await kafka.close()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{name}\{{{re.escape(want)}\}} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


@pytest.mark.parametrize(("case", "reason"), [
    ("wrong_ca", "tls_server_not_trusted"),
    ("expired_client_certificate", "tls_client_certificate_expired"),
])
async def test_tls_failure_is_not_ready_says_why_once_and_does_not_spin(
    tls_cluster: Cluster, case: str, reason: str, unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A real worker process against a broker it cannot trust, or that refuses its
    expired certificate: alive, not ready with the reason on /readyz, the reason as a
    metric label, one error line naming it (not one a retry), and retrying with a
    backoff rather than a busy loop (few attempts, little CPU)."""
    m = _material(tls_cluster)
    if case == "wrong_ca":
        security = {"security_protocol": "SSL", "ssl_cafile": str(m.other_ca)}
        bootstrap = tls_cluster.tls_bootstrap_servers("SSL")
    else:
        security = {"security_protocol": "SSL", "ssl_cafile": str(m.ca),
                    "ssl_certfile": str(m.expired_cert), "ssl_keyfile": str(m.expired_key)}
        bootstrap = tls_cluster.tls_bootstrap_servers("MTLS")
    kafka = KafkaHelper(tls_cluster.bootstrap_servers)
    try:
        topics = await make_topics(kafka, unique_name)
    finally:
        await kafka.close()
    worker = WorkerProcess(topics.env(bootstrap, unique_name("g"), **security),
                           tmp_path / "worker.log").start()
    assert worker.proc is not None
    try:
        deadline = time.monotonic() + 60
        while True:  # until the first failed attempt is diagnosed
            status, body = await asyncio.to_thread(worker.http, "/readyz")
            if reason in body or time.monotonic() > deadline:
                break
            assert worker.proc.poll() is None, worker.tail()
            await asyncio.sleep(0.2)
        assert status == 503, (status, body)
        assert f"broker unreachable: {reason}" in body
        cpu_before = _cpu_seconds(worker.proc.pid)
        await asyncio.sleep(8)
        cpu = _cpu_seconds(worker.proc.pid) - cpu_before
        assert worker.proc.poll() is None, "a TLS failure must not end the worker"
        status, metrics = await asyncio.to_thread(worker.http, "/metrics")
        attempts = _metric(metrics, "wirefeed_broker_connection_failures_total", reason=reason)
        # backoff 0.5, 1, 2, 4 s: a handful of attempts in 8 s, not hundreds
        assert 2 <= attempts <= 8, attempts
        assert cpu < 2.0, f"{cpu:.2f} s of CPU in 8 s of retrying"
        assert _metric(metrics, "wirefeed_ready") == 0
        lines = [line for line in worker.tail(400).splitlines()
                 if '"broker_connection_failed"' in line]
        assert len(lines) == 1, lines
        logged = orjson.loads(lines[0])
        assert logged["reason"] == reason
        assert logged["level"] == "error"
        assert logged["hint"] == tlsprobe.HINTS[reason]
        code, _ = worker.terminate()
        assert code == 0
    finally:
        worker.ensure_stopped()


def _wirefeed(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "consumer.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **env})


async def test_replay_and_tail_over_tls(
    tls_cluster: Cluster, unique_name: Callable[[str], str], shared_dir: Path,
) -> None:
    """``wirefeed replay`` over mutual TLS into the input, the worker over SSL, and
    ``wirefeed tail`` over SCRAM in TLS reading the events: the operator's three
    commands with nothing but the WIREFEED_* security variables."""
    kafka = KafkaHelper(tls_cluster.bootstrap_servers)
    try:
        topics = await make_topics(kafka, unique_name)
        seeds = sorted((shared_dir / "seeds").glob("*.txt"))
        mtls = {f"WIREFEED_{k.upper()}": v for k, v in _security(tls_cluster, "MTLS").items()}
        done = await asyncio.to_thread(_wirefeed, "replay", *map(str, seeds),
                                       "--topic", topics.input, env=mtls)
        assert done.returncode == 0, done.stderr
        assert f"replayed {len(seeds)} records to {topics.input}" in done.stderr
        security = _security(tls_cluster, "SSL")
        settings = topics.settings(security.pop("bootstrap_servers"), unique_name("g"),
                                   **security)
        async with InProcessWorker(settings):
            await kafka.consume_all(topics.output, expected=len(seeds))
        sasl_ssl = {f"WIREFEED_{k.upper()}": v
                    for k, v in _security(tls_cluster, "SASL_SSL").items()}
        shown = await asyncio.to_thread(
            _wirefeed, "tail", "--topic", topics.output, "--from-beginning", "--json",
            "--max", str(len(seeds)), "--timeout", "20", env=sasl_ssl)
        assert shown.returncode == 0, shown.stderr
        events = [orjson.loads(line) for line in shown.stdout.splitlines() if line.strip()]
        assert len(events) == len(seeds)
        assert {e["event_type"] for e in events} <= {"story.created", "story.updated",
                                                     "story.corrected"}
    finally:
        await kafka.close()
