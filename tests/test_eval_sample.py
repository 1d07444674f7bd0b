"""Evaluation during training scores a bounded, fixed sample of the held-out split: the same pieces at
every evaluation and after a resume, no more characters on a bigger corpus, and the whole split (the
figures of before, exactly) when the split is small."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from support.data import TWEETS, tiny_lines
from tui_gen.core import events as ev
from tui_gen.core.errors import CorpusError
from tui_gen.data.corpus import (
    EVAL_SAMPLE_CHARS,
    CorpusText,
    LineSet,
    StreamPart,
    load_corpus,
    split_encoded,
    validation_batches,
    validation_pieces,
    validation_sample,
    validation_targets,
)
from tui_gen.model.evaluate import score_batches
from tui_gen.runs.metrics_log import decode, read_log
from tui_gen.training import trainer as trainer_module
from tui_gen.training.checkpoint import load_checkpoint
from tui_gen.training.trainer import Trainer

FRAMINGS = ["lines", "stream"]
VAL_FRACTION = 0.25  # a quarter of 30,000 lines is more than the budget


def big_corpus(folder: Path, lines: int, framing: str) -> CorpusText:
    """A synthetic corpus file of `lines` lines (~40 characters each), encoded into a cache in folder."""
    path = folder / f"big-{lines}.txt"
    if not path.exists():
        path.write_text(tiny_lines(lines, seed=lines), encoding="utf-8")
    return load_corpus(path, framing=framing, data_dir=folder / "data")


def whole_split_bpc(trainer: Trainer) -> tuple[float, int]:
    """What every evaluation computed before the sample: the whole held-out split, scored once."""
    trainer.model.eval()
    cfg = trainer.config
    batches = validation_batches(trainer.val_part, trainer.vocab, cfg.seq_len, cfg.state_reset_every)
    score = score_batches(trainer.model, batches, trainer.device)
    return score.nll / max(score.chars, 1) / math.log(2), score.chars


def old_validation_targets(part: LineSet | StreamPart, seq_len: int, reset_every: int) -> int:
    """validation_targets as it was written before the sample, for the comparison."""
    if isinstance(part, LineSet):
        return int((part.lengths + 1).sum())
    chunk = seq_len * reset_every + 1
    n = len(part)
    return sum(min(chunk, n - a) - 1 for a in range(0, n - 1, chunk - 1))


class Scored:
    """Spies on the trainer's score_batches: a digest of every batch each evaluation scored."""

    def __init__(self, monkeypatch):
        self.digests: list[str] = []
        self.chars: list[int] = []
        real = trainer_module.score_batches

        def spy(model, batches, device, *args, **kwargs):
            batches = list(batches)
            h = hashlib.sha256()
            for b in batches:
                for t in (b.inputs, b.targets, b.mask):
                    h.update(t.numpy().tobytes())
            self.digests.append(h.hexdigest())
            score = real(model, batches, device, *args, **kwargs)
            self.chars.append(score.chars)
            return score

        monkeypatch.setattr(trainer_module, "score_batches", spy)


# ---- the sample itself ----------------------------------------------------------------------------


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_sample_is_whole_pieces_within_the_budget_drawn_from_the_seed_alone(framing):
    part = split_encoded(CorpusText("t", tiny_lines(400), framing).encoded_corpus(), framing, 0.25, 3).val
    _, lengths = validation_pieces(part, 16, 2)
    budget = validation_targets(part, 16, 2) // 3
    a = validation_sample(part, 16, 2, seed=3, max_chars=budget)
    np.random.seed(99)  # global random states that advance play no part
    torch.manual_seed(99)
    np.random.random(10)
    b = validation_sample(part, 16, 2, seed=3, max_chars=budget)
    assert a is not None and b is not None and np.array_equal(a, b)
    assert np.all(np.diff(a) > 0) and a[0] >= 0 and a[-1] < len(lengths)  # distinct pieces, in order
    scored = validation_targets(part, 16, 2, a)
    assert budget - int(lengths.max()) < scored <= budget
    other = validation_sample(part, 16, 2, seed=4, max_chars=budget)
    assert other is not None and not np.array_equal(a, other)  # another run's seed: another sample
    assert validation_sample(part, 16, 2, seed=3, max_chars=validation_targets(part, 16, 2)) is None


def test_a_stream_holds_out_any_allowed_fraction_and_a_tiny_one_is_refused_by_its_length():
    text = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    for fraction in (0.05, 0.25, 0.4, 0.49):
        split = split_encoded(CorpusText("t", text, "stream").encoded_corpus(), "stream", fraction, 1)
        assert (split.val.start, split.val.stop) == (10_000 - int(10_000 * fraction), 10_000)
    split_encoded(CorpusText("t", text[:800], "stream").encoded_corpus(), "stream", 0.49, 1)
    with pytest.raises(CorpusError, match="has only 799 characters: at least 800 are needed"):
        split_encoded(CorpusText("t", text[:799], "stream").encoded_corpus(), "stream", 0.05, 1)


@pytest.mark.parametrize("framing", FRAMINGS)
def test_the_tweets_are_evaluated_whole(framing, tmp_path):
    assert TWEETS.is_file(), f"the real data set is missing at {TWEETS}"
    corpus = load_corpus(TWEETS, framing=framing, data_dir=tmp_path)
    val = split_encoded(corpus.encoded_corpus(), framing, 0.05, 1234).val
    assert 100_000 < validation_targets(val, 50, 8) <= EVAL_SAMPLE_CHARS
    assert validation_sample(val, 50, 8, 1234) is None


# ---- in training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("framing", FRAMINGS)
def test_a_small_split_is_scored_whole_with_the_figures_of_before(framing, tmp_path, tiny_text, make_config):
    corpus = CorpusText(name="tiny", text=tiny_text, framing=framing)
    trainer = Trainer(corpus, make_config(max_steps=4, eval_every=4), run_dir=tmp_path / "run")
    assert trainer.eval_pieces is None
    assert trainer.eval_chars == trainer.val_chars == old_validation_targets(trainer.val_part, 16, 8)
    events = list(trainer.run())
    (started,) = [e for e in events if isinstance(e, ev.Started)]
    assert started.eval_chars == started.val_chars
    (evaluation,) = [e for e in events if isinstance(e, ev.Eval)]
    whole, chars = whole_split_bpc(trainer)
    assert evaluation.val_bpc == whole and chars == trainer.val_chars  # bit for bit


@pytest.mark.parametrize("framing", FRAMINGS)
def test_the_sample_does_not_grow_with_the_corpus(framing, tmp_path, make_config, monkeypatch):
    scored = Scored(monkeypatch)
    sizes = []
    for lines in (30_000, 90_000):  # held out: ~330,000 and ~1,000,000 characters
        trainer = Trainer(big_corpus(tmp_path, lines, framing), make_config(val_fraction=VAL_FRACTION))
        assert trainer.eval_pieces is not None
        _, lengths = validation_pieces(trainer.val_part, 16, 8)
        assert EVAL_SAMPLE_CHARS - int(lengths.max()) < trainer.eval_chars <= EVAL_SAMPLE_CHARS
        trainer.evaluate()
        assert scored.chars[-1] == trainer.eval_chars
        sizes.append((trainer.val_chars, trainer.eval_chars))
    (small_val, small_eval), (big_val, big_eval) = sizes
    assert big_val > 2.5 * small_val > 2.5 * EVAL_SAMPLE_CHARS  # the held-out split grew ...
    assert abs(big_eval - small_eval) <= 600  # ... what an evaluation scores did not (a few pieces' slack)


@pytest.mark.parametrize("framing", FRAMINGS)
def test_every_evaluation_and_a_resume_score_the_same_sample(framing, tmp_path, make_config, monkeypatch):
    monkeypatch.setattr(trainer_module, "VAL_BATCHES_KEPT", 0)  # read anew at each evaluation
    scored = Scored(monkeypatch)
    corpus = big_corpus(tmp_path, 30_000, framing)
    cfg = make_config(val_fraction=VAL_FRACTION, eval_every=2, first_eval=0, lr_schedule="constant")

    straight = Trainer(corpus, replace(cfg, max_steps=6), run_dir=tmp_path / "straight")
    assert straight.eval_chars < straight.val_chars  # a sample, not the split
    straight_events = list(straight.run())
    assert len(scored.digests) == 3 and len(set(scored.digests)) == 1
    assert scored.chars == [straight.eval_chars] * 3
    sample = scored.digests[0]

    scored.digests.clear()
    first = Trainer(corpus, replace(cfg, max_steps=3), run_dir=tmp_path / "split")
    list(first.run())  # evaluates at 2 and at its end, 3
    second = Trainer(
        big_corpus(tmp_path, 30_000, framing),  # the corpus opened anew, as a resumed run does
        replace(cfg, max_steps=6),
        run_dir=tmp_path / "split",
        resume=load_checkpoint(tmp_path / "split" / "last.safetensors"),
    )
    assert np.array_equal(second.eval_pieces, straight.eval_pieces)
    list(second.run())
    assert set(scored.digests) == {sample}
    # and the figures at the steps both runs evaluated are the same (resuming is exact)
    straight_val = dict((s, v) for s, v in straight.history["val"])
    assert [v for s, v in second.history["val"] if s in (2, 4, 6)] == [straight_val[s] for s in (2, 4, 6)]
    assert straight_events[-1].best_bpc == min(straight_val.values())  # best is chosen on the sample


def test_the_metrics_log_says_what_an_evaluation_scores(tmp_path, make_config):
    trainer = Trainer(big_corpus(tmp_path, 30_000, "lines"), make_config(val_fraction=VAL_FRACTION, max_steps=1))
    trainer.set_run_dir(tmp_path / "run")
    list(trainer.run())
    logged, skipped = read_log(tmp_path / "run" / "metrics.jsonl")
    (started,) = [e for e, _ in logged if isinstance(e, ev.Started)]
    assert skipped == 0 and started.eval_chars == trainer.eval_chars < started.val_chars
    # a log written before the field existed still reads: its evaluations scored the whole split
    line = json.loads((tmp_path / "run" / "metrics.jsonl").read_text(encoding="utf-8").split("\n")[0])
    del line["eval_chars"]
    decoded = decode(json.dumps(line))
    assert decoded is not None and isinstance(decoded[0], ev.Started) and decoded[0].eval_chars is None
