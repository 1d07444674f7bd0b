"""The UI process's background threads yield the CPUs to training.

Reloading each newer checkpoint a watched run saves takes CPU that nobody is waiting for, while the training
process on the same machine wants every core (on 2 cores, a thread that takes one stalls both of torch's).
On Linux niceness belongs to a thread, so such a thread lowers its own priority, and only its own: the UI's
thread and anything the user waits for (the first model, a load asked for, the torch import) keep theirs.
Textual runs each thread worker in a thread of its own, so the lowered priority ends with the work.
"""

from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICENESS = 10  # added to the thread's own: it gets about a tenth of a contended core


def yield_cpu_to_training() -> bool:
    """Lower the calling thread's CPU priority (Linux only: elsewhere niceness is the whole process's).
    True if it was lowered. A thread never raises its priority back, so call this only in a thread that
    ends with its work."""
    if sys.platform != "linux":
        return False
    thread = threading.get_native_id()
    try:
        now = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, now + BACKGROUND_NICENESS))
    except OSError:  # not allowed, or no such scheduling: run at the priority it has
        return False
    return True
