"""The agent's client of the control plane's agent protocol (ferry.control.routes
.agent_protocol). Tokens come from requests signed with the agent key and are renewed before
they expire; a refused token is renewed once, and a refused renewal means the agent was
unregistered (AgentRevoked)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from ferry import __version__
from ferry.agent.identity import Identity

log = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "/ferry/v1"
TIMEOUT = 30.0
RENEW_MARGIN = 60.0  # renew a token this many seconds before it expires


class ProtocolError(Exception):
    """The server refused a request; ``code`` is its error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Unreachable(Exception):
    """The server could not be reached (the agent retries)."""


class ServerFailed(Unreachable):
    """The server answered with a 5xx: it is restarting, overloaded or failed on this
    request. Like an unreachable server, the agent retries rather than giving up its work."""


class AgentRevoked(Exception):
    """The server no longer knows this agent: it was unregistered."""


@dataclass(frozen=True)
class Progress:
    cancel_requested: bool


class AgentClient:
    def __init__(self, server: str, identity: Identity | None = None) -> None:
        self.server = server.rstrip("/")
        self.host = urlsplit(self.server).hostname or ""
        self.identity = identity
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the token
        return f"AgentClient({self.server!r})"

    # -- transport -------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> requests.Response:
        try:
            response = requests.request(
                method,
                self.server + path,
                json=body,
                data=data,
                headers={"User-Agent": f"ferry-agent/{__version__}", **(headers or {})},
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise Unreachable(f"cannot reach the Ferry server at {self.server}: {exc}") from None
        if response.status_code >= 500:
            error = _error(response)
            raise ServerFailed(f"the Ferry server at {self.server} failed: {error}")
        if response.status_code >= 400:
            raise _error(response)
        return response

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """An unauthenticated request; its JSON answer (None for 204)."""
        response = self._send(method, PREFIX + path, body=body)
        return response.json() if response.status_code != 204 else None

    def authed(self, method: str, path: str, body: Any = None, data: bytes | None = None) -> Any:
        """A request with the agent token (a JSON ``body`` or raw ``data``); renews the
        token once if it is refused."""
        for attempt in (1, 2):
            token = self.token(force=attempt == 2)
            headers = {"Authorization": f"Bearer {token}"}
            if data is not None:
                headers["Content-Type"] = "application/octet-stream"
            try:
                response = self._send(method, PREFIX + path, body=body, headers=headers, data=data)
            except ProtocolError as exc:
                if exc.status == 401 and attempt == 1:
                    continue
                if exc.status == 401:
                    raise AgentRevoked(exc.message) from None
                raise
            return response.json() if response.status_code != 204 else None
        raise AssertionError("unreachable")

    def token(self, *, force: bool = False) -> str:
        with self._lock:
            if (
                not force
                and self._token is not None
                and time.monotonic() < self._token_expires - RENEW_MARGIN
            ):
                return self._token
            if self.identity is None:
                raise AgentRevoked("this client has no agent key")
            path = PREFIX + "/agent/token"
            try:
                answer = self._send("POST", path, headers=self.identity.sign("POST", path)).json()
            except ProtocolError as exc:
                if exc.status == 401:
                    raise AgentRevoked(exc.message) from None
                raise
            self._token = str(answer["token"])
            self._token_expires = time.monotonic() + float(answer["expiresIn"])
            return self._token

    # -- the protocol ----------------------------------------------------------------------

    def heartbeat(self, facts: dict[str, Any], error: dict[str, str] | None) -> dict[str, Any]:
        """The server's answer: agentStatus, agentResourceId, uploadLimitSchedule."""
        answer: dict[str, Any] = self.authed(
            "POST", "/agent/heartbeat", {"facts": facts, "errorDetails": error}
        )
        return answer

    def lease(self) -> dict[str, Any] | None:
        answer: dict[str, Any] | None = self.authed("POST", "/agent/leases")
        return answer

    def progress(
        self,
        lease_id: str,
        *,
        status: str | None,
        scan_status: str | None,
        counters: dict[str, int] | None,
    ) -> Progress:
        answer = self.authed(
            "POST",
            f"/agent/leases/{lease_id}/progress",
            {"status": status, "scanStatus": scan_status, "counters": counters},
        )
        return Progress(bool(answer["cancelRequested"]))

    def ship_copy_log(self, lease_id: str, offset: int, chunk: bytes) -> int:
        """Append ``chunk`` at ``offset`` of the lease's copy log; the stored size."""
        answer = self.authed(
            "POST", f"/agent/leases/{lease_id}/copyLog?offset={offset}", data=chunk
        )
        return int(answer["size"])

    def complete(
        self,
        lease_id: str,
        *,
        status: str,
        scan_status: str | None,
        counters: dict[str, int] | None,
        error: dict[str, str] | None,
    ) -> str:
        answer = self.authed(
            "POST",
            f"/agent/leases/{lease_id}/complete",
            {"status": status, "scanStatus": scan_status, "counters": counters, "error": error},
        )
        return str(answer["status"])


def retrying(call: Callable[[], T], *, within: float, what: str) -> T:
    """``call()`` again after an Unreachable (a restarting or failing server), with pauses
    growing to 15 s, until it answers or ``within`` seconds have passed; then the last
    Unreachable. For the calls whose loss costs work, like completing a run."""
    deadline = time.monotonic() + within
    pause = 1.0
    while True:
        try:
            return call()
        except Unreachable as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            log.warning("%s failed, retrying in %.0f s: %s", what, min(pause, left), exc)
            time.sleep(min(pause, left))
            pause = min(pause * 2, 15.0)


def _error(response: requests.Response) -> ProtocolError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = str(error.get("code") or f"Http{response.status_code}")
    message = str(error.get("message") or response.reason or "refused")
    return ProtocolError(response.status_code, code, message)
