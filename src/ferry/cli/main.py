"""``ferry copy`` and ``ferry sync``: the engine run in-process, without a server.

Built on Click rather than Typer: Typer (which wraps Click) imports pydantic and Rich at start
and costs about 0.2 s on every invocation, more than a whole no-op run of a 20,000-file tree.
Rich is imported only for the live progress display.

Exit status: 0 when nothing failed, 1 when some items failed (or deletes were refused),
2 for usage errors and runs that cannot start, 130 when interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from ferry import __version__
from ferry.cli import exitcodes
from ferry.cli.remote import RemoteCommandsGroup

SIZE_HELP = "Sizes take binary suffixes: 4K, 100M, 1.5G."


@click.group(
    cls=RemoteCommandsGroup,  # adds mover, endpoint, project, job, run, … (over HTTP)
    help="Move files and objects between shares, disks and buckets, and lose nothing.",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="ferry", message="%(prog)s %(version)s")
def cli() -> None:
    pass


def transfer_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The flags shared by ``copy`` and ``sync``."""
    options = [
        click.argument("src"),
        click.argument("dst"),
        click.option(
            "--dry-run", "-n", is_flag=True, help="Show what would happen; change nothing."
        ),
        click.option(
            "--checksum", "-c", is_flag=True, help="Compare by size and MD5, not size and mtime."
        ),
        click.option(
            "--include",
            multiple=True,
            metavar="GLOB",
            help="Copy only files matching GLOB (repeatable).",
        ),
        click.option(
            "--exclude",
            multiple=True,
            metavar="GLOB",
            help="Skip items matching GLOB (repeatable).",
        ),
        click.option(
            "--min-size", metavar="SIZE", help="Skip files smaller than SIZE. " + SIZE_HELP
        ),
        click.option("--max-size", metavar="SIZE", help="Skip files larger than SIZE."),
        click.option(
            "--min-age",
            metavar="AGE",
            help="Skip files modified more recently (30m, 7d, 2024-01-31).",
        ),
        click.option("--max-age", metavar="AGE", help="Skip files modified longer ago."),
        click.option("--exclude-hidden", is_flag=True, help="Skip names starting with a dot."),
        click.option(
            "--naming",
            metavar="PROFILE",
            help="Also hold names to PROFILE (posix, windows, blob, s3, sharepoint): where the "
            "target's data goes next, e.g. a folder a SharePoint client syncs. Names it "
            "cannot hold are Unsupported.",
        ),
        click.option(
            "--checkers",
            type=click.IntRange(1, 256),
            default=8,
            show_default=True,
            help="Directories listed and compared in parallel.",
        ),
        click.option(
            "--transfers",
            type=click.IntRange(1, 256),
            default=4,
            show_default=True,
            help="Files transferred in parallel.",
        ),
        click.option(
            "--integrity",
            type=click.Choice(["none", "save", "verify"]),
            default="none",
            show_default=True,
            help="save: store each file's MD5 on the target; verify: also re-read the copy and compare.",
        ),
        click.option(
            "--server-side/--no-server-side",
            default=True,
            show_default=True,
            help="Let the service copy between two Azure Blob locations, or within one S3 "
            "endpoint, without the data flowing through Ferry.",
        ),
        click.option(
            "--s3-endpoint",
            metavar="URL",
            help="The S3 service for s3:// addresses (default: AWS_ENDPOINT_URL_S3, "
            "AWS_ENDPOINT_URL, else AWS).",
        ),
        click.option(
            "--s3-region",
            metavar="REGION",
            help="The S3 region (default: AWS_REGION, AWS_DEFAULT_REGION).",
        ),
        click.option(
            "--s3-profile",
            metavar="NAME",
            help="The AWS profile whose credentials s3:// addresses use (default: AWS_PROFILE; "
            "keys themselves never go on the command line).",
        ),
        click.option(
            "--retries",
            type=click.IntRange(0, 100),
            default=3,
            show_default=True,
            help="Retries of an item after a transient error.",
        ),
        click.option(
            "--bwlimit", metavar="RATE", help="Bandwidth limit in bytes per second, e.g. 10M."
        ),
        click.option(
            "--chunk-size",
            default="64M",
            show_default=True,
            help="Part size of big files; an interrupted file resumes from its last complete part.",
        ),
        click.option(
            "--multi-thread-cutoff",
            default="256M",
            show_default=True,
            help="Files at least this big move in parallel parts.",
        ),
        click.option(
            "--multi-thread-streams",
            type=click.IntRange(1, 64),
            default=4,
            show_default=True,
            help="Parallel parts per big file.",
        ),
        click.option(
            "--list-cutoff",
            type=click.IntRange(min=1000),
            default=100_000,
            show_default=True,
            help="Directories wider than this are sorted on disk.",
        ),
        click.option(
            "--log", "log_path", metavar="PATH", help="Write the copy log to PATH ('-' for stdout)."
        ),
        click.option(
            "--log-format",
            type=click.Choice(["json", "csv"]),
            default="json",
            show_default=True,
            help="Copy-log format.",
        ),
        click.option(
            "--log-level",
            type=click.Choice(["changes", "all"]),
            default="changes",
            show_default=True,
            help="changes: every item but unchanged ones; all: every item.",
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the summary as one JSON object."
        ),
        click.option(
            "--progress/--no-progress",
            default=None,
            help="Live progress (default: when stderr is a terminal).",
        ),
        click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors (and --json)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@cli.command("copy")
@transfer_options
def copy_command(**kwargs: Any) -> None:
    """Copy SRC into DST (Additive): add and update, never delete.

    SRC and DST: a local path, smb://USER@HOST[:PORT]/SHARE/PATH, az://CONTAINER/PREFIX,
    https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX or s3://BUCKET/PREFIX.
    Credentials come from the environment: FERRY_SMB_PASSWORD,
    AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY (or a SAS in the URL), and the
    standard AWS variables.
    """
    _transfer(mirror=False, max_delete=None, **kwargs)


@cli.command("sync")
@transfer_options
@click.option(
    "--max-delete",
    type=click.IntRange(min=0),
    metavar="N",
    help="Delete nothing if more than N deletes are needed.",
)
def sync_command(max_delete: int | None, **kwargs: Any) -> None:
    """Make DST equal to SRC (Mirror): also delete what SRC lacks.

    SRC and DST: a local path, smb://USER@HOST[:PORT]/SHARE/PATH, az://CONTAINER/PREFIX,
    https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX or s3://BUCKET/PREFIX.
    Credentials come from the environment: FERRY_SMB_PASSWORD,
    AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY (or a SAS in the URL), and the
    standard AWS variables.
    """
    _transfer(mirror=True, max_delete=max_delete, **kwargs)


def _transfer(
    *, as_json: bool, progress: bool | None, quiet: bool, log_path: str | None, **kwargs: Any
) -> NoReturn:
    from ferry.cli.local_run import RunRequest, execute

    try:
        request = RunRequest.build(log=log_path, **kwargs)
    except ValueError as exc:
        _usage(str(exc))
    show = (sys.stderr.isatty() and not quiet and not as_json) if progress is None else progress
    sys.exit(execute(request, as_json=as_json, show_progress=show, quiet=quiet))


@cli.command("demo")
def demo_command() -> None:
    """Generate a sample tree, copy it, re-run it, and print the summaries."""
    from ferry.cli.demo import run_demo

    sys.exit(run_demo())


@cli.command("server")
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    envvar="FERRY_DB",
    help="Database URL, e.g. postgresql+psycopg://user@host/ferry [default: SQLite in the data dir].",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("ferry-data"),
    show_default=True,
    envvar="FERRY_DATA_DIR",
    help="Where the SQLite database and the first admin token are kept.",
)
@click.option(
    "--max-active-runs",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    envvar="FERRY_MAX_ACTIVE_RUNS",
    help="Job runs that may be active at once in one storage mover (every replica the same).",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Your own server certificate (PEM, with its chain) [default: one made by Ferry's own CA].",
)
@click.option(
    "--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Its key (PEM)."
)
@click.option(
    "--tls-name",
    "tls_names",
    multiple=True,
    metavar="NAME",
    help="Another DNS name or address clients use, for the certificate Ferry makes (repeatable).",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Serve plain http instead of HTTPS; only on a loopback --host.",
)
def server_command(
    database_url: str | None,
    host: str,
    port: int,
    data_dir: Path,
    max_active_runs: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_names: tuple[str, ...],
    insecure_http: bool,
) -> None:
    """Run the control plane: the Storage-Mover-compatible REST API, over HTTPS.

    Without --tls-cert, the first start makes a private CA in DATA_DIR/tls/ and a server
    certificate for the names the server answers on; clients and agents trust the CA file
    it prints (--ca-file), whose fingerprint can be checked out of band."""
    from ferry.cli.api_options import fail
    from ferry.control.server import serve, server_tls
    from ferry.control.settings import Settings
    from ferry.control.tls import TlsError

    settings = Settings(
        data_dir=data_dir, database_url=database_url, max_active_runs_per_mover=max_active_runs
    )
    try:
        tls = server_tls(
            data_dir,
            host,
            cert=tls_cert,
            key=tls_key,
            names=tls_names,
            insecure_http=insecure_http,
        )
    except TlsError as exc:
        fail(str(exc), exitcodes.USAGE)
    if tls is not None and tls.ca is not None:
        click.echo(f"HTTPS; clients trust the CA in {tls.ca}", err=True)
        click.echo(f"CA SHA-256 fingerprint: {tls.fingerprint()}", err=True)
    serve(settings, host, port, tls)


@cli.command("up")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("ferry-data"),
    show_default=True,
    envvar="FERRY_DATA_DIR",
    help="Where the database, the admin token, the agent's key and up.json are kept.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
def up_command(data_dir: Path, host: str, port: int) -> None:
    """Run the control plane (SQLite) and one local agent, registered and approved."""
    from ferry.cli.up import run_up

    sys.exit(run_up(data_dir, host, port, click.echo))


def _usage(message: str) -> NoReturn:
    click.echo(f"ferry: error: {message}", err=True)
    sys.exit(exitcodes.USAGE)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.ClickException as exc:
        command = " ".join(sys.argv[1:2])
        hint = f" (see 'ferry {command} --help')" if command and not command.startswith("-") else ""
        print(f"ferry: error: {exc.format_message()}{hint}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(exitcodes.INTERRUPTED)
    sys.exit(exitcodes.OK)
