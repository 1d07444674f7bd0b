"""tui_gen.regex_time: a user's regex measured in a child process, so a catastrophic one costs a
timeout instead of a frozen process."""

from __future__ import annotations

import pytest

from tui_gen.regex_time import match_seconds


def test_a_quick_pattern_is_timed_over_any_text():
    text = "Héllo \"World\" ☕ \ud800 " * 500  # non-ASCII and a lone surrogate travel to the child
    seconds = match_seconds(r"\"[^\"]*\"", text, timeout=30)
    assert seconds is not None and 0 <= seconds < 30


def test_a_catastrophic_pattern_is_cut_off_at_the_timeout():
    assert match_seconds(r"(a+)+$", "a" * 60 + "b", timeout=1.0) is None


def test_a_bad_pattern_says_why():
    with pytest.raises(ValueError, match="unterminated character set"):
        match_seconds("([a", "abc", timeout=30)
