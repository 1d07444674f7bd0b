"""Pilot tests for the three standalone widgets (slider, stream view, loss plot)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from rich.cells import cell_len
from textual import events
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from support.pilot import run, wait_for, wheel
from tui_gen.app.widgets import LossPlot, StreamView, TemperatureSlider, decimate
from tui_gen.app.widgets.loss_plot import MIN_POINTS
from tui_gen.app.widgets.stream_view import PROB_STYLES
from tui_gen.core.textsafe import safe_char as printable

WIDTH = 60  # terminal width for the slider app; the slider spans it


# --------------------------------------------------------------------------
# TemperatureSlider


class SliderApp(App):
    def __init__(self, **slider_args) -> None:
        super().__init__()
        self.slider_args = slider_args
        self.changes: list[float] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield TemperatureSlider(id="t", **self.slider_args)
            yield Static("below", id="below")

    def on_mount(self) -> None:
        self.query_one(TemperatureSlider).focus()

    def on_temperature_slider_changed(self, message: TemperatureSlider.Changed) -> None:
        assert message.slider is self.query_one(TemperatureSlider)
        assert message.control is message.slider
        self.changes.append(message.value)


KEY_CASES = [
    ("left", 0.95),
    ("right", 1.05),
    ("shift+left", 0.75),
    ("shift+right", 1.25),
    ("pagedown", 0.75),
    ("pageup", 1.25),
    ("home", 0.05),
    ("end", 2.0),
]


def test_slider_defaults_and_validation():
    slider = TemperatureSlider()
    assert (slider.min, slider.max, slider.step, slider.big_step) == (0.05, 2.0, 0.05, 0.25)
    assert slider.value == 1.0
    assert TemperatureSlider(5.0).value == 2.0
    assert TemperatureSlider(-1.0).value == 0.05
    assert TemperatureSlider(0.73).value == 0.75  # snapped to the grid
    with pytest.raises(ValueError):
        TemperatureSlider(min=1.0, max=1.0)


def test_slider_every_key_from_one():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            assert slider.has_focus
            for key, expected in KEY_CASES:
                slider.value = 1.0
                await pilot.press(key)
                assert slider.value == expected, key  # exact: no float drift

    run(body())


def test_slider_clamps_at_both_ends():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            await pilot.press("home", "left", "shift+left", "pagedown")
            assert slider.value == 0.05
            await pilot.press("end", "right", "shift+right", "pageup")
            assert slider.value == 2.0
            # Big steps from near an end clamp rather than overshoot.
            slider.value = 1.9
            await pilot.press("pageup")
            assert slider.value == 2.0
            slider.value = 0.15
            await pilot.press("shift+left")
            assert slider.value == 0.05

    run(body())


def test_slider_small_steps_stay_on_grid():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            await pilot.press("home", *["right"] * 19)
            assert slider.value == 1.0
            await pilot.press(*["right"] * 39)
            assert slider.value == 2.0
            await pilot.press(*["left"] * 3)
            assert slider.value == 1.85
            assert slider.render().plain.endswith(" 1.85")

    run(body())


def test_slider_changed_messages():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            await pilot.press("right", "right", "home", "left")  # last one is a no-op
            await pilot.pause()
            assert app.changes == [1.05, 1.1, 0.05]

    run(body())


def test_slider_render_line():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            text = slider.render()
            assert text.plain.startswith("Temperature ")  # the word, where it fits
            assert text.plain.endswith(" 1.00")
            assert text.plain.count("●") == 1
            assert cell_len(text.plain) == slider.size.width == WIDTH
            await pilot.press("home")
            assert slider.render().plain.startswith("Temperature ●─")
            await pilot.press("end")
            assert slider.render().plain.endswith("━● 2.00")

    run(body())


def test_slider_narrow_keeps_its_track():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(30, 6)):
            slider = app.query_one(TemperatureSlider)
            text = slider.render().plain
            assert text.startswith("T ") and not text.startswith("Temperature")
            assert cell_len(text) == 30 and text.count("─") + text.count("━") == 30 - 2 - 5 - 1

    run(body())


def test_slider_focus_changes_look():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            focused = slider.get_component_rich_style("temperature-slider--knob")
            slider.blur()
            await pilot.pause()
            assert not slider.has_focus
            assert slider.get_component_rich_style("temperature-slider--knob") != focused

    run(body())


def test_slider_click_ends_of_track():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            slider.blur()
            await pilot.click(slider, offset=(WIDTH - 1, 0))
            assert slider.value == 2.0
            assert slider.has_focus  # clicking focuses it, so keys work next
            await pilot.click(slider, offset=(2, 0))  # first track cell
            assert slider.value == 0.05
            await pilot.click(slider, offset=(WIDTH - 6, 0))  # last track cell
            assert slider.value == 2.0
            await pilot.click(slider, offset=(0, 0))  # on the "T" label
            assert slider.value == 0.05
            await pilot.click(slider, offset=(WIDTH // 2, 0))
            assert 0.9 <= slider.value <= 1.15
            assert app.mouse_captured is None

    run(body())


def test_slider_drag():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            await pilot.mouse_down(slider, offset=(2, 0))
            assert slider.value == 0.05
            assert app.mouse_captured is slider
            await pilot.hover(slider, offset=(20, 0))
            mid = slider.value
            assert 0.05 < mid < 2.0
            await pilot.hover(slider, offset=(40, 0))
            assert slider.value > mid
            # Captured: a move over another widget still drives the slider.
            await pilot.hover("#below", offset=(WIDTH - 1, 0))
            assert slider.value == 2.0
            await pilot.mouse_up(slider, offset=(30, 0))
            released_at = slider.value
            assert 0.05 < released_at < 2.0
            assert app.mouse_captured is None
            # After release, plain hovering must not move it.
            await pilot.hover(slider, offset=(2, 0))
            assert slider.value == released_at

    run(body())


def test_sliderwheel():
    async def body():
        app = SliderApp()
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            await wheel(pilot, slider, events.MouseScrollUp)
            assert slider.value == 1.05
            await wheel(pilot, slider, events.MouseScrollDown)
            await wheel(pilot, slider, events.MouseScrollDown)
            assert slider.value == 0.95
            assert app.changes == [1.05, 1.0, 0.95]

    run(body())


def test_slider_custom_range():
    async def body():
        app = SliderApp(value=0.5, min=0.0, max=1.0, step=0.1, big_step=0.3)
        async with app.run_test(size=(WIDTH, 6)) as pilot:
            slider = app.query_one(TemperatureSlider)
            await pilot.press("right", "pageup")
            assert slider.value == 0.9
            await pilot.press("pageup")
            assert slider.value == 1.0

    run(body())


# --------------------------------------------------------------------------
# StreamView


class StreamApp(App):
    def compose(self) -> ComposeResult:
        yield StreamView()


def _row(view: StreamView, y: int) -> str:
    return view.render_line(y).text


@pytest.mark.parametrize(
    "ch, shown",
    [
        ("a", "a"),
        ("é", "é"),
        ("字", "字"),
        ("[", "["),
        ("\n", "\n"),
        ("\t", "    "),
        ("\x1b", "␛"),
        ("\r", "␍"),
        ("\x07", "␇"),
        ("\x00", "␀"),
        ("\x7f", "␡"),
        ("\x9b", "\ufffd"),  # C1 CSI: would start an escape sequence on some terminals
        ("\x85", "\ufffd"),
        ("\u202e", "\ufffd"),
        ("\u2028", "\ufffd"),
        ("\ud800", "\ufffd"),  # lone surrogate can't even be encoded
    ],
)
def test_printable(ch, shown):
    assert printable(ch) == shown


def test_printable_never_returns_control_chars():
    for code in list(range(0x00, 0x20)) + list(range(0x7F, 0xA0)):
        ch = chr(code)
        if ch == "\n":
            continue
        out = printable(ch)
        assert out and all(c == " " or (ord(c) >= 0xA0) for c in out), repr(ch)


def test_stream_2000_chars_text():
    async def body():
        rng = random.Random(0)
        alphabet = "abcdefghij klmnop,.\n"
        chars = "".join(rng.choice(alphabet) for _ in range(2000))
        app = StreamApp()
        async with app.run_test(size=(50, 12)) as pilot:
            view = app.query_one(StreamView)
            view.append_seed("Seed: ")
            for ch in chars:
                view.append_char(ch, rng.random())
            await pilot.pause()
            assert view.text == "Seed: " + chars
            assert view.virtual_size.height == view.row_count
            assert view.row_count >= chars.count("\n") + 1

    run(body())


def test_stream_wraps_at_width_and_newline():
    async def body():
        app = StreamApp()
        async with app.run_test(size=(30, 10)) as pilot:
            view = app.query_one(StreamView)
            width = view.scrollable_content_region.width
            assert width == 28  # 30 minus the always-reserved scrollbar gutter
            for _ in range(70):
                view.append_char("a", 0.5)
            view.append_char("\n", 0.5)
            view.append_seed("bc")
            await pilot.pause()
            assert view.row_count == 4
            assert _row(view, 0) == "a" * 28
            assert _row(view, 1) == "a" * 28
            assert _row(view, 2) == "a" * 14 + " " * 14
            assert _row(view, 3) == "bc" + " " * 26
            assert view.text == "a" * 70 + "\nbc"
            # A wider terminal re-wraps the same text.
            await pilot.resize_terminal(40, 10)
            await pilot.pause()
            assert _row(view, 0) == "a" * 38
            assert _row(view, 1) == "a" * 32 + " " * 6
            assert view.row_count == 3

    run(body())


def test_stream_wide_chars_wrap_by_cells():
    async def body():
        app = StreamApp()
        async with app.run_test(size=(13, 6)) as pilot:
            view = app.query_one(StreamView)  # 11 cells: a 6th wide char won't fit
            view.append_seed("字" * 7)
            await pilot.pause()
            assert view.row_count == 2
            assert _row(view, 0) == "字" * 5 + " "
            assert _row(view, 1) == "字字" + " " * 7

    run(body())


def test_stream_markup_stays_literal():
    async def body():
        app = StreamApp()
        async with app.run_test(size=(50, 6)) as pilot:
            view = app.query_one(StreamView)
            view.append_seed("[bold red]x[/]")
            for ch in "[link=x]y[/link]":
                view.append_char(ch, 0.9)
            await pilot.pause()
            assert _row(view, 0).rstrip() == "[bold red]x[/][link=x]y[/link]"
            assert view.text == "[bold red]x[/][link=x]y[/link]"
            segments = list(view.render_line(0))
            assert segments[0].text == "[bold red]x[/]"
            assert segments[0].style.bold
            assert all(s.style.link is None for s in segments)

    run(body())


def test_stream_control_chars_sanitised():
    async def body():
        app = StreamApp()
        async with app.run_test(size=(50, 6)) as pilot:
            view = app.query_one(StreamView)
            view.append_seed("a\x1b[31mb\rc\x07d\x9be\tf")
            view.append_char("\x1b", 0.1)
            await pilot.pause()
            row = _row(view, 0)
            assert row.rstrip() == "a␛[31mb␍c␇d\ufffde    f␛"
            assert view.text == "a␛[31mb␍c␇d\ufffde    f␛"
            assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in row)

    run(body())


def test_stream_probability_colours():
    async def body():
        app = StreamApp()
        async with app.run_test(size=(50, 6)) as pilot:
            view = app.query_one(StreamView)
            view.append_seed("s")
            view.append_char("l", 0.0)
            view.append_char("h", 1.0)
            view.append_char("n", float("nan"))
            await pilot.pause()
            segs = {s.text: s.style for s in view.render_line(0) if s.text.strip()}
            assert segs["s"].bold and segs["s"].color == view.rich_style.color  # neutral
            assert segs["l"].color == PROB_STYLES[0].color
            assert segs["h"].color == PROB_STYLES[-1].color
            assert segs["n"].color == PROB_STYLES[0].color
            assert PROB_STYLES[0].color != PROB_STYLES[-1].color

    run(body())


def test_stream_autoscroll_only_when_at_bottom():
    async def body():
        app = StreamApp()
        async with app.run_test(size=(30, 5)) as pilot:
            view = app.query_one(StreamView)
            for i in range(20):
                view.append_seed(f"line {i}\n")
            await pilot.pause()
            assert view.max_scroll_y > 0
            assert view.scroll_y == view.max_scroll_y
            assert _row(view, view.size.height - 1).strip() == ""  # the open last line
            assert _row(view, view.size.height - 2).strip() == "line 19"
            # User scrolls up: new text must not yank the view back down.
            view.scroll_to(y=0, animate=False, immediate=True)
            await pilot.pause()
            view.append_seed("more\nmore\n")
            await pilot.pause()
            assert view.scroll_y == 0
            assert _row(view, 0).strip() == "line 0"

    run(body())


def test_stream_clear():
    async def body():
        app = StreamApp()
        async with app.run_test(size=(30, 5)) as pilot:
            view = app.query_one(StreamView)
            view.append_seed("x\n" * 20)
            view.clear()
            await pilot.pause()
            assert view.text == ""
            assert view.row_count == 1
            assert view.scroll_y == 0
            view.append_char("z", 0.5)
            assert view.text == "z"
            assert _row(view, 0).startswith("z")

    run(body())


# --------------------------------------------------------------------------
# LossPlot


def test_decimate_reduces_and_keeps_last():
    xs = np.arange(1000, dtype=float)
    ys = xs * 2
    dx, dy = decimate(xs, ys, 50)
    assert len(dx) == len(dy) == 50
    assert dx[-1] == 999 and dy[-1] == 1998
    assert np.all(np.diff(dx) > 0)
    assert dx[0] == pytest.approx(np.mean(np.arange(0, 999 // 49)))


def test_decimate_bucket_means():
    dx, dy = decimate([0, 1, 2, 3, 4], [10, 20, 30, 40, 50], 3)
    assert list(dx) == [0.5, 2.5, 4.0]
    assert list(dy) == [15.0, 35.0, 50.0]


def test_decimate_small_or_degenerate_n():
    xs, ys = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    for n in (3, 10):
        dx, dy = decimate(xs, ys, n)
        assert list(dx) == xs and list(dy) == ys
    dx, dy = decimate(xs, ys, 1)
    assert list(dx) == [3.0] and list(dy) == [6.0]
    dx, dy = decimate(xs, ys, 0)
    assert len(dx) == len(dy) == 0
    dx, dy = decimate([], [], 5)
    assert len(dx) == 0
    with pytest.raises(ValueError):
        decimate([1, 2], [1], 5)


async def next_redraw(pilot, plot: LossPlot) -> None:
    """Until the plot's timer has redrawn it (with everything added so far), however late it fires."""
    count = plot.redraw_count
    await wait_for(pilot, lambda: plot.redraw_count > count, what="the plot's timer to redraw it")


class PlotApp(App):
    def compose(self) -> ComposeResult:
        yield LossPlot(redraw_interval=0.1)


def test_loss_plot_many_points_timer_redraw():
    async def body():
        app = PlotApp()
        async with app.run_test(size=(80, 24)) as pilot:
            plot = app.query_one(LossPlot)
            await pilot.pause(0.15)
            start = plot.redraw_count
            for step in range(5000):
                plot.add_train(step, 3.0 * math.exp(-step / 1000) + 1.2)
                if step % 100 == 0:
                    plot.add_val(step, 3.0 * math.exp(-step / 1000) + 1.4)
            assert plot.redraw_count == start  # adding points doesn't redraw
            await next_redraw(pilot, plot)
            assert plot.plotted == (max(MIN_POINTS, plot.size.width), 50)
            assert len(plot.train_points) == 5000
            # Nothing new: the timer keeps firing but doesn't redraw.
            count = plot.redraw_count
            await pilot.pause(0.35)
            assert plot.redraw_count == count

    run(body())


def test_loss_plot_ignores_non_finite():
    async def body():
        app = PlotApp()
        async with app.run_test(size=(80, 24)) as pilot:
            plot = app.query_one(LossPlot)
            plot.add_train(0, 2.0)
            plot.add_train(1, float("nan"))
            plot.add_train(2, float("inf"))
            plot.add_train(3, 2.0)
            plot.add_val(1, float("nan"))
            plot.add_val(float("nan"), 1.0)
            await next_redraw(pilot, plot)
            assert [s for s, _ in plot.train_points] == [0.0, 3.0]
            assert all(v == pytest.approx(2.0) for _, v in plot.train_points)
            assert plot.val_points == []
            assert plot.plotted == (2, 0)

    run(body())


def test_loss_plot_zero_one_two_points_and_clear():
    async def body():
        app = PlotApp()
        async with app.run_test(size=(60, 20)) as pilot:
            plot = app.query_one(LossPlot)
            await pilot.pause(0.2)
            assert plot.plotted == (0, 0)
            plot.add_train(0, 5.0)
            plot.add_val(0, 5.5)
            await next_redraw(pilot, plot)
            assert plot.plotted == (1, 1)
            plot.add_train(10, 4.0)
            plot.add_val(10, 4.5)
            await next_redraw(pilot, plot)
            assert plot.plotted == (2, 2)
            # A full render of the screen (axes, ticks, legend) must not raise.
            assert "bits/char" in app.export_screenshot()
            plot.clear()
            await next_redraw(pilot, plot)
            assert plot.plotted == (0, 0) and plot.train_points == []

    run(body())


def test_loss_plot_ema_smooths_train():
    plot = LossPlot(smoothing=0.5)
    plot.add_train(0, 4.0)
    plot.add_train(1, 2.0)
    # Debiased EMA: first point is the value itself, then weighted toward it.
    (_, first), (_, second) = plot.train_points
    assert first == pytest.approx(4.0)
    assert second == pytest.approx((0.25 * 4.0 + 0.5 * 2.0) / 0.75)


# --------------------------------------------------------------------------
# TrainingPanel: the framing and why


@pytest.mark.parametrize("size, line_shown", [((160, 48), True), ((80, 24), False)])
def test_training_panel_gives_why_this_framing(size, line_shown):
    """A line under the figures where the screen is wide and tall, a tooltip on the figures always."""
    from dataclasses import replace

    from support import fake_events
    from support.pilot import FakeFactory, screen_text, wait_for
    from tui_gen.app.app import TuiGenApp
    from tui_gen.app.options import LaunchOptions

    why = "hard-wrapped prose: 1,234 paragraphs of lines about 70 characters"

    async def body():
        factory = FakeFactory()
        app = TuiGenApp(
            LaunchOptions(train=True, models_dir="models-test-unused"), process_factory=factory, warm_up=False
        )
        async with app.run_test(size=size) as pilot:
            await wait_for(pilot, lambda: factory.processes, what="the training process to start")
            factory.last.push(replace(fake_events.started(), framing="stream", framing_reason=why), fake_events.step(1))
            await wait_for(pilot, lambda: app.state.step == 1, what="the first step")
            await pilot.pause()
            line = app.query_one("#training-why", Static)
            assert line.display is line_shown
            assert str(app.query_one("#training-stats", Static).tooltip) == f"stream framing: {why}"
            assert str(line.render()) == f"stream framing: {why}"
            assert (line.region.height >= 2) is line_shown  # on screen, wrapped to the panel's width
            shown = screen_text(app)
            assert "trump-tweets (stream)" in shown and ("stream framing: hard-wrapped" in shown) is line_shown

    run(body())


def test_x_tick_labels_never_run_into_one_another():
    from textual_plot.axis_formatter import DurationFormatter

    from tui_gen.app.widgets.loss_plot import CharsFormatter, FittedTicks

    def crowded(ticks, labels, lo, hi, cells) -> bool:
        at = [(t - lo) / (hi - lo) * cells for t in ticks]
        return any(
            b - a < (len(la) + len(lb)) / 2 + 1 for a, b, la, lb in zip(at, at[1:], labels, labels[1:], strict=False)
        )

    ranges = [(0, 4.2e5), (1e3, 3.7e7), (0.4, 3.1), (0, 5400)]
    assert crowded(*CharsFormatter().get_ticks_and_labels(0, 4.2e5), 0, 4.2e5, 26)  # what textual-plot does alone
    for cells in (20, 26, 40, 80, 140):
        for inner in (CharsFormatter(), DurationFormatter()):
            for lo, hi in ranges:
                ticks, labels = FittedTicks(inner, cells).get_ticks_and_labels(lo, hi)
                assert len(ticks) >= 2 and not crowded(ticks, labels, lo, hi, cells), (cells, labels)


def test_the_loss_plot_rewrites_its_legend_only_when_its_text_changes(monkeypatch):
    """textual-plot rewrote the legend (a layout pass of the whole screen) at every plot() and scatter()
    of every redraw: 5% of a core once a second, taken from training on 2 cores."""
    from textual.widgets import Static

    updates: list[str] = []
    real = Static.update

    def spy(self, *args, **kwargs):
        if self.id == "legend":
            updates.append(str(args[0]) if args else "")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Static, "update", spy)

    async def body():
        app = PlotApp()
        async with app.run_test(size=(80, 24)) as pilot:
            plot = app.query_one(LossPlot)
            for step in range(1, 50):
                plot.add_train(step, 4.0 - step / 50)
            plot.redraw_now()
            await pilot.pause()
            assert updates and "train" in updates[-1] and "val" not in updates[-1]
            before = len(updates)
            for step in range(50, 80):  # more of the same curves: the legend stays as it is
                plot.add_train(step, 3.0)
                plot.redraw_now()
            await pilot.pause()
            assert len(updates) == before
            plot.add_val(80, 3.1)  # a new curve in the legend: rewritten once
            plot.redraw_now()
            await pilot.pause()
            assert len(updates) == before + 1 and "val" in updates[-1]
            assert "val" in str(app.query_one("#legend", Static).render())

    run(body())
