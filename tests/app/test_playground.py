"""The playground's drawing settings and its waiting, through Pilot with a tiny real model."""

from __future__ import annotations

from textual.widgets import Input

from support.pilot import notes, run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.widgets import StreamView

NARROW = (80, 24)


def make_app(model=None) -> TuiGenApp:
    return TuiGenApp(LaunchOptions(train=False, models_dir="models-test-unused"), model=model, warm_up=False)


async def write(pilot, app, seed: str = "The ", length: int = 120) -> str:
    """Generate from `seed` with the playground's current settings; the text written."""
    pg = app.playground
    pg.pace = None
    app.query_one("#seed", Input).value = seed
    app.query_one("#length", Input).value = str(length)
    before = pg._generation
    assert pg.generate()
    await wait_for(pilot, lambda: pg._generation > before and pg.last_end is not None, what="the generation to end")
    return app.query_one(StreamView).text[len(seed) :]


def test_a_seed_number_writes_the_same_text_again_and_top_p_narrows_the_draw(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")
            seed_box = app.query_one("#rng-seed", Input)
            seed_box.value = "42"
            first = await write(pilot, app)
            again = await write(pilot, app)
            seed_box.value = "43"
            other = await write(pilot, app)
            assert len(first) == 120 and first == again and other != first
            seed_box.value = ""  # a fresh draw each time
            assert await write(pilot, app) != await write(pilot, app)
            # top-p this small keeps only the likeliest character: nothing random is left to draw
            app.query_one("#top-p", Input).value = "0.0001"
            seed_box.value = "1"
            a = await write(pilot, app)
            seed_box.value = "2"
            assert await write(pilot, app) == a

    run(body())


def test_bad_top_p_and_seed_numbers_are_refused_with_the_reason(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")
            pg = app.playground
            for box, value, words in (
                ("#top-p", "1.5", "Top-p must be a number above 0 and at most 1"),
                ("#top-p", "0", "Top-p must be a number above 0 and at most 1"),
                ("#rng-seed", "-3", "Seed# must be a whole number from 0 to 4,294,967,295"),
            ):
                app.query_one("#top-p", Input).value = "1"
                app.query_one("#rng-seed", Input).value = ""
                app.query_one(box, Input).value = value
                assert not pg.generate()
                assert words in notes(app)[-1]
                await pilot.pause()  # focus() lands on the next frame
                assert app.focused.id == box.lstrip("#") and not pg.generating

    run(body())


def test_enter_while_a_checkpoint_loads_waits_for_it(tiny_model):
    async def body():
        app = make_app()
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")
            pg = app.playground
            pg.pace = None
            pg.expect_model()  # what opening a checkpoint does while it loads
            app.query_one("#seed", Input).value = "Hi"
            await pilot.press("enter")
            assert not notes(app) and "loading the checkpoint" in pg.label_text and not pg.generating
            pg.set_model(tiny_model, pin=True)  # it has loaded: the held request runs
            await wait_for(pilot, lambda: pg.last_end is not None, what="the held generation to run")
            assert app.query_one(StreamView).text.startswith("Hi") and pg.generated > 0
            # a load that fails drops what was held, quietly (its error is the app's notice)
            app2_model = pg.model
            pg.model = None
            pg.expect_model()
            await pilot.press("enter")
            pg.expect_model(False)
            pg.model = app2_model
            await pilot.pause()
            assert pg._waiting is None

    run(body())
