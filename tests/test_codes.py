"""The per-item status codes, ``ferry.engine.codes``, and their documentation."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ferry.engine.codes import Code, Result, StatusCode, markdown_table

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "status-codes.md"

RANGES = {
    Result.EXCLUDED: range(2001, 2021),
    Result.UNSUPPORTED: range(2021, 2041),
    Result.NO_TRANSFER_NEEDED: range(2041, 2061),
    Result.FAILED: range(2061, 2100),
    Result.TRANSFERRED: range(2100, 2120),
    Result.DELETED: range(2120, 2140),
}


def test_every_result_has_a_range() -> None:
    assert set(RANGES) == set(Result)


def test_ranges_do_not_overlap() -> None:
    numbers = [n for r in RANGES.values() for n in r]
    assert len(numbers) == len(set(numbers))


def test_no_aliases() -> None:
    # Two members with equal StatusCode values would silently become one member.
    assert len(Code.__members__) == len(list(Code))


def test_numbers_are_unique() -> None:
    duplicates = [n for n, k in Counter(c.number for c in Code).items() if k > 1]
    assert duplicates == []


@pytest.mark.parametrize("code", list(Code), ids=lambda c: c.name)
def test_code_is_within_its_result_range(code: Code) -> None:
    assert isinstance(code.value, StatusCode)
    assert code.number in RANGES[code.result], (code.name, code.number, code.result)


@pytest.mark.parametrize("code", list(Code), ids=lambda c: c.name)
def test_code_has_a_one_line_message(code: Code) -> None:
    assert code.message.strip() == code.message
    assert code.message
    assert "\n" not in code.message
    assert "|" not in code.message  # it goes into a Markdown table cell


def test_properties_mirror_the_value() -> None:
    for code in Code:
        assert (code.number, code.result, code.message) == (
            code.value.number,
            code.value.result,
            code.value.message,
        )


@pytest.mark.parametrize(
    ("code", "number", "result"),
    [
        # Numbers are stable: a few that other tools and docs may already refer to.
        (Code.EXCLUDED_BY_PATTERN, 2001, Result.EXCLUDED),
        (Code.UNSUPPORTED_TYPE, 2021, Result.UNSUPPORTED),
        (Code.UNCHANGED_BY_TIME, 2041, Result.NO_TRANSFER_NEEDED),
        (Code.KIND_CONFLICT, 2073, Result.FAILED),
        (Code.COPIED, 2100, Result.TRANSFERRED),
        (Code.DELETED, 2120, Result.DELETED),
    ],
    ids=lambda v: v.name if isinstance(v, Code) else None,
)
def test_stable_numbers(code: Code, number: int, result: Result) -> None:
    assert (code.number, code.result) == (number, result)


def test_markdown_table_lists_every_code_once_in_order() -> None:
    table = markdown_table()
    assert table.endswith("\n")
    rows = [line for line in table.splitlines() if line.startswith("| 2")]
    assert len(rows) == len(Code)
    for row, code in zip(rows, Code, strict=True):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells == [str(code.number), code.result.value, code.name, code.message]
    header = table.splitlines()
    assert header[0] == "# Copy-log status codes"
    assert "| code | result | name | meaning |" in header


def test_doc_is_generated_from_the_table() -> None:
    """Regenerate with ``python -m ferry.engine.codes > docs/status-codes.md``."""
    assert DOC.read_text(encoding="utf-8") == markdown_table()


def test_module_prints_the_table() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ferry.engine.codes"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout == markdown_table()
