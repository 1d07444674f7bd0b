"""The playground's score mode (ctrl+e), through Pilot with the tiny real model: the colours and the
bits/char are TextScorer's, typing re-scores after a pause, the cursor shows the model's candidates,
and a huge paste, escape sequences, unknown characters and an empty box are handled."""

from __future__ import annotations

import math

from textual import events

from support.pilot import choose, notes, run, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.widgets.next_char_panel import NextCharPanel
from tui_gen.app.widgets.score_pane import BOX_LIMIT, HINT, SCORE_LIMIT, ScoreBox
from tui_gen.app.widgets.stream_view import UNKNOWN_STYLE, prob_style

NARROW = (80, 24)


def make_app(model=None) -> TuiGenApp:
    return TuiGenApp(LaunchOptions(train=False, models_dir="models-test-unused"), model=model, warm_up=False)


def reference(model, text: str):
    from tui_gen.model.score import TextScorer

    return TextScorer(model.model, model.vocab, model.framing).score(text)


def peaked(model, favourite: str = "e"):
    """The tiny model with `favourite` made likely everywhere (about 90%): a text of it and others is
    green and red, not the untrained model's uniform red."""
    import copy
    from dataclasses import replace

    import torch

    net = copy.deepcopy(model.model)
    with torch.no_grad():
        net.head.bias[model.vocab.id_of(favourite)] += 7.0
    return replace(model, model=net)


def shown_styles(view) -> list:
    """The style of each character in the coloured view, in order (line breaks left out)."""
    return [style for line in view._lines for text, style in line for _ in text]


async def score_mode(pilot, app):
    await pilot.press("2")
    await pilot.press("ctrl+e")
    pane = app.playground.score_pane
    await wait_for(pilot, lambda: isinstance(app.focused, ScoreBox), what="the score box to take the focus")
    return pane


async def scored(pilot, pane, text: str):
    await wait_for(pilot, lambda: pane.result is not None and pane.result.text == text, what=f"{text!r} scored")
    return pane.result


def test_score_mode_colours_and_reports_what_the_scorer_computes(tiny_model):
    model = peaked(tiny_model)

    async def body():
        app = make_app(model)
        async with app.run_test(size=NARROW) as pilot:
            pane = await score_mode(pilot, app)
            assert app.playground.scoring and pane.label_text == HINT  # empty: a hint
            text = "The eel sees.\nOn the tee!"
            pane.box.load_text(text)
            result = await scored(pilot, pane, text)
            ref = reference(model, text)
            assert math.isclose(result.bits_per_char, ref.bits_per_char, rel_tol=1e-9)
            assert f"{ref.bits_per_char:.3f} bits/char over {ref.chars_scored:,} characters" in pane.label_text
            assert ref.scored.all() and ref.unknown == 0  # a stream model starts after a line break
            expected = [prob_style(p) for ch, p in zip(text, ref.prob, strict=False) if ch != "\n"]
            assert shown_styles(pane.view) == expected and len(set(expected)) > 1
            # ctrl+e again: back to writing, the seed box focused
            await pilot.press("ctrl+e")
            await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "seed", what="the seed box")
            assert not app.playground.scoring

    run(body())


def test_typing_rescores_after_a_pause_and_the_cursor_shows_the_candidates(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            pane = await score_mode(pilot, app)
            await pilot.press(*"Hello")
            await scored(pilot, pane, "Hello")
            requests = pane._request
            box = pane.box
            for ch in " you":  # five edits in a row, no pause between them: one scoring after them
                box.insert(ch)
            await scored(pilot, pane, "Hello you")
            assert pane._request - requests < 4  # debounced: not one scoring per edit
            ref = reference(tiny_model, "Hello you")
            assert math.isclose(pane.result.bits_per_char, ref.bits_per_char, rel_tol=1e-9)
            # the cursor on character 6 ("y"): the model's candidates there, and the character's probability
            box.move_cursor((0, 6))
            panel = app.query_one(NextCharPanel)
            await wait_for(
                pilot, lambda: panel.chosen == "y" and pane.view.cursor == 6, what="the panel to follow the cursor"
            )
            assert panel.top == ref.candidates(6) and len(panel.top) == 5
            assert f"{ref.prob[6] * 100:.1f}%" in panel.note and f"{ref.bits[6]:.2f} bits" in panel.note
            # the coloured view's own cursor (escape leaves the box for it) moves the panel too
            await pilot.press("escape")
            assert app.focused is pane.view
            await pilot.press("right")
            await wait_for(pilot, lambda: panel.chosen == "o", what="the panel to follow the view's cursor")
            assert pane.view.cursor == 7 and panel.top == ref.candidates(7)

    run(body())


def test_a_megabyte_paste_is_cut_with_a_notice_and_the_app_keeps_answering(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            pane = await score_mode(pilot, app)
            huge = ("All work and no play makes Jack a dull boy. " * 24 + "\n") * 950
            assert len(huge) > 1_000_000
            pane.box.post_message(events.Paste(huge))
            await wait_for(pilot, lambda: any("Text cut" in n for n in notes(app)), what="the notice")
            assert f"{len(huge):,} characters" in notes(app)[-1] and f"{BOX_LIMIT:,}" in notes(app)[-1]
            assert len(pane.box.text) == BOX_LIMIT and not pane.box.soft_wrap
            # keys are answered while it scores: one typed now shows in the box
            await pilot.press("end", "!")
            assert pane.box.text.endswith("!")
            await wait_for(
                pilot,
                lambda: pane.result is not None and len(pane.result.text) == SCORE_LIMIT,
                timeout=180,
                what="the prefix to be scored",
            )
            assert f"only the first {SCORE_LIMIT:,} of {BOX_LIMIT + 1:,} characters are scored" in pane.label_text

    run(body())


def test_escape_sequences_are_drawn_as_symbols_and_unknown_characters_marked(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            pane = await score_mode(pilot, app)
            text = "ab\x1b[31mred\x07x"
            pane.box.load_text(text)
            result = await scored(pilot, pane, text)
            assert result.unknown == 2  # ESC and BEL are outside the tiny model's vocabulary
            assert "2 unknown (underlined)" in pane.label_text
            await pilot.pause()
            box_row = "".join(s.text for s in pane.box.render_line(0))
            view_row = "".join(s.text for s in pane.view.render_line(0))
            for row in (box_row, view_row):
                assert "\x1b" not in row and "\x07" not in row
                assert "␛[31mred␇x" in row
            styles = shown_styles(pane.view)
            assert [i for i, st in enumerate(styles) if st is UNKNOWN_STYLE] == [2, 10]

    run(body())


def test_the_palette_opens_score_mode_and_it_scores_with_training_s_newest_weights(tiny_model, tiny_snapshot):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await choose(pilot, app, "Score text")
            pg = app.playground
            await wait_for(pilot, lambda: pg.scoring and isinstance(app.focused, ScoreBox), what="score mode")
            pane = pg.score_pane
            text = "abc def"
            pane.box.load_text(text)
            first = await scored(pilot, pane, text)
            assert math.isclose(first.bits_per_char, reference(tiny_model, text).bits_per_char, rel_tol=1e-9)
            # weights from training arrive: scored again with them
            pg.offer_snapshot(tiny_snapshot)
            from tui_gen.app.playground_model import from_snapshot

            trained = from_snapshot(tiny_snapshot)
            want = reference(trained, text).bits_per_char
            # The built model reaches the playground as a bubbled message, a moment apart from the result.
            await wait_for(
                pilot,
                lambda: pane.result is not first and pg.model is not tiny_model,
                what="the text scored with the new weights, and the playground given them",
            )
            assert math.isclose(pane.result.bits_per_char, want, rel_tol=1e-6)
            assert pg.model is not tiny_model and pg.model.step == tiny_snapshot.step  # the snapshot was built

    run(body())
