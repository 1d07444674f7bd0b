"""A short soak: bench/soak.py runs `tui-gen train` (tiny model) for 15 s, saving every ~2 s (about as
many saves as 45 s at one every 5 s, which is what a leak per save grows with).

Bound stated and checked: after the first save, the trainer's resident memory ends within 40 MiB of
where it was, and never peaks more than 80 MiB above it; the run folder never holds more than the
two checkpoints (best and last) and its metrics log, and holds exactly those at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.data import REPO, TWEETS, tiny_text
from support.processes import child_env


@pytest.mark.slow
def test_soak_15s(tmp_path):
    out = tmp_path / "soak.json"
    corpus = TWEETS
    if not corpus.is_file():  # no download from a test: a generated corpus will do
        corpus = tmp_path / "c.txt"
        corpus.write_text(tiny_text(3000))
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--tiny",
            "--minutes",
            "0.25",
            "--save-every",
            "2",
            "--sample-every",
            "0.5",
            "--threads",
            "1",
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path),
            "--json",
            str(out),
        ],
        cwd=REPO,
        env=child_env(TUI_GEN_DATA_DIR=str(tmp_path / "data")),  # its corpus cache: not the checkout's data/
        capture_output=True,
        text=True,
        timeout=150,
    )
    print(p.stdout)
    rc = p.returncode
    r = json.loads(out.read_text())
    print({k: v for k, v in r.items() if k not in ("stdout", "stderr")})
    assert rc == 0 and r["exit"] == 0, r["stderr"]
    assert r["saves_seen"] >= 4
    assert r["final_files"] == ["best.safetensors", "last.safetensors", "metrics.jsonl"]
    assert r["max_checkpoint_files"] <= 2
    assert not [n for n in r["other_files_seen"] if not n.endswith(".tmp")]
    base = r["rss_after_first_save"]
    assert r["rss_end"] - base < 40 * 2**20, r
    assert r["rss_peak"] - base < 80 * 2**20, r
