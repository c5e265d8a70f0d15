"""Sizes, rates, ages and byte counts as users write them, ``ferry.cli.sizes``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ferry.cli.sizes import format_bytes, parse_age_ns, parse_rate, parse_size

KiB = 1024
MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
PiB = 1024**5
SEC = 1_000_000_000
MINUTE = 60 * SEC
HOUR = 60 * MINUTE
DAY = 24 * HOUR

NOW_DT = datetime(2024, 2, 1, 0, 0, 0, tzinfo=UTC)
NOW = int(NOW_DT.timestamp()) * SEC

PROPERTY = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1", 1),
        ("4096", 4096),
        ("4K", 4 * KiB),
        ("4k", 4 * KiB),
        ("4KB", 4 * KiB),
        ("4kb", 4 * KiB),
        ("4KiB", 4 * KiB),
        ("4kib", 4 * KiB),
        ("64K", 64 * KiB),
        ("100M", 100 * MiB),
        ("1.5MiB", 3 * MiB // 2),
        ("1.5M", 3 * MiB // 2),
        ("2G", 2 * GiB),
        ("2GiB", 2 * GiB),
        ("3T", 3 * TiB),
        ("1P", PiB),
        ("0.5K", 512),
        ("0.25G", GiB // 4),
        ("10B", 10),
        ("10b", 10),
        (" 64K ", 64 * KiB),
        ("64 K", 64 * KiB),
        ("\t1M\n", MiB),
        ("007", 7),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    result = parse_size(text)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "K",
        "abc",
        "-1",
        "-1K",
        "1.5.5M",
        ".5M",
        "5.M",
        "1e3",
        "1X",
        "1KK",
        "1KiBs",
        "1 0",
        "1,5M",
        "10 MB/s",
        "0x10",
    ],
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a size") as info:
        parse_size(text)
    assert repr(text) in str(info.value)
    assert "use e.g." in str(info.value)


@PROPERTY
@given(
    st.integers(min_value=0, max_value=2**40),
    st.sampled_from([("", 1), ("K", KiB), ("M", MiB), ("G", GiB), ("T", TiB)]),
    st.sampled_from(["", "B", "iB"]),
)
def test_parse_size_integer_multiples(n: int, unit: tuple[str, int], tail: str) -> None:
    suffix, factor = unit
    assume(suffix or tail != "iB")
    assume(n * factor < 2**53)  # exactly representable as a float
    assert parse_size(f"{n}{suffix}{tail}") == n * factor


@pytest.mark.parametrize(
    "text",
    ["off", "OFF", "Off", " off ", "0", " 0 ", ""],
)
def test_parse_rate_off(text: str) -> None:
    assert parse_rate(text) is None


@pytest.mark.parametrize(
    "text",
    ["0K", "0M", "0.0", "0B", "00"],
)
def test_parse_rate_zero_with_a_unit_is_off_too(text: str) -> None:
    """Any way of writing zero means "no limit", like plain ``0``; a rate of 0.0 would make the
    token bucket pause the run forever."""
    assert parse_rate(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1.0),
        ("10M", 10.0 * MiB),
        ("1.5M", 1.5 * MiB),
        ("512K", 512.0 * KiB),
        ("1G", float(GiB)),
    ],
)
def test_parse_rate(text: str, expected: float) -> None:
    rate = parse_rate(text)
    assert rate == expected
    assert isinstance(rate, float)


def test_parse_rate_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_rate("fast")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", 90 * SEC),
        ("0s", 0),
        ("500ms", 500_000_000),
        ("15m", 15 * MINUTE),
        ("12h", 12 * HOUR),
        ("7d", 7 * DAY),
        ("2w", 14 * DAY),
        ("1y", 365 * DAY),
        ("2h30m", 2 * HOUR + 30 * MINUTE),
        ("30m2h", 2 * HOUR + 30 * MINUTE),
        ("1d12h", 36 * HOUR),
        ("1h1m1s", HOUR + MINUTE + SEC),
        ("1m500ms", MINUTE + 500_000_000),
        ("1.5h", 90 * MINUTE),
        ("0.5d", 12 * HOUR),
        ("2H", 2 * HOUR),
        ("7D", 7 * DAY),
        (" 7d ", 7 * DAY),
    ],
)
def test_parse_age_durations(text: str, expected: int) -> None:
    assert parse_age_ns(text, NOW) == expected


@PROPERTY
@given(
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=0, max_value=1000),
)
def test_parse_age_compound_durations(d: int, h: int, m: int, s: int) -> None:
    expected = (((d * 24 + h) * 60 + m) * 60 + s) * SEC
    assert parse_age_ns(f"{d}d{h}h{m}m{s}s", NOW) == expected
    assert parse_age_ns(f"{s}s{m}m{h}h{d}d", NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31", DAY),
        ("2024-01-01", 31 * DAY),
        ("2024-01-31T12:00:00", 12 * HOUR),
        ("2024-01-31 12:00:00", 12 * HOUR),
        ("2024-01-31T12:00:00Z", 12 * HOUR),
        ("2024-01-31T12:00:00+00:00", 12 * HOUR),
        ("2024-01-31T12:00:00+01:00", 13 * HOUR),
        ("2024-01-31T12:00:00-01:00", 11 * HOUR),
        ("2024-01-31T23:59:30", 30 * SEC),
        ("2024-02-01", 0),
        (" 2024-01-31 ", DAY),
        ("2024-02-02", 0),
        ("2030-01-01T00:00:00+00:00", 0),
    ],
)
def test_parse_age_dates(text: str, expected: int) -> None:
    assert parse_age_ns(text, NOW) == expected


def test_parse_age_date_is_relative_to_now() -> None:
    assert parse_age_ns("2024-01-31", NOW + HOUR) == DAY + HOUR
    assert parse_age_ns("2024-01-31", NOW - HOUR) == DAY - HOUR
    assert parse_age_ns("7d", NOW + HOUR) == 7 * DAY  # a duration is not


@pytest.mark.parametrize(
    "text",
    ["", " ", "7", "abc", "7 days", "2h 30m", "-5m", "5x", "h", "2024-13-01", "1.5.5h", "7dd"],
)
def test_parse_age_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not an age") as info:
        parse_age_ns(text, NOW)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (10 * KiB, "10.0 KiB"),
        (MiB, "1.0 MiB"),
        (5 * MiB // 2, "2.5 MiB"),
        (GiB, "1.0 GiB"),
        (5 * GiB, "5.0 GiB"),
        (TiB, "1.0 TiB"),
        (PiB, "1024.0 TiB"),
        (-2048, "-2.0 KiB"),
        (-5, "-5 B"),
        (1536.0, "1.5 KiB"),
        (0.0, "0 B"),
    ],
)
def test_format_bytes(size: float, expected: str) -> None:
    assert format_bytes(size) == expected


@PROPERTY
@given(
    st.integers(min_value=1, max_value=1023),
    st.sampled_from(["K", "M", "G", "T"]),
)
def test_format_bytes_round_trips_parse_size(n: int, unit: str) -> None:
    assert format_bytes(parse_size(f"{n}{unit}")) == f"{n}.0 {unit}iB"


@PROPERTY
@given(st.integers(min_value=0, max_value=1023))
def test_format_bytes_small_values_are_exact(n: int) -> None:
    assert format_bytes(n) == f"{n} B"
