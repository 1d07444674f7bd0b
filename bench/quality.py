"""Validation bits/char after M minutes of `tui-gen train` with the defaults, against the lecture's
recipe (`--preset lecture`) for the same time, both as real CLI runs, one after the other."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from .common import tweets_path


def train_and_eval(minutes: float, preset: str, workdir: Path) -> tuple[float, str]:
    out = workdir / preset
    cmd = [
        sys.executable,
        "-m",
        "tui_gen",
        "train",
        tweets_path(),
        "--minutes",
        str(minutes),
        "--preset",
        preset,
        "--out",
        str(out),
        "--quiet",
        "--threads",
        "2",
    ]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    from tui_gen.training.checkpoint import read_meta

    meta = read_meta(out)
    return float(meta["best_val_bpc"]), f"step {meta['step']}"


def run(minutes: float = 6.0) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        ours, ours_info = train_and_eval(minutes, "default", Path(tmp))
        lect, lect_info = train_and_eval(minutes, "lecture", Path(tmp))
    return [
        (
            f"validation after {minutes:g} min of `tui-gen train`",
            f"{ours:.3f} bits/char ({ours_info})",
            f"lecture preset {lect:.3f} bits/char ({lect_info})",
            f"{lect - ours:+.3f} bits",
        )
    ]
