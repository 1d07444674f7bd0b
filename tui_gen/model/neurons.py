"""The neuron explorer's engine: every unit's activation at every character of a text, simple features
of the text, and the units ranked by how strongly they track each feature (Karpathy, Johnson and
Fei-Fei 2015 found cells for quotes, brackets and line length).

A unit's activation at character i is its value after the model has read character i, primed as
scoring primes (score.py): under a lines model each line starts from the start-of-line state, so the
"\\n" that ends a line reads as that state. Layers are named `h1`, `h2`, ... (a layer's output), and
for an LSTM also `c1`, `c2`, ... (its cell state); a unit is named by unit_name, `h2:17`.

The gates, on request, are units too, named like them: a GRU's update gate `z1`, `z2`, ... and reset
gate `r1`, ...; an LSTM's input, forget and output gates `i1`, `f1`, `o1`, ... (`z1:17`, `f2:30`). A
gate's value at character i is the one the layer computed while reading character i, from that
character's input and the state before it, by the layer's own weights and PyTorch's equations
(gate_values). In PyTorch's GRU, z near 1 keeps the previous state (h' = (1 - z) * n + z * h) and r
near 0 leaves it out of the candidate n; an LSTM's f near 1 keeps its cell, i lets the new candidate
in, o lets the cell out to h.

A feature is one number per character (1/0 for "inside", a count for positions); a unit's score for
it is the Pearson correlation over the text, ranked by its absolute value (a unit may track a feature
by going down). Features that do not vary over the text are left out (nothing to correlate with).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from tui_gen.core.errors import ConfigError
from tui_gen.core.model_size import CELL_TYPES
from tui_gen.core.regex_time import compile_regex
from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CellWeights, CharRNN

MAX_CHARS = 200_000  # characters analysed at once: activations cost 4 bytes x units per character

OPENING_QUOTES = {'"': '"', "\u201c": "\u201d"}
BRACKETS = {"(": ")", "[": "]", "{": "}"}
URL = re.compile(r"(?:https?://|www\.)\S*|__HTTP__")
TAG = re.compile(r"[@#]\w+")


# Each cell's gates as the explorer names them, and the rows of the layer's weights that make each
# (PyTorch's order: a GRU's weight_ih_l0 rows are r, z, n; an LSTM's are i, f, g, o), in the order
# the explorer lists them. The GRU's candidate n and the LSTM's g are not gates (no sigmoid): left out.
GATES: dict[str, dict[str, int]] = {
    "gru": {"z": 1, "r": 0},
    "lstm": {"i": 0, "f": 1, "o": 3},
    "rnn": {},
}
GATE_WORDS = {  # what each gate is, in PyTorch's convention: the CLI's header and the explorer's say it
    "z": "update gate, 1 keeps the state",
    "r": "reset gate, 0 leaves the state out of the candidate",
    "i": "input gate, 1 lets the candidate in",
    "f": "forget gate, 1 keeps the cell",
    "o": "output gate, 1 lets the cell out",
}
SHOWN = ("hidden", "gates", "both")  # which units explore() reads and ranks


def unit_name(layer: str, unit: int) -> str:
    """A unit's name, as the CLI prints it, the app lists it and its Unit box takes it: `h2:17`, `z1:3`."""
    return f"{layer}:{unit}"


def parse_unit_name(name: str) -> tuple[str, int] | None:
    """unit_name's inverse: ("h2", 17) for "h2:17"; None for a name not of that form."""
    layer, colon, index = name.strip().partition(":")
    if not colon or not index.isdigit() or not index.isascii():
        return None
    return layer, int(index)


def is_gate(layer: str) -> bool:
    """Whether a layer name is a gate's (`z1`, `f2`), not a state's (`h1`, `c2`)."""
    return layer[:1] in GATE_WORDS


def has_gates(cell: str) -> bool:
    return bool(GATES.get(cell))


@dataclass
class Activations:
    text: str
    layers: dict[str, np.ndarray]  # name -> float32 [len(text), units]

    def unit(self, layer: str, index: int) -> np.ndarray:
        return self.layers[layer][:, index]

    def only(self, keep) -> Activations:
        """The layers whose names pass keep(name), in order."""
        return Activations(self.text, {n: v for n, v in self.layers.items() if keep(n)})


@dataclass
class RankedUnit:
    feature: str
    layer: str
    unit: int
    correlation: float  # Pearson r over the text; the ranking goes by its absolute value

    @property
    def name(self) -> str:
        return unit_name(self.layer, self.unit)


@torch.inference_mode()
def collect_activations(model: CharRNN, vocab: Vocab, framing: str, text: str, gates: bool = False) -> Activations:
    """Every layer's activations (LSTM: and cell states) at every character of text; with `gates`,
    every gate of every layer too (after the states: z1, z2, ..., r1, ...)."""
    if len(text) > MAX_CHARS:
        raise ConfigError(
            f"the text has {len(text):,} characters; the explorer reads at most {MAX_CHARS:,} "
            "at once: give it a shorter text"
        )
    model.eval()
    cell = model.config.cell
    cells = CELL_TYPES[cell].cell_state  # an LSTM: its cell states c as units too
    kinds = ["h"] + (["c"] if cells else []) + (list(GATES[cell]) if gates else [])
    names = [f"{kind}{i + 1}" for kind in kinds for i in range(len(model.layers))]
    sizes = list(model.config.hidden_sizes) * len(kinds)
    layers = {n: np.zeros((len(text), h), np.float32) for n, h in zip(names, sizes, strict=False)}
    if not text:
        return Activations(text, layers)
    device = model.head.weight.device
    if framing == "lines":
        # each line read after "\n" from a zero state: its characters' activations; the "\n" that ends
        # it reads as the next line's start-of-line state
        pieces, at = [], 0
        for line in text.split("\n"):
            pieces.append(("\n" + line, at - 1))  # the leading "\n" is the previous line's end (or none)
            at += len(line) + 1
    else:
        pieces = [(text, 0)]
    for piece, start in pieces:
        ids = torch.from_numpy(vocab.encode(piece)).long().unsqueeze(0).to(device)
        per_layer = _run(model, ids, gates)
        skip = 1 if start < 0 else 0  # the text's first line: no "\n" before it to record
        for name, values in zip(names, per_layer, strict=False):
            layers[name][start + skip : start + len(piece)] = values[skip : len(piece)]
    return Activations(text, layers)


def _run(model: CharRNN, ids: torch.Tensor, gates: bool = False) -> list[np.ndarray]:
    """Per layer the outputs [T, units] for ids [1, T] from a zero state (LSTM: outputs, then cells;
    with `gates`, then each gate of GATES[cell] for every layer)."""
    cell = model.config.cell
    x = model._inputs(ids)
    hs, cs = [], []
    gate_values: dict[str, list[np.ndarray]] = {g: [] for g in GATES[cell]} if gates else {}
    for module in model.layers:
        layer = cast(nn.RNNBase, module)  # cast: nn.ModuleList types its items as Module; these are GRU/LSTM/RNN
        # cast: nn.Module types every attribute it finds as Tensor | Module; these are the layer's Parameters
        w = cast(CellWeights, (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0))
        inputs = x[0]
        if CELL_TYPES[cell].cell_state:
            # nn.LSTM returns every step's h but only the last c: step the fused cell for the c's
            h = torch.zeros(1, layer.hidden_size, dtype=x.dtype, device=x.device)
            c = torch.zeros_like(h)
            outs, cells = [], []
            for t in range(x.shape[1]):
                h, c = torch.lstm_cell(x[:, t], (h, c), *w)
                outs.append(h)
                cells.append(c)
            x = torch.stack(outs, 1)
            cs.append(torch.cat(cells).float().cpu().numpy())
        else:
            x, _ = layer(x)
        hs.append(x[0].float().cpu().numpy())
        if gate_values:
            # the state each step read: zero before the first character, then each step's output
            before = torch.cat([torch.zeros_like(x[0][:1]), x[0][:-1]])
            for g, values in gate_values_of(cell, w, inputs, before).items():
                gate_values[g].append(values.float().cpu().numpy())
    return hs + cs + [v for values in gate_values.values() for v in values]


def gate_values_of(
    cell: str, weights: CellWeights, inputs: torch.Tensor, before: torch.Tensor
) -> dict[str, torch.Tensor]:
    """A layer's gates [T, hidden] at each step, from its inputs [T, in] and the states h it read
    [T, hidden] (each step's h before it), by PyTorch's equations for the cell: a gate is
    sigmoid(W_i x + b_i + W_h h + b_h) over its rows of the weights (GATES). Every step at once: the
    gates of a step depend on nothing but its input and the state before it."""
    w_ih, w_hh, b_ih, b_hh = weights
    hidden = w_hh.shape[1]
    pre_input = inputs @ w_ih.T + b_ih  # [T, blocks x hidden]
    pre_state = before @ w_hh.T + b_hh
    out = {}
    for g, block in GATES[cell].items():
        rows = slice(block * hidden, (block + 1) * hidden)
        out[g] = torch.sigmoid(pre_input[:, rows] + pre_state[:, rows])
    return out


def features(text: str, framing: str = "lines", patterns: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """The simple features of text, one float per character (what it is after reading that character),
    plus one per regular expression in patterns (name -> regex: 1 inside a match). Quotes and brackets
    start afresh on each line under a lines model (each line is its own sample).

    A pattern from a user must have passed tui_gen.core.regex_time.check_regex over this text first: here
    it is only compiled (a bad one is a ConfigError), and a pattern that backtracks for ever would run
    for ever, holding the GIL."""
    n = len(text)
    in_quotes = np.zeros(n, np.float32)
    in_brackets = np.zeros(n, np.float32)
    in_line = np.zeros(n, np.float32)
    since_space = np.zeros(n, np.float32)
    to_end = np.zeros(n, np.float32)
    closing, depth, col, run = None, 0, 0, 0
    line_start = 0
    for i, ch in enumerate(text):
        if ch == "\n":
            to_end[line_start:i] = np.arange(i - line_start, 0, -1)
            line_start = i + 1
            col = run = 0
            if framing == "lines":
                closing, depth = None, 0
            continue
        if closing is not None and ch == closing:
            closing = None  # after reading the closing quote: outside
        elif closing is None and ch in OPENING_QUOTES:
            closing = OPENING_QUOTES[ch]  # after reading the opening quote: inside
        in_quotes[i] = float(closing is not None)
        if ch in BRACKETS:
            depth += 1
        elif ch in BRACKETS.values():
            depth = max(0, depth - 1)
        in_brackets[i] = float(depth > 0)
        col += 1
        run = 0 if ch.isspace() else run + 1
        in_line[i] = col
        since_space[i] = run
    to_end[line_start:n] = np.arange(n - line_start, 0, -1)
    out = {
        "inside quotes": in_quotes,
        "inside brackets": in_brackets,
        "position in line": in_line,
        "chars since space": since_space,
        "chars to line end": to_end,
        "inside a URL": _matches(text, URL),
        "inside a @/# word": _matches(text, TAG),
    }
    for name, pattern in (patterns or {}).items():
        out[name] = _matches(text, compile_regex(pattern))
    return out


def _matches(text: str, pattern: re.Pattern) -> np.ndarray:
    out = np.zeros(len(text), np.float32)
    for m in pattern.finditer(text):
        out[m.start() : m.end()] = 1
    return out


def correlations(values: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson r of each column of values [N, units] with feature [N]; 0 for a constant unit."""
    v = values.astype(np.float64) - values.mean(0, dtype=np.float64)
    f = feature.astype(np.float64) - feature.mean(dtype=np.float64)
    norm = np.sqrt((v * v).sum(0) * (f * f).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (v * f[:, None]).sum(0) / norm
    return np.nan_to_num(r, nan=0.0)


def rank_units(
    layers: dict[str, np.ndarray], feats: dict[str, np.ndarray], top: int = 5
) -> dict[str, list[RankedUnit]]:
    """For each feature that varies over the text, the `top` units with the largest |r|, best first."""
    out: dict[str, list[RankedUnit]] = {}
    for name, f in feats.items():
        if len(f) < 2 or float(f.std()) == 0.0:
            continue
        found: list[RankedUnit] = []
        for layer, values in layers.items():
            r = correlations(values, f)
            found.extend(RankedUnit(name, layer, int(u), float(r[u])) for u in range(len(r)))
        found.sort(key=lambda u: (-abs(u.correlation), u.layer, u.unit))
        out[name] = found[: max(0, top)]
    return out


def explore(
    model: CharRNN,
    vocab: Vocab,
    framing: str,
    text: str,
    top: int = 5,
    patterns: dict[str, str] | None = None,
    show: str = "hidden",
) -> tuple[Activations, dict[str, list[RankedUnit]]]:
    """Activations of text and the units ranked for each feature: what the CLI prints and the app shows.
    `show` (SHOWN): the hidden units (and an LSTM's cells), the gates alone, or both ranked together.
    Gates of a cell that has none (an RNN) are a ConfigError."""
    if show not in SHOWN:
        raise ValueError(f"show must be one of {SHOWN}, got {show!r}")
    if show != "hidden" and not has_gates(model.config.cell):
        raise ConfigError(
            f"this model's cell ({model.config.cell.upper()}) has no gates: a GRU's or an LSTM's has them "
            "(--cell gru or lstm)"
        )
    acts = collect_activations(model, vocab, framing, text, gates=show != "hidden")
    if show == "gates":
        acts = acts.only(is_gate)
    return acts, rank_units(acts.layers, features(text, framing, patterns), top)


def units_total(layers: dict[str, np.ndarray]) -> int:
    return sum(v.shape[1] for v in layers.values())
