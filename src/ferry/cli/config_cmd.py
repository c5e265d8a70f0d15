"""``ferry config``: the defaults of the HTTP commands, kept in a private TOML file."""

from __future__ import annotations

from pathlib import Path

import click

from ferry.cli.api_options import fail, group
from ferry.cli.config import (
    KEYS,
    ConfigError,
    config_path,
    normalize_server,
    read_file,
    write_value,
)
from ferry.cli.exitcodes import USAGE

config = group(
    "config",
    "Defaults for the server commands: " + ", ".join(KEYS) + " (in $FERRY_CONFIG or "
    "~/.config/ferry/config.toml).",
)


@config.command("set")
@click.argument("key", metavar="KEY")
@click.argument("value", metavar="VALUE")
def set_(key: str, value: str) -> None:
    """Set KEY (server, token_file, subscription, resource_group) to VALUE."""
    try:
        if key == "server":
            value = normalize_server(value)
        elif key == "token_file":
            value = str(Path(value).expanduser().resolve())
        path = write_value(key, value)
    except (ConfigError, OSError) as exc:
        fail(str(exc), USAGE)
    click.echo(f"{key} = {value} ({path})")


@config.command("unset")
@click.argument("key", metavar="KEY")
def unset(key: str) -> None:
    """Remove KEY from the config file."""
    try:
        write_value(key, None)
    except (ConfigError, OSError) as exc:
        fail(str(exc), USAGE)


@config.command("show")
def show() -> None:
    """Print the config file's settings."""
    path = config_path()
    try:
        values = read_file(path)
    except ConfigError as exc:
        fail(str(exc), USAGE)
    click.echo(f"# {path}")
    for key, value in values.items():
        click.echo(f"{key} = {value}")
