"""The bandwidth token bucket, ``ferry.engine.throttle``.

Timing assertions are one-sided and generous: a loaded machine can only make things slower,
so only lower bounds are tight; upper bounds are several seconds and only catch hangs.
"""

from __future__ import annotations

import threading
import time

from ferry.engine.throttle import TokenBucket

MiB = 1024 * 1024
CHUNK = 64 * 1024
HANG = 10.0  # seconds; anything slower than this is a hang, not a slow machine


class Consumer(threading.Thread):
    """Calls ``consume`` once in the background and records the outcome."""

    def __init__(
        self, bucket: TokenBucket, amount: int, cancel: threading.Event | None = None
    ) -> None:
        super().__init__(daemon=True)
        self.bucket = bucket
        self.amount = amount
        self.cancel = cancel
        self.result: bool | None = None
        self.done = threading.Event()

    def run(self) -> None:
        self.result = self.bucket.consume(self.amount, self.cancel)
        self.done.set()


def consume_all(bucket: TokenBucket, total: int, chunk: int = CHUNK) -> float:
    start = time.monotonic()
    for _ in range(total // chunk):
        assert bucket.consume(chunk) is True
    return time.monotonic() - start


def test_unlimited_returns_immediately() -> None:
    bucket = TokenBucket()
    assert bucket.rate is None
    assert bucket.limited is False
    start = time.monotonic()
    for _ in range(10_000):
        assert bucket.consume(1 << 30) is True
    assert time.monotonic() - start < HANG


def test_rate_and_limited_follow_set_rate() -> None:
    bucket = TokenBucket(1000.0)
    assert (bucket.rate, bucket.limited) == (1000.0, True)
    bucket.set_rate(0)
    assert (bucket.rate, bucket.limited) == (0, True)
    bucket.set_rate(None)
    assert (bucket.rate, bucket.limited) == (None, False)


def test_limited_rate_paces_consumption() -> None:
    rate = 4 * MiB
    total = 2 * MiB
    start = time.monotonic()
    bucket = TokenBucket(rate)  # tokens only accrue from here, so no head start is possible
    for _ in range(total // CHUNK):
        assert bucket.consume(CHUNK) is True
    elapsed = time.monotonic() - start
    ideal = total / rate  # 0.5 s
    assert elapsed >= 0.7 * ideal
    assert elapsed < HANG


def test_burst_is_bounded_after_idling() -> None:
    """An idle bucket saves at most ``burst_seconds`` of tokens, not the whole idle time."""
    rate = 4 * MiB
    bucket = TokenBucket(rate, burst_seconds=0.05)
    time.sleep(0.3)  # would be 1.2 MiB of tokens without the cap
    # At most 0.05 s worth (0.2 MiB) is free; the rest of 1 MiB needs at least 0.2 s.
    elapsed = consume_all(bucket, MiB)
    assert elapsed >= 0.7 * ((MiB - 0.05 * rate - CHUNK) / rate)
    assert elapsed < HANG


def test_large_chunk_goes_through_and_is_repaid() -> None:
    """A chunk larger than the burst is not refused; the next caller waits for the debt."""
    rate = 1 * MiB
    start = time.monotonic()
    bucket = TokenBucket(rate, burst_seconds=0.01)
    assert bucket.consume(MiB // 2) is True
    assert bucket.consume(1) is True
    elapsed = time.monotonic() - start
    assert elapsed >= 0.7 * 0.5  # the first half MiB had to be paid back first
    assert elapsed < HANG


def test_rate_zero_pauses_until_raised() -> None:
    bucket = TokenBucket(0)
    consumer = Consumer(bucket, 1000)
    consumer.start()
    assert not consumer.done.wait(0.3)  # paused: it must not get through on its own
    assert consumer.result is None
    bucket.set_rate(10 * MiB)
    assert consumer.done.wait(HANG)
    assert consumer.result is True
    consumer.join(HANG)


def test_pause_then_unlimited() -> None:
    bucket = TokenBucket(0)
    consumer = Consumer(bucket, 1000)
    consumer.start()
    assert not consumer.done.wait(0.3)
    bucket.set_rate(None)
    assert consumer.done.wait(HANG)
    assert consumer.result is True


def test_pausing_a_running_bucket() -> None:
    bucket = TokenBucket(10 * MiB)
    assert bucket.consume(CHUNK) is True
    bucket.set_rate(0)
    consumer = Consumer(bucket, CHUNK)
    consumer.start()
    assert not consumer.done.wait(0.3)
    bucket.set_rate(10 * MiB)
    assert consumer.done.wait(HANG)
    assert consumer.result is True


def test_cancel_set_before_returns_false() -> None:
    cancel = threading.Event()
    cancel.set()
    # In threads, so that a bucket ignoring ``cancel`` fails the test instead of hanging it.
    consumers = [
        Consumer(TokenBucket(0), 1, cancel),
        Consumer(TokenBucket(1.0), 1 << 30, cancel),
        Consumer(TokenBucket(None), 1, cancel),
    ]
    for consumer in consumers:
        consumer.start()
    for consumer in consumers:
        assert consumer.done.wait(HANG)
        assert consumer.result is False


def test_cancel_unset_does_not_block_an_unlimited_bucket() -> None:
    assert TokenBucket(None).consume(1, threading.Event()) is True


def test_cancel_while_paused_returns_false() -> None:
    bucket = TokenBucket(0)
    cancel = threading.Event()
    consumer = Consumer(bucket, 1000, cancel)
    consumer.start()
    assert not consumer.done.wait(0.3)
    cancel.set()
    assert consumer.done.wait(HANG)
    assert consumer.result is False
    consumer.join(HANG)


def test_cancel_while_repaying_debt_returns_false() -> None:
    bucket = TokenBucket(1024.0, burst_seconds=0.01)  # 1 KiB/s
    assert bucket.consume(1) is True
    assert bucket.consume(1 << 20) is True  # a MiB of debt: about 17 minutes of waiting
    cancel = threading.Event()
    consumer = Consumer(bucket, 1, cancel)
    consumer.start()
    assert not consumer.done.wait(0.3)
    cancel.set()
    assert consumer.done.wait(HANG)
    assert consumer.result is False


def test_raising_the_rate_shortens_a_wait() -> None:
    bucket = TokenBucket(1024.0, burst_seconds=0.01)
    assert bucket.consume(1) is True
    assert bucket.consume(10 * 1024) is True  # 10 s of debt at 1 KiB/s
    consumer = Consumer(bucket, 1)
    consumer.start()
    assert not consumer.done.wait(0.3)
    bucket.set_rate(None)
    assert consumer.done.wait(HANG)
    assert consumer.result is True


def test_several_threads_share_the_rate() -> None:
    rate = 4 * MiB
    total_per_thread = MiB // 2
    start = time.monotonic()
    bucket = TokenBucket(rate)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(total_per_thread // CHUNK):
                assert bucket.consume(CHUNK)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG)
    elapsed = time.monotonic() - start
    assert errors == []
    assert not any(t.is_alive() for t in threads)
    ideal = 4 * total_per_thread / rate  # 0.5 s for all four together
    assert elapsed >= 0.7 * ideal
