"""Training throughput: tui-gen's Trainer with the defaults against a bare PyTorch loop over the
same model and the same batches, alternated in rounds so machine noise hits both alike."""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from tui_gen.core.config import TrainConfig
from tui_gen.data.sources import open_corpus
from tui_gen.model.network import CharRNN, masked_nll
from tui_gen.training.trainer import Trainer

from .common import median, tweets_path


def bare_rate(trainer: Trainer, seconds: float) -> float:
    """The same model, optimizer and batches, with nothing but forward, backward, clip and step."""
    cfg = trainer.config
    model = CharRNN(trainer.model_config)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    data = trainer.data
    chars, i, start = 0, 0, None
    while True:
        b = data.batch(0, i % data.steps_per_epoch)
        logits, _ = model(b.inputs)
        nll, n = masked_nll(logits, b.targets, b.mask)
        opt.zero_grad(set_to_none=True)
        (nll / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        i += 1
        if i == 5:
            start, chars = time.perf_counter(), 0
        elif start is not None:
            chars += b.real_chars
            if time.perf_counter() - start >= seconds:
                return chars / (time.perf_counter() - start)


def engine_rate(trainer: Trainer, seconds: float) -> float:
    """tui-gen's own step (the one `tui-gen train` runs), timed the same way."""
    chars, i, start = 0, 0, None
    while True:
        _, n = trainer._train_step()
        i += 1
        if i == 5:
            start, chars = time.perf_counter(), 0
        elif start is not None:
            chars += n
            if time.perf_counter() - start >= seconds:
                return chars / (time.perf_counter() - start)


def run(seconds: float = 20, rounds: int = 3, threads: int = 2) -> list[tuple]:
    torch.set_num_threads(threads)
    corpus, _ = open_corpus(tweets_path())
    rows = []
    for name, cfg in [
        ("defaults", TrainConfig()),
        (
            "lecture preset",
            replace(
                TrainConfig(),
                embedding_dim=0,
                lr=3e-4,
                batch_size=64,
                lr_schedule="exp",
                warmup_steps=0,
                min_char_count=1,
            ),
        ),
    ]:
        trainer = Trainer(corpus, replace(cfg, max_minutes=None, max_steps=10**9, threads=threads))
        ours, bare = [], []
        for _ in range(rounds):
            ours.append(engine_rate(trainer, seconds))
            bare.append(bare_rate(trainer, seconds))
        o, b = median(ours), median(bare)
        rows.append(
            (
                f"train, {name} (batch {cfg.batch_size})",
                f"{o:,.0f} chars/s",
                f"bare PyTorch loop {b:,.0f} chars/s",
                f"{o / b:.2f}x",
            )
        )
    return rows
