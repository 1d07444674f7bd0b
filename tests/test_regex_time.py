"""tui_gen.core.regex_time: a user's regex measured in a child process, so a catastrophic one costs a
timeout instead of a frozen process."""

from __future__ import annotations

import pytest

from tui_gen.core.regex_time import match_seconds


def test_a_quick_pattern_is_timed_over_any_text():
    text = 'Héllo "World" ☕ \ud800 ' * 500  # non-ASCII and a lone surrogate travel to the child
    seconds = match_seconds(r"\"[^\"]*\"", text, timeout=30)
    assert seconds is not None and 0 <= seconds < 30


def test_a_catastrophic_pattern_is_cut_off_at_the_timeout():
    assert match_seconds(r"(a+)+$", "a" * 60 + "b", timeout=1.0) is None


def test_a_bad_pattern_says_why():
    with pytest.raises(ValueError, match="unterminated character set"):
        match_seconds("([a", "abc", timeout=30)


def test_check_regex_refuses_a_slow_pattern_with_the_reason_in_bounded_time():
    import time

    from tui_gen.core.errors import ConfigError
    from tui_gen.core.regex_time import check_regex

    t0 = time.monotonic()
    with pytest.raises(ConfigError, match=r"'\(a\+\)\+\$' takes over 1 s over this text .*simplify it"):
        check_regex(r"(a+)+$", "a" * 40 + "!", timeout=1.0)
    assert time.monotonic() - t0 < 20
    assert check_regex(r"[A-Z]\w+", "Great Big News").pattern == r"[A-Z]\w+"


@pytest.mark.parametrize(
    "pattern, reason",
    [
        ("(" * 5000 + "a" + ")" * 5000, "nested too deep"),  # re's parser recurses per group: RecursionError
        ("a{99999999999999999999}", "too large"),  # OverflowError, not re.error
        ("([a", "unterminated character set"),
    ],
    ids=["5000 nested groups", "a huge repeat count", "an open set"],
)
def test_check_regex_says_why_a_pattern_does_not_compile(pattern, reason):
    from tui_gen.core.errors import ConfigError
    from tui_gen.core.regex_time import check_regex

    with pytest.raises(ConfigError, match=reason) as e:
        check_regex(pattern, "aaa")
    assert "is not valid" in str(e.value) and len(str(e.value)) < 200  # a long pattern is quoted cut


def test_a_pattern_that_cannot_be_timed_is_refused(monkeypatch):
    from tui_gen.core import regex_time
    from tui_gen.core.errors import ConfigError

    def no_child(*args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(regex_time.subprocess, "run", no_child)
    with pytest.raises(ConfigError, match="could not be timed"):
        regex_time.check_regex("a+", "aaa")
