"""Scoring held-out text: summed negative log-likelihood over batches, in bounded chunks along time.

A batch may hold one very long line (a 10 MB line is one row). Running the model over it whole keeps
the logits [B, T, vocab] and every layer's outputs for all T positions, gigabytes for a long line.
So each batch is cut along time into chunks of about CHUNK_TOKENS positions and the recurrent state is
carried from chunk to chunk: the maths is the same as one pass (a recurrent layer's output at step t
depends only on the state before it), and memory depends on the chunk, not on the line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from tui_gen.data.corpus import Batch
from tui_gen.model.network import CharRNN, masked_nll

CHUNK_TOKENS = 4096  # positions (rows x time steps) per forward pass: ~25 MB with the default model
# Shares of a text's characters that its model maps to "unknown": above WARN the figure is flagged as
# not comparable with the validation score; from REFUSE on (half the text or more: Cyrillic text for a
# model of English is ~85% unknown, its spaces being known) there is nothing meaningful to report.
WARN_UNKNOWN_SHARE = 0.01
REFUSE_UNKNOWN_SHARE = 0.5


@dataclass
class Score:
    nll: float  # summed negative log-likelihood, nats
    chars: int  # how many characters were scored


def time_chunk(rows: int, chunk_tokens: int = CHUNK_TOKENS) -> int:
    """Time steps per chunk for a batch of `rows` rows: at least one."""
    return max(1, chunk_tokens // max(1, rows))


@torch.inference_mode()
def score_batches(
    model: CharRNN,
    batches: Iterable[Batch],
    device: torch.device | str,
    chunk_tokens: int = CHUNK_TOKENS,
    progress: Callable[[int], None] | None = None,
) -> Score:
    """Every batch from a zero state, its masked NLL summed. The caller puts the model in eval mode
    (training's evaluation and `tui-gen eval` both do). progress(characters scored so far), if given,
    after each batch: counted from the batch's mask on the host, so the device is never waited for."""
    total = torch.zeros((), dtype=torch.float64, device=device)
    chars = torch.zeros((), dtype=torch.int64, device=device)
    done = 0
    for b in batches:
        step = time_chunk(b.inputs.shape[0], chunk_tokens)
        state = None
        for a in range(0, b.inputs.shape[1], step):
            x = b.inputs[:, a : a + step].to(device)
            y = b.targets[:, a : a + step].to(device)
            m = b.mask[:, a : a + step].to(device)
            logits, state = model(x, state)
            nll, n = masked_nll(logits, y, m)
            total += nll.double()  # summed on the device: no sync per chunk
            chars += n.long()  # per chunk: a whole row's mask.sum() makes an int64 copy of it
        if progress is not None:
            done += sum(int(b.mask[:, a : a + step].sum()) for a in range(0, b.mask.shape[1], step))
            progress(done)
    return Score(nll=float(total), chars=int(chars))
