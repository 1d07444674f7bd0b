"""Waiting in a test for something to happen: poll a condition up to a deadline, never a fixed sleep.

(tests/support/pilot.py's async wait_for is the twin for a Pilot, whose waits must let the app run.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def timed_out(timeout: float, what: str) -> str:
    """The first line of every timeout's failure, worded once for the sync and the async wait."""
    return f"timed out after {timeout:g}s waiting for {what}"


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    every: float = 0.1,
    shown: Callable[[], str] | None = None,
) -> T:
    """Call condition() every `every` seconds until it returns something truthy, and return that value
    (`found = wait_until(lambda: re.search(...), ...)`). Past `timeout` seconds raise AssertionError:
    "timed out after {timeout}s waiting for {what}", then shown()'s text on the lines below when given
    (what the screen or the output held, for whoever reads the failure).

    The condition is checked once more after the deadline before failing, so a machine that stalled
    through the last sleep gives no false timeout. An exception from condition() (a process that died
    on the way, say) goes straight to the caller: the wait ends there.

    The timeout is a deadline, never a speed: it only decides how long a failing test takes to say so.
    Keep it generous, since on a loaded 2-core machine a child can take a minute to import torch."""
    deadline = time.monotonic() + timeout
    while True:
        late = time.monotonic() > deadline  # read before the check: the last check comes after the deadline
        found = condition()
        if found:
            return found
        if late:
            message = timed_out(timeout, what)
            if shown is not None:
                message += "\n" + shown()
            raise AssertionError(message)
        time.sleep(every)
