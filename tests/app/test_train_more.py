"""Train more: after a run finishes, `t` asks for another budget and continues it from its last
checkpoint, as `tui-gen train --resume RUN --steps N` would. `r` (restart after a death) is another key."""

from __future__ import annotations

from textual.widgets import Input

from support import fake_events
from support.pilot import run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import TrainMoreScreen
from tui_gen.app.state import Status
from tui_gen.core import events as ev
from tui_gen.core.budget import Budget, parse_budget
from tui_gen.core.errors import ConfigError

NARROW = (80, 24)


def finish(factory) -> None:
    factory.last.push(
        *fake_events.run(until=300),
        ev.Finished(300, "completed", "finished at step 300", 2.1, fake_events.LAST, fake_events.BEST),
    )


def test_t_after_a_finished_run_continues_it_for_the_budget_typed(factory):
    app = TuiGenApp(LaunchOptions(models_dir="models-test-unused", minutes=4), process_factory=factory, warm_up=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            finish(factory)
            await wait_for(pilot, lambda: app.state.status == Status.FINISHED, what="the run to finish")
            assert app.check_action("train_more", ()) and not app.check_action("restart", ())
            await pilot.press("t")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainMoreScreen), what="the budget question")
            box = app.screen.query_one("#budget", Input)
            assert box.value == "4 minutes"  # the same budget again, by default
            box.value = ""
            await pilot.press(*"lots", "enter")  # not a budget: said next to the field, nothing starts
            assert isinstance(app.screen, TrainMoreScreen) and len(factory.processes) == 1
            assert "not a budget" in str(app.screen.query_one("#budget-error").render())
            box.value = ""
            await pilot.press(*"50 steps", "enter")
            await wait_for(pilot, lambda: len(factory.processes) == 2, what="the continued run")
            spec = factory.last.spec
            assert spec.resume == fake_events.LAST and spec.steps == 50 and spec.minutes is None

    run(body())


def test_the_budget_a_person_types():
    assert parse_budget("6") == Budget(minutes=6.0) == parse_budget(" 6 minutes ") == parse_budget("6m")
    assert parse_budget("0.5 min") == Budget(minutes=0.5)
    assert parse_budget("2000 steps") == Budget(steps=2000) == parse_budget("2000 STEPS")
    for bad in ("", "0", "-3", "abc", "5 hours", "0 steps", "1e9999", "nan"):
        try:
            parse_budget(bad)
        except ConfigError:
            continue
        raise AssertionError(f"{bad!r} was taken as a budget")
