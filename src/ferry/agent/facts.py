"""What an agent reports about its machine in heartbeats (Storage Mover's agent telemetry)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from ferry import __version__

_STARTED = time.monotonic()


def local_ip(server_host: str) -> str:
    """The address this machine reaches the server from (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((server_host or "192.0.2.1", 9))
            address: str = probe.getsockname()[0]
            return address
    except OSError:
        return "127.0.0.1"


def memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError):
        return 0


def time_zone() -> str:
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        return name
    try:
        link = os.readlink("/etc/localtime")
        if "zoneinfo/" in link:
            return link.split("zoneinfo/", 1)[1]
    except OSError:
        pass
    return time.tzname[0] or "UTC"


def facts(server_host: str) -> dict[str, Any]:
    return {
        "agentVersion": __version__,
        "localIPAddress": local_ip(server_host),
        "numberOfCores": os.cpu_count() or 1,
        "memoryInMB": memory_mb(),
        "uptimeInSeconds": int(time.monotonic() - _STARTED),
        "timeZone": time_zone(),
    }
