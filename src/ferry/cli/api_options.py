"""What every command that talks to a Ferry server shares: its flags, the connection, the
error line, and printing.

Errors: a refusal by the server prints ``ferry: error: CODE: message`` and exits 1; a server
that cannot be reached exits 1 too; a missing token, an unreadable config or a bad URL is a
usage error (exit 2). Only click and the standard library are imported here: the client and Rich
are loaded when a command runs.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ferry.cli import exitcodes
from ferry.cli.config import DEFAULT_SERVER

if TYPE_CHECKING:
    from ferry.cli.client import Client
    from ferry.cli.output import Column

STORAGE_MOVER = "Microsoft.StorageMover"


def fail(message: str, status: int = exitcodes.FAILED) -> NoReturn:
    click.echo(f"ferry: error: {message}", err=True)
    sys.exit(status)


@dataclass
class Api:
    """A connection to the server and the namespace the command works in."""

    client: Client
    subscription: str
    resource_group: str
    as_json: bool

    def arm(self, *segments: str, namespace: str = STORAGE_MOVER) -> str:
        """The ARM path of ``segments`` (type, name, type, name, …) in this namespace."""
        from ferry.cli.client import arm_prefix, seg

        parts = [arm_prefix(self.subscription, self.resource_group, namespace)]
        parts.extend(seg(s) for s in segments)
        return "/".join(parts)

    def mover(self, mover: str, *segments: str) -> str:
        return self.arm("storageMovers", mover, *segments)

    def show(self, item: Any) -> None:
        """One resource: JSON, or aligned key/value lines."""
        from ferry.cli import output

        if self.as_json:
            output.emit_json(item)
        else:
            output.details(item)

    def show_list(self, items: list[dict[str, Any]], columns: Sequence[Column]) -> None:
        from ferry.cli import output

        if self.as_json:
            output.emit_json(items)
        else:
            output.table(items, columns)

    def say(self, text: str) -> None:
        """A confirmation for people; silent with --json."""
        if not self.as_json:
            click.echo(text)

    def deleted(self, existed: bool, what: str) -> None:
        self.say(f"Deleted {what}." if existed else f"{what[0].upper()}{what[1:]} did not exist.")


def api_command(*, scoped: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the connection flags (and, if ``scoped``, --subscription/--resource-group) and
    --json to a command, and hand it ``api: Api`` in place of them."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(
            *args: Any,
            server: str | None,
            token_file: str | None,
            ca_file: str | None,
            as_json: bool,
            subscription: str | None = None,
            resource_group: str | None = None,
            **kwargs: Any,
        ) -> Any:
            from ferry.cli.client import ApiError, Client, ConnectionFailed
            from ferry.cli.config import ConfigError, resolve

            try:
                settings = resolve(
                    server=server,
                    token_file=token_file,
                    ca_file=ca_file,
                    subscription=subscription,
                    resource_group=resource_group,
                )
            except ConfigError as exc:
                fail(str(exc), exitcodes.USAGE)
            try:
                with Client(settings.server, settings.token, settings.ca_file) as client:
                    api = Api(client, settings.subscription, settings.resource_group, as_json)
                    return func(*args, api=api, **kwargs)
            except ApiError as exc:
                fail(str(exc))
            except ConnectionFailed as exc:
                fail(str(exc))

        options = [
            click.option(
                "--server",
                metavar="URL",
                help=f"The Ferry server [env FERRY_SERVER; config server; default "
                f"{DEFAULT_SERVER}].",
            ),
            click.option(
                "--token-file",
                metavar="FILE",
                help="File holding the API token [env FERRY_TOKEN_FILE or FERRY_TOKEN; "
                "config token_file].",
            ),
            click.option(
                "--ca-file",
                metavar="FILE",
                help="The server's CA, as 'ferry server' prints it [env FERRY_CA_FILE; config "
                "ca_file; default: the system's CAs].",
            ),
        ]
        if scoped:
            options += [
                click.option(
                    "--subscription",
                    metavar="ID",
                    help="Subscription id [env FERRY_SUBSCRIPTION; config subscription].",
                ),
                click.option(
                    "--resource-group",
                    "-g",
                    metavar="NAME",
                    help="Resource group [env FERRY_RESOURCE_GROUP; config resource_group].",
                ),
            ]
        options.append(
            click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
        )
        command: Callable[..., Any] = wrapper
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


MOVER_OPTION = click.option(
    "--storage-mover-name",
    "--mover",
    "mover",
    required=True,
    metavar="NAME",
    help="The storage mover.",
)
NAME_OPTION = click.option(
    "--name", "-n", required=True, metavar="NAME", help="The resource's name."
)
DESCRIPTION_OPTION = click.option("--description", metavar="TEXT", help="A description.")


def group(name: str, help_text: str) -> click.Group:
    return click.Group(
        name,
        help=help_text,
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )


def parse_tags(values: Sequence[str]) -> dict[str, str]:
    """``--tags KEY=VALUE`` (repeatable) as a dict; ``--tags ''`` alone clears them."""
    tags: dict[str, str] = {}
    for value in values:
        if value == "":
            continue
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"'{value}' is not KEY=VALUE", param_hint="--tags")
        tags[key] = text
    return tags


TAGS_OPTION = click.option(
    "--tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="A tag (repeatable); --tags '' clears them on update.",
)


YES_OPTION = click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def confirm(question: str, yes: bool) -> None:
    """Ask on the terminal; without one, --yes is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question} Pass --yes to confirm.", exitcodes.USAGE)
    if not click.confirm(question, err=True):
        fail("not confirmed; nothing deleted", exitcodes.USAGE)


def json_object(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """A click callback for ``--flag JSON``: a JSON object, or ``""`` (meaning: clear)."""
    if value is None or value == "":
        return value
    import json

    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter("a JSON object is expected")
    return parsed
