"""``make demo`` runs unattended, accounts for the whole feed and leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from consumer.devtools.demo import histogram_quantile, parse_metrics, pick_port
from consumer.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]
MARK = "WIREFEED_DEMO_TEST_MARK"


# --- the summary's arithmetic (no broker) ---------------------------------------------
def test_p99_interpolates_like_prometheus() -> None:
    inf = float("inf")
    # 100 observations: 90 up to 0.1 s, 10 between 0.1 and 0.5 s
    buckets = [(0.1, 90.0), (0.5, 100.0), (inf, 100.0)]
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.1 + 0.4 * 9 / 10)
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1 * 50 / 90)
    assert histogram_quantile(0.99, [(0.1, 0.0), (inf, 0.0)]) is None
    # beyond the last finite bucket: its bound, as histogram_quantile does
    assert histogram_quantile(0.99, [(0.1, 1.0), (inf, 10.0)]) == 0.1


def test_demo_keeps_its_port_after_the_last_run_and_leaves_a_taken_one() -> None:
    """A second ``make demo`` right after the first keeps port 9108: the port's last
    connections wait in TIME_WAIT, which the worker's server (SO_REUSEADDR) binds over."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert pick_port(port) != port  # listening: taken
        with socket.create_connection(("127.0.0.1", port)) as client:
            conn, _ = server.accept()
            conn.close()  # the server side closes first: its end waits in TIME_WAIT
            client.recv(1)
    assert pick_port(port) == port


def test_metrics_page_parsed_into_the_summary() -> None:
    m = Metrics()
    m.records_consumed.labels("wire.raw").inc(7)
    m.events_published.labels("story.created").inc(3)
    m.events_published.labels("story.updated").inc(1)
    m.events_published.labels("story.duplicate").inc(2)
    m.duplicates.labels("exact").inc(2)
    m.dead_letters.labels("empty").inc(1)
    m.consumer_lag.labels("wire.raw", "0").set(4)
    m.consumer_lag.labels("wire.raw", "1").set(1)
    for _ in range(99):
        m.end_to_end_latency.observe(0.004)
    m.end_to_end_latency.observe(20.0)
    snap = parse_metrics(generate_latest(m.registry).decode())
    assert snap.consumed == 7
    assert snap.stories == 4  # duplicates are published too, but are not story events
    assert dict(snap.duplicates) == {"exact": 2}
    assert dict(snap.dead_letters) == {"empty": 1}
    assert snap.lag == 5
    assert snap.adds_up
    assert snap.p99 is not None
    assert 0.0025 < snap.p99 <= 0.005
    m.records_consumed.labels("wire.raw").inc()
    assert not parse_metrics(generate_latest(m.registry).decode()).adds_up


# --- the real thing -------------------------------------------------------------------
def _marked(mark: str) -> list[int]:
    """Live processes whose environment carries ``mark`` (the demo's children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def mark() -> Iterator[str]:
    value = uuid.uuid4().hex
    yield value
    for pid in _marked(value):  # never leave a stray behind, even when the test fails
        os.kill(pid, signal.SIGKILL)


def _demo(*args: str, mark: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "consumer.devtools.demo", *args], cwd=REPO,
        env={**os.environ, MARK: mark}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )


def _pids(out: str) -> tuple[int, int]:
    broker = re.search(r"^broker: \S+ \(pid (\d+)\)", out, re.M)
    worker = re.search(r"^worker: wirefeed run \(pid (\d+)\)", out, re.M)
    assert broker is not None, out
    assert worker is not None, out
    return int(broker[1]), int(worker[1])


@pytest.mark.integration
def test_demo_once_accounts_for_the_feed_and_cleans_up(mark: str) -> None:
    with socket.socket() as taken:  # 9108 busy: the demo must pick another port
        # SO_REUSEADDR: a 9108 left in TIME_WAIT by an earlier demo is free, not busy
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            taken.bind(("127.0.0.1", 9108))
            taken.listen()
        except OSError:
            pass  # already busy anyway
        proc = _demo("--once", "--no-live", "--timeout", "240", mark=mark)
        try:
            out, _ = proc.communicate(timeout=400)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert proc.returncode == 0, out
    n = int(re.search(r"^feed: (\d+) records", out, re.M)[1])  # type: ignore[index]
    assert n >= 250
    assert re.search(rf"committed out\s+{n} of {n} \(wire\.stories \d+, "
                     rf"wire\.duplicates \d+, wire\.dlq \d+\): all accounted for", out), out
    assert re.search(rf"^check: consumed {n} = events \d+ \+ duplicates \d+ \+ "
                     rf"dead letters \d+: yes$", out, re.M), out
    assert re.search(
        r"events out\s+\d+ \(created \d+, updated \d+, corrected \d+, canceled \d+\)", out
    ), out
    assert re.search(r"duplicates\s+\d+ \(exact \d+, repeat \d+\)", out), out
    assert "forbidden_xml" in out
    assert "undecodable" in out
    url = re.search(r"metrics\s+(http://127\.0\.0\.1:(\d+)/metrics)", out)
    assert url is not None
    assert url[2] != "9108"
    assert "latest headlines:" in out
    # the feed's ROUNDUP and KORREKTUR show their diff under them (figures, paragraphs)
    assert re.search(r"^\s+(?:\S.* -> \S.*|[~+-] \[\d+\] .+)$", out, re.M), out
    assert "(dpa-AFX)" in out
    assert "worker exited with status 0" in out
    assert out.rstrip().endswith("broker stopped")
    broker, worker = _pids(out)
    assert not _alive(broker)
    assert not _alive(worker)
    assert _marked(mark) == []


@pytest.mark.integration
def test_ctrl_c_stops_worker_then_broker(mark: str) -> None:
    proc = _demo("--no-live", mark=mark)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:  # run until the worker has processed records
            lines.append(line)
            if re.match(r"\[\s*[\d.]+s\] in [1-9]", line):
                break
        assert proc.poll() is None, "".join(lines)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    assert "worker exited with status 0" in out  # SIGTERM: a clean shutdown, not a kill
    assert out.index("worker exited") < out.index("broker stopped")
    broker, worker = _pids(out)
    assert not _alive(broker)
    assert not _alive(worker)
    assert _marked(mark) == []
