"""``ferry copy`` and ``ferry sync`` by address, as a user types them, against the real
servers: credentials from the environment, never echoed back."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import describe, write

REMOTES = ["smb", "azureblob", "s3"]


def ferry(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferry", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
    )


def address(request: pytest.FixtureRequest, backend: str, label: str) -> tuple[str, dict[str, str]]:
    module = importlib.import_module(f"backend_{backend}")
    made: tuple[str, dict[str, str]] = module.make_address(request, label)
    return made


@pytest.mark.parametrize("backend", REMOTES)
def test_up_and_back_down_by_address(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    src = tmp_path / "src"
    write(src / "a.txt", "alpha", mtime_ns=1_600_000_000_000_000_000)
    write(src / "sub" / "b.bin", os.urandom(200_000), mtime_ns=1_600_000_001_000_000_000)
    (src / "empty").mkdir()
    remote, env = address(request, backend, "cli")

    up = ferry("copy", src, remote, "--json", env=env)
    assert up.returncode == 0, up.stderr
    summary = json.loads(up.stdout)
    assert summary["itemsTransferred"] == 4 and summary["status"] == "Succeeded"
    again = json.loads(ferry("copy", src, remote, "--json", env=env).stdout)
    assert again["itemsTransferred"] == 0 and again["itemsNoTransferNeeded"] == 4

    down = tmp_path / "down"
    result = ferry("sync", remote, down, "--json", env=env)
    assert result.returncode == 0, result.stderr
    got, want = describe(down, with_dir_mtime=False), describe(src, with_dir_mtime=False)
    assert {p: (i.kind, i.md5, i.mtime_ns if i.kind == "file" else 0) for p, i in got.items()} == {
        p: (i.kind, i.md5, i.mtime_ns if i.kind == "file" else 0) for p, i in want.items()
    }
    for secret in env.values():
        if len(secret) >= 12 and not secret.startswith("http"):
            assert secret not in result.stdout + result.stderr + up.stdout + up.stderr


@pytest.mark.parametrize(
    ("target", "env", "message"),
    [
        ("smb://someone@127.0.0.1:1/share/x", {}, "FERRY_SMB_PASSWORD"),
        ("smb://someone:pw@127.0.0.1/share/x", {}, "FERRY_SMB_PASSWORD"),
        ("az://container/x", {"AZURE_STORAGE_CONNECTION_STRING": ""}, "AZURE_STORAGE"),
        ("s3://", {}, "bucket"),
        ("s3://Bad_Bucket/x", {}, "bucket"),
    ],
)
def test_unusable_addresses_are_one_clear_line(
    tmp_path: Path, target: str, env: dict[str, str], message: str
) -> None:
    write(tmp_path / "src" / "a", "x")
    result = ferry("copy", tmp_path / "src", target, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ferry: error:"), result.stderr
    assert message.lower() in lines[0].lower()
    assert ":pw@" not in lines[0]  # a password in the URL is never echoed


def test_s3_endpoint_and_region_flags_override_the_environment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    write(tmp_path / "src" / "a.txt", "alpha")
    remote, env = address(request, "s3", "flags")
    endpoint, region = env.pop("AWS_ENDPOINT_URL_S3"), env.pop("AWS_REGION")
    # The environment names a server that is not there; the flags win.
    env |= {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1", "AWS_REGION": "nowhere-1"}
    refused = ferry("copy", tmp_path / "src", remote, "--retries", "0", "--json", env=env)
    assert refused.returncode != 0
    flags = ("--s3-endpoint", endpoint, "--s3-region", region)
    result = ferry("copy", tmp_path / "src", remote, *flags, "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["itemsTransferred"] == 1


def test_s3_profile_flag_picks_credentials_from_the_shared_files(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    write(tmp_path / "src" / "a.txt", "alpha")
    remote, env = address(request, "s3", "profile")
    key, secret = env.pop("AWS_ACCESS_KEY_ID"), env.pop("AWS_SECRET_ACCESS_KEY")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n"
        f"[migration]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
    )
    credentials.chmod(0o600)
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
    }
    wrong = ("--s3-profile", "default", "--retries", "0", "--json")
    refused = ferry("copy", tmp_path / "src", remote, *wrong, env=env)
    assert refused.returncode != 0  # the server refuses the default profile's keys
    result = ferry("copy", tmp_path / "src", remote, "--s3-profile", "migration", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["itemsTransferred"] == 1
    assert secret not in result.stdout + result.stderr + refused.stdout + refused.stderr
