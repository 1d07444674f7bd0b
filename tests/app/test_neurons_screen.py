"""The neuron explorer (n), through Pilot with tiny real models: the ranked list is explore()'s, the
text is coloured by the chosen unit's activation, the keys step through units and layers, and bad
input (a bad regex, a huge paste, control characters, too little text) is a notice, not a crash."""

from __future__ import annotations

import numpy as np
import pytest
from textual import events
from textual.widgets import DataTable, Input, TextArea

from support.pilot import choose, notes, run, screen_text, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens.neurons import MAX_CHARS, NeuronScreen
from tui_gen.app.widgets import StreamView
from tui_gen.app.widgets.activation_view import PALETTE, ActivationView

WIDE = (160, 48)
NARROW = (80, 24)
TEXT = 'He said "no (not now)" and left.\nThen "yes" @bob #tag http://x.co ok\n' * 3


@pytest.fixture(scope="module")
def lstm_model():
    """Two LSTM layers of different sizes: h1, h2 and cell states c1, c2 to step through."""
    import torch

    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import CharRNN, ModelConfig

    torch.manual_seed(1)
    vocab = Vocab(sorted(set(TEXT)))
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[6, 4], cell="lstm", embedding_dim=4)).eval()
    return PlaygroundModel(model, vocab, "lines", ("\n",), "checkpoint", step=5, path="lstm.safetensors")


def make_app(model=None) -> TuiGenApp:
    return TuiGenApp(LaunchOptions(train=False, models_dir="models-test-unused"), model=model, warm_up=False)


async def open_explorer(pilot, app) -> NeuronScreen:
    await pilot.press("2")
    await wait_for(pilot, lambda: app.focused is not None and app.focused.id == "seed", what="the seed box")
    await pilot.press("escape")
    await pilot.press("n")
    await wait_for(
        pilot, lambda: isinstance(app.screen, NeuronScreen) and app.screen.query("#neurons-view"), what="the explorer"
    )
    return app.screen


async def explore_text(pilot, screen: NeuronScreen, text: str, regex: str = "") -> None:
    screen.query_one("#neurons-text", TextArea).text = text
    screen.query_one("#neurons-regex", Input).value = regex
    before = screen.request
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: screen.request > before and not screen.exploring, what="the text read")
    await pilot.pause()


def shown_warmth(view: ActivationView) -> tuple[str, list[int]]:
    """What the view draws, row by row through render_line (the screen's own path): the characters
    and how warm each one's background is (above 0 red, the deeper the larger; below 0 blue)."""
    from rich.color import Color

    palette = {Color.parse(c).triplet for c in PALETTE}  # which the colours are is not assumed
    chars, warmth = [], []
    start = view.scroll_offset.y
    for y in range(view.virtual_size.height):
        view.scroll_to(0, y, animate=False, immediate=True, force=True)
        strip = view.render_line(y - view.scroll_offset.y)
        for seg in strip:
            rgb = seg.style.bgcolor.triplet if seg.style and seg.style.bgcolor else None
            if rgb not in palette:
                continue  # the padding after the row's end
            # a diverging palette: the hue says the side (red above 0, blue below), the depth how far
            side = (rgb.red > rgb.blue) - (rgb.red < rgb.blue)
            for c in seg.text:
                chars.append(c)
                warmth.append(side * (765 - rgb.red - rgb.green - rgb.blue))
    view.scroll_to(0, start, animate=False, immediate=True, force=True)
    return "".join(chars), warmth


def assert_colours_follow(view: ActivationView, values: np.ndarray, text: str) -> None:
    """The colours follow the values: the larger, the redder; clearly above 0 red, below 0 blue; the
    largest |value| the most saturated."""
    chars, warmth = shown_warmth(view)
    assert chars == text.replace("\n", "⏎")  # one cell per character in these texts
    warmth = np.array(warmth)
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(warmth[order]) >= 0), "a larger activation drawn less red"
    scale = np.abs(values).max()
    assert np.all(warmth[values > 0.1 * scale] > 0) and np.all(warmth[values < -0.1 * scale] < 0)
    extreme = int(np.abs(values).argmax())
    assert abs(warmth[extreme]) == np.abs(warmth).max()
    assert len(set(warmth.tolist())) > 2  # graded, not two colours


def test_the_explorer_lists_explores_ranking_and_colours_the_text_by_the_chosen_unit(tiny_model):
    async def body():
        from tui_gen.model.neurons import explore

        app = make_app(tiny_model)
        async with app.run_test(size=WIDE) as pilot:
            pg = app.playground
            pg.pace = None
            app.query_one("#seed", Input).value = "Hi"
            app.query_one("#length", Input).value = "50"
            assert pg.generate()
            await wait_for(pilot, lambda: pg.last_end is not None, what="the generation")
            screen = await open_explorer(pilot, app)
            # the playground's last output is the text, and it is read at once
            assert screen.query_one("#neurons-text", TextArea).text == app.query_one(StreamView).text
            await wait_for(pilot, lambda: screen.result is not None, what="the first reading")
            await explore_text(pilot, screen, TEXT)
            acts, ranked = explore(tiny_model.model, tiny_model.vocab, tiny_model.framing, TEXT, 5)
            table = screen.query_one(DataTable)
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            assert rows == [
                [u.feature, f"{u.layer}:{u.unit}", f"{u.correlation:+.2f}"] for units in ranked.values() for u in units
            ]
            assert "inside quotes" in ranked and "inside a URL" in ranked
            view = screen.query_one(ActivationView)
            first = next(iter(ranked.values()))[0]
            assert (screen.unit_layer, screen.unit) == (first.layer, first.unit)
            assert (
                f"{first.layer}:{first.unit} · {first.feature}: r = {first.correlation:+.3f} (ranked #1)"
                in screen.unit_words
            )
            assert screen.unit_words[:30] in screen_text(app)
            assert_colours_follow(view, acts.unit(first.layer, first.unit), TEXT)
            # down the list: its next unit, and the colours follow that one
            await pilot.press("down")
            await pilot.pause()
            second = [u for units in ranked.values() for u in units][1]
            assert (screen.unit_layer, screen.unit) == (second.layer, second.unit)
            assert_colours_follow(view, acts.unit(second.layer, second.unit), TEXT)

    run(body())


def test_keys_step_through_the_units_and_layers(lstm_model):
    async def body():
        from tui_gen.model.neurons import collect_activations

        app = make_app(lstm_model)
        async with app.run_test(size=NARROW) as pilot:
            screen = await open_explorer(pilot, app)
            await explore_text(pilot, screen, TEXT)
            acts = collect_activations(lstm_model.model, lstm_model.vocab, "lines", TEXT)
            assert list(acts.layers) == ["h1", "h2", "c1", "c2"]
            assert app.focused is screen.query_one(DataTable)
            screen.query_one(DataTable).move_cursor(row=0)
            await pilot.pause()
            start_layer, start_unit = screen.unit_layer, screen.unit
            size = acts.layers[start_layer].shape[1]
            view = screen.query_one(ActivationView)
            await pilot.press("right_square_bracket")
            assert (screen.unit_layer, screen.unit) == (start_layer, (start_unit + 1) % size)
            await pilot.press("left_square_bracket", "left_square_bracket")
            assert (screen.unit_layer, screen.unit) == (start_layer, (start_unit - 1) % size)
            assert screen.unit_words.startswith(f"{start_layer}:{(start_unit - 1) % size} · ")
            assert_colours_follow(view, acts.unit(start_layer, (start_unit - 1) % size), TEXT)
            # through the layers in order, the unit kept where the layer has it (h2 and c2 have 4)
            names = list(acts.layers)
            screen.unit = 5 if acts.layers[start_layer].shape[1] == 6 else 3
            layer = start_layer
            for _ in range(4):
                await pilot.press("right_curly_bracket")
                layer = names[(names.index(layer) + 1) % 4]
                assert screen.unit_layer == layer and screen.unit < acts.layers[layer].shape[1]
            await pilot.press("left_curly_bracket")
            assert screen.unit_layer == names[(names.index(layer) - 1) % 4]
            # or by name
            goto = screen.query_one("#neurons-goto", Input)
            for name, ok in (("c2:3", True), ("c2:4", False), ("h9:0", False), ("h1", False), ("h2:1", True)):
                goto.value = name
                goto.focus()
                await pilot.pause()
                await pilot.press("enter")
                if ok:
                    assert f"{screen.unit_layer}:{screen.unit}" == name and screen.unit_words.startswith(name)
                else:
                    assert f"No such unit: There is no unit {name!r}" in notes(app)[-1]
                    assert "h2 (units 0 to 3)" in notes(app)[-1]
            await pilot.pause()
            assert (screen.unit_layer, screen.unit) == ("h2", 1)
            assert_colours_follow(view, acts.unit("h2", 1), TEXT)
            assert "r = " in screen.unit_words  # its r with the feature of the highlighted row

    run(body())


def test_a_bad_regex_is_a_notice_and_a_good_one_is_ranked(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            screen = await open_explorer(pilot, app)
            await explore_text(pilot, screen, TEXT)
            kept = screen.result
            box = screen.query_one("#neurons-regex", Input)
            box.value = "([a-z"
            box.focus()
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert "Bad regex: The regular expression '([a-z' is not valid" in notes(app)[-1]
            assert isinstance(app.screen, NeuronScreen) and screen.result is kept and not screen.exploring
            await explore_text(pilot, screen, TEXT, regex="[A-Z]\\w+")
            assert "matches [A-Z]\\w+" in screen.result.ranked
            assert any(u.feature == "matches [A-Z]\\w+" for u in screen.rows)
            # a pattern that backtracks for ages would hold the GIL, and the screen with it: refused
            await explore_text(pilot, screen, "a" * 40 + "b\n" + TEXT, regex="(a+)+$")
            assert "Cannot read the text: The regular expression '(a+)+$' takes over 3 s" in notes(app)[-1]
            assert screen.result is not None and "matches (a+)+$" not in screen.result.ranked
            await explore_text(pilot, screen, TEXT, regex="zzz")
            assert "not in this text, so not ranked:" in screen_text(app).replace("\n", " ")
            assert "matches zzz" not in screen.result.ranked

    run(body())


def test_huge_pastes_control_characters_and_too_little_text(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            screen = await open_explorer(pilot, app)
            area = screen.query_one("#neurons-text", TextArea)
            area.text = ""
            area.focus()
            await pilot.pause()
            app.post_message(events.Paste("x" * (1 << 20)))  # 1 MB pasted
            await wait_for(pilot, lambda: len(area.text) == MAX_CHARS, what="the paste, cut")
            assert "The pasted text has 1,048,576 characters; the box keeps at most 20,000" in notes(app)[-1]
            await explore_text(pilot, screen, area.text + "ab")
            assert len(screen.result.text) == MAX_CHARS and "reads its first 20,000" in notes(app)[-1]
            # escape sequences and controls are symbols, never sent to the terminal
            hostile = "ok \x1b[31mred\x1b[0m \x07bell\tend\r\n" * 2
            area.text = ""
            area.focus()  # a reading moves the focus to the units: back to the box to paste
            await pilot.pause()
            assert app.focused is area
            app.post_message(events.Paste(hostile))  # as the terminal's paste comes: to the focused box
            await wait_for(pilot, lambda: area.text, what="the paste")
            assert area.text == "ok ␛[31mred␛[0m ␇bell\tend\n" * 2, repr(area.text)
            await explore_text(pilot, screen, area.text)
            view = screen.query_one(ActivationView)
            chars, _ = shown_warmth(view)
            assert "\x1b" not in chars and "␛[31m" in chars and "␇bell" in chars
            assert "\x1b" not in screen_text(app)
            area.text = "a"
            before = screen.request
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert "at least 2 characters" in screen_text(app) and screen.request == before
            await pilot.press("escape")
            assert not isinstance(app.screen, NeuronScreen)

    run(body())


def test_the_palette_opens_the_explorer(tiny_model):
    async def body():
        app = make_app(tiny_model)
        async with app.run_test(size=NARROW) as pilot:
            await choose(pilot, app, "Neuron explorer")
            await wait_for(pilot, lambda: isinstance(app.screen, NeuronScreen), what="the explorer")

    run(body())


def test_with_nothing_written_it_reads_trainings_newest_samples_or_waits_in_the_box(lstm_model):
    from tui_gen.app.widgets.samples_panel import SamplesPanel

    async def body():
        app = make_app(lstm_model)
        async with app.run_test(size=WIDE) as pilot:
            screen = await open_explorer(pilot, app)  # nothing written, no samples: the box has the focus
            assert screen.query_one("#neurons-text", TextArea).text == ""
            assert app.focused is screen.query_one("#neurons-text", TextArea)
            await pilot.press("escape")
            app.query_one(SamplesPanel).add(10, 0.8, [("He said ", '"no" and left.'), ("Then ", "yes @bob")])
            screen = await open_explorer(pilot, app)
            assert screen.query_one("#neurons-text", TextArea).text == 'He said "no" and left.\nThen yes @bob'

    run(body())


def test_g_switches_to_the_gates_and_back(tiny_model):
    """The GRU's update and reset gates are read, ranked and coloured (around 0.5: blue shut, red open),
    and `{` `}` step through them; g again gives the hidden units back."""

    async def body():
        from tui_gen.model.neurons import explore

        app = make_app(tiny_model)
        async with app.run_test(size=WIDE) as pilot:
            screen = await open_explorer(pilot, app)
            await explore_text(pilot, screen, TEXT)
            assert app.focused is screen.query_one(DataTable)
            before = screen.request
            await pilot.press("g")
            await wait_for(pilot, lambda: screen.request > before and not screen.exploring, what="the gates read")
            await pilot.pause()
            acts, ranked = explore(tiny_model.model, tiny_model.vocab, tiny_model.framing, TEXT, 5, show="gates")
            assert screen.show == "gates" and list(screen.result.acts.layers) == ["z1", "r1"]
            table = screen.query_one(DataTable)
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            assert rows == [[u.feature, u.name, f"{u.correlation:+.2f}"] for units in ranked.values() for u in units]
            assert "32 gate units (GRU 16: z1: update gate, 1 keeps the state; r1: reset gate" in screen_text(app)
            first = next(iter(ranked.values()))[0]
            assert screen.unit_words.startswith(f"{first.name} ({'update' if first.layer == 'z1' else 'reset'} gate")
            values = acts.unit(first.layer, first.unit)
            assert_colours_follow(screen.query_one(ActivationView), values - 0.5, TEXT)
            assert f"from {values.min():.2f} to {values.max():.2f}" in screen.unit_words
            await pilot.press("right_curly_bracket")
            assert screen.unit_layer == ("r1" if first.layer == "z1" else "z1")
            before = screen.request
            await pilot.press("g")
            await wait_for(pilot, lambda: screen.request > before and not screen.exploring, what="the units read")
            assert screen.show == "hidden" and list(screen.result.acts.layers) == ["h1"]

    run(body())


def test_g_on_a_model_without_gates_is_a_notice(tiny_model):
    import torch

    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.model.network import CharRNN, ModelConfig

    torch.manual_seed(0)
    rnn = CharRNN(ModelConfig(vocab_size=len(tiny_model.vocab), hidden_sizes=[8], cell="rnn")).eval()
    model = PlaygroundModel(rnn, tiny_model.vocab, "lines", ("\n",), "checkpoint", step=1, path="rnn.safetensors")

    async def body():
        app = make_app(model)
        async with app.run_test(size=NARROW) as pilot:
            screen = await open_explorer(pilot, app)
            await explore_text(pilot, screen, TEXT)
            before = screen.request
            await pilot.press("g")
            await pilot.pause()
            assert "No gates: This model's cell (RNN) has no gates" in notes(app)[-1]
            assert screen.show == "hidden" and screen.request == before

    run(body())
