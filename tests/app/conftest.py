"""Fixtures for the app's tests: a tiny real model and snapshot, a fake training process."""

from __future__ import annotations

import string

import pytest

from support.pilot import FakeFactory


@pytest.fixture
def factory() -> FakeFactory:
    return FakeFactory()


TINY_CHARS = [c for c in string.printable if c not in "\r\x0b\x0c"]


@pytest.fixture(scope="session")
def tiny_model():
    """A real (untrained, seeded) CharRNN over printable ASCII, for generating in the playground."""
    import torch

    from tui_gen.app.playground_model import PlaygroundModel
    from tui_gen.data.vocab import Vocab
    from tui_gen.model.network import CharRNN, ModelConfig

    torch.manual_seed(0)
    vocab = Vocab(TINY_CHARS)
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[16], embedding_dim=8)).eval()
    return PlaygroundModel(model, vocab, "stream", (), "checkpoint", step=30, val_bpc=6.5, path="tiny.safetensors")


@pytest.fixture
def models_dir(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    return d


@pytest.fixture
def tiny_snapshot(tiny_corpus, tiny_config):
    """A Snapshot event from a real Trainer after 5 steps on the tiny corpus."""
    from tui_gen.core import events as ev
    from tui_gen.training.snapshot import make_snapshot
    from tui_gen.training.trainer import Trainer

    trainer = Trainer(tiny_corpus, tiny_config)
    for e in trainer.run():
        if isinstance(e, ev.Step) and e.step >= 5:
            break
    return make_snapshot(trainer)


@pytest.fixture
def saved_run(models_dir, tiny_corpus, tiny_config):
    """A real run folder (best + last after 10 steps) under models_dir, plus a broken one beside it."""
    from dataclasses import replace

    from tui_gen.training.trainer import Trainer

    trainer = Trainer(
        tiny_corpus, replace(tiny_config, max_steps=10), run_dir=models_dir / "tiny-run", corpus_ref="tiny"
    )
    for _ in trainer.run():
        pass
    broken = models_dir / "broken-run"
    broken.mkdir()
    (broken / "best.safetensors").write_bytes(b"not a checkpoint")
    return models_dir / "tiny-run"
