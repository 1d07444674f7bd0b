"""The gradient reach screen (the palette's "Gradient reach"), through Pilot with tiny real runs: it
opens from the palette, measures the current model in a thread and plots exactly the engine's curve
(log scale) with training's window marked, overlays another run of the models folder and takes it off,
says why a run cannot be measured, and reads a training snapshot's window from its run folder."""

from __future__ import annotations

import numpy as np
import pytest
from textual.widgets import DataTable

from support.pilot import choose, run, screen_text, wait_for
from tui_gen.app.app import TuiGenApp
from tui_gen.app.options import LaunchOptions
from tui_gen.app.screens.reach import CURRENT, ReachScreen, current_meta

WIDE = (160, 48)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A GRU and an LSTM run trained for a few steps on the same corpus file (stream, seq_len 20), and one
    whose checkpoint names a corpus that is not there."""
    from support.data import tiny_config_value, tiny_lines
    from tui_gen.data.corpus import load_corpus
    from tui_gen.training.trainer import Trainer

    d = tmp_path_factory.mktemp("reach")
    path = d / "text.txt"
    path.write_text(tiny_lines(300, seed=4), encoding="utf-8")
    corpus = load_corpus(path, framing="stream", data_dir=d / "data")
    for name, cell, ref in (
        ("gru-run", "gru", path.resolve()),
        ("lstm-run", "lstm", path.resolve()),
        ("gone-run", "gru", d / "gone.txt"),
    ):
        cfg = tiny_config_value(max_steps=3, eval_every=3, cell=cell, hidden_sizes=[12], seq_len=20)
        for _ in Trainer(corpus, cfg, run_dir=d / "models" / name, corpus_ref=str(ref)).run():
            pass
    return d


@pytest.fixture
def data_dir(models, monkeypatch):
    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(models / "data"))  # the corpus cache the fixture built
    return models


def engine_curve(run_dir) -> np.ndarray:
    """The curve `tui-gen gradients RUN` measures, by the engine directly."""
    from tui_gen.model.reach import DEFAULT_MAX_LAG, gradient_reach, measured_text, windows_of
    from tui_gen.training.checkpoint import load_checkpoint
    from tui_gen.training.trainer import resume_config

    ck = load_checkpoint(run_dir)
    cfg = resume_config(ck)
    part, _ = measured_text(ck.meta["corpus"], ck.framing, cfg.val_fraction, cfg.seed, ck.meta["corpus_digest"])
    return gradient_reach(
        ck.model, windows_of(part, ck.vocab, DEFAULT_MAX_LAG, seed=cfg.seed), DEFAULT_MAX_LAG
    ).relative


def engine_curve_below(relative: np.ndarray, fraction: float) -> str:
    """How the legend says where a curve falls under a fraction."""
    hits = np.flatnonzero(relative < fraction)
    return f"at {hits[0]}" if len(hits) else f"beyond {len(relative) - 1}"


def test_the_palette_opens_it_and_it_draws_the_engines_curve_with_the_window_and_overlays(data_dir):
    from tui_gen.app.playground_model import from_checkpoint

    model = from_checkpoint(data_dir / "models" / "gru-run")
    app = TuiGenApp(LaunchOptions(train=False, models_dir=str(data_dir / "models")), model=model, warm_up=False)

    async def body():
        async with app.run_test(size=WIDE) as pilot:
            await choose(pilot, app, "Gradient reach")
            await wait_for(pilot, lambda: isinstance(app.screen, ReachScreen), what="the reach screen")
            screen = app.screen
            await wait_for(pilot, lambda: CURRENT in screen.curves and screen.runs, what="the first measurement")
            await pilot.pause()
            # the engine's curve, on a log scale
            label, x, y = screen.drawn[0]
            assert label == "this model (GRU 12)"
            expected = engine_curve(data_dir / "models" / "gru-run")
            np.testing.assert_array_equal(x, np.arange(len(expected))[expected > 0])
            np.testing.assert_allclose(y, np.log10(expected[expected > 0]), rtol=1e-6)
            assert screen.window_drawn == 19  # seq_len 20: training's gradient spans 19 characters back
            words = screen.status_words
            assert "(its held-out split)" in words and "seq_len 20" in words and "at most 19 characters" in words
            assert "carries the state across windows" in words
            shown = screen_text(app)
            assert "Gradient reach" in shown and "training's window (seq_len 20)" in shown
            below = [engine_curve_below(expected, f) for f in (0.01, 0.001)]
            assert f"this model (GRU 12) · under 1% {below[0]}, 0.1% {below[1]}" in shown
            # overlay the LSTM run, then take it off
            table = screen.query_one("#reach-runs", DataTable)
            names = [r.name for r in screen.runs]
            assert sorted(names) == ["gone-run", "gru-run", "lstm-run"]
            table.move_cursor(row=names.index("lstm-run"))
            await pilot.press("space")
            lstm = str(data_dir / "models" / "lstm-run")
            await wait_for(pilot, lambda: lstm in screen.curves, what="the overlaid run")
            await pilot.pause()
            assert [d[0] for d in screen.drawn] == ["this model (GRU 12)", "lstm-run"]
            overlaid = engine_curve(lstm)
            np.testing.assert_allclose(screen.drawn[1][2], np.log10(overlaid[overlaid > 0]), rtol=1e-6)
            assert "lstm-run · under 1% " in screen_text(app)
            await pilot.press("space")
            await pilot.pause()
            assert [d[0] for d in screen.drawn] == ["this model (GRU 12)"] and lstm not in screen.curves
            # a run whose corpus is gone: said in one line, the plot as it was
            table.move_cursor(row=names.index("gone-run"))
            await pilot.press("space")
            gone = str(data_dir / "models" / "gone-run")
            await wait_for(pilot, lambda: gone in screen.errors, what="the failed measurement")
            assert f"gone-run: cannot read the run's corpus ({data_dir / 'gone.txt'} does not exist" in (
                screen.status_words.replace("\n", " ")
            )
            assert [d[0] for d in screen.drawn] == ["this model (GRU 12)"]
            await pilot.press("escape")
            assert not isinstance(app.screen, ReachScreen)

    run(body())


def test_a_training_snapshot_takes_its_window_from_its_run_folder(data_dir):
    from tui_gen.core.events import Snapshot

    snapshot = Snapshot(3, b"", {"corpus": "x", "framing": "stream"})
    meta = current_meta(snapshot, str(data_dir / "models" / "gru-run"))
    assert meta["corpus"] == "x" and meta["train_config"]["seq_len"] == 20
    assert "train_config" not in current_meta(snapshot, None)
    assert "train_config" not in current_meta(snapshot, str(data_dir / "nowhere"))
