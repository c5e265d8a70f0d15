"""A small HTTP client of the Ferry control plane: bearer token, ARM errors, paging by
nextLink, and polling of asynchronous deletes.

Built on the standard library's ``http.client``: a command makes a handful of requests, and
its start-up time is what people feel (httpx's import and CA-bundle loading cost about
0.3 s of CPU per command, more than the rest of the command). Imported only by the commands
that talk to a server.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ferry import __version__

API_VERSION = "2025-12-01"
# The storage-account registry is a Ferry resource in Microsoft.Storage's shape; it accepts
# any api-version, and gets the same one as the rest of the API.
STORAGE_API_VERSION = API_VERSION
TIMEOUT = 30.0  # seconds, per connect and per read
POLL_TIMEOUT = 300.0  # seconds an asynchronous operation may take
MAX_POLL_INTERVAL = 30.0
TERMINAL_STATES = frozenset({"Succeeded", "Failed", "Canceled"})


class ApiError(Exception):
    """The server refused a request; ``code`` is the ARM error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ConnectionFailed(Exception):
    """The server could not be reached, or did not answer like a Ferry server."""


def arm_prefix(subscription: str, resource_group: str, namespace: str) -> str:
    return (
        f"/subscriptions/{seg(subscription)}/resourceGroups/{seg(resource_group)}"
        f"/providers/{namespace}"
    )


def seg(value: str) -> str:
    """One path segment, escaped."""
    return quote(value, safe="")


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: Message
    body: bytes


class Client:
    def __init__(self, server: str, token: str, ca_file: str | None = None) -> None:
        """``ca_file``: the CA the server's certificate must come from (the ca.pem
        ``ferry server`` prints); None trusts the system's CAs."""
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {server}")
        self.server = server.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {token}",
            "User-Agent": f"ferry-cli/{__version__}",
            "Accept": "application/json",
        }
        self._tls: ssl.SSLContext | None = None
        self._ca_file = ca_file

    def __repr__(self) -> str:  # never show the token
        return f"Client({self.server!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    # ----------------------------------------------------------------------------------------

    def target(self, path: str) -> str:
        """The request target of ``path``: a path on this server, or a link the server gave
        (nextLink, polling URL), which is followed on this server by its path and query: the
        token never goes to another origin, and a link naming a proxy's inside address still
        works."""
        if not path.startswith(("http://", "https://")):
            return self._prefix + path
        link = urlsplit(path)
        return link.path + (f"?{link.query}" if link.query else "")

    def connection(self) -> http.client.HTTPConnection:
        if self._scheme == "http":
            return http.client.HTTPConnection(self._host, self._port, timeout=TIMEOUT)
        if self._tls is None:
            try:
                self._tls = ssl.create_default_context(cafile=self._ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConnectionFailed(f"cannot use the CA file {self._ca_file}: {exc}") from None
        return http.client.HTTPSConnection(
            self._host, self._port, timeout=TIMEOUT, context=self._tls
        )

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        api_version: str = API_VERSION,
    ) -> Response:
        """One request; an error answer raises ApiError. Links the server gave are used
        with their own query; other paths get ``api-version`` and ``params``."""
        target = self.target(path)
        if not path.startswith(("http://", "https://")):
            target += "?" + urlencode({"api-version": api_version, **(params or {})})
        headers = dict(self._headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = self.connection()
        try:
            connection.request(method, target, body=payload, headers=headers)
            answer = connection.getresponse()
            response = Response(answer.status, answer.reason, answer.headers, answer.read())
        except TimeoutError as exc:
            raise ConnectionFailed(
                f"the Ferry server at {self.server} did not answer in time"
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise ConnectionFailed(
                f"the Ferry server at {self.server} could not be verified ({exc.verify_message}); "
                "give the CA it printed with --ca-file (or 'ferry config set ca_file FILE')"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise ConnectionFailed(
                f"cannot reach the Ferry server at {self.server}: {reason}"
            ) from exc
        finally:
            connection.close()
        if response.status >= 400:
            raise error_of(response, self.server)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request whose answer is JSON (None when the body is empty)."""
        return decode(self.send(method, path, **kwargs), self.server)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PUT", path, body=body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PATCH", path, body=body, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.call("POST", path, body=body, **kwargs)

    def list(self, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        return list(self.iterate(path, **kwargs))

    def iterate(self, path: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following nextLink from page to page."""
        next_path: str | None = path
        seen: set[str] = set()
        while next_path:
            page = self.get(next_path, **kwargs)
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                raise ConnectionFailed(f"{self.server} answered a list without 'value'")
            yield from page["value"]
            link = page.get("nextLink")
            if link and link in seen:
                raise ConnectionFailed(f"{self.server} gave the same nextLink twice")
            next_path = link or None
            if link:
                seen.add(link)

    def delete(self, path: str, **kwargs: Any) -> bool:
        """Delete and wait for an asynchronous delete to finish; False if nothing was there."""
        response = self.send("DELETE", path, **kwargs)
        if response.status == 204:
            return False
        if response.status == 202:
            self.wait(response)
        return True

    def wait(self, accepted: Response) -> None:
        """Poll Azure-AsyncOperation (or else Location) until the operation is over."""
        status_url = accepted.headers.get("Azure-AsyncOperation")
        url = status_url or accepted.headers.get("Location")
        if not url:
            return
        deadline = time.monotonic() + POLL_TIMEOUT
        delay = retry_after(accepted.headers)
        while True:
            if time.monotonic() + delay > deadline:
                raise ConnectionFailed(f"the operation at {url} did not finish in time")
            time.sleep(delay)
            response = self.send("GET", url)
            delay = retry_after(response.headers, default=delay)
            if status_url:
                state = decode(response, self.server) or {}
                status = str(state.get("status", ""))
                if status in TERMINAL_STATES:
                    if status != "Succeeded":
                        error = state.get("error") or {}
                        raise ApiError(
                            response.status,
                            str(error.get("code") or f"Operation{status}"),
                            str(error.get("message") or f"The operation ended {status}."),
                        )
                    return
            elif response.status != 202:
                return


def retry_after(headers: Message, default: float = 1.0) -> float:
    """The server's polling hint, in seconds: x-ms-retry-after-ms, else Retry-After."""
    for name, scale in (("x-ms-retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if seconds > 0:
            return min(seconds, MAX_POLL_INTERVAL)
    return default


def decode(response: Response, server: str) -> Any:
    if not response.body:
        return None
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise ConnectionFailed(
            f"{server} answered {response.status} with a body that is not JSON "
            "(is it a Ferry server?)"
        ) from exc


def error_of(response: Response, server: str) -> Exception:
    """The ARM envelope ``{"error": {"code", "message"}}`` as an ApiError."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("code"):
        message = " ".join(str(error.get("message", "")).split())
        return ApiError(response.status, str(error["code"]), message)
    return ConnectionFailed(
        f"{server} answered HTTP {response.status} {response.reason} "
        "without an ARM error (is it a Ferry server?)"
    )
