"""Fixtures for the hostile-input and fault tests (helpers live in tests/support/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.data import tiny_text, tiny_train_config


@pytest.fixture
def corpus_file(tmp_path) -> Path:
    p = tmp_path / "tiny.txt"
    p.write_text(tiny_text(), encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A real run folder (best + last) from a few in-process training steps; treat as read-only."""
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer

    d = tmp_path_factory.mktemp("trained")
    corpus_path = d / "tiny.txt"
    corpus_path.write_text(tiny_text(), encoding="utf-8")
    cfg = tiny_train_config()
    corpus = CorpusText(name="tiny", text=corpus_path.read_text(), framing="lines", end_marker="_E_")
    run = d / "run"
    for _ in Trainer(corpus, cfg, run_dir=run, corpus_ref=str(corpus_path)).run():
        pass
    assert (run / "best.safetensors").is_file() and (run / "last.safetensors").is_file()
    return run


@pytest.fixture(scope="session")
def trained_stream_run(tmp_path_factory) -> Path:
    """Like trained_run, with stream framing (its checkpoints carry a hidden state)."""
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer

    run = tmp_path_factory.mktemp("trained-stream") / "run"
    corpus = CorpusText(name="tiny", text=tiny_text(), framing="stream")
    for _ in Trainer(corpus, tiny_train_config(framing="stream"), run_dir=run).run():
        pass
    assert (run / "last.safetensors").is_file()
    return run
