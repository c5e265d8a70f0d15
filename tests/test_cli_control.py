"""The HTTP commands (``ferry mover|endpoint|project|job|run|agent|account|secret|admin|config``)
as a user runs them: real ``python -m ferry`` processes against a real server (SQLite)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from control_server import API_VERSION, PAGE_SIZE, RunningServer, shared_ca, start_ferry
from servers import HOST


@dataclass(frozen=True)
class Server:
    url: str
    token_file: Path
    ca_file: Path
    token: str = field(repr=False)

    def put(self, path: str, body: dict[str, Any]) -> None:
        """Set-up that is not under test, straight over HTTP (each CLI call costs a process)."""
        answer = requests.put(
            self.url + path,
            params={"api-version": API_VERSION},
            headers={"Authorization": f"Bearer {self.token}"},
            json=body,
            timeout=30,
            verify=str(self.ca_file),
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("ferry-cli")
    running: RunningServer
    with start_ferry("sqlite", data_dir, None) as running:
        token_file = data_dir / "admin.token"
        yield Server(running.url, token_file, shared_ca(), token_file.read_text().strip())


@dataclass
class Cli:
    """``python -m ferry`` with a private config file and one subscription per test."""

    server: Server
    home: Path
    subscription: str
    env: dict[str, str]
    secrets: list[str] = field(default_factory=list)  # must never appear in any output

    def __call__(
        self,
        *args: str | Path,
        check: int | None = 0,
        input: str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        environment = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                environment.pop(key, None)
            else:
                environment[key] = value
        result = subprocess.run(
            [sys.executable, "-m", "ferry", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
            input=input if input is not None else "",
        )
        for secret in [self.server.token, *self.secrets]:
            assert secret not in result.stdout + result.stderr
        if check is not None:
            assert result.returncode == check, result.stdout + result.stderr
        return result

    def mover(self, name: str, *children: tuple[str, str, dict[str, Any]]) -> None:
        """Create storage mover ``name`` and (kind, name, properties) children over HTTP."""
        path = (
            f"/subscriptions/{self.subscription}/resourceGroups/rg/providers/"
            f"Microsoft.StorageMover/storageMovers/{name}"
        )
        self.server.put(path, {"location": "westus"})
        for kind, child, properties in children:
            self.server.put(f"{path}/{kind}/{child}", {"properties": properties})

    def json(self, *args: str | Path, **kwargs: Any) -> Any:
        return json.loads(self(*args, "--json", **kwargs).stdout)

    def error(self, *args: str | Path, check: int = 1, **kwargs: Any) -> str:
        """The one error line of a failing command."""
        result = self(*args, check=check, **kwargs)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("ferry: error: "), lines[0]
        assert result.stdout == ""
        return lines[0]


@pytest.fixture
def cli(server: Server, tmp_path: Path) -> Cli:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    subscription = str(uuid.uuid4())
    env.update(
        FERRY_CONFIG=str(tmp_path / "config.toml"),
        FERRY_SERVER=server.url,
        FERRY_TOKEN_FILE=str(server.token_file),
        FERRY_CA_FILE=str(server.ca_file),
        FERRY_SUBSCRIPTION=subscription,
        FERRY_RESOURCE_GROUP="rg",
        COLUMNS="200",
    )
    return Cli(server, tmp_path, subscription, env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# --------------------------------------------------------------------------------------------


def test_mover_create_show_list_update_delete(cli: Cli) -> None:
    created = cli.json(
        "mover", "create", "-n", "m1", "-l", "westus", "--description", "one", "--tags", "k=v"
    )
    assert created["tags"] == {"k": "v"}
    assert created["id"] == (
        f"/subscriptions/{cli.subscription}/resourceGroups/rg/providers/"
        "Microsoft.StorageMover/storageMovers/m1"
    )
    assert created["properties"] == {"description": "one", "provisioningState": "Succeeded"}
    for name in ("m2", "m3", "m4"):  # more than a page
        cli.mover(name)

    shown = cli("mover", "show", "-n", "m1").stdout
    assert "description" in shown and "one" in shown and "westus" in shown
    assert "{" not in shown  # people get lines, not JSON

    listed = cli.json("mover", "list")
    assert [m["name"] for m in listed] == ["m1", "m2", "m3", "m4"]
    assert len(listed) > PAGE_SIZE
    table = cli("mover", "list").stdout.splitlines()
    assert table[0].split() == ["Name", "Location", "Description", "State"]
    assert [line.split()[0] for line in table[2:]] == ["m1", "m2", "m3", "m4"]
    assert len(cli.json("mover", "list", "--all-groups")) == 4

    updated = cli.json("mover", "update", "-n", "m1", "--description", "two", "--tags", "a=b")
    assert updated["properties"]["description"] == "two"
    assert updated["tags"] == {"a": "b"}

    refused = cli.error("mover", "delete", "-n", "m1", check=2)
    assert "--yes" in refused
    assert cli("mover", "delete", "-n", "m1", "--yes").stdout == "Deleted storage mover 'm1'.\n"
    assert cli.error("mover", "show", "-n", "m1").startswith(
        "ferry: error: ResourceNotFound: The storage mover 'm1' was not found"
    )
    assert "did not exist" in cli("mover", "delete", "-n", "m1", "-y").stdout


def test_endpoints_of_every_type(cli: Cli) -> None:
    cli.mover("m")
    m = ("--storage-mover-name", "m")
    nfs = cli.json(
        "endpoint", "create-for-nfs", *m, "-n", "nfs", "--host", "nas", "--export", "/data",
        "--nfs-version", "NFSv4", "--description", "the NAS",
    )  # fmt: skip
    assert nfs["properties"] | {"provisioningState": None} == {
        "endpointType": "NfsMount",
        "host": "nas",
        "export": "/data",
        "nfsVersion": "NFSv4",
        "description": "the NAS",
        "provisioningState": None,
    }
    cli("endpoint", "create-for-local-path", *m, "-n", "local", "--path", "/srv/in")
    cli(
        "endpoint", "create-for-s3", *m, "-n", "bucket", "--source-uri", "https://s3.example/b",
        "--source-type", "MINIO", "--endpoint-kind", "Source",
    )  # fmt: skip
    cli("endpoint", "create-for-smb", *m, "-n", "share", "--host", "fs1", "--share-name", "docs")

    listed = cli.json("endpoint", "list", *m)
    assert {e["name"]: e["properties"]["endpointType"] for e in listed} == {
        "nfs": "NfsMount",
        "local": "LocalPath",
        "bucket": "S3WithHMAC",
        "share": "SmbMount",
    }
    table = cli("endpoint", "list", *m).stdout
    for where in ("nas:/data", "/srv/in", "https://s3.example/b", "//fs1/docs"):
        assert where in table

    assert "/srv/in" in cli("endpoint", "show", *m, "-n", "local").stdout
    updated = cli.json("endpoint", "update", *m, "-n", "nfs", "--description", "moved")
    assert updated["properties"]["description"] == "moved"
    assert updated["properties"]["host"] == "nas"
    wrong = cli.error("endpoint", "update", *m, "-n", "nfs", "--password-uri", "x", check=2)
    assert "--password-uri" in wrong and "NfsMount" in wrong

    immutable = cli.error("endpoint", "create-for-nfs", *m, "-n", "nfs", "--host", "other", "--export", "/data")  # fmt: skip
    assert immutable.startswith("ferry: error: PropertyChangeNotAllowed: ")
    assert cli("endpoint", "delete", *m, "-n", "nfs").stdout == "Deleted endpoint 'nfs'.\n"
    assert len(cli.json("endpoint", "list", *m)) == 3


def test_project_job_and_runs(cli: Cli) -> None:
    cli.mover(
        "m",
        ("endpoints", "src", {"endpointType": "NfsMount", "host": "nas", "export": "/data"}),
        ("endpoints", "dst", {"endpointType": "LocalPath", "path": "/srv/copy"}),
    )
    m = ("--storage-mover-name", "m")

    project = cli.json("project", "create", *m, "-n", "p", "--description", "wave 1")
    assert project["properties"]["description"] == "wave 1"
    cli("project", "update", *m, "-n", "p", "--description", "wave 2")
    assert "wave 2" in cli("project", "show", *m, "-n", "p").stdout
    assert [p["name"] for p in cli.json("project", "list", *m)] == ["p"]

    jp = (*m, "--project-name", "p")
    job = cli.json(
        "job", "create", *jp, "-n", "j", "--copy-mode", "Additive", "--source-name", "src",
        "--target-name", "dst", "--target-subpath", "in",
    )  # fmt: skip
    assert job["properties"]["sourceName"] == "src"
    assert job["properties"]["targetSubpath"] == "in"
    assert (
        cli.json("job", "update", *jp, "-n", "j", "--copy-mode", "Mirror")["properties"]["copyMode"]
        == "Mirror"
    )
    table = cli("job", "list", *jp).stdout
    assert "Mirror" in table and "src" in table and "dst" in table

    started = cli.json("job", "start-job", *jp, "-n", "j")
    run_name = started["jobRunResourceId"].rsplit("/", 1)[-1]
    busy = cli.error("job", "start-job", *jp, "-n", "j")
    assert busy.startswith("ferry: error: JobRunAlreadyActive: ")

    rp = (*jp, "--job-definition-name", "j")
    runs = cli.json("run", "list", *rp)
    assert [(r["name"], r["properties"]["status"]) for r in runs] == [(run_name, "Queued")]
    run_table = cli("run", "list", *rp).stdout
    assert run_name in run_table and "Queued" in run_table

    stopped = cli("job", "stop-job", *jp, "-n", "j").stdout
    assert run_name in stopped
    run = cli.json("run", "show", *rp, "-n", run_name)
    assert run["properties"]["status"] == "Canceled"
    assert run["properties"]["sourceProperties"]["export"] == "/data"
    assert "Canceled" in cli("run", "show", *rp, "-n", run_name).stdout

    in_use = cli.error("endpoint", "delete", *m, "-n", "src")
    assert in_use.startswith("ferry: error: EndpointInUse: ")
    cli("job", "delete", *jp, "-n", "j")
    cli("project", "delete", *m, "-n", "p")
    assert cli.json("project", "list", *m) == []


def test_secrets_and_smb_endpoint_credentials(cli: Cli, server: Server) -> None:
    password = f"pw-{uuid.uuid4()}"
    cli.secrets.append(password)
    name = f"smb-pw-{uuid.uuid4().hex[:8]}"
    user = f"smb-user-{uuid.uuid4().hex[:8]}"

    stored = cli.json("secret", "set", name, input=password + "\n")
    assert stored["name"] == name and stored["uri"] == f"ferry:secrets/{name}"
    assert set(stored) >= {"name", "uri", "createdAt", "updatedAt"}
    assert "stored" in cli("secret", "set", user, input="alice").stdout
    # the value is never an argument
    assert "never taken from the command line" in cli.error(
        "secret", "set", name, password, check=2
    )
    assert cli.error("secret", "set", name, input="", check=2).endswith("the secret value is empty")

    assert cli.json("secret", "show", name)["uri"] == f"ferry:secrets/{name}"
    assert {name, user} <= {s["name"] for s in cli.json("secret", "list")}
    assert name in cli("secret", "list").stdout

    cli.mover("m")
    m = ("--storage-mover-name", "m")
    smb = cli.json(
        "endpoint", "create-for-smb", *m, "-n", "share", "--host", "fs1", "--share-name", "docs",
        "--username-uri", f"ferry:secrets/{user}", "--password-uri", f"ferry:secrets/{name}",
    )  # fmt: skip
    assert smb["properties"]["credentials"] == {
        "type": "AzureKeyVaultSmb",
        "usernameUri": f"ferry:secrets/{user}",
        "passwordUri": f"ferry:secrets/{name}",
    }
    unknown = cli.error(
        "endpoint", "update", *m, "-n", "share", "--password-uri", "ferry:secrets/nope-none"
    )
    assert unknown.startswith("ferry: error: SecretNotFound: ")
    cli("endpoint", "delete", *m, "-n", "share")
    assert cli("secret", "delete", name).stdout == f"Deleted secret '{name}'.\n"
    assert cli.error("secret", "show", name).startswith("ferry: error: ResourceNotFound: ")


def test_storage_accounts_and_blob_endpoint(cli: Cli, server: Server) -> None:
    key = f"acct-key-{uuid.uuid4().hex[:8]}"
    cli("secret", "set", key, input="a2V5")
    created = cli.json(
        "account", "create", "-n", "acct1", "-l", "westus",
        "--blob-endpoint", "http://127.0.0.1:10000/devstoreaccount1", "--key-secret", key,
    )  # fmt: skip
    assert created["properties"]["accountKeySecretUri"] == f"ferry:secrets/{key}"
    assert "devstoreaccount1" in cli("account", "show", "-n", "acct1").stdout
    assert [a["name"] for a in cli.json("account", "list")] == ["acct1"]
    updated = cli.json(
        "account", "update", "-n", "acct1", "--blob-endpoint", "http://127.0.0.1:10000/other"
    )
    assert updated["properties"]["primaryEndpoints"]["blob"].startswith(
        "http://127.0.0.1:10000/other"
    )

    cli.mover("m")
    m = ("--storage-mover-name", "m")
    blob = cli.json(
        "endpoint", "create-for-storage-container", *m, "-n", "blob",
        "--container-name", "target", "--storage-account-id", "acct1",
    )  # fmt: skip
    assert blob["properties"]["storageAccountResourceId"] == created["id"]
    assert "acct1/target" in cli("endpoint", "list", *m).stdout
    cli("endpoint", "delete", *m, "-n", "blob")
    assert "Deleted" in cli("account", "delete", "-n", "acct1").stdout
    assert cli.json("account", "list") == []


def test_agents_are_listed_and_absent_ones_reported(cli: Cli, server: Server) -> None:
    cli.mover("m")
    m = ("--storage-mover-name", "m")
    assert cli.json("agent", "list", *m) == []
    assert cli("agent", "list", *m).stdout == "(none)\n"
    missing = cli.error("agent", "show", *m, "-n", "a1")
    assert missing.startswith("ferry: error: ResourceNotFound: ")
    assert "did not exist" in cli("agent", "delete", *m, "-n", "a1", "--yes").stdout


def test_tokens_roles_and_audit_log(cli: Cli) -> None:
    saved = cli.home / "reader.token"
    issued = cli("admin", "token", "create", "--role", "Reader", "--save", saved).stdout
    assert "saved to" in issued
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    reader = saved.read_text().strip()
    cli.secrets.append(reader)
    as_reader = {"FERRY_TOKEN_FILE": str(saved)}

    refused = cli.error("mover", "create", "-n", "m", "-l", "westus", env=as_reader)
    assert refused.startswith("ferry: error: AuthorizationFailed: ")
    assert "Reader" in refused
    assert cli.json("mover", "list", env=as_reader) == []

    tokens = cli.json("admin", "token", "list")
    mine = next(t for t in tokens if t["role"] == "Reader" and not t["revoked"])
    assert "token" not in mine
    assert "Reader" in cli("admin", "token", "list").stdout
    cli("admin", "token", "revoke", str(mine["id"]))
    revoked = cli.error("mover", "list", env=as_reader)
    assert revoked.startswith("ferry: error: InvalidAuthenticationToken: ")

    # printed once, on stdout; usable from FERRY_TOKEN
    contributor = cli(
        "admin", "token", "create", "--role", "Contributor", "-n", "ci"
    ).stdout.strip()
    assert len(contributor) > 20 and "\n" not in contributor
    as_contributor = {"FERRY_TOKEN": contributor, "FERRY_TOKEN_FILE": None}
    cli.secrets.append(contributor)
    cli("mover", "create", "-n", "by-ci", "-l", "westus", env=as_contributor)

    audit = cli.json("admin", "audit", "--limit", "3")
    assert len(audit) == 3
    assert audit[0]["principal"] == "ci" and audit[0]["method"] == "PUT"
    assert audit[0]["path"].endswith("/storageMovers/by-ci")
    table = cli("admin", "audit", "--limit", "5").stdout
    assert "AuthorizationFailed" not in table and "/storageMovers/by-ci" in table


def test_missing_token_is_a_usage_error(cli: Cli) -> None:
    missing = cli.error("mover", "list", "--token-file", cli.home / "absent", check=2)
    assert "cannot read the token file" in missing and "No such file" in missing
    none = cli.error("mover", "list", env={"FERRY_TOKEN_FILE": None}, check=2)
    assert "no API token" in none and "--token-file" in none
    (cli.home / "empty").write_text("\n")
    assert "is empty" in cli.error("mover", "list", "--token-file", cli.home / "empty", check=2)


def test_unreachable_or_invalid_server_is_one_clear_line(cli: Cli) -> None:
    url = f"http://{HOST}:{free_port()}"
    unreachable = cli.error("mover", "list", "--server", url)
    assert unreachable.startswith(f"ferry: error: cannot reach the Ferry server at {url}")
    invalid = cli.error("mover", "list", "--server", "nowhere", check=2)
    assert "not valid" in invalid
    usage = cli.error("mover", "create", "-n", "m", check=2)  # no --location
    assert "--location" in usage


def test_config_file_gives_the_defaults(cli: Cli, server: Server) -> None:
    bare = {key: None for key in cli.env if key.startswith("FERRY_") and key != "FERRY_CONFIG"}
    config = cli.home / "config.toml"
    subscription = str(uuid.uuid4())
    cli("config", "set", "server", server.url, env=bare)
    cli("config", "set", "token_file", server.token_file, env=bare)
    cli("config", "set", "ca_file", server.ca_file, env=bare)
    cli("config", "set", "subscription", subscription, env=bare)
    cli("config", "set", "resource_group", "from-config", env=bare)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "from-config" in cli("config", "show", env=bare).stdout
    assert "token_file" in cli.error("config", "set", "token", "abc", env=bare, check=2)

    created = cli.json("mover", "create", "-n", "m", "-l", "westus", env=bare)
    assert created["id"].startswith(f"/subscriptions/{subscription}/resourceGroups/from-config/")
    # the environment overrides the file, and a flag overrides both
    assert cli.json("mover", "list", env={**bare, "FERRY_RESOURCE_GROUP": "other"}) == []
    assert len(cli.json("mover", "list", "-g", "from-config", env=bare)) == 1


def test_copy_does_not_load_the_http_client() -> None:
    code = (
        "import sys; from ferry.cli.main import cli; "
        "sys.argv = ['ferry', 'copy', '--help']; "
        "cli.main(standalone_mode=False); "
        "loaded = [m for m in ('http.client', 'rich', 'ferry.cli.client', 'ferry.cli.movers_cmd') "
        "if m in sys.modules]; "
        "print(loaded)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_scoped_token_sees_its_mover_only(cli: Cli) -> None:
    cli("mover", "create", "-n", "mine", "-l", "westus")
    cli("mover", "create", "-n", "theirs", "-l", "westus")
    scope = cli.json("mover", "show", "-n", "mine")["id"]
    token = cli("admin", "token", "create", "--role", "Contributor", "--scope", scope)
    scoped = token.stdout.strip()
    cli.secrets.append(scoped)
    as_scoped = {"FERRY_TOKEN": scoped, "FERRY_TOKEN_FILE": None}
    listed = cli.json("admin", "token", "list")
    assert any(t["scope"] == scope for t in listed)

    cli("project", "create", "--mover", "mine", "-n", "wave1", env=as_scoped)
    refused = cli.error("project", "create", "--mover", "theirs", "-n", "wave1", env=as_scoped)
    assert "ferry: error: " in refused
    assert [m["name"] for m in cli.json("mover", "list", env=as_scoped)] == ["mine"]
