"""The sweep screen (w): samples from the playground's seed side by side, through Pilot with a tiny
real model; what it shows is checked against tui_gen.model.sweep run directly with the same Seed#."""

from __future__ import annotations

from textual.widgets import Input, Static

from support.pilot import choose, notes, run, screen_text, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens.sweep import SweepScreen
from tui_gen.app.widgets.stream_view import prob_style
from tui_gen.core.textsafe import safe_char

WIDE = (160, 48)
NARROW = (80, 24)


def make_app(model=None) -> TuiGenApp:
    return TuiGenApp(LaunchOptions(train=False, models_dir="models-test-unused"), model=model, warm_up=False)


async def open_sweep(pilot, app, seed: str = "The ", length: int = 60, rng_seed: str = "7") -> SweepScreen:
    """The playground's settings, then w (from outside the text boxes, as a user would)."""
    await pilot.press("2")
    await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "seed", what="the seed box")
    app.query_one("#seed", Input).value = seed
    app.query_one("#length", Input).value = str(length)
    app.query_one("#rng-seed", Input).value = rng_seed
    await pilot.press("escape")  # leave the box: letters are commands again
    await pilot.press("w")
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, SweepScreen) and app.screen.query("#sweep-results"),
        what="the sweep screen",
    )
    return app.screen


async def drawn(pilot, screen: SweepScreen) -> list:
    await wait_for(pilot, lambda: not screen.drawing and (screen.samples or screen.error), what="the samples")
    await pilot.pause()  # the columns mount
    assert screen.error is None, screen.error
    return screen.samples


def direct(model, seed, temperatures, length, rng_seed, top_k=0, top_p=1.0):
    import torch

    from tui_gen.model.sweep import sweep

    return sweep(
        model.model,
        model.vocab,
        model.framing,
        seed,
        temperatures,
        length,
        model.generation_stops,
        top_k,
        top_p,
        torch.Generator().manual_seed(rng_seed),
    )


def column_text(column) -> object:
    return column.query_one(".sweep-text", Static).content


def test_a_temperature_sweep_shows_one_column_per_temperature_with_sweeps_mean_bits(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=WIDE) as pilot:
            screen = await open_sweep(pilot, app)
            box = screen.query_one("#sweep-temperatures", Input)
            assert app.focused is box
            box.value = "0.3, 1 2.5"
            await pilot.press("enter")
            got = await drawn(pilot, screen)
            want = direct(tiny_model, "The ", [0.3, 1.0, 2.5], 60, 7)
            assert [s.temperature for s in got] == [0.3, 1.0, 2.5]
            assert [(s.text, s.bits) for s in got] == [(s.text, s.bits) for s in want]
            columns = list(screen.query(".sweep-column"))
            assert len(columns) == 3
            headings = [c.border_title for c in columns]
            assert headings == [
                f"T {t:g} · {s.mean_bits:.2f} bits/char" for t, s in zip([0.3, 1, 2.5], want, strict=False)
            ]
            shown = screen_text(app)
            assert all(h in shown for h in headings)
            # side by side at 160 columns: one row of columns, left to right
            regions = [c.region for c in columns]
            assert len({r.y for r in regions}) == 1 and regions[0].x < regions[1].x < regions[2].x
            # each character coloured by the probability the model gave it, as the playground colours
            for column, sample in zip(columns, want, strict=False):
                text, at = column_text(column), 0
                for ch, bits in zip(sample.text, sample.bits, strict=False):
                    piece = safe_char(ch)  # a tab as spaces, a control character as its symbol
                    assert text.plain[at : at + len(piece)] == piece
                    assert text.get_style_at_offset(app.console, at).color == prob_style(2.0**-bits).color
                    at += len(piece)
                assert at == len(text.plain)
            # the same settings again: the same samples (a Seed# is set); escape closes
            await pilot.press("ctrl+r")
            again = await drawn(pilot, screen)
            assert [s.text for s in again] == [s.text for s in want]
            await pilot.press("escape")
            assert not isinstance(app.screen, SweepScreen)

    run(body())


def test_n_samples_at_the_current_settings_stack_at_80_columns(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            screen = await open_sweep(pilot, app, seed="a", length=30, rng_seed="3")
            app.query_one("#top-k", Input).value = "5"  # read when the screen opened: not this sweep's
            screen.query_one("#sweep-count", Input).value = "4"
            screen.query_one("#sweep-count", Input).focus()
            await pilot.pause()
            await pilot.press("enter")
            got = await drawn(pilot, screen)
            want = direct(tiny_model, "a", [0.8] * 4, 30, 3)  # the slider's 0.8, top-k off as when opened
            assert [(s.temperature, s.text) for s in got] == [(s.temperature, s.text) for s in want]
            columns = list(screen.query(".sweep-column"))
            assert len(columns) == 4 and all(c.border_title.startswith("T 0.8 · ") for c in columns)
            assert len({c.region.x for c in columns}) == 1  # stacked: one above the other
            assert columns[0].region.y < columns[1].region.y

    run(body())


def test_bad_lists_and_counts_are_refused_with_the_reason(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            screen = await open_sweep(pilot, app)
            await pilot.press("ctrl+r")
            assert "Nothing to draw again yet" in screen_text(app)
            box = screen.query_one("#sweep-temperatures", Input)
            for value, words in (
                ("0, abc, 500", ["0 is not above 0", "'abc' is not a number", "500 is not above 0 and at most 100"]),
                ("", ["Type one or more temperatures"]),
                (", ".join(["1"] * 17), ["At most 16 temperatures at once"]),
                ("nan, inf", ["nan is not above 0", "inf is not above 0"]),
            ):
                box.value = value
                box.focus()
                await pilot.pause()
                await pilot.press("enter")
                await pilot.pause()
                assert screen.error is not None and all(
                    w in screen.error or w in screen.error.capitalize() for w in words
                ), (value, screen.error)
                assert words[0] in " ".join(screen_text(app).split())
                assert not screen.drawing and not screen.samples and not screen.query(".sweep-column")
            count = screen.query_one("#sweep-count", Input)
            for value in ("0", "17"):
                count.value = value
                count.focus()
                await pilot.pause()
                await pilot.press("enter")
                await pilot.pause()
                assert "whole number from 1 to 16" in screen.error and not screen.samples
            assert isinstance(app.screen, SweepScreen)  # refused, not crashed

    run(body())


def test_the_sweep_uses_the_newest_training_weights(tiny_snapshot):
    async def body():
        from tui_gen.app.playground_model import from_snapshot

        app = make_app()
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("w")
            assert "There is no model yet" in notes(app)[-1] and not isinstance(app.screen, SweepScreen)
            app.playground.offer_snapshot(tiny_snapshot)  # what a Snapshot event from training does
            screen = await open_sweep(pilot, app, seed="", length=40, rng_seed="11")
            await pilot.press("enter")
            got = await drawn(pilot, screen)
            want = direct(from_snapshot(tiny_snapshot), "", [0.5, 0.8, 1.2], 40, 11)
            assert [s.text for s in got] == [s.text for s in want] and len(got) == 3
            # the model built for the sweep is kept by the playground
            await wait_for(pilot, lambda: app.playground.model is not None, what="the playground to keep it")
            assert app.playground.model.step == tiny_snapshot.step

    run(body())


def test_a_seed_the_model_cannot_read_is_refused_with_the_reason(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            screen = await open_sweep(pilot, app, seed="café ☕")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.drawing, what="the refusal")
            assert "the seed has characters the model never saw: 'é', '☕'" in screen.error
            assert not screen.samples and isinstance(app.screen, SweepScreen)

    run(body())


def test_the_palette_opens_the_sweep(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await choose(pilot, app, "Sweep temperatures")
            await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), what="the sweep screen")

    run(body())
