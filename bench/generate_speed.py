"""Generation with batch 1 and carried state: ms per character, tui-gen's Generator against a bare
loop (model step + softmax + multinomial) over the same model."""

from __future__ import annotations

import time

import torch

from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.model.sample import Generator, SamplingSettings

from .common import median


@torch.inference_mode()
def bare_ms_per_char(model: CharRNN, n: int) -> float:
    model.eval()
    x = torch.tensor([[5]])
    logits, state = model(x)
    t0 = time.perf_counter()
    for _ in range(n):
        p = torch.softmax(logits[0, -1] / 0.8, -1)
        x[0, 0] = int(torch.multinomial(p, 1))
        logits, state = model(x, state)
    return (time.perf_counter() - t0) / n * 1000


def ours_ms_per_char(model: CharRNN, vocab: Vocab, n: int, top_n: int) -> float:
    g = Generator(model, vocab, "stream", stop_strings=(), top_n=top_n)
    t0 = time.perf_counter()
    count = sum(1 for _ in g.stream("The ", SamplingSettings(temperature=0.8), n))
    return (time.perf_counter() - t0) / count * 1000


def run(chars: int = 2000, rounds: int = 5, threads: int = 2) -> list[tuple]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    vocab = Vocab([chr(c) for c in range(32, 32 + 130)])
    model = CharRNN(ModelConfig(vocab_size=len(vocab))).eval()
    rows = []
    for label, top_n in (("generate, CLI (no candidates)", 0), ("generate, app (top-5 candidates)", 5)):
        ours, bare = [], []
        for _ in range(rounds):
            ours.append(ours_ms_per_char(model, vocab, chars, top_n))
            bare.append(bare_ms_per_char(model, chars))
        o, b = median(ours), median(bare)
        rows.append((label, f"{o:.3f} ms/char", f"bare loop {b:.3f} ms/char", f"{b / o:.2f}x"))
    return rows
