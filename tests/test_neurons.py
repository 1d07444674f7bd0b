"""The neuron explorer's engine (neurons.py) and `tui-gen neurons`: activations equal the model's own
states, features are what they say, the ranking finds a planted unit, and on a small model trained on
text with quotes it finds a quote unit."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

from support.processes import run_main
from tui_gen.data.corpus import CorpusText
from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.model.neurons import collect_activations, correlations, explore, features, rank_units
from tui_gen.training.trainer import Trainer

WORDS = ["great", "people", "news", "win", "big", "jobs", "fake", "the", "we", "will"]


def quotes_text(n: int, seed: int) -> str:
    """Lines with one quotation each, the quoted words in capitals: a model that predicts the letters
    must know whether it is inside the quotes."""
    rng = random.Random(seed)

    def words(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k))

    return (
        "\n".join(
            f'{words(rng.randint(1, 4))} "{words(rng.randint(1, 6)).upper()}" {words(rng.randint(1, 4))}'
            for _ in range(n)
        )
        + "\n"
    )


def test_features_are_what_they_say():
    text = 'a "b c" (d) @ab #x http://e.f g\nh "i'
    f = features(text, "lines")
    at = {ch: i for i, ch in enumerate(text)}

    def inside(name):
        return "".join(text[i] for i in np.flatnonzero(f[name]))

    assert inside("inside quotes") == '"b c"i'  # from the opening quote to before the closing one; the next line's
    assert inside("inside brackets") == "(d"
    assert inside("inside a URL") == "http://e.f"
    assert inside("inside a @/# word") == "@ab#x"
    assert f["position in line"][at["h"]] == 1 and f["position in line"][0] == 1
    assert f["chars since space"][text.index("ttp")] == 2
    assert f["chars to line end"][text.index("g\n")] == 1
    # a new line of a lines model starts outside any quote; the unclosed one at the end is inside
    assert f["inside quotes"][text.index("h")] == 0 and f["inside quotes"][-1] == 1
    assert inside_of(features(text, "lines", {"vowel": "[aeiou]"}), "vowel", text) == "aaei"


def inside_of(f, name, text):
    return "".join(text[i] for i in np.flatnonzero(f[name]))


def test_a_bad_regular_expression_is_a_clear_error():
    from tui_gen.core.errors import ConfigError

    with pytest.raises(ConfigError, match="not valid"):
        features("abc", "lines", {"bad": "("})


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("framing", ["lines", "stream"])
def test_activations_are_the_states_after_each_character(cell, framing):
    torch.manual_seed(0)
    text = 'ab "c"\nde\n\nf'
    vocab = Vocab(sorted(set(text)))
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[6, 5], cell=cell)).eval()
    acts = collect_activations(model, vocab, framing, text)
    assert set(acts.layers) == ({"h1", "h2", "c1", "c2"} if cell == "lstm" else {"h1", "h2"})
    state = None
    with torch.inference_mode():
        if framing == "lines":
            _, state = model.step(torch.tensor([vocab.id_of("\n")]), None)
        for i, ch in enumerate(text):
            if ch == "\n" and framing == "lines":
                state = None  # the next line starts from the start-of-line state, which this "\n" reads as
            _, state = model.step(torch.tensor([vocab.id_of(ch)]), state)
            for layer in range(2):
                h = state[layer][0] if cell == "lstm" else state[layer]
                np.testing.assert_allclose(acts.layers[f"h{layer + 1}"][i], h[0, 0].numpy(), atol=1e-5)
                if cell == "lstm":
                    np.testing.assert_allclose(
                        acts.layers[f"c{layer + 1}"][i], state[layer][1][0, 0].numpy(), atol=1e-5
                    )


def test_a_planted_unit_ranks_first_for_its_feature():
    text = quotes_text(80, 1)
    f = features(text, "lines")
    quotes = f["inside quotes"]
    rng = np.random.default_rng(0)
    n = len(text)
    layers = {"h1": rng.normal(size=(n, 40)).astype(np.float32), "h2": rng.normal(size=(n, 30)).astype(np.float32)}
    layers["h2"][:, 17] = quotes + rng.normal(scale=0.5, size=n)  # inside quotes, plus noise
    layers["h1"][:, 3] = -quotes + rng.normal(scale=1.0, size=n)  # tracks it by going down, more noise
    ranked = rank_units(layers, f, top=3)
    first, second = ranked["inside quotes"][:2]
    assert (first.layer, first.unit) == ("h2", 17) and first.correlation > 0.6
    assert (second.layer, second.unit) == ("h1", 3) and second.correlation < -0.3  # ranked by |r|
    expected = np.corrcoef(layers["h2"][:, 17], quotes)[0, 1]
    assert first.correlation == pytest.approx(expected, rel=1e-6)


def test_correlation_of_a_constant_unit_is_zero_and_constant_features_are_left_out():
    values = np.stack([np.ones(10), np.arange(10.0)], 1)
    np.testing.assert_allclose(correlations(values, np.arange(10.0)), [0.0, 1.0])
    ranked = rank_units({"h1": values}, {"flat": np.zeros(10), "up": np.arange(10.0)})
    assert list(ranked) == ["up"]


@pytest.fixture(scope="module")
def quotes_run(tmp_path_factory):
    from support.data import tiny_config_value

    d = tmp_path_factory.mktemp("neurons")
    corpus = CorpusText(name="quotes", text=quotes_text(400, 1), framing="lines")
    cfg = tiny_config_value(
        max_steps=250,
        eval_every=250,
        cell="lstm",
        hidden_sizes=[16, 16],
        seq_len=32,
        overlap=8,
        batch_size=16,
        lr=1e-2,
        warmup_steps=10,
    )
    for _ in Trainer(corpus, cfg, run_dir=d / "run").run():
        pass
    return d / "run"


def test_a_small_model_trained_on_quotes_has_a_quote_unit(quotes_run, tmp_path, capsys):
    from tui_gen.training.checkpoint import load_checkpoint

    held = tmp_path / "held.txt"
    held.write_text(quotes_text(60, 99), encoding="utf-8")
    r = run_main(["neurons", quotes_run, held, "--top", "3", "--regex", "[A-Z]"], capsys)
    r.assert_ok()
    block = r.out.split("inside quotes\n")[1]
    top = re.match(r"  ([hc]\d):(\d+)\s+r = ([+-][0-9.]+)", block)
    assert top, r.out
    trained_r = abs(float(top.group(3)))
    assert trained_r >= 0.8, r.out
    assert "matches [A-Z]\n" in r.out and "position in line\n" in r.out
    # an untrained model of the same shape has no such unit: it was learned
    ck = load_checkpoint(quotes_run)
    torch.manual_seed(0)
    _, ranked = explore(CharRNN(ck.model.config), ck.vocab, ck.framing, quotes_text(60, 99), top=1)
    assert abs(ranked["inside quotes"][0].correlation) < trained_r - 0.15


def test_cli_errors_and_hostile_text(quotes_run, capsys):
    run_main(["neurons", quotes_run, "--text", "ab", "--regex", "("], capsys).assert_clean_error("not valid")
    run_main(["neurons", quotes_run, "--text", "a"], capsys).assert_clean_error("fewer than 2")
    run_main(["neurons", quotes_run, "--text", "ab", "--top", "0"], capsys).assert_clean_error("--top")
    r = run_main(["neurons", quotes_run, "--text", 'we "\x1b]0;x\x07" big', "--regex", "\x1b"], capsys)
    r.assert_ok()
    assert "\x1b" not in r.out and "\x07" not in r.out and "matches \u241b" in r.out


def test_cli_refuses_a_catastrophic_regex_and_5000_nested_parentheses(quotes_run, tmp_path):
    """Issue 20: only the app timed a user's regex; `tui-gen neurons --regex '(a+)+$'` over 40 a's and
    a `!` ran for ever, and 5,000 nested parentheses were a RecursionError traceback. Both go through
    regex_time.check_regex now: exit 2, one line, in bounded time."""
    from support.processes import run_cli

    r = run_cli(["neurons", quotes_run, "--text", "a" * 40 + "!", "--regex", "(a+)+$"], tmp_path, timeout=60)
    r.assert_clean_error("(a+)+$", "takes over 3 s", "simplify it")
    assert r.seconds < 20, r.seconds
    nested = "(" * 5000 + "a" + ")" * 5000
    r = run_cli(["neurons", quotes_run, "--text", "aaa!", "--regex", nested], tmp_path, timeout=60)
    line = r.assert_clean_error("not valid", "nested too deep")
    assert len(line) < 300 and r.seconds < 20, (len(line), r.seconds)  # the pattern quoted cut short
    r = run_cli(["neurons", quotes_run, "--text", "aaa!", "--regex", "a{99999999999999999999}"], tmp_path, timeout=60)
    r.assert_clean_error("not valid", "too large")


def test_features_compiles_a_pattern_through_the_one_check():
    from tui_gen.core.errors import ConfigError

    with pytest.raises(ConfigError, match="nested too deep"):
        features("aaa", "lines", {"deep": "(" * 5000 + "a" + ")" * 5000})
    with pytest.raises(ConfigError, match="too large"):
        features("aaa", "lines", {"big": "a{99999999999999999999}"})
