"""Sampling: temperature, top-k, top-p, reserved ids, priming, and the streaming generator."""

from __future__ import annotations

import math

import pytest
import torch

from tui_gen.core.errors import ConfigError, VocabularyError
from tui_gen.data.vocab import PAD, UNK, Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.model.sample import Generator, SamplingSettings, encode_seed, next_char_probs, prime, sample_many

# Logits over PAD, UNK and 8 real characters.
LOGITS = torch.tensor([0.0, 0.0, 2.0, 1.0, 0.5, 0.0, -0.5, -1.0, 1.5, 0.3])
REAL = slice(2, None)
CHI2_CRITICAL_DF7_P001 = 24.322  # chi-square, 7 degrees of freedom, p = 0.001
N_DRAWS = 20_000


def chi_square(counts: torch.Tensor, probs: torch.Tensor) -> float:
    expected = probs * counts.sum()
    assert (expected >= 5).all()  # the approximation holds
    return float(((counts - expected) ** 2 / expected).sum())


def draw(probs: torch.Tensor, n: int = N_DRAWS, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.multinomial(probs, n, replacement=True, generator=g)
    return torch.bincount(ids, minlength=probs.shape[-1]).double()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.5])
def test_temperature_frequencies_match_softmax_of_logits_over_t(temperature):
    probs = next_char_probs(LOGITS, SamplingSettings(temperature=temperature))
    counts = draw(probs, seed=int(temperature * 10))
    assert counts[PAD] == 0 and counts[UNK] == 0
    want = torch.softmax(LOGITS[REAL].double() / temperature, -1)
    assert chi_square(counts[REAL], want) < CHI2_CRITICAL_DF7_P001
    assert torch.allclose(probs[REAL].double(), want, atol=1e-6)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.5])
def test_the_lectures_exp_bug_would_fail_the_same_test(temperature):
    # The lecture drew from softmax(exp(logits / T)); the same chi-square test rejects it.
    lecture = torch.softmax(torch.exp(LOGITS[REAL] / temperature), -1)
    counts = draw(lecture, seed=int(temperature * 10))
    want = torch.softmax(LOGITS[REAL].double() / temperature, -1)
    assert chi_square(counts, want) > CHI2_CRITICAL_DF7_P001


def test_tiny_temperature_is_argmax():
    probs = next_char_probs(LOGITS, SamplingSettings(temperature=1e-4))
    counts = draw(probs, n=2000)
    assert counts[2] == 2000
    batch = torch.stack([LOGITS, LOGITS.flip(0)])
    probs = next_char_probs(batch, SamplingSettings(temperature=1e-4))
    assert probs.argmax(-1).tolist() == [2, int(LOGITS.flip(0)[2:].argmax()) + 2]
    assert torch.equal(probs.sum(-1), torch.ones(2))


@pytest.mark.parametrize("t", [0.0, -1.0, -1e-9, math.nan, math.inf, -math.inf, 1e9])
def test_bad_temperatures_raise_config_error(t, tiny_generator):
    with pytest.raises(ConfigError):
        SamplingSettings(temperature=t).validate()
    with pytest.raises(ConfigError):
        next_char_probs(LOGITS, SamplingSettings(temperature=t))
    gen, _ = tiny_generator
    with pytest.raises(ConfigError):
        list(gen.stream("a", SamplingSettings(temperature=t), 5))


@pytest.mark.parametrize("kw", [dict(top_k=-1), dict(top_p=0.0), dict(top_p=1.5), dict(top_p=math.nan)])
def test_bad_top_k_top_p_raise_config_error(kw):
    with pytest.raises(ConfigError):
        SamplingSettings(**kw).validate()


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k_only_draws_from_the_k_best(k):
    probs = next_char_probs(LOGITS, SamplingSettings(temperature=1.0, top_k=k))
    best = set((LOGITS[REAL].argsort(descending=True)[:k] + 2).tolist())
    counts = draw(probs, n=5000)
    assert set(torch.nonzero(counts).flatten().tolist()) == best
    idx = sorted(best)
    want = torch.softmax(LOGITS[idx], -1)
    assert torch.allclose(probs[idx], want, atol=1e-6)


def test_top_k_counts_real_characters_only():
    # PAD and UNK hold the largest logits; top-k must still keep k real characters.
    logits = LOGITS.clone()
    logits[PAD] = logits[UNK] = 100.0
    probs = next_char_probs(logits, SamplingSettings(top_k=2))
    assert probs[PAD] == 0 and probs[UNK] == 0
    assert int((probs > 0).sum()) == 2


@pytest.mark.parametrize(
    "top_p,nucleus", [(0.4, [2]), (0.7, [2, 3]), (0.8, [2, 3, 4]), (0.95, [2, 3, 4, 5]), (1.0, [2, 3, 4, 5])]
)
def test_top_p_keeps_the_minimal_nucleus(top_p, nucleus):
    p = torch.tensor([0.0, 0.0, 0.5, 0.25, 0.15, 0.1])
    logits = torch.log(p)
    logits[PAD] = logits[UNK] = 3.0
    probs = next_char_probs(logits, SamplingSettings(top_p=top_p))
    assert torch.nonzero(probs).flatten().tolist() == nucleus
    want = p[nucleus] / p[nucleus].sum()
    assert torch.allclose(probs[nucleus], want, atol=1e-6)
    counts = draw(probs, n=3000)
    assert torch.nonzero(counts).flatten().tolist() == nucleus


def test_top_p_applies_after_temperature():
    p = torch.tensor([0.0, 0.0, 0.5, 0.25, 0.15, 0.1])
    logits = torch.log(p)
    # at T = 0.5 the probabilities are p^2 normalised: 0.25/0.345 = 0.72 for the best alone
    probs = next_char_probs(logits, SamplingSettings(temperature=0.5, top_p=0.7))
    assert torch.nonzero(probs).flatten().tolist() == [2]


@pytest.mark.parametrize(
    "settings",
    [
        SamplingSettings(temperature=1.0),
        SamplingSettings(temperature=1e-4),
        SamplingSettings(temperature=50.0),
        SamplingSettings(top_k=1),
        SamplingSettings(top_p=0.01),
    ],
)
def test_pad_and_unk_are_never_drawn(settings):
    logits = LOGITS.clone()
    logits[PAD] = 1e4
    logits[UNK] = 1e4
    probs = next_char_probs(logits, settings)
    assert probs[PAD] == 0 and probs[UNK] == 0
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-5)
    counts = draw(probs, n=2000)
    assert counts[PAD] == 0 and counts[UNK] == 0


# ---- priming and the generator ------------------------------------------------------------------

TEXT = "Hillary Clinton\nMake America great again! _E_\n"
VOCAB = Vocab.build([TEXT])


def random_model(seed=0, cell="gru") -> CharRNN:
    torch.manual_seed(seed)
    return CharRNN(ModelConfig(vocab_size=len(VOCAB), hidden_sizes=[16, 12], cell=cell, embedding_dim=8)).eval()


def constant_model(logits_by_char: dict[str, float], default=-10.0) -> CharRNN:
    """A model whose next-character distribution is the same everywhere: a biased head, zero weights."""
    model = random_model()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(default)
        for ch, v in logits_by_char.items():
            model.head.bias[VOCAB.id_of(ch)] = v
        model.head.bias[PAD] = model.head.bias[UNK] = -40.0  # no mass there, however it is counted
    return model


@pytest.fixture
def tiny_generator():
    model = random_model()
    return Generator(model, VOCAB, "lines", generator=torch.Generator().manual_seed(0)), model


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_priming_in_one_pass_equals_char_by_char(cell):
    model = random_model(seed=1, cell=cell)
    ids = encode_seed(VOCAB, "Hillary", "lines")
    assert ids.shape == (1, 8) and int(ids[0, 0]) == VOCAB.id_of("\n")
    logits, state = prime(model, ids)
    with torch.no_grad():
        st = None
        for t in range(ids.shape[1]):
            out, st = model(ids[:, t : t + 1], st)
    assert torch.allclose(logits, out[:, -1], atol=1e-6)

    def flat(s):
        return [t for layer in s for t in (layer if isinstance(layer, tuple) else (layer,))]

    for a, b in zip(flat(state), flat(st), strict=False):
        assert torch.allclose(a, b, atol=1e-6)


def test_the_whole_seed_matters_not_just_its_last_character():
    model = random_model(seed=2)
    a, _ = prime(model, encode_seed(VOCAB, "Hillary", "lines"))
    b, _ = prime(model, encode_seed(VOCAB, "Millary", "lines"))
    pa = next_char_probs(a[0], SamplingSettings())
    pb = next_char_probs(b[0], SamplingSettings())
    assert (pa - pb).abs().max() > 1e-4
    # lines framing primes from the start-of-line newline; stream does not
    c, _ = prime(model, encode_seed(VOCAB, "Hillary", "stream"))
    assert not torch.allclose(a, c, atol=1e-4)


def test_stream_stops_at_the_newline():
    model = constant_model({"\n": 30.0, "a": 0.0})
    gen = Generator(model, VOCAB, "lines", stop_strings=("\n",), generator=torch.Generator().manual_seed(0))
    tokens = list(gen.stream("Hi", SamplingSettings(temperature=1.0), 100))
    assert [t.char for t in tokens] == ["\n"]
    assert tokens[0].prob > 0.99
    assert tokens[0].top[0][0] == "\n"


def test_stream_stops_at_a_stop_string_spanning_seed_and_output():
    model = constant_model({"E": 30.0})
    gen = Generator(model, VOCAB, "lines", stop_strings=("\n", "_E"), generator=torch.Generator().manual_seed(0))
    assert gen.complete("Make _", SamplingSettings(), 100) == "E"
    assert gen.complete("Make", SamplingSettings(), 7) == "EEEEEEE"  # no "_" before: no stop
    model = constant_model({"_": 5.0, "E": 5.0})
    gen = Generator(model, VOCAB, "lines", stop_strings=("_E_",), generator=torch.Generator().manual_seed(1))
    out = gen.complete("", SamplingSettings(), 10_000)
    assert out.endswith("_E_") and "_E_" not in out[:-1]


@pytest.mark.parametrize("n", [0, 1, 37])
def test_stream_honours_max_chars(n):
    model = constant_model({"a": 30.0, "\n": -30.0})
    gen = Generator(model, VOCAB, "lines", generator=torch.Generator().manual_seed(0))
    assert gen.complete("Hi", SamplingSettings(), n) == "a" * n


def test_negative_length_is_a_config_error(tiny_generator):
    gen, _ = tiny_generator
    with pytest.raises(ConfigError):
        list(gen.stream("a", SamplingSettings(), -1))


def test_a_temperature_changed_mid_stream_takes_effect():
    # A flat-ish constant distribution: at T = 1 many characters appear, at a tiny T only the best.
    model = constant_model({c: 0.1 * i for i, c in enumerate("aeirt")}, default=-1.0)
    gen = Generator(model, VOCAB, "lines", stop_strings=(), generator=torch.Generator().manual_seed(3))
    settings = SamplingSettings(temperature=1.0)
    before, after = [], []
    for i, tok in enumerate(gen.stream("", settings, 600)):
        (before if i < 300 else after).append(tok)
        if i == 299:
            settings.temperature = 1e-4
    assert len(set(t.char for t in before)) > 5
    assert {t.char for t in after} == {"t"}
    # Token.prob is the model's own probability, before temperature
    raw = torch.softmax(model.head.bias.detach(), -1)
    assert after[0].prob == pytest.approx(float(raw[VOCAB.id_of("t")]), rel=1e-5)


def test_an_invalid_temperature_set_mid_stream_is_a_config_error():
    model = constant_model({"a": 1.0, "b": 1.0})
    gen = Generator(model, VOCAB, "lines", stop_strings=(), generator=torch.Generator().manual_seed(3))
    settings = SamplingSettings(temperature=1.0)
    it = gen.stream("", settings, 100)
    next(it)
    settings.temperature = math.nan
    with pytest.raises(ConfigError):
        next(it)


def test_stream_is_repeatable_with_a_fixed_generator(tiny_generator):
    _, model = tiny_generator
    outs = [
        Generator(model, VOCAB, "lines", stop_strings=(), generator=torch.Generator().manual_seed(9)).complete(
            "Make", SamplingSettings(), 50
        )
        for _ in range(2)
    ]
    assert outs[0] == outs[1] and len(outs[0]) == 50
    other = Generator(model, VOCAB, "lines", stop_strings=(), generator=torch.Generator().manual_seed(10))
    assert other.complete("Make", SamplingSettings(), 50) != outs[0]


def test_unknown_seed_characters_raise_vocabulary_error_naming_them(tiny_generator):
    gen, _ = tiny_generator
    with pytest.raises(VocabularyError) as info:
        encode_seed(VOCAB, "Hi €Zq", "lines")
    msg = str(info.value)
    for c in ("€", "Z", "q"):
        assert repr(c) in msg
    assert "'H'" not in msg and "'i'" not in msg
    with pytest.raises(VocabularyError, match="'Z'"):
        list(gen.stream("Zebra", SamplingSettings(), 5))


def test_sample_many_matches_shapes_and_stops():
    model = constant_model({"\n": 30.0})
    out = sample_many(
        model, VOCAB, "lines", ["Hi", "Make", "Z€"], SamplingSettings(), 20, generator=torch.Generator().manual_seed(0)
    )
    assert out == ["\n", "\n"]  # the seed with unknown characters is left out


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_scores_are_a_clear_error_not_a_torch_crash(bad):
    from tui_gen.core.errors import TuiGenError

    logits = LOGITS.clone()
    logits[4] = bad
    for t in (1.0, 0.7, 1e-4):
        with pytest.raises(TuiGenError, match="not finite"):
            next_char_probs(logits, SamplingSettings(temperature=t))
    model = constant_model({"a": 1.0})
    with torch.no_grad():
        model.head.bias[VOCAB.id_of("e")] = bad
    gen = Generator(model, VOCAB, "lines", generator=torch.Generator().manual_seed(0))
    with pytest.raises(TuiGenError, match="not finite"):
        gen.complete("Hi", SamplingSettings(temperature=0.8), 10)
    with pytest.raises(TuiGenError, match="not finite"):
        sample_many(model, VOCAB, "lines", ["Hi"], SamplingSettings(), 10)


def test_training_samples_start_from_the_corpus_when_no_lecture_seed_fits(tmp_path):
    """Lower-case text or another script has none of the lecture's seeds' characters: its training
    samples start from a line's start (or, a stream without line breaks, its commonest letters),
    never none at all. The tweets keep the lecture's seeds."""
    from dataclasses import replace

    from support.data import TINY_OVERRIDES
    from tui_gen.core import events as ev
    from tui_gen.core.config import LECTURE_SEEDS, TrainConfig
    from tui_gen.data.corpus import CorpusText
    from tui_gen.model.sample import OWN_SEEDS, sample_seeds
    from tui_gen.training.trainer import Trainer

    assert sample_seeds(Vocab.build(["".join(LECTURE_SEEDS)]), "lines") == LECTURE_SEEDS
    assert sample_seeds(Vocab.build(["Ahoy there\n"]), "lines") == ["A"]  # the ones it can write
    assert sample_seeds(Vocab.build(["\n안녕하세요 세계\n"]), "stream") == [""] * OWN_SEEDS
    assert sample_seeds(Vocab.build(["zz z yy yy, x"]), "stream") == ["y", "z", "x"]  # most frequent first

    lines = "\n".join(f"{w} and {v} of the {w}" for w in ("cat", "dog", "sun", "sea") for v in ("red", "blue")) * 8
    config = replace(TrainConfig(**TINY_OVERRIDES), max_steps=2, max_minutes=None, eval_every=2)
    events = list(Trainer(CorpusText("lower", lines, "lines"), config).run())
    (samples,) = [e for e in events if isinstance(e, ev.Samples)]
    assert len(samples.samples) == OWN_SEEDS and all(seed == "" and text for seed, text in samples.samples)
