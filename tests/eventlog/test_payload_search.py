"""The literal text a payload regex needs (the database's prefilter), and REGEXP's time limit."""

from __future__ import annotations

import re

import pytest

from pipebus.eventlog import payload_search
from pipebus.eventlog.payload_search import required_literals


@pytest.mark.parametrize(
    ("pattern", "needed"),
    [
        ('"final":(true|1)', ('"final":',)),
        ("plain", ("plain",)),
        ("ab?c", ("a", "c")),
        ("^(?=.*(?:hung))(?=.*(?:up))", ("hung", "up")),  # bare words ANDed by lookaheads
        (r"\d+ms", ("ms",)),
        ("a|b", ()),  # either may be missing
        ("(?i)abc", ()),  # case folded: a substring test would miss "ABC"
        ("a(?i:b)c", ("a", "c")),
        ("(?!abc)d", ("d",)),  # a negative lookahead needs nothing
        ("x*y?", ()),
    ],
)
def test_required_literals_are_the_text_every_match_holds(
    pattern: str, needed: tuple[str, ...]
) -> None:
    assert set(required_literals(pattern)) == set(needed)
    for text in ("xx abc d", '{"final":true}', "hung up", "12ms", "aBc", "ac"):
        if re.search(pattern, text):
            assert all(piece in text for piece in needed)


def test_a_regex_too_slow_for_one_payload_raises_and_is_explained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(payload_search, "MATCH_TIMEOUT", 0.2)
    pattern = '(x{1,30}){2,30}[^"x]'
    with pytest.raises(TimeoutError):
        payload_search.search(pattern, '"' + "x" * 30 + '"')
    failed = Exception(payload_search.FUNCTION_FAILED)
    assert f"/{pattern}/ took over 0.2 s on one payload" in (payload_search.explain(failed) or "")
    assert payload_search.search("x+", None) is None
