"""``ferry admin``: API tokens and the audit log (Owner tokens only)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ferry.cli.api_options import Api, api_command, fail, group
from ferry.cli.exitcodes import USAGE
from ferry.cli.output import Column, field

TOKENS = "/ferry/v1/tokens"
AUDIT_LOG = "/ferry/v1/auditLog"

TOKEN_COLUMNS: list[Column] = [
    ("Id", field("id")),
    ("Name", field("name")),
    ("Role", field("role")),
    ("Scope", field("scope")),
    ("Revoked", field("revoked")),
    ("Created", field("createdAt")),
    ("Created by", field("createdBy")),
]
AUDIT_COLUMNS: list[Column] = [
    ("At", field("at")),
    ("Principal", field("principal")),
    ("Method", field("method")),
    ("Path", field("path")),
    ("Status", field("statusCode")),
    ("Result", field("result")),
]

admin = group("admin", "Administration: API tokens and the audit log.")
token = group("token", "API tokens: issue, list, revoke.")
admin.add_command(token)


@token.command("create")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["Owner", "Contributor", "Reader"]),
    help="Reader reads; Contributor also changes resources; Owner also manages tokens.",
)
@click.option(
    "--scope", metavar="RESOURCE_ID", help="Limit the token to this resource id and below."
)
@click.option("--name", "-n", metavar="NAME", help="A label for the token [default: the role].")
@click.option(
    "--save",
    "save_to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the token to this new file (mode 0600) instead of printing it.",
)
@api_command(scoped=False)
def token_create(
    api: Api, role: str, scope: str | None, name: str | None, save_to: Path | None
) -> None:
    """Issue a token. It is shown once (or saved): the server keeps only its hash."""
    body = {"name": name or role.lower(), "role": role}
    if scope is not None:
        body["scope"] = scope
    if save_to is not None and save_to.exists():
        fail(f"'{save_to}' exists; choose a new file for the token", USAGE)
    answer = api.client.post(TOKENS, body)
    secret = str(answer.get("token", ""))
    if save_to is not None:
        fd = os.open(save_to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secret + "\n")
        answer = {k: v for k, v in answer.items() if k != "token"}
        if api.as_json:
            api.show(answer)
        else:
            click.echo(f"Token {answer.get('id')} ({role}) saved to {save_to}.")
    elif api.as_json:
        api.show(answer)
    else:
        click.echo(f"Token {answer.get('id')} ({role}); shown only now, keep it safe:", err=True)
        click.echo(secret)


@token.command("list")
@api_command(scoped=False)
def token_list(api: Api) -> None:
    """List the tokens (never their values)."""
    api.show_list(api.client.list(TOKENS), TOKEN_COLUMNS)


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(min=1), metavar="ID")
@api_command(scoped=False)
def token_revoke(api: Api, token_id: int) -> None:
    """Revoke token ID: it stops working at once."""
    answer = api.client.post(f"{TOKENS}/{token_id}/revoke")
    if api.as_json:
        api.show(answer)
    else:
        click.echo(f"Revoked token {token_id} ({answer.get('name')}).")


@admin.command("audit")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="How many entries, newest first.",
)
@api_command(scoped=False)
def audit(api: Api, limit: int) -> None:
    """Show the audit log: who changed what, when, and with what result."""
    entries = api.client.list(AUDIT_LOG, params={"$top": str(limit)})
    api.show_list(entries, AUDIT_COLUMNS)
