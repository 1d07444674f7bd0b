"""A short soak: bench/soak.py runs `tui-gen train` (tiny model) for 45 s, saving every ~5 s.

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
def test_soak_45s(tmp_path):
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
            "0.75",
            "--save-every",
            "5",
            "--sample-every",
            "1",
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
        env=child_env(),
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
