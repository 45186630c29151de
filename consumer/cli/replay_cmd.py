"""``wirefeed replay``: produce files, a directory or a JSONL capture into a topic.

The core lives in :mod:`consumer.replay` (benchmarks use it directly). The
connection comes from the same settings as ``wirefeed run`` (flag, else
``WIREFEED_BOOTSTRAP_SERVERS``, plus the ``WIREFEED_SASL_*``/``SSL_*``
variables), so the compose replayer needs nothing but the environment it
shares with the worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import click

from consumer.config import load
from consumer.errors import ConfigError


@click.command("replay")
@click.argument("paths", nargs=-1, required=True)
@click.option("--topic", required=True, help="Topic to produce to (it must exist).")
@click.option("--rate", type=click.FloatRange(min=0.001, max=1_000_000), default=None,
              help="Records per second at most (token bucket); default: as fast as acks allow.")
@click.option("--loop", is_flag=True, help="Repeat the input until Ctrl-C.")
@click.option("--bootstrap-servers", default=None,
              help="Kafka bootstrap servers [env WIREFEED_BOOTSTRAP_SERVERS].")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to wait for the broker and for the topic to exist.")
def replay(paths: tuple[str, ...], topic: str, rate: float | None, loop: bool,
           bootstrap_servers: str | None, wait_s: float) -> None:
    """Produce PATHS into a topic: one record a file, a directory's files in name order,
    or the records of a JSONL file (*.jsonl, or - for stdin; the `wirefeed process` format).

    Keys, headers and JSONL timestamps are kept; idempotent producer, acks=all.
    Prints a progress bar on a terminal (stderr) and a final count. Exit status
    0 when done (or stopped with Ctrl-C under --loop), 1 on errors, 2 on bad
    configuration, 130 when interrupted otherwise.
    """
    from consumer.replay import ReplayError, Source, StoppedError
    from consumer.replay import replay as run_replay

    try:
        settings = load({"bootstrap_servers": bootstrap_servers})
    except ConfigError as exc:
        click.echo(f"wirefeed replay: invalid configuration: {exc.message}", err=True)
        sys.exit(2)
    try:
        source = Source(paths)
    except ReplayError as exc:
        raise click.BadParameter(str(exc), param_hint="PATHS") from None
    if loop and not source.rereadable:
        raise click.BadParameter("--loop cannot re-read stdin", param_hint="PATHS")
    # aiokafka logs every failed connection attempt while we wait for the broker;
    # the outcome is reported once, below
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    async def main() -> Any:
        stop = asyncio.Event()
        ev_loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            ev_loop.add_signal_handler(sig, stop.set)
        kafka = settings.kafka_common()
        if not sys.stderr.isatty():
            return await run_replay(source, topic, kafka, rate=rate, loop=loop, wait_s=wait_s,
                                    stop=stop)
        from rich.console import Console
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(f"→ {topic}", total=None if loop else source.total())
            return await run_replay(
                source, topic, kafka, rate=rate, loop=loop, wait_s=wait_s, stop=stop,
                on_sent=lambda n: bar.update(task, completed=n),
            )

    try:
        stats = asyncio.run(main())
    except StoppedError:
        click.echo("wirefeed replay: stopped before the first record", err=True)
        sys.exit(130)
    except ReplayError as exc:
        click.echo(f"wirefeed replay: {exc}", err=True)
        sys.exit(1)
    click.echo(stats.line(), err=True)
    if stats.interrupted and not loop:
        sys.exit(130)
