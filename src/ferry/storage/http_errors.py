"""What the HTTP object stores (azureblob, s3) share in mapping their errors."""

from __future__ import annotations

import datetime
import email.utils


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None without
    one or when it cannot be read."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def reason(label: str, detail: str) -> str:
    """``label: detail`` for a message, or the label alone when the detail adds nothing."""
    return f"{label}{': ' + detail if detail and detail != label else ''}"
