"""The new-run form (ctrl+n): opens pre-filled with the current run's settings, checks every field as
it is typed with the CLI's rules, refuses to start with the reason beside the field, shows a chosen
corpus's framing and why, asks before replacing a run that trains, and starts a real process."""

from __future__ import annotations

import multiprocessing

import pytest
from textual.widgets import Input, Select
from textual_fspicker import FileOpen

from support import fake_events
from support.data import TINY_OVERRIDES
from support.pilot import choose, run, screen_text, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens import ConfirmScreen, NewRunScreen
from tui_gen.app.state import Status
from tui_gen.core import events as ev
from tui_gen.core.model_size import parameter_count
from tui_gen.data.corpus import explain_framing

NARROW = (80, 24)
START_TIMEOUT = 90  # spawning a process that imports torch, on a slow shared CPU


def make_app(factory, corpus, **options) -> TuiGenApp:
    launch = dict(corpus=str(corpus), models_dir="models-test-unused", settings=dict(TINY_OVERRIDES), minutes=4)
    return TuiGenApp(LaunchOptions(**{**launch, **options}), process_factory=factory, warm_up=False)


async def open_form(pilot, app) -> NewRunScreen:
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), what="the new-run form")
    form = app.screen
    await wait_for(pilot, lambda: form.preview is not None or form.preview_error, 60, "the corpus to be read")
    return form


def text_of(form, selector: str) -> str:
    return str(form.query_one(selector).render())


async def type_into(pilot, form, key: str, text: str) -> None:
    box = form.query_one(f"#field-{key}", Input)
    box.focus()
    box.value = ""
    await pilot.press(*text)


def test_ctrl_n_opens_the_form_with_the_current_runs_settings(factory, tiny_corpus_file):
    app = make_app(factory, tiny_corpus_file, preset="lecture")

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes, what="the launch's run")
            form = await open_form(pilot, app)
            assert form.query_one("#field-path", Input).value == str(tiny_corpus_file)
            assert form.query_one("#field-hidden_sizes", Input).value == "16,24"
            assert form.query_one("#field-embedding_dim", Input).value == "8"  # the flag beats the preset
            assert form.query_one("#field-lr", Input).value == "0.0003"  # the lecture's
            assert form.query_one("#field-preset", Select).value == "lecture"
            assert form.query_one("#field-budget", Input).value == "4"
            assert form.check().problems == {}
            # the parameter count is the model's, and follows what is typed
            vocab = form.preview.vocab_size(1)
            assert f"{parameter_count(vocab, [16, 24], 'gru', 8):,} parameters" in text_of(form, "#params")
            await type_into(pilot, form, "hidden_sizes", "40")
            assert f"{parameter_count(vocab, [40], 'gru', 8):,} parameters" in text_of(form, "#params")
            await pilot.press("escape")
            assert not isinstance(app.screen, NewRunScreen) and len(factory.processes) == 1

    run(body())


@pytest.mark.parametrize(
    "key, typed, words",
    [
        ("hidden_sizes", "0", "hidden sizes must be 1 to 8192 per layer"),
        ("hidden_sizes", "12,x", "expected sizes like 128,256"),
        ("lr", "-1", "--lr must be a positive number up to 10, got -1"),
        ("dropout", "1", "--dropout must be in [0, 1)"),
        ("budget", "0", "--minutes must be a positive number"),
        ("path", "/no/such/corpus.txt", "does not exist"),
    ],
)
def test_an_invalid_value_is_refused_with_its_message_and_nothing_starts(factory, tiny_corpus_file, key, typed, words):
    app = make_app(factory, tiny_corpus_file, train=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            form = await open_form(pilot, app)
            await type_into(pilot, form, key, typed)
            where = "corpus" if key == "path" else key
            await wait_for(pilot, lambda: words in text_of(form, f"#error-{where}"), 60, "the field's message")
            await pilot.press("ctrl+n")  # start: refused, with the reason
            await pilot.pause(0.1)
            assert isinstance(app.screen, NewRunScreen) and factory.processes == []
            assert "Not started" in text_of(form, "#start-status") and words in text_of(form, "#start-status")
            assert form.query_one(f"#error-{where}").has_class("-shown")

    run(body())


def test_choosing_a_corpus_file_shows_its_framing_and_why(factory, tmp_path, tiny_corpus_file, lines_corpus_text):
    lines = tmp_path / "quotes.txt"
    lines.write_text(lines_corpus_text, encoding="utf-8")
    stream = tmp_path / "essay.txt"
    stream.write_text("A long essay with few lines. " * 400 + "\n", encoding="utf-8")
    app = make_app(factory, tiny_corpus_file, train=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            form = await open_form(pilot, app)
            for path, text in ((lines, lines_corpus_text), (stream, stream.read_text())):
                await pilot.click("#pick-file")  # the file picker
                await wait_for(pilot, lambda: isinstance(app.screen, FileOpen), what="the file picker")
                name = app.screen.query_one(Input)
                name.focus()
                name.value = str(path)
                await pilot.press("enter")
                await wait_for(pilot, lambda: app.screen is form, what="the form again")
                await wait_for(
                    pilot,
                    lambda path=path: form.preview is not None and form.preview.ref == str(path),
                    60,
                    "the chosen file to be read",
                )
                guess = explain_framing(text)
                info = text_of(form, "#corpus-info")
                assert f"framing {guess.framing}: {guess.reason}" in info and f"{text.count(chr(10)):,} lines" in info
                await pilot.pause(0.05)
                assert f"auto: {guess.framing}" in screen_text(app)  # the framing choice says what auto is
                assert form.query_one("#field-path", Input).value == str(path)
            # the framing can be changed there, and the run gets it
            form.query_one("#field-framing", Select).value = "lines"
            await pilot.pause(0.05)
            assert form.check().request.settings["framing"] == "lines"
            form.query_one("#field-framing", Select).value = "auto"
            await pilot.pause(0.05)
            assert form.check().request.settings["framing"] is None

    run(body())


def test_the_same_but_lstm_is_ctrl_n_l_ctrl_n_and_asks_before_replacing_a_training_run(factory, tiny_corpus_file):
    app = make_app(factory, tiny_corpus_file)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes, what="the launch's run")
            first = factory.last
            first.push(*fake_events.run(until=20))
            await wait_for(pilot, lambda: app.state.started, what="the run to train")
            await open_form(pilot, app)
            await pilot.press("l", "ctrl+n")  # the cell (focused when the form opens) becomes lstm; start
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
            assert app.screen.purpose == "new-run" and len(factory.processes) == 1
            await pilot.press("s")  # save it, then start the new one
            await wait_for(pilot, lambda: len(factory.processes) == 2, what="the new run")
            assert first.shutdowns and not first.alive  # the old one was stopped (and saved) first
            spec = factory.last.spec
            assert spec.settings["cell"] == "lstm" and spec.resume is None
            assert spec.corpus == str(tiny_corpus_file) and spec.minutes == 4 and spec.steps is None
            for key, value in TINY_OVERRIDES.items():  # everything else as it was
                assert spec.settings[key] == value, key

    run(body())


def test_cancel_in_the_question_leaves_the_run_alone(factory, tiny_corpus_file):
    app = make_app(factory, tiny_corpus_file)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            await wait_for(pilot, lambda: factory.processes, what="the launch's run")
            factory.last.push(*fake_events.run(until=20))
            await wait_for(pilot, lambda: app.state.started, what="the run to train")
            await open_form(pilot, app)
            await pilot.press("ctrl+n")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert len(factory.processes) == 1 and factory.last.alive and not factory.last.shutdowns

    run(body())


def test_the_preset_fills_in_its_own_settings_and_keeps_the_others(factory, tiny_corpus_file):
    app = make_app(factory, tiny_corpus_file, train=False, settings={})

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            form = await open_form(pilot, app)
            await pilot.press("r")  # cell: rnn
            form.query_one("#field-preset", Select).value = "lecture"
            await pilot.pause(0.1)
            values = {k: form.query_one(f"#field-{k}", Input).value for k in ("embedding_dim", "lr", "batch_size")}
            assert values == {"embedding_dim": "0", "lr": "0.0003", "batch_size": "64"}
            assert form.query_one("#field-cell", Select).value == "rnn"
            request = form.check().request
            assert request.preset == "lecture" and request.settings["lr_schedule"] == "exp"

    run(body())


def test_the_palette_lists_new_run(factory, tiny_corpus_file):
    app = make_app(factory, tiny_corpus_file, train=False)

    async def body():
        async with app.run_test(size=NARROW) as pilot:
            assert "New run" in [c.title for c in app.get_system_commands(app.screen)]
            await choose(pilot, app, "New run")
            await wait_for(pilot, lambda: isinstance(app.screen, NewRunScreen), what="the form from the palette")

    run(body())


@pytest.mark.slow
def test_start_with_lstm_32_trains_that_model_in_a_real_process(tiny_corpus_file, models_dir):
    options = LaunchOptions(
        corpus=str(tiny_corpus_file),
        device="cpu",
        models_dir=str(models_dir),
        settings=TINY_OVERRIDES,
        threads=1,
        train=False,
    )
    app = TuiGenApp(options, warm_up=False)
    started: list[ev.Started] = []
    handle = app.handle_events

    def record(events):
        started.extend(e for e in events if isinstance(e, ev.Started))
        handle(events)

    app.handle_events = record

    async def body():
        async with app.run_test(size=(160, 48)) as pilot:
            form = await open_form(pilot, app)
            await pilot.press("l")  # cell: lstm
            await type_into(pilot, form, "hidden_sizes", "32")
            form.query_one("#field-budget-kind", Select).value = "steps"
            await type_into(pilot, form, "budget", "12")
            await pilot.press("enter")  # in a text box: start
            await wait_for(pilot, lambda: started, START_TIMEOUT, "the training process to start")
            await wait_for(pilot, lambda: app.state.status == Status.FINISHED, START_TIMEOUT, "the 12 steps")
            await pilot.press("ctrl+q")  # q would go into the seed box, which has the focus at this size
            await wait_for(pilot, lambda: not app.is_running, 60, "the app to exit")
        return form

    run(body())
    (s,) = started
    assert s.model == "LSTM 32"
    assert s.parameters == parameter_count(s.vocab_size, [32], "lstm", TINY_OVERRIDES["embedding_dim"])
    assert app.state.step == 12 and app.state.run_dir and app.state.run_dir.startswith(str(models_dir))
    assert multiprocessing.active_children() == []


def test_until_stopped_stays_unbounded_when_the_run_is_restarted():
    """The form's "until stopped" carried into the launch options: restarting (r) builds a run with no
    budget, not the default 6 minutes."""
    from tui_gen.training.setup import RunRequest, new_run_config

    request = RunRequest(corpus="c.txt", settings={"max_minutes": None, "max_steps": None, "device": "cpu"})
    options = LaunchOptions().with_request(request)
    spec = options.new_run()
    assert spec.minutes is None and spec.steps is None
    cfg = new_run_config(spec.run_request())
    assert cfg.max_minutes is None and cfg.max_steps is None
    bounded = LaunchOptions(minutes=3).new_run()  # a plain launch keeps its budget
    assert bounded.minutes == 3
