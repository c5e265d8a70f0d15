"""``ferry up``: the control plane on SQLite and one local agent, in one process.

1. The server (uvicorn, in a thread) on ``--host``/``--port`` over ``<data-dir>/ferry.db``,
   over HTTPS with the data directory's own CA (``<data-dir>/tls/ca.pem``, as ``ferry
   server`` makes it); its first start writes the admin token to ``<data-dir>/admin.token``
   (0600).
2. The storage mover ``local-mover`` in subscription 00000000-0000-0000-0000-000000000000,
   resource group ``default`` (the CLI's defaults), created when missing.
3. The agent ``local-agent`` of that mover, its key in ``<data-dir>/agent`` (0600): registered
   as any agent is (user code), the code approved at once with the admin token. A later
   ``ferry up`` on the same data directory reuses the registration (and registers again only
   when the agent was unregistered meanwhile).
4. The agent loop (``ferry agent run``'s daemon), in a thread.
5. ``<data-dir>/up.json`` (0600): url, tokenFile, caFile, subscriptionId, resourceGroup,
   storageMover, agent, for scripts.

Ctrl-C (or SIGTERM) stops the agent, then the server, and exits 0.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import uvicorn

from ferry.agent.client import AgentRefused, AgentRevoked, ProtocolError, Unreachable
from ferry.agent.daemon import Daemon, DaemonOptions
from ferry.agent.identity import PINNED_CA, AgentState, IdentityError
from ferry.agent.registration import RegistrationFailed, register
from ferry.cli import exitcodes
from ferry.cli.config import DEFAULT_RESOURCE_GROUP, DEFAULT_SUBSCRIPTION
from ferry.control.app import create_app
from ferry.control.settings import Settings
from ferry.control.tls import ensure_server_tls, server_names
from ferry.private_files import write_private

log = logging.getLogger("ferry.up")

MOVER = "local-mover"
AGENT = "local-agent"
LOCATION = "local"
API_VERSION = "2025-12-01"
UP_FILE = "up.json"
AGENT_DIR = "agent"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10  # seconds each part of ferry up gets to stop after Ctrl-C


class UpError(Exception):
    """``ferry up`` cannot start; the message says why."""


@dataclass(frozen=True)
class UpInfo:
    url: str
    token_file: Path
    ca_file: Path  # the CA of the server's certificate: clients pass it as --ca-file
    subscription_id: str
    resource_group: str
    storage_mover: str
    agent: str

    def wire(self) -> dict[str, str]:
        return {
            "url": self.url,
            "tokenFile": str(self.token_file),
            "caFile": str(self.ca_file),
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "storageMover": self.storage_mover,
            "agent": self.agent,
        }


class Admin:
    """Requests with the admin token to the server ``ferry up`` started."""

    def __init__(self, url: str, token: str, ca_file: Path) -> None:
        self.url = url
        self.ca_file = ca_file
        self._headers = {"Authorization": f"Bearer {token}"}

    def __repr__(self) -> str:  # never show the token
        return f"Admin({self.url!r})"

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(
            method,
            self.url + path,
            json=body,
            headers=self._headers,
            params={"api-version": API_VERSION},
            timeout=30,
            verify=str(self.ca_file),
        )

    def check(self, response: requests.Response, what: str) -> Any:
        if response.status_code >= 400:
            raise UpError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None


def _mover_path() -> str:
    return (
        f"/subscriptions/{DEFAULT_SUBSCRIPTION}/resourceGroups/{DEFAULT_RESOURCE_GROUP}"
        f"/providers/Microsoft.StorageMover/storageMovers/{MOVER}"
    )


def ensure_mover(admin: Admin) -> None:
    if admin.request("GET", _mover_path()).status_code == 200:
        return
    body = {"location": LOCATION, "properties": {"description": "Created by 'ferry up'."}}
    admin.check(admin.request("PUT", _mover_path(), body), f"creating storage mover {MOVER}")


def _registered(agent_dir: Path) -> bool:
    """Whether ``agent_dir`` holds an approved agent the server still accepts."""
    try:
        state = AgentState.load(agent_dir)
        if not state.approved:
            return False
        daemon = Daemon(agent_dir, DaemonOptions())
        daemon.client.token()
    except (IdentityError, AgentRevoked):
        return False
    return True


def ensure_agent(admin: Admin, agent_dir: Path) -> None:
    """Register the local agent and approve it with the admin token, unless it already is."""
    if _registered(agent_dir):
        return
    # a key that was lost or revoked: the agent resource (if any) is of no use any more
    stale = admin.request("DELETE", f"{_mover_path()}/agents/{AGENT}")
    admin.check(stale, f"removing the stale agent {AGENT}")

    def approve(code: str, _expires: str) -> None:
        answer = admin.request("POST", "/ferry/v1/agentRegistrations/approve", {"userCode": code})
        admin.check(answer, f"approving agent {AGENT}")

    register(
        server=admin.url,
        subscription=DEFAULT_SUBSCRIPTION,
        resource_group=DEFAULT_RESOURCE_GROUP,
        mover=MOVER,
        agent_name=AGENT,
        data_dir=agent_dir,
        show_code=approve,
        poll_interval=0.1,
        ca_file=admin.ca_file,
    )


def _point_at(agent_dir: Path, url: str, ca_file: Path) -> None:
    """A registration from an earlier ``ferry up`` on another port, or before it spoke
    HTTPS: talk to this server, trusting its CA (the CA of this same data directory)."""
    try:
        state = AgentState.load(agent_dir)
    except IdentityError:
        return
    pinned = agent_dir / PINNED_CA
    ca = ca_file.read_bytes()
    if not pinned.exists() or pinned.read_bytes() != ca:
        write_private(pinned, ca)
    if not state.pinned_ca or state.server != url:
        state.pinned_ca = True
        state.server = url
        state.save(agent_dir)


class Up:
    """The server and the agent of ``ferry up``; ``start()``, then ``stop()``."""

    def __init__(self, data_dir: Path, host: str, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.settings = Settings(data_dir=self.data_dir)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise UpError(f"cannot listen on {host}:{port}: {exc}") from None
        bound = self.sock.getsockname()[1]
        local = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)  # noqa: S104
        local = f"[{local}]" if ":" in local and not local.startswith("[") else local
        self.url = f"https://{local}:{bound}"
        self.tls = ensure_server_tls(self.data_dir, server_names(host))
        assert self.tls.ca is not None
        self.ca_file: Path = self.tls.ca
        config = uvicorn.Config(
            create_app(self.settings),
            log_level="warning",
            lifespan="on",
            ssl_certfile=str(self.tls.cert),
            ssl_keyfile=str(self.tls.key),
            # Keep-alive connections of clients that went quiet must not hold up Ctrl-C.
            timeout_graceful_shutdown=STOP_TIMEOUT,
        )
        self.server = uvicorn.Server(config)
        # Daemon threads: if one of them is stuck, the process still ends after stop().
        self.server_thread = threading.Thread(
            target=self.server.run,
            kwargs={"sockets": [self.sock]},
            name="ferry-server",
            daemon=True,
        )
        self.daemon: Daemon | None = None
        self.agent_thread: threading.Thread | None = None
        self.agent_error: str | None = None

    def start(self) -> UpInfo:
        self.server_thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self.server.started:
            if not self.server_thread.is_alive() or waited > START_TIMEOUT:
                raise UpError(f"the server did not start; see the messages above ({self.url})")
            deadline.wait(0.05)
            waited += 0.05
        token_file = self.settings.admin_token_path.resolve()
        admin = Admin(self.url, token_file.read_text().strip(), self.ca_file)
        ensure_mover(admin)
        agent_dir = self.data_dir / AGENT_DIR
        _point_at(agent_dir, self.url, self.ca_file)
        ensure_agent(admin, agent_dir)
        self._start_agent(agent_dir)
        info = UpInfo(
            url=self.url,
            token_file=token_file,
            ca_file=self.ca_file,
            subscription_id=DEFAULT_SUBSCRIPTION,
            resource_group=DEFAULT_RESOURCE_GROUP,
            storage_mover=MOVER,
            agent=AGENT,
        )
        write_private(self.data_dir / UP_FILE, json.dumps(info.wire(), indent=2).encode())
        return info

    def _start_agent(self, agent_dir: Path) -> None:
        self.daemon = Daemon(agent_dir, DaemonOptions(heartbeat_interval=10.0, poll_interval=1.0))
        daemon = self.daemon

        def run() -> None:
            try:
                daemon.run()
            except (AgentRefused, Unreachable) as exc:  # shown; the server stays up
                self.agent_error = str(exc)
                log.error("the local agent stopped: %s", exc)
            except Exception as exc:
                self.agent_error = str(exc)
                log.exception("the local agent failed")

        self.agent_thread = threading.Thread(target=run, name="ferry-local-agent", daemon=True)
        self.agent_thread.start()

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop.set()
        if self.agent_thread is not None:
            self.agent_thread.join(STOP_TIMEOUT)
            if self.agent_thread.is_alive():
                log.warning("the local agent did not stop within %d s; leaving it", STOP_TIMEOUT)
        self.server.should_exit = True
        if self.server_thread.is_alive():
            self.server_thread.join(2 * STOP_TIMEOUT)
            if self.server_thread.is_alive():
                log.warning("the server did not stop within %d s; leaving it", 2 * STOP_TIMEOUT)
        self.sock.close()


def run_up(data_dir: Path, host: str, port: int, say: Callable[..., None]) -> int:
    """Start, print where things are, wait for Ctrl-C or SIGTERM, stop. The exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("azure", "alembic", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()
    status = exitcodes.OK
    # SIGINT too, explicitly: a process started in the background by a shell inherits
    # SIGINT ignored, and Python then raises no KeyboardInterrupt.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        up = Up(data_dir, host, port)
    except UpError as exc:
        say(f"ferry up: {exc}", err=True)
        return exitcodes.USAGE
    try:
        info = up.start()
        say(f"Ferry is up: {info.url}")
        say(f"  admin token:   {info.token_file} (send it as 'Authorization: Bearer ...')")
        say(f"  CA:            {info.ca_file} (SHA-256 {up.tls.fingerprint()}; clients trust it)")
        say(
            f"  storage mover: {info.storage_mover} (subscription {info.subscription_id}, "
            f"resource group {info.resource_group})"
        )
        say(f"  agent:         {info.agent} (online, runs jobs that name it)")
        say(f"  for scripts:   {up.data_dir / UP_FILE}")
        say("Press Ctrl-C to stop.")
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except (UpError, RegistrationFailed, ProtocolError, Unreachable) as exc:
        say(f"ferry up: {exc}", err=True)
        status = exitcodes.FAILED
    finally:
        say("Stopping...")
        up.stop()
    say("Stopped.")
    return status
