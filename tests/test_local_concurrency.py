"""How many threads the engine uses on local disks versus network file systems."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ferry.engine.run import CopyRun, RunOptions
from ferry.storage.local.store import LocalStore, is_network_filesystem

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /mnt/nas rw,relatime - nfs4 filer:/export rw,vers=4.2
41 40 0:51 / /mnt/nas/local-cache rw,relatime - ext4 /dev/vdb rw
42 27 0:52 / /mnt/win\\040share rw,relatime - cifs //srv/share rw
43 27 0:53 / /mnt/sshfs rw,relatime - fuse.sshfs host: rw
"""


@pytest.mark.parametrize(
    ("path", "network"),
    [
        ("/", False),
        ("/home/user/data", False),
        ("/mnt/nas", True),
        ("/mnt/nas/projects/2024", True),
        ("/mnt/nas/local-cache/x", False),  # the longest mount point wins
        ("/mnt/nasty", False),  # a prefix of the name is not a parent directory
        ("/mnt/win share/docs", True),
        ("/mnt/sshfs/a", True),
    ],
)
def test_network_file_systems_are_recognised(tmp_path: Path, path: str, network: bool) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(MOUNTINFO)
    assert is_network_filesystem(path, str(mountinfo)) is network


def test_unreadable_mount_table_means_local(tmp_path: Path) -> None:
    assert is_network_filesystem("/mnt/nas", str(tmp_path / "missing")) is False


class NetworkLikeStore(LocalStore):
    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.capabilities = dataclasses.replace(
            self.capabilities, useful_concurrency=None, useful_listing_concurrency=None
        )


def test_thread_pools_are_capped_on_local_disks_only(tmp_path: Path) -> None:
    local = LocalStore(str(tmp_path))
    cap = local.capabilities.useful_concurrency
    assert cap is not None and cap >= 1
    assert local.capabilities.useful_listing_concurrency == 1
    run = CopyRun(local, LocalStore(str(tmp_path / "t")), RunOptions(checkers=64, transfers=64))
    assert (run.checkers, run.transfers) == (1, cap)
    remote = NetworkLikeStore(str(tmp_path / "t"))
    run = CopyRun(local, remote, RunOptions(checkers=64, transfers=32))
    assert (run.checkers, run.transfers) == (64, 32)
    run = CopyRun(local, LocalStore(str(tmp_path / "t")), RunOptions(checkers=1, transfers=1))
    assert (run.checkers, run.transfers) == (1, 1)
