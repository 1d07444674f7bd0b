"""The framing guess (corpus.explain_framing): made-up texts of each kind, and the reason it gives.

Every text here is generated in this file from a few made-up words: no book, play or data set is copied.
The old rule (100 or more lines with a median under 400 characters => lines) framed the prose, the play
and the poem as lines; they are the cases this guess exists for.
"""

from __future__ import annotations

import random
import textwrap

import pytest

from support.data import TWEETS
from tui_gen.data.corpus import FRAMING_SAMPLE_CHARS, explain_framing, guess_framing, load_corpus
from tui_gen.data.sources import open_corpus

WORDS = (
    "the a of and to in was it that he she they with for on at by from as his her river lamp "
    "morning garden letter window road house old small quiet long evening voice door field town "
    "walked said looked thought found kept waited carried heard turned opened remembered"
).split()
NAMES = ["Mara", "Tobin", "Elsie", "Corvin", "Ada", "Halvard", "Ines", "Pim", "Rosalind", "Ulf"]
SURNAMES = ["Fenwick", "Ashdown", "Quill", "Marrow", "Thistle", "Brack", "Onslow", "Vane"]


def _sentence(rng: random.Random, lo: int = 6, hi: int = 18) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(words).capitalize() + rng.choice(".....!?")


def wrapped_prose(paragraphs: int = 60, width: int = 70, blank_lines: bool = True, seed: int = 1) -> str:
    """A made-up book: paragraphs of sentences, wrapped at `width`, blank lines (or indents) between."""
    rng = random.Random(seed)
    out = []
    for _ in range(paragraphs):
        body = " ".join(_sentence(rng) for _ in range(rng.randint(3, 7)))
        lead = "" if blank_lines else "    "
        out.append(textwrap.fill(body, width=width, initial_indent=lead))
    return ("\n\n" if blank_lines else "\n").join(out) + "\n"


def play(speeches: int = 150, blank_lines: bool = True, seed: int = 2) -> str:
    """Speeches after a speaker's name and ':', verse lines that start with a capital."""
    rng = random.Random(seed)
    cast = ["First Watchman", "Mara", "Old Tobin", "All", "Second Watchman", "Lady Elsie"]
    out = []
    for _ in range(speeches):
        lines = [_sentence(rng, 4, 9)[:-1] + rng.choice([",", ";", ".", "", "!"]) for _ in range(rng.randint(1, 4))]
        out.append(f"{rng.choice(cast)}:\n" + "\n".join(ln[0].upper() + ln[1:] for ln in lines))
    return ("\n\n" if blank_lines else "\n").join(out) + "\n"


def poem(stanzas: int = 40, seed: int = 3) -> str:
    """Stanzas of four short capitalised lines, a blank line between stanzas."""
    rng = random.Random(seed)
    return (
        "\n\n".join(
            "\n".join(_sentence(rng, 3, 7)[:-1] + rng.choice([",", "", ".", ";"]) for _ in range(4))
            for _ in range(stanzas)
        )
        + "\n"
    )


def tweets_like(n: int = 400, seed: int = 4) -> str:
    rng = random.Random(seed)
    tags = ["#weekend", "@cityhall", "#news", "", "", "http://x.example/a1"]
    return (
        "\n".join(
            " ".join(_sentence(rng, 3, 12) for _ in range(rng.randint(1, 3))) + " " + rng.choice(tags) for _ in range(n)
        )
        + "\n"
    )


def names(n: int = 300, seed: int = 5) -> str:
    rng = random.Random(seed)
    return "\n".join(f"{rng.choice(NAMES)} {rng.choice(SURNAMES)}" for _ in range(n)) + "\n"


def quotes(n: int = 200, blank_between: bool = False, seed: int = 6) -> str:
    rng = random.Random(seed)
    lines = [f"\u201c{_sentence(rng)}\u201d \u2014 {rng.choice(NAMES)} {rng.choice(SURNAMES)}" for _ in range(n)]
    return ("\n\n" if blank_between else "\n").join(lines) + "\n"


def csv_records(n: int = 300, seed: int = 7) -> str:
    rng = random.Random(seed)
    rows = ["id,name,town,amount,date"]
    rows += [
        f"{i},{rng.choice(NAMES).lower()},{rng.choice(WORDS)}ton,{rng.randint(1, 9999)}.{rng.randint(0, 99):02d},"
        f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        for i in range(n)
    ]
    return "\n".join(rows) + "\n"


def log_lines(n: int = 300, seed: int = 8) -> str:
    rng = random.Random(seed)
    return (
        "\n".join(
            f"2024-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z "
            f"{rng.choice(['INFO', 'INFO', 'WARN', 'ERROR'])} worker-{rng.randint(1, 8)} "
            f"{rng.choice(['finished job', 'started job', 'retried job'])} {rng.randint(1, 9999)} "
            f"in {rng.randint(1, 900)} ms"
            for _ in range(n)
        )
        + "\n"
    )


def lowercase_log_lines(n: int = 300, seed: int = 9) -> str:
    """Records that look a little like wrapped prose: lowercase words, no final punctuation, one width."""
    rng = random.Random(seed)
    return (
        "\n".join(
            f"{rng.choice(['info', 'warn'])} request from {rng.choice(NAMES).lower()} "
            f"handled in {rng.randint(100, 999)} ms "
            f"status {rng.choice([200, 204, 404, 500])}"
            for _ in range(n)
        )
        + "\n"
    )


def dictionary_words(n: int = 500, seed: int = 10) -> str:
    rng = random.Random(seed)
    made_up = sorted({"".join(rng.choice("abcdefghilmnoprstu") for _ in range(rng.randint(3, 11))) for _ in range(n)})
    return "\n".join(made_up) + "\n"


def _old_rule(text: str) -> str:
    """The guess before this one: many lines with a median under 400 characters are lines."""
    import numpy as np

    lines = [ln for ln in text.split("\n") if ln.strip()]
    return "lines" if len(lines) >= 100 and float(np.median([len(ln) for ln in lines])) <= 400 else "stream"


STREAMS = {
    "wrapped prose": (wrapped_prose(), ["hard-wrapped prose", "paragraphs", "about 70 characters"]),
    "wrapped prose, 60 columns": (wrapped_prose(width=60, seed=11), ["hard-wrapped prose", "about 60 characters"]),
    "wrapped prose, indented paragraphs": (
        wrapped_prose(blank_lines=False, seed=12),
        ["hard-wrapped prose", "running on into the next"],
    ),
    "a play": (play(), ["a play", "speeches", "ending in ':'"]),
    "a play without blank lines": (play(blank_lines=False, seed=13), ["a play", "speeches"]),
    "a poem": (poem(), ["40 stanzas", "about 4 lines", "blank lines"]),
}
LINES = {
    "tweets-like one-liners": tweets_like(),
    "names": names(),
    "quotes": quotes(),
    "quotes with blank lines between": quotes(blank_between=True, seed=14),
    "CSV records": csv_records(),
    "log lines": log_lines(),
    "lowercase log lines": lowercase_log_lines(),
    "dictionary words": dictionary_words(),
}


@pytest.mark.parametrize("kind", STREAMS)
def test_text_whose_lines_belong_together_is_a_stream(kind):
    text, mentions = STREAMS[kind]
    guess = explain_framing(text)
    assert guess.framing == "stream", (kind, guess)
    for phrase in mentions:
        assert phrase in guess.reason, (kind, guess.reason)
    assert _old_rule(text) == "lines"  # the case the old rule got wrong


@pytest.mark.parametrize("kind", LINES)
def test_many_independent_lines_are_lines(kind):
    text = LINES[kind]
    guess = explain_framing(text)
    assert guess.framing == "lines", (kind, guess)
    n = sum(1 for ln in text.split("\n") if ln.strip())
    assert guess.reason.startswith(f"{n:,} independent short lines, median "), guess.reason
    assert guess_framing(text) == "lines"


def test_the_tweets_are_lines():
    # The real data set: always present here and in CI; fail, never skip, when it is missing.
    assert TWEETS.is_file(), f"the real data set is missing at {TWEETS}"
    guess = explain_framing(TWEETS.read_text(encoding="utf-8"))
    assert guess == guess.__class__("lines", "19,469 independent short lines, median 120 characters")


def test_few_or_long_lines_are_a_stream():
    assert explain_framing(names(50)) == explain_framing(names(50)).__class__("stream", "only 50 non-empty lines")
    long = "\n".join(" ".join(["word"] * 120) for _ in range(200))  # 599 characters a line
    guess = explain_framing(long)
    assert guess.framing == "stream" and guess.reason == "long lines, median 599 characters"


def test_only_the_start_of_a_big_text_is_read_and_the_reason_says_so():
    one_liners = tweets_like(2000)
    head = one_liners * (FRAMING_SAMPLE_CHARS // len(one_liners) + 1)  # past the sample's end
    guess = explain_framing(head + wrapped_prose(2000))
    assert guess.framing == "lines"  # the prose after the first 4 MiB is never looked at
    assert guess.reason.endswith("(in the first 4 MiB)"), guess.reason
    # The line cut at the sample's end is left out, not counted as a short line.
    sample_lines = head[:FRAMING_SAMPLE_CHARS].count("\n")
    assert guess.reason.startswith(f"{sample_lines:,} independent short lines"), guess.reason


def test_a_big_file_read_through_its_cache_says_it_was_sampled(tmp_path, monkeypatch):
    monkeypatch.setenv("TUI_GEN_DATA_DIR", str(tmp_path / "data"))
    one_liners = tweets_like(2000)
    big = tmp_path / "big.txt"
    big.write_text(one_liners * (FRAMING_SAMPLE_CHARS // len(one_liners) + 2), encoding="utf-8")
    corpus = load_corpus(big)  # the guess sees the cache's head, not the whole text
    assert corpus.framing == "lines" and corpus.framing_reason.endswith("(in the first 4 MiB)"), corpus.framing_reason


def test_a_file_carries_the_guess_and_framing_given_overrides_it(tmp_path):
    book = tmp_path / "book.txt"
    book.write_text(wrapped_prose(), encoding="utf-8")
    corpus = load_corpus(book)
    assert corpus.framing == "stream" and corpus.framing_reason.startswith("hard-wrapped prose: 60 paragraphs")
    given = load_corpus(book, framing="lines")
    assert (given.framing, given.framing_reason) == ("lines", "given")
    corpus, _ = open_corpus(str(book))
    assert corpus.framing == "stream" and corpus.framing_reason.startswith("hard-wrapped prose")
    corpus, _ = open_corpus(str(book), framing="lines")
    assert (corpus.framing, corpus.framing_reason) == ("lines", "given")


def test_a_built_in_corpus_says_so(tmp_path):
    corpus, name = open_corpus("python-help", data_dir=tmp_path)
    assert (name, corpus.framing, corpus.framing_reason) == ("python-help", "stream", "built-in corpus")
