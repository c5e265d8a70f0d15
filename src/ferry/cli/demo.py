"""``ferry demo`` (what ``make run`` starts until the server exists): generate a sample tree
in a temporary directory, copy it with the engine, re-run to show that nothing moves twice,
and print both summaries."""

from __future__ import annotations

import os
import random
import shutil
import tempfile

from ferry.cli import exitcodes
from ferry.cli.local_run import human_summary
from ferry.engine.run import CopyRun, RunOptions, RunStatus
from ferry.storage.local.store import LocalStore

MiB = 1 << 20


def make_sample_tree(root: str, *, files: int = 600, seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(files):
        directory = os.path.join(root, f"team-{i % 6}", f"project-{i % 17}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"report-{i:04}.txt"), "wb") as handle:
            handle.write(rng.randbytes(rng.randint(0, 64 * 1024)))
    os.makedirs(os.path.join(root, "archive", "empty-folder"))
    with open(os.path.join(root, "archive", "disk-image.bin"), "wb") as handle:
        handle.write(rng.randbytes(24 * MiB))
    os.symlink("../team-0", os.path.join(root, "archive", "link-to-team-0"))


def run_demo() -> int:
    workdir = tempfile.mkdtemp(prefix="ferry-demo-")
    try:
        source, target = os.path.join(workdir, "source"), os.path.join(workdir, "target")
        print(f"Generating a sample tree in {source} ...")
        make_sample_tree(source)
        for label in ("First copy", "Second copy (nothing to do)"):
            print(f"\n{label}: ferry copy {source} {target}")
            summary = CopyRun(LocalStore(source), LocalStore(target), RunOptions()).run()
            print(human_summary(summary), end="")
            if summary.status is not RunStatus.SUCCEEDED:
                return exitcodes.FAILED
        print("\nTry it yourself: ferry copy SRC DST --dry-run, then ferry sync SRC DST --json")
        return exitcodes.OK
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
