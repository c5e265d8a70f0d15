"""``ferry project``: groups of job definitions inside a storage mover."""

from __future__ import annotations

from typing import Any

from ferry.cli.api_options import (
    DESCRIPTION_OPTION,
    MOVER_OPTION,
    NAME_OPTION,
    Api,
    api_command,
    group,
)
from ferry.cli.output import NAME, STATE, Column, prop

COLUMNS: list[Column] = [NAME, ("Description", prop("description")), STATE]

project = group("project", "Projects: groups of job definitions in a storage mover.")


@project.command("create")
@MOVER_OPTION
@NAME_OPTION
@DESCRIPTION_OPTION
@api_command()
def create(api: Api, mover: str, name: str, description: str | None) -> None:
    """Create (or replace) a project."""
    properties: dict[str, Any] = {} if description is None else {"description": description}
    api.show(api.client.put(api.mover(mover, "projects", name), {"properties": properties}))


@project.command("show")
@MOVER_OPTION
@NAME_OPTION
@api_command()
def show(api: Api, mover: str, name: str) -> None:
    """Show a project."""
    api.show(api.client.get(api.mover(mover, "projects", name)))


@project.command("list")
@MOVER_OPTION
@api_command()
def list_(api: Api, mover: str) -> None:
    """List the projects of a storage mover."""
    api.show_list(api.client.list(api.mover(mover, "projects")), COLUMNS)


@project.command("update")
@MOVER_OPTION
@NAME_OPTION
@DESCRIPTION_OPTION
@api_command()
def update(api: Api, mover: str, name: str, description: str | None) -> None:
    """Change a project's description."""
    body: dict[str, Any] = {}
    if description is not None:
        body["properties"] = {"description": description}
    api.show(api.client.patch(api.mover(mover, "projects", name), body))


@project.command("delete")
@MOVER_OPTION
@NAME_OPTION
@api_command()
def delete(api: Api, mover: str, name: str) -> None:
    """Delete a project and its job definitions (refused while a run is active)."""
    existed = api.client.delete(api.mover(mover, "projects", name))
    api.deleted(existed, f"project '{name}'")
