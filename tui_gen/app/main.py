"""`tui-gen launch`: open the app. The import path to the first frame stays free of torch."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from tui_gen.core.errors import TuiGenError

if TYPE_CHECKING:
    from tui_gen.app.app import TuiGenApp

    # What signal.signal takes, and returns: the handler it replaced.
    SignalHandler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def run_app(args: argparse.Namespace) -> int:
    from tui_gen.app.app import TuiGenApp
    from tui_gen.app.options import LaunchOptions

    try:
        options = LaunchOptions.from_args(args)
    except TuiGenError as e:
        print(f"tui-gen: error: {e}", file=sys.stderr)
        return 2
    app = TuiGenApp(options)
    previous = _save_on_stop_signals(app)
    try:
        app.run()
    finally:
        app.shutdown_training()  # whatever happened, no training process outlives the app
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return int(app.return_code or 0)


SIGNAL_SAVE_SECONDS = 30.0  # how long a signalled app waits for the training process to save `last`
SIGNAL_EXIT_GRACE = 5.0  # then how long the app may take to restore the terminal before it is ended


def _save_on_stop_signals(app: TuiGenApp) -> dict[int, SignalHandler]:
    """SIGTERM (a scheduler, `kill`) and SIGHUP (the terminal closed): the training process is asked to
    save `last` and stop (bounded, then ended), and the app exits. The saving runs on a thread of its
    own, because after a hangup Textual may never get past writing to the terminal that is gone; the
    app is asked to exit too, so that a terminal still there is put back as it was."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        def save_and_exit() -> None:
            app.shutdown_training(timeout=SIGNAL_SAVE_SECONDS)
            threading.main_thread().join(timeout=SIGNAL_EXIT_GRACE)  # a normal exit ends us here
            os._exit(128 + signum)

        threading.Thread(target=save_and_exit, name="tui-gen-stop-signal", daemon=True).start()
        try:
            app.call_later(app.exit)
        except Exception:  # noqa: BLE001 - not running (yet, or any more): the thread does the rest
            pass

    previous: dict[int, SignalHandler] = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, on_signal)
    return previous
