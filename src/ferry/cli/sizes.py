"""Parsing sizes, rates and ages the way rclone and AzCopy users write them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_SIZE = re.compile(r"^\s*(\d+)(?:\.(\d+))?\s*(?:([kmgtp])(?:ib|i|b)?|b)?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def parse_size(text: str) -> int:
    """``4096``, ``4K``, ``1.5MiB``, ``2G``: suffixes are binary (K = 1024 bytes)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (use e.g. 512, 64K, 100M, 1.5G)")
    whole, fraction, unit = match.groups()
    scale: int = 1024 ** _POWERS[(unit or "").lower()]
    # Integer arithmetic keeps sizes above 2**53 exact.
    size: int = int(whole) * scale
    if fraction:
        size += int(fraction) * scale // 10 ** len(fraction)
    return size


def parse_rate(text: str) -> float | None:
    """A bandwidth limit in bytes per second (``10M`` = 10 MiB/s); ``off`` or ``0`` for none."""
    if text.strip().lower() in ("off", ""):
        return None
    rate = parse_size(text)
    return float(rate) if rate else None


def parse_age_ns(text: str, now_ns: int) -> int:
    """An age as a duration (``90s``, ``15m``, ``2h30m``, ``7d``, ``2w``, ``1y``) or as the
    date-time it reaches back to (``2024-01-31`` or ISO 8601); returned in nanoseconds."""
    stripped = text.strip().lower()
    if stripped and _DURATION.sub("", stripped) == "":
        seconds = sum(float(n) * _SECONDS[u] for n, u in _DURATION.findall(stripped))
        return int(seconds * 1e9)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an age: {text!r} (use e.g. 30m, 12h, 7d or 2024-01-31)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, now_ns - int(moment.timestamp() * 1e9))


def format_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        # Compare the rounded value, so that 1048575 bytes read "1.0 MiB", not "1024.0 KiB".
        if unit == "TiB" or (abs(size) < 1024 if unit == "B" else round(abs(size), 1) < 1024):
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
