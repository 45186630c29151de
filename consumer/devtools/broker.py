"""A real Apache Kafka broker (KRaft mode) on loopback, for tests, the demo and benchmarks.

The broker comes from Maven Central: ``deploy/kafka/pom.xml`` pins the Kafka
version, and Maven copies ``kafka_2.13`` with its runtime dependencies into
``.cache/kafka/<version>/libs`` of the checkout (git-ignored, reused across
runs). No Docker engine, no tarball download outside the package registries:
exactly what a fresh machine with JDK 17 and Maven can do.

The broker JVM gets ``PR_SET_PDEATHSIG`` so that it dies with the Python
process that started it, even when that process is killed with SIGKILL: a
crashed test run never leaves a stray JVM holding ports and memory.

Usage from the shell::

    python -m consumer.devtools.broker fetch          # populate the jar cache
    python -m consumer.devtools.broker run            # one broker until Ctrl-C
    python -m consumer.devtools.broker run --nodes 3  # a 3-broker cluster
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from consumer.devtools import certs
from consumer.devtools.certs import TlsMaterial

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
CACHE_DIR = Path(os.environ.get("WIREFEED_KAFKA_CACHE", REPO_ROOT / ".cache" / "kafka"))
DEFAULT_HEAP = os.environ.get("WIREFEED_KAFKA_HEAP", "-Xms128m -Xmx768m")
# Tests run up to three brokers beside the suite: the serial collector keeps each small.
SMALL_GC = "-XX:+UseSerialGC"
# What Kafka's own start script (kafka-run-class.sh) runs a broker with, heap included:
# benchmarks run what production runs, whose collector pauses are shorter than the serial
# one's under load (bench/ROUNDS.md).
KAFKA_HEAP = "-Xms1g -Xmx1g"
KAFKA_GC = ("-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 "
            "-XX:+ExplicitGCInvokesConcurrent")

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class BrokerError(RuntimeError):
    """The broker could not be fetched, formatted or started."""


def kafka_version() -> str:
    """The pinned Kafka version, read from the pom so there is one place to change it."""
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not match:
        raise BrokerError(f"no <kafka.version> in {POM}")
    return match.group(1)


def libs_dir(version: str | None = None) -> Path:
    return CACHE_DIR / (version or kafka_version()) / "libs"


def fetch(*, quiet: bool = True) -> Path:
    """Make sure the broker jars are in the cache; download them with Maven if not.

    The copy goes to a temporary folder first and is renamed into place, so an
    interrupted download never leaves a half-filled cache that looks complete.
    """
    version = kafka_version()
    target = libs_dir(version)
    if (target / f"kafka_2.13-{version}.jar").exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not on PATH: it is needed once to fetch the Kafka broker")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=target.parent))
    cmd = [
        mvn, "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]
    if quiet:
        cmd.insert(2, "-q")
    print(f"wirefeed: fetching Apache Kafka {version} from Maven Central ...", file=sys.stderr)
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0 or not (staging / f"kafka_2.13-{version}.jar").exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(f"Maven could not fetch org.apache.kafka:kafka_2.13:{version}")
    if target.exists():  # another process won the race
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(target)
    return target


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """preexec hook: the child gets SIGKILL when its parent dies (Linux prctl)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgrp()


@dataclass
class Node:
    """One KRaft node that is both broker and controller."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    sasl_port: int = 0
    # TLS listener name (SSL, MTLS, SASL_SSL) -> port, when the cluster has TLS
    tls_ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def gc_log(self) -> Path:
        """The JVM's collector log (one line a pause, wall-clock stamped; a restart
        starts it afresh): benchmarks tell a broker pause from their own latency."""
        return self.data_dir / "gc.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """A local Kafka cluster of one or more combined broker/controller nodes.

    With three nodes, internal topics get replication factor 3 and
    ``min.insync.replicas`` 2, so tests can stop a node and keep producing
    with ``acks=all``, which is what failover tests need.
    """

    nodes: int = 1
    base_dir: Path | None = None
    # SASL users (name -> password): adds a SASL_PLAINTEXT listener with PLAIN and
    # SCRAM-SHA-256/512, for testing the worker's security settings against a real broker
    sasl_users: dict[str, str] | None = None
    # TLS listeners with certificates made for this run (see consumer.devtools.certs):
    # SSL (server verified by the client), MTLS (client certificate required) and,
    # with sasl_users, SASL_SSL; inter-broker traffic stays on PLAINTEXT
    tls: bool = False
    heap_opts: str = DEFAULT_HEAP
    gc_opts: str = SMALL_GC
    cluster_id: str = field(default_factory=lambda: new_cluster_id())
    members: list[Node] = field(default_factory=list)
    tls_material: TlsMaterial | None = None
    _own_dir: bool = False

    def __post_init__(self) -> None:
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="wirefeed-kafka-"))
            self._own_dir = True
        tls_names = (["SSL", "MTLS"] + (["SASL_SSL"] if self.sasl_users else [])
                     if self.tls else [])
        if self.tls:
            self.tls_material = certs.make(self.base_dir / "tls")
        for i in range(self.nodes):
            node_dir = self.base_dir / f"node-{i + 1}"
            sasl_port = free_port() if self.sasl_users else 0
            self.members.append(Node(i + 1, free_port(), free_port(), node_dir, sasl_port,
                                     {name: free_port() for name in tls_names}))

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.bootstrap for n in self.members)

    @property
    def sasl_bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{n.sasl_port}" for n in self.members)

    def tls_bootstrap_servers(self, listener: str = "SSL") -> str:
        """Bootstrap servers of a TLS listener: SSL, MTLS or SASL_SSL."""
        return ",".join(f"127.0.0.1:{n.tls_ports[listener]}" for n in self.members)

    def _tls_properties(self, node: Node) -> tuple[list[str], list[str], list[str]]:
        """Listeners, protocol map entries and settings of the TLS listeners."""
        material = self.tls_material
        if material is None:
            return [], [], []
        listeners = [f"{name}://127.0.0.1:{port}" for name, port in node.tls_ports.items()]
        protocols = [f"{name}:{'SASL_SSL' if name == 'SASL_SSL' else 'SSL'}"
                     for name in node.tls_ports]
        settings = [
            "ssl.keystore.type=PEM", f"ssl.keystore.location={material.server_keystore}",
            "ssl.truststore.type=PEM", f"ssl.truststore.location={material.ca}",
            "listener.name.mtls.ssl.client.auth=required",
        ]
        return listeners, protocols, settings

    def _listener_properties(self, node: Node) -> list[str]:
        listeners = [f"PLAINTEXT://127.0.0.1:{node.port}",
                     f"CONTROLLER://127.0.0.1:{node.controller_port}"]
        advertised = [f"PLAINTEXT://127.0.0.1:{node.port}"]
        protocols = "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
        extra: list[str] = []
        if self.sasl_users:
            listeners.append(f"SASL_PLAINTEXT://127.0.0.1:{node.sasl_port}")
            advertised.append(f"SASL_PLAINTEXT://127.0.0.1:{node.sasl_port}")
            protocols += ",SASL_PLAINTEXT:SASL_PLAINTEXT"
            users = " ".join(f'user_{u}="{p}"' for u, p in self.sasl_users.items())
            extra = ["sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"]
            for name in ("SASL_PLAINTEXT", *(n for n in node.tls_ports if n == "SASL_SSL")):
                prefix = f"listener.name.{name.lower()}"
                extra += [
                    f"{prefix}.plain.sasl.jaas.config="
                    f"org.apache.kafka.common.security.plain.PlainLoginModule required {users};",
                    f"{prefix}.scram-sha-256.sasl.jaas.config="
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                    f"{prefix}.scram-sha-512.sasl.jaas.config="
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                ]
        tls_listeners, tls_protocols, tls_settings = self._tls_properties(node)
        listeners += tls_listeners
        advertised += tls_listeners
        protocols = ",".join([protocols, *tls_protocols])
        extra += tls_settings
        return [
            f"listeners={','.join(listeners)}",
            f"advertised.listeners={','.join(advertised)}",
            f"listener.security.protocol.map={protocols}",
            *extra,
        ]

    def _properties(self, node: Node) -> str:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.members)
        rf = min(3, self.nodes)
        min_isr = 2 if self.nodes >= 3 else 1
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"controller.quorum.voters={voters}",
            *self._listener_properties(node),
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={node.data_dir / 'data'}",
            "num.partitions=1",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={min_isr}",
            f"offsets.topic.replication.factor={rf}",
            "offsets.topic.num.partitions=10",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={min_isr}",
            "transaction.state.log.num.partitions=10",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.flush.interval.messages=9223372036854775807",
            "num.network.threads=2",
            "num.io.threads=2",
            "background.threads=2",
            "log.cleaner.threads=1",
            "log.cleaner.backoff.ms=2000",
            "log.segment.bytes=67108864",
            "message.max.bytes=16777216",
            "replica.fetch.max.bytes=16777216",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=5000",
            "transaction.remove.expired.transaction.cleanup.interval.ms=60000",
            "group.coordinator.rebalance.protocols=classic,consumer",
            "",
        ])

    def _java(self, node: Node, main_class: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("java is not on PATH (JDK 17 is required)")
        gc_log = [f"-Xlog:gc:file={node.gc_log}:time"] if main_class == "kafka.Kafka" else []
        return [
            java, *self.heap_opts.split(), *self.gc_opts.split(), *gc_log,
            "-XX:ActiveProcessorCount=2", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.data_dir / 'log4j2.properties'}",
            "-cp", str(libs_dir() / "*"), main_class, *args,
        ]

    def _format(self, node: Node) -> None:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        (node.data_dir / "server.properties").write_text(self._properties(node))
        (node.data_dir / "log4j2.properties").write_text(
            _LOG4J2.format(log=node.data_dir / "server.log")
        )
        if (node.data_dir / "data" / "meta.properties").exists():
            return
        cmd = self._java(
            node, "kafka.tools.StorageTool", "format", "-t", self.cluster_id,
            "-c", str(node.data_dir / "server.properties"), "--ignore-formatted",
            *self._scram_args(),
        )
        result = subprocess.run(cmd, capture_output=True, check=False)
        if result.returncode != 0:
            raise BrokerError(
                f"formatting KRaft storage failed: {result.stderr.decode(errors='replace')[-2000:]}"
            )

    def _scram_args(self) -> list[str]:
        """SCRAM credentials are bootstrapped into the KRaft metadata when storage is formatted."""
        args: list[str] = []
        for user, password in (self.sasl_users or {}).items():
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                args += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
        return args

    def start_node(self, node: Node) -> None:
        self._format(node)
        out = open(node.data_dir / "stdout.log", "ab")  # noqa: SIM115 - owned by the process
        node.proc = subprocess.Popen(
            self._java(node, "kafka.Kafka", str(node.data_dir / "server.properties")),
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
        )
        out.close()

    def start(self, timeout: float = 90.0) -> Cluster:
        fetch()
        for node in self.members:
            self.start_node(node)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Block until every running node answers a metadata request."""
        deadline = time.monotonic() + timeout
        for node in self.members:
            if node.proc is None:
                continue
            while True:
                if node.proc.poll() is not None:
                    raise BrokerError(f"broker {node.node_id} exited: {self.tail_log(node)}")
                if _answers_metadata(node.bootstrap, expected_brokers=1):
                    break
                if time.monotonic() > deadline:
                    raise BrokerError(f"broker {node.node_id} not ready in {timeout}s")
                time.sleep(0.3)
        while not _answers_metadata(self.bootstrap_servers, expected_brokers=self.running_count()):
            if time.monotonic() > deadline:
                raise BrokerError(f"cluster of {self.nodes} not formed in {timeout}s")
            time.sleep(0.3)

    def running_count(self) -> int:
        return sum(1 for n in self.members if n.running)

    def tail_log(self, node: Node, lines: int = 30) -> str:
        text = ""
        for name in ("stdout.log", "server.log"):
            with contextlib.suppress(OSError):
                text += (node.data_dir / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop_node(self, node: Node, *, kill: bool = False, timeout: float = 30.0) -> None:
        proc = node.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        node.proc = None

    def node(self, node_id: int) -> Node:
        """The member with Kafka node id ``node_id`` (what metadata calls a leader)."""
        for node in self.members:
            if node.node_id == node_id:
                return node
        raise KeyError(f"no node {node_id} in this cluster")

    def restart_node(self, node: Node, timeout: float = 90.0) -> None:
        self.stop_node(node)
        self.start_node(node)
        self.wait_ready(timeout)

    def stop(self) -> None:
        """Stop every node (in parallel: a controller quorum waits for its peers)."""
        for node in self.members:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.members:
            self.stop_node(node)
        if self._own_dir and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64.

    Like Kafka's own ``Uuid.randomUuid``, never one that starts with ``-``:
    the storage tool's argument parser would take it for an option.
    """
    import base64

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _answers_metadata(bootstrap: str, expected_brokers: int) -> bool:
    """True when the cluster answers a metadata request listing enough brokers."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:  # a plain connect first: keeps aiokafka from logging refused connections
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False

    async def probe() -> bool:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            info = await admin.describe_cluster()
            return len(info.get("brokers", [])) >= expected_brokers
        finally:
            await admin.close()

    try:
        return asyncio.run(asyncio.wait_for(probe(), 5))
    except Exception:
        return False


@dataclass(frozen=True)
class PartitionState:
    """Who serves one partition: its leader (-1 while it has none), replicas and ISR."""

    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


async def partition_states(bootstrap: str, topic: str,
                           timeout: float = 15.0) -> dict[int, PartitionState]:
    """Each partition of ``topic`` -> its leader, replicas and in-sync replicas, as the
    cluster's metadata has them now: outage tests stop the node that leads a given
    partition, and check that the partition really lost its leader (or its ISR).

    The admin client asks whichever node it likes best, which may be the one just
    stopped: an unreachable node is retried (on another) until ``timeout``.
    """
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            (desc,) = await admin.describe_topics([topic])
            break
        except (KafkaError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
        finally:
            await admin.close()
    if desc.get("error_code", 0) not in (0, 5):  # 5: LEADER_NOT_AVAILABLE, still listed
        raise BrokerError(f"no metadata for {topic!r}: error {desc['error_code']}")
    return {
        p["partition"]: PartitionState(int(p["leader"]), tuple(p["replicas"]), tuple(p["isr"]))
        for p in desc["partitions"]
    }


async def partition_leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition of ``topic`` -> the node id of its leader, -1 while it has none."""
    return {p: s.leader for p, s in (await partition_states(bootstrap, topic)).items()}


# "[2026-11-27T01:15:17.046+0000] GC(47) Pause Young (Normal) (G1 Evacuation Pause)
# 422M->207M(1024M) 16.363ms": -Xlog:gc with the time decoration; every stop-the-world
# phase (young, mixed, remark, cleanup, full) says "Pause" and ends with its duration;
# the time decoration comes first, others (uptime, as jcmd VM.log adds them) may follow
_GC_PAUSE = re.compile(
    r"^\[(?P<at>[^\]]+)\](?:\[[^\]]*\])* GC\(\d+\) Pause .* (?P<ms>\d+(?:\.\d+)?)ms$")


def gc_pauses(log: Path, start: float, end: float) -> list[float]:
    """Milliseconds of each broker collector pause that ended between ``start`` and
    ``end`` (Unix seconds), in log order; none when the log is missing."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    out: list[float] = []
    for line in lines:
        m = _GC_PAUSE.match(line.strip())
        if m is None:
            continue
        at = dt.datetime.strptime(m["at"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        if start <= at <= end:
            out.append(float(m["ms"]))
    return out


@contextlib.contextmanager
def running_cluster(nodes: int = 1, *, production_jvm: bool = False,
                    tls: bool = False) -> Iterator[Cluster]:
    cluster = (Cluster(nodes=nodes, tls=tls, heap_opts=KAFKA_HEAP, gc_opts=KAFKA_GC)
               if production_jvm else Cluster(nodes=nodes, tls=tls))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.devtools.broker")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download the broker jars into the cache")
    run = sub.add_parser("run", help="run a local cluster until interrupted")
    run.add_argument("--nodes", type=int, default=1)
    run.add_argument("--production-jvm", action="store_true",
                     help="Kafka's own heap and G1 settings instead of the small test ones")
    run.add_argument("--tls", action="store_true",
                     help="also SSL and mutual-TLS listeners, with certificates made for this run")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "fetch":
            print(fetch())
            return 0
        with running_cluster(args.nodes, production_jvm=args.production_jvm,
                             tls=args.tls) as cluster:
            print(f"bootstrap servers: {cluster.bootstrap_servers}", flush=True)
            if cluster.tls_material is not None:
                print(f"SSL: {cluster.tls_bootstrap_servers('SSL')}, mutual TLS: "
                      f"{cluster.tls_bootstrap_servers('MTLS')}, "
                      f"certificates in {cluster.tls_material.ca.parent}", flush=True)
            for node in cluster.members:
                print(f"node {node.node_id} collector log: {node.gc_log}", flush=True)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    except BrokerError as exc:
        print(f"wirefeed broker: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
