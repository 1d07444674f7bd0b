"""The UI process's background reloads run at a lower CPU priority than its other threads."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from tui_gen.app.thread_priority import BACKGROUND_NICENESS, yield_cpu_to_training


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
