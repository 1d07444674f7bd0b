"""Priming and scoring run in bounded chunks along time: the same numbers as one pass, and the model
never sees more than a chunk at once, however long the seed or the line."""

from __future__ import annotations

import math
import random

import pytest
import torch

from tui_gen.data.corpus import validation_batches
from tui_gen.data.vocab import Vocab
from tui_gen.model import evaluate as evaluate_mod
from tui_gen.model import sample as sample_mod
from tui_gen.model.evaluate import score_batches, time_chunk
from tui_gen.model.network import CharRNN, ModelConfig, masked_nll, state_tensors
from tui_gen.model.sample import encode_seed, prime

CELLS = ["gru", "lstm", "rnn"]


def model_for(vocab: Vocab, cell: str, seed: int = 0) -> CharRNN:
    torch.manual_seed(seed)
    return CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[12, 10], cell=cell, embedding_dim=6)).eval()


def one_pass_score(model: CharRNN, batches) -> tuple[float, int]:
    """The old, unchunked evaluation: each batch through the model whole."""
    total, count = 0.0, 0
    with torch.inference_mode():
        for b in batches:
            logits, _ = model(b.inputs)
            nll, n = masked_nll(logits, b.targets, b.mask)
            total += float(nll)
            count += int(n)
    return total, count


def val_data(framing: str, tiny_text: str):
    lines = [ln for ln in tiny_text.split("\n") if ln.strip()]
    if framing == "lines":
        return lines[:20] + [" ".join(lines[20:40])]  # one line far longer than a chunk
    return "\n".join(lines)


@pytest.mark.parametrize("framing", ["lines", "stream"])
@pytest.mark.parametrize("cell", CELLS)
def test_chunked_scoring_equals_one_pass(cell, framing, tiny_text):
    vocab = Vocab.build([tiny_text])
    model = model_for(vocab, cell)
    data = val_data(framing, tiny_text)
    batches = list(validation_batches(data, vocab, seq_len=8, reset_every=4, tokens_per_batch=256))
    chunk_tokens = 7
    # chunking really happens: some batch is longer than its chunk
    assert any(b.inputs.shape[1] > time_chunk(b.inputs.shape[0], chunk_tokens) for b in batches)
    want, count = one_pass_score(model, batches)
    got = score_batches(model, batches, "cpu", chunk_tokens=chunk_tokens)
    assert got.chars == count
    assert math.isclose(got.nll, want, rel_tol=1e-5)


class _Spy:
    """Records the largest number of positions (rows x time) handed to the model in one call."""

    def __init__(self, monkeypatch):
        self.most = 0
        forward = CharRNN.forward

        def spy(model, ids, state=None):
            self.most = max(self.most, ids.numel())
            return forward(model, ids, state)

        monkeypatch.setattr(CharRNN, "forward", spy)


def test_scoring_a_long_line_never_runs_the_model_over_all_of_it(monkeypatch, tiny_text):
    vocab = Vocab.build([tiny_text])
    model = model_for(vocab, "gru")
    line = "".join(random.Random(0).choice("great people ") for _ in range(3000))
    monkeypatch.setattr(evaluate_mod, "CHUNK_TOKENS", 256)
    spy = _Spy(monkeypatch)
    score = evaluate_mod.score_batches(
        model, validation_batches([line], vocab, 8, 4), "cpu", chunk_tokens=evaluate_mod.CHUNK_TOKENS
    )
    assert score.chars == len(line) + 1
    assert 0 < spy.most <= 256


@pytest.mark.parametrize("cell", CELLS)
def test_chunked_priming_equals_one_pass(cell, tiny_text):
    vocab = Vocab.build([tiny_text])
    model = model_for(vocab, cell, seed=3)
    ids = encode_seed(vocab, tiny_text[:500].replace("\n", " "), "lines")
    with torch.inference_mode():
        out, want_state = model(ids)
    logits, state = prime(model, ids, chunk=37)  # 501 ids: 13 full chunks and a ragged one
    assert torch.allclose(logits, out[:, -1], atol=1e-5)
    for a, b in zip(state_tensors(state), state_tensors(want_state), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_priming_a_long_seed_runs_the_model_a_chunk_at_a_time(monkeypatch, tiny_text):
    vocab = Vocab.build([tiny_text])
    model = model_for(vocab, "gru")
    seed = "great people " * 1000
    spy = _Spy(monkeypatch)
    logits, _ = prime(model, encode_seed(vocab, seed, "lines"))
    assert logits.shape == (1, len(vocab))
    assert 0 < spy.most <= sample_mod.PRIME_CHUNK < len(seed)


def test_sample_many_primes_in_chunks_too(monkeypatch, tiny_text):
    vocab = Vocab.build([tiny_text])
    model = model_for(vocab, "lstm")
    spy = _Spy(monkeypatch)
    out = sample_mod.sample_many(
        model,
        vocab,
        "lines",
        ["great " * 2000, "we"],
        sample_mod.SamplingSettings(),
        5,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(out) == 2
    assert 0 < spy.most <= sample_mod.PRIME_CHUNK


def test_validation_batches_hold_a_long_line_as_one_row_of_ids_and_a_mask(tiny_text):
    vocab = Vocab.build([tiny_text])
    line = "we will win " * 5000
    (b,) = validation_batches([line], vocab, 8, 4)
    assert b.inputs.shape == b.targets.shape == b.mask.shape == (1, len(line) + 1)
    assert b.mask.dtype == torch.bool and b.real_chars == len(line) + 1
    assert b.inputs.untyped_storage().data_ptr() == b.targets.untyped_storage().data_ptr()  # one array, two views
