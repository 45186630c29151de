"""The ``wirefeed`` command line: one module a subcommand, assembled here.

Subcommands are imported lazily so that ``wirefeed --version`` or
``wirefeed parse`` never pay for importing aiokafka.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from consumer import __version__

# subcommand name -> "module:attribute" of its click command
_COMMANDS: dict[str, str] = {
    "parse": "consumer.cli.parse_cmd:parse",
    "process": "consumer.cli.process_cmd:process",
    "replay": "consumer.cli.replay_cmd:replay",
    "run": "consumer.cli.run_cmd:run",
    "tail": "consumer.cli.tail_cmd:tail",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS:
            module_name, attr = _COMMANDS[cmd_name].split(":")
            command: Any = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wirefeed")
def main() -> None:
    """wirefeed: parse, deduplicate and republish news-agency wire stories over Kafka."""
