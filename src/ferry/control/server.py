"""``ferry server``: the control plane on uvicorn, over HTTPS unless told otherwise."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import uvicorn

from ferry.control.app import create_app
from ferry.control.settings import Settings
from ferry.control.tls import TlsError, TlsFiles, ensure_server_tls, own_certificate, server_names

log = logging.getLogger(__name__)
GRACEFUL_SHUTDOWN_SECONDS = 10


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_tls(
    data_dir: Path,
    host: str,
    *,
    cert: Path | None = None,
    key: Path | None = None,
    names: tuple[str, ...] = (),
    insecure_http: bool = False,
) -> TlsFiles | None:
    """The TLS files to serve with: the operator's (``cert``/``key``), or the data
    directory's own CA and a certificate for ``host`` and ``names``; None for plain http,
    which only a loopback address may serve (tokens would cross the network in clear)."""
    if insecure_http:
        if cert is not None or key is not None:
            raise TlsError("--insecure-http serves plain http: leave out --tls-cert/--tls-key")
        if not is_loopback(host):
            raise TlsError(
                f"plain http is allowed on a loopback address only, not on {host}: tokens "
                "would cross the network in clear. Leave out --insecure-http to serve HTTPS."
            )
        return None
    if (cert is None) != (key is None):
        raise TlsError("give --tls-cert and --tls-key together")
    if cert is not None and key is not None:
        return own_certificate(cert, key)
    return ensure_server_tls(data_dir, server_names(host, names))


def serve(settings: Settings, host: str, port: int, tls: TlsFiles | None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    if tls is None:
        log.warning(
            "serving plain http on %s: for this machine only; clients and agents elsewhere "
            "need HTTPS",
            host,
        )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        # a client that keeps its connection open must not hold a stopping server for long
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
    )
