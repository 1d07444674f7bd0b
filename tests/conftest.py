"""Shared fixtures: a tiny corpus, a tiny training configuration, the real tweets' path (the values
live in tests/support/data.py); and how the suite runs: its own data folder, the slow files first, one
torch thread per xdist worker."""

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


def pytest_configure(config) -> None:
    """Under pytest-xdist (`make test` runs two workers on two cores) each worker's torch gets one thread:
    two workers of two threads each would make torch's threads wait on each other (a step ~10x slower)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items) -> None:
    """The files that hold a test marked slow run first, each file's tests in their own order. Under
    `-n 2 --dist worksteal` a worker that runs out of tests takes half of what the other has left, but
    never the test it is running: a long test left for the end would keep one core busy alone. The order
    is the same in every worker, as xdist requires; in one process it changes only the files' order."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: the rest keeps its order


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory) -> Path:
    """The data folder (corpus cache, downloads) of this run, never the checkout's `data/`: a test's
    cache entries must not outlive it, nor meet another run's. Child processes inherit it through the
    environment; a test that needs another one sets TUI_GEN_DATA_DIR itself."""
    from tui_gen.core.paths import DATA_DIR_ENV

    if os.environ.get(DATA_DIR_ENV):  # the caller's choice
        return Path(os.environ[DATA_DIR_ENV])
    d = tmp_path_factory.mktemp("data")
    os.environ[DATA_DIR_ENV] = str(d)
    return d


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
