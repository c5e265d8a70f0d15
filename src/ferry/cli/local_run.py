"""Turning the arguments of `ferry copy` and `ferry sync` into a run on this machine, running
it, and reporting it."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

from ferry.cli import exitcodes
from ferry.cli.sizes import format_bytes, parse_age_ns, parse_rate, parse_size
from ferry.engine.copylog import CopyLog, LogFormat, LogLevel, open_copy_log
from ferry.engine.filters import FilterRules, PatternError, compile_glob
from ferry.engine.plan import Compare, CopyMode
from ferry.engine.run import CopyRun, RunOptions, RunSetupError, RunStatus, RunSummary
from ferry.engine.transfer import Integrity, TransferSettings
from ferry.storage.base import Store
from ferry.storage.errors import StorageError
from ferry.storage.naming import NamingProfile, profile_by_name
from ferry.storage.url import open_store

FAILURES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class RunRequest:
    src: str
    dst: str
    options: RunOptions
    list_cutoff: int
    log: str | None
    log_format: LogFormat
    log_level: LogLevel
    environment: Mapping[str, str]
    """Where stores read their endpoints and credentials: the process environment with the
    endpoint flags laid over it."""

    @classmethod
    def build(
        cls,
        *,
        src: str,
        dst: str,
        mirror: bool,
        dry_run: bool,
        checksum: bool,
        include: Sequence[str],
        exclude: Sequence[str],
        min_size: str | None,
        max_size: str | None,
        min_age: str | None,
        max_age: str | None,
        exclude_hidden: bool,
        naming: str | None,
        checkers: int,
        transfers: int,
        integrity: str,
        server_side: bool,
        s3_endpoint: str | None,
        s3_region: str | None,
        s3_profile: str | None,
        max_delete: int | None,
        retries: int,
        bwlimit: str | None,
        chunk_size: str,
        multi_thread_cutoff: str,
        multi_thread_streams: int,
        list_cutoff: int,
        log: str | None,
        log_format: str,
        log_level: str,
    ) -> RunRequest:
        """Validate everything before anything runs; raises ValueError with a clear message."""
        for pattern in [*include, *exclude]:
            try:
                compile_glob(pattern)
            except PatternError as exc:
                raise ValueError(str(exc)) from None
        now_ns = time.time_ns()
        part_size = _size("--chunk-size", chunk_size)
        if part_size < 64 * 1024:
            raise ValueError("--chunk-size must be at least 64K")
        filters = FilterRules(
            include=tuple(include),
            exclude=tuple(exclude),
            min_size=_size("--min-size", min_size) if min_size else None,
            max_size=_size("--max-size", max_size) if max_size else None,
            min_age_ns=_age("--min-age", min_age, now_ns) if min_age else None,
            max_age_ns=_age("--max-age", max_age, now_ns) if max_age else None,
            exclude_hidden=exclude_hidden,
        )
        try:
            rate = parse_rate(bwlimit) if bwlimit else None
        except ValueError as exc:
            raise ValueError(f"--bwlimit: {exc}") from None
        options = RunOptions(
            mode=CopyMode.MIRROR if mirror else CopyMode.ADDITIVE,
            compare=Compare.CHECKSUM if checksum else Compare.TIME,
            filters=filters,
            checkers=checkers,
            transfers=transfers,
            transfer=TransferSettings(
                part_size=part_size,
                multi_thread_cutoff=_size("--multi-thread-cutoff", multi_thread_cutoff),
                multi_thread_streams=multi_thread_streams,
                integrity=Integrity(integrity),
                server_side=server_side,
            ),
            retries=retries,
            max_delete=max_delete,
            dry_run=dry_run,
            bwlimit=rate,
            naming=_naming(naming) if naming else None,
        )
        environment = dict(os.environ)
        if s3_endpoint:
            environment["AWS_ENDPOINT_URL_S3"] = s3_endpoint
        if s3_region:
            environment["AWS_REGION"] = s3_region
        if s3_profile:
            environment["AWS_PROFILE"] = s3_profile
        return cls(
            src,
            dst,
            options,
            list_cutoff,
            log,
            LogFormat(log_format),
            LogLevel(log_level),
            environment,
        )


def _size(flag: str, text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def _naming(name: str) -> NamingProfile:
    try:
        return profile_by_name(name)
    except ValueError as exc:
        raise ValueError(f"--naming: {exc}") from None


def _age(flag: str, text: str, now_ns: int) -> int:
    try:
        return parse_age_ns(text, now_ns)
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def _error(message: str) -> None:
    print(f"ferry: error: {message}", file=sys.stderr)


def execute(request: RunRequest, *, as_json: bool, show_progress: bool, quiet: bool) -> int:
    try:
        source: Store = open_store(
            request.src, list_cutoff=request.list_cutoff, env=request.environment
        )
        target: Store = open_store(
            request.dst, list_cutoff=request.list_cutoff, env=request.environment
        )
    except StorageError as exc:
        _error(str(exc))
        return exitcodes.USAGE
    run = CopyRun(source, target, request.options)
    log: CopyLog | None = None
    if request.log:
        try:
            log = open_copy_log(
                request.log, run_id=run.run_id, fmt=request.log_format, level=request.log_level
            )
        except OSError as exc:
            _error(f"cannot write the copy log {request.log}: {exc.strerror or exc}")
            return exitcodes.USAGE
        run.log = log

    interrupted = threading.Event()
    install_interrupt_handler(interrupted)
    outcome: dict[str, object] = {}

    def target_fn() -> None:
        try:
            outcome["summary"] = run.run()
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=target_fn, name="ferry-run", daemon=True)
    display = None
    if show_progress:
        from ferry.cli.progress import ProgressDisplay

        display = ProgressDisplay(dry_run=request.options.dry_run)
        display.start()
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.25)
            if interrupted.is_set() and not run.canceled:
                run.cancel()
            if display is not None:
                display.update(run.progress())
            if log is not None:
                log.flush()
    finally:
        if display is not None:
            display.stop()
        if log is not None:
            log.close()
        source.close()
        target.close()

    error = outcome.get("error")
    if isinstance(error, RunSetupError):
        _error(str(error))
        return exitcodes.USAGE
    if error is not None:
        raise error  # type: ignore[misc]
    summary = outcome["summary"]
    assert isinstance(summary, RunSummary)
    report(summary, as_json=as_json, quiet=quiet)
    if summary.status is RunStatus.CANCELED:
        return exitcodes.INTERRUPTED
    return exitcodes.OK if summary.status is RunStatus.SUCCEEDED else exitcodes.FAILED


def install_interrupt_handler(on_first: threading.Event) -> None:
    """First SIGINT/SIGTERM: stop gracefully (in-flight parts are kept for resume).
    Second: leave at once."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if on_first.is_set():
            os._exit(exitcodes.INTERRUPTED)
        on_first.set()
        print("ferry: stopping; interrupt again to quit at once", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def report(summary: RunSummary, *, as_json: bool, quiet: bool) -> None:
    if summary.failures and not quiet:
        shown = summary.failures[:FAILURES_SHOWN]
        for failure in shown:
            print(
                f"failed: {failure.path}: {failure.details} [{failure.code.number}]",
                file=sys.stderr,
            )
        hidden = summary.counters.items_failed + summary.counters.delete_failures - len(shown)
        if hidden > 0:
            print(f"... and {hidden} more failures (see the copy log)", file=sys.stderr)
    for message in summary.errors:
        print(f"ferry: {message}", file=sys.stderr)
    if as_json:
        sys.stdout.write(json.dumps(summary.as_json()) + "\n")
    elif not quiet:
        sys.stdout.write(human_summary(summary))
    sys.stdout.flush()


def human_summary(summary: RunSummary) -> str:
    c = summary.counters
    seconds = max(summary.finished - summary.started, 1e-9)
    rate = c.bytes_moved / seconds
    title = f"Run {summary.run_id}: {summary.status.value}"
    if summary.dry_run:
        title += " (dry run: nothing was changed)"
    rows = [
        ("scanned", c.items_scanned, c.bytes_scanned),
        ("transferred", c.items_transferred, c.bytes_transferred),
        ("no transfer needed", c.items_no_transfer_needed, c.bytes_no_transfer_needed),
        ("excluded", c.items_excluded, c.bytes_excluded),
        ("unsupported", c.items_unsupported, c.bytes_unsupported),
        ("failed", c.items_failed, c.bytes_failed),
        ("deleted", c.items_deleted, c.bytes_deleted),
    ]
    lines = [title]
    lines += [
        f"  {name:<19}{items:>12,} items {format_bytes(size):>12}" for name, items, size in rows
    ]
    lines.append(f"  elapsed {seconds:.1f} s, {format_bytes(rate)}/s moved")
    return "\n".join(lines) + "\n"
