"""The agent's client of the control plane's agent protocol (docs/agent-protocol.md), speaking
the messages of ferry.protocol. Every request names the protocol version; a server of another
version refuses the agent (ProtocolMismatch) before it takes or changes anything. Tokens come
from requests signed with the agent key and are renewed before they expire; a refused token is
renewed once, and a refused renewal means the agent was unregistered (AgentRevoked)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests

from ferry import __version__
from ferry.agent.identity import Identity
from ferry.protocol import (
    HEARTBEAT,
    LEASES,
    PROTOCOL_VERSION,
    TOKEN,
    VERSION_HEADER,
    VERSION_MISMATCH,
    Completion,
    CompletionAnswer,
    CopyLogAnswer,
    ErrorDetail,
    Heartbeat,
    HeartbeatAnswer,
    Lease,
    ProgressAnswer,
    ProgressReport,
    TokenAnswer,
    lease_route,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

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


class AgentRefused(Exception):
    """The server will not work with this agent as it is: the agent stops."""


class AgentRevoked(AgentRefused):
    """The server no longer knows this agent: it was unregistered."""


class ProtocolMismatch(AgentRefused):
    """The server speaks another version of the agent protocol: the agent cannot work with
    it until one of them is upgraded (the message says which version the server speaks)."""


class AgentClient:
    def __init__(
        self, server: str, identity: Identity | None = None, ca_file: Path | None = None
    ) -> None:
        """``ca_file``: the only CA the server's certificate may come from (the one pinned at
        registration); None trusts the system's CAs."""
        self.server = server.rstrip("/")
        self.host = urlsplit(self.server).hostname or ""
        self.identity = identity
        self.verify: str | bool = str(ca_file) if ca_file is not None else True
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
                verify=self.verify,
                headers={
                    "User-Agent": f"ferry-agent/{__version__}",
                    VERSION_HEADER: str(PROTOCOL_VERSION),
                    **(headers or {}),
                },
                timeout=TIMEOUT,
            )
        except requests.exceptions.SSLError as exc:
            raise Unreachable(
                f"the Ferry server at {self.server} could not be verified ({exc}); is this the "
                "server whose CA the agent was registered with (--ca-file)?"
            ) from None
        except requests.RequestException as exc:
            raise Unreachable(f"cannot reach the Ferry server at {self.server}: {exc}") from None
        if response.status_code >= 500:
            error = _error(response)
            raise ServerFailed(f"the Ferry server at {self.server} failed: {error}")
        if response.status_code >= 400:
            error = _error(response)
            if error.code == VERSION_MISMATCH:
                raise ProtocolMismatch(error.message)
            raise error
        return response

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """An unauthenticated request; its JSON answer (None for 204)."""
        response = self._send(method, path, body=body)
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
                response = self._send(method, path, body=body, headers=headers, data=data)
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
            try:
                signed = self.identity.sign("POST", TOKEN)
                answer = TokenAnswer.model_validate(
                    self._send("POST", TOKEN, headers=signed).json()
                )
            except ProtocolError as exc:
                if exc.status == 401:
                    raise AgentRevoked(exc.message) from None
                raise
            self._token = answer.token
            self._token_expires = time.monotonic() + float(answer.expires_in)
            return self._token

    # -- the protocol ----------------------------------------------------------------------

    def heartbeat(self, facts: dict[str, Any], error: ErrorDetail | None) -> HeartbeatAnswer:
        body = Heartbeat(facts=facts, error_details=error)
        return HeartbeatAnswer.model_validate(self.authed("POST", HEARTBEAT, body.wire()))

    def lease(self) -> Lease | None:
        """A unit to work on, or None when there is no work."""
        answer = self.authed("POST", LEASES)
        return None if answer is None else Lease.model_validate(answer)

    def progress(self, lease_id: str, report: ProgressReport) -> ProgressAnswer:
        """Report progress, which renews the lease."""
        answer = self.authed("POST", lease_route(lease_id, "progress"), report.wire())
        return ProgressAnswer.model_validate(answer)

    def ship_copy_log(self, lease_id: str, offset: int, chunk: bytes) -> int:
        """Append ``chunk`` at ``offset`` of the lease's copy log; the stored size."""
        path = f"{lease_route(lease_id, 'copyLog')}?offset={offset}"
        return CopyLogAnswer.model_validate(self.authed("POST", path, data=chunk)).size

    def complete(self, lease_id: str, completion: Completion) -> CompletionAnswer:
        """End the unit; the answer holds the run's status after it."""
        answer = self.authed("POST", lease_route(lease_id, "complete"), completion.wire())
        return CompletionAnswer.model_validate(answer)


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
