"""How many parameters a CharRNN has, without building it (no torch): the new-run form shows it as
you type. tests/test_model_size.py checks it against sum(p.numel()) of the real tui_gen.model.network.CharRNN."""

from __future__ import annotations

from dataclasses import dataclass

from tui_gen.core.errors import ConfigError


@dataclass(frozen=True)
class CellType:
    """What tui-gen knows of a recurrent cell without torch: a layer's weight blocks (nn.GRU has 3
    gates, nn.LSTM 4, nn.RNN 1) and whether its state carries a cell state c beside h (the LSTM).
    tui_gen.model.network maps each name to its torch layer and one-step kernel."""

    gates: int
    cell_state: bool = False

    @property
    def state_parts(self) -> int:
        """Tensors per layer in a state: h, or h and c."""
        return 2 if self.cell_state else 1


# The cell types, written once: the --cell choices (core.settings.CELLS) and the network's table follow.
CELL_TYPES: dict[str, CellType] = {
    "gru": CellType(gates=3),
    "lstm": CellType(gates=4, cell_state=True),
    "rnn": CellType(gates=1),
}

MAX_FILE_BYTES = 4 * 2**30  # the largest checkpoint file tui-gen writes or reads
# The largest model whose resumable checkpoint (float32 weights and Adam's two moments) fits in
# MAX_FILE_BYTES: a header declaring more is refused before anything is allocated.
MAX_PARAMETERS = MAX_FILE_BYTES // (3 * 4)


def parameter_count(vocab_size: int, hidden_sizes: list[int], cell: str = "gru", embedding_dim: int = 32) -> int:
    """The embedding (absent for one-hot input), each layer's input and recurrent weights and their two
    biases, and the output layer back to the vocabulary."""
    if cell not in CELL_TYPES:
        shown = repr(cell) if len(repr(cell)) <= 40 else repr(cell)[:37] + "..."
        raise ConfigError(f"unknown cell type {shown}: choose one of {', '.join(CELL_TYPES)}")
    total = vocab_size * embedding_dim
    inputs = embedding_dim or vocab_size
    for hidden in hidden_sizes:
        gates = CELL_TYPES[cell].gates * hidden
        total += gates * (inputs + hidden) + 2 * gates  # weight_ih, weight_hh, bias_ih, bias_hh
        inputs = hidden
    return total + inputs * vocab_size + vocab_size
