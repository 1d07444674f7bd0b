"""The character-level recurrent language model.

Stacked recurrent layers with per-layer hidden sizes (the lecture's [128, 256]). Each layer is its
own fused nn.GRU / nn.LSTM / nn.RNN (cuDNN on a GPU), since one nn.GRU module needs equal sizes.
The hidden state goes in and comes out, so generation carries it and training can do truncated BPTT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from tui_gen.core.config import TrainConfig
from tui_gen.core.errors import ConfigError
from tui_gen.core.model_size import CELL_TYPES
from tui_gen.data.vocab import PAD
from tui_gen.model.window_gru import window_gru

# Each cell type's torch layer and its fused one-step kernel (generation's hot path); what else tui-gen
# knows of a cell (its gates, whether it carries a cell state) is core.model_size.CELL_TYPES.
CELLS: dict[str, tuple[Callable[..., nn.RNNBase], Callable[..., Any]]] = {
    "gru": (nn.GRU, torch.gru_cell),
    "lstm": (nn.LSTM, torch.lstm_cell),
    "rnn": (nn.RNN, torch.rnn_tanh_cell),
}

# A layer's state: a tensor (GRU, RNN) or an (h, c) pair (LSTM), each [1, batch, hidden].
LayerState = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
State = list[LayerState]
# A layer's (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0), as the fused cell functions take them.
CellWeights = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class ModelConfig:
    """The model's shape. Its defaults are TrainConfig's, written once there: the default model is the
    one `tui-gen train` trains."""

    vocab_size: int
    hidden_sizes: list[int] = field(default_factory=lambda: TrainConfig().hidden_sizes)
    cell: str = TrainConfig.cell
    embedding_dim: int = TrainConfig.embedding_dim  # 0 means one-hot input, as in the lecture
    dropout: float = TrainConfig.dropout

    @classmethod
    def of(cls, config: TrainConfig, vocab_size: int) -> ModelConfig:
        """The model a training configuration asks for, over a vocabulary of vocab_size."""
        return cls(
            vocab_size=vocab_size,
            hidden_sizes=list(config.hidden_sizes),
            cell=config.cell,
            embedding_dim=config.embedding_dim,
            dropout=config.dropout,
        )

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise ConfigError(f"unknown cell type {self.cell!r}: choose one of {', '.join(CELLS)}")
        if not self.hidden_sizes or any(int(h) <= 0 or int(h) > 8192 for h in self.hidden_sizes):
            raise ConfigError(
                f"hidden sizes must be 1 to 8192 per layer, got {self.hidden_sizes}: try --hidden 128,256"
            )
        if len(self.hidden_sizes) > 16:
            raise ConfigError(f"at most 16 layers, got {len(self.hidden_sizes)}")
        if not 0 <= self.embedding_dim <= 4096:
            raise ConfigError(f"embedding size must be 0 (one-hot) to 4096, got {self.embedding_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.vocab_size < 3:
            raise ConfigError("the vocabulary is empty: the corpus has no usable characters")

    def to_json(self) -> dict:
        return asdict(self)


class CharRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        v = config.vocab_size
        self.embed: nn.Embedding | None
        if config.embedding_dim:
            self.embed = nn.Embedding(v, config.embedding_dim, padding_idx=PAD)
            in_size = config.embedding_dim
        else:
            self.embed = None
            in_size = v
        cell = CELLS[config.cell][0]
        layers = []
        for h in config.hidden_sizes:
            layers.append(cell(in_size, h, batch_first=True))
            in_size = h
        self.layers = nn.ModuleList(layers)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(in_size, v)
        # The dtype of training's matrix products on the CPU (window_gru): the trainer sets it from
        # --precision (training.device.matmul_dtype); everything else runs in the weights' dtype.
        self.matmul_dtype = torch.float32

    def flatten_parameters(self) -> None:
        """Each recurrent layer's weights as one contiguous block, as cuDNN wants them: call after
        moving or loading the model (under DDP a non-contiguous layer would be copied on every step,
        with a warning). A no-op on the CPU."""
        for layer in self.layers:
            # cast: nn.ModuleList types its items as Module; each of these is an nn.GRU/LSTM/RNN (CELLS)
            cast(nn.RNNBase, layer).flatten_parameters()

    def _inputs(self, ids: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            return self.embed(ids)
        x = F.one_hot(ids, self.config.vocab_size).to(self.head.weight.dtype)
        x[..., PAD] = 0  # padding is all zeros, never a real character's one-hot
        return x

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """ids [batch, time] -> logits [batch, time, vocab] and the state after the last step."""
        if self._trains_window_gru():
            return self._forward_window_gru(ids, state)
        x = self._inputs(ids)
        new_state: State = []
        for i, layer in enumerate(self.layers):
            x, s = layer(x, None if state is None else state[i])
            new_state.append(s)
            if i < len(self.layers) - 1:
                x = self.drop(x)
        return self.head(self.drop(x)), new_state

    def _trains_window_gru(self) -> bool:
        """A GRU being trained on the CPU goes through window_gru, whose backward is faster than
        autograd's record of nn.GRU (and can use bf16 products); evaluation, generation and other
        devices keep the torch layers (cuDNN on a GPU)."""
        return self.config.cell == "gru" and torch.is_grad_enabled() and self.head.weight.device.type == "cpu"

    def _forward_window_gru(self, ids: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """forward() through window_gru: time-major inside, the same shapes outside."""
        x = self._inputs(ids.t())  # [time, batch, ...]
        new_state: State = []
        for i, weights in enumerate(self.cell_weights()):
            h0 = x.new_zeros(x.shape[1], weights[1].shape[1]) if state is None else cast(torch.Tensor, state[i])[0]
            x, last = window_gru(x, h0, weights, self.matmul_dtype)
            new_state.append(last.unsqueeze(0))
            if i < len(self.layers) - 1:
                x = self.drop(x)
        return self.head(self.drop(x)).transpose(0, 1), new_state

    def step(self, ids: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """One time step, ids [batch] -> logits [batch, vocab]. The same maths as forward(), through
        the fused single-step cell kernels, which skip nn.GRU's per-call overhead: generation is
        one step at a time, so this is its hot path (batch 1, one generation: OneStep)."""
        if state is None:
            state = self.zero_state(ids.shape[0], ids.device)
        x = self._inputs(ids)
        kernel = CELLS[self.config.cell][1]
        new_state: State = []
        for w, s in zip(self.cell_weights(), state, strict=False):
            if isinstance(s, tuple):  # a cell state beside h (CELL_TYPES[cell].cell_state)
                h, c = kernel(x, (s[0][0], s[1][0]), *w)
                new_state.append((h.unsqueeze(0), c.unsqueeze(0)))
            else:
                h = kernel(x, s[0], *w)
                new_state.append(h.unsqueeze(0))
            x = h
        return F.linear(x, self.head.weight, self.head.bias), new_state  # self.head(x), without the module call

    def cell_weights(self) -> list[CellWeights]:
        """Each layer's weights as the fused cell kernels take them: the Parameters themselves."""
        # cast: nn.Module types every attribute it finds as Tensor | Module; these are the layer's Parameters
        return [
            cast(CellWeights, (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0))
            for layer in self.layers
        ]

    def zero_state(self, batch: int, device: torch.device | str | None = None) -> State:
        device = device or self.head.weight.device
        dtype = self.head.weight.dtype
        state: State = []
        for h in self.config.hidden_sizes:
            z = torch.zeros(1, batch, h, device=device, dtype=dtype)
            state.append((z, z.clone()) if CELL_TYPES[self.config.cell].cell_state else z)
        return state


class OneStep:
    """CharRNN.step for one generation at batch 1, id by id (sample.Generator's loop, where the Python
    around each step was a quarter of its time): the layers' weights looked up once, the state kept as
    the [1, hidden] tensors the kernels take (no views made and unmade each step), and each id's input
    row made the first time it is drawn and reused.

    The same kernels on the same values as step(), so the same logits bit for bit. It holds the
    model's Parameters, so weights changed in place are seen by the weights, but not by the input rows
    already made, nor a layer replaced: make one per generation, as Generator does."""

    def __init__(self, model: CharRNN, state: State):
        self._model = model
        self._kernel = CELLS[model.config.cell][1]
        self._weights = model.cell_weights()
        self._head = (model.head.weight, model.head.bias)
        self._device = model.head.weight.device
        self._rows: dict[int, torch.Tensor] = {}
        # A layer's state as the kernel takes and returns it: h, or the pair (h, c), each [1, hidden].
        self._state: list[Any] = [(s[0][0], s[1][0]) if isinstance(s, tuple) else s[0] for s in state]

    def __call__(self, i: int) -> torch.Tensor:
        """Feed the id i; the logits [1, vocab] after it."""
        x = self._rows.get(i)
        if x is None:
            x = self._rows[i] = self._model._inputs(torch.tensor([i], device=self._device))
        kernel, state = self._kernel, self._state
        for n, w in enumerate(self._weights):
            s = state[n] = kernel(x, state[n], *w)
            x = s[0] if isinstance(s, tuple) else s
        return F.linear(x, *self._head)


def map_state(state: State, fn: Callable[[torch.Tensor], torch.Tensor]) -> State:
    """Apply fn to every tensor of a state (detach, index a batch row, mask, move)."""
    return [(fn(s[0]), fn(s[1])) if isinstance(s, tuple) else fn(s) for s in state]


def state_tensors(state: State) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for s in state:
        out.extend(s if isinstance(s, tuple) else [s])
    return out


def state_from_tensors(tensors: list[torch.Tensor], cell: str) -> State:
    if CELL_TYPES[cell].cell_state:
        return [(tensors[i], tensors[i + 1]) for i in range(0, len(tensors), 2)]
    return list(tensors)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def masked_nll(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed negative log-likelihood (nats) over real positions, and how many there are.

    The mask is explicit, not derived from the targets, so whatever sits in padded positions
    (inputs or targets) cannot change the loss or its gradient.
    """
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
    m = mask.reshape(-1).to(nll.dtype)
    return (nll * m).sum(), m.sum()
