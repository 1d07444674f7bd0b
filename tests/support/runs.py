"""Real run folders for the compare tests: tiny models trained in-process for a few dozen steps, each
leaving its checkpoints and metrics log as `tui-gen train` would."""

from __future__ import annotations

from pathlib import Path

from support.data import TINY_TEXT, tiny_train_config


def train_run(run_dir: Path, cell: str = "gru", steps: int = 30, hidden: list[int] | None = None) -> Path:
    """Train a tiny model into run_dir (evaluations at 10, 20, 30, ...); returns run_dir."""
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer

    corpus = CorpusText(name="tiny", text=TINY_TEXT, framing="lines", end_marker="_E_")
    cfg = tiny_train_config(cell=cell, max_steps=steps, eval_every=10, first_eval=10, hidden_sizes=hidden or [16, 16])
    trainer = Trainer(corpus, cfg, run_dir=run_dir)
    for _ in trainer.run():
        pass
    return run_dir


def corrupt_run(run_dir: Path) -> Path:
    """A run folder whose checkpoint and metrics log are garbage (and a hostile name inside the log)."""
    run_dir.mkdir(parents=True)
    (run_dir / "last.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + bytes(64))
    (run_dir / "metrics.jsonl").write_bytes(b'\x00\xff garbage\n{"type": "step", "step": "ten"}\n[1,2]\n{trunc')
    return run_dir
