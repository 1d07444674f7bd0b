"""Properties over arbitrary input: the vocabulary round-trips any text over its characters (and
never fails on text outside them); sampling never draws padding or "unknown", whatever the logits
and settings."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui_gen.core.errors import TuiGenError
from tui_gen.data.vocab import FIRST_CHAR_ID, PAD, UNK, Vocab
from tui_gen.model.network import ModelConfig
from tui_gen.model.sample import Generator, SamplingSettings, next_char_probs

ANY_CHAR = st.characters()  # every code point, lone surrogates included
VOCAB_CHARS = st.lists(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40, unique=True)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), chars=VOCAB_CHARS)
def test_round_trip_over_the_vocabulary(data, chars):
    v = Vocab(chars)
    text = data.draw(st.text(alphabet=st.sampled_from(chars), max_size=200))
    ids = v.encode(text)
    assert len(ids) == len(text)
    assert (ids >= FIRST_CHAR_ID).all()
    assert v.decode(ids) == text
    assert Vocab.from_json(v.to_json()).decode(ids) == text


@settings(max_examples=300, deadline=None)
@given(chars=VOCAB_CHARS, text=st.text(alphabet=ANY_CHAR, max_size=200))
def test_any_text_encodes_outside_chars_as_unknown(chars, text):
    v = Vocab(chars)
    ids = v.encode(text)  # never raises, lone surrogates and astral characters included
    assert len(ids) == len(text)
    for c, i in zip(text, ids.tolist(), strict=False):
        assert i == (v.id_of(c) if c in v else UNK)
    assert PAD not in ids.tolist()
    assert set(v.unknown_chars(text)) == {c for c in text if c not in v}


@settings(max_examples=100, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80), max_size=5),
    min_count=st.integers(1, 3),
)
def test_build_then_round_trip(texts, min_count):
    v = Vocab.build(texts, min_count)
    for t in texts:
        back = v.decode(v.encode(t))
        assert len(back) == len(t)
        assert all(b == c if c in v else b == "\ufffd" for b, c in zip(back, t, strict=False))


# ---- sampling ------------------------------------------------------------------------------------

FINITE = st.floats(-1e4, 1e4, allow_nan=False, width=32)
SETTINGS = st.builds(
    SamplingSettings,
    temperature=st.one_of(st.floats(1e-6, 100), st.sampled_from([1e-3, 1.0, 100.0])),
    top_k=st.integers(0, 40),
    top_p=st.one_of(st.just(1.0), st.floats(1e-6, 1.0, exclude_min=True)),
)


def logits_for(vocab_size: int):
    """Any finite logits; the real characters may also be -inf, as long as one is not."""
    return st.lists(st.one_of(FINITE, st.just(-math.inf)), min_size=vocab_size, max_size=vocab_size).filter(
        lambda xs: any(x > -math.inf for x in xs[FIRST_CHAR_ID:])
    )


@settings(max_examples=400, deadline=None)
@given(data=st.data(), vocab_size=st.integers(FIRST_CHAR_ID + 1, 40), s=SETTINGS, seed=st.integers(0, 2**32))
def test_next_char_probs_never_draws_pad_or_unknown(data, vocab_size, s, seed):
    logits = torch.tensor(data.draw(logits_for(vocab_size)))
    # padding and unknown may even be the most likely "characters"
    if data.draw(st.booleans()):
        logits[PAD] = logits[UNK] = 1e4
    probs = next_char_probs(logits, s)
    assert torch.isfinite(probs).all() and (probs >= 0).all()
    assert probs[PAD] == 0 and probs[UNK] == 0
    assert abs(float(probs.sum()) - 1) < 1e-4
    draws = torch.multinomial(probs, 64, replacement=True, generator=torch.Generator().manual_seed(seed))
    assert (draws >= FIRST_CHAR_ID).all()


class FakeModel(torch.nn.Module):
    """Logits from a list, one row per call: what a model (healthy or odd) could produce."""

    def __init__(self, rows: list[list[float]]):
        super().__init__()
        self.head = torch.nn.Linear(1, len(rows[0]))
        self.config = ModelConfig(vocab_size=len(rows[0]), hidden_sizes=[1])
        self.rows = [torch.tensor(r) for r in rows]
        self.i = 0

    def _next(self) -> torch.Tensor:
        row = self.rows[self.i % len(self.rows)]
        self.i += 1
        return row

    def forward(self, ids, state=None):
        return self._next().expand(ids.shape[0], ids.shape[1], -1), state

    def step(self, ids, state):
        return self._next().expand(ids.shape[0], -1), state


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    vocab_size=st.integers(FIRST_CHAR_ID + 1, 30),
    s=SETTINGS,
    seed=st.integers(0, 2**32),
    n=st.integers(0, 30),
)
def test_generator_stream_never_yields_pad_or_unknown(data, vocab_size, s, seed, n):
    chars = ["\n"] + [chr(ord("a") + i) for i in range(vocab_size - FIRST_CHAR_ID - 1)]
    vocab = Vocab(chars)
    rows = data.draw(st.lists(logits_for(vocab_size), min_size=1, max_size=5))
    if data.draw(st.booleans()):
        for r in rows:
            r[PAD] = r[UNK] = 1e4
    seed_text = data.draw(st.text(alphabet=st.sampled_from(chars), max_size=5))
    gen = Generator(
        FakeModel(rows), vocab, "stream", stop_strings=(), top_n=3, generator=torch.Generator().manual_seed(seed)
    )
    out = list(gen.stream(seed_text, s, n))
    assert len(out) == n
    for tok in out:
        assert tok.char in chars, tok
        assert 0 <= tok.prob <= 1
        assert all(c != "\ufffd" for c, _ in tok.top if _ > 0)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_generator_on_non_finite_logits_is_a_clear_error(bad):
    """A diverged model's NaN or +inf scores: a TuiGenError, not a crash in torch.multinomial."""
    vocab = Vocab(list("abc"))
    row = [0.0, 0.0, 1.0, bad, 0.5]
    gen = Generator(FakeModel([row]), vocab, "stream", stop_strings=())
    with pytest.raises(TuiGenError):
        list(gen.stream("a", SamplingSettings(temperature=0.7), 5))


def test_stream_model_with_an_empty_seed(trained_stream_run, capsys):
    """A stream model has no start-of-line state: an empty seed starts after a line break."""
    from support.processes import run_main

    r = run_main(["generate", trained_stream_run, "--length", "10", "--random-seed", "3"], capsys)
    r.assert_ok()
    assert len(r.out) >= 1
    vocab = Vocab(list("abc"))
    gen = Generator(FakeModel([[0.0, 0.0, 1.0, 2.0, 3.0]]), vocab, "stream", stop_strings=())
    with pytest.raises(TuiGenError, match="needs a seed"):
        list(gen.stream("", SamplingSettings(), 3))
