"""`tui-gen launch`: open the app. The import path to the first frame stays free of torch."""

from __future__ import annotations

import sys

from tui_gen.errors import TuiGenError


def run_app(args) -> int:
    from tui_gen.app.app import TuiGenApp
    from tui_gen.app.options import LaunchOptions

    try:
        options = LaunchOptions.from_args(args)
    except TuiGenError as e:
        print(f"tui-gen: error: {e}", file=sys.stderr)
        return 2
    app = TuiGenApp(options)
    try:
        app.run()
    finally:
        app.shutdown_training()  # whatever happened, no training process outlives the app
    return int(app.return_code or 0)
