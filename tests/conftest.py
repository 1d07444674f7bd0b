"""Shared fixtures: a tiny corpus, a tiny training configuration, the real tweets' path (the values
live in tests/support/data.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.data import TINY_TEXT, TWEETS, tiny_config_value, tiny_lines
from tui_gen.core.config import TrainConfig
from tui_gen.data.corpus import CorpusText
from tui_gen.process.child import NICENESS_ENV

# The app's training processes started by tests run at the tests' own priority: at the default nice 10,
# beside another busy process (a second test run, a `tui-gen train`), they would get a tenth of a core and
# every test that waits on one would take minutes. The default priority has its own test (test_worker).
os.environ.setdefault(NICENESS_ENV, "0")


@pytest.fixture
def tiny_text() -> str:
    return TINY_TEXT


@pytest.fixture
def tiny_corpus() -> CorpusText:
    return CorpusText(name="tiny", text=TINY_TEXT, framing="lines", end_marker="_E_")


@pytest.fixture
def tiny_stream_corpus() -> CorpusText:
    return CorpusText(name="tiny-stream", text=TINY_TEXT, framing="stream")


@pytest.fixture
def tiny_config() -> TrainConfig:
    return tiny_config_value()


@pytest.fixture
def make_config():
    """tiny_config_value as a fixture: make_config(dropout=0.2, max_steps=5)."""
    return tiny_config_value


@pytest.fixture
def tiny_corpus_file(tmp_path) -> Path:
    p = tmp_path / "tiny.txt"
    p.write_text(TINY_TEXT, encoding="utf-8")
    return p


@pytest.fixture(scope="session")
def lines_corpus_text() -> str:
    """Enough lines (150) for the lines framing to be guessed, each ending in the _E_ marker."""
    return tiny_lines(150)


@pytest.fixture(scope="session")
def tweets_path() -> Path:
    assert TWEETS.is_file(), f"the real data set is missing at {TWEETS}"
    return TWEETS
