"""Scoring a text (score.py, `tui-gen score`), branching on a candidate and temperature sweeps.

The scores are checked against the model's own loss (evaluate.py and `tui-gen eval`), a branch's
state against feeding its text one character at a time, and every hostile input against a clear
error or literal output. On a tiny run trained for a few steps in this process."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from support.processes import run_main
from tui_gen.cli.lens import _coloured
from tui_gen.data.corpus import CorpusText, validation_batches
from tui_gen.data.vocab import Vocab
from tui_gen.model import score as score_module
from tui_gen.model.evaluate import score_batches
from tui_gen.model.network import CharRNN, ModelConfig, state_tensors
from tui_gen.model.sample import Generator, SamplingSettings
from tui_gen.model.score import TextScorer, score_text
from tui_gen.model.sweep import samples, sweep
from tui_gen.training.checkpoint import load_checkpoint
from tui_gen.training.trainer import Trainer

SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def run(tmp_path_factory, lines_corpus_text) -> Path:
    from support.data import tiny_config_value

    d = tmp_path_factory.mktemp("score")
    corpus = CorpusText(name="tiny", text=lines_corpus_text, framing="lines", end_marker="_E_")
    for _ in Trainer(corpus, tiny_config_value(max_steps=30, eval_every=30), run_dir=d / "run").run():
        pass
    return d / "run"


@pytest.fixture(scope="module")
def ck(run):
    return load_checkpoint(run)


def held_out(n: int = 30) -> str:
    rng = random.Random(3)
    words = ["great", "people", "America", "jobs", "the", "win", "fake", "news", "#MAGA"]
    return "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(1, 9))) + " _E_" for _ in range(n)) + "\n"


def bits_from_eval(out: str) -> float:
    return float(re.match(r"([0-9.]+) bits/char", out).group(1))


# ---- scoring is the model's own loss -----------------------------------------------------------


def test_score_of_a_held_out_text_equals_eval_of_it(run, tmp_path, capsys):
    path = tmp_path / "held.txt"
    path.write_text(held_out(), encoding="utf-8")
    ev = run_main(["eval", run, path, "--device", "cpu"], capsys)
    ev.assert_ok()
    sc = run_main(["score", run, path, "--json"], capsys)
    sc.assert_ok()
    result = json.loads(sc.out)
    assert result["chars"] == len(held_out()) and result["unknown"] == 0
    assert f"{result['chars']:,} characters" in ev.out  # the same characters ...
    # ... and the same mean (eval prints 4 places)
    assert abs(result["bits_per_char"] - bits_from_eval(ev.out)) <= 5.1e-5
    assert abs(sum(c["bits"] for c in result["characters"]) / result["chars"] - result["bits_per_char"]) < 1e-9
    plain = run_main(["score", run, path], capsys)
    plain.assert_ok()
    assert plain.out.startswith(f"{result['bits_per_char']:.4f} bits/char over {result['chars']:,} characters")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_stream_scoring_equals_evaluation_of_the_same_segments(cell):
    torch.manual_seed(1)
    text = held_out(40)
    vocab = Vocab(sorted(set(text)))
    model = CharRNN(ModelConfig(vocab_size=len(vocab), hidden_sizes=[12, 10], cell=cell)).eval()
    seq_len, reset = 16, 4  # evaluation restarts every 64 characters: several segments
    expected = score_batches(model, validation_batches(text, vocab, seq_len, reset), "cpu")
    # evaluation's first character is input only: the scorer's context
    got = score_text(model, vocab, "stream", text[1:], context=text[:1], segment=seq_len * reset)
    assert got.chars_scored == expected.chars == len(text) - 1
    assert got.total_bits == pytest.approx(expected.nll / math.log(2), rel=1e-5)


def test_each_probability_is_the_softmax_of_the_models_logits(ck):
    text = "great people _E_\nfake"
    got = score_text(ck.model, ck.vocab, ck.framing, text)
    ids = torch.from_numpy(ck.vocab.encode("\n" + text)).long()[None]
    ids[0, len("great people _E_\n")] = ck.vocab.id_of("\n")  # the second line starts after "\n", from zero
    with torch.inference_mode():
        first, _ = ck.model(ids[:, : len("\ngreat people _E_\n") - 1])
        second, _ = ck.model(torch.cat([ids[:, :1], ids[:, len("\ngreat people _E_\n") : -1]], 1))
    probs = torch.softmax(torch.cat([first, second], 1)[0].float(), -1)
    targets = torch.from_numpy(ck.vocab.encode(text)).long()
    np.testing.assert_allclose(got.prob, probs[torch.arange(len(text)), targets].numpy(), rtol=1e-5)
    top = got.candidates(3)
    assert len(top) == 5 and top == sorted(top, key=lambda c: -c[1])
    best = [ck.vocab.char_of(int(j)) for j in probs[3, 2:].topk(5).indices + 2]
    assert [c for c, _ in top] == best


def test_characters_outside_the_vocabulary_are_scored_and_marked(ck):
    text = "greЖt\x1b[2J"
    got = score_text(ck.model, ck.vocab, ck.framing, text)
    assert got.known.tolist() == [c in ck.vocab for c in text]
    assert got.known[:5].tolist() == [True, True, True, False, True] and not got.known[5]
    assert got.chars_scored == len(text) and np.isfinite(got.bits).all()  # scored (as "unknown"), not refused
    assert got.unknown == sum(c not in ck.vocab for c in text)


@pytest.mark.parametrize("framing", ["lines", "stream"])
def test_an_empty_text_and_a_lone_newline(ck, framing):
    empty = score_text(ck.model, ck.vocab, framing, "")
    assert empty.chars_scored == 0 and math.isnan(empty.bits_per_char) and empty.most_surprising(5) == []
    newline = score_text(ck.model, ck.vocab, framing, "\n")
    assert newline.chars_scored == 1 and 0 < newline.prob[0] <= 1


@pytest.mark.parametrize("framing", ["lines", "stream"])
def test_rescoring_an_edited_text_runs_only_the_rows_that_changed(ck, framing, monkeypatch):
    text = held_out(12)
    scorer = TextScorer(ck.model, ck.vocab, framing, segment=64)
    scorer.score(text)
    ran = []
    real = score_module.score_rows
    monkeypatch.setattr(
        score_module, "score_rows", lambda model, rows, k=5: ran.append(len(rows)) or real(model, rows, k)
    )
    for new in (text + "great", text + "great news", "fake" + text[4:]):
        ran.clear()
        got = scorer.score(new)
        rerun = sum(ran)
        fresh = score_text(ck.model, ck.vocab, framing, new, segment=64)
        np.testing.assert_allclose(got.prob, fresh.prob, rtol=1e-6)
        assert (got.top_ids == fresh.top_ids).all()
        assert rerun <= 2, f"{rerun} rows run again for a small edit"


# ---- the CLI: output hygiene and bad input -----------------------------------------------------


def test_escapes_in_the_text_never_reach_the_output_raw(run, capsys):
    evil = 'great \x1b]0;owned\x07 news\x1b[2J "\u202eevil\n'
    r = run_main(["score", run, "--text", evil, "--top", "20"], capsys)
    r.assert_ok()
    assert "\x1b" not in r.out and "\x07" not in r.out and "\u202e" not in r.out
    assert "outside the model's vocabulary" in r.out  # ESC and BEL are not in the tweets' alphabet
    ck = load_checkpoint(run)
    shown = _coloured(score_text(ck.model, ck.vocab, ck.framing, evil))
    left = SGR.sub("", shown)  # our own colour codes removed, nothing of the text's may be left
    assert "\x1b" not in left and "\x07" not in left and "\u202e" not in left
    assert "\u241b]0;owned\u2407" in left  # shown, as symbols


def test_colour_is_refused_politely_on_a_pipe_and_with_no_color(run, capsys, monkeypatch):
    r = run_main(["score", run, "--text", "great news", "--color"], capsys)
    r.assert_ok()
    assert "not a terminal" in r.err and "\x1b" not in r.out and "great news\n" in r.out
    monkeypatch.setenv("NO_COLOR", "1")
    r = run_main(["score", run, "--text", "great news", "--color"], capsys)
    assert "NO_COLOR" in r.err and "\x1b" not in r.out


def test_html_is_standalone_and_escaped(run, tmp_path, capsys):
    out = tmp_path / "s.html"
    r = run_main(["score", run, "--text", '<script>alert("x")</script> & great\n\x1b[31m', "--html", out], capsys)
    r.assert_ok()
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script>" not in page and "\x1b" not in page
    assert ">&lt;</span>" in page and ">&amp;</span>" in page and "&quot;" in page and "bits" in page
    assert "http" not in page.replace("https://", "")  # nothing fetched from elsewhere


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--text", ""], "empty"),
        ([], "give a FILE"),
        (["FILE", "--text", "a"], "not both"),
        (["no-such-file.txt"], "no such file"),
        (["--text", "a", "--top", "-1"], "--top"),
    ],
)
def test_bad_input_is_one_clear_line(run, capsys, args, needle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [a if a != "FILE" else str(tmp_path) for a in args]
    run_main(["score", run, *args], capsys).assert_clean_error(needle)


def test_an_empty_file_and_a_folder_are_clear_errors(run, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("")
    run_main(["score", run, tmp_path / "empty.txt"], capsys).assert_clean_error("empty")
    run_main(["score", run, tmp_path], capsys).assert_clean_error("folder")


def test_an_html_output_that_is_a_fifo_or_a_socket_is_refused_before_any_work(run, tmp_path, capsys, monkeypatch):
    import os
    import socket
    import stat

    os.mkfifo(tmp_path / "pipe.html")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.html"))
    loads = []
    monkeypatch.setattr("tui_gen.cli.lens._load", lambda args: loads.append(args))
    try:
        for name, what in (("pipe.html", "a FIFO (named pipe)"), ("sock.html", "a socket")):
            r = run_main(["score", run, "--text", "hi", "--html", tmp_path / name], capsys)
            r.assert_clean_error(f"--html {tmp_path / name} is {what}, not a regular file")
        assert loads == []  # refused before the checkpoint is loaded
        assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.html").st_mode)  # never replaced by a file
        assert stat.S_ISSOCK(os.lstat(tmp_path / "sock.html").st_mode)
    finally:
        sock.close()


def test_a_megabyte_of_text_is_scored(run, tmp_path, capsys):
    text = held_out(200)
    path = tmp_path / "big.txt"
    path.write_text((text * (1_000_000 // len(text) + 1))[:1_000_000] + "Ж\n", encoding="utf-8")
    r = run_main(["score", run, path, "--top", "3"], capsys)
    r.assert_ok()
    assert "over 1,000,002 characters" in r.out and "1 characters" not in r.out.split("\n")[0][:30]
    assert "'Ж' (unknown)" in r.out  # the one unknown character is the most surprising


# ---- branching ---------------------------------------------------------------------------------


def feed_one_by_one(model, vocab, text: str):
    state = None
    for ch in text:
        _, state = model.step(torch.tensor([vocab.id_of(ch)]), state)
    return state


@pytest.mark.parametrize("i, k", [(0, 1), (3, 2), (6, 4)])
def test_forcing_candidate_k_at_position_i(ck, i, k):
    gen = Generator(
        ck.model, ck.vocab, ck.framing, stop_strings=(), top_n=5, generator=torch.Generator().manual_seed(5)
    )
    seed = "great"
    tokens = list(gen.stream(seed, SamplingSettings(temperature=1.0), 12))
    prefix = "".join(t.char for t in tokens[:i])
    chosen, p = tokens[i].top[k]
    assert chosen != tokens[i].char or k == 0
    gen.generator = torch.Generator().manual_seed(9)
    branch = list(gen.branch(seed, prefix, chosen, SamplingSettings(temperature=1.0), 10))
    written = prefix + "".join(t.char for t in branch)
    assert written[i] == chosen and branch[0].char == chosen
    assert branch[0].prob == pytest.approx(p, rel=1e-5)  # what the model had there
    assert [c for c, _ in branch[0].top] == [c for c, _ in tokens[i].top]
    assert len(branch) == 10
    point = gen.branch_point(seed, prefix, chosen)
    with torch.inference_mode():
        expected = feed_one_by_one(ck.model, ck.vocab, "\n" + seed + prefix + chosen)  # lines: after "\n"
    for a, b in zip(state_tensors(point.state), state_tensors(expected), strict=False):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # and the branch goes on from that state: the same draws as generating from the whole text
    gen.generator = torch.Generator().manual_seed(9)
    rest = "".join(t.char for t in gen.stream(seed + prefix + chosen, SamplingSettings(temperature=1.0), 9))
    assert "".join(t.char for t in branch[1:]) == rest


def test_a_branch_on_a_character_the_model_cannot_write_is_refused(ck):
    from tui_gen.core.errors import VocabularyError

    gen = Generator(ck.model, ck.vocab, ck.framing)
    with pytest.raises(VocabularyError, match="not in its vocabulary"):
        list(gen.branch("great", "", "Ж", SamplingSettings(), 5))


def test_a_branch_that_picks_the_end_of_the_line_stops_there(ck):
    gen = Generator(ck.model, ck.vocab, ck.framing, stop_strings=("\n",))
    out = list(gen.branch("great", " news", "\n", SamplingSettings(), 50))
    assert [t.char for t in out] == ["\n"]


# ---- sweeps ------------------------------------------------------------------------------------


def test_a_sweep_gives_one_sample_per_temperature_with_its_surprisal(ck):
    temps = [0.5, 0.8, 1.2, 0.0001]
    got = sweep(
        ck.model,
        ck.vocab,
        ck.framing,
        "great",
        temps,
        40,
        stop_strings=("\n",),
        generator=torch.Generator().manual_seed(2),
    )
    assert [s.temperature for s in got] == temps
    for s in got:
        assert 1 <= len(s.text) <= 40 and len(s.bits) == len(s.text)
        again = score_text(ck.model, ck.vocab, ck.framing, s.text, context="great")  # scoring agrees
        assert s.mean_bits == pytest.approx(again.bits_per_char, rel=1e-4)
    greedy = Generator(ck.model, ck.vocab, ck.framing).complete("great", SamplingSettings(temperature=0.0001), 40)
    assert got[-1].text == greedy


def test_n_samples_at_once_differ_and_repeat_with_a_seed(ck):
    settings = SamplingSettings(temperature=1.0)
    a = samples(ck.model, ck.vocab, ck.framing, "I", settings, 6, 30, generator=torch.Generator().manual_seed(4))
    b = samples(ck.model, ck.vocab, ck.framing, "I", settings, 6, 30, generator=torch.Generator().manual_seed(4))
    assert len(a) == 6 and [s.text for s in a] == [s.text for s in b]
    assert len({s.text for s in a}) > 1


def test_a_sweep_refuses_bad_temperatures(ck):
    from tui_gen.core.errors import ConfigError

    with pytest.raises(ConfigError):
        sweep(ck.model, ck.vocab, ck.framing, "I", [0.5, -1], 10)
    with pytest.raises(ConfigError):
        sweep(ck.model, ck.vocab, ck.framing, "I", [], 10)
