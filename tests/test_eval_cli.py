"""`tui-gen eval RUN FILE`: text the model cannot read is flagged or refused, and a very long line
is scored a chunk at a time. Through main() in this process, on a run trained for a few steps."""

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
