"""How many parameters a CharRNN has, without building it (no torch): the new-run form shows it as
you type. tests/test_model_size.py checks it against sum(p.numel()) of the real tui_gen.model.network.CharRNN."""

from __future__ import annotations

from tui_gen.core.errors import ConfigError

# Weight blocks per recurrent layer: nn.GRU has 3 gates, nn.LSTM 4, nn.RNN 1 (tanh).
GATES = {"gru": 3, "lstm": 4, "rnn": 1}

MAX_FILE_BYTES = 4 * 2**30  # the largest checkpoint file tui-gen writes or reads
# The largest model whose resumable checkpoint (float32 weights and Adam's two moments) fits in
# MAX_FILE_BYTES: a header declaring more is refused before anything is allocated.
MAX_PARAMETERS = MAX_FILE_BYTES // (3 * 4)


def parameter_count(vocab_size: int, hidden_sizes: list[int], cell: str = "gru", embedding_dim: int = 32) -> int:
    """The embedding (absent for one-hot input), each layer's input and recurrent weights and their two
    biases, and the output layer back to the vocabulary."""
    if cell not in GATES:
        shown = repr(cell) if len(repr(cell)) <= 40 else repr(cell)[:37] + "..."
        raise ConfigError(f"unknown cell type {shown}: choose one of {', '.join(GATES)}")
    total = vocab_size * embedding_dim
    inputs = embedding_dim or vocab_size
    for hidden in hidden_sizes:
        gates = GATES[cell] * hidden
        total += gates * (inputs + hidden) + 2 * gates  # weight_ih, weight_hh, bias_ih, bias_hh
        inputs = hidden
    return total + inputs * vocab_size + vocab_size
