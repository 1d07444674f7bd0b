"""Branching in the playground, through Pilot with the tiny real model: once a generation has stopped,
a cursor in the output picks a position, a candidate picked there (a number key or a click) writes on
from it, and [ and ] go back and forth between the branches, each as it was left."""

from __future__ import annotations

from textual.widgets import Input

from support.pilot import run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.widgets.next_char_panel import NextCharPanel
from tui_gen.core.textsafe import visible  # the view's text: tabs shown as spaces

NARROW = (80, 24)
SEED = "The "
LENGTH = 40


def make_app(model=None) -> TuiGenApp:
    return TuiGenApp(LaunchOptions(train=False, models_dir="models-test-unused"), model=model, warm_up=False)


async def written(pilot, app) -> str:
    """Generate from SEED with a fixed random seed; the generated text (the branch's own characters)."""
    pg = app.playground
    pg.pace = None
    app.query_one("#seed", Input).value = SEED
    app.query_one("#length", Input).value = str(LENGTH)
    app.query_one("#rng-seed", Input).value = "7"
    assert pg.generate()
    await ended(pilot, pg)
    return pg.branches.current.text


async def ended(pilot, pg) -> None:
    await wait_for(pilot, lambda: pg.last_end is not None and not pg.generating, what="the generation to end")
    await pilot.pause()


def test_a_picked_candidate_is_written_at_the_cursor_and_the_earlier_branch_is_kept(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")
            pg = app.playground
            first = await written(pilot, app)
            assert len(first) == LENGTH and app.query_one("#output").text.startswith(SEED)
            out, panel = pg.output, app.query_one(NextCharPanel)
            out.focus()
            await pilot.pause()
            assert out.cursor == len(SEED) + LENGTH - 1  # finished: the cursor on the last character
            for _ in range(25):
                await pilot.press("left")
            i = LENGTH - 1 - 25
            assert out.cursor == len(SEED) + i
            tokens = list(pg.branches.current.tokens)
            assert panel.top == tokens[i].top and panel.chosen == first[i] and len(panel.top) == 5
            # candidate 3 (the third likeliest there), picked with the number key
            k = 3
            want = panel.top[k - 1][0]
            await pilot.press(str(k))
            assert app.active_pane == "playground"  # the digit picked: it did not switch panes
            await ended(pilot, pg)
            second = pg.branches.current.text
            assert second[:i] == first[:i] and second[i] == want and len(second) == LENGTH
            assert app.query_one("#output").text == visible(SEED + second)
            assert "branch 2 of 2" in pg.label_text and out.border_title == "output · branch 2 of 2"
            # back: the first branch, intact, with its cursor where it branched; forward again
            await pilot.press("left_square_bracket")
            assert pg.branches.current.text == first and app.query_one("#output").text == visible(SEED + first)
            assert [t.top for t in pg.branches.current.tokens] == [t.top for t in tokens]
            assert "branch 1 of 2" in pg.label_text
            await pilot.press("right_square_bracket")
            assert app.query_one("#output").text == visible(SEED + second) and "branch 2 of 2" in pg.label_text
            assert out.cursor == len(SEED) + i  # the new branch shows where it differs

    run(body())


def test_a_click_on_a_candidate_branches_and_digits_elsewhere_switch_panes(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")
            pg = app.playground
            first = await written(pilot, app)
            panel = app.query_one(NextCharPanel)
            # a click on a character of the output puts the cursor there
            out = pg.output
            await pilot.click("#output", offset=(1 + len(SEED) + 2, 1))  # the border, the seed, 2 more
            await wait_for(pilot, lambda: out.cursor == len(SEED) + 2, what="the cursor under the click")
            assert panel.chosen == first[2]
            # a click on the panel's second row: the second candidate, written at position 2
            want = panel.top[1][0]
            await pilot.click("#next-char", offset=(3, 1 + 1))  # the border, then row 1
            await ended(pilot, pg)
            assert pg.branches.current.text[:3] == first[:2] + want and len(pg.branches.items) == 2
            # digits while the seed box has focus type into it; elsewhere (the slider) they switch panes
            seed = app.query_one("#seed", Input)
            seed.focus()
            await pilot.press("end", "5")
            assert seed.value == SEED + "5" and len(pg.branches.items) == 2
            app.query_one("#temperature").focus()
            await pilot.press("3")
            assert app.active_pane == "samples" and len(pg.branches.items) == 2

    run(body())


def test_nothing_is_picked_while_writing_and_a_new_generation_starts_afresh(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.press("2")
            pg = app.playground
            await written(pilot, app)
            pg.output.focus()
            await pilot.press("1")
            await ended(pilot, pg)
            assert len(pg.branches.items) == 2
            pg.pace = 5.0  # slow enough to still be writing when the key comes
            app.query_one("#length", Input).value = "400"
            assert pg.generate()
            await wait_for(pilot, lambda: pg.generated > 0, what="writing to start")
            assert len(pg.branches.items) == 1 and pg.branches.label() == ""  # a fresh seed's branches
            assert not pg.pick(0) and pg.output.cursor is None
            pg.stop()
            await pilot.pause()
            assert pg.output.cursor is not None and pg.pick(0)

    run(body())


def test_the_output_cursor_covers_each_character_whatever_its_width():
    from textual.app import App

    from tui_gen.app.widgets.stream_view import CURSOR_STYLE, StreamView

    class ViewApp(App):
        def compose(self):
            yield StreamView()

    async def body():
        app = ViewApp()
        async with app.run_test(size=(30, 6)) as pilot:
            view = app.query_one(StreamView)
            text = "a\tb字\x1bc\nd"
            view.append_seed(text)
            await pilot.pause()
            shown = {0: "a", 1: "    ", 2: "b", 3: "字", 4: "␛", 5: "c", 6: " ", 7: "d"}  # 6: the line break
            for i, want in shown.items():
                view.set_cursor(i, floor=0)
                row = 1 if i == 7 else 0
                cells = [s.text for s in view.render_line(row) if s.style and s.style.reverse]
                assert "".join(cells) == want, i
            layout = view._layout
            assert [layout.char_at(0, col) for col in (0, 1, 4, 5, 6, 7, 8, 9)] == [0, 1, 1, 2, 3, 3, 4, 5]
            assert layout.char_at(1, 0) == 7
            view.set_cursor(99)  # kept within the text
            assert view.cursor == len(text) - 1 and CURSOR_STYLE.reverse

    run(body())
