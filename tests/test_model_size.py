"""The new-run form's parameter count (tui_gen.core.model_size, no torch) is the real model's."""

from __future__ import annotations

import pytest

from tui_gen.core.model_size import CELL_TYPES, parameter_count
from tui_gen.model.network import CELLS, CharRNN, ModelConfig, count_parameters


@pytest.mark.parametrize(
    "vocab, hidden, cell, embedding",
    [
        (98, [128, 256], "gru", 32),  # the defaults
        (98, [128, 256], "gru", 0),  # the lecture's one-hot input
        (70, [32], "lstm", 8),
        (70, [64, 64], "lstm", 0),
        (5, [7, 3, 11], "rnn", 4),
        (300, [1], "gru", 1),
    ],
)
def test_the_count_is_the_real_models(vocab, hidden, cell, embedding):
    model = CharRNN(ModelConfig(vocab_size=vocab, hidden_sizes=hidden, cell=cell, embedding_dim=embedding))
    assert (
        parameter_count(vocab, hidden, cell, embedding)
        == count_parameters(model)
        == sum(p.numel() for p in model.parameters())
    )


def test_it_knows_every_cell_the_model_has():
    assert set(CELL_TYPES) == set(CELLS)
