"""The UI process's background reloads run at a lower CPU priority than its other threads."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from tui_gen.app.thread_priority import BACKGROUND_NICENESS, run_yielding_cpu, yield_cpu_to_training


@pytest.mark.skipif(sys.platform != "linux", reason="niceness is per thread on Linux only; elsewhere it is a no-op")
def test_only_the_calling_thread_yields():
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = {}

    def background():
        seen["lowered"] = yield_cpu_to_training()
        seen["niceness"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    t = threading.Thread(target=background)
    t.start()
    t.join()
    assert seen["lowered"] is True
    assert seen["niceness"] == min(19, main + BACKGROUND_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main  # the UI's own thread keeps its
    assert os.getpriority(os.PRIO_PROCESS, 0) == main


@pytest.mark.skipif(sys.platform != "linux", reason="niceness is per thread on Linux only; elsewhere it is a no-op")
def test_work_run_yielding_cpu_is_lowered_in_a_thread_of_its_own_and_hands_back_its_outcome():
    main = os.getpriority(os.PRIO_PROCESS, 0)
    seen = run_yielding_cpu(lambda: (threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0)))
    thread, niceness = seen
    assert thread != threading.get_native_id() and niceness == min(19, main + BACKGROUND_NICENESS)
    assert os.getpriority(os.PRIO_PROCESS, 0) == main  # the caller (a pool thread, in the app) keeps its own

    def fails():
        raise ValueError("the work's own error")

    with pytest.raises(ValueError, match="the work's own error"):
        run_yielding_cpu(fails)
