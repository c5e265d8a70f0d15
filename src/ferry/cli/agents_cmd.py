"""``ferry agent``: the registered agents of a storage mover (show, list, update, delete).

Agents are created by their own registration, not here; the agent's own commands (register,
run) can join this group later."""

from __future__ import annotations

from typing import Any

import click

from ferry.cli.api_options import (
    DESCRIPTION_OPTION,
    MOVER_OPTION,
    NAME_OPTION,
    YES_OPTION,
    Api,
    api_command,
    confirm,
    group,
    json_object,
)
from ferry.cli.output import NAME, Column, prop

COLUMNS: list[Column] = [
    NAME,
    ("Status", prop("agentStatus")),
    ("Version", prop("agentVersion")),
    ("Local IP", prop("localIPAddress")),
    ("Last status", prop("lastStatusUpdate")),
    ("Description", prop("description")),
]

agent = group("agent", "Agents: the machines that move the data.")


@agent.command("show")
@MOVER_OPTION
@NAME_OPTION
@api_command()
def show(api: Api, mover: str, name: str) -> None:
    """Show an agent."""
    api.show(api.client.get(api.mover(mover, "agents", name)))


@agent.command("list")
@MOVER_OPTION
@api_command()
def list_(api: Api, mover: str) -> None:
    """List the agents registered to a storage mover."""
    api.show_list(api.client.list(api.mover(mover, "agents")), COLUMNS)


@agent.command("update")
@MOVER_OPTION
@NAME_OPTION
@DESCRIPTION_OPTION
@click.option(
    "--upload-limit-schedule",
    metavar="JSON",
    callback=json_object,
    help="The bandwidth schedule, e.g. '{\"weeklyRecurrences\": [...]}' ('' clears it).",
)
@api_command()
def update(
    api: Api, mover: str, name: str, description: str | None, upload_limit_schedule: Any
) -> None:
    """Change an agent's description or upload-limit schedule."""
    properties: dict[str, Any] = {}
    if description is not None:
        properties["description"] = description
    if upload_limit_schedule is not None:
        properties["uploadLimitSchedule"] = upload_limit_schedule or None
    body = {"properties": properties} if properties else {}
    api.show(api.client.patch(api.mover(mover, "agents", name), body))


@agent.command("delete")
@MOVER_OPTION
@NAME_OPTION
@YES_OPTION
@api_command()
def delete(api: Api, mover: str, name: str, yes: bool) -> None:
    """Unregister an agent; migrations running on it stop."""
    confirm(f"Unregister agent '{name}' (its running migrations stop)?", yes)
    api.deleted(api.client.delete(api.mover(mover, "agents", name)), f"agent '{name}'")
