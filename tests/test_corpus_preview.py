"""The new-run form's look at a corpus: bounded, honest about samples, the loader's framing and words."""

from __future__ import annotations

import pytest

from tui_gen.core.errors import CorpusError
from tui_gen.data.corpus import explain_framing, load_corpus
from tui_gen.data.preview import PREVIEW_BYTES, preview_corpus
from tui_gen.data.vocab import Vocab


def test_a_file_shows_its_size_lines_framing_and_why(tmp_path, lines_corpus_text):
    path = tmp_path / "quotes.txt"
    path.write_text(lines_corpus_text, encoding="utf-8")
    p = preview_corpus(str(path))
    guess = explain_framing(lines_corpus_text)
    assert (p.framing, p.reason) == (guess.framing, guess.reason) == (load_corpus(path).framing, guess.reason)
    assert p.size == path.stat().st_size and p.lines == 150 and not p.sampled and not p.builtin
    assert p.vocab_size(2) == len(Vocab.build([lines_corpus_text], 2))
    assert p.vocab_size(1) == len(Vocab.build([lines_corpus_text], 1)) >= p.vocab_size(2)


def test_a_big_file_is_read_only_up_to_the_bound_and_says_so(tmp_path):
    path = tmp_path / "big.txt"
    line = "a long line of text that goes on and on " * 20 + "\n"
    with path.open("w", encoding="utf-8") as f:
        f.write(line * ((PREVIEW_BYTES * 2) // len(line)))
    p = preview_corpus(str(path))
    assert p.sampled and p.size == path.stat().st_size > PREVIEW_BYTES
    assert p.read_bytes <= PREVIEW_BYTES and p.lines <= PREVIEW_BYTES // len(line) + 1


def test_a_folder_is_its_txt_files(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("three", encoding="utf-8")
    (tmp_path / "skip.md").write_text("not read", encoding="utf-8")
    p = preview_corpus(str(tmp_path))
    assert p.files == 2 and p.lines == 3 and p.size == 8 + 5


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: d / "missing.txt", "does not exist"),
        (lambda d: (d / "empty.txt").write_text("  \n") and d / "empty.txt", "has no text"),
        (lambda d: (d / "bin.txt").write_bytes(b"\x00\x01" * 100) and d / "bin.txt", "binary"),
        (lambda d: (d / "sub").mkdir() or d / "sub", "no .txt files"),
    ],
)
def test_what_cannot_be_a_corpus_is_said_as_the_loader_says_it(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(CorpusError, match=words):
        preview_corpus(str(path))
    with pytest.raises(CorpusError, match=words):
        load_corpus(path)


def test_a_builtin_not_downloaded_is_not_fetched(tmp_path):
    p = preview_corpus("trump-tweets", data_dir=tmp_path)
    assert p.builtin and not p.cached and p.framing == "lines" and p.reason == "built-in corpus"
    assert p.vocab_size(2) is None and list(tmp_path.iterdir()) == []
