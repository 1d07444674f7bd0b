"""`tui-gen eval RUN FILE`: text the model cannot read is flagged or refused, and a very long line
is scored a chunk at a time; the run's own corpus is scored on its held-out split, every character of
it, unless --all asks for the whole file. Through main() in this process, on runs trained for a few steps."""

from __future__ import annotations

import contextlib
import io
import random
from pathlib import Path

import pytest

from tui_gen.cli.main import main
from tui_gen.model.evaluate import CHUNK_TOKENS
from tui_gen.model.network import CharRNN
from tui_gen.training.trainer import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory, lines_corpus_text) -> Path:
    from support.data import tiny_config_value
    from tui_gen.data.corpus import CorpusText

    d = tmp_path_factory.mktemp("eval")
    corpus = CorpusText(name="tiny", text=lines_corpus_text, framing="lines", end_marker="_E_")
    trainer = Trainer(corpus, tiny_config_value(max_steps=3, eval_every=3), run_dir=d / "run")
    for _ in trainer.run():
        pass
    return d / "run"


def evaluate(run: Path, path: Path, text: str) -> tuple[int, str, str]:
    path.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["eval", str(run), str(path), "--device", "cpu"])
    return code, out.getvalue(), err.getvalue()


def known_lines(n: int = 40) -> list[str]:
    rng = random.Random(0)
    words = ["great", "people", "America", "jobs", "the", "win", "fake", "news"]
    return [" ".join(rng.choice(words) for _ in range(6)) for _ in range(n)]


def test_known_text_is_scored_without_a_caveat(run, tmp_path):
    code, out, err = evaluate(run, tmp_path / "known.txt", "\n".join(known_lines()) + "\n")
    assert code == 0, err
    assert "bits/char" in out and "unknown" not in out
    assert "(all of it, " in out and err == ""  # another text than the run's: all of it, no note


def test_a_share_of_unknown_characters_is_said_on_the_result_line(run, tmp_path):
    lines = known_lines()
    n_unknown = round(0.05 * len("".join(lines)))  # about 5% of the characters scored
    lines[0] = "Ж" * n_unknown + lines[0]
    code, out, err = evaluate(run, tmp_path / "some.txt", "\n".join(lines) + "\n")
    assert code == 0, err
    (line,) = out.strip().split("\n")
    share = 100 * n_unknown / (len("".join(lines)))
    assert f"{share:.1f}% of the characters are unknown to the model" in line
    assert "not comparable with its validation score" in line


@pytest.mark.parametrize("line", ["ПриветмиркакделаЖЖ", "Привет мир как дела"], ids=["all unknown", "most unknown"])
def test_a_text_the_model_cannot_read_is_refused(run, tmp_path, line):
    text = "\n".join(line for _ in range(30)) + "\n"
    code, out, err = evaluate(run, tmp_path / "cyrillic.txt", text)
    assert code == 2 and out == ""
    (message,) = err.strip().split("\n")
    assert message.startswith("tui-gen: error: ") and "unknown to the model" in message


def test_a_very_long_line_is_scored_a_chunk_at_a_time(run, tmp_path, monkeypatch):
    most = []
    forward = CharRNN.forward

    def spy(model, ids, state=None):
        most.append(ids.numel())
        return forward(model, ids, state)

    monkeypatch.setattr(CharRNN, "forward", spy)
    line = " ".join(random.Random(1).choice(["great", "people", "win"]) for _ in range(4000))
    assert len(line) > 2 * CHUNK_TOKENS
    code, out, err = evaluate(run, tmp_path / "long.txt", line + "\n" + "\n".join(known_lines(5)) + "\n")
    assert code == 0, err
    assert f"{len(line) + 1 + sum(len(ln) + 1 for ln in known_lines(5)):,} characters" in out
    assert 0 < max(most) <= CHUNK_TOKENS


# ---- the run's own corpus: its held-out split, whole ----------------------------------------------


@pytest.fixture(scope="module")
def own_run(tmp_path_factory) -> tuple[Path, Path, Trainer]:
    """A run on a corpus file whose held-out split (~330,000 characters) is bigger than training's
    evaluation sample, named in its checkpoint as the CLI names it (the resolved path)."""
    from support.data import tiny_config_value, tiny_lines
    from tui_gen.data.corpus import load_corpus

    d = tmp_path_factory.mktemp("own")
    path = d / "own.txt"
    path.write_text(tiny_lines(30_000, seed=5), encoding="utf-8")
    corpus = load_corpus(path, framing="lines", data_dir=d / "data")
    cfg = tiny_config_value(max_steps=1, val_fraction=0.25)
    trainer = Trainer(corpus, cfg, run_dir=d / "run", corpus_ref=str(path.resolve()))
    for _ in trainer.run():
        pass
    assert trainer.eval_chars < trainer.val_chars  # training evaluated a sample
    return d / "run", path, trainer


def eval_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["eval", *argv, "--device", "cpu"])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def own_data(own_run, monkeypatch):
    """The CLI finds the run's corpus in the cache its fixture built."""
    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(own_run[1].parent / "data"))
    return own_run


def whole_split_bpc(trainer: Trainer) -> float:
    import math

    from tui_gen.data.corpus import validation_batches
    from tui_gen.model.evaluate import score_batches

    cfg = trainer.config
    trainer.model.eval()
    score = score_batches(
        trainer.model,
        validation_batches(trainer.val_part, trainer.vocab, cfg.seq_len, cfg.state_reset_every),
        trainer.device,
    )
    assert score.chars == trainer.val_chars
    return score.nll / score.chars / math.log(2)


def test_eval_scores_every_held_out_character(own_data):
    run, path, trainer = own_data
    code, out, err = eval_cli([str(run)])
    assert code == 0, err
    assert out.startswith(f"{whole_split_bpc(trainer):.4f} bits/char on {path.resolve()} ")
    assert f"(its held-out split, {trainer.val_chars:,} characters)" in out  # not the sample's eval_chars
    assert err == ""  # a short evaluation says nothing on stderr


def test_eval_of_the_runs_own_corpus_scores_its_held_out_split(own_data, monkeypatch):
    run, path, trainer = own_data
    _, plain, _ = eval_cli([str(run)])
    code, out, err = eval_cli([str(run), str(path)])
    assert code == 0, err
    assert out == plain  # exactly `tui-gen eval RUN`
    assert "is the run's own corpus: scoring its held-out split" in err and "--all" in err
    monkeypatch.chdir(path.parent)  # named relatively: the same file
    assert eval_cli([str(run), path.name])[1] == plain
    copy = path.parent / "copy.txt"  # the same text under another name: still the run's own
    copy.write_bytes(path.read_bytes())
    code, out, err = eval_cli([str(run), str(copy)])
    assert code == 0 and out == plain.replace(str(path.resolve()), str(copy.resolve()))


def test_eval_all_scores_the_whole_corpus_and_says_so(own_data):
    run, path, trainer = own_data
    lines = [ln for ln in path.read_text(encoding="utf-8").split("\n") if ln.strip()]
    every = sum(len(ln) + 1 for ln in lines)  # each line's characters and its end
    code, out, err = eval_cli([str(run), str(path), "--all"])
    assert code == 0, err
    assert f"(all of it, the text it trained on included, {every:,} characters)" in out
    assert f"scoring {every:,} characters" in err  # a long evaluation says so on stderr (not a terminal)
    assert "own corpus" not in err
    assert eval_cli([str(run), "--all"])[1] == out  # the run's own corpus, not named: the same


def test_a_changed_corpus_is_still_its_own_and_said_to_have_changed(tmp_path, monkeypatch):
    from support.data import tiny_config_value, tiny_lines
    from tui_gen.data.corpus import load_corpus

    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "mine.txt"
    path.write_text(tiny_lines(200), encoding="utf-8")
    corpus = load_corpus(path, framing="lines", data_dir=tmp_path / "data")
    trainer = Trainer(corpus, tiny_config_value(max_steps=1), run_dir=tmp_path / "run", corpus_ref=str(path.resolve()))
    for _ in trainer.run():
        pass
    code, out, err = eval_cli([str(tmp_path / "run")])
    assert code == 0 and "its held-out split" in out and err == ""
    path.write_text(tiny_lines(200, seed=8), encoding="utf-8")  # edited since
    code, out, err = eval_cli([str(tmp_path / "run"), str(path)])
    assert code == 0 and "its held-out split" in out
    assert "has changed since this checkpoint was trained" in err


def test_a_long_evaluation_shows_its_progress_on_a_terminal_and_clears_it(monkeypatch):
    from rich.console import Console

    from tui_gen.cli import main as cli_main

    now = [100.0]
    monkeypatch.setattr(cli_main.time, "monotonic", lambda: now[0])
    shown = io.StringIO()
    progress, done = cli_main._eval_progress(Console(file=shown, force_terminal=True, width=100), 2_000_000)
    progress(1000)  # within its first second: nothing yet
    assert shown.getvalue() == ""
    now[0] += 1.5
    progress(500_000)
    assert "scoring: 500,000 of 2,000,000 characters (25%)" in shown.getvalue()
    done()
    assert shown.getvalue().endswith("\x1b[2K\x1b[1G")  # the line erased: the result stands alone
