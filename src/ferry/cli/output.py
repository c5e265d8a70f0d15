"""Printing resources: raw JSON for scripts, Rich tables for people (Rich imported lazily)."""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

# A column: its header and how to get its cell from a resource.
Column = tuple[str, Callable[[dict[str, Any]], Any]]


def prop(*keys: str) -> Callable[[dict[str, Any]], Any]:
    """The first present of ``properties.KEY`` (dotted keys go deeper)."""

    def get(item: dict[str, Any]) -> Any:
        for key in keys:
            value: Any = item.get("properties") or {}
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value not in (None, ""):
                return value
        return None

    return get


def field(*path: str) -> Callable[[dict[str, Any]], Any]:
    def get(item: dict[str, Any]) -> Any:
        value: Any = item
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    return get


NAME: Column = ("Name", field("name"))
STATE: Column = ("State", prop("provisioningState"))


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False) if value else ""
    return str(value)


def width() -> int:
    """The terminal's width; a wide page when the output is not a terminal (no folding)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return 1000


def table(items: Sequence[dict[str, Any]], columns: Sequence[Column]) -> None:
    if not items:
        sys.stdout.write("(none)\n")
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for header, _ in columns:
        grid.add_column(header, overflow="fold")
    for item in items:
        grid.add_row(*(cell(get(item)) for _, get in columns))
    # rendered to text, so that lines carry no trailing padding and no colour codes
    console = Console(
        file=io.StringIO(), width=width(), highlight=False, color_system=None, soft_wrap=False
    )
    with console.capture() as captured:
        console.print(grid)
    for line in captured.get().splitlines():
        sys.stdout.write(line.rstrip() + "\n")


def details(item: dict[str, Any]) -> None:
    """One resource as aligned key/value lines: its properties flattened, then the rest."""
    first = ("name", "id", "type", "location")
    rows: list[tuple[str, Any]] = [(key, item[key]) for key in first if key in item]
    rest = {k: v for k, v in item.items() if k not in first}
    properties = rest.pop("properties", None)
    if isinstance(properties, dict):
        rows.extend(flatten(properties))
    rows.extend(flatten(rest))
    pad = max((len(key) for key, _ in rows), default=0)
    for key, value in rows:
        sys.stdout.write(f"{key:<{pad}}  {cell(value)}".rstrip() + "\n")


def flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows.extend(flatten(value, name + "."))
        else:
            rows.append((name, value))
    return rows
