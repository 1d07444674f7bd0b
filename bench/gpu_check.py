"""The CUDA path, for a session that has a GPU: `python -m bench.gpu_check`.

1. One batch of the tweets through the same weights on the CPU and on CUDA: the losses and the
   gradient norms must agree within float tolerance (cuDNN's GRU against PyTorch's CPU kernels).
2. Training throughput with the default model at batch 64, 256 and 1024 (fp32, and bf16 products).
Prints a table; exits non-zero if the CPU and CUDA losses disagree.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import torch

from tui_gen.core.config import TrainConfig
from tui_gen.data.sources import open_corpus
from tui_gen.model.network import CharRNN, masked_nll
from tui_gen.training.trainer import Trainer

from .common import print_table, tweets_path


def same_batch_loss(corpus) -> tuple[float, float, float, float]:
    trainer = Trainer(corpus, replace(TrainConfig(), device="cpu", max_minutes=None, max_steps=1))
    batch = trainer.data.batch(0, 0)
    out = []
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = CharRNN(trainer.model_config).to(device)
        logits, _ = model(batch.inputs.to(device))
        nll, n = masked_nll(logits, batch.targets.to(device), batch.mask.to(device))
        loss = nll / n
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
        out += [float(loss), float(norm)]
    return tuple(out)  # cpu loss, cpu grad norm, cuda loss, cuda grad norm


def throughput(corpus, batch_size: int, bf16: bool, seconds: float = 10.0) -> float:
    cfg = replace(
        TrainConfig(),
        device="cuda",
        batch_size=batch_size,
        precision="bf16" if bf16 else "fp32",
        max_minutes=None,
        max_steps=10**9,
    )
    trainer = Trainer(corpus, cfg)
    for _ in range(10):  # warm-up: cuDNN plans, allocator
        trainer._train_step()
    torch.cuda.synchronize()
    chars, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n = trainer._train_step().chars  # .item() in the step synchronises every step
        chars += n
    return chars / (time.perf_counter() - t0)


def main() -> int:
    if not torch.cuda.is_available():
        print("bench.gpu_check: PyTorch sees no CUDA GPU here; run it on a machine with one", file=sys.stderr)
        return 2
    corpus, _ = open_corpus(tweets_path())
    cpu_loss, cpu_norm, gpu_loss, gpu_norm = same_batch_loss(corpus)
    ok = abs(cpu_loss - gpu_loss) < 1e-4 * max(1.0, abs(cpu_loss)) and abs(cpu_norm - gpu_norm) < 1e-3 * max(
        1.0, cpu_norm
    )
    rows = [
        (
            "one batch, CPU vs CUDA",
            f"loss {gpu_loss:.6f}, grad norm {gpu_norm:.5f}",
            f"CPU loss {cpu_loss:.6f}, grad norm {cpu_norm:.5f}",
            "agree" if ok else "DISAGREE",
        )
    ]
    for b in (64, 256, 1024):
        fp32 = throughput(corpus, b, bf16=False)
        bf16 = throughput(corpus, b, bf16=True)
        rows.append(
            (f"train, batch {b}", f"{fp32:,.0f} chars/s fp32", f"{bf16:,.0f} chars/s bf16", f"{bf16 / fp32:.2f}x")
        )
    print_table(
        f"tui-gen on {torch.cuda.get_device_name()} (torch {torch.__version__})",
        rows,
        ("what", "CUDA", "other", "ratio"),
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
