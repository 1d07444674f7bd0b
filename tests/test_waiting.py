"""tests/support/waiting.py's wait_until: the one deadline poll the other tests wait with."""

from __future__ import annotations

import time

import pytest

from support.waiting import wait_until


def test_returns_what_the_condition_found():
    answers = iter([None, 0, "", "found"])
    assert wait_until(lambda: next(answers), 5, "the third try", every=0.001) == "found"


def test_times_out_saying_what_it_waited_for_and_what_was_shown():
    with pytest.raises(AssertionError) as failed:
        wait_until(lambda: None, 0.05, "the moon", every=0.01, shown=lambda: "the screen shows:\nclouds")
    assert str(failed.value) == "timed out after 0.05s waiting for the moon\nthe screen shows:\nclouds"


def test_without_shown_the_message_is_one_line():
    with pytest.raises(AssertionError, match=r"^timed out after 0\.01s waiting for nothing$"):
        wait_until(lambda: False, 0.01, "nothing", every=0.001)


def test_checks_once_more_after_the_deadline():
    """A machine that stalls through the sleep past the deadline: the check after it still counts."""
    calls = []

    def ready_after_the_stall():
        calls.append(time.monotonic())
        return len(calls) == 2  # false before the (long) sleep, true after it

    assert wait_until(ready_after_the_stall, 0.01, "the late answer", every=0.05) is True
    assert len(calls) == 2 and calls[1] - calls[0] > 0.01  # the second check came after the deadline


def test_an_error_in_the_condition_ends_the_wait_at_once():
    calls = []

    def died():
        calls.append(1)
        raise AssertionError("the child exited (status 1)")

    with pytest.raises(AssertionError, match=r"^the child exited \(status 1\)$"):
        wait_until(died, 5, "the child", every=0.01)
    assert len(calls) == 1
