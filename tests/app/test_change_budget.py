"""Changing the budget while training: `b` (or the palette's "Change the budget") asks for minutes or
steps counted from where the run started, sends it to the training process, and shows what it
confirms. Only while a run trains."""

from __future__ import annotations

from textual.widgets import Input

from support import fake_events
from support.pilot import notes, run, screen_text, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import ChangeBudgetScreen
from tui_gen.app.state import Status
from tui_gen.app.widgets.training_panel import TrainingPanel
from tui_gen.core import events as ev
from tui_gen.core.budget import Budget
from tui_gen.core.commands import SetBudget

NARROW = (80, 24)


def make_app(factory) -> TuiGenApp:
    return TuiGenApp(LaunchOptions(models_dir="models-test-unused", minutes=6), process_factory=factory, warm_up=False)


async def ask(pilot, app, text: str) -> None:
    await pilot.press("b")
    await wait_for(pilot, lambda: isinstance(app.screen, ChangeBudgetScreen), what="the budget dialog")
    box = app.screen.query_one("#budget", Input)
    box.value = ""
    await pilot.press(*text, "enter")


def test_b_changes_the_budget_of_the_run_while_it_trains(factory):
    app = make_app(factory)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            process = factory.last
            process.push(*fake_events.run(until=120))  # 36 s of a 6-minute budget
            await wait_for(pilot, lambda: app.state.step == 120, what="the steps")
            assert app.check_action("change_budget", ())

            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, ChangeBudgetScreen), what="the budget dialog")
            box = app.screen.query_one("#budget", Input)
            assert box.value == "6 minutes"  # the budget it has, counted the same way
            text = screen_text(app)
            assert "counted from its start" in text and "120 steps" in text
            box.value = ""
            await pilot.press(*"soon", "enter")  # not a budget: said next to the field, nothing sent
            assert isinstance(app.screen, ChangeBudgetScreen) and process.sent == []
            assert "not a budget" in str(app.screen.query_one("#budget-error").render())
            box.value = ""
            await pilot.press(*"2 minutes", "enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, ChangeBudgetScreen), what="the dialog to close")
            assert process.sent == [SetBudget(Budget(minutes=2.0))]

            # the training process confirms: the panel's progress and time left follow the new budget
            process.push(ev.BudgetChanged(120, None, 120.0, 0.3, "2 minutes"))
            await wait_for(pilot, lambda: app.state.max_seconds == 120.0, what="the new budget")
            assert app.query_one(TrainingPanel).progress == 0.3 and app.state.eta == 84.0
            assert "Budget changed: Training for 2 minutes from the run's start." in notes(app)

            await ask(pilot, app, "500 steps")
            await wait_for(pilot, lambda: len(process.sent) == 2, what="the second change")
            assert process.sent[-1] == SetBudget(Budget(steps=500))
            process.push(ev.BudgetChanged(120, 500, None, 0.24, "500 steps"))
            await wait_for(pilot, lambda: app.state.max_steps == 500, what="the step budget")
            assert "120 of 500" in screen_text(app)

            # shortened below what it has trained: the process ends the run at the next step, saved
            process.push(ev.BudgetChanged(120, 100, None, 1.0, "100 steps"))
            await wait_for(pilot, lambda: any("ends at the next step" in n for n in notes(app)), what="the notice")
            process.push(
                *fake_events.evaluation(120, 2.9, 2.9, True),
                ev.Finished(
                    120, ev.FinishReason.COMPLETED, "finished at step 120", 2.9, fake_events.LAST, fake_events.BEST
                ),
            )
            await wait_for(pilot, lambda: app.state.status == Status.FINISHED, what="the run to finish")
            assert not app.check_action("change_budget", ())
            before = len(app.notices)
            app.action_change_budget()  # as the palette would: refused, with the reason
            await pilot.pause()
            assert not isinstance(app.screen, ChangeBudgetScreen) and len(process.sent) == 2
            assert len(app.notices) == before + 1 and "Press t to train more" in app.notices[-1].message

    run(body())


def test_no_budget_to_change_before_training_starts_and_the_palette_offers_it(factory):
    app = make_app(factory)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes)
            assert app.state.status == Status.STARTING and not app.check_action("change_budget", ())
            await pilot.press("b")
            await pilot.pause()
            assert not isinstance(app.screen, ChangeBudgetScreen) and factory.last.sent == []
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Change the budget" in titles

            factory.last.push(*fake_events.run(until=10))
            await wait_for(pilot, lambda: app.state.step == 10, what="the steps")
            command = next(c for c in app.get_system_commands(app.screen) if c.title == "Change the budget")
            await command.callback()  # what choosing it in the palette runs
            await wait_for(pilot, lambda: isinstance(app.screen, ChangeBudgetScreen), what="the budget dialog")
            await pilot.press("escape")  # cancelled: nothing sent
            await wait_for(pilot, lambda: not isinstance(app.screen, ChangeBudgetScreen), what="the dialog to close")
            assert factory.last.sent == []

    run(body())
