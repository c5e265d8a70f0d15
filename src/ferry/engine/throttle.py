"""A token bucket on bytes moved, changeable while a run is going."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """Paces callers to ``rate`` bytes per second with a burst of ``burst_seconds`` worth.
    ``rate=None`` means unlimited; ``rate=0`` pauses until the rate is raised again."""

    def __init__(self, rate: float | None = None, burst_seconds: float = 0.25) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._rate = rate
        self._burst_seconds = burst_seconds
        self._tokens = 0.0
        self._stamp = time.monotonic()

    @property
    def rate(self) -> float | None:
        return self._rate

    @property
    def limited(self) -> bool:
        return self._rate is not None

    def set_rate(self, rate: float | None) -> None:
        with self._lock:
            self._refill()
            self._rate = rate
            self._changed.notify_all()

    def _refill(self) -> None:
        now = time.monotonic()
        if self._rate:
            cap = max(self._rate * self._burst_seconds, 1.0)
            self._tokens = min(cap, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def consume(self, amount: int, cancel: threading.Event | None = None) -> bool:
        """Wait until ``amount`` bytes may move. Returns False if ``cancel`` was set first."""
        with self._lock:
            while True:
                if cancel is not None and cancel.is_set():
                    return False
                self._refill()
                if self._rate is None:
                    return True
                if self._rate > 0:
                    # Debt is allowed (a chunk larger than the burst still goes); the wait
                    # that follows repays it, which keeps the long-run rate exact.
                    if self._tokens > 0:
                        self._tokens -= amount
                        return True
                    wait = -self._tokens / self._rate + 0.001
                else:
                    wait = 0.5
                self._changed.wait(timeout=min(wait, 0.5))
