"""Scoring 10,000 characters (score.py) with the default model (GRU 128,256), lines and stream framing:
seconds per text, against the bare forward pass over the same characters in the same batches."""

from __future__ import annotations

import time

import numpy as np
import torch

from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.model.score import STREAM_SEGMENT, TextScorer

from .common import median

CHARS = 10_000


def sample_text(framing: str) -> str:
    rng = np.random.default_rng(0)
    words = ["great", "people", "America", "jobs", "the", "big", "win", "fake", "news", "@realDonaldTrump"]
    text = " ".join(rng.choice(words, size=CHARS // 4))
    if framing == "lines":  # tweet-like lines of about 120 characters
        text = "\n".join(text[a : a + 120] for a in range(0, len(text), 121))
    return text[:CHARS]


@torch.inference_mode()
def bare_seconds(model: CharRNN, vocab: Vocab, text: str, framing: str) -> float:
    rows = (
        text.split("\n")
        if framing == "lines"
        else [text[a : a + STREAM_SEGMENT + 1] for a in range(0, len(text), STREAM_SEGMENT)]
    )
    width = max(len(r) for r in rows) + 1
    ids = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = vocab.encode(r)
    x = torch.from_numpy(ids)
    t0 = time.perf_counter()
    model(x)
    return time.perf_counter() - t0


def run(rounds: int = 5, threads: int = 2) -> list[tuple]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    vocab = Vocab([chr(c) for c in range(32, 127)] + ["\n"])
    model = CharRNN(ModelConfig(vocab_size=len(vocab))).eval()
    rows = []
    for framing in ("lines", "stream"):
        text = sample_text(framing)
        ours, bare = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            TextScorer(model, vocab, framing).score(text)  # a fresh scorer: nothing cached
            ours.append(time.perf_counter() - t0)
            bare.append(bare_seconds(model, vocab, text, framing))
        o, b = median(ours), median(bare)
        rows.append(
            (
                f"score 10,000 characters, {framing} (top-5 candidates)",
                f"{o:.3f} s",
                f"bare forward {b:.3f} s",
                f"{b / o:.2f}x",
            )
        )
    scorer = TextScorer(model, vocab, "lines")
    text = sample_text("lines")
    scorer.score(text)
    times = []
    for k in range(rounds):
        t0 = time.perf_counter()
        scorer.score(text + "great"[: k + 1])  # typing at the end: one line is scored again
        times.append(time.perf_counter() - t0)
    rows.append(
        ("rescore after typing a character (10,000 characters, lines)", f"{median(times) * 1000:.1f} ms", "", "")
    )
    return rows
