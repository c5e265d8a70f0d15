"""``ferry mover``: storage movers, as ``az storage-mover`` manages them."""

from __future__ import annotations

from typing import Any

import click

from ferry.cli.api_options import (
    DESCRIPTION_OPTION,
    NAME_OPTION,
    TAGS_OPTION,
    YES_OPTION,
    Api,
    api_command,
    confirm,
    group,
    parse_tags,
)
from ferry.cli.output import NAME, STATE, Column, field, prop

COLUMNS: list[Column] = [
    NAME,
    ("Location", field("location")),
    ("Description", prop("description")),
    STATE,
]

mover = group("mover", "Storage movers: the top-level resource holding everything else.")


@mover.command("create")
@NAME_OPTION
@click.option("--location", "-l", required=True, metavar="REGION", help="The region label.")
@DESCRIPTION_OPTION
@TAGS_OPTION
@api_command()
def create(
    api: Api, name: str, location: str, description: str | None, tags: tuple[str, ...]
) -> None:
    """Create (or replace) a storage mover."""
    body: dict[str, Any] = {"location": location, "properties": {}}
    if description is not None:
        body["properties"]["description"] = description
    if tags:
        body["tags"] = parse_tags(tags)
    api.show(api.client.put(api.mover(name), body))


@mover.command("show")
@NAME_OPTION
@api_command()
def show(api: Api, name: str) -> None:
    """Show a storage mover."""
    api.show(api.client.get(api.mover(name)))


@mover.command("list")
@click.option(
    "--all-groups", is_flag=True, help="List the whole subscription, not one resource group."
)
@api_command()
def list_(api: Api, all_groups: bool) -> None:
    """List storage movers of the resource group (or the subscription)."""
    if all_groups:
        from ferry.cli.client import seg

        path = (
            f"/subscriptions/{seg(api.subscription)}/providers/Microsoft.StorageMover/storageMovers"
        )
        columns = [*COLUMNS[:1], ("Resource group", resource_group), *COLUMNS[1:]]
        api.show_list(api.client.list(path), columns)
    else:
        api.show_list(api.client.list(api.arm("storageMovers")), COLUMNS)


def resource_group(item: dict[str, Any]) -> str:
    parts = str(item.get("id", "")).split("/")
    return parts[4] if len(parts) > 4 else ""


@mover.command("update")
@NAME_OPTION
@DESCRIPTION_OPTION
@TAGS_OPTION
@api_command()
def update(api: Api, name: str, description: str | None, tags: tuple[str, ...]) -> None:
    """Change a storage mover's description or tags."""
    body: dict[str, Any] = {}
    if description is not None:
        body["properties"] = {"description": description}
    if tags:
        body["tags"] = parse_tags(tags)
    api.show(api.client.patch(api.mover(name), body))


@mover.command("delete")
@NAME_OPTION
@YES_OPTION
@api_command()
def delete(api: Api, name: str, yes: bool) -> None:
    """Delete a storage mover and EVERYTHING in it (endpoints, projects, jobs, runs)."""
    confirm(f"Delete storage mover '{name}' and everything in it?", yes)
    api.deleted(api.client.delete(api.mover(name)), f"storage mover '{name}'")
