"""The repository's paths, tiny corpora and tiny model configurations, shared by every test."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TWEETS = REPO.parent / "shared" / "data" / "trump_tweets.txt"  # the seed data, never committed

WORDS = [
    "Hillary",
    "great",
    "people",
    "America",
    "jobs",
    "the",
    "big",
    "win",
    "fake",
    "news",
    "we",
    "will",
    "make",
    "it",
    "@realDonaldTrump",
    "#MAGA",
    "Thank",
    "you!",
    "a",
    "I",
]


def tiny_lines(n: int = 60, seed: int = 7) -> str:
    """Short, varied, deterministic lines: some very short, some longer than a window."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        k = 1 if i % 7 == 0 else rng.randint(2, 12)
        lines.append(" ".join(rng.choice(WORDS) for _ in range(k)) + " _E_")
    return "\n".join(lines) + "\n"


TINY_TEXT = tiny_lines()


def tiny_text(n: int = 120, seed: int = 7) -> str:
    """n deterministic lines of 1 to 12 words, each ending in the _E_ marker."""
    rng = random.Random(seed)
    return "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) + " _E_" for _ in range(n)) + "\n"


# The app's and its training process's tiny model, as LaunchOptions/TrainingSpec overrides (TrainConfig fields).
TINY_OVERRIDES = dict(
    hidden_sizes=[16, 24],
    seq_len=16,
    overlap=4,
    batch_size=8,
    eval_every=10,
    warmup_steps=2,
    sample_length=12,
    embedding_dim=8,
)


def tiny_config_value(**overrides):
    """A validated TrainConfig of TINY_OVERRIDES on one CPU thread, with no time budget."""
    from tui_gen.core.config import TrainConfig

    cfg = TrainConfig(
        **{**TINY_OVERRIDES, "hidden_sizes": list(TINY_OVERRIDES["hidden_sizes"])},
        max_minutes=None,
        device="cpu",
        threads=1,
    )
    cfg = replace(cfg, **overrides)
    cfg.validate()
    return cfg


# A model small enough that a step, an evaluation and a save take milliseconds on a slow CPU:
# as `tui-gen train` flags, and as the TrainConfig of the fault tests' in-process runs.
TINY_FLAGS = [
    "--hidden",
    "16,16",
    "--seq-len",
    "16",
    "--overlap",
    "4",
    "--batch-size",
    "8",
    "--embedding",
    "8",
    "--threads",
    "1",
]


def tiny_train_config(**overrides):
    from tui_gen.core.config import TrainConfig

    cfg = TrainConfig(
        hidden_sizes=[16, 16],
        seq_len=16,
        overlap=4,
        batch_size=8,
        embedding_dim=8,
        eval_every=3,
        max_minutes=None,
        max_steps=6,
        device="cpu",
        threads=1,
        warmup_steps=1,
        sample_length=8,
    )
    return replace(cfg, **overrides)
