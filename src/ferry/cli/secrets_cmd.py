"""``ferry secret``: the server's secret store. Values go in and are never shown again; what
comes back is the ``ferry:secrets/NAME`` URI that endpoints and accounts refer to."""

from __future__ import annotations

import sys

import click

from ferry.cli.api_options import Api, api_command, fail, group
from ferry.cli.exitcodes import USAGE
from ferry.cli.output import NAME, Column, field

SECRETS = "/ferry/v1/secrets"
COLUMNS: list[Column] = [
    NAME,
    ("URI", field("uri")),
    ("Created", field("createdAt")),
    ("Updated", field("updatedAt")),
]

secret = group("secret", "Secrets: passwords and keys, kept encrypted by the server.")
NAME_ARGUMENT = click.argument("name")


def secret_path(name: str) -> str:
    from ferry.cli.client import seg

    return f"{SECRETS}/{seg(name)}"


def read_value() -> str:
    """The value from standard input (one trailing newline dropped), or a hidden prompt."""
    if sys.stdin.isatty():
        value: str = click.prompt(
            "Secret value", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        value = sys.stdin.read()
        value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        fail("the secret value is empty", USAGE)
    return value


@secret.command("set")
@NAME_ARGUMENT
# swallowed, so that a value typed by mistake after NAME is refused without being echoed
@click.argument("extra", nargs=-1, metavar="")
@api_command(scoped=False)
def set_(api: Api, name: str, extra: tuple[str, ...]) -> None:
    """Create or replace secret NAME; the value is read from standard input, or asked for
    without echo on a terminal (never taken from the command line)."""
    if extra:
        fail(
            "a secret value is never taken from the command line: pipe it to standard input, "
            "or type it at the prompt",
            USAGE,
        )
    value = read_value()
    answer = api.client.put(secret_path(name), {"value": value})
    if api.as_json:
        api.show(answer)
    else:
        click.echo(f"Secret '{answer.get('name', name)}' stored: {answer.get('uri', '')}")


@secret.command("show")
@NAME_ARGUMENT
@api_command(scoped=False)
def show(api: Api, name: str) -> None:
    """Show a secret's URI and dates (never its value)."""
    api.show(api.client.get(secret_path(name)))


@secret.command("list")
@api_command(scoped=False)
def list_(api: Api) -> None:
    """List the secrets (names and URIs only)."""
    api.show_list(api.client.list(SECRETS), COLUMNS)


@secret.command("delete")
@NAME_ARGUMENT
@api_command(scoped=False)
def delete(api: Api, name: str) -> None:
    """Delete a secret."""
    api.deleted(api.client.delete(secret_path(name)), f"secret '{name}'")
