"""The commands that drive a Ferry server over HTTP, loaded only when one of them is used.

``ferry`` is a ``RemoteCommandsGroup``: ``ferry copy`` imports none of these modules (nor
the HTTP client, nor Rich); ``ferry mover …`` imports just ``movers_cmd`` and what it needs."""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of its click group
COMMANDS = {
    "mover": "ferry.cli.movers_cmd:mover",
    "endpoint": "ferry.cli.endpoints_cmd:endpoint",
    "project": "ferry.cli.projects_cmd:project",
    "job": "ferry.cli.jobs_cmd:job",
    "run": "ferry.cli.jobs_cmd:run",
    "agent": "ferry.cli.agents_cmd:agent",
    "account": "ferry.cli.accounts_cmd:account",
    "secret": "ferry.cli.secrets_cmd:secret",
    "admin": "ferry.cli.admin_cmd:admin",
    "config": "ferry.cli.config_cmd:config",
}


def load(name: str) -> click.Command:
    module, _, attribute = COMMANDS[name].partition(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    return command


class RemoteCommandsGroup(click.Group):
    """A click group that also offers the HTTP commands, importing each on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.add_command(load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)
