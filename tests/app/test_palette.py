"""The command palette (ctrl+p) lists the app's commands beside Textual's, and runs them."""

from __future__ import annotations

from support.pilot import FakeFactory, choose, run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.bindings import PALETTE, palette_commands
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import HelpScreen, OpenRunScreen

NARROW = (80, 24)


def make_app() -> TuiGenApp:
    return TuiGenApp(
        LaunchOptions(train=False, models_dir="models-test-unused"), process_factory=FakeFactory(), warm_up=False
    )


def test_the_palette_offers_every_app_command_and_the_theme():
    app = make_app()

    async def body():
        async with app.run_test(size=NARROW):
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for title, _ in PALETTE:
                assert title in titles
            assert any("theme" in t.lower() for t in titles), titles

    run(body())


def test_the_palette_runs_the_commands():
    app = make_app()

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await choose(pilot, app, "Show the playground")
            await wait_for(pilot, lambda: app.active_pane == "playground", what="the playground")
            await pilot.press("escape")  # out of the seed box
            await choose(pilot, app, "Open a run")
            await wait_for(pilot, lambda: isinstance(app.screen, OpenRunScreen), what="the open-run dialog")
            await pilot.press("escape")
            await choose(pilot, app, "Show every key")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help screen")

    run(body())


def test_every_palette_command_says_what_it_does_once():
    """The palette's help is the tooltip of the binding running the same action (the help screen's
    sentence), so the two cannot disagree; an action without a key says it in PALETTE_ONLY."""
    helps = palette_commands()
    assert len(helps) == len(PALETTE) and all(help_text for _, help_text, _ in helps)
    by_action = {action: help_text for _, help_text, action in helps}
    assert by_action["show_tab('playground')"] == "Show the playground"
