"""``wirefeed run``: the streaming worker. Flags mirror the ``WIREFEED_*`` variables."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import click

from consumer.config import OPTIONS, Option, load
from consumer.errors import ConfigError


def _option(opt: Option) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    kind: Any = click.Choice(opt.choices) if opt.choices else type(opt.default)
    return click.option(
        opt.flag, opt.field, type=kind, default=None, show_envvar=False,
        help=f"{opt.help} [env {opt.env}; default {opt.default!r}]",
    )


def _with_settings(func: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(OPTIONS):
        func = _option(opt)(func)
    return func


@click.command("run")
@_with_settings
def run(**flags: Any) -> None:
    """Run the streaming worker until SIGTERM/SIGINT.

    Every flag can also be set as an environment variable WIREFEED_<NAME>
    (flags win). Exit status 0 after a clean shutdown, 2 on invalid configuration.
    """
    from consumer import log

    try:
        settings = load(flags)
    except ConfigError as exc:
        click.echo(f"wirefeed: invalid configuration: {exc.message}", err=True)
        sys.exit(2)
    log.configure(settings.log_level)
    from consumer.worker import Worker

    sys.exit(asyncio.run(Worker(settings).run()))
