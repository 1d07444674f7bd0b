"""TrainingState: the app's view of a run, folded from events (no UI)."""

from __future__ import annotations

import pytest

from support.fake_events import BEST, LAST, run, started, step
from tui_gen.app.options import LaunchOptions, parse_overrides
from tui_gen.app.state import Status, TrainingState, fmt_duration
from tui_gen.core import events as ev
from tui_gen.core.errors import ConfigError


def test_a_run_folds_into_figures():
    s = TrainingState()
    s.reset_for_new_process("models/worker.log")
    assert s.status == Status.STARTING
    for e in run(650):
        s.apply(e)
    assert s.status == Status.RUNNING and s.started
    assert (s.step, s.epoch, s.corpus, s.framing) == (650, 0, "trump-tweets", "lines")
    assert s.elapsed == pytest.approx(650 * 0.3)
    assert s.eta == pytest.approx(360 - 650 * 0.3)  # from the events, not a clock
    assert s.best_step == 600 and s.val_step == 600
    assert s.last_path == LAST and s.best_path == BEST and s.resume_path == LAST
    assert s.unsaved_steps == 50


def test_pause_finish_and_death():
    s = TrainingState()
    s.reset_for_new_process(None)
    for e in [started(), step(1), ev.Paused(1)]:
        s.apply(e)
    assert s.status == Status.PAUSED
    s.apply(ev.Resumed(1))
    assert s.status == Status.RUNNING
    s.apply(ev.Finished(1, "completed", "finished at step 1", 2.5, LAST, None))
    assert s.status == Status.FINISHED and s.last_path == LAST
    s.apply(ev.Exited(0, None))
    assert s.status == Status.FINISHED  # a clean exit after Finished is not a death

    s.reset_for_new_process(None)
    s.apply(started())
    s.apply(ev.Exited(-9, "the training process was killed by signal 9 (SIGKILL)"))
    assert s.status == Status.FAILED and "SIGKILL" in s.error

    s.reset_for_new_process(None)
    s.apply(ev.Failed("could not download trump-tweets", "models/worker.log"))
    assert s.status == Status.FAILED and s.error.startswith("could not download") and not s.started


def test_resume_counts_unsaved_from_the_checkpoint():
    s = TrainingState()
    s.reset_for_new_process(None)
    s.apply(started(step=900))
    assert s.unsaved_steps == 0 and s.start_step == 900
    s.apply(step(905))
    assert s.unsaved_steps == 5


def test_durations():
    assert fmt_duration(None) == "–"
    assert fmt_duration(59.6) == "1:00"
    assert fmt_duration(3725) == "1:02:05"


def test_overrides_env_and_specs():
    assert parse_overrides(None) == {}
    assert parse_overrides('{"hidden_sizes": [8], "eval_every": 5}') == {"hidden_sizes": [8], "eval_every": 5}
    with pytest.raises(ConfigError, match="TUI_GEN_OVERRIDES is not valid JSON"):
        parse_overrides("{nope")
    with pytest.raises(ConfigError, match="JSON object"):
        parse_overrides("[1]")
    o = LaunchOptions(models_dir="m", settings={"eval_every": 5}, device="cpu", minutes=2)
    spec = o.new_run()
    assert spec.corpus == "trump-tweets" and spec.settings == {"eval_every": 5, "device": "cpu"}
    assert spec.minutes == 2 and spec.log_path.endswith("worker.log")
    spec = o.resume_run("m/run/last.safetensors")
    assert spec.resume == "m/run/last.safetensors" and spec.corpus is None and spec.settings == {"device": "cpu"}


def test_launch_flags_become_options(monkeypatch):
    from tui_gen.cli.main import build_parser

    args = build_parser().parse_args(
        ["launch", "book.txt", "--checkpoint", "models/run", "--device", "cpu", "--minutes", "2", "--models-dir", "m"]
    )
    o = LaunchOptions.from_args(args, environ={"TUI_GEN_OVERRIDES": '{"hidden_sizes": [8]}'})
    assert (o.corpus, o.checkpoint, o.device, o.minutes, o.models_dir) == ("book.txt", "models/run", "cpu", 2, "m")
    assert o.settings == {"hidden_sizes": [8]} and o.train
    args = build_parser().parse_args(["launch", "--minutes", "0"])
    with pytest.raises(ConfigError, match="--minutes must be positive"):
        LaunchOptions.from_args(args, environ={})


def test_the_framing_and_why_are_kept_from_the_start():
    from dataclasses import replace

    s = TrainingState()
    s.reset_for_new_process(None)
    s.apply(
        replace(
            started(), framing="stream", framing_reason="hard-wrapped prose: 12 paragraphs of lines about 70 characters"
        )
    )
    assert (s.framing, s.framing_reason) == ("stream", "hard-wrapped prose: 12 paragraphs of lines about 70 characters")
    s.apply(started())  # a Started without a reason (an older training process): nothing stale is kept
    assert (s.framing, s.framing_reason) == ("lines", "")
