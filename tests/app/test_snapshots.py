"""Snapshots of the screen at 80x24 and 160x48, from a fixed synthesised run (no process, no clock).

Update the baselines with `pytest tests/app/test_snapshots.py --snapshot-update`, then look at them
(tests/app/__snapshots__/test_snapshots/*.svg) before committing.
"""

from __future__ import annotations

from support import fake_events
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.shown_run import OwnRun
from tui_gen.app.widgets import LossPlot, StreamView
from tui_gen.app.widgets.next_char_panel import NextCharPanel
from tui_gen.core import events as ev

STREAMED = "Hillary Clinton is a disaster. The people know it! [bold]not markup[/bold] Thank you America! #MAGA _E_"


def make_app() -> TuiGenApp:
    return TuiGenApp(LaunchOptions(train=False, models_dir="models"), warm_up=False)


async def feed(pilot, until: int = 650) -> None:
    pilot.app.handle_events(fake_events.run(until))
    # Lay out first, then draw: the plot decimates to its settled width, and nothing is left for its
    # once-a-second timer to redraw while the snapshot is taken (that raced on a loaded CI machine).
    await pilot.pause()
    pilot.app.query_one(LossPlot).redraw_now()
    await pilot.pause()


def fill_playground(app: TuiGenApp) -> None:
    """What a generation leaves on screen, drawn without a model (sampling is random)."""
    pg = app.playground
    pg._set_label("model: training weights · step 600 · 93 chars, end of line")
    out = app.query_one(StreamView)
    out.append_seed("Hillary")
    for i, ch in enumerate(STREAMED[len("Hillary") :]):
        out.append_char(ch, ((i * 37) % 100) / 100)
    app.query_one(NextCharPanel).show([("_", 0.62), (" ", 0.21), ("E", 0.08), ("!", 0.03), ("\n", 0.01)], "_")
    app.query_one("#seed").value = "Hillary"
    app.query_one("#seed").cursor_blink = False


def test_train_80x24(snap_compare):
    async def run_before(pilot):
        await feed(pilot)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_playground_80x24(snap_compare):
    async def run_before(pilot):
        await feed(pilot)
        pilot.app.show_pane("playground")
        await pilot.pause()
        fill_playground(pilot.app)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_samples_80x24(snap_compare):
    async def run_before(pilot):
        await feed(pilot)
        pilot.app.show_pane("samples")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_everything_160x48(snap_compare):
    async def run_before(pilot):
        await feed(pilot)
        await pilot.pause()
        fill_playground(pilot.app)
        pilot.app.query_one("#output").focus()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(160, 48), run_before=run_before)


def test_worker_died_80x24(snap_compare):
    async def run_before(pilot):
        app = pilot.app
        await feed(pilot, 310)
        app.state.log_path = "models/worker.log"
        app.handle_events(
            [
                ev.Exited(
                    -9,
                    "the training process was killed by signal 9 (SIGKILL) (if nobody "
                    "killed it, the system may have run out of memory); its log is "
                    "models/worker.log",
                )
            ]
        )
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_quit_dialog_80x24(snap_compare):
    async def run_before(pilot):
        await feed(pilot, 305)
        pilot.app.shown_run = OwnRun(type("Alive", (), {"alive": True})())  # a stand-in: only its liveness is asked
        await pilot.press("q")
        # On a loaded machine the dialog can take more than one pause to mount and settle.
        for _ in range(200):
            if type(pilot.app.screen).__name__ == "ConfirmScreen" and pilot.app.screen.focused is not None:
                break
            await pilot.pause(0.01)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)
