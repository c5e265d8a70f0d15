"""Addresses of the ``smb`` backend: ``smb://USER@HOST[:PORT]/SHARE/PATH``.

USER may carry a domain as ``DOMAIN;user`` or ``DOMAIN%5Cuser``; the password comes from
``FERRY_SMB_PASSWORD``, never from the address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from ferry.storage.errors import InvalidAddress

PASSWORD_ENV = "FERRY_SMB_PASSWORD"  # noqa: S105 - the variable's name, not a password
DEFAULT_PORT = 445

_FORBIDDEN_IN_PATH = re.compile(r'[\\:*?"<>|\x00-\x1f]')


@dataclass(frozen=True, slots=True)
class SmbAddress:
    user: str  # as smbprotocol wants it: "user" or "DOMAIN\\user"
    host: str
    port: int
    share: str
    root: tuple[str, ...]
    url: str  # what the user typed, normalized; it never holds a password

    @property
    def unc(self) -> str:
        return "\\\\" + "\\".join((self.host, self.share, *self.root))


def parse_address(address: str) -> SmbAddress:
    """Parse ``smb://USER@HOST[:PORT]/SHARE/PATH`` (raises InvalidAddress)."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme.lower() != "smb":
        raise InvalidAddress(f"not an smb:// address: {address!r}")
    netloc, _, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if ":" in userinfo:
        raise InvalidAddress(
            "the smb:// address carries a password: remove it from the address and set "
            f"{PASSWORD_ENV} instead (smb://USER@HOST/SHARE/PATH)"
        )
    shown = f"smb://{userinfo}@{hostport}" if at else f"smb://{hostport}"
    user = unquote(userinfo)
    if not at or not user:
        raise InvalidAddress(
            f"the smb:// address names no user: write smb://USER@HOST/SHARE/PATH "
            f"(or DOMAIN;USER@HOST) and set {PASSWORD_ENV}, in {shown!r}"
        )
    domain, semicolon, name = user.partition(";")
    if semicolon:
        user = f"{domain}\\{name}"
    if not user.replace("\\", "").strip() or user.startswith("\\") or user.endswith("\\"):
        raise InvalidAddress(f"not a usable SMB user name: {user!r}")
    host, port = _split_host(hostport, shown)
    raw_segments = [part for part in path.split("/") if part]
    try:
        segments = [unquote(part, errors="strict") for part in raw_segments]
    except UnicodeDecodeError:
        raise InvalidAddress(f"the path of {shown!r} is not UTF-8 once decoded") from None
    if not segments:
        raise InvalidAddress(
            f"the smb:// address names no share: smb://USER@HOST/SHARE/PATH, not {shown!r}"
        )
    for segment in segments:
        if segment in (".", "..") or _FORBIDDEN_IN_PATH.search(segment):
            raise InvalidAddress(f"not a usable SMB path component {segment!r} in {shown}/{path}")
    share, *root = segments
    url = f"{shown}/{'/'.join(raw_segments)}"
    return SmbAddress(user, host, port, share, tuple(root), url)


def _split_host(hostport: str, shown: str) -> tuple[str, int]:
    port_text = ""
    if hostport.startswith("["):
        host, bracket, tail = hostport[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise InvalidAddress(f"not a usable host in {shown!r}")
        port_text = tail[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not host or any(c in host for c in "/\\ "):
        raise InvalidAddress(f"the smb:// address names no usable host: {shown!r}")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidAddress(f"not a usable port {port_text!r} in {shown!r}")
    return host, int(port_text)


__all__ = ["DEFAULT_PORT", "PASSWORD_ENV", "SmbAddress", "parse_address"]
