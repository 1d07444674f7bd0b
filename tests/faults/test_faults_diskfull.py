"""The disk fills up while a run saves: a small tmpfs holds the run folder.

Decided behaviour: a failed save is a warning and training carries on (the previous checkpoint
stays whole, the temporary file is removed); if the run's final save fails, the run ends with one
`tui-gen: error:` line and exit status 1, since its end is lost. A run whose final save worked
exits 0 even if some saves before it failed.
"""

from __future__ import annotations

import math
import os
import subprocess

import pytest

from support.data import TINY_FLAGS, tiny_text, tiny_train_config
from support.processes import mount_tmpfs, run_cli, umount
from tui_gen.training.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def checkpoint_size(tmp_path_factory) -> int:
    """How big one checkpoint of the model below is, measured on a normal disk (same flags as TINY_FLAGS)."""
    from tui_gen.data.corpus import CorpusText
    from tui_gen.training.trainer import Trainer

    run = tmp_path_factory.mktemp("size") / "run"
    corpus = CorpusText(name="c", text=tiny_text(300), framing="lines", end_marker="_E_")
    for _ in Trainer(corpus, tiny_train_config(max_steps=1, eval_every=1), run_dir=run).run():
        pass
    return (run / "last.safetensors").stat().st_size


@pytest.mark.slow
@pytest.mark.parametrize("fits", [2.5, 1.5], ids=["room-for-two", "room-for-one"])
def test_disk_full_while_saving(tmp_path, checkpoint_size, fits):
    corpus = tmp_path / "c.txt"
    corpus.write_text(tiny_text(300))
    mnt = tmp_path / "small-disk"
    pages = math.ceil(checkpoint_size / 4096)
    mount_tmpfs(mnt, int(pages * fits) * 4096)
    try:
        run = mnt / "run"
        r = run_cli(
            ["train", corpus, "--steps", "6", "--eval-every", "2", *TINY_FLAGS, "--quiet", "--out", run],
            cwd=tmp_path,
            timeout=60,
        )
        # the first evaluation's saves fill the disk; the final save fails: one error line, exit 1
        line = r.assert_clean_error("could not be saved", "No space left on device", rc=1)
        assert "step 6" in line
        warnings = [ln for ln in r.err.splitlines() if ln.startswith("warning:")]
        assert warnings and all("No space left on device" in w for w in warnings), r.err
        # what is there is whole, and is what was saved before the disk filled up
        names = sorted(os.listdir(run))
        assert not [n for n in names if n.endswith(".tmp")], names
        names.remove("metrics.jsonl")  # small: written as far as it fitted (its own warning says if not)
        assert names == (["best.safetensors", "last.safetensors"] if fits > 2 else ["best.safetensors"])
        for n in names:
            assert load_checkpoint(run / n).step == 2
        if fits < 2:
            return
        # with room again, resuming from what was kept works and finishes cleanly
        ok = run_cli(
            ["train", "--resume", run / names[-1], "--steps", "1", "--quiet", "--out", tmp_path / "run2"],
            cwd=tmp_path,
            timeout=60,
        )
        ok.assert_ok()
    finally:
        umount(mnt)


def test_out_on_a_read_only_filesystem_fails_before_the_first_step(tmp_path):
    """It used to train the whole budget, warn "free some disk space" at every evaluation, then fail."""
    ro = tmp_path / "ro"
    mount_tmpfs(ro, 1 << 20)
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True, capture_output=True)
        (tmp_path / "c.txt").write_text(tiny_text(300), encoding="utf-8")
        r = run_cli(["train", "c.txt", "--steps", "100000", "--out", str(ro / "run"), *TINY_FLAGS], cwd=tmp_path)
        r.assert_clean_error("cannot write the run folder", "Read-only file system")
        assert "validation" not in r.err and "step " not in r.err  # no training happened
    finally:
        umount(ro)
