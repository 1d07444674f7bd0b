"""Where tui-gen keeps what it makes outside run folders: the data folder (built-in corpora and the
corpus cache), `data/` or TUI_GEN_DATA_DIR. A module of its own, torch-free, so that reading a corpus
(tui_gen.data.corpus) and fetching one (tui_gen.data.sources) both find it without importing each other."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "TUI_GEN_DATA_DIR"


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path("data")
