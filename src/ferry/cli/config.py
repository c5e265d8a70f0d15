"""Where the HTTP commands find the server, the API token and the default namespaces.

Each setting comes from the first of: its flag, its environment variable, the config file
(``$FERRY_CONFIG``, else ``$XDG_CONFIG_HOME/ferry/config.toml``, else
``~/.config/ferry/config.toml``), a built-in default. The token itself is never a flag: it is
read from a file (``--token-file``, ``FERRY_TOKEN_FILE``, ``token_file`` in the config) or, for
scripts that hold it in memory, from ``FERRY_TOKEN``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "https://127.0.0.1:8765"  # what ``ferry server`` listens on by default
# Subscription and resource group are plain namespaces on a Ferry server.
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "default"

# config key -> environment variable
KEYS = {
    "server": "FERRY_SERVER",
    "token_file": "FERRY_TOKEN_FILE",
    "ca_file": "FERRY_CA_FILE",
    "subscription": "FERRY_SUBSCRIPTION",
    "resource_group": "FERRY_RESOURCE_GROUP",
}
TOKEN_ENV = "FERRY_TOKEN"  # noqa: S105 - an environment variable name
CONFIG_ENV = "FERRY_CONFIG"


class ConfigError(Exception):
    """A setting is missing or unreadable: a usage error (exit 2)."""


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ferry" / "config.toml"


def read_file(path: Path | None = None) -> dict[str, str]:
    """The config file's known keys; an absent file is an empty config."""
    import tomllib

    path = path or config_path()
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc}") from exc
    return {key: str(value) for key, value in data.items() if key in KEYS}


def write_value(key: str, value: str | None, path: Path | None = None) -> Path:
    """Set (or, with None, remove) one key; the file is written whole, private (0600)."""
    if key not in KEYS:
        hint = " (store the token in a file and set token_file)" if "token" in key else ""
        raise ConfigError(f"unknown config key '{key}'; known: {', '.join(KEYS)}{hint}")
    path = path or config_path()
    values = read_file(path)
    if value is None:
        values.pop(key, None)
    else:
        values[key] = value
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # JSON string escapes are valid TOML basic-string escapes
    text = "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in values.items())
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)
    os.replace(temporary, path)
    return path


@dataclass(frozen=True)
class Settings:
    server: str
    token: str
    subscription: str
    resource_group: str
    ca_file: str | None = None  # None: the system's CAs

    def __repr__(self) -> str:  # never show the token
        return (
            f"Settings(server={self.server!r}, subscription={self.subscription!r}, "
            f"resource_group={self.resource_group!r})"
        )


def resolve(
    *,
    server: str | None = None,
    token_file: str | None = None,
    subscription: str | None = None,
    resource_group: str | None = None,
    ca_file: str | None = None,
) -> Settings:
    """Settings from flags (the arguments), then the environment, then the config file."""
    file = read_file()

    def pick(key: str, flag: str | None) -> str | None:
        return flag or os.environ.get(KEYS[key]) or file.get(key) or None

    return Settings(
        server=normalize_server(pick("server", server) or DEFAULT_SERVER),
        token=read_token(token_file, file),
        subscription=pick("subscription", subscription) or DEFAULT_SUBSCRIPTION,
        resource_group=pick("resource_group", resource_group) or DEFAULT_RESOURCE_GROUP,
        ca_file=pick("ca_file", ca_file),
    )


def normalize_server(url: str) -> str:
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise ConfigError(f"the server URL '{url}' is not valid: use http://HOST:PORT or https://…")
    return url


def read_token(flag: str | None, file: dict[str, str]) -> str:
    """The flag's file, else FERRY_TOKEN, else FERRY_TOKEN_FILE's file, else the config's."""
    path = flag
    if path is None:
        from_env = os.environ.get(TOKEN_ENV, "").strip()
        if from_env:
            return from_env
        path = os.environ.get(KEYS["token_file"]) or file.get("token_file")
    if not path:
        raise ConfigError(
            "no API token: pass --token-file FILE, or set FERRY_TOKEN_FILE (or FERRY_TOKEN), "
            "or run 'ferry config set token_file FILE' (the server writes its first Owner "
            "token to <data-dir>/admin.token)"
        )
    try:
        token = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the token file '{path}': {reason}") from exc
    if not token:
        raise ConfigError(f"the token file '{path}' is empty")
    return token
