"""How far back the gradient reaches: vanishing gradients, measured (`tui-gen gradients`, the app's
"Gradient reach").

For a position t of a text and a lag k, the reach is the norm of the gradient of the loss at t (the
negative log-likelihood of the character after t) with respect to the model's input at t - k: the
character embedding, or the one-hot vector of a model without one. Its mean over many positions,
divided by the mean at k = 0, says how much of what the loss has to say still reaches k characters
back: the signal a training step could learn a k-character dependency from. A tanh RNN's falls off
geometrically; gates (a GRU's, an LSTM's) are there to keep it up.

Each window is one target position: its inputs up to t (after a stretch read to settle the state, as
training and evaluation read the text), and the character after t as the target. One backward pass
per batch of windows gives every lag at once, since the loss at t depends on no input after t.

How the text is read follows the model's framing, as score.py and neurons.py read it:
- stream: a window starts WARMUP characters before t - max_lag, from a zero state (evaluation's state
  resets are further apart than that, so the state is one the model has been trained from).
- lines: each line is read from the start-of-line state (the "\\n" before it), so a lag that reaches
  before the line's start has no input to reach: such a window does not count for that lag, and
  `Reach.windows` says how many windows each lag's mean stands on. Target positions are drawn
  uniformly over the text's characters (a long line holds more of them), up to max_lag + WARMUP
  characters into a line; later positions of a longer line are not drawn.

The network is stepped here with its own one-step kernels and Parameters (CharRNN.cell_weights), the
same maths as its forward pass, since a line's zero state falls at a different step in each window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from tui_gen.core.errors import ConfigError, CorpusError
from tui_gen.data.corpus import LineSet, StreamPart
from tui_gen.data.vocab import PAD, Vocab
from tui_gen.model.network import CELLS, CharRNN

DEFAULT_MAX_LAG = 100
MAX_LAG = 1000  # steps back-propagated per window: memory grows with it
DEFAULT_WINDOWS = 256
WARMUP = 100  # characters read, without gradients, before the first measured one
# Window-steps per backward pass: the graph holds each step of every layer of each window (64 windows of
# 101 steps of the default model: about 130 MB), so a longer reach goes in fewer windows at a time.
STEPS_PER_PASS = 64 * 101
THRESHOLDS = (1e-2, 1e-3)  # the lags said: where the signal falls below 1% and below 0.1%


@dataclass
class Windows:
    """Windows of a text, right-aligned: each row is its inputs, then its target in the last column."""

    ids: np.ndarray  # [N, W + 1] int64: W inputs (PAD before a row's start), the target
    start: np.ndarray  # [N] int64: the column of each row's first input; its state is zero before it

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Reach:
    """The mean gradient norm at each lag 0..max_lag, and how many windows each mean is over."""

    mean_norm: np.ndarray  # [max_lag + 1] float64; NaN where no window reaches back that far
    windows: np.ndarray  # [max_lag + 1] int64

    @property
    def max_lag(self) -> int:
        return len(self.mean_norm) - 1

    @property
    def relative(self) -> np.ndarray:
        """mean_norm / mean_norm[0]: 1 at lag 0 (NaN where no window reaches; all NaN for a zero gradient)."""
        base = float(self.mean_norm[0]) if len(self.mean_norm) else 0.0
        if not base > 0.0:
            return np.full(len(self.mean_norm), np.nan)
        return self.mean_norm / base

    def below(self, fraction: float) -> int | None:
        """The first lag whose relative reach is under `fraction`; None if none measured is."""
        rel = self.relative
        hits = np.flatnonzero(rel < fraction)  # NaN compares false: lags no window reaches are skipped
        return int(hits[0]) if len(hits) else None

    def as_json(self) -> list[dict[str, float | int | None]]:
        """[{"lag": k, "relative": value}, ...], lag 0 first; None (JSON null) where no window reaches."""
        return [{"lag": k, "relative": None if np.isnan(v) else float(v)} for k, v in enumerate(self.relative.tolist())]


def window_edge(seq_len: int) -> int:
    """The furthest lag a training step's gradient spans: a window of seq_len inputs is back-propagated
    through alone (truncated BPTT), so its last character's loss reaches back seq_len - 1 characters,
    however far the state is carried (stream framing carries it across windows; the gradient stops)."""
    return seq_len - 1


def state_words(framing: str, overlap: int, reset_every: int) -> str:
    """How training carried the state from one window to the next, in words (the reach screen and
    `tui-gen gradients` say it beside the window's edge)."""
    if framing == "stream":
        return f"stream framing carries the state across windows (reset every {reset_every}), but not the gradient"
    if overlap == 0:
        return "lines framing carries the state from a line's window to its next, but not the gradient"
    return "lines framing reads each window of a line from a zero state"


def check_max_lag(max_lag: int) -> None:
    if not 1 <= max_lag <= MAX_LAG:
        raise ConfigError(f"--max-lag must be 1 to {MAX_LAG}, got {max_lag}")


def stream_windows(
    part: StreamPart, vocab: Vocab, max_lag: int, count: int = DEFAULT_WINDOWS, seed: int = 0, warmup: int = WARMUP
) -> Windows:
    """`count` windows at seeded random places of a stretch of text (fewer when it is short), each
    `warmup` + max_lag + 1 inputs and a target."""
    check_max_lag(max_lag)
    need = max_lag + 2  # the inputs t - max_lag .. t, and the target after t
    if len(part) < need:
        raise ConfigError(
            f"the text has {len(part):,} characters: reaching back {max_lag} needs at least {need}; "
            "give a longer text or a smaller --max-lag"
        )
    warmup = max(0, min(warmup, len(part) - need))
    width = warmup + need
    places = len(part) - width + 1
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.choice(places, size=min(count, places), replace=False))
    ids = np.stack([part.ids(vocab, int(a), int(a) + width) for a in offsets]).astype(np.int64)
    return Windows(ids, np.zeros(len(ids), np.int64))


def line_windows(
    part: LineSet, vocab: Vocab, max_lag: int, count: int = DEFAULT_WINDOWS, seed: int = 0, warmup: int = WARMUP
) -> Windows:
    """`count` target positions drawn at random (seeded) over the lines' characters, each line framed as
    training frames it ("\\n" + line + "\\n"), each window its line from the start up to the position."""
    check_max_lag(max_lag)
    reach = max_lag + 1 + warmup  # the most inputs a window holds: positions further into a line are not drawn
    # a framed line of n characters has n + 1 targets (its characters, then the "\n" that ends it)
    targets = np.minimum(part.lengths + 1, reach)
    total = int(targets.sum())
    if total == 0:
        raise ConfigError("the text has no lines to read: give a text with some characters in it")
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(total, size=min(count, total), replace=False))
    ends = np.cumsum(targets)
    lines = np.searchsorted(ends, picks, side="right")
    positions = picks - (ends[lines] - targets[lines])  # the input position t in the framed line
    width = int(positions.max()) + 1
    lut, newline = part.corpus.lut(vocab), vocab.id_of("\n")
    ids = np.full((len(picks), width + 1), PAD, np.int64)
    start = np.empty(len(picks), np.int64)
    for row, (line, t) in enumerate(zip(lines.tolist(), positions.tolist(), strict=True)):
        a, n = int(part.starts[line]), int(part.lengths[line])
        framed = np.empty(n + 2, np.int64)
        framed[0] = framed[-1] = newline
        framed[1:-1] = lut[np.asarray(part.corpus.symbols[a : a + n])] if n else []
        start[row] = width - 1 - t
        ids[row, start[row] :] = framed[: t + 2]
    return Windows(ids, start)


def measured_text(
    corpus_ref: object,
    framing: str,
    val_fraction: float,
    seed: int,
    corpus_digest: object = None,
    file: str | None = None,
) -> tuple[LineSet | StreamPart, str]:
    """The text reach is measured over, as the model's framing reads it, and its name: the run's held-out
    split (no FILE, or FILE is the run's own corpus under any name: the same rule as `tui-gen eval`), or
    all of FILE. corpus_ref and corpus_digest are the checkpoint's (from outside: checked here). A
    built-in corpus that is not on disk is fetched, as for `tui-gen eval`."""
    from tui_gen.data.corpus import split_encoded
    from tui_gen.data.sources import open_corpus

    own_ref = corpus_ref if isinstance(corpus_ref, str) and corpus_ref else None
    if file is None and own_ref is None:
        raise ConfigError("the checkpoint does not name its corpus: give a FILE to measure over")
    try:
        corpus, ref = open_corpus(file or own_ref, framing=framing)
    except CorpusError as e:
        if file is not None:
            raise
        raise CorpusError(f"cannot read the run's corpus ({e}): give a FILE to measure over") from None
    enc = corpus.encoded_corpus()
    own = file is None or ref == own_ref or (isinstance(corpus_digest, str) and enc.digest == corpus_digest)
    if own:
        return split_encoded(enc, framing, val_fraction, seed, corpus.name).val, f"{ref} (its held-out split)"
    if framing == "lines":
        return LineSet(enc, np.ascontiguousarray(enc.lines[:, 0]), np.ascontiguousarray(enc.lines[:, 1])), ref
    return StreamPart(enc, 0, enc.n_chars), ref


def windows_of(
    part: LineSet | StreamPart, vocab: Vocab, max_lag: int, count: int = DEFAULT_WINDOWS, seed: int = 0
) -> Windows:
    """The windows for a model of the part's framing: a LineSet's lines, or a StreamPart's stretch."""
    if isinstance(part, LineSet):
        return line_windows(part, vocab, max_lag, count, seed)
    return stream_windows(part, vocab, max_lag, count, seed)


def gradient_reach(model: CharRNN, windows: Windows, max_lag: int, batch: int | None = None) -> Reach:
    """The reach of `model` over `windows` at lags 0..max_lag (each window must hold max_lag + 1 inputs
    or start later: a lines window that starts later counts only for the lags it reaches), `batch`
    windows per backward pass (default: as many as STEPS_PER_PASS allows)."""
    check_max_lag(max_lag)
    batch = batch or max(1, STEPS_PER_PASS // (max_lag + 1))
    if len(windows) == 0:
        raise ConfigError("no windows to measure the gradient over: give a longer text")
    if windows.ids.shape[1] < max_lag + 2:
        # a lines text whose every line is short: the columns before its starts are padding
        pad = max_lag + 2 - windows.ids.shape[1]
        windows = Windows(np.pad(windows.ids, ((0, 0), (pad, 0)), constant_values=PAD), windows.start + pad)
    was_training = model.training
    model.eval()  # no dropout: the gradient of the model as it predicts
    total = np.zeros(max_lag + 1)
    counts = np.zeros(max_lag + 1, np.int64)
    try:
        for a in range(0, len(windows), batch):
            norms, valid = _batch_norms(model, windows.ids[a : a + batch], windows.start[a : a + batch], max_lag)
            total += np.where(valid, norms, 0.0).sum(0)
            counts += valid.sum(0)
    finally:
        model.train(was_training)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    return Reach(mean, counts)


def _batch_norms(
    model: CharRNN, ids_np: np.ndarray, start_np: np.ndarray, max_lag: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per window and lag 0..max_lag: the gradient's norm [B, max_lag + 1], and whether the window
    reaches back that far (its input there is inside its sample)."""
    device = model.head.weight.device
    ids = torch.from_numpy(ids_np).to(device)
    start = torch.from_numpy(start_np).to(device)
    width = ids.shape[1] - 1  # inputs; the last column is the target
    first = width - (max_lag + 1)  # the first measured column: lag max_lag
    kernel = CELLS[model.config.cell][1]
    weights = model.cell_weights()
    state = [_zero(s) for s in model.zero_state(ids.shape[0], device)]
    leaves: list[torch.Tensor] = []
    with torch.no_grad():
        inputs = model._inputs(ids[:, :-1])  # [B, W, input]: the embedding rows, or one-hot
    for col in range(width):
        keep = (start != col).to(inputs.dtype)[:, None]  # 0 where a row's sample starts: a zero state
        x = inputs[:, col]
        measured = col >= first
        if measured:
            x = x.clone().requires_grad_()
            leaves.append(x)
        with torch.set_grad_enabled(measured):
            for n, w in enumerate(weights):
                s = state[n]
                s = (s[0] * keep, s[1] * keep) if isinstance(s, tuple) else s * keep
                s = state[n] = kernel(x, s, *w)
                x = s[0] if isinstance(s, tuple) else s
    with torch.enable_grad():
        logits = F.linear(x, model.head.weight, model.head.bias)
        loss = F.cross_entropy(logits.float(), ids[:, -1], reduction="sum")  # each window's loss alone
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    # leaves run from lag max_lag (column `first`) to lag 0 (the last input column)
    norms = torch.stack(
        [torch.zeros(ids.shape[0], device=device) if g is None else g.float().norm(dim=1) for g in grads[::-1]], 1
    )
    lags = torch.arange(max_lag + 1, device=device)
    valid = (width - 1 - lags)[None, :] >= start[:, None]
    return norms.cpu().numpy().astype(np.float64), valid.cpu().numpy()


def _zero(s):
    """A state of zero_state's shape [1, B, H] as the kernels take it: [B, H] (or the pair)."""
    return (s[0][0], s[1][0]) if isinstance(s, tuple) else s[0]
