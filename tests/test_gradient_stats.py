"""Exploding gradients, recorded: every step's gradient norm before clipping and whether clipping acted,
in the trainer's events, the metrics log (means over the steps a line stands for) and the app's
training process (the same coalescing)."""

from __future__ import annotations

import copy

import pytest
import torch

from tui_gen.core import events as ev
from tui_gen.data.corpus import CorpusText
from tui_gen.model.network import masked_nll
from tui_gen.runs.metrics_log import MetricsReader, MetricsWriter
from tui_gen.training.trainer import LN2, Trainer

TEXT = "".join(f"the {w} sat on the {v} mat\n" for w in ["cat", "dog", "owl", "bee"] for v in ["red", "big", "old"]) * 6


def corpus() -> CorpusText:
    return CorpusText(name="mats", text=TEXT, framing="lines")


def steps_of(trainer: Trainer) -> list[ev.Step]:
    return [e for e in trainer.run() if isinstance(e, ev.Step)]


def test_the_norm_is_clip_grad_norms_own_on_the_same_step(make_config):
    trainer = Trainer(corpus(), make_config(precision="fp32", max_steps=3, eval_every=100))
    for _ in range(2):
        trainer._train_step()
    model = copy.deepcopy(trainer.model)  # the weights the third step starts from, and its batch
    batch = trainer.data.batch(trainer.epoch, trainer.batch_index)
    nll, n = masked_nll(model(batch.inputs)[0], batch.targets, batch.mask)
    loss = nll / n
    loss.backward()
    expected = float(torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf")))
    bpc, _, norm = trainer._train_step()
    assert bpc == pytest.approx(loss.item() / LN2, rel=1e-6)  # the same step: the same loss
    assert norm == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("clip", [1e-3, 0.5, 1e9])
def test_clipped_is_exactly_the_norm_above_the_threshold(make_config, clip):
    steps = steps_of(Trainer(corpus(), make_config(max_steps=12, grad_clip=clip, eval_every=100, lr=1e-2)))
    assert len(steps) == 12
    for s in steps:
        assert s.grad_norm is not None and s.grad_norm > 0
        assert s.clipped == (1.0 if s.grad_norm > clip else 0.0)
    if clip == 1e-3:
        assert all(s.clipped == 1.0 for s in steps)
    if clip == 1e9:
        assert all(s.clipped == 0.0 for s in steps)


def test_a_learning_rate_far_too_high_shows_spikes_and_clipping(make_config):
    """The lecture's exploding gradients: at lr 0.5 the norm spikes to several times --clip 1 and a
    quarter of the steps are clipped (seeded: 0.275 here); at 3e-3 it stays near 0.4, never clipped."""
    settings = dict(max_steps=40, grad_clip=1.0, eval_every=100, lr_schedule="constant")
    calm = steps_of(Trainer(corpus(), make_config(lr=3e-3, **settings)))
    wild = steps_of(Trainer(corpus(), make_config(lr=0.5, **settings)))
    share = lambda steps: sum(s.clipped for s in steps) / len(steps)  # noqa: E731
    peak = lambda steps: max(s.grad_norm for s in steps)  # noqa: E731
    assert share(wild) > 0.15 and share(calm) == 0.0
    assert peak(wild) > 3 * peak(calm)


def step(n: int, bpc: float, norm: float | None, clipped: float | None) -> ev.Step:
    return ev.Step(n, 0, bpc, 1e-3, 100.0, float(n), None, n * 10, norm, clipped)


def test_step_means_average_the_norm_and_give_the_share_clipped():
    held = ev.StepMeans()
    assert held.take() is None
    for n, norm, clipped in [(1, 2.0, 0.0), (2, 6.0, 1.0), (3, 7.0, 1.0), (4, 1.0, 0.0)]:
        held.add(step(n, float(n), norm, clipped))
    one = held.take()
    assert one is not None and (one.step, one.chars_seen) == (4, 40)  # the newest step's
    assert (one.train_bpc, one.grad_norm, one.clipped) == (2.5, 4.0, 0.5)
    assert held.take() is None  # nothing held after
    held.add(step(5, 1.0, None, None))  # from before the statistics: None, not a made-up mean
    held.add(step(6, 1.0, 3.0, 1.0))
    mixed = held.take()
    assert mixed is not None and mixed.grad_norm is None and mixed.clipped is None and mixed.train_bpc == 1.0


def test_the_metrics_log_writes_and_reads_back_the_means(tmp_path):
    clock = iter(range(100))
    writer = MetricsWriter(tmp_path / "metrics.jsonl", clock=lambda: next(clock) / 100)  # 10 ms apart
    for n, clipped in enumerate([1.0, 0.0, 0.0, 1.0], start=1):
        writer.record(step(n, 2.0, 2.0 * n, clipped))
    writer.record(ev.Eval(4, 2.0, 2.0, True, 0.1))  # any other event writes the steps held first
    events = [event for event, _ in MetricsReader(tmp_path / "metrics.jsonl").read()]
    steps = [e for e in events if isinstance(e, ev.Step)]
    assert [(s.step, s.grad_norm, s.clipped) for s in steps] == [(1, 2.0, 1.0), (4, 6.0, 1 / 3)]
