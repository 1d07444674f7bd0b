"""The gates in the neuron explorer (model/neurons.py): every gate value equals the one re-derived here in
float64 from the layer's weights by the GRU and LSTM equations, stepping one character at a time; a gate
set by hand to shut inside brackets is what the ranking finds for "inside brackets"; gates are named like
the units; an RNN has none; `tui-gen neurons --gates` ranks them beside the hidden units."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from support.processes import run_main
from tui_gen.core.errors import ConfigError
from tui_gen.data.vocab import Vocab
from tui_gen.model.network import CharRNN, ModelConfig
from tui_gen.model.neurons import collect_activations, explore, parse_unit_name, unit_name

TEXT = 'we said "no (not now)" and left\nthen (yes) @bob\n\nok (a (b) c) d\n'


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def float64_gates(model: CharRNN, ids: list[int]) -> dict[str, np.ndarray]:
    """Each layer's gates at each step of ids read from a zero state, by the equations (PyTorch's docs):
    GRU  r = s(W_ir x + b_ir + W_hr h + b_hr), z = s(W_iz x + b_iz + W_hz h + b_hz),
         n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), h' = (1 - z) * n + z * h;
    LSTM i, f, g, o from the rows in that order, c' = f * c + i * g, h' = o * tanh(c')."""
    cell = model.config.cell
    x_seq = model.embed.weight.detach().double().numpy()[ids]
    out: dict[str, np.ndarray] = {}
    for n, layer in enumerate(model.layers, 1):
        w_ih, w_hh = (getattr(layer, f"weight_{k}_l0").detach().double().numpy() for k in ("ih", "hh"))
        b_ih, b_hh = (getattr(layer, f"bias_{k}_l0").detach().double().numpy() for k in ("ih", "hh"))
        size = w_hh.shape[1]
        h, c = np.zeros(size), np.zeros(size)
        hs, gates = [], {}
        for x in x_seq:
            a = [
                w_ih[k * size : (k + 1) * size] @ x + b_ih[k * size : (k + 1) * size]
                for k in range(w_hh.shape[0] // size)
            ]
            b = [
                w_hh[k * size : (k + 1) * size] @ h + b_hh[k * size : (k + 1) * size]
                for k in range(w_hh.shape[0] // size)
            ]
            if cell == "gru":
                r, z = sigmoid(a[0] + b[0]), sigmoid(a[1] + b[1])
                h = (1 - z) * np.tanh(a[2] + r * b[2]) + z * h
                step = {"z": z, "r": r}
            else:
                i, f, g, o = sigmoid(a[0] + b[0]), sigmoid(a[1] + b[1]), np.tanh(a[2] + b[2]), sigmoid(a[3] + b[3])
                c = f * c + i * g
                h = o * np.tanh(c)
                step = {"i": i, "f": f, "o": o}
            for k, v in step.items():
                gates.setdefault(k, []).append(v)
            hs.append(h)
        for k, v in gates.items():
            out[f"{k}{n}"] = np.array(v)
        out[f"h{n}"] = np.array(hs)
        x_seq = np.array(hs)
    return out


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("framing", ["stream", "lines"])
def test_every_gate_is_the_equations_on_the_layers_weights(cell, framing):
    torch.manual_seed(5)
    vocab = Vocab(sorted(set(TEXT)))
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[7, 5], cell=cell, embedding_dim=4)).eval()
    acts = collect_activations(model, vocab, framing, TEXT, gates=True)
    gate_kinds = ["z", "r"] if cell == "gru" else ["i", "f", "o"]
    states = ["h"] if cell == "gru" else ["h", "c"]
    assert list(acts.layers) == [f"{k}{n}" for k in states + gate_kinds for n in (1, 2)]
    # the pieces the model reads: the whole text from a zero state, or each line after its "\n"
    pieces = [(0, TEXT)] if framing == "stream" else []
    if framing == "lines":
        at = 0
        for line in TEXT.split("\n"):
            pieces.append((at - 1, "\n" + line))  # its "\n" is the previous line's end: recorded there
            at += len(line) + 1
    checked = 0
    for start, piece in pieces:
        expected = float64_gates(model, [vocab.id_of(ch) for ch in piece])
        for i in range(len(piece)):
            if start + i < 0:
                continue  # the first line's "\n" is no character of the text
            for name in [f"{k}{n}" for k in ["h", *gate_kinds] for n in (1, 2)]:
                np.testing.assert_allclose(acts.layers[name][start + i], expected[name][i], atol=2e-6)
            checked += 1
    assert checked == len(TEXT)


def bracket_gate_model(vocab: Vocab) -> CharRNN:
    """A 2-unit GRU set by hand. Unit 0 latches brackets: its update gate opens on "(" or ")" alone
    (z0 = 0: take the candidate), whose candidate is +1 on "(" and -1 on ")"; so h0 is +1 inside
    brackets and -1 after them. Unit 1's reset gate is shut (r1 near 0) while h0 says "inside"."""
    big = 12.0
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[2], cell="gru", embedding_dim=2)).eval()
    opens, closes = vocab.id_of("("), vocab.id_of(")")
    layer = model.layers[0]
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.embed.weight[opens] = torch.tensor([1.0, 0.0])  # embedding: (is "(", is ")")
        model.embed.weight[closes] = torch.tensor([0.0, 1.0])
        # rows: r0 r1 | z0 z1 | n0 n1
        layer.bias_ih_l0[2] = big  # z0: keep the state...
        layer.weight_ih_l0[2] = torch.tensor([-2 * big, -2 * big])  # ...except on a bracket
        layer.weight_ih_l0[4] = torch.tensor([big, -big])  # n0: +1 on "(", -1 on ")"
        layer.weight_hh_l0[1] = torch.tensor([-big, 0.0])  # r1 = sigmoid(-big * h0): shut inside brackets
        layer.bias_ih_l0[3] = big  # z1: its unit keeps its (zero) state
    return model


def test_a_gate_set_to_shut_inside_brackets_is_what_the_ranking_finds():
    text = "".join(f"word {'(' + 'x y ' * (i % 4 + 1) + ')' if i % 2 else 'plain text'} more\n" for i in range(40))
    vocab = Vocab(sorted(set(text)))
    model = bracket_gate_model(vocab)
    acts, ranked = explore(model, vocab, "stream", text, top=3, show="gates")
    assert list(acts.layers) == ["z1", "r1"]
    first = ranked["inside brackets"][0]
    # r = -0.88, not -1: a gate reads the state before its character, so at "(" it is still open and at
    # ")" still shut, where the feature (after the character) says inside and outside
    assert (first.name, first.layer, first.unit) == ("r1:1", "r1", 1) and first.correlation < -0.8
    r = acts.unit("r1", 1)
    inside = np.array([ch not in "()" for ch in text]) & (np.cumsum([(ch == "(") - (ch == ")") for ch in text]) > 0)
    assert r[inside].max() < 0.01 and np.median(r[~inside]) > 0.99  # shut inside, open outside
    # ranked beside the hidden units, the latch and the gate lead
    _, both = explore(model, vocab, "stream", text, top=2, show="both")
    assert {u.name for u in both["inside brackets"]} == {"h1:0", "r1:1"}


def test_gate_units_are_named_like_the_hidden_units_and_an_rnn_has_none():
    assert unit_name("z1", 17) == "z1:17" and parse_unit_name(" f2:30 ") == ("f2", 30)
    assert parse_unit_name("h1") is None and parse_unit_name("h1:x") is None and parse_unit_name("h1:-1") is None
    vocab = Vocab(sorted(set(TEXT)))
    rnn = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[4], cell="rnn"))
    with pytest.raises(ConfigError, match=r"RNN\) has no gates"):
        explore(rnn, vocab, "lines", TEXT, show="gates")
    acts, _ = explore(rnn, vocab, "lines", TEXT)  # its hidden units, as before
    assert list(acts.layers) == ["h1"]


def test_cli_ranks_gates_beside_the_hidden_units(tmp_path, capsys):
    from support.data import tiny_config_value
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer

    corpus = CorpusText(name="tiny", text=TEXT * 20, framing="lines")
    cfg = tiny_config_value(max_steps=2, eval_every=2, cell="lstm", hidden_sizes=[6, 4])
    for _ in Trainer(corpus, cfg, run_dir=tmp_path / "run").run():
        pass
    r = run_main(["neurons", tmp_path / "run", "--text", TEXT, "--gates", "--top", "40"], capsys)
    r.assert_ok()
    assert (
        "(LSTM 6,4, cell states as c1, c2, ...; gates i1, f1, o1, ...: i, the input gate, 1 lets the candidate in; "
        "f, the forget gate, 1 keeps the cell; o, the output gate, 1 lets the cell out)"
    ) in r.out
    assert f"{2 * 10 + 3 * 10:,} units" in r.out  # h and c of 6 + 4 units, and three gates of each layer
    named = set(re.findall(r"^  ([hcifo]\d):(\d+) ", r.out, re.M))
    assert {layer[0] for layer, _ in named} == set("hcifo")  # every kind ranked together
    plain = run_main(["neurons", tmp_path / "run", "--text", TEXT, "--top", "40"], capsys)
    assert not re.search(r"^  [ifo]\d:", plain.out, re.M)  # without --gates: the units alone
