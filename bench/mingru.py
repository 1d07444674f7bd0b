"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?") against tui-gen's GRU, on the tweets, for the
same minutes of training: issue 22 named it as a candidate for faster training, to be measured, not
assumed.

minGRU drops the hidden state from the gates, h_t = (1 - z_t) h_(t-1) + z_t h~_t with z_t and h~_t
from x_t alone, so a whole window's gates are one matrix product and the recurrence a linear scan. The
paper runs the scan in parallel, in log space; on a CPU, over a 50-character window, a fused sequential
scan (LinearScan) is 15 times cheaper, so that is what is measured: minGRU at its fastest here.

Every contender trains through the same Trainer: the tweets' lines, the state carried through a line,
the default batch, window, AdamW settings, learning-rate schedule and clipping, and bf16 products where
the CPU has them. Only the model differs:

- the default model, GRU 256,256 (window_gru);
- minGRU 256,256: minGRU layers in the default stack, what a `--cell mingru` would train;
- two minGRU stacks that cost about a GRU step each: wider and deeper (512,512,512), and the paper's
  language-model stack (pre-norm residual blocks, each a minGRU and a feed-forward layer).

Each is scored on the whole held-out split (what `tui-gen eval RUN` scores), from a zero state at each
line, as tui-gen evaluates. One after the other, on a quiet machine: this measures learning per minute,
and a shared machine gives one contender fewer steps.

python -m bench.mingru [--minutes 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, cast

import torch
from torch import nn

from tui_gen.core.config import TrainConfig
from tui_gen.data.sources import open_corpus
from tui_gen.model.network import State, count_parameters
from tui_gen.training.trainer import Trainer

from .common import print_table, tweets_path


class LinearScan(torch.autograd.Function):
    """h_t = a_t * h_(t-1) + b_t over a window, time-major: a, b [T, B, H] and h0 [B, H] -> every h
    [T, B, H]. One fused op a step each way, with no autograd record per step: a loop of T
    elementwise ops on [B, H], which on a CPU costs less than a log-space parallel scan (its exp, log,
    softplus and logcumsumexp over the whole window: 136 ms a layer forward and backward at the default
    batch and window, this 9 ms)."""

    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(b)
        h = h0
        for t in range(a.shape[0]):
            h = torch.addcmul(b[t], a[t], h, out=out[t])
        ctx.save_for_backward(a, h0, out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        a, h0, out = ctx.saved_tensors
        d = torch.empty_like(grad)  # dL/dh_t through every later step
        carry = d[-1] = grad[-1]
        for t in range(a.shape[0] - 2, -1, -1):
            carry = torch.addcmul(grad[t], a[t + 1], carry, out=d[t])
        before = torch.cat([h0.unsqueeze(0), out[:-1]], dim=0)  # h_(t-1)
        return d * before, d, a[0] * d[0]


class MinGRU(nn.Module):
    """One minGRU layer over a window, batch first: x [B, T, in], h0 [B, H] -> every h [B, T, H]. In
    plain space: h_t is a convex blend of h_(t-1) and h~_t, so it stays bounded on a window this short
    (the paper's log space is for long sequences run as one scan)."""

    def __init__(self, in_size: int, hidden: int):
        super().__init__()
        self.proj = nn.Linear(in_size, 2 * hidden)

    def forward(self, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        gate, candidate = self.proj(x.transpose(0, 1)).float().chunk(2, dim=-1)  # [T, B, H] each
        z = torch.sigmoid(gate)
        h = LinearScan.apply(1 - z, z * candidate, h0)
        return cast(torch.Tensor, h).transpose(0, 1)


class MinGRUModel(nn.Module):
    """The model Trainer trains, with CharRNN's forward(ids, state) -> (logits, state); the state is
    one [1, B, H] tensor a layer, as a GRU's, so the trainer's carry and per-row reset work unchanged.

    residual=False: embedding, the minGRU layers one after another, the output layer (CharRNN's stack).
    residual=True: each layer a pre-norm residual block, x + minGRU(LN(x)), then x + FF(LN(x))."""

    def __init__(self, vocab_size: int, embedding: int, hidden: list[int], residual: bool, ff: int = 4):
        super().__init__()
        self.residual = residual
        self.embed = nn.Embedding(vocab_size, embedding)
        sizes = [embedding, *hidden]
        self.layers = nn.ModuleList(MinGRU(a, b) for a, b in zip(sizes, sizes[1:], strict=False))
        if residual:
            assert len(set(sizes)) == 1, "a residual stack keeps one width"
            width = sizes[0]
            self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in hidden)
            self.ff_norms = nn.ModuleList(nn.LayerNorm(width) for _ in hidden)
            self.ffs = nn.ModuleList(
                nn.Sequential(nn.Linear(width, ff * width), nn.GELU(), nn.Linear(ff * width, width)) for _ in hidden
            )
            self.out_norm = nn.LayerNorm(width)
        self.head = nn.Linear(sizes[-1], vocab_size)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        x = self.embed(ids)
        new_state: State = []
        for i, layer in enumerate(self.layers):
            h0 = x.new_zeros(x.shape[0], layer.proj.out_features // 2) if state is None else state[i][0]
            if self.residual:
                h = layer(self.norms[i](x), h0.float())
                x = x + h.to(x.dtype)
                x = x + self.ffs[i](self.ff_norms[i](x))
            else:
                h = layer(x, h0.float())
                x = h
            new_state.append(h[:, -1].unsqueeze(0))
        if self.residual:
            x = self.out_norm(x)
        return self.head(x), new_state


def contenders(config: TrainConfig) -> dict[str, Callable[[int], nn.Module] | None]:
    """Each contender's model over a vocabulary of the given size (None: the Trainer's own, the default
    GRU). The minGRU stacks beside the drop-in one cost about a GRU step each (2-core CPU, bf16)."""
    e, hidden = config.embedding_dim, list(config.hidden_sizes)
    shape = ",".join(map(str, hidden))
    return {
        f"GRU {shape} (the default model)": None,
        f"minGRU {shape} (what a --cell mingru would be)": lambda v: MinGRUModel(v, e, hidden, False),
        "minGRU 512,512,512": lambda v: MinGRUModel(v, e, [512] * 3, False),
        "minGRU 3 x 256, residual (the paper's stack)": lambda v: MinGRUModel(v, 256, [256] * 3, True, ff=2),
    }


def train_for(trainer: Trainer, seconds: float) -> int:
    """Train for `seconds` of wall clock, the learning rate following the run's time budget (as
    Trainer.run keeps it, less its evaluations and saves); the characters trained on."""
    start, chars = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        trainer.elapsed = elapsed
        chars += trainer._train_step().chars
    return chars


def run(minutes: float = 6.0, threads: int = 2, seed: int | None = None, only: str = "") -> list[tuple]:
    """The table's rows; seed: another draw of every contender's weights and batches; only: the contenders
    whose names hold this text, the GRU always."""
    torch.set_num_threads(threads)
    corpus, _ = open_corpus(tweets_path())
    config = replace(TrainConfig(), max_minutes=minutes, threads=threads)
    config = config if seed is None else replace(config, seed=seed)
    rows: list[tuple] = []
    baseline: float | None = None
    for name, make in contenders(config).items():
        if make is not None and only not in name:
            continue
        trainer = Trainer(corpus, config)
        if make is not None:
            torch.manual_seed(config.seed)
            model = make(len(trainer.vocab))
            trainer.model = trainer.train_model = model  # type: ignore[assignment]
            trainer.optimizer = torch.optim.AdamW(
                model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, config.adam_beta2)
            )
        chars = train_for(trainer, minutes * 60)
        bpc = trainer.evaluate()
        baseline = bpc if baseline is None else baseline
        rows.append(
            (
                f"{name}, {count_parameters(trainer.model):,} parameters",
                f"{bpc:.4f} bits/char ({trainer.step:,} steps, {chars / (minutes * 60):,.0f} chars/s)",
                f"GRU {baseline:.4f}",
                f"{bpc - baseline:+.4f} bits" if math.isfinite(bpc) else "diverged",
            )
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.mingru", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=6.0, help="training minutes per contender")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, help="another seed than TrainConfig's, for every contender")
    p.add_argument("--only", default="", help="only the minGRUs whose names hold this text (and the GRU)")
    args = p.parse_args()
    print_table(
        f"held-out bits/char after {args.minutes:g} minutes of training on the tweets",
        run(args.minutes, args.threads, args.seed, args.only),
        ("model", "held-out bits/char", "baseline", "difference"),
    )


if __name__ == "__main__":
    main()
