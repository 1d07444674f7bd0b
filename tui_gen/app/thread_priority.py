"""The UI process's background work yields the CPUs to training.

Reloading each newer checkpoint a watched run saves takes CPU that nobody is waiting for, while the training
process on the same machine wants every core (on 2 cores, a thread that takes one stalls both of torch's).
On Linux niceness belongs to a thread, so such work runs in a thread of its own at a lower priority: the UI's
thread and anything the user waits for (the first model, a load asked for, generation) keep theirs.

A thread of its own, not the calling one: Textual runs thread workers on asyncio's pool of reused threads,
and an unprivileged thread can never raise its priority back, so a lowered pool thread would slow whatever
work the pool gives it next (a generation the user waits for, at a tenth of a core).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

BACKGROUND_NICENESS = 10  # added to the thread's own: it gets about a tenth of a contended core

T = TypeVar("T")


def yield_cpu_to_training() -> bool:
    """Lower the calling thread's CPU priority (Linux only: elsewhere niceness is the whole process's).
    True if it was lowered. A thread never raises its priority back, so call this only in a thread that
    ends with its work (run_yielding_cpu makes one)."""
    if sys.platform != "linux":
        return False
    thread = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, now + BACKGROUND_NICENESS))
    except OSError:  # not allowed, or no such scheduling: run at the priority it has
        return False
    return True


def run_yielding_cpu(work: Callable[[], T]) -> T:
    """work() in a new thread at a lower CPU priority; waits for it, and returns its result or raises its
    error. The lowered priority ends with that thread."""
    outcome: dict = {}

    def lowered() -> None:
        yield_cpu_to_training()
        try:
            outcome["result"] = work()
        except BaseException as e:  # noqa: BLE001 - handed to the caller as is
            outcome["error"] = e

    thread = threading.Thread(target=lowered, name="tui-gen-yielding", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
