"""Shared fixtures: a tiny corpus, a tiny training configuration, the real tweets' path."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from tui_gen.config import TrainConfig
from tui_gen.corpus import CorpusText

TWEETS_PATH = Path(__file__).resolve().parents[2] / "shared/data/trump_tweets.txt"


def _tiny_lines(n: int = 60, seed: int = 7) -> str:
    """Short, varied, deterministic lines: some very short, some longer than a window."""
    rng = random.Random(seed)
    words = ["Hillary", "great", "people", "America", "jobs", "the", "big", "win", "fake", "news",
             "we", "will", "make", "it", "@realDonaldTrump", "#MAGA", "Thank", "you!", "a", "I"]
    lines = []
    for i in range(n):
        k = 1 if i % 7 == 0 else rng.randint(2, 12)
        lines.append(" ".join(rng.choice(words) for _ in range(k)) + " _E_")
    return "\n".join(lines) + "\n"


TINY_TEXT = _tiny_lines()


def tiny_config_value(**overrides) -> TrainConfig:
    cfg = TrainConfig(
        hidden_sizes=[16, 24], seq_len=16, overlap=4, batch_size=8, eval_every=10, max_minutes=None,
        device="cpu", threads=1, warmup_steps=2, sample_length=12, embedding_dim=8,
    )
    cfg = replace(cfg, **overrides)
    cfg.validate()
    return cfg


@pytest.fixture
def tiny_text() -> str:
    return TINY_TEXT


@pytest.fixture
def tiny_corpus() -> CorpusText:
    return CorpusText(name="tiny", text=TINY_TEXT, framing="lines", end_marker="_E_")


@pytest.fixture
def tiny_stream_corpus() -> CorpusText:
    return CorpusText(name="tiny-stream", text=TINY_TEXT, framing="stream")


@pytest.fixture
def tiny_config() -> TrainConfig:
    return tiny_config_value()


@pytest.fixture
def make_config():
    """tiny_config_value as a fixture: make_config(dropout=0.2, max_steps=5)."""
    return tiny_config_value


@pytest.fixture
def tiny_corpus_file(tmp_path) -> Path:
    p = tmp_path / "tiny.txt"
    p.write_text(TINY_TEXT, encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def lines_corpus_text() -> str:
    """Enough lines (150) for the lines framing to be guessed, each ending in the _E_ marker."""
    return _tiny_lines(150)


@pytest.fixture(scope="session")
def tweets_path() -> Path:
    assert TWEETS_PATH.is_file(), f"the real data set is missing at {TWEETS_PATH}"
    return TWEETS_PATH
