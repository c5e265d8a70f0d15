"""``ferry copy`` and ``ferry sync``: the engine run in-process, without a server.

Exit status: 0 when nothing failed, 1 when some items failed (or deletes were refused),
2 for usage errors and runs that cannot start, 130 when interrupted.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated, NoReturn

import typer

from ferry import __version__
from ferry.cli import exitcodes

app = typer.Typer(
    name="ferry",
    help="Move files and objects between shares, disks and buckets, and lose nothing.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class IntegrityChoice(StrEnum):
    none = "none"
    save = "save"
    verify = "verify"


class LogFormatChoice(StrEnum):
    json = "json"
    csv = "csv"


class LogLevelChoice(StrEnum):
    changes = "changes"
    all = "all"


class UsageError(Exception):
    """A bad argument found after parsing; reported as one line with exit status 2."""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ferry {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    pass


SIZE_HELP = "Sizes take binary suffixes: 4K, 100M, 1.5G."


@app.command("copy", help="Copy SRC into DST (Additive): add and update, never delete.")
@app.command("sync", help="Make DST equal to SRC (Mirror): also delete what SRC lacks.")
def transfer_command(
    ctx: typer.Context,
    src: Annotated[str, typer.Argument(help="Source directory (path or file:// URL).")],
    dst: Annotated[str, typer.Argument(help="Target directory; created if missing.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Show what would happen; change nothing.")
    ] = False,
    checksum: Annotated[
        bool, typer.Option("--checksum", "-c", help="Compare by size and MD5, not size and mtime.")
    ] = False,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", help="Copy only files matching this glob (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Skip items matching this glob (repeatable)."),
    ] = None,
    min_size: Annotated[
        str | None, typer.Option(help="Skip files smaller than this. " + SIZE_HELP)
    ] = None,
    max_size: Annotated[str | None, typer.Option(help="Skip files larger than this.")] = None,
    min_age: Annotated[
        str | None, typer.Option(help="Skip files modified more recently (30m, 7d, 2024-01-31).")
    ] = None,
    max_age: Annotated[str | None, typer.Option(help="Skip files modified longer ago.")] = None,
    exclude_hidden: Annotated[
        bool, typer.Option("--exclude-hidden", help="Skip names starting with a dot.")
    ] = False,
    checkers: Annotated[
        int, typer.Option(min=1, max=256, help="Directories listed and compared in parallel.")
    ] = 8,
    transfers: Annotated[
        int, typer.Option(min=1, max=256, help="Files transferred in parallel.")
    ] = 4,
    integrity: Annotated[
        IntegrityChoice,
        typer.Option(
            help="none; save (store the MD5 on the target); verify (also re-read and compare)."
        ),
    ] = IntegrityChoice.none,
    max_delete: Annotated[
        int | None,
        typer.Option(min=0, help="sync: delete nothing if more than N deletes are needed."),
    ] = None,
    retries: Annotated[
        int, typer.Option(min=0, max=100, help="Retries of an item after a transient error.")
    ] = 3,
    bwlimit: Annotated[
        str | None, typer.Option(help="Bandwidth limit in bytes per second, e.g. 10M.")
    ] = None,
    chunk_size: Annotated[
        str,
        typer.Option(
            help="Part size for big files; an interrupted file resumes from its last complete part."
        ),
    ] = "64M",
    multi_thread_cutoff: Annotated[
        str, typer.Option(help="Files at least this big move in parallel parts.")
    ] = "256M",
    multi_thread_streams: Annotated[
        int, typer.Option(min=1, max=64, help="Parallel parts per big file.")
    ] = 4,
    list_cutoff: Annotated[
        int, typer.Option(min=1000, help="Directories wider than this are sorted on disk.")
    ] = 100_000,
    log: Annotated[
        str | None, typer.Option("--log", help="Write the copy log to this file ('-' for stdout).")
    ] = None,
    log_format: Annotated[
        LogFormatChoice, typer.Option(help="Copy-log format.")
    ] = LogFormatChoice.json,
    log_level: Annotated[
        LogLevelChoice,
        typer.Option(help="changes: every item but unchanged ones; all: every item."),
    ] = LogLevelChoice.changes,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress", help="Live progress (default: when stderr is a terminal)."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print nothing but errors (and --json).")
    ] = False,
) -> None:
    from ferry.cli.runner import RunRequest, execute

    mirror = ctx.info_name == "sync"
    if max_delete is not None and not mirror:
        _usage("--max-delete applies to 'ferry sync' only")
    try:
        request = RunRequest.build(
            src=src,
            dst=dst,
            mirror=mirror,
            dry_run=dry_run,
            checksum=checksum,
            include=include or [],
            exclude=exclude or [],
            min_size=min_size,
            max_size=max_size,
            min_age=min_age,
            max_age=max_age,
            exclude_hidden=exclude_hidden,
            checkers=checkers,
            transfers=transfers,
            integrity=integrity.value,
            max_delete=max_delete,
            retries=retries,
            bwlimit=bwlimit,
            chunk_size=chunk_size,
            multi_thread_cutoff=multi_thread_cutoff,
            multi_thread_streams=multi_thread_streams,
            list_cutoff=list_cutoff,
            log=log,
            log_format=log_format.value,
            log_level=log_level.value,
        )
    except ValueError as exc:
        _usage(str(exc))
    show_progress = (
        (sys.stderr.isatty() and not quiet and not as_json) if progress is None else progress
    )
    raise typer.Exit(execute(request, as_json=as_json, show_progress=show_progress, quiet=quiet))


@app.command("demo", help="Generate a sample tree, copy it, re-run it, and print the summaries.")
def demo_command() -> None:
    from ferry.cli.demo import run_demo

    raise typer.Exit(run_demo())


def _usage(message: str) -> NoReturn:
    typer.echo(f"ferry: error: {message}", err=True)
    raise typer.Exit(exitcodes.USAGE)


def main() -> None:
    try:
        result = app(standalone_mode=False)
    except Exception as exc:
        # Click's usage errors (Typer vendors Click, so match them by shape): one line, exit 2.
        format_message = getattr(exc, "format_message", None)
        if format_message is None or not hasattr(exc, "exit_code"):
            raise
        message = format_message()
        command = " ".join(sys.argv[1:2])
        hint = f" (see 'ferry {command} --help')" if command and not command.startswith("-") else ""
        print(f"ferry: error: {message}{hint}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", exitcodes.USAGE))
    except KeyboardInterrupt:
        sys.exit(exitcodes.INTERRUPTED)
    sys.exit(result if isinstance(result, int) else exitcodes.OK)
