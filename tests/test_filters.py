"""Include/exclude globs and the other filters, ``ferry.engine.filters``."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferry.engine.codes import Code
from ferry.engine.filters import NO_FILTER_RULES, Filter, FilterRules, PatternError, compile_glob
from ferry.storage.entry import Entry, EntryKind

NOW = 1_700_000_000_000_000_000
SEC = 1_000_000_000
MINUTE = 60 * SEC
HOUR = 60 * MINUTE
DAY = 24 * HOUR

F = EntryKind.FILE
D = EntryKind.DIR
L = EntryKind.SYMLINK
S = EntryKind.SPECIAL


def matches(pattern: str, path: str, kind: EntryKind = F) -> bool:
    return compile_glob(pattern).matches(Entry(path, kind))


GLOB_CASES: list[tuple[str, str, EntryKind, bool]] = [
    # A pattern without '/' matches the name, at any depth.
    ("*.txt", "a.txt", F, True),
    ("*.txt", "d/a.txt", F, True),
    ("*.txt", "d/e/f/a.txt", F, True),
    ("*.txt", "a.txt.bak", F, False),
    ("*.txt", "a.TXT", F, False),
    ("*.txt", ".txt", F, True),
    ("*.txt", "d.txt/a", F, False),
    ("a.txt", "a.txt", F, True),
    ("a.txt", "x/a.txt", F, True),
    ("a.txt", "xa.txt", F, False),
    ("a.txt", "a.txtx", F, False),
    ("*", "anything", F, True),
    ("*", "d/anything", F, True),
    ("*", "dir", D, True),
    # A pattern with '/' matches the whole path from the root.
    ("d/*.txt", "d/a.txt", F, True),
    ("d/*.txt", "x/d/a.txt", F, False),
    ("d/a.txt", "d/a.txt", F, True),
    ("d/a.txt", "x/d/a.txt", F, False),
    # ... and its leading '/' is optional.
    ("/d/*.txt", "d/a.txt", F, True),
    ("/d/*.txt", "x/d/a.txt", F, False),
    # A leading '/' anchors a single name to the root.
    ("/a.txt", "a.txt", F, True),
    ("/a.txt", "d/a.txt", F, False),
    # A trailing '/' matches directories only.
    ("build/", "build", D, True),
    ("build/", "x/y/build", D, True),
    ("build/", "build", F, False),
    ("build/", "build", L, False),
    ("build/", "builds", D, False),
    ("/build/", "build", D, True),
    ("/build/", "x/build", D, False),
    ("d/build/", "d/build", D, True),
    ("d/build/", "d/build", F, False),
    ("*.d/", "conf.d", D, True),
    ("*.d/", "conf.d", F, False),
    ("build", "build", D, True),
    ("build", "build", F, True),
    # '*' stays within one component.
    ("d/*", "d/a", F, True),
    ("d/*", "d/a/b", F, False),
    ("d/*/c", "d/x/c", F, True),
    ("d/*/c", "d/x/y/c", F, False),
    ("d/*/c", "d/c", F, False),
    ("d*/c", "dx/c", F, True),
    ("d*/c", "d/x/c", F, False),
    # '**' crosses components.
    ("d/**", "d/a", F, True),
    ("d/**", "d/a/b/c", F, True),
    ("d/**", "d", D, False),
    ("d/**", "x/d/a", F, False),
    ("d/**/c", "d/x/y/c", F, True),
    ("**", "anything", F, True),
    ("**.log", "x.log", F, True),
    # '**/' also matches no directory at all.
    ("**/c.txt", "c.txt", F, True),
    ("**/c.txt", "a/c.txt", F, True),
    ("**/c.txt", "a/b/c.txt", F, True),
    ("**/c.txt", "ac.txt", F, False),
    ("**/c.txt", "a/xc.txt", F, False),
    ("a/**/z", "a/z", F, True),
    ("a/**/z", "a/b/z", F, True),
    ("a/**/z", "a/b/c/z", F, True),
    ("a/**/z", "az", F, False),
    ("a/**/z", "a/bz", F, False),
    ("a/**/z", "x/a/z", F, False),
    ("/**/c.txt", "c.txt", F, True),
    ("**/tmp/", "x/tmp", D, True),
    ("**/tmp/", "tmp", D, True),
    ("**/tmp/", "x/tmp", F, False),
    # '?' is exactly one character, never '/'.
    ("?.txt", "a.txt", F, True),
    ("?.txt", "ab.txt", F, False),
    ("?.txt", ".txt", F, False),
    ("?.txt", "é.txt", F, True),
    ("d?e", "dxe", F, True),
    ("x/d?e", "x/d/e", F, False),
    ("x/d?e", "x/dxe", F, True),
    ("a??", "abc", F, True),
    ("a??", "ab", F, False),
    # Classes, ranges, negation.
    ("[abc].txt", "b.txt", F, True),
    ("[abc].txt", "d.txt", F, False),
    ("[abc].txt", "ab.txt", F, False),
    ("[a-c]x", "bx", F, True),
    ("[a-c]x", "dx", F, False),
    ("[0-9][0-9].log", "42.log", F, True),
    ("[0-9][0-9].log", "4a.log", F, False),
    ("[!a-c].txt", "d.txt", F, True),
    ("[!a-c].txt", "a.txt", F, False),
    ("[!a-c].txt", "c.txt", F, False),
    ("[!abc]", "z", F, True),
    ("[!abc]", "b", F, False),
    ("[]].txt", "].txt", F, True),
    ("[]].txt", "a.txt", F, False),
    ("[]a].txt", "a.txt", F, True),
    ("[*?].txt", "*.txt", F, True),
    ("[*?].txt", "?.txt", F, True),
    ("[*?].txt", "a.txt", F, False),
    ("[.]txt", ".txt", F, True),
    ("[.]txt", "atxt", F, False),
    ("x[\\]", "x\\", F, True),
    ("x[\\]", "xa", F, False),
    # Braces.
    ("*.{jpg,png}", "a.jpg", F, True),
    ("*.{jpg,png}", "a.png", F, True),
    ("*.{jpg,png}", "a.gif", F, False),
    ("*.{jpg,png}", "a.jpgpng", F, False),
    ("{a,b}/*.txt", "a/x.txt", F, True),
    ("{a,b}/*.txt", "b/x.txt", F, True),
    ("{a,b}/*.txt", "c/x.txt", F, False),
    ("{a,b}/*.txt", "x/a/x.txt", F, False),
    ("{a,{b,c}}d", "cd", F, True),
    ("{a,{b,c}}d", "bd", F, True),
    ("{a,{b,c}}d", "ad", F, True),
    ("{a,{b,c}}d", "dd", F, False),
    ("{,x}y", "y", F, True),
    ("{,x}y", "xy", F, True),
    ("{*.txt,*.md}", "a.md", F, True),
    ("{*.txt,*.md}", "a.rst", F, False),
    ("a,b", "a,b", F, True),
    ("a,b", "a", F, False),
    ("a}b", "a}b", F, True),
    ("{a,b}}", "a}", F, True),
    ("{src,lib}/**/*.py", "src/x/y/m.py", F, True),
    ("{src,lib}/**/*.py", "lib/m.py", F, True),
    ("{src,lib}/**/*.py", "test/m.py", F, False),
    # Escapes.
    ("\\*.txt", "*.txt", F, True),
    ("\\*.txt", "a.txt", F, False),
    ("\\?", "?", F, True),
    ("\\?", "a", F, False),
    ("\\[a]", "[a]", F, True),
    ("\\[a]", "a", F, False),
    ("\\{a,b\\}", "{a,b}", F, True),
    ("\\{a,b\\}", "a", F, False),
    ("a\\\\b", "a\\b", F, True),
    ("a\\", "a\\", F, True),
    ("\\a", "a", F, True),
    # Regex metacharacters are literal.
    ("a.b", "a.b", F, True),
    ("a.b", "axb", F, False),
    ("a+b(c)|d$^", "a+b(c)|d$^", F, True),
    ("a+b", "aab", F, False),
    ("x.*", "x.y", F, True),
    ("x.*", "xay", F, False),
    # Unicode and surrogate-escaped names.
    ("文件*", "文件.txt", F, True),
    ("*.txt", "latin1-\udce9t\udce9.txt", F, True),
    ("?", "\udce9", F, True),
]


@pytest.mark.parametrize(
    ("pattern", "path", "kind", "expected"),
    [
        pytest.param(p, path, k, e, id=f"{p!r}-{'matches' if e else 'misses'}-{k.value}:{path!r}")
        for p, path, k, e in GLOB_CASES
    ],
)
def test_glob(pattern: str, path: str, kind: EntryKind, expected: bool) -> None:
    assert matches(pattern, path, kind) is expected


@pytest.mark.parametrize(
    ("pattern", "whole_path", "dirs_only"),
    [
        ("*.txt", False, False),
        ("d/*.txt", True, False),
        ("/a", True, False),
        ("a/", False, True),
        ("/a/", True, True),
        ("a/b/", True, True),
        ("a//", False, True),
    ],
)
def test_compiled_flags(pattern: str, whole_path: bool, dirs_only: bool) -> None:
    compiled = compile_glob(pattern)
    assert (compiled.whole_path, compiled.dirs_only) == (whole_path, dirs_only)


@pytest.mark.parametrize(
    "pattern",
    [
        pytest.param("", id="empty"),
        pytest.param("/", id="slash"),
        pytest.param("//", id="double-slash"),
        pytest.param("[abc", id="unclosed-class"),
        pytest.param("a[", id="lone-bracket"),
        pytest.param("[!", id="unclosed-negated-class"),
        pytest.param("[]", id="unclosed-class-starting-with-bracket"),
        pytest.param("{a,b", id="unclosed-brace"),
        pytest.param("*.{jpg,{png,gif}", id="unclosed-nested-brace"),
        pytest.param("[z-a]", id="reversed-range"),
    ],
)
def test_invalid_patterns_raise_pattern_error(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_glob(pattern)


def test_pattern_error_is_a_value_error_naming_the_pattern() -> None:
    with pytest.raises(ValueError, match=r"\{a,b"):
        compile_glob("{a,b")
    with pytest.raises(ValueError, match=r"\[abc"):
        compile_glob("[abc")


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        pytest.param("[!]].txt", "a.txt", True, id="not-bracket-matches-a"),
        pytest.param("[!]].txt", "].txt", False, id="not-bracket-misses-bracket"),
        pytest.param("[!]a]", "b", True, id="not-bracket-or-a-matches-b"),
    ],
)
def test_negated_class_starting_with_bracket(pattern: str, path: str, expected: bool) -> None:
    """``[!]...]`` is the negation of a class whose first member is ']' (as ``[]...]`` is a
    class whose first member is ']')."""
    assert matches(pattern, path) is expected


def test_filter_constructor_rejects_invalid_patterns() -> None:
    with pytest.raises(PatternError):
        Filter(FilterRules(exclude=("ok", "[bad")), NOW)
    with pytest.raises(PatternError):
        Filter(FilterRules(include=("{bad",)), NOW)


# -- Filter.check ------------------------------------------------------------------------------


def entry(path: str, kind: EntryKind = F, size: int = 100, mtime_ns: int = NOW - DAY) -> Entry:
    return Entry(path, kind, size=size, mtime_ns=mtime_ns)


def check(e: Entry, now_ns: int = NOW, **rules: Any) -> Code | None:
    return Filter(FilterRules(**rules), now_ns).check(e)


CHECK_CASES: list[tuple[str, Entry, dict[str, Any], Code | None]] = [
    ("no-rules", entry(".hidden", size=0), {}, None),
    ("exclude-matches", entry("a.tmp"), {"exclude": ("*.tmp",)}, Code.EXCLUDED_BY_PATTERN),
    ("exclude-misses", entry("a.txt"), {"exclude": ("*.tmp",)}, None),
    ("exclude-any-of", entry("a.bak"), {"exclude": ("*.tmp", "*.bak")}, Code.EXCLUDED_BY_PATTERN),
    ("exclude-dir", entry("d/cache", D), {"exclude": ("cache/",)}, Code.EXCLUDED_BY_PATTERN),
    ("exclude-dir-only-spares-file", entry("d/cache"), {"exclude": ("cache/",)}, None),
    ("exclude-link", entry("l", L), {"exclude": ("l",)}, Code.EXCLUDED_BY_PATTERN),
    ("exclude-special", entry("p", S), {"exclude": ("p",)}, Code.EXCLUDED_BY_PATTERN),
    ("include-matches", entry("a.txt"), {"include": ("*.txt",)}, None),
    ("include-misses", entry("a.log"), {"include": ("*.txt",)}, Code.NOT_INCLUDED),
    ("include-any-of", entry("a.md"), {"include": ("*.txt", "*.md")}, None),
    ("include-never-applies-to-dirs", entry("logs", D), {"include": ("*.txt",)}, None),
    ("include-applies-to-links", entry("l", L), {"include": ("*.txt",)}, Code.NOT_INCLUDED),
    ("include-applies-to-special", entry("p", S), {"include": ("*.txt",)}, Code.NOT_INCLUDED),
    (
        "include-whole-path",
        entry("docs/a.txt"),
        {"include": ("docs/**",)},
        None,
    ),
    (
        "include-whole-path-misses",
        entry("src/a.txt"),
        {"include": ("docs/**",)},
        Code.NOT_INCLUDED,
    ),
    (
        "exclude-beats-include",
        entry("secret.txt"),
        {"include": ("*.txt",), "exclude": ("secret*",)},
        Code.EXCLUDED_BY_PATTERN,
    ),
    (
        "exclude-applies-to-dirs-with-includes",
        entry("secret", D),
        {"include": ("*.txt",), "exclude": ("secret",)},
        Code.EXCLUDED_BY_PATTERN,
    ),
    ("hidden-file", entry(".x"), {"exclude_hidden": True}, Code.EXCLUDED_HIDDEN),
    ("hidden-nested-file", entry("d/.x"), {"exclude_hidden": True}, Code.EXCLUDED_HIDDEN),
    ("hidden-dir", entry(".git", D), {"exclude_hidden": True}, Code.EXCLUDED_HIDDEN),
    ("hidden-link", entry(".l", L), {"exclude_hidden": True}, Code.EXCLUDED_HIDDEN),
    ("hidden-only-own-name", entry(".d/x"), {"exclude_hidden": True}, None),
    ("not-hidden", entry("x.y"), {"exclude_hidden": True}, None),
    ("hidden-allowed-by-default", entry(".x"), {"exclude_hidden": False}, None),
    (
        "hidden-reported-before-pattern",
        entry(".x.tmp"),
        {"exclude_hidden": True, "exclude": ("*.tmp",)},
        Code.EXCLUDED_HIDDEN,
    ),
    (
        "hidden-before-include",
        entry(".x.log"),
        {"exclude_hidden": True, "include": ("*.txt",)},
        Code.EXCLUDED_HIDDEN,
    ),
    # size bounds
    ("min-size-below", entry("f", size=9), {"min_size": 10}, Code.EXCLUDED_BY_SIZE),
    ("min-size-equal", entry("f", size=10), {"min_size": 10}, None),
    ("min-size-above", entry("f", size=11), {"min_size": 10}, None),
    ("max-size-above", entry("f", size=101), {"max_size": 100}, Code.EXCLUDED_BY_SIZE),
    ("max-size-equal", entry("f", size=100), {"max_size": 100}, None),
    ("max-size-zero-empty-file", entry("f", size=0), {"max_size": 0}, None),
    ("max-size-zero", entry("f", size=1), {"max_size": 0}, Code.EXCLUDED_BY_SIZE),
    ("size-window-inside", entry("f", size=50), {"min_size": 10, "max_size": 100}, None),
    (
        "size-window-below",
        entry("f", size=5),
        {"min_size": 10, "max_size": 100},
        Code.EXCLUDED_BY_SIZE,
    ),
    ("size-ignores-dirs", entry("d", D, size=0), {"min_size": 10}, None),
    ("size-ignores-links", entry("l", L, size=1), {"min_size": 10}, None),
    ("size-ignores-special", entry("p", S, size=0), {"min_size": 10}, None),
    (
        "include-reported-before-size",
        entry("a.log", size=1),
        {"include": ("*.txt",), "min_size": 10},
        Code.NOT_INCLUDED,
    ),
    (
        "size-reported-before-age",
        entry("f", size=1, mtime_ns=NOW),
        {"min_size": 10, "min_age_ns": HOUR},
        Code.EXCLUDED_BY_SIZE,
    ),
    # age bounds (age = now - mtime)
    (
        "min-age-too-new",
        entry("f", mtime_ns=NOW - 30 * MINUTE),
        {"min_age_ns": HOUR},
        Code.EXCLUDED_BY_AGE,
    ),
    ("min-age-exact", entry("f", mtime_ns=NOW - HOUR), {"min_age_ns": HOUR}, None),
    ("min-age-old-enough", entry("f", mtime_ns=NOW - 2 * HOUR), {"min_age_ns": HOUR}, None),
    (
        "min-age-future-mtime",
        entry("f", mtime_ns=NOW + HOUR),
        {"min_age_ns": 0},
        Code.EXCLUDED_BY_AGE,
    ),
    (
        "max-age-too-old",
        entry("f", mtime_ns=NOW - 2 * DAY),
        {"max_age_ns": DAY},
        Code.EXCLUDED_BY_AGE,
    ),
    ("max-age-exact", entry("f", mtime_ns=NOW - DAY), {"max_age_ns": DAY}, None),
    ("max-age-new-enough", entry("f", mtime_ns=NOW - HOUR), {"max_age_ns": DAY}, None),
    ("max-age-future-mtime", entry("f", mtime_ns=NOW + HOUR), {"max_age_ns": DAY}, None),
    (
        "age-window-inside",
        entry("f", mtime_ns=NOW - 2 * HOUR),
        {"min_age_ns": HOUR, "max_age_ns": DAY},
        None,
    ),
    ("age-ignores-dirs", entry("d", D, mtime_ns=NOW), {"min_age_ns": HOUR}, None),
    ("age-ignores-links", entry("l", L, mtime_ns=NOW), {"min_age_ns": HOUR}, None),
]


@pytest.mark.parametrize(
    ("e", "rules", "expected"),
    [pytest.param(e, r, c, id=name) for name, e, r, c in CHECK_CASES],
)
def test_check(e: Entry, rules: dict[str, Any], expected: Code | None) -> None:
    assert check(e, **rules) is expected


def test_age_is_measured_from_the_given_now() -> None:
    f = entry("f", mtime_ns=NOW - 2 * HOUR)
    rules = FilterRules(min_age_ns=3 * HOUR)
    assert Filter(rules, NOW).check(f) is Code.EXCLUDED_BY_AGE
    assert Filter(rules, NOW + HOUR).check(f) is None
    later = FilterRules(max_age_ns=3 * HOUR)
    assert Filter(later, NOW).check(f) is None
    assert Filter(later, NOW + 2 * HOUR).check(f) is Code.EXCLUDED_BY_AGE


@pytest.mark.parametrize(
    ("rules", "active"),
    [
        pytest.param(NO_FILTER_RULES, False, id="defaults"),
        pytest.param(FilterRules(include=("*",)), True, id="include"),
        pytest.param(FilterRules(exclude=("*",)), True, id="exclude"),
        pytest.param(FilterRules(min_size=0), True, id="min-size-zero"),
        pytest.param(FilterRules(max_size=0), True, id="max-size-zero"),
        pytest.param(FilterRules(min_age_ns=0), True, id="min-age-zero"),
        pytest.param(FilterRules(max_age_ns=0), True, id="max-age-zero"),
        pytest.param(FilterRules(exclude_hidden=True), True, id="hidden"),
        pytest.param(FilterRules(exclude_hidden=False), False, id="hidden-off"),
    ],
)
def test_active(rules: FilterRules, active: bool) -> None:
    the_filter = Filter(rules, NOW)
    assert the_filter.active is active
    assert the_filter.rules is rules


def test_inactive_filter_passes_everything() -> None:
    the_filter = Filter(NO_FILTER_RULES, NOW)
    for e in [
        entry(".hidden"),
        entry("huge", size=1 << 60),
        entry("future", mtime_ns=NOW + DAY),
        entry("d", D),
        entry("p", S),
    ]:
        assert the_filter.check(e) is None


def test_zero_bounds_are_enforced() -> None:
    """``0`` is a bound, not "no bound"."""
    assert check(entry("f", size=1), max_size=0) is Code.EXCLUDED_BY_SIZE
    assert check(entry("f", mtime_ns=NOW - 1), max_age_ns=0) is Code.EXCLUDED_BY_AGE


# -- properties --------------------------------------------------------------------------------

PROPERTY = settings(max_examples=200, deadline=None)
name_chars = st.characters(codec="utf-8", exclude_characters="/\x00")
names = st.text(name_chars, min_size=1, max_size=12)
plain_chars = st.characters(codec="utf-8", exclude_characters="/\x00*?[]{},\\")


@PROPERTY
@given(names, names)
def test_fully_escaped_pattern_matches_only_that_name(name: str, other: str) -> None:
    pattern = "".join("\\" + c for c in name)
    assert matches(pattern, name)
    assert matches(pattern, "some/dir/" + name)
    assert matches(pattern, other) is (other == name)


@PROPERTY
@given(st.text(plain_chars, min_size=1, max_size=12), names)
def test_plain_name_matches_itself_only(name: str, other: str) -> None:
    assert matches(name, name)
    assert matches(name, other) is (other == name)


glob_atoms = st.one_of(
    st.sampled_from(["*", "?", "[ab]", "[!ab]", "[a-c]", "a", "b", ".", "x"]),
)
glob_patterns = st.lists(glob_atoms, min_size=1, max_size=6).map("".join)
short_names = st.text(st.sampled_from("abcx.-"), min_size=1, max_size=8)


@PROPERTY
@given(glob_patterns, short_names)
def test_name_patterns_agree_with_fnmatch(pattern: str, name: str) -> None:
    """On single names, ``*``, ``?`` and classes mean what they mean to ``fnmatch``."""
    assert matches(pattern, "d/" + name) is fnmatch.fnmatchcase(name, pattern)


@PROPERTY
@given(st.lists(st.sampled_from(["a", "b", "ab"]), min_size=1, max_size=4), names)
def test_braces_are_alternatives(alternatives: list[str], name: str) -> None:
    pattern = "{" + ",".join(alternatives) + "}"
    assert matches(pattern, name) is (name in alternatives)


@PROPERTY
@given(st.lists(st.text("ab", min_size=1, max_size=2), min_size=0, max_size=4))
def test_double_star_slash_matches_any_number_of_directories(dirs: list[str]) -> None:
    path = "/".join([*dirs, "target.txt"])
    assert matches("**/target.txt", path)
    assert matches("/**/target.txt", path)
    assert not matches("**/target.txt", "/".join([*dirs, "xtarget.txt"]))
    assert matches("*/target.txt", path) is (len(dirs) == 1)
